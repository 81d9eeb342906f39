"""The heart of the engine: softmax(Q·Kᵀ/√d_k)·V, and the multi-head split around it.

    Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k) · V        ("Attention Is All You Need")

Every architecture family calls `attention`; what differs between families (how Q and K are
rotated, how many key/value heads there are, which keys a query may see) is prepared in the
small modules beside this one (rope.py, gqa.py, masks.py) before the call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place (a 4096-token head is 64 MB; no copies).

    Subtracting the row max first keeps exp() from overflowing; it does not change the result.
    """
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """softmax(Q·Kᵀ/√d_k)·V for every head at once; returns (output, weights).

    q, k, v: (heads, tokens, d_k). mask: bool (query, key), True where a query may look.
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(0, 2, 1)  # (heads, query, key)
    # Dot products of d_k-dimensional vectors grow like √d_k; dividing keeps softmax out of
    # its flat, saturated regions where gradients vanish.
    scores /= np.float32(math.sqrt(d_k))
    if mask is not None:
        np.copyto(scores, np.float32(-np.inf), where=~mask)  # exp(-inf) = 0 exactly
    weights = softmax(scores)  # (heads, query, key), rows sum to 1
    return weights @ v, weights  # (heads, query, d_k), (heads, query, key)


def split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    """(tokens, d_model) -> (heads, tokens, d_k)."""
    n, d = x.shape
    return x.reshape(n, n_head, d // n_head).transpose(1, 0, 2)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(heads, tokens, d_k) -> (tokens, d_model): the heads' outputs concatenated."""
    h, n, d_k = x.shape
    return x.transpose(1, 0, 2).reshape(n, h * d_k)


def multi_head_attention(
    x: np.ndarray,
    p: dict[str, np.ndarray],
    n_head: int,
    mask: np.ndarray | None,
    record: dict,
    cache: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Project x to Q, K, V, attend in each head, merge, project out. Returns (out, weights).

    With a key/value `cache` (kvcache.py), x holds only the new tokens: their keys and values
    join the cached ones and their queries attend over all of them."""
    q = split_heads(x @ p["wq"] + p["bq"], n_head)  # (heads, tokens, d_k)
    k = split_heads(x @ p["wk"] + p["bk"], n_head)  # (heads, tokens, d_k)
    v = split_heads(x @ p["wv"] + p["bv"], n_head)  # (heads, tokens, d_k)
    if cache is not None:
        k, v = cache(k, v)  # (heads, cached + new tokens, d_k)
    z, weights = attention(q, k, v, mask)  # (heads, tokens, d_k), (heads, query, key)
    merged = merge_heads(z)  # (tokens, d_model)
    out = merged @ p["wo"] + p["bo"]  # (tokens, d_model)
    record.update(x=x, q=q, k=k, v=v, z=z, merged=merged, out=out, pattern=weights)
    return out, weights
