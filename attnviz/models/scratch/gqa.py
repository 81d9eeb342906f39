"""Grouped-query attention: fewer key/value heads than query heads, each shared by a group."""

from __future__ import annotations

import numpy as np


def repeat_kv(x: np.ndarray, n_head: int) -> np.ndarray:
    """(kv_heads, tokens, d_k) -> (n_head, tokens, d_k): query head h reads key/value head
    h // (n_head / kv_heads), as transformers' `repeat_kv` lays them out."""
    kv_heads = x.shape[0]
    if kv_heads == n_head:
        return x
    return np.repeat(x, n_head // kv_heads, axis=0)  # (heads, tokens, d_k)


def kv_head_of(head: int, n_head: int, kv_heads: int) -> int:
    """The key/value head that query head `head` reads."""
    return head // (n_head // kv_heads)
