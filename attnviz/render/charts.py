"""Images for the analysis commands: a statistic per head, and attention rollout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnviz.analysis.compare import Panel
from attnviz.errors import UsageError
from attnviz.render.figure import (
    DEFAULT_DPI,
    NOTE_COLOR,
    TEXT_COLOR,
    check_dpi,
    check_image_path,
    clamp,
    colour_range,
    quiet_glyphs,
    resolve_cmap,
    save_figure,
    text_width_pt,
    token_label,
)
from attnviz.render.panels import Rendered, draw_row, label_fontsize


def render_layer_head_table(
    values: np.ndarray,
    path: str | Path,
    *,
    title: str,
    label: str,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    cmap: str | None = None,
    diverging: bool = False,
    dpi: int = DEFAULT_DPI,
    captions: Sequence[str] = (),
) -> Rendered:
    """A statistic per head as a layers × heads heatmap with the number in every cell."""
    out, dpi, colormap = (
        check_image_path(path),
        check_dpi(dpi),
        resolve_cmap(cmap, diverging=diverging),
    )
    table = np.asarray(values, dtype=np.float32)
    if table.ndim != 2 or table.size == 0:
        raise ValueError(f"expected a non-empty (layers, heads) table, got shape {table.shape}")
    layers = list(range(table.shape[0])) if layers is None else list(layers)
    heads = list(range(table.shape[1])) if heads is None else list(heads)
    vmin, vmax = colour_range(table, diverging=diverging)
    panel = Panel(title, table, [str(i) for i in layers], [str(i) for i in heads]).checked()
    with quiet_glyphs():
        row = draw_row(
            [panel],
            out,
            colormap=colormap,
            dpi=dpi,
            vmin=vmin,
            vmax=vmax,
            label=label,
            title=title,
            captions=captions,
            cell_in=min(0.42, 12.0 / max(table.shape)),
            values=True,
            panel_titles=False,
            axis_names=("head", "layer"),
        )
    save_figure(row.figure, out, dpi)
    return Rendered(out, row.figure, (table,), 1, (title,), ((0, 0),), vmin, vmax, label, row.label_step)


def render_rollout(
    matrix: np.ndarray,
    tokens: Sequence[str],
    query_index: int,
    path: str | Path,
    *,
    cmap: str | None = None,
    dpi: int = DEFAULT_DPI,
    title: str = "attention rollout",
    label: str = "rollout share",
    captions: Sequence[str] = (),
) -> Rendered:
    """The rollout matrix beside a bar chart of one query token's shares over the input."""
    out, dpi, colormap = check_image_path(path), check_dpi(dpi), resolve_cmap(cmap)
    panel = Panel("", matrix, tokens, tokens).checked()
    n = len(panel.row_labels)
    if not -n <= query_index < n:
        raise UsageError(f"query index {query_index} is out of range", hint=f"the text has {n} tokens")
    query_index %= n
    shares = panel.matrix[query_index]
    vmin, vmax = colour_range(panel.matrix, diverging=False)
    cell_in = clamp(n * 0.28, 3.0, 8.0) / n
    labels = [token_label(t) for t in panel.row_labels]
    label_pt = label_fontsize(cell_in * 72)
    bar_label_in = text_width_pt(labels, label_pt) / 72
    bar_in = clamp(n * cell_in * 0.6, 2.2, 3.5)
    with quiet_glyphs():
        row = draw_row(
            [panel],
            out,
            colormap=colormap,
            dpi=dpi,
            vmin=vmin,
            vmax=vmax,
            label=label,
            title=title,
            captions=[*captions, f"bars: shares of '{labels[query_index]}' (query {query_index})"],
            cell_in=cell_in,
            panel_titles=False,
            extra_right_in=bar_label_in + bar_in + 0.45,
        )
        fig, ax = row.figure, row.axes[0]
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((-0.5, query_index - 0.5), n, 1, fill=False, ec="#ff3b30", lw=1.4))
        left = row.right_in + bar_label_in + 0.05
        bars = fig.add_axes(
            (
                left / row.width_in,
                row.body_bottom_in / row.height_in,
                bar_in / row.width_in,
                row.body_h_in / row.height_in,
            )
        )
        normed = (shares - vmin) / (vmax - vmin)
        bars.barh(np.arange(n), shares, height=0.8, color=colormap(normed), edgecolor="none")
        bars.set_ylim(n - 0.5, -0.5)
        bars.set_xlim(0, max(float(np.nanmax(shares)), 1e-9) * 1.18)
        step = row.label_step
        bars.set_yticks(np.arange(0, n, step), labels[::step], fontsize=label_pt)
        for text in bars.get_yticklabels():
            text.set_parse_math(False)
        bars.tick_params(axis="x", labelsize=7)
        bars.tick_params(length=2, width=0.5, colors=TEXT_COLOR)
        for spine in bars.spines.values():
            spine.set_linewidth(0.5)
        bars.spines[["top", "right"]].set_visible(False)
        bars.set_xlabel(f"share of '{labels[query_index]}'", fontsize=9, color=NOTE_COLOR)
        if n <= 40:
            for i, share in enumerate(shares):
                if np.isfinite(share):
                    bars.text(share, i, f" {share:.2f}", va="center", fontsize=7, color=TEXT_COLOR)
    save_figure(fig, out, dpi)
    return Rendered(out, fig, (panel.matrix,), 1, (title,), ((0, 0),), vmin, vmax, label, step)
