"""Views fit the terminal without the renderer wrapping a line; the overview names its tokens;
the renderers work from an `Attention` as the README documents."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from clicheck import ok, run
from rich.cells import cell_len
from test_render_terminal import TOKENS, make_attention, render, visible_lines

from attnviz.errors import UsageError
from attnviz.render.terminal import Comparison, HeadGrid, Heatmap, Overview, Panel, QueryBars

SEED = "The cat sat on the mat because it was comfortable"
WIDTHS = [40, 80, 120, 250]
# What a legend line starts with; a line starting otherwise is the tail of a wrapped one.
LEGEND_STARTS = (
    "scale:",
    "notes:",
    "note:",
    "zoom in",
    "thumbnails pooled",
    "pooled:",
    "monochrome",
    "1 character",
    "1 cell",
    "values hidden",
    "heatmaps of",
)
NOTES = ("special tokens hidden, rows renormalised", "tokens 1-4 of 0-12 shown, a crop: values unchanged")


def views() -> list[object]:
    attn = make_attention(layers=tuple(range(6)), heads=12, notes=NOTES)
    long = make_attention([f"w{i}" for i in range(300)], layers=(0,), heads=2, notes=NOTES)
    return [
        Overview(attn),
        Overview(attn, scale="global"),
        Overview(long),
        Heatmap(attn, layer=4, head=1),
        Heatmap(long, layer=0, head=1, values=True),
        HeadGrid(attn),
        HeadGrid(long, scale="global"),
        QueryBars(attn, 8, top=3),
        Comparison([Panel("a − b", attn.head(5, 0) - attn.head(5, 1), TOKENS, TOKENS)], diverging=True, notes=NOTES),
    ]


def legend_tail(lines: list[str]) -> list[str]:
    """The lines after the colour bar (the legend's first line)."""
    bar = next((i for i, line in enumerate(lines) if "▕" in line), None)
    return [] if bar is None else lines[bar + 1 :]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("color", [None, "truecolor"])
def test_no_line_is_wrapped_by_the_renderer(width: int, color: str | None) -> None:
    for view in views():
        lines = [line.rstrip() for line in visible_lines(render(view, width, color))]
        assert max(cell_len(line) for line in lines) <= width, view
        bar = next((line for line in lines if "▕" in line), None)
        if bar is not None:
            assert re.search(r"▏ \S+", bar), bar  # the top end stays on the bar's line
        for line in legend_tail(lines):
            assert not line or line.startswith((*LEGEND_STARTS, "  ")), (view, width, line)
        if isinstance(view, (Overview, HeadGrid, Comparison)):  # every note is there, whole
            tail = " ".join(line.strip() for line in legend_tail(lines))
            assert all(note in tail for note in NOTES), tail


def test_overview_legend_is_one_line_at_80_columns_in_colour() -> None:
    lines = visible_lines(render(Overview(make_attention(layers=tuple(range(6)), heads=12)), 80, "truecolor"))
    bar = next(line for line in lines if "▕" in line)
    assert bar.endswith("▏ max  scale: per head: each thumbnail from 0 to its own max")
    assert "max" not in [line.strip() for line in lines]


def test_narrow_legend_keeps_the_scale_and_shortens_the_hint() -> None:
    out = ok(run(["show", SEED], width=40))
    assert "\nscale: per head" in out
    assert "\nzoom in: --layer 5 --head 0\n" in out
    assert "\nzoom in: attnviz show TEXT --layer 5 (a layer) or --layer 5 --head 0\n" in ok(run(["show", SEED]))


# --- item 10: the overview lists its tokens --------------------------------------------------


def test_overview_lists_the_tokens_with_their_positions() -> None:
    out = ok(run(["show", SEED]))
    lines = out.splitlines()
    listed = " ".join(lines[1:3])
    assert re.findall(r"(\d+) (\S+)", listed) == [
        (str(i), t)
        for i, t in enumerate(["[CLS]", "The", "cat", "sat", "on", "the", "mat", "because", "it", "was", "comfortable",
                               "[SEP]"])
    ]  # fmt: skip
    assert lines[3].split()[:2] == ["H0", "H1"]  # the thumbnails' header follows the list


@pytest.mark.parametrize("width", WIDTHS)
def test_long_token_list_is_elided_in_the_middle(width: int) -> None:
    tokens = [f"w{i}" for i in range(400)]
    attn = make_attention(tokens, layers=(0,), heads=2).replace(offset=100)
    lines = render(Overview(attn), width).splitlines()
    listing = [line for line in lines[1:5] if re.match(r"\d|…", line)]
    assert 1 <= len(listing) <= 3 and max(cell_len(line) for line in listing) <= width
    text = " ".join(listing)
    assert text.startswith("100 w0  101 w1") and text.endswith("498 w398  499 w399")
    hidden = int(re.search(r"… (\d+) tokens …", text).group(1))
    shown = re.findall(r"(\d+) w(\d+)", text)
    assert all(int(p) == int(i) + 100 for p, i in shown)
    assert hidden + len(shown) == 400


# --- item 11: the renderers take an Attention -------------------------------------------------


def test_heatmap_takes_an_attention() -> None:
    attn = make_attention(layers=(4,), heads=1)
    assert render(Heatmap(attn)) == render(Heatmap.from_attention(attn, 4, 0))
    assert render(Heatmap(attn)).splitlines()[0].strip() == "L4 H0"
    several = make_attention()
    assert render(Heatmap(several, layer=5, head=2)) == render(Heatmap.from_attention(several, 5, 2))
    with pytest.raises(UsageError, match="this extraction holds layers 4-5: choose one with layer="):
        Heatmap(several)
    with pytest.raises(TypeError, match="a bare matrix needs its labels"):
        Heatmap(np.eye(3))


def test_readme_python_api_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The README's ```python blocks run in order, as one script, and draw what they say."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "L5 H11" in out and "6 layers × 12 heads" in out
    assert (tmp_path / "head.png").stat().st_size > 1000 and (tmp_path / "panels.svg").stat().st_size > 1000
    assert "<!-- L5 H11 -->" in (tmp_path / "it.svg").read_text(encoding="utf-8")  # the query, head by head
