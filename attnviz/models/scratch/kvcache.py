"""The key/value cache: what lets a decoder write one token at a time.

Each layer keeps the keys and values of every token it has seen. A new token computes only its
own query, key and value; its attention row is `attention(q, K_cache, V_cache)`, the very
function a full forward pass calls. A step then costs one token's work plus a row as long as
the context (linear in it), never a rerun of the whole sequence.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

# (keys, values) of the new tokens -> (keys, values) of every token so far, (kv heads, tokens, d_k)
Extend = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class KVCache:
    """Per layer, the keys and values of every token so far, (kv heads, tokens, d_k) each, in
    arrays sized once for the whole run (no copy as the context grows)."""

    def __init__(self, n_layer: int, kv_heads: int, d_head: int, capacity: int) -> None:
        self.keys = np.empty((n_layer, kv_heads, capacity, d_head), dtype=np.float32)
        self.values = np.empty_like(self.keys)
        self.length = 0  # tokens cached in every layer (advanced once all layers have the step)

    def extend(self, layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append one step's keys and values to `layer`; every cached one back (views)."""
        end = self.length + k.shape[1]
        self.keys[layer, :, self.length : end] = k
        self.values[layer, :, self.length : end] = v
        return self.keys[layer, :, :end], self.values[layer, :, :end]

    def for_layer(self, layer: int) -> Extend:
        return functools.partial(self.extend, layer)


def layer_cache(context: dict, layer: int) -> Extend | None:
    """The cache of `layer` when this forward pass runs over one (None: a plain pass)."""
    cache = context.get("cache")
    return None if cache is None else cache.for_layer(layer)


def step_causal_mask(start: int, new: int, window: int = 0) -> np.ndarray:
    """bool (new queries, start + new keys): the token at position q = start+i sees 0..q, or
    with a sliding `window` only q - window < k ≤ q. With start = 0 it is `causal_mask(new)`
    (or `sliding_window_mask(new, window)`)."""
    keys = np.arange(start + new)[None, :]
    queries = (start + np.arange(new))[:, None]
    mask = keys <= queries
    return mask & (keys > queries - window) if window else mask
