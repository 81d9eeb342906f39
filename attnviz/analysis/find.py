"""Which heads link two words: rank every layer x head by the weight from one to the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.analysis.tokens import find_token
from attnviz.attention import Attention
from attnviz.errors import UsageError


@dataclass(frozen=True)
class HeadScore:
    """The weight one head puts from the source word on the target word."""

    layer: int
    head: int
    weight: float

    def to_dict(self) -> dict[str, int | float]:
        """JSON-ready form."""
        return {"layer": self.layer, "head": self.head, "weight": self.weight}


def word_weight(attn: Attention, source: Sequence[int], target: Sequence[int]) -> np.ndarray:
    """(layers, heads) weight from the source pieces to the target pieces: mean over query
    pieces, sum over key pieces (the same merge as `merge_words`)."""
    block = attn.weights[:, :, list(source)][:, :, :, list(target)]  # (l, h, src, tgt)
    return block.astype(np.float64).sum(axis=-1).mean(axis=-1)


def rank_heads(attn: Attention, source: str, target: str, top: int = 10) -> list[HeadScore]:
    """The `top` heads by weight from word `source` (query) to word `target` (key), highest
    first; ties keep layer, then head, order. In cross-attention `source` is a target-text
    word and `target` a source-text word."""
    if top < 1:
        raise UsageError(f"invalid --top {top}: it must be at least 1")
    src, tgt = find_token(attn, source), find_token(attn, target, keys=True)
    if attn.causal and attn.is_self and min(tgt) > max(src):
        raise UsageError(
            f'in a causal model "{source}" cannot attend to "{target}", which comes later: swap the two words'
        )
    scores = word_weight(attn, src, tgt)  # (layers, heads)
    order = np.argsort(-scores.ravel(), kind="stable")[:top]
    n_heads = len(attn.heads)
    return [
        HeadScore(
            layer=attn.layers[flat // n_heads],
            head=attn.heads[flat % n_heads],
            weight=float(scores.ravel()[flat]),
        )
        for flat in order.tolist()
    ]
