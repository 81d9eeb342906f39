"""Gemma 2's soft-capped attention: the same formula, with scores squashed into (-cap, cap).

    softmax(mask(tanh(Q·Kᵀ/√d_k / cap) · cap)) · V

The cap comes before the mask, as in transformers; `attention.py` stays the plain formula.
"""

from __future__ import annotations

import math

import numpy as np

from attnviz.models.scratch.attention import softmax


def softcapped_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None, cap: float
) -> tuple[np.ndarray, np.ndarray]:
    """Like `attention`, with tanh soft-capping of the scaled scores; returns (output, weights)."""
    scores = q @ k.transpose(0, 2, 1)  # (heads, query, key)
    scores /= np.float32(math.sqrt(q.shape[-1]))
    scores /= np.float32(cap)
    np.tanh(scores, out=scores)
    scores *= np.float32(cap)  # large scores saturate near ±cap instead of growing without bound
    if mask is not None:
        np.copyto(scores, np.float32(-np.inf), where=~mask)
    weights = softmax(scores)  # (heads, query, key)
    return weights @ v, weights
