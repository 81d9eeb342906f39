"""Writing with the scratch engine: the prompt once, then one token per step over the cache."""

from __future__ import annotations

import numpy as np

from attnviz.models.generation import GenerateOptions, Sampler, assemble
from attnviz.models.scratch.kvcache import KVCache
from attnviz.models.scratch.model import Transformer


def generate(
    model: Transformer,
    prompt: np.ndarray,
    options: GenerateOptions,
    stop: set[int],
    layers: list[int],
    heads: list[int],
) -> tuple[list[int], np.ndarray]:
    """Up to `options.max_new` ids after `prompt` (an end id is kept, nothing after it), and the
    kept layers' attention over prompt + generated tokens: float32 (layers, heads, query, key)."""
    c = model.config
    cache = KVCache(c.n_layer, c.n_kv, c.d_head, len(prompt) + options.max_new)
    head = model.lm_head()
    sample = Sampler(options)
    hidden, rows = model.step(prompt, layers, cache)  # the prompt's rows, as one forward gives them
    steps = [rows]
    new: list[int] = []
    while True:
        token = sample(head(hidden[-1]))
        new.append(token)
        hidden, rows = model.step(np.asarray([token]), layers, cache)  # its own row over the cache
        steps.append(rows)
        if token in stop or len(new) == options.max_new:
            return new, np.stack([assemble([s[i][heads] for s in steps]) for i in layers])
