"""The MLP non-linearities, by the names config.json gives them."""

from __future__ import annotations

import math

import numpy as np

BLOCK = 1 << 17  # elements of one GELU block: 512 kB in float32, its temporaries within a 1 MB L2

# Abramowitz & Stegun 7.1.26: erf(a) ≈ 1 - t·P(t)·exp(-a²), t = 1 / (1 + p·a), a ≥ 0
_P = 0.3275911
_COEFFS = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)  # P's, highest power first


def _erfc(u: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """scale·erfc(u) for u ≥ 0, as a new array in u's dtype: t·P(t)·exp(-u²), the scale folded
    into P's coefficients. In place on two scratch arrays: a BERT feed-forward layer feeds it
    1,536 values per token, and float64 temporaries made it cost more than the layer's products."""
    dtype = u.dtype.type
    t = u * dtype(_P)
    t += 1
    np.reciprocal(t, out=t)
    y = t * dtype(scale * _COEFFS[0])
    for c in _COEFFS[1:]:  # Horner: ((c0·t + c1)·t + …)·t
        y += dtype(scale * c)
        y *= t
    e = np.square(u)
    np.negative(e, out=e)
    np.exp(e, out=e)
    y *= e
    return y


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, a few 1e-7 more in float32), in x's own
    dtype: numpy has no erf, and scipy's import alone costs more than this whole engine's start-up."""
    y = _erfc(np.abs(x))
    np.subtract(1, y, out=y)
    return np.copysign(y, x, out=y)  # erf is odd


def gelu(x: np.ndarray, kind: str, out: np.ndarray | None = None) -> np.ndarray:
    """GELU, exact (x·Φ(x), Φ the normal distribution) or GPT-2's tanh approximation
    ("gelu_new"), a block at a time: a block's scratch arrays stay in a core's cache, where a
    sweep over a whole (tokens, 4·d_model) array per step waits on memory (2x slower on a busy
    machine). `out` (contiguous, x's shape; x itself is fine) saves a new array."""
    out = np.empty_like(x) if out is None else out
    flat, flat_out = x.reshape(-1), out.reshape(-1)
    for start in range(0, flat.size, BLOCK):
        block, into = flat[start : start + BLOCK], flat_out[start : start + BLOCK]
        if kind == "gelu_new":
            y = 1.0 + np.tanh(np.float32(math.sqrt(2.0 / math.pi)) * (block + 0.044715 * block**3))
            y *= block
            np.multiply(y, 0.5, out=into)
            continue
        # x·Φ(x) = max(x, 0) - |x|·Φ(-|x|), and Φ(-a) = erfc(a/√2)/2: no sign to restore
        a = np.abs(block)
        tail = _erfc(a * a.dtype.type(1 / math.sqrt(2.0)), 0.5)
        tail *= a
        np.maximum(block, 0, out=into)
        into -= tail
    return out


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
