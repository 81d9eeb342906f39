"""One query as an image (`show --query WORD -o FILE`): each head's top keys as ranked bars,
the numbers the terminal's bars print; one head also as its heatmap with the query's row outlined."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from attnviz.analysis.compare import Panel
from attnviz.attention import Attention, format_indices
from attnviz.errors import UsageError
from attnviz.render.canvas import number
from attnviz.render.figure import (
    DEFAULT_DPI,
    NOTE_COLOR,
    TEXT_COLOR,
    check_dpi,
    check_image_path,
    clamp,
    colour_range,
    new_figure,
    quiet_glyphs,
    resolve_cmap,
    save_figure,
    shorten,
    text_width_pt,
    token_label,
)
from attnviz.render.labels import (
    head_name,
    kv_legend,
    measure_label,
    numbered_tokens,
    plural,
    positions_of,
    safe_label,
    stack_title,
)
from attnviz.render.mosaic import top_keys
from attnviz.render.panels import CAPTION_PT, HEADER_PT, MARGIN_IN, MARK_COLOR, draw_header, draw_row, header_lines

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

TOP = 5  # keys per head in a grid: the terminal's bars show as many
TOP_ONE_HEAD = 10  # one head has room for more
MAX_IN = 22.0  # a grid of bars never grows past this, in either direction (as a heatmap grid)
LABEL_PT = 7.0  # a grid's key labels at full size; they shrink to fit MAX_IN, down to MIN_PT
MIN_PT = 3.5
BAR_EM = 9.0  # a full bar, in widths of the label font size


@dataclass(frozen=True, eq=False)
class RenderedQuery:
    """What `render_query` drew, so that callers and tests can check it."""

    path: Path
    figure: Figure
    query: int  # the query's row in the attention
    titles: tuple[str, ...]  # each head's title, in (layer, head) order
    ranked: tuple[tuple[int, ...], ...]  # each head's top keys, strongest first
    values: tuple[tuple[str, ...], ...]  # the numbers printed at their bars
    lengths: tuple[tuple[float, ...], ...]  # each bar as a fraction of a full bar
    top: int  # keys ranked per head
    heatmap: Panel | None  # one head: its heatmap, whose mark is the query's row


@dataclass(frozen=True)
class _Bars:
    """One head's ranked keys, ready to draw."""

    title: str
    keys: tuple[int, ...]
    lengths: tuple[float, ...]  # each bar as a fraction of a full bar
    values: tuple[str, ...]
    shades: tuple[float, ...]  # each bar's place on the colormap, 0 to 1


def render_query(
    attn: Attention,
    query: int,
    path: str | Path,
    *,
    scale: str = "global",
    cmap: str | None = None,
    dpi: int = DEFAULT_DPI,
    values: bool = False,
) -> RenderedQuery:
    """Query row `query` of every head in `attn`: one head as its heatmap (the row outlined)
    beside its ranked bars, several heads as a grid of small ranked bar charts."""
    out, dpi, colormap = check_image_path(path), check_dpi(dpi), resolve_cmap(cmap)
    if scale not in ("global", "head"):
        raise UsageError(f"invalid scale '{scale}'", hint="use 'global' or 'head'")
    if not 0 <= query < attn.n_queries:
        raise UsageError(f"query {query} is out of range", hint=f"tokens are 0-{attn.n_queries - 1}")
    if attn.weights.shape[0] * attn.weights.shape[1] * attn.n_keys == 0:
        raise UsageError("nothing to draw: the selection holds no heads or no tokens")
    one = len(attn.layers) * len(attn.heads) == 1
    bars = _ranked(attn, query, TOP_ONE_HEAD if one else TOP, scale)
    with quiet_glyphs():
        if one:
            fig, heatmap = _one_head(attn, query, bars[0], out, colormap, dpi, values)
        else:
            fig, heatmap = _grid(attn, query, bars, colormap, dpi, scale), None
    save_figure(fig, out, dpi)
    return RenderedQuery(
        out,
        fig,
        query,
        tuple(b.title for b in bars),
        tuple(b.keys for b in bars),
        tuple(b.values for b in bars),
        tuple(b.lengths for b in bars),
        len(bars[0].keys),
        heatmap,
    )


def _ranked(attn: Attention, query: int, top: int, scale: str) -> list[_Bars]:
    """Each head's `top` keys for `query`, ranked as the terminal ranks them; a full bar is 1
    (or the largest value, for norms past 1), or each head's own largest with `scale="head"`."""
    rows = attn.weights[:, :, query, :].reshape(-1, attn.n_keys)  # (layer·head, key)
    full = max(1.0, float(np.nanmax(rows))) if np.isfinite(rows).any() else 1.0
    bars = []
    for i, row in enumerate(rows):
        layer, head = attn.layers[i // len(attn.heads)], attn.heads[i % len(attn.heads)]
        keys = top_keys(row, top)
        own = float(np.nanmax(row)) if scale == "head" and np.isfinite(row).any() else 0.0
        peak = own if own > 0 else full
        texts = tuple((number(float(row[j]), 3) or f"{row[j]:.0f}").strip() for j in keys)
        lengths = tuple(float(np.nan_to_num(row[j] / peak)) for j in keys)
        title = f"L{layer} {head_name(head, attn.kv_head(head))}"
        bars.append(_Bars(title, tuple(int(j) for j in keys), lengths, texts, lengths))
    return bars


def _header(attn: Attention, query: int) -> str:
    """The figure's title: model, what was selected, and the query."""
    where = [
        f"layer{'s' if len(attn.layers) > 1 else ''} {format_indices(attn.layers)}",
        f"head{'s' if len(attn.heads) > 1 else ''} {format_indices(attn.heads)}",
    ]
    word = f"query {positions_of(attn.positions, attn.n_queries)[query]} “{safe_label(attn.tokens[query])}”"
    return " · ".join(filter(None, [attn.model, *where, word]))


def _captions(attn: Attention, query: int, top: int, scale: str, one: bool) -> list[str]:
    """About the text; what the bars are; what transforms did."""
    about = f"{len(attn.tokens)} tokens" if attn.is_self else f"{attn.n_queries} target × {attn.n_keys} source tokens"
    if stack_title(attn):
        about = f"{stack_title(attn)} · {about}"
    if attn.text:
        about += f" · “{shorten(attn.text, 90)}”"
    what = measure_label(attn.measure)
    full = "each head's largest" if scale == "head" else "1" if attn.measure == "weights" else "the largest"
    word = f"“{safe_label(attn.tokens[query])}”"
    if one:
        bars = f"dashed row: query {word} · bars: its top {plural(top, 'key')} by {what}, ranked; full bar = {full}"
    else:
        bars = f"bars: the top {plural(top, 'key')} of {word} in each head, by {what}; full bar = {full}"
    kv = kv_legend(attn)
    return [about, bars, kv[0] if kv else "", " · ".join(attn.notes)]


def _one_head(
    attn: Attention, query: int, bars: _Bars, out: Path, colormap: Colormap, dpi: int, values: bool
) -> tuple[Figure, Panel]:
    """The head's heatmap with the query's row outlined, its ranked bars to the right."""
    matrix = attn.weights[0, 0]
    panel = Panel("", matrix, *numbered_tokens(attn), ((query,), ())).checked()
    n = max(matrix.shape)
    vmin, vmax = colour_range(matrix, diverging=False)
    # the bars take the heatmap's colours, so that the colour bar reads for both
    shades = tuple(float(np.clip((matrix[query, j] - vmin) / (vmax - vmin), 0, 1)) for j in bars.keys)
    bars = dataclasses.replace(bars, shades=shades)
    block = _Block.fit(attn, [bars], 8.0, bar_em=11.0)
    header = _header(attn, query)
    group = attn.kv_head(attn.heads[0])
    if group is not None:
        header += f" · key/value head {group} of {attn.kv_heads}"
    row = draw_row(
        [panel],
        out,
        colormap=colormap,
        dpi=dpi,
        vmin=vmin,
        vmax=vmax,
        label=measure_label(attn.measure),
        title=header,
        captions=_captions(attn, query, len(bars.keys), "global", one=True),
        cell_in=clamp(n * 0.3, 3.0, 9.0) / n,
        values=values,
        panel_titles=False,
        extra_right_in=block.width / 72 + 0.1,
    )
    fig = row.figure
    for tick in row.axes[0].get_yticklabels():  # the query's own label in the outline's colour
        if round(tick.get_position()[1]) == query:
            tick.set(color=MARK_COLOR, weight="bold")
    top_in = row.height_in - row.body_bottom_in - row.body_h_in  # the heatmap's top edge
    ax = _points_axes(fig, row.right_in + 0.1, top_in, block.width / 72, block.height / 72)
    block.draw(ax, 0.0, 0.0, bars, colormap, f"{bars.title} · query “{safe_label(attn.tokens[query])}”")
    return fig, panel


def _grid(attn: Attention, query: int, bars: list[_Bars], colormap: Colormap, dpi: int, scale: str) -> Figure:
    """A small ranked bar chart per head: a column per layer when there are several layers and
    several heads (heads down it), else the heads wrapped into a block a little wider than tall."""
    n_layers, n_heads = len(attn.layers), len(attn.heads)
    if n_layers > 1 and n_heads > 1:
        cols, rows = n_layers, n_heads
        slots = [(h, li) for li in range(n_layers) for h in range(n_heads)]  # (row, column) in (layer, head) order
        arrangement = "a column per layer"
    else:
        count = len(bars)
        cols = min(count, math.ceil(math.sqrt(0.65 * count)))  # blocks are about twice as wide as tall
        rows = math.ceil(count / cols)
        slots = [divmod(i, cols) for i in range(count)]
        arrangement = ""
    header = _header(attn, query)
    captions = _captions(attn, query, len(bars[0].keys), scale, one=False)
    if arrangement:
        captions[1] = f"{captions[1]} · {arrangement}"
    top_in = MARGIN_IN + header_lines(header, captions) + 0.05

    # Everything in a block scales with the label size: fit the grid within MAX_IN.
    unit = _Block.fit(attn, bars, LABEL_PT)
    gap_x, gap_y = 2.2 * LABEL_PT, 1.0 * LABEL_PT
    body_w = cols * unit.width + (cols - 1) * gap_x
    body_h = rows * unit.height + (rows - 1) * gap_y
    room_w, room_h = (MAX_IN - 2 * MARGIN_IN) * 72, (MAX_IN - top_in - MARGIN_IN) * 72
    size = max(MIN_PT, LABEL_PT * min(1.0, room_w / body_w, room_h / body_h))
    block = _Block.fit(attn, bars, size)
    gap_x, gap_y = 2.2 * size, 1.0 * size
    body_w = cols * block.width + (cols - 1) * gap_x
    body_h = rows * block.height + (rows - 1) * gap_y

    words = max(len(header) * HEADER_PT * 0.62, *(len(c) * CAPTION_PT * 0.55 for c in captions)) / 72
    width = max(body_w / 72 + 2 * MARGIN_IN, 4.0, min(2 * MARGIN_IN + words, MAX_IN))
    height = top_in + body_h / 72 + MARGIN_IN
    captions = [shorten(c, int((width - 2 * MARGIN_IN) * 72 / (CAPTION_PT * 0.55))) for c in captions]
    fig = new_figure(width, height, dpi)
    ax = _points_axes(fig, MARGIN_IN, top_in, body_w / 72, body_h / 72)
    for b, (r, c) in zip(bars, slots, strict=True):
        block.draw(ax, c * (block.width + gap_x), r * (block.height + gap_y), b, colormap, b.title)
    draw_header(fig, header, captions)
    return fig


def _points_axes(fig: Figure, left_in: float, top_in: float, width_in: float, height_in: float) -> Axes:
    """An invisible axes whose data units are points from its top-left corner."""
    fig_w, fig_h = fig.get_size_inches()
    ax = fig.add_axes((left_in / fig_w, 1 - (top_in + height_in) / fig_h, width_in / fig_w, height_in / fig_h))
    ax.set_xlim(0, width_in * 72)
    ax.set_ylim(height_in * 72, 0)
    ax.set_axis_off()
    return ax


@dataclass(frozen=True)
class _Block:
    """The geometry of one head's bar chart, in points: title, then a line per key
    (position, token, bar, value)."""

    size: float  # label font size
    bar_em: float  # a full bar, in label font sizes
    position_w: float
    token_w: float
    labels: tuple[str, ...]  # every key token's label
    positions: tuple[int, ...]  # every key token's position in the text
    lines: int

    @classmethod
    def fit(cls, attn: Attention, bars: list[_Bars], size: float, bar_em: float = BAR_EM) -> _Block:
        """A block for `bars`' keys at label size `size`."""
        shown = sorted({j for b in bars for j in b.keys})
        labels = tuple(token_label(t) for t in attn.key_tokens)
        positions = positions_of(attn.positions if attn.is_self else attn.key_offset, attn.n_keys)
        position_w = text_width_pt([str(positions[j]) for j in shown], size)
        token_w = text_width_pt([labels[j] for j in shown], size)
        return cls(size, bar_em, position_w, token_w, labels, positions, max(len(b.keys) for b in bars))

    @property
    def gap(self) -> float:
        return 0.45 * self.size

    @property
    def bar_x(self) -> float:
        return self.position_w + self.gap + self.token_w + self.gap

    @property
    def width(self) -> float:
        return self.bar_x + self.bar_em * self.size + self.gap + 1.9 * self.size  # room for "1.0" past a full bar

    @property
    def line(self) -> float:
        return 1.45 * self.size

    @property
    def height(self) -> float:
        return 1.7 * self.size + self.lines * self.line

    def draw(self, ax: Axes, x: float, y: float, bars: _Bars, colormap: Colormap, title: str) -> None:
        """The block with its top-left corner at (x, y) points."""
        from matplotlib.collections import PolyCollection

        ax.text(x, y, title, ha="left", va="top", fontsize=self.size * 1.1, weight="bold", color=TEXT_COLOR,
                parse_math=False)  # fmt: skip
        full = self.bar_em * self.size
        boxes, colours = [], []
        for i, (j, length, value, shade) in enumerate(
            zip(bars.keys, bars.lengths, bars.values, bars.shades, strict=True)
        ):
            middle = y + 1.7 * self.size + (i + 0.5) * self.line
            ax.text(x + self.position_w, middle, str(self.positions[j]), ha="right", va="center",
                    fontsize=self.size, color=NOTE_COLOR)  # fmt: skip
            ax.text(x + self.position_w + self.gap, middle, self.labels[j], ha="left", va="center",
                    fontsize=self.size, color=TEXT_COLOR, parse_math=False)  # fmt: skip
            left, right = x + self.bar_x, x + self.bar_x + full * clamp(length, 0.0, 1.0)
            half = 0.36 * self.line
            boxes.append([(left, middle - half), (right, middle - half), (right, middle + half), (left, middle + half)])
            colours.append(colormap(shade))
            ax.text(right + self.gap * 0.6, middle, value, ha="left", va="center", fontsize=self.size * 0.95,
                    color=TEXT_COLOR)  # fmt: skip
        # one artist for all the bars; a hairline base so that a zero weight still shows its place
        ax.add_collection(PolyCollection(boxes, facecolors=colours, edgecolors="none"))
        top, bottom = y + 1.7 * self.size, y + 1.7 * self.size + len(bars.keys) * self.line
        ax.plot([x + self.bar_x] * 2, [top, bottom], color="#b0b0b0", lw=0.5)
