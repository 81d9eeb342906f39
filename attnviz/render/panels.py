"""A row of labelled matrices sharing one colour bar: one head, a comparison, a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attnviz.analysis.compare import Panel
from attnviz.errors import UsageError
from attnviz.render import colormaps
from attnviz.render.figure import (
    NOTE_COLOR,
    TEXT_COLOR,
    cell_text_colours,
    clamp,
    interpolation_for,
    label_step,
    new_figure,
    text_width_pt,
    token_label,
)
from attnviz.render.labels import format_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

MARGIN_IN = 0.15  # around the whole figure
TICK_IN = 4.5 / 72  # tick length plus padding
HEADER_PT = 11.0
CAPTION_PT = 8.0
AXIS_NAME_PT = 9.0
PANEL_TITLE_PT = 10.0
COLORBAR_IN = 1.05  # gap, bar, tick labels and its label
MARK_COLOR = "#e8175d"  # outlines of marked rows and cells: a magenta no default colormap uses


@dataclass(frozen=True, eq=False)
class Rendered:
    """What an image renderer drew, so that callers and tests can check it."""

    path: Path
    figure: Figure
    images: tuple[np.ndarray, ...]  # every array handed to imshow, in order
    panels: int  # heads or matrices drawn
    titles: tuple[str, ...]  # each panel's title
    origins: tuple[tuple[int, int], ...]  # top-left cell of each panel inside its image
    vmin: float  # the colour scale
    vmax: float
    label: str  # the colour bar's label: what the colours mean
    label_step: int  # every k-th token is labelled; 0 when token labels are left out

    @property
    def drawn(self) -> np.ndarray:
        """The first array handed to imshow: a grid's mosaic, or the matrix of one head."""
        return self.images[0]


@dataclass(frozen=True)
class Row:
    """A drawn row of panels, before saving: what callers may add to and must report."""

    figure: Figure
    axes: list[Axes]
    width_in: float
    height_in: float
    body_bottom_in: float  # the panels' common top is at body_bottom_in + body_h_in
    body_h_in: float
    right_in: float  # where the colour bar's area ends; any extra room starts here
    label_step: int
    label_pt: float


def label_fontsize(cell_pt: float) -> float:
    """Token labels a little smaller than a cell, within readable bounds."""
    return clamp(cell_pt * 0.72, 6.0, 9.0)


def header_lines(title: str, captions: Sequence[str]) -> float:
    """Height in inches that a bold title and its caption lines take."""
    return (HEADER_PT * 1.45 + len([c for c in captions if c]) * CAPTION_PT * 1.45) / 72


def draw_header(fig: Figure, title: str, captions: Sequence[str]) -> None:
    """Title and caption lines at the top left of the figure."""
    width, height = fig.get_size_inches()
    y = MARGIN_IN
    fig.text(
        MARGIN_IN / width,
        1 - y / height,
        title,
        ha="left",
        va="top",
        fontsize=HEADER_PT,
        weight="bold",
        color=TEXT_COLOR,
        parse_math=False,
    )
    y += HEADER_PT * 1.45 / 72
    for caption in captions:
        if caption:
            fig.text(
                MARGIN_IN / width,
                1 - y / height,
                caption,
                ha="left",
                va="top",
                fontsize=CAPTION_PT,
                color=NOTE_COLOR,
                parse_math=False,
            )
            y += CAPTION_PT * 1.45 / 72


def add_colorbar(fig: Figure, image: Any, left_in: float, top_in: float, body_h_in: float, label: str) -> None:
    """A colour bar beside the panels, as tall as they are (within reason), labelled."""
    width, height = fig.get_size_inches()
    bar_h = clamp(body_h_in, 1.4, 4.5)
    bottom = top_in - bar_h
    cax = fig.add_axes((left_in / width, bottom / height, 0.14 / width, bar_h / height))
    bar = fig.colorbar(image, cax=cax)
    bar.outline.set_linewidth(0.5)
    cax.tick_params(labelsize=7, length=2, width=0.5)
    _, gamma, _ = colormaps.split_gamma(getattr(image.cmap, "name", ""))
    if gamma != 1.0:
        label = f"{label}, {colormaps.gamma_text(gamma)}"
    bar.set_label(label, fontsize=8, color=TEXT_COLOR)


def draw_row(
    panels: Sequence[Panel],
    path: Path,
    *,
    colormap: Colormap,
    dpi: int,
    vmin: float,
    vmax: float,
    label: str,
    title: str,
    captions: Sequence[str] = (),
    cell_in: float,
    values: bool = False,
    panel_titles: bool = True,
    axis_names: tuple[str, str] = ("keys (attended to)", "queries (attending)"),
    extra_right_in: float = 0.0,
) -> Row:
    """Panels left to right at one cell size, each with its own labels; one colour bar."""
    cell_pt = cell_in * 72
    label_pt = label_fontsize(cell_pt)
    step = label_step(cell_pt, label_pt)
    name_in = (AXIS_NAME_PT * 1.3 + 3) / 72
    value_pt = _value_fontsize(panels, cell_pt) if values else 0.0

    xlabels = [[token_label(t) for t in p.col_labels][::step] for p in panels]
    ylabels = [[token_label(t) for t in p.row_labels][::step] for p in panels]
    x_label_in = max(text_width_pt(labels, label_pt) for labels in xlabels) / 72
    # Upright column labels when they fit side by side (numbers, short words), else rotated.
    x_rotation = 0 if x_label_in * 72 <= step * cell_pt * 0.9 else 90
    if x_rotation == 0:
        x_label_in = label_pt * 1.2 / 72
    lefts, x = [], MARGIN_IN
    for i, labels in enumerate(ylabels):
        x += text_width_pt(labels, label_pt) / 72 + TICK_IN + (name_in if i == 0 else 0.3)
        lefts.append(x)
        x += panels[i].matrix.shape[1] * cell_in
    colorbar_left = x + 0.2
    right = x + COLORBAR_IN
    width = right + extra_right_in + MARGIN_IN
    body_h = max(p.matrix.shape[0] for p in panels) * cell_in
    bottom = MARGIN_IN + name_in + TICK_IN + x_label_in
    top = MARGIN_IN + header_lines(title, captions) + 0.1
    top += PANEL_TITLE_PT * 1.5 / 72 if panel_titles else 0.0
    height = bottom + body_h + top
    width = max(width, MARGIN_IN * 2 + len(title) * HEADER_PT * 0.62 / 72)

    fig = new_figure(width, height, dpi)
    axes, image = [], None
    for i, (panel, left) in enumerate(zip(panels, lefts, strict=True)):
        nq, nk = panel.matrix.shape
        h = nq * cell_in
        ax = fig.add_axes((left / width, (bottom + body_h - h) / height, nk * cell_in / width, h / height))
        image = ax.imshow(
            panel.matrix,
            cmap=colormap,
            vmin=vmin,
            vmax=vmax,
            aspect="auto",
            interpolation=interpolation_for(path, cell_in * dpi),
        )
        ax.set_xticks(np.arange(0, nk, step), xlabels[i], rotation=x_rotation, fontsize=label_pt)
        ax.set_yticks(np.arange(0, nq, step), ylabels[i], fontsize=label_pt)
        for text in (*ax.get_xticklabels(), *ax.get_yticklabels()):
            text.set_parse_math(False)
        ax.tick_params(length=2, width=0.5, pad=1.5, colors=TEXT_COLOR)
        for spine in ax.spines.values():
            spine.set_linewidth(0.5)
        ax.set_xlabel(axis_names[0], fontsize=AXIS_NAME_PT, labelpad=3, color=NOTE_COLOR)
        if i == 0:
            ax.set_ylabel(axis_names[1], fontsize=AXIS_NAME_PT, labelpad=3, color=NOTE_COLOR)
        if panel_titles and panel.title and panel.title != title:
            ax.set_title(panel.title, fontsize=PANEL_TITLE_PT, pad=4, parse_math=False)
        if values:
            _draw_values(ax, panel.matrix, colormap, vmin, vmax, value_pt)
        _draw_mark(ax, panel)
        axes.append(ax)
    add_colorbar(fig, image, colorbar_left, bottom + body_h, body_h, label)
    draw_header(fig, title, captions)
    return Row(fig, axes, width, height, bottom, body_h, right, step, label_pt)


def _value_fontsize(panels: Sequence[Panel], cell_pt: float) -> float:
    """The largest font at which every cell's number fits inside its cell."""
    texts = [format_value(float(v)) for p in panels for v in np.unique(p.matrix)]
    widest = text_width_pt(texts, 10.0)
    size = min(9.0, 10.0 * 0.86 * cell_pt / max(widest, 1.0), 0.6 * cell_pt)
    if size < 4.0:
        raise UsageError(
            "numbers in cells would be unreadable at this many tokens",
            hint="drop the values option, or select fewer tokens",
        )
    return size


def _draw_values(ax: Axes, weights: np.ndarray, colormap: Colormap, vmin: float, vmax: float, size: float) -> None:
    normed = (weights - vmin) / (vmax - vmin)
    colours = cell_text_colours(colormap, normed)
    for (row, col), value in np.ndenumerate(weights):
        if np.isfinite(value):
            ax.text(
                col,
                row,
                format_value(float(value)),
                ha="center",
                va="center",
                fontsize=size,
                color=colours[row, col],
            )


def _draw_mark(ax: Axes, panel: Panel) -> None:
    """Outline the rows a panel marks (dashed) and their cells in its marked columns (solid)."""
    from matplotlib.patches import Rectangle

    rows, cols = panel.mark
    nk = panel.matrix.shape[1]
    for row in rows:
        outline = Rectangle((-0.5, row - 0.5), nk, 1, fill=False, edgecolor=MARK_COLOR, lw=0.8, ls="--")
        ax.add_patch(outline).set_clip_on(False)  # the dashes on the frame stay whole
        for col in cols:
            ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=MARK_COLOR, lw=1.6))
