"""What every engine offers `run.py`: load a model, tokenise, give the attention of the asked
layers and heads. `run.py` picks an engine and assembles the `Attention`; nothing else."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from attnviz.models.tokens import Tokens


class Engine(Protocol):
    name: str  # "scratch" or "hf": what `Attention.engine` records
    n_layers: int
    n_heads: int  # query heads
    kv_heads: int  # key/value heads (fewer with grouped-query attention)
    causal: bool | None  # None: the engine cannot tell before it runs (read off the weights)

    def tokenize(self, text: str, max_tokens: int | None) -> Tokens:
        """Token ids and labels, truncated (with a warning) to what the model takes."""
        ...

    def attention(self, tokens: Tokens, layers: list[int], heads: list[int]) -> np.ndarray:
        """float32 (layers, heads, query, key) for the asked layers and heads."""
        ...

    def value_norm(self, tokens: Tokens, layers: list[int], heads: list[int]) -> np.ndarray:
        """Like `attention`, the value-weighted norms ‖α_ij · f_h(x_j)‖ (models/value_norm.py)."""
        ...


def stack_layers(kept: dict[int, np.ndarray], layers: list[int], heads: list[int], n_head: int) -> np.ndarray:
    """(layers, heads, query, key) from {layer: (heads, query, key)}, freeing each layer as it
    is copied: a 4096-token layer is 805 MB, so no second full copy is ever made. `n_head` is
    how many heads each kept layer holds; `heads` index into them."""
    if len(layers) == 1 and len(heads) == n_head:
        return kept.pop(layers[0])[None]  # a view: no copy at all
    first = kept[layers[0]]
    out = np.empty((len(layers), len(heads), *first.shape[1:]), dtype=np.float32)
    for i, layer in enumerate(layers):
        out[i] = kept.pop(layer)[heads]
    return out


def looks_causal(weights: np.ndarray) -> bool:
    """Decoders in transformers do not all set is_decoder; an all-zero upper triangle tells
    (one head is enough: a causal mask covers them all)."""
    n = weights.shape[-1]
    return n > 1 and not np.triu(weights[0, 0], k=1).any()
