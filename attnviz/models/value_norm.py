"""Value-weighted attention (Kobayashi et al. 2020, "Attention is not only a weight").

A head's output for query i is Σ_j α_ij · f_h(x_j), with f_h(x) = (x·W_V^h + b_V^h)·W_O^h: the
value of key j carried through the rows of the output projection that take head h's output.
The weight α_ij alone hides how large f_h(x_j) is; ‖α_ij · f_h(x_j)‖ = α_ij · ‖f_h(x_j)‖ is what
key j actually adds to query i's output. Raw norms: the rows do not sum to 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NOTE = "value-norm: ‖α_ij·f_h(x_j)‖ (Kobayashi et al. 2020), raw norms: rows do not sum to 1"


def value_norms(
    weights: np.ndarray, values: np.ndarray, w_out: np.ndarray, heads: Sequence[int] | None = None
) -> np.ndarray:
    """‖α_ij · f_h(x_j)‖ as float32 (heads, query, key).

    weights: (heads, query, key) attention weights of the query heads `heads` (default: all, in
    order). values: (kv_heads, key, d_k) per-head values x·W_V^h + b_V^h; with grouped-query
    attention query head h reads key/value head h // (n_heads / kv_heads). w_out: the output
    projection in (in, out) layout, (n_heads · d_k, d_model); rows h·d_k … (h+1)·d_k take head h.
    """
    kv_heads, _, d_k = values.shape
    n_heads = w_out.shape[0] // d_k
    heads = range(weights.shape[0]) if heads is None else heads
    group = n_heads // kv_heads
    out = np.empty(weights.shape, dtype=np.float32)
    for row, h in enumerate(heads):
        f = values[h // group].astype(np.float64) @ w_out[h * d_k : (h + 1) * d_k].astype(np.float64)  # (key, d_model)
        out[row] = weights[row] * np.linalg.norm(f, axis=-1)[None, :]
    return out
