"""Attention as images (PNG, SVG, PDF, by extension): one head, every head, comparisons.

Each renderer validates the path and options before drawing, draws with matplotlib's object
API (no pyplot), writes atomically, and returns a `Rendered` describing what it drew.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from attnviz.analysis.compare import Panel
from attnviz.attention import Attention, format_indices
from attnviz.errors import UsageError
from attnviz.render.charts import render_layer_head_table, render_rollout
from attnviz.render.figure import (
    DEFAULT_DPI,
    FRAME_COLOR,
    TEXT_COLOR,
    check_dpi,
    check_image_path,
    clamp,
    colour_range,
    interpolation_for,
    label_step,
    new_figure,
    quiet_glyphs,
    resolve_cmap,
    save_figure,
    shorten,
    text_width_pt,
    token_label,
)
from attnviz.render.labels import head_name, kv_legend, measure_label, numbered_tokens, stack_title
from attnviz.render.mosaic import MosaicLayout, compose, grid_slots, pool_blocks
from attnviz.render.panels import (
    CAPTION_PT,
    HEADER_PT,
    MARGIN_IN,
    Rendered,
    add_colorbar,
    draw_header,
    draw_row,
    header_lines,
)
from attnviz.render.query_image import RenderedQuery, render_query

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "Panel",
    "Rendered",
    "RenderedQuery",
    "render_grid",
    "render_head",
    "render_image",
    "render_layer_head_table",
    "render_panels",
    "render_query",
    "render_rollout",
]

Scale = Literal["global", "head"]
MAX_GRID_IN = 22.0  # a grid image never grows past this, in either direction
WEIGHT_LABEL = "attention weight"
MIN_TITLE_PT = 5.0  # smallest panel title that stays readable at the default dpi


def render_image(
    attn: Attention,
    path: str | Path,
    *,
    scale: Scale = "global",
    cmap: str | None = None,
    dpi: int = DEFAULT_DPI,
    values: bool = False,
    title: str | None = None,
) -> Rendered:
    """One head as a labelled heatmap, several heads as a grid: whatever `attn` holds."""
    if attn.weights.shape[0] * attn.weights.shape[1] == 1:
        return render_head(attn, path, cmap=cmap, dpi=dpi, values=values, title=title)
    if values:
        raise UsageError("numbers in cells need a single head", hint="select one layer and head")
    return render_grid(attn, path, scale=scale, cmap=cmap, dpi=dpi, title=title)


def render_head(
    attn: Attention,
    path: str | Path,
    *,
    layer: int | None = None,
    head: int | None = None,
    cmap: str | None = None,
    dpi: int = DEFAULT_DPI,
    values: bool = False,
    diverging: bool = False,
    title: str | None = None,
    label: str | None = None,
) -> Rendered:
    """One head: queries down, keys across, token labels, a colour bar, optional numbers."""
    label = label or measure_label(attn.measure)
    out, dpi, colormap = (
        check_image_path(path),
        check_dpi(dpi),
        resolve_cmap(cmap, diverging=diverging),
    )
    layer = _only(attn.layers, "layer") if layer is None else layer
    head = _only(attn.heads, "head") if head is None else head
    matrix = attn.head(layer, head)
    n = max(matrix.shape)
    group = attn.kv_head(head)
    kv = None if group is None else f"key/value head {group} of {attn.kv_heads}"
    header = title or " · ".join(filter(None, [attn.model, f"layer {layer}", f"head {head}", kv]))
    vmin, vmax = colour_range(matrix, diverging=diverging)
    with quiet_glyphs():
        row = draw_row(
            [Panel("", matrix, *numbered_tokens(attn))],
            out,
            colormap=colormap,
            dpi=dpi,
            vmin=vmin,
            vmax=vmax,
            label=label,
            title=header,
            captions=_captions(attn),
            cell_in=clamp(n * 0.3, 3.0, 9.0) / n,
            values=values,
            panel_titles=False,
        )
    save_figure(row.figure, out, dpi)
    return Rendered(out, row.figure, (matrix,), 1, (header,), ((0, 0),), vmin, vmax, label, row.label_step)


def render_panels(
    panels: Sequence[Panel],
    path: str | Path,
    *,
    cmap: str | None = None,
    diverging: bool = False,
    dpi: int = DEFAULT_DPI,
    title: str = "",
    label: str | None = None,
    captions: Sequence[str] = (),
    values: bool = False,
) -> Rendered:
    """Matrices side by side in one row, each with its own token labels, on one colour scale.

    `diverging` suits differences: a diverging map centred on 0 with a symmetric range.
    """
    out, dpi, colormap = (
        check_image_path(path),
        check_dpi(dpi),
        resolve_cmap(cmap, diverging=diverging),
    )
    if not panels:
        raise UsageError("nothing to compare: no panels given")
    panels = [Panel(*p).checked() for p in panels]
    vmin, vmax = colour_range(np.concatenate([p.matrix.ravel() for p in panels]), diverging=diverging)
    label = label or ("difference in attention weight" if diverging else WEIGHT_LABEL)
    n = max(max(p.matrix.shape) for p in panels)
    total = sum(p.matrix.shape[1] for p in panels)
    cell_in = min(clamp(n * 0.26, 2.6, 7.0) / n, 18.0 / total)
    with quiet_glyphs():
        row = draw_row(
            panels,
            out,
            colormap=colormap,
            dpi=dpi,
            vmin=vmin,
            vmax=vmax,
            label=label,
            title=title or " vs ".join(p.title for p in panels if p.title),
            captions=captions,
            cell_in=cell_in,
            values=values,
        )
    save_figure(row.figure, out, dpi)
    images = tuple(p.matrix for p in panels)
    titles = tuple(p.title for p in panels)
    origins = ((0, 0),) * len(panels)
    return Rendered(out, row.figure, images, len(panels), titles, origins, vmin, vmax, label, row.label_step)


def render_grid(
    attn: Attention,
    path: str | Path,
    *,
    scale: Scale = "global",
    cmap: str | None = None,
    diverging: bool = False,
    dpi: int = DEFAULT_DPI,
    title: str | None = None,
    label: str | None = None,
) -> Rendered:
    """Every head of `attn` as one mosaic image: a panel per head titled `L{layer} H{head}`.

    `scale="global"` puts all heads on one colour scale; `scale="head"` divides each head by
    its own largest weight, so that weak heads show their pattern too.
    """
    out, dpi, colormap = (
        check_image_path(path),
        check_dpi(dpi),
        resolve_cmap(cmap, diverging=diverging),
    )
    if scale not in ("global", "head"):
        raise UsageError(f"invalid scale '{scale}'", hint="use 'global' or 'head'")
    n_layers, n_heads, nq, nk = attn.weights.shape
    if n_layers * n_heads == 0 or nq * nk == 0:
        raise UsageError("nothing to draw: the selection holds no heads or no tokens")
    panels = attn.weights.reshape(-1, nq, nk)  # (layer·head, query, key), a view
    peaks = np.nanmax(np.abs(panels), axis=(1, 2), keepdims=True) if scale == "head" else None
    if scale == "head":
        sign = "±1" if diverging else "1"
        label = label or f"per head: {sign} = that head's largest {'weight' if attn.measure == 'weights' else 'norm'}"
    label = label or measure_label(attn.measure)
    titles = tuple(f"L{layer} {head_name(head, attn.kv_head(head))}" for layer in attn.layers for head in attn.heads)
    header = title or " · ".join(
        filter(None, [attn.model, _indices("layer", attn.layers), _indices("head", attn.heads)])
    )

    # Sizes: a panel grows with the tokens, then shrinks if the grid would pass the cap.
    n = max(nq, nk)
    rows, cols, slots = grid_slots(n_layers, n_heads)
    panel_in = clamp(n * 0.11, 1.0, 2.2)
    title_pt = clamp(panel_in * 72 * 0.085, 6.0, 9.0)
    label_pt = clamp(panel_in * 72 / n * 0.8, 5.5, 7.5)
    queries, keys = numbered_tokens(attn)  # numbered when zoomed
    labels = [token_label(t) for t in queries]
    key_labels = [token_label(t) for t in keys]  # = labels, but in cross-attention
    label_in = text_width_pt(labels + key_labels, label_pt) / 72 + 0.06
    about, notes = _captions(attn)
    kv = kv_legend(attn)
    captions = [about, " · ".join(filter(None, ["rows: queries · columns: keys", kv and kv[0], notes])), ""]
    top = MARGIN_IN + header_lines(header, captions) + title_pt * 1.6 / 72
    left = bottom = MARGIN_IN + label_in
    right = 1.3
    gap_x_in, gap_y_in = 0.1, title_pt * 1.6 / 72
    panel_in = min(
        panel_in,
        (MAX_GRID_IN - left - right - (cols - 1) * gap_x_in) / cols,
        (MAX_GRID_IN - top - bottom - (rows - 1) * gap_y_in) / rows,
    )
    title_pt, titles = _fit_titles(attn, titles, title_pt, (panel_in + gap_x_in * 0.8) * 72)
    cell_in = panel_in / n
    labels_all = labels if attn.is_self else [*labels, "·", *key_labels]
    # More cells than pixels: draw k×k block means (a 12-head grid of 4096 tokens is 200M
    # cells; colouring them all for imshow takes 16 GB). Labels name each block's first token.
    k = max(1, math.floor(1 / (cell_in * dpi))) if out.suffix.lower() == ".png" else max(1, math.ceil(n / 1024))
    if k > 1:
        panels = np.stack([pool_blocks(p, k) for p in panels], dtype=np.float32)  # (layer·head, query/k, key/k)
        nq, nk = panels.shape[1:]
        n, cell_in, labels, key_labels = max(nq, nk), cell_in * k, labels[::k], key_labels[::k]
        captions[0] += f" · 1 cell = {k}×{k} tokens (block means)"
    if peaks is not None:
        panels = panels / np.where(np.isfinite(peaks) & (peaks > 0), peaks, 1.0)
    vmin, vmax = colour_range(panels, diverging=diverging)
    layout = MosaicLayout(
        rows,
        cols,
        nq,
        nk,
        gap_y=max(1, math.ceil(gap_y_in / cell_in)),
        gap_x=max(1, round(gap_x_in / cell_in)),
        slots=slots,
    )
    step = label_step(cell_in * 72, label_pt)
    if step > n // 2 and n > 2:  # under two labels a panel: list the tokens instead
        step = 0
        left = bottom = MARGIN_IN
        captions[-1] = "tokens: " + " ".join(labels_all)
        top += CAPTION_PT * 1.45 / 72
    body_h, body_w = (s * cell_in for s in layout.shape)
    width = max(left + body_w + right, 6.0, 2 * MARGIN_IN + len(header) * HEADER_PT * 0.62 / 72)
    height = max(top + body_h + bottom, 2.6)
    captions = [shorten(c, int((width - 2 * MARGIN_IN) * 72 / (CAPTION_PT * 0.55))) for c in captions]

    mosaic = compose(panels, layout)
    with quiet_glyphs():
        fig = new_figure(width, height, dpi)
        ax = fig.add_axes((left / width, bottom / height, body_w / width, body_h / height))
        ax.set_axis_off()
        image = ax.imshow(
            mosaic,
            cmap=colormap,
            vmin=vmin,
            vmax=vmax,
            aspect="auto",
            interpolation=interpolation_for(out, cell_in * dpi),
        )
        _draw_frames(ax, layout)
        pad = 0.05 / cell_in  # cells
        for text, (r0, c0) in zip(titles, layout.origins, strict=True):
            ax.text(
                c0 + (nk - 1) / 2,
                r0 - 0.5 - pad,
                text,
                ha="center",
                va="bottom",
                fontsize=title_pt,
                color=TEXT_COLOR,
            )
        if step:
            _draw_edge_labels(ax, layout, (labels, key_labels), step, label_pt, pad)
        add_colorbar(fig, image, left + body_w + 0.25, height - top, body_h, label)
        draw_header(fig, header, captions)
    save_figure(fig, out, dpi)
    return Rendered(out, fig, (mosaic,), len(titles), titles, layout.origins, vmin, vmax, label, step)


def _fit_titles(attn: Attention, titles: tuple[str, ...], size: float, room_pt: float) -> tuple[float, tuple[str, ...]]:
    """(font size, titles) so that each panel title fits the panel's width: the size shrinks
    (32 heads across leave about 45 pt a panel); below MIN_TITLE_PT the '·kvG' groups are
    dropped from the titles (the caption still says how heads share key/value heads)."""
    fitted = size * room_pt / max(text_width_pt(titles, size), 1.0)
    if fitted < MIN_TITLE_PT and attn.kv_head(attn.heads[0]) is not None:
        titles = tuple(f"L{layer} H{head}" for layer in attn.layers for head in attn.heads)
        fitted = size * room_pt / max(text_width_pt(titles, size), 1.0)
    return clamp(fitted, 4.0, size), titles


def _indices(what: str, indices: tuple[int, ...]) -> str:
    return f"{what}s {format_indices(indices)}" if len(indices) > 1 else f"{what} {indices[0]}"


def _only(indices: tuple[int, ...], what: str) -> int:
    if len(indices) != 1:
        raise UsageError(
            f"this extraction holds {len(indices)} {what}s; say which one to draw",
            hint=f"choose a {what} from {format_indices(indices)}",
        )
    return indices[0]


def _captions(attn: Attention) -> list[str]:
    """A line about the text and one about what transforms did to it."""
    about = f"{len(attn.tokens)} tokens" if attn.is_self else f"{attn.n_queries} target × {attn.n_keys} source tokens"
    if stack_title(attn):
        about = f"{stack_title(attn)} · {about}"
    if attn.text:
        about += f" · “{shorten(attn.text, 90)}”"
    return [about, " · ".join(attn.notes)]


def _draw_frames(ax: Axes, layout: MosaicLayout) -> None:
    """A thin outline round every panel (one artist), so pale cells keep their edges."""
    from matplotlib.collections import LineCollection

    h, w = layout.panel_h, layout.panel_w
    outlines = [
        [
            (c - 0.5, r - 0.5),
            (c + w - 0.5, r - 0.5),
            (c + w - 0.5, r + h - 0.5),
            (c - 0.5, r + h - 0.5),
            (c - 0.5, r - 0.5),
        ]
        for r, c in layout.origins
    ]
    ax.add_collection(LineCollection(outlines, colors=FRAME_COLOR, linewidths=0.5))


def _draw_edge_labels(
    ax: Axes, layout: MosaicLayout, labels: tuple[list[str], list[str]], step: int, size: float, pad: float
) -> None:
    """Query tokens left of the first panel column, key tokens under the last panel row."""
    height = layout.shape[0]
    labels, key_labels = labels
    for r in range(layout.rows):
        y0 = r * (layout.panel_h + layout.gap_y)
        for i in range(0, layout.panel_h, step):
            ax.text(
                -0.5 - pad,
                y0 + i,
                labels[i],
                ha="right",
                va="center",
                fontsize=size,
                color=TEXT_COLOR,
                parse_math=False,
            )
    last_row = {c for r, c in layout.slots if r == layout.rows - 1}
    for c in sorted(last_row):  # a column whose last slot is empty gets no floating labels
        x0 = c * (layout.panel_w + layout.gap_x)
        for j in range(0, layout.panel_w, step):
            ax.text(
                x0 + j,
                height - 0.5 + pad,
                key_labels[j],
                ha="center",
                va="top",
                fontsize=size,
                rotation=90,
                color=TEXT_COLOR,
                parse_math=False,
            )
