"""Views that help reading: `show --query WORD --style text` and `--gamma`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from clicheck import SGR, ok, run, widest

import attnviz
from attnviz.attention import Attention
from attnviz.render import colormaps
from attnviz.render.canvas import Painter

SEED = "The cat sat on the mat because it was comfortable"
TOKENS = ["[CLS]", "The", "cat", "sat", "on", "the", "mat", "because", "it", "was", "comfortable", "[SEP]"]


@pytest.fixture(scope="module")
def seed() -> Attention:
    return attnviz.extract(SEED)


def shades_under(line: str, shades: str) -> dict[str, str]:
    """The shade character under each token of a text line (first character of the token)."""
    found, pos = {}, 0
    for token in TOKENS:
        pos = line.index(token, pos)
        found.setdefault(token, shades[pos] if pos < len(shades) else " ")
        pos += len(token)
    return found


def test_style_text_shades_each_token_by_the_query_weight(seed: Attention) -> None:
    out = ok(run(["show", SEED, "-l", "5", "-H", "11,4", "--query", "it", "--style", "text"], width=120))
    lines = out.splitlines()
    assert lines[0] == 'query "it": the weight it puts on each token, one line per head'
    rows = {line.split()[1]: (line, lines[i + 1]) for i, line in enumerate(lines) if line.startswith("L5 ")}
    assert list(rows) == ["H4", "H11"]  # one line per selected head (and its shades under it)
    weights = {f"H{h}": seed.head(5, h)[8].astype(np.float64) for h in (4, 11)}
    high = max(w.max() for w in weights.values())  # one scale shared by the heads, from 0
    for h, (text, shades) in rows.items():
        assert text.split(None, 2)[2].split() == TOKENS
        levels = shades_under(text, shades)
        for token, w in zip(TOKENS, weights[h], strict=True):
            t = w / high
            assert levels[token] == " ░▒▓█"[min(4, int(t * 5))], (h, token)
    assert levels["cat"] in "▓█"  # L5 H11: "it" looks at "cat"
    assert "monochrome: the shade under each token is its weight" in out


def test_style_text_fits_the_width_around_the_query() -> None:
    out = ok(run(["show", SEED, "-l", "5", "--query", "it", "--style", "text"], width=44))
    assert widest(out) <= 44
    heads = [line for line in out.splitlines() if re.match(r"L5 H\d+ ", line)]
    assert len(heads) == 12
    assert all(" it " in line for line in heads)  # the window keeps the query in view
    assert all(line.rstrip().endswith("…") for line in heads)  # and says the text goes on
    assert re.search(r"tokens \d+-\d+ of 12, around the query", out)


def test_style_text_in_colour_puts_the_weight_in_the_background(seed: Attention) -> None:
    import io

    from rich.console import Console

    from attnviz.analysis.select import select
    from attnviz.render.query_text import QueryText

    console = Console(width=100, file=io.StringIO(), color_system="truecolor", force_terminal=False, no_color=False)
    console.print(QueryText(select(seed, [5], [11]), 8))
    line = next(line for line in console.file.getvalue().splitlines() if "L5 H11" in line)  # type: ignore[attr-defined]
    backgrounds = [tuple(map(int, m)) for m in re.findall(r"48;2;(\d+);(\d+);(\d+)", line)]
    assert SGR.sub("", line).split()[2:] == TOKENS
    weights = seed.head(5, 11)[8].astype(np.float64)
    viridis = colormaps.lookup("viridis")
    assert backgrounds == [tuple(viridis(w / weights.max()).tolist()) for w in weights]  # one per token, in order


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--style", "text"], "--style text colours the text by one token's weights: give --query WORD"),
        (["--query", "it", "--style", "prose"], "invalid --style 'prose' (use bars or text)"),
        (["--gamma", "0"], "invalid --gamma 0: it must be a positive number (1 = linear, 0.5 brightens)"),
        (["--gamma", "-2"], "invalid --gamma -2: it must be a positive number (1 = linear, 0.5 brightens)"),
    ],
)
def test_bad_style_and_gamma(args: list[str], message: str) -> None:
    result = run(["show", SEED, *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: {message}\n"


def test_gamma_bends_the_colours_not_the_numbers() -> None:
    bent, plain = colormaps.lookup("viridis^0.5"), colormaps.lookup("viridis")
    for t in (0.04, 0.25, 0.49, 0.81):
        assert bent.rgb(t) == plain.rgb(t**0.5)
    diverging = colormaps.lookup(colormaps.with_gamma_name("RdBu_r", 0.5, diverging=True))
    assert diverging.rgb(0.5) == colormaps.lookup("RdBu_r").rgb(0.5)  # the centre stays the centre
    assert diverging.rgb(0.5 + 0.25 / 2) == colormaps.lookup("RdBu_r").rgb(0.5 + 0.5 / 2)
    # the table the HTML page reads holds the bent colours too
    np.testing.assert_array_equal(bent.lut[128], plain.rgb((128.5 / 256) ** 0.5))
    # monochrome shades follow the same power: 0.1 is the lightest shade linearly, darker at γ = 0.5
    assert Painter(plain, mono=True).shade(0.1, 1) == " "
    assert Painter(bent, mono=True).shade(0.1, 1) == "░"


def test_gamma_is_stated_in_legends_and_colour_bars(tmp_path: Path) -> None:
    out = ok(run(["show", SEED, "-l", "5", "-H", "11", "--gamma", "0.5"]))
    assert "colour ∝ value^0.5 (--gamma)" in out
    plain = ok(run(["show", SEED, "-l", "5", "-H", "11"]))
    assert "--gamma" not in plain and plain != out  # the shades changed, the legend says why
    out = ok(run(["compare", SEED, "--heads", "5.11,0.3", "--diff", "--gamma", "0.5"]))
    assert "colour ∝ value^0.5 (--gamma)" in out
    out = ok(run(["find", SEED, "--from", "it", "--to", "cat", "--top", "1", "--gamma", "2"]))
    assert "colour ∝ value^2 (--gamma)" in out
    svg = tmp_path / "g.svg"
    ok(run(["show", SEED, "-l", "5", "-H", "11", "--gamma", "0.5", "-o", str(svg)]))
    assert "attention weight, colour ∝ value^0.5 (- -gamma)" in svg.read_text()  # SVG comments escape "--"


def test_gamma_image_uses_the_power_scale(tmp_path: Path) -> None:
    from attnviz.render.figure import resolve_cmap

    bent = resolve_cmap(colormaps.with_gamma_name("viridis", 0.5))
    plain = resolve_cmap("viridis")
    np.testing.assert_allclose(bent(0.25), plain(0.5), atol=1 / 255)
    np.testing.assert_allclose(bent(1.0), plain(1.0))


def test_the_html_page_gets_the_bent_colours(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    ok(run(["show", SEED, "-l", "5", "-H", "11", "--gamma", "0.5", "-o", str(page)]))
    assert colormaps.lookup("viridis^0.5").lut.tobytes().hex() in page.read_text()
    assert colormaps.lookup("viridis").lut.tobytes().hex() not in page.read_text()
