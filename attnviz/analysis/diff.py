"""Differences between two attention arrays over the same tokens."""

from __future__ import annotations

import numpy as np

from attnviz.errors import UsageError


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b for arrays whose last two axes are (query, key) over the same tokens."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim < 2 or b.ndim < 2:
        raise UsageError("cannot compare: attention needs (query, key) axes")
    if a.shape[-1] != b.shape[-1] or a.shape[-2] != b.shape[-2]:
        raise UsageError(
            f"cannot compare attention over {a.shape[-1]} tokens with attention over "
            f"{b.shape[-1]} tokens: both sides need the same tokens"
        )
    if a.shape != b.shape:
        raise UsageError(
            f"cannot compare arrays of shapes {a.shape} and {b.shape}: select the same layers and heads on both sides"
        )
    return np.subtract(a, b, dtype=np.result_type(a.dtype, b.dtype, np.float32))
