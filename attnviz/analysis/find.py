"""Which heads link two words: rank every layer x head by how much more the source word looks
at the target word than the other words do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.analysis.tokens import find_token
from attnviz.attention import Attention
from attnviz.errors import UsageError

SORTS = ("score", "weight")


@dataclass(frozen=True)
class HeadScore:
    """One head's link from the source word to the target word.

    weight: what the source word puts on the target word; baseline: what the other words put
    on it; score = weight - baseline (about 0 for a head every word uses to look at the target).
    """

    layer: int
    head: int
    weight: float
    baseline: float = 0.0
    score: float = 0.0

    def to_dict(self) -> dict[str, int | float]:
        """JSON-ready form: layer, head, weight, baseline, score."""
        return {
            "layer": self.layer,
            "head": self.head,
            "weight": self.weight,
            "baseline": self.baseline,
            "score": self.score,
        }


@dataclass(frozen=True)
class Link:
    """weight, baseline and score of the from-word -> to-word link, each (layers, heads)."""

    weight: np.ndarray
    baseline: np.ndarray
    score: np.ndarray


def word_weight(attn: Attention, source: Sequence[int], target: Sequence[int]) -> np.ndarray:
    """(layers, heads) weight from the source pieces to the target pieces: mean over query
    pieces, sum over key pieces (the same merge as `merge_words`)."""
    block = attn.weights[:, :, list(source)][:, :, :, list(target)]  # (l, h, src, tgt)
    return block.astype(np.float64).sum(axis=-1).mean(axis=-1)


def link(attn: Attention, source: Sequence[int], target: Sequence[int]) -> Link:
    """find's weight, its baseline and score = weight - baseline.

    baseline: the mean over the non-special query positions not in `source` of the weight they
    put on `target` (0 when there is no such query): what any token gives the to-word.
    """
    weight = word_weight(attn, source, target)  # (layers, heads)
    mine = set(source)
    others = [q for q in range(attn.n_queries) if not attn.special[q] and q not in mine]
    baseline = word_weight(attn, others, target) if others else np.zeros_like(weight)
    return Link(weight, baseline, weight - baseline)


def rank_heads(attn: Attention, source: str, target: str, top: int = 10, sort: str = "score") -> list[HeadScore]:
    """The `top` heads by `sort` (score or weight) from word `source` (query) to word `target`
    (key), highest first; ties keep layer, then head, order. In cross-attention `source` is a
    target-text word and `target` a source-text word."""
    if top < 1:
        raise UsageError(f"invalid --top {top}: it must be at least 1")
    if sort not in SORTS:
        raise UsageError(f"invalid --sort '{sort}': use {' or '.join(SORTS)}")
    src, tgt = find_token(attn, source), find_token(attn, target, keys=True)
    if attn.causal and attn.is_self and min(tgt) > max(src):
        raise UsageError(
            f'in a causal model "{source}" cannot attend to "{target}", which comes later: swap the two words'
        )
    found = link(attn, src, tgt)
    key = (found.score if sort == "score" else found.weight).ravel()
    order = np.argsort(-key, kind="stable")[:top]
    n_heads = len(attn.heads)
    return [
        HeadScore(
            layer=attn.layers[flat // n_heads],
            head=attn.heads[flat % n_heads],
            weight=float(found.weight.ravel()[flat]),
            baseline=float(found.baseline.ravel()[flat]),
            score=float(found.score.ravel()[flat]),
        )
        for flat in order.tolist()
    ]
