"""Image renderers: formats, what is drawn where, layout, and files written whole or not at all."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from attnviz.attention import Attention
from attnviz.errors import OutputError, UsageError
from attnviz.render import image
from attnviz.render.figure import token_label
from attnviz.render.labels import format_value
from attnviz.render.mosaic import MosaicLayout, compose, grid_slots

TOKENS = [
    *("[CLS]", "the", "cat", "sat", "on", "the"),
    *("mat", "because", "it", "was", "comfortable", "[SEP]"),
]


def make_attention(
    n_layers: int = 2,
    n_heads: int = 3,
    tokens: list[str] | None = None,
    *,
    layers: tuple[int, ...] | None = None,
    heads: tuple[int, ...] | None = None,
    seed: int = 0,
) -> Attention:
    tokens = TOKENS if tokens is None else tokens
    n = len(tokens)
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_layers, n_heads, n, n)) * 2
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return Attention(
        tokens=tokens,
        weights=weights,
        layers=layers or range(n_layers),
        heads=heads or range(n_heads),
        special=np.zeros(n, bool),
        word_ids=np.arange(n),
        model="tiny-bert",
        engine="scratch",
        text=" ".join(tokens),
    )


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def png_shape(path: Path) -> tuple[int, ...]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path).shape


def figure_texts(rendered: image.Rendered) -> list[str]:
    fig = rendered.figure
    return [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts]


# --- formats --------------------------------------------------------------------------------


def test_importing_the_renderer_loads_neither_matplotlib_nor_torch() -> None:
    code = (
        "import sys, attnviz.render.image, attnviz.render.charts;"
        "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_png_is_a_real_image_of_the_figure_size(tmp_path: Path) -> None:
    out = tmp_path / "head.png"
    rendered = image.render_head(make_attention(), out, layer=1, head=2, dpi=100)
    width, height = rendered.figure.get_size_inches()
    shape = png_shape(out)
    assert shape[2] in (3, 4)
    assert abs(shape[1] - width * 100) <= 1 and abs(shape[0] - height * 100) <= 1
    assert rendered.path == out


def test_svg_parses_as_svg(tmp_path: Path) -> None:
    out = tmp_path / "grid.svg"
    image.render_grid(make_attention(), out)
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert "L1 H2" in out.read_text()  # panel titles are text in the SVG


def test_pdf_starts_with_the_pdf_magic(tmp_path: Path) -> None:
    out = tmp_path / "compare.PDF"  # the extension's case does not matter
    attn = make_attention()
    panels = [image.Panel(f"L{i} H{i}", attn.head(i, i), attn.tokens, attn.tokens) for i in (0, 1)]
    image.render_panels(panels, out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")


@pytest.mark.parametrize("suffix", [".svg", ".pdf"])
def test_vector_output_is_repeatable(tmp_path: Path, suffix: str) -> None:
    attn = make_attention()
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    image.render_grid(attn, first)
    image.render_grid(attn, second)
    assert first.read_bytes() == second.read_bytes()


# --- one head -------------------------------------------------------------------------------


def test_head_draws_that_heads_weights_with_labelled_axes(tmp_path: Path) -> None:
    attn = make_attention(2, 3, layers=(4, 5), heads=(9, 10, 11))
    rendered = image.render_head(attn, tmp_path / "h.png", layer=5, head=11)
    np.testing.assert_array_equal(rendered.drawn, attn.weights[1, 2])
    assert rendered.panels == 1
    assert "tiny-bert · layer 5 · head 11" in figure_texts(rendered)
    ax = rendered.figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS  # keys across
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS  # queries down
    assert ax.images[0].get_array()[8, 2] == pytest.approx(attn.weights[1, 2, 8, 2])
    assert rendered.label == "attention weight"
    assert rendered.figure.axes[1].get_ylabel() == "attention weight"  # the colour bar


def test_zoomed_views_label_tokens_with_their_positions_in_the_text(tmp_path: Path) -> None:
    """After --tokens 3-6 the axes say where each token sits, as the terminal does (issue 9)."""
    from attnviz.analysis.select import token_range

    attn = token_range(make_attention(2, 3, layers=(4, 5), heads=(9, 10, 11)), "3-6")
    want = [f"{p} {t}" for p, t in zip(range(3, 7), TOKENS[3:7], strict=True)]
    head = image.render_head(attn, tmp_path / "h.png", layer=5, head=11).figure.axes[0]
    assert [t.get_text() for t in head.get_xticklabels()] == want
    assert [t.get_text() for t in head.get_yticklabels()] == want
    grid = figure_texts(image.render_grid(attn, tmp_path / "g.svg"))
    assert set(want) <= set(grid)
    assert not set(TOKENS) & set(grid)  # every label numbered, none bare


def test_head_values_write_each_cells_number(tmp_path: Path) -> None:
    attn = make_attention(1, 1)
    rendered = image.render_head(attn, tmp_path / "v.png", values=True)
    ax = rendered.figure.axes[0]
    assert len(ax.texts) == len(TOKENS) ** 2
    cell = next(t for t in ax.texts if t.get_position() == (2, 8))
    assert cell.get_text() == format_value(float(attn.weights[0, 0, 8, 2]))


def test_head_needs_a_choice_when_several_are_held(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="say which one"):
        image.render_head(make_attention(2, 3), tmp_path / "x.png")
    with pytest.raises(UsageError, match="layer 7 head 0 is not in this extraction"):
        image.render_head(make_attention(2, 3), tmp_path / "x.png", layer=7, head=0)
    assert listing(tmp_path) == []


def test_format_value_is_compact() -> None:
    assert [format_value(v) for v in (0.638, -0.05, 1.0, -0.001, 12.345)] == [
        ".64",
        "-.05",
        "1.00",
        ".00",
        "12.35",
    ]


# --- many heads -----------------------------------------------------------------------------


def test_grid_is_one_mosaic_with_a_titled_panel_per_head(tmp_path: Path) -> None:
    attn = make_attention(6, 12)
    rendered = image.render_grid(attn, tmp_path / "all.png")
    assert rendered.panels == 72
    assert len(rendered.figure.axes) == 2  # the mosaic and its colour bar, not 72 subplots
    assert len(rendered.figure.axes[0].images) == 1
    texts = figure_texts(rendered)
    assert all(f"L{layer} H{head}" in texts for layer in range(6) for head in range(12))


def test_grid_cells_hold_the_weights_they_stand_for(tmp_path: Path) -> None:
    attn = make_attention(2, 3, layers=(3, 7), heads=(0, 4, 9))
    rendered = image.render_grid(attn, tmp_path / "g.png", scale="global")
    assert rendered.titles == ("L3 H0", "L3 H4", "L3 H9", "L7 H0", "L7 H4", "L7 H9")
    n = len(TOKENS)
    for index, (row, col) in enumerate(rendered.origins):
        layer, head = divmod(index, 3)
        block = rendered.drawn[row : row + n, col : col + n]
        np.testing.assert_array_equal(block, attn.weights[layer, head])
    # Between panels there is only background.
    row, col = rendered.origins[1]
    assert np.isnan(rendered.drawn[:, col - 1]).all()
    assert np.count_nonzero(~np.isnan(rendered.drawn)) == attn.weights.size
    assert rendered.vmin == 0.0 and rendered.vmax == pytest.approx(attn.weights.max())


def test_grid_head_scale_normalises_each_panel_to_its_own_max(tmp_path: Path) -> None:
    attn = make_attention(2, 2)
    attn = attn.replace(weights=attn.weights * np.array([1.0, 0.1, 0.5, 0.01]).reshape(2, 2, 1, 1))
    rendered = image.render_grid(attn, tmp_path / "g.png", scale="head")
    n = len(TOKENS)
    for index, (row, col) in enumerate(rendered.origins):
        weights = attn.weights.reshape(4, n, n)[index]
        block = rendered.drawn[row : row + n, col : col + n]
        assert np.nanmax(block) == pytest.approx(1.0)
        np.testing.assert_allclose(block, weights / weights.max(), rtol=1e-6)
    assert "per head" in rendered.label and rendered.figure.axes[1].get_ylabel() == rendered.label
    global_ = image.render_grid(attn, tmp_path / "h.png", scale="global")
    assert global_.label == "attention weight"
    assert np.nanmax(global_.drawn[:n, :n]) != pytest.approx(np.nanmax(rendered.drawn[:n, :n]))


def test_grid_labels_tokens_only_on_the_left_and_bottom_edges(tmp_path: Path) -> None:
    attn = make_attention(2, 3)
    rendered = image.render_grid(attn, tmp_path / "g.png")
    ax = rendered.figure.axes[0]
    labels = [t for t in ax.texts if t.get_text() in TOKENS]
    left = [t for t in labels if t.get_rotation() == 0]
    bottom = [t for t in labels if t.get_rotation() == 90]
    # One column of query labels per panel row, one row of key labels per panel column.
    assert len(left) == 2 * len(TOKENS) and len(bottom) == 3 * len(TOKENS)
    assert all(t.get_position()[0] < -0.5 for t in left)
    assert all(t.get_position()[1] > rendered.drawn.shape[0] - 1 for t in bottom)


def test_no_key_labels_float_under_an_empty_slot(tmp_path: Path) -> None:
    rendered = image.render_grid(make_attention(1, 7), tmp_path / "g.png")  # 3 × 3, 2 empty
    bottom = [t for t in rendered.figure.axes[0].texts if t.get_rotation() == 90]
    assert len(bottom) == len(TOKENS)
    assert max(t.get_position()[0] for t in bottom) < len(TOKENS)  # under the first column only


def test_a_single_layer_wraps_into_a_block_not_a_strip(tmp_path: Path) -> None:
    attn = make_attention(1, 12)
    rendered = image.render_grid(attn, tmp_path / "layer.png")
    rows = {row for row, _ in rendered.origins}
    cols = {col for _, col in rendered.origins}
    assert (len(rows), len(cols)) == (3, 4)
    height, width = png_shape(tmp_path / "layer.png")[:2]
    assert width < 2 * height


def test_invalid_scale_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="invalid scale 'row'"):
        image.render_grid(make_attention(), tmp_path / "g.png", scale="row")  # type: ignore[arg-type]


def test_render_image_picks_head_or_grid(tmp_path: Path) -> None:
    one = image.render_image(make_attention(1, 1), tmp_path / "one.png")
    many = image.render_image(make_attention(2, 2), tmp_path / "many.png")
    assert one.panels == 1 and one.drawn.shape == (len(TOKENS), len(TOKENS))
    assert many.panels == 4 and many.titles[0] == "L0 H0"
    with pytest.raises(UsageError, match="single head"):
        image.render_image(make_attention(2, 2), tmp_path / "v.png", values=True)


# --- long inputs ----------------------------------------------------------------------------


def _tick_label_overlaps(rendered: image.Rendered) -> int:
    fig = rendered.figure
    renderer = fig.canvas.get_renderer()
    overlaps = 0
    for ax in fig.axes[:-1]:
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [t.get_window_extent(renderer) for t in labels if t.get_text()]
            overlaps += sum(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    return overlaps


def test_long_inputs_label_every_kth_token_without_collisions(tmp_path: Path) -> None:
    tokens = [f"tok{i}" for i in range(300)]
    rendered = image.render_head(make_attention(1, 1, tokens), tmp_path / "long.png")
    step = rendered.label_step
    assert step > 1
    ax = rendered.figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == tokens[::step]
    assert _tick_label_overlaps(rendered) == 0
    short = image.render_head(make_attention(1, 1), tmp_path / "short.png")
    assert short.label_step == 1 and _tick_label_overlaps(short) == 0


def test_figure_grows_with_tokens_up_to_a_cap(tmp_path: Path) -> None:
    def size(n: int) -> float:
        attn = make_attention(1, 1, [f"t{i}" for i in range(n)])
        return image.render_head(attn, tmp_path / f"{n}.png", dpi=30).figure.get_size_inches()[1]

    assert size(12) < size(30) < size(60)
    assert size(400) == pytest.approx(size(800), abs=0.3)
    assert size(800) < 13


def test_values_on_too_many_tokens_are_refused(tmp_path: Path) -> None:
    attn = make_attention(1, 1, [f"t{i}" for i in range(200)])
    with pytest.raises(UsageError, match="unreadable"):
        image.render_head(attn, tmp_path / "v.png", values=True)
    assert listing(tmp_path) == []


def test_grid_of_long_inputs_stays_within_the_cap(tmp_path: Path) -> None:
    attn = make_attention(4, 4, [f"w{i}" for i in range(150)])
    rendered = image.render_grid(attn, tmp_path / "g.png", dpi=40)
    width, height = rendered.figure.get_size_inches()
    assert width <= 23 and height <= 23
    assert rendered.label_step > 1


def test_awkward_tokens_are_drawn_literally(tmp_path: Path) -> None:
    tokens = ["$x$", "a\nb", " ", "", "日本", "x" * 40]
    rendered = image.render_head(make_attention(1, 1, tokens), tmp_path / "odd.png")
    labels = [t.get_text() for t in rendered.figure.axes[0].get_yticklabels()]
    assert labels == ["$x$", "a↵b", "␣", "∅", "日本", "x" * 15 + "…"]  # the terminal's placeholders
    assert not rendered.figure.axes[0].get_yticklabels()[0].get_parse_math()
    assert token_label("\t") == "⇥" and token_label("  ") == "␣␣" and token_label("\x1b[31m") == "␛[31m"


# --- compare --------------------------------------------------------------------------------


def test_two_panel_compare_is_one_row_wider_than_tall(tmp_path: Path) -> None:
    attn = make_attention()
    panels = [
        image.Panel(f"tiny-bert · L{layer} H{head}", attn.head(layer, head), attn.tokens, attn.tokens)
        for layer, head in ((0, 1), (1, 2))
    ]
    rendered = image.render_panels(panels, tmp_path / "cmp.png")
    height, width = png_shape(tmp_path / "cmp.png")[:2]
    assert width > height
    assert rendered.panels == 2 and rendered.titles == ("tiny-bert · L0 H1", "tiny-bert · L1 H2")
    axes = rendered.figure.axes[:2]
    assert axes[0].get_position().y1 == pytest.approx(axes[1].get_position().y1)  # one row
    for ax, panel in zip(axes, panels, strict=True):
        assert [t.get_text() for t in ax.get_xticklabels()] == list(panel.col_labels)
        np.testing.assert_array_equal(ax.images[0].get_array(), panel.matrix)
    np.testing.assert_array_equal(rendered.images[1], panels[1].matrix)


def test_compare_panels_may_have_different_tokens(tmp_path: Path) -> None:
    a, b = make_attention(1, 1), make_attention(1, 1, ["the", "cat", "sat"])
    panels = [image.Panel(title, x.head(0, 0), x.tokens, x.tokens) for title, x in (("A", a), ("B", b))]
    rendered = image.render_panels(panels, tmp_path / "c.svg")
    assert [im.shape for im in rendered.images] == [(12, 12), (3, 3)]
    assert [t.get_text() for t in rendered.figure.axes[1].get_yticklabels()] == [
        "the",
        "cat",
        "sat",
    ]


def test_diverging_compare_is_symmetric_around_zero(tmp_path: Path) -> None:
    attn = make_attention()
    diff = image.Panel("A − B", attn.head(0, 0) - attn.head(1, 1) * 0.5, attn.tokens, attn.tokens)
    rendered = image.render_panels([diff], tmp_path / "d.png", diverging=True)
    peak = float(np.abs(diff.matrix).max())
    assert rendered.vmin == pytest.approx(-peak) and rendered.vmax == pytest.approx(peak)
    mappable = rendered.figure.axes[0].images[0]
    assert mappable.norm(0.0) == pytest.approx(0.5)
    assert mappable.get_cmap().name.startswith("RdBu_r")
    plain = image.Panel("L0 H0", attn.head(0, 0), attn.tokens, attn.tokens)
    sequential = image.render_panels([plain], tmp_path / "s.png")
    assert sequential.vmin == 0.0


def test_panel_rejects_mismatched_labels() -> None:
    with pytest.raises(ValueError, match="expected"):
        image.Panel("", np.zeros((3, 3)), ["a", "b"], ["a", "b"]).checked()


# --- analysis helpers -----------------------------------------------------------------------


def test_layer_head_table_writes_each_number_in_its_cell(tmp_path: Path) -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    rendered = image.render_layer_head_table(
        values, tmp_path / "t.png", title="entropy", label="bits", layers=(2, 3, 4)
    )
    np.testing.assert_array_equal(rendered.drawn, values)
    ax = rendered.figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "3", "4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3"]
    cell = next(t for t in ax.texts if t.get_position() == (3, 1))  # head 3 of layer 3
    assert cell.get_text() == format_value(values[1, 3]) == ".70"
    assert rendered.figure.axes[1].get_ylabel() == "bits"


def test_rollout_draws_the_matrix_and_the_query_shares(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    matrix = rng.random((12, 12)).astype(np.float32)
    matrix /= matrix.sum(1, keepdims=True)
    rendered = image.render_rollout(matrix, TOKENS, 8, tmp_path / "r.png")
    np.testing.assert_array_equal(rendered.drawn, matrix)
    bars = rendered.figure.axes[-1]
    heights = [patch.get_width() for patch in bars.patches]
    np.testing.assert_allclose(heights, matrix[8], rtol=1e-6)
    assert "it" in bars.get_xlabel()
    with pytest.raises(UsageError, match="out of range"):
        image.render_rollout(matrix, TOKENS, 12, tmp_path / "bad.png")
    assert listing(tmp_path) == ["r.png"]


# --- options and files ----------------------------------------------------------------------


def test_unknown_colour_map_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown colormap 'viridiss'") as caught:
        image.render_grid(make_attention(), tmp_path / "g.png", cmap="viridiss")
    assert "did you mean 'viridis'" in str(caught.value)
    assert "magma" in str(caught.value)
    assert listing(tmp_path) == []


def test_named_colour_map_is_used(tmp_path: Path) -> None:
    rendered = image.render_grid(make_attention(), tmp_path / "g.png", cmap="magma")
    assert rendered.figure.axes[0].images[0].get_cmap().name.startswith("magma")


@pytest.mark.parametrize("dpi", [0, -5, 5000, 1.5])
def test_invalid_dpi_is_a_usage_error(tmp_path: Path, dpi: object) -> None:
    with pytest.raises(UsageError, match="invalid dpi"):
        image.render_grid(make_attention(), tmp_path / "g.png", dpi=dpi)  # type: ignore[arg-type]


def test_dpi_sets_the_pixel_size(tmp_path: Path) -> None:
    small = image.render_head(make_attention(1, 1), tmp_path / "a.png", dpi=50)
    large = image.render_head(make_attention(1, 1), tmp_path / "b.png", dpi=100)
    assert small.figure.get_size_inches() == pytest.approx(large.figure.get_size_inches())
    assert png_shape(tmp_path / "b.png")[1] == pytest.approx(2 * png_shape(tmp_path / "a.png")[1], abs=2)


def _every_renderer(path: Path) -> list[object]:
    attn = make_attention()
    return [
        lambda: image.render_head(attn, path, layer=0, head=0),
        lambda: image.render_grid(attn, path),
        lambda: image.render_panels([image.Panel("L0 H0", attn.head(0, 0), attn.tokens, attn.tokens)], path),
        lambda: image.render_layer_head_table(np.ones((2, 3)), path, title="t", label="l"),
        lambda: image.render_rollout(attn.head(0, 0), attn.tokens, 0, path),
    ]


@pytest.mark.parametrize(
    ("name", "error"),
    [("out.jpg", UsageError), ("out", UsageError), ("out.png.txt", UsageError),
     ("missing/out.png", OutputError), ("folder", UsageError)],  # a folder without a suffix: not an image name
)  # fmt: skip
def test_bad_paths_raise_an_error_and_leave_nothing(tmp_path: Path, name: str, error: type[Exception]) -> None:
    (tmp_path / "folder").mkdir()
    before = listing(tmp_path)
    for render in _every_renderer(tmp_path / name):
        with pytest.raises(error, match="cannot write"):
            render()  # type: ignore[operator]
    assert listing(tmp_path) == before
    assert listing(tmp_path / "folder") == []


def test_failure_while_writing_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def broken_print_png(self: object, handle: object, **kwargs: object) -> None:
        handle.write(b"\x89PNG half an image")  # type: ignore[attr-defined]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(FigureCanvasAgg, "print_png", broken_print_png)
    (tmp_path / "keep.txt").write_text("x")
    for render in _every_renderer(tmp_path / "out.png"):
        with pytest.raises(RuntimeError, match="disk on fire"):
            render()  # type: ignore[operator]
        assert listing(tmp_path) == ["keep.txt"]


def test_failure_while_drawing_keeps_an_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.axes import Axes

    out = tmp_path / "out.png"
    out.write_bytes(b"old")

    def broken_imshow(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("no ink")

    monkeypatch.setattr(Axes, "imshow", broken_imshow)
    for render in _every_renderer(out):
        with pytest.raises(RuntimeError, match="no ink"):
            render()  # type: ignore[operator]
    assert listing(tmp_path) == ["out.png"] and out.read_bytes() == b"old"


# --- mosaic composition ---------------------------------------------------------------------


def test_compose_places_panels_at_their_origins() -> None:
    rows, cols, slots = grid_slots(2, 3)
    assert (rows, cols) == (2, 3) and slots[4] == (1, 1)
    layout = MosaicLayout(rows, cols, 2, 2, gap_y=3, gap_x=1, slots=slots)
    panels = np.arange(6 * 4, dtype=np.float32).reshape(6, 2, 2)
    mosaic = compose(panels, layout)
    assert mosaic.shape == (2 * 2 + 3, 3 * 2 + 2) == layout.shape
    assert layout.origins[4] == (5, 3)
    np.testing.assert_array_equal(mosaic[5:7, 3:5], panels[4])
    assert np.isnan(mosaic[2:5]).all() and np.isnan(mosaic[:, 2]).all()


def test_grid_slots_wrap_a_single_layer() -> None:
    assert grid_slots(1, 12)[:2] == (3, 4)
    assert grid_slots(12, 1)[:2] == (3, 4)
    assert grid_slots(1, 10)[:2] == (2, 5)  # full rectangles when one is close to square
    assert grid_slots(1, 5)[:2] == (1, 5)
    assert grid_slots(1, 7)[:2] == (3, 3)  # else near-square with empty slots at the end
    assert grid_slots(1, 1)[:2] == (1, 1)
