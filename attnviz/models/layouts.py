"""Attention as a model returns it, made into (heads, query, key) over the real tokens.

Most models return that square matrix directly. Some do not: BigBird pads the text to a
multiple of its block size (the padding rows and columns are cropped here), and Longformer
returns, per query, only its band of 2w + 1 neighbours (plus a column per global token),
which is spread here into the full query × key matrix. Any other shape is one clear error,
never a traceback from deeper down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnviz.errors import ModelError


def full_matrix(
    weights: np.ndarray,
    n: int,
    layer: int,
    *,
    band: bool = False,
    global_rows: np.ndarray | None = None,
    global_positions: Sequence[int] = (),
) -> np.ndarray:
    """(heads, n, n) float32 from what layer `layer` returned for `n` tokens.

    `band`: the model attends locally (Longformer) and `weights` is (heads, n or more, g + 2w + 1):
    the first g columns are the weights on the global tokens at `global_positions`, the rest
    the keys i - w … i + w; `global_rows` (heads, n or more, g) are the global tokens' own rows.
    """
    if weights.ndim != 3:
        raise _shape_error(weights, n, layer)
    _, queries, keys = weights.shape
    if queries >= n and keys == queries and not band:
        if keys > n and float(np.abs(weights[:, :n, n:]).max()) > 1e-6:  # not padding: weight would be lost
            raise _shape_error(weights, n, layer)
        return weights[:, :n, :n]  # padding (BigBird's block multiple) holds no weight: cropped
    if band and queries >= n:
        return _spread_band(weights, n, layer, global_rows, list(global_positions))
    raise _shape_error(weights, n, layer)


def _spread_band(
    local: np.ndarray, n: int, layer: int, global_rows: np.ndarray | None, positions: list[int]
) -> np.ndarray:
    """Longformer's (heads, query, g + 2w + 1) band layout as a (heads, n, n) matrix."""
    g = len(positions)
    width = local.shape[2] - g
    if width < 1 or width % 2 == 0 or (g and (global_rows is None or global_rows.shape[2] != g)):
        raise _shape_error(local, n, layer)
    w = width // 2
    heads = local.shape[0]
    out = np.zeros((heads, n, n), dtype=np.float32)
    query = np.arange(n)[:, None]  # (query, 1)
    key = query - w + np.arange(width)[None, :]  # (query, band): the key each band column holds
    inside = (key >= 0) & (key < n)
    rows, cols = np.nonzero(inside)
    out[:, rows, key[rows, cols]] = local[:, rows, g + cols]  # (heads, kept cells)
    if g:
        kept = [i for i, p in enumerate(positions) if p < n]
        at = [positions[i] for i in kept]
        out[:, :, at] += local[:, :n, kept]  # every token's weight on the global tokens
        out[:, at, :] = np.transpose(global_rows[:, :n, kept], (0, 2, 1))  # the global tokens' own rows
    return out


def _shape_error(weights: np.ndarray, n: int, layer: int) -> ModelError:
    return ModelError(
        f"layer {layer} returned attention of shape {tuple(weights.shape)}, which attnviz cannot map to "
        f"{n} queries × {n} keys",
        hint="this model's attention layout is not supported; try another model",
    )
