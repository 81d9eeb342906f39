"""The scratch engine behind the common interface (models/engine.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from attnviz.models.engine import stack_layers
from attnviz.models.scratch.model import RANDOM_VOCAB, Transformer, load
from attnviz.models.tokens import Tokens, encode, encode_words, load_tokenizer

SMALL_INPUT = 128  # tokens
SMALL_WIDTH = 1024  # d_model: BERT-base, GPT-2 small and medium


class ScratchEngine:
    """A numpy model and its tokenizer (none for the random toy: it hashes words)."""

    name = "scratch"

    def __init__(self, model: Transformer, tokenizer: Any | None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        c = model.config
        self.n_layers, self.n_heads, self.kv_heads, self.causal = c.n_layer, c.n_head, c.n_kv, c.causal

    @classmethod
    def load(cls, folder: Path) -> ScratchEngine:
        return cls(load(folder), load_tokenizer(folder))

    def tokenize(self, text: str, max_tokens: int | None) -> Tokens:
        most = self.model.config.max_positions
        limit = min(most, max_tokens or most)
        by_user = max_tokens is not None and max_tokens <= most
        if self.tokenizer is None:
            return encode_words(text, RANDOM_VOCAB, limit, by_user)
        return encode(self.tokenizer, text, limit, by_user)

    def attention(self, tokens: Tokens, layers: list[int], heads: list[int]) -> np.ndarray:
        with blas_threads_for(len(tokens.ids), self.model.config.d_model):
            kept, _ = self.model.forward(tokens.ids, layers)
        return stack_layers(kept, layers, heads, self.n_heads)

    def value_norm(self, tokens: Tokens, layers: list[int], heads: list[int]) -> np.ndarray:
        """float32 (layers, heads, query, key): ‖α_ij · f_h(x_j)‖ from the engine's own arrays."""
        with blas_threads_for(len(tokens.ids), self.model.config.d_model):
            kept, _ = self.model.forward(tokens.ids, layers, measure="value-norm")
        return stack_layers(kept, layers, heads, self.n_heads)

    def record(self, tokens: Tokens, layer: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One layer's attention (heads, query, key) and every intermediate of it (q, k, v …)."""
        with blas_threads_for(len(tokens.ids), self.model.config.d_model):
            kept, record = self.model.forward(tokens.ids, [layer], record_layer=layer)
        return kept[layer], record


def blas_threads_for(n_tokens: int, d_model: int = 0) -> contextlib.AbstractContextManager[object]:
    """One BLAS thread for short inputs to small models: waking and spinning threads costs more
    than the matrix products of a sentence (10× slower on a busy 2-core machine); long inputs and
    wide models (an 8B model's layer is 0.2 G multiply-adds per token) use all."""
    if n_tokens > SMALL_INPUT or d_model > SMALL_WIDTH:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")
