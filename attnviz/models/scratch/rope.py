"""Rotary position embeddings (RoPE), in transformers' half-split `rotate_half` layout.

Position p turns each pair of dimensions (i, i + dim/2) of a query or key by the angle
p·θ_i, with θ_i = 1/base^(2i/dim). A query·key product then depends on how far apart the two
tokens are, not where they are. Scaling types stretch the θ_i for longer contexts:

- linear:  θ_i / factor
- dynamic: base grows with the text past max_position_embeddings (NTK-aware)
- llama3:  long wavelengths / factor, short ones kept, a smooth ramp between
- yarn:    a ramp between interpolated and original θ_i, cos and sin × an attention factor

All in float32, the way transformers computes them (modeling_rope_utils.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("default", "linear", "dynamic", "llama3", "yarn")


@dataclass(frozen=True)
class Rope:
    dim: int  # rotated dimensions per head (head_dim × partial_rotary_factor)
    theta: float = 10000.0
    kind: str = "default"
    factor: float = 1.0
    max_positions: int = 2048  # dynamic: the length beyond which the base grows
    original_max: int = 0  # llama3 and yarn: the pretraining context
    low_freq_factor: float = 1.0  # llama3
    high_freq_factor: float = 4.0  # llama3
    attention_factor: float | None = None  # yarn: None = 0.1·ln(factor) + 1
    beta_fast: float = 32.0  # yarn
    beta_slow: float = 1.0  # yarn
    truncate: bool = True  # yarn


def inverse_frequencies(rope: Rope, n_tokens: int) -> tuple[np.ndarray, float]:
    """(θ_i for i < dim/2, the factor cos and sin are multiplied by)."""
    f32 = np.float32
    dim, base = rope.dim, rope.theta
    if rope.kind == "dynamic":
        seq_len = max(n_tokens, rope.max_positions)
        base = base * ((rope.factor * seq_len / rope.max_positions) - (rope.factor - 1)) ** (dim / (dim - 2))
    exponents = np.arange(0, dim, 2, dtype=f32) / f32(dim)
    inv_freq = (f32(1.0) / np.power(f32(base), exponents)).astype(f32)  # (dim/2,)
    if rope.kind == "linear":
        return inv_freq / f32(rope.factor), 1.0
    if rope.kind == "llama3":
        return _llama3(rope, inv_freq), 1.0
    if rope.kind == "yarn":
        return _yarn(rope, inv_freq)
    return inv_freq, 1.0


def _llama3(rope: Rope, inv_freq: np.ndarray) -> np.ndarray:
    low_wavelen = rope.original_max / rope.low_freq_factor
    high_wavelen = rope.original_max / rope.high_freq_factor
    wavelen = np.float32(2 * math.pi) / inv_freq
    scaled = np.where(wavelen > low_wavelen, inv_freq / np.float32(rope.factor), inv_freq)
    smooth = (rope.original_max / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor)
    smoothed = (1 - smooth) * scaled / np.float32(rope.factor) + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def _yarn(rope: Rope, inv_freq: np.ndarray) -> tuple[np.ndarray, float]:
    dim, base, factor = rope.dim, rope.theta, rope.factor
    attention_factor = rope.attention_factor
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1 else 0.1 * math.log(factor) + 1.0

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(rope.original_max / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(rope.beta_fast), correction_dim(rope.beta_slow)
    if rope.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # no division by zero
    ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - low) / (high - low), 0, 1).astype(np.float32)
    extrapolation = 1 - ramp  # 1 where θ_i is kept as trained, 0 where it is interpolated
    interpolated = inv_freq / np.float32(factor)
    return (interpolated * (1 - extrapolation) + inv_freq * extrapolation).astype(np.float32), attention_factor


def cos_sin(rope: Rope, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of every position's angles: (tokens, dim) each, both halves alike."""
    inv_freq, scaling = inverse_frequencies(rope, int(positions.max()) + 1 if positions.size else 0)
    freqs = positions.astype(np.float32)[:, None] * inv_freq[None, :]  # (tokens, dim/2)
    angles = np.concatenate([freqs, freqs], axis=-1)  # (tokens, dim): the half-split layout
    return np.cos(angles) * np.float32(scaling), np.sin(angles) * np.float32(scaling)


def rotate_half(x: np.ndarray) -> np.ndarray:
    """(x1, x2) -> (-x2, x1) over the last axis: a quarter turn of each pair (i, i + dim/2)."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate (heads, tokens, d_head) by position; only the first `dim` dimensions turn
    (partial_rotary_factor < 1 leaves the rest as they are, like Phi-3)."""
    dim = cos.shape[-1]
    if dim == x.shape[-1]:
        return x * cos + rotate_half(x) * sin
    turned, kept = x[..., :dim], x[..., dim:]
    return np.concatenate([turned * cos + rotate_half(turned) * sin, kept], axis=-1)
