"""Layer × head maps of every statistic's corpus mean in one figure (as in Clark et al. 2019)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnviz.analysis.stats import STAT_KEYS
from attnviz.render.figure import (
    DEFAULT_DPI,
    TEXT_COLOR,
    check_dpi,
    check_image_path,
    new_figure,
    resolve_cmap,
    save_figure,
)

Row = dict[str, int | float]
COLUMNS = 4  # maps per row of the figure


def render_stat_maps(
    rows: Sequence[Row], path: str | Path, *, title: str, cmap: str | None = None, dpi: int = DEFAULT_DPI
) -> dict[str, np.ndarray]:
    """One small layers × heads map per statistic, each with its own colour bar (the statistics
    have different units: nats, weights, tokens); returns the drawn tables by statistic."""
    out, dpi, colormap = check_image_path(path), check_dpi(dpi), resolve_cmap(cmap)
    layers = sorted({int(r["layer"]) for r in rows})
    heads = sorted({int(r["head"]) for r in rows})
    cols = min(COLUMNS, len(STAT_KEYS))
    lines = -(-len(STAT_KEYS) // cols)
    cell = min(0.22, 2.6 / max(len(heads), len(layers)))  # inches
    map_w, map_h = len(heads) * cell, len(layers) * cell
    fig = new_figure(cols * (map_w + 1.0) + 0.2, lines * (map_h + 0.8) + 0.5, dpi)
    fig.set_layout_engine("constrained")  # titles, ticks and colour bars packed without overlaps
    fig.suptitle(title, fontsize=11, color=TEXT_COLOR)
    axes = fig.subplots(lines, cols, squeeze=False)
    for ax in axes.flat[len(STAT_KEYS) :]:
        ax.set_axis_off()
    drawn: dict[str, np.ndarray] = {}
    for ax, key in zip(axes.flat, STAT_KEYS, strict=False):
        table = drawn[key] = np.full((len(layers), len(heads)), np.nan)
        for r in rows:
            value = r[f"{key}_mean"]  # None: not defined for these maps, drawn blank
            table[layers.index(int(r["layer"])), heads.index(int(r["head"]))] = np.nan if value is None else value
        image = ax.imshow(table, cmap=colormap, aspect="equal", interpolation="nearest")
        ax.set_title(key, fontsize=9, color=TEXT_COLOR)
        ax.set_xlabel("head", fontsize=7)
        ax.set_ylabel("layer", fontsize=7)
        step = max(1, len(heads) // 6)
        ax.set_xticks(range(0, len(heads), step), [str(h) for h in heads[::step]], fontsize=6)
        ax.set_yticks(range(len(layers)), [str(layer) for layer in layers], fontsize=6)
        bar = fig.colorbar(image, ax=ax, shrink=0.9)
        bar.ax.tick_params(labelsize=6)
    save_figure(fig, out, dpi)
    return drawn
