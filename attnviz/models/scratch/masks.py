"""Which keys a query may see: bool (query, key) matrices, True where it may look."""

from __future__ import annotations

import numpy as np


def causal_mask(n: int) -> np.ndarray:
    """bool (query, key): token i sees tokens 0..i only."""
    return np.tril(np.ones((n, n), dtype=bool))


def sliding_window_mask(n: int, window: int) -> np.ndarray:
    """bool (query, key): causal, and token i sees only the last `window` tokens (i - window < j ≤ i),
    as transformers' sliding-window layers do (Mistral, Gemma 2, Qwen2)."""
    return causal_mask(n) & np.triu(np.ones((n, n), dtype=bool), k=1 - window)
