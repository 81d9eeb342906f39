"""Terminal renderers: goldens, widths, colours, pooling, colormaps and terminal safety.

Regenerate the golden files with `ATTNVIZ_UPDATE_GOLDEN=1 pytest tests/test_render_terminal.py`
and read the diff before committing it.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.panel import Panel as RichPanel

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.render import colormaps
from attnviz.render.canvas import number
from attnviz.render.labels import fit, safe_label
from attnviz.render.mosaic import pool_blocks, resample
from attnviz.render.terminal import Comparison, HeadGrid, Heatmap, Overview, Panel, QueryBars

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ATTNVIZ_UPDATE_GOLDEN") == "1"
SENTENCE = "[CLS] the cat sat on the mat because it was comfortable [SEP]"
TOKENS = SENTENCE.split(" ")
NASTY = [
    "\x1b[31mred",
    "\x1b]8;;http://x\x07link",
    "[bold]x[/]",
    "[link=file:///etc]a",
    "\u202eRTL",
    "e\u0301",
    "a\u200db",
    "👩\u200d👩\u200d👧",
    "日本語",
    "\x9bc1",
    "tab\there",
    "\x7f",
]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def make_attention(
    tokens: list[str] = TOKENS,
    layers: tuple[int, ...] = (4, 5),
    heads: int = 4,
    seed: int = 0,
    notes: tuple[str, ...] = ("special tokens kept",),
) -> Attention:
    """A seeded softmax of random scores plus one pattern per head, as real heads have:
    attend to self, to the previous token, to the first token, or nothing in particular."""
    n = len(tokens)
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(len(layers), heads, n, n))  # (layers, heads, query, key)
    patterns = [np.eye(n), np.eye(n, k=-1), np.eye(n, n)[[0] * n], np.zeros((n, n))]
    for li in range(len(layers)):
        for h in range(heads):
            scores[li, h] += 4.0 * patterns[(li + h) % len(patterns)]
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return Attention(
        tokens=tokens,
        weights=weights.astype(np.float32),
        layers=layers,
        heads=range(heads),
        special=np.array([t in ("[CLS]", "[SEP]") for t in tokens]),
        word_ids=np.arange(n),
        model="toy",
        engine="scratch",
        notes=notes,
    )


def render(renderable: object, width: int = 80, color_system: str | None = None) -> str:
    console = Console(
        width=width,
        file=io.StringIO(),
        color_system=color_system,  # type: ignore[arg-type]
        force_terminal=False,
        no_color=False,
        legacy_windows=False,
    )
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def layout_width(renderable: object, width: int, mono: bool) -> int:
    """Widest line the renderer lays out, before rich's last-resort crop."""
    console = Console(width=width, file=io.StringIO(), color_system=None if mono else "truecolor")
    lines = renderable._lines(console, width, mono)  # type: ignore[attr-defined]
    return max(line.cell_len for line in lines)


def visible_lines(output: str) -> list[str]:
    return SGR.sub("", output).splitlines()


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"terminal_{name}.txt"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with ATTNVIZ_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def colour_cells(output: str) -> list[list[tuple[str, tuple | None, tuple | None]]]:
    """Each line as (character, fg rgb, bg rgb) per terminal cell, from truecolor SGR codes."""
    lines = []
    for raw in output.splitlines():
        fg = bg = None
        cells: list[tuple[str, tuple | None, tuple | None]] = []
        pos = 0
        for match in [*SGR.finditer(raw), None]:
            end = match.start() if match else len(raw)
            for ch in raw[pos:end]:
                cells += [(ch, fg, bg)] + [("", fg, bg)] * (cell_len(ch) - 1)
            if match is None:
                break
            pos = match.end()
            codes = [int(c) for c in match.group(1).split(";") if c] or [0]
            i = 0
            while i < len(codes):
                if codes[i] == 0:
                    fg = bg = None
                elif codes[i] in (38, 48) and codes[i + 1] == 2:
                    rgb = tuple(codes[i + 2 : i + 5])
                    fg, bg = (rgb, bg) if codes[i] == 38 else (fg, rgb)
                    i += 4
                elif codes[i] == 39:
                    fg = None
                elif codes[i] == 49:
                    bg = None
                i += 1
        lines.append(cells)
    return lines


# ---------------------------------------------------------------------------------- goldens


def layer_grid(attn: Attention, layer: int) -> Attention:
    index = attn.layers.index(layer)
    return attn.replace(weights=attn.weights[index : index + 1], layers=(layer,))


GOLDENS = {
    "heatmap_80": lambda: Heatmap.from_attention(make_attention(), 4, 1),
    "heatmap_values_80": lambda: Heatmap.from_attention(make_attention(), 4, 1, values=True),
    "headgrid_80": lambda: HeadGrid(layer_grid(make_attention(), 5)),
    "overview_80": lambda: Overview(make_attention(layers=tuple(range(6)), heads=12)),
    "querybars_80": lambda: QueryBars(make_attention(), 8, top=3),
    "comparison_80": lambda: Comparison(
        [
            Panel("L5 H0", make_attention().head(5, 0), TOKENS, TOKENS),
            Panel("L5 H1", make_attention().head(5, 1), TOKENS, TOKENS),
        ]
    ),
    "comparison_diff_80": lambda: Comparison(
        [
            Panel(
                "L5 H0 − L5 H1",
                make_attention().head(5, 0) - make_attention().head(5, 1),
                TOKENS,
                TOKENS,
            )
        ],
        diverging=True,
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden_monochrome(name: str) -> None:
    check_golden(name, render(GOLDENS[name](), 80))


def test_golden_heatmap_reads_as_a_heatmap() -> None:
    text = (GOLDEN / "terminal_heatmap_80.txt").read_text(encoding="utf-8")
    assert text.splitlines()[0].strip() == "L4 H1"
    assert "comfortable" in text and "scale: per head" in text
    assert "notes: special tokens kept" in text


# ------------------------------------------------------------------------------- colours


def test_cell_colour_is_the_colormap_of_its_value() -> None:
    attn = make_attention()
    matrix = attn.head(5, 2).astype(np.float64)
    output = render(Heatmap.from_attention(attn, 5, 2), 80, "truecolor")
    body = [line for line in colour_cells(output) if any(bg for _, _, bg in line)]
    body = body[: len(TOKENS)]  # the legend's colour bar follows the matrix
    cmap = colormaps.lookup("viridis")
    grid = {}
    for i, line in enumerate(body):
        colours = [bg for _, _, bg in line if bg]
        width = len(colours) // len(TOKENS)
        assert width >= 2 and len(colours) == width * len(TOKENS)
        for j in range(len(TOKENS)):
            grid[i, j] = colours[j * width]
            assert grid[i, j] == tuple(cmap(matrix[i, j] / matrix.max()).tolist()), (i, j)
    brightest = max(grid, key=lambda ij: sum(grid[ij]))
    assert brightest == np.unravel_index(matrix.argmax(), matrix.shape)
    assert grid[brightest] == (253, 231, 37)  # the top of viridis


def test_painting_looks_each_colour_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """72 thumbnails hold thousands of pixels but at most 256 colours: the colormap is asked
    once per colour (per-pixel lookups cost a tenth of `show --load`), the picture unchanged."""
    from attnviz.render import canvas

    attn = make_attention(layers=tuple(range(6)), heads=12)
    before = render(Overview(attn), 120, "truecolor")
    calls = 0
    lookup = canvas.colour

    def counted(*args: object) -> object:
        nonlocal calls
        calls += 1
        return lookup(*args)

    monkeypatch.setattr(canvas, "colour", counted)
    assert render(Overview(attn), 120, "truecolor") == before
    assert 0 < calls <= 256


def test_overview_half_blocks_hold_two_pixels() -> None:
    tokens = ["a", "b", "c", "d", "e", "f"]
    attn = make_attention(tokens, layers=(0,), heads=2)
    output = render(Overview(attn), 80, "truecolor")
    rows = [line for line in colour_cells(output) if any(ch == "▀" for ch, _, _ in line)]
    assert len(rows) == 3  # 6 query pixels, two per line
    cmap = colormaps.lookup("viridis")
    matrix = attn.weights[0, 0].astype(np.float64)
    t = matrix / matrix.max()
    for r, line in enumerate(rows):
        pixels = [(fg, bg) for ch, fg, bg in line if ch == "▀"][: len(tokens)]
        for c, (fg, bg) in enumerate(pixels):
            assert fg == tuple(cmap(t[2 * r, c]).tolist())
            assert bg == tuple(cmap(t[2 * r + 1, c]).tolist())


def test_diverging_zero_is_the_colormap_centre() -> None:
    matrix = np.array([[0.0, 0.5], [-0.25, 0.0]])
    output = render(Comparison([Panel("d", matrix, ["x", "y"], ["x", "y"])], diverging=True), 80, "truecolor")
    body = [[bg for _, _, bg in line if bg] for line in colour_cells(output)]
    body = [line for line in body if line][:2]
    cmap = colormaps.lookup("RdBu_r")
    width = len(body[0]) // 2
    assert body[0][0] == tuple(cmap(0.5).tolist())  # 0 → centre (white)
    assert body[0][width] == tuple(cmap(1.0).tolist())  # +0.5 is the bound
    assert body[1][0] == tuple(cmap(0.25).tolist())  # -0.25 → halfway down
    assert "-0.5 ▕" in SGR.sub("", output) and "▏ +0.5" in SGR.sub("", output)


def test_no_color_console_draws_shades() -> None:
    console = Console(width=80, file=io.StringIO(), color_system="truecolor", no_color=True)
    console.print(Heatmap.from_attention(make_attention(), 5, 2))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "48;2;" not in output and "38;2;" not in output
    assert "█" in output  # the max cell is drawn as full ink


# ---------------------------------------------------------------------------------- widths

WIDE = [
    "[CLS]",
    "日本語",
    "👩\u200d👩\u200d👧",
    "Straße",
    "naïve",
    "🙂",
    "ｆｕｌｌ",
    "x" * 30,
    "[SEP]",
]


def all_renderers(tokens: list[str]) -> list[object]:
    attn = make_attention(tokens, layers=(0, 1), heads=3)
    other = make_attention([*tokens, "extra"], layers=(0,), heads=1)
    return [
        Heatmap.from_attention(attn, 1, 2),
        Heatmap.from_attention(attn, 1, 2, values=True),
        HeadGrid(attn),
        HeadGrid(attn, scale="global", values=True),
        Overview(attn),
        QueryBars(attn, 1),
        Comparison(
            [
                Panel("a", attn.head(0, 0), tokens, tokens),
                Panel("b", attn.head(0, 1), tokens, tokens),
            ]
        ),
        Comparison(
            [
                Panel("a", attn.head(0, 0), tokens, tokens),
                Panel("b", other.head(0, 0), other.tokens, other.tokens),
            ],
            diverging=True,
        ),
    ]


@pytest.mark.parametrize("width", [40, 80, 120, 250])
@pytest.mark.parametrize("color", [None, "truecolor"])
def test_no_line_is_wider_than_the_console(width: int, color: str | None) -> None:
    for renderer in all_renderers(WIDE) + all_renderers(TOKENS * 5):
        assert layout_width(renderer, width, color is None) <= width, renderer
        lines = visible_lines(render(renderer, width, color))
        assert max(cell_len(line) for line in lines) <= width


@settings(max_examples=40, deadline=None)
@given(width=st.integers(24, 300), n=st.integers(1, 90), seed=st.integers(0, 3))
def test_heatmap_fits_any_width(width: int, n: int, seed: int) -> None:
    tokens = [WIDE[(i + seed) % len(WIDE)] for i in range(n)]
    attn = make_attention(tokens, layers=(0,), heads=2, seed=seed)
    for renderer in (
        Heatmap.from_attention(attn, 0, 1, values=seed % 2 == 0),
        HeadGrid(attn),
        Overview(attn),
        QueryBars(attn, n - 1),
    ):
        assert layout_width(renderer, width, seed % 2 == 1) <= width


def test_width_decides_cell_size_and_wrapping() -> None:
    attn = make_attention()
    wide, narrow = render(HeadGrid(attn), 250), render(HeadGrid(attn), 80)
    # 250 columns hold 4 heads in a row; 80 columns hold 2
    assert re.search(r"L4 H0.*L4 H1.*L4 H2.*L4 H3", wide)
    assert re.search(r"L4 H0.*L4 H1", narrow) and not re.search(r"L4 H1.*L4 H2", narrow)
    assert "1 cell =" not in render(Heatmap.from_attention(attn, 5, 0), 40)


def test_fits_inside_a_rich_panel() -> None:
    heatmap = Heatmap.from_attention(make_attention(), 5, 0)
    lines = render(RichPanel(heatmap), 60).splitlines()
    assert max(cell_len(line) for line in lines) <= 60
    console = Console(width=80, file=io.StringIO(), color_system=None)
    measured = Measurement.get(console, console.options, heatmap)
    assert measured.maximum == layout_width(heatmap, 80, True) <= 80


# --------------------------------------------------------------------------------- pooling


def block_means(matrix: np.ndarray, k: int) -> np.ndarray:
    rows, cols = -(-matrix.shape[0] // k), -(-matrix.shape[1] // k)
    return np.array([[matrix[i * k : i * k + k, j * k : j * k + k].mean() for j in range(cols)] for i in range(rows)])


def test_pooled_overview_says_what_a_cell_is_and_shows_block_means() -> None:
    n = 200
    matrix = np.add.outer(np.arange(n), 2 * np.arange(n)) / (3 * n)  # not symmetric
    labels = [f"t{i}" for i in range(n)]
    output = render(Heatmap(matrix, labels, labels, values=True), 80)
    match = re.search(r"1 cell = (\d+)×(\d+) tokens", output)
    assert match and match.group(1) == match.group(2)
    k = int(match.group(1))
    expected = block_means(matrix, k)
    rows = [line for line in output.splitlines() if re.match(r"\s*\d+ +t\d+ ", line)]
    assert len(rows) == expected.shape[0]
    for i, line in enumerate(rows):
        assert line.split()[0] == str(i * k)  # rows are labelled with the block's start
        cells = re.findall(r"\d?\.\d\d", line.split(maxsplit=2)[2])
        assert len(cells) == expected.shape[1]
        np.testing.assert_allclose([float(c) for c in cells], expected[i], atol=0.0051)


def test_pooling_honours_the_position_offset() -> None:
    labels = [f"t{i}" for i in range(120)]
    output = render(Heatmap(np.eye(120), labels, labels, offset=300), 80)
    lines = output.splitlines()
    assert lines[1].split()[0] == "300"  # the column ruler
    assert lines[2].split()[:2] == ["300", "t0"]


def test_pool_means_and_edges() -> None:
    matrix = np.arange(25, dtype=float).reshape(5, 5)
    pooled = pool_blocks(matrix, 2)
    assert pooled.shape == (3, 3)
    assert pooled[0, 0] == matrix[:2, :2].mean()
    assert pooled[2, 2] == matrix[4, 4]
    assert pooled[1, 2] == matrix[2:4, 4].mean()
    with_nan = matrix.copy()
    with_nan[0, 0] = np.nan
    assert pool_blocks(with_nan, 2)[0, 0] == np.mean([1, 5, 6])


def test_resample_covers_every_token_once() -> None:
    matrix = np.random.default_rng(1).random((12, 12))
    small = resample(matrix, 5, 5)
    assert small.shape == (5, 5)
    edges = [0, 2, 4, 7, 9, 12]  # floor(i * 12 / 5)
    assert small[2, 3] == pytest.approx(matrix[4:7, 7:9].mean())
    sizes = np.diff(edges)
    assert (small * np.outer(sizes, sizes)).sum() == pytest.approx(matrix.sum())


# ------------------------------------------------------------------------------- behaviour


def test_query_bars_rank_the_top_keys() -> None:
    attn = make_attention()
    output = render(QueryBars(attn, 8, top=4), 80)
    assert 'query 8 "it"' in output
    weights = attn.weights[attn.layers.index(5), 3, 8]
    expected = np.argsort(-weights, kind="stable")[:4]
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "L5 H3" in line)
    column = lines[start].index("L5 H3")
    block = [line[column:].split() for line in lines[start + 1 : start + 5]]
    assert [int(b[0]) for b in block] == expected.tolist()
    assert [b[-1] for b in block] == [number(float(weights[j]), 3).strip() for j in expected]


def test_side_by_side_when_it_fits_else_stacked() -> None:
    attn = make_attention()
    panels = [
        Panel("first", attn.head(5, 0), TOKENS, TOKENS),
        Panel("second", attn.head(5, 1), TOKENS, TOKENS),
    ]
    assert re.search(r"first +second", render(Comparison(panels), 80))
    stacked = render(Comparison(panels), 40)
    assert not re.search(r"first +second", stacked)
    assert stacked.index("first") < stacked.index("second")
    assert "scale: shared by all panels" in render(Comparison(panels), 80)


def test_scales_and_notes_reach_the_legend() -> None:
    attn = make_attention(notes=("special tokens hidden, rows renormalised",))
    assert "notes: special tokens hidden, rows renormalised" in render(HeadGrid(attn), 120)
    assert "scale: global" in render(HeadGrid(attn, scale="global"), 120)
    per_head = render(HeadGrid(attn), 120)
    top = attn.weights[0, 0].max()
    assert f"L4 H0 max {number(float(top), 4).strip()}" in per_head
    fixed = render(Heatmap(np.eye(3) * 0.5, "abc", "abc", vmin=0, vmax=1, scale_label="fixed"))
    assert "0 ▕" in fixed and "▏ 1  scale: fixed" in fixed
    cells = fixed[: fixed.index("0 ▕")]
    assert "▓" not in cells and "▒" in cells  # 0.5 of a 0-1 scale is a middle shade


def test_values_hidden_when_cells_are_too_narrow() -> None:
    tokens = [f"w{i}" for i in range(16)]
    attn = make_attention(tokens, layers=(0,), heads=1)
    assert ".0" in render(Heatmap.from_attention(attn, 0, 0, values=True), 80)
    narrow = render(Heatmap.from_attention(attn, 0, 0, values=True), 48)
    assert "values hidden" in narrow


def test_invalid_arguments_are_usage_errors() -> None:
    attn = make_attention()
    with pytest.raises(UsageError, match="query 12 is out of range"):
        QueryBars(attn, 12)
    with pytest.raises(UsageError, match="unknown scale"):
        HeadGrid(attn, scale="layer")
    with pytest.raises(UsageError, match="unknown colormap 'nope'"):
        Heatmap(np.eye(2), "ab", "ab", cmap="nope")
    with pytest.raises(ValueError, match="shape"):
        Heatmap(np.eye(2), "abc", "ab")


# ------------------------------------------------------------------------------- colormaps


def test_builtin_table_is_matplotlib() -> None:
    import matplotlib

    for name in colormaps.names():
        source = matplotlib.colormaps[name]
        lut = np.round(source(np.arange(256))[:, :3] * 255).astype(int)
        ours = colormaps.lookup(name)
        assert np.array_equal(ours.stops.astype(int), lut[::5]), name  # the table itself
        for t in (0.0, 0.25, 0.5, 0.77, 1.0):
            theirs = np.round(np.array(source(t)[:3]) * 255)
            assert np.abs(ours(t).astype(int) - theirs).max() <= 4, (name, t)


def test_reversed_and_matplotlib_fallback() -> None:
    import matplotlib

    assert colormaps.lookup("viridis_r").rgb(0.0) == colormaps.lookup("viridis").rgb(1.0)
    assert colormaps.lookup("RdBu").rgb(0.0) == colormaps.lookup("RdBu_r").rgb(1.0)
    twilight = colormaps.lookup("twilight")
    for t in (0.1, 0.5, 0.9):
        expected = np.round(np.array(matplotlib.colormaps["twilight"](t)[:3]) * 255)
        assert np.abs(twilight(t).astype(int) - expected).max() <= 1


def test_unknown_colormap_lists_valid_names() -> None:
    with pytest.raises(UsageError) as info:
        colormaps.lookup("viridsi")
    assert "did you mean 'viridis'" in str(info.value)
    assert "magma" in str(info.value) and "matplotlib" in str(info.value)


@pytest.mark.slow
def test_builtin_colormaps_do_not_import_matplotlib() -> None:
    code = (
        "import io, sys, numpy as np\n"
        "from rich.console import Console\n"
        "from attnviz.attention import Attention\n"
        "from attnviz.render.terminal import Heatmap, HeadGrid, Overview, QueryBars\n"
        "a = Attention(tokens=list('abcd'), weights=np.full((1, 2, 4, 4), 0.25), layers=[0],\n"
        "              heads=[0, 1], special=np.zeros(4, bool), word_ids=np.arange(4))\n"
        "c = Console(file=io.StringIO(), color_system='truecolor', width=80)\n"
        "for cmap in ('viridis', 'magma', 'RdBu', 'Greys_r'):\n"
        "    c.print(HeadGrid(a, cmap=cmap), Overview(a, cmap=cmap), QueryBars(a, 0, cmap=cmap))\n"
        "assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ safety


@pytest.mark.parametrize(
    ("token", "label"),
    [
        ("\x1b[31mred", "␛[31mred"),
        ("\x1b]8;;http://x\x07link", "␛]8;;http://x␇link"),
        ("[bold]x[/]", "[bold]x[/]"),
        ("\u202eRTL", "�RTL"),
        ("e\u0301", "é"),
        ("a\u200db", "a�b"),
        ("👩\u200d👩\u200d👧", "👩👩👧"),
        ("❤\ufe0f", "❤"),
        ("日本語", "日本語"),
        ("\x9b", "�"),
        ("\x7f", "␡"),
        ("\t\n\r", "⇥↵␍"),
        ("\u0301x", "◌\u0301x"),
        ("x" + "\u0301" * 6, "x\u0301\u0301"),
        ("\ud800", "�"),
        ("", "∅"),
        ("  ", "␣␣"),
    ],
)
def test_safe_label(token: str, label: str) -> None:
    assert safe_label(token) == label


@given(st.text())
def test_safe_label_leaves_nothing_invisible(token: str) -> None:
    label = safe_label(token)
    assert label
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in label)


def test_fit_abbreviates_by_cells() -> None:
    assert fit("comfortable", 6) == "comfo…"
    assert fit("日本語", 5) == "日本…"
    assert fit("日本語", 6) == "日本語"
    assert cell_len(fit("👩👩👧x", 4)) <= 4


def nasty_renderers() -> list[object]:
    tokens = ["[CLS]", *NASTY, "[SEP]"]
    attn = make_attention(tokens, layers=(0,), heads=2, notes=("\x1b[2Jnote",))
    attn = attn.replace(model="\x1b]0;title\x07model")
    return [
        Heatmap.from_attention(attn, 0, 1, title="\x1b[1mtitle"),
        Heatmap.from_attention(attn, 0, 1, values=True),
        HeadGrid(attn),
        Overview(attn),
        QueryBars(attn, 1),
        QueryBars(attn, 2),
        Comparison(
            [
                Panel("[red]a", attn.head(0, 0), tokens, tokens),
                Panel("\x1b[0mb", attn.head(0, 1), tokens, tokens),
            ],
            diverging=True,
        ),
    ]


@pytest.mark.parametrize("width", [40, 80, 120])
@pytest.mark.parametrize("color", [None, "truecolor"])
def test_token_text_cannot_reach_the_terminal(width: int, color: str | None) -> None:
    for renderer in nasty_renderers():
        output = render(renderer, width, color)
        if color is None:
            assert "\x1b" not in output  # nothing styled: any ESC would be the input's
        rest = SGR.sub("", output)
        assert "\x1b" not in rest and "\x07" not in rest and "\x9b" not in rest
        assert "\u202e" not in rest and "\u200d" not in rest
        assert max(cell_len(line) for line in rest.splitlines()) <= width
        assert layout_width(renderer, width, color is None) <= width


def test_token_text_is_shown_literally() -> None:
    output = render(nasty_renderers()[0], 120)
    for label in ("[bold]x[/]", "[link=file:///e…", "␛[31mred", "�RTL", "a�b", "日本語", "👩👩👧"):
        assert label in output, label
    assert "␛[1mtitle" in output and "␛[2Jnote" in output
    assert "[red]a" in render(nasty_renderers()[-1], 120)
