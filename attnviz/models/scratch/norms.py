"""Normalisations: BERT/GPT-2's LayerNorm and the Llama family's RMSNorm."""

from __future__ import annotations

import numpy as np


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * g + b


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float, offset: float = 0.0) -> np.ndarray:
    """x / √(mean(x²) + eps) · (offset + w) over the last axis, in float32.

    offset 1 is Gemma's variant: its weights are stored as a difference from 1 (x·(1+w)).
    """
    var = np.mean(np.square(x), axis=-1, keepdims=True, dtype=np.float32)
    return x * (1.0 / np.sqrt(var + np.float32(eps))) * (np.float32(offset) + w)
