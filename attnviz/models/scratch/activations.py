"""The MLP non-linearities, by the names config.json gives them."""

from __future__ import annotations

import math

import numpy as np


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and scipy's import
    alone costs more than this whole engine's start-up."""
    sign = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(x.dtype)


def gelu(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "gelu_new":  # GPT-2's tanh approximation
        return 0.5 * x * (1.0 + np.tanh(np.float32(math.sqrt(2.0 / math.pi)) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))))


def silu(x: np.ndarray) -> np.ndarray:
    """x·σ(x), the Llama family's gate."""
    return x / (1.0 + np.exp(-x))


# config.json spellings -> ours: "gelu" is exact (erf), "gelu_new" the tanh approximation
ACTIVATIONS = {
    "gelu": "gelu", "gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu_fast": "gelu_new",
    "silu": "silu", "swish": "silu",
}  # fmt: skip


def activate(x: np.ndarray, kind: str) -> np.ndarray:
    return silu(x) if kind == "silu" else gelu(x, kind)
