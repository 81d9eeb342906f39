"""`explain -o steps.png|svg|pdf`: the seed's steps as one picture, matrices side by side
(Q, Kᵀ, scores, weights, V, output) with the followed query's row outlined."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnviz.analysis.explain import Explanation
from attnviz.errors import UsageError
from attnviz.render.figure import (
    DEFAULT_DPI,
    NOTE_COLOR,
    TEXT_COLOR,
    check_dpi,
    check_image_path,
    new_figure,
    quiet_glyphs,
    resolve_cmap,
    save_figure,
    token_label,
)
from attnviz.render.panels import MARK_COLOR

CELL_IN = 0.16  # one matrix cell, in inches


@dataclass(frozen=True)
class Steps:
    """What was drawn: each panel's title and matrix, in order (for tests and callers)."""

    path: Path
    titles: tuple[str, ...]
    matrices: tuple[np.ndarray, ...]


def step_matrices(e: Explanation) -> list[tuple[str, np.ndarray, bool, bool]]:
    """(title, matrix, rows are tokens, the query's row is outlined) for each step."""
    if e.score_matrix is None or e.pattern is None:
        raise UsageError("this model's record holds no full score matrix and weights to draw")
    n, d_k = e.q.shape
    scaled = e.score_matrix / e.sqrt_d_k
    if e.causal:  # the keys a query may not see: blank, as softmax gives them 0
        scaled = np.where(np.tril(np.ones((n, n), bool)), scaled, np.nan)
    pattern = e.pattern.astype(np.float64)
    return [
        (f"Q ({n}×{d_k})", e.q.astype(np.float64), True, True),
        (f"Kᵀ ({d_k}×{n})", e.k.astype(np.float64).T, False, False),
        (f"Q·Kᵀ/√{d_k} ({n}×{n})", scaled, True, True),
        (f"softmax → weights ({n}×{n})", pattern, True, True),
        (f"V ({n}×{d_k})", e.v.astype(np.float64), True, False),
        (f"weights·V = output ({n}×{d_k})", pattern @ e.v.astype(np.float64), True, True),
    ]


def render_steps(e: Explanation, path: str | Path, *, cmap: str | None = None, dpi: int = DEFAULT_DPI) -> Steps:
    """The six matrices left to right, each on its own colour scale, token labels on the rows."""
    out, dpi, colormap = check_image_path(path), check_dpi(dpi), resolve_cmap(cmap)
    steps = step_matrices(e)
    n = len(e.tokens)
    labels = [token_label(t) for t in e.tokens]
    label_in = max(len(t) for t in labels) * 0.075 + 0.2
    widths = [m.shape[1] * CELL_IN for _, m, _, _ in steps]
    gap = 0.35
    width = label_in + sum(widths) + gap * (len(steps) - 1) + 0.4
    tallest = max(m.shape[0] for _, m, _, _ in steps) * CELL_IN
    top, bottom = 0.95, 0.9
    height = top + tallest + bottom
    fig = new_figure(width, height, dpi)
    x = label_in
    for i, (title, matrix, token_rows, outlined) in enumerate(steps):
        h, w = matrix.shape[0] * CELL_IN, matrix.shape[1] * CELL_IN
        ax = fig.add_axes((x / width, (bottom + tallest - h) / height, w / width, h / height))
        ax.imshow(matrix, cmap=colormap, aspect="auto", interpolation="nearest")
        ax.set_title(title, fontsize=8, color=TEXT_COLOR, pad=3, parse_math=False)
        ax.set_xticks([])
        ax.set_yticks([])
        if token_rows and i == 0:
            ax.set_yticks(np.arange(n), labels, fontsize=6)
        if i in (2, 3):  # keys across the square matrices
            ax.set_xticks(np.arange(n), labels, fontsize=5, rotation=90)
        for text in (*ax.get_xticklabels(), *ax.get_yticklabels()):
            text.set_parse_math(False)
        ax.tick_params(length=1.5, width=0.4, pad=1, colors=TEXT_COLOR)
        for spine in ax.spines.values():
            spine.set_linewidth(0.4)
        if outlined:
            from matplotlib.patches import Rectangle

            ax.add_patch(
                Rectangle((-0.5, e.query - 0.5), matrix.shape[1], 1, fill=False, edgecolor=MARK_COLOR, lw=1.2)
            ).set_clip_on(False)
        x += w + gap
    fig.text(
        0.2 / width, 1 - 0.3 / height, "softmax(Q·Kᵀ/√d_k)·V, step by step", fontsize=11, weight="bold",
        color=TEXT_COLOR, va="top", parse_math=False,
    )  # fmt: skip
    fig.text(
        0.2 / width, 1 - 0.58 / height,
        f"{e.model} · layer {e.layer} · head {e.head} · outlined: the row of {e.tokens[e.query]!r} (position "
        f"{e.query}) · each matrix on its own colour scale",
        fontsize=7.5, color=NOTE_COLOR, va="top", parse_math=False,
    )  # fmt: skip
    with quiet_glyphs():
        save_figure(fig, out, dpi)
    return Steps(out, tuple(t for t, *_ in steps), tuple(m for _, m, _, _ in steps))
