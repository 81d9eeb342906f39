"""Head search: rank every layer x head by the weight from one word to another."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz.analysis.find import rank_heads, word_weight
from attnviz.attention import Attention
from attnviz.errors import UsageError

TOKENS = ["[CLS]", "the", "cat", "sat", "because", "it", "was", "comfort", "##able", "[SEP]"]
WORD_IDS = [-1, 0, 1, 2, 3, 4, 5, 6, 6, -1]
SPECIAL = [True] + [False] * 8 + [True]


def make_attention(layers=(0, 1, 2, 3), heads=(0, 1, 2, 3, 4), causal: bool = False, seed: int = 0) -> Attention:
    rng = np.random.default_rng(seed)
    n = len(TOKENS)
    logits = rng.normal(scale=2.0, size=(len(layers), len(heads), n, n))
    if causal:
        logits = np.where(np.tril(np.ones((n, n), bool)), logits, -np.inf)
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return Attention(
        tokens=TOKENS,
        weights=weights,
        layers=layers,
        heads=heads,
        special=SPECIAL,
        word_ids=WORD_IDS,
        causal=causal,
    )


def brute_force(attn: Attention, src: list[int], tgt: list[int], sort: str = "score") -> list[tuple]:
    """Every (layer, head, weight, baseline, score), sorted by `sort` descending, then layer, then
    head: loops over the rows, no numpy reductions."""
    others = [q for q in range(len(TOKENS)) if not SPECIAL[q] and q not in src]
    rows = []
    for i, layer in enumerate(attn.layers):
        for j, head in enumerate(attn.heads):

            def mean_sum(queries: list[int], i: int = i, j: int = j) -> float:
                return sum(sum(float(attn.weights[i, j, q, k]) for k in tgt) for q in queries) / len(queries)

            weight, baseline = mean_sum(src), mean_sum(others)
            rows.append((layer, head, weight, baseline, weight - baseline))
    column = 4 if sort == "score" else 2
    return sorted(rows, key=lambda r: (-r[column], r[0], r[1]))


@pytest.mark.parametrize(
    ("source", "target", "src", "tgt"),
    [
        ("it", "cat", [5], [2]),
        ("it", "comfortable", [5], [7, 8]),  # key pieces summed
        ("comfortable", "cat", [7, 8], [2]),  # query pieces averaged
        ("comfortable", "comfortable", [7, 8], [7, 8]),
        ("cat", "[SEP]", [2], [9]),
    ],
)
def test_rank_heads_equals_brute_force(source: str, target: str, src, tgt) -> None:
    attn = make_attention(layers=(1, 3, 4, 5), seed=7)  # model indices, not positions
    for sort in ("score", "weight"):
        expected = brute_force(attn, src, tgt, sort)
        ranked = rank_heads(attn, source, target, top=len(expected), sort=sort)
        assert [(s.layer, s.head) for s in ranked] == [(r[0], r[1]) for r in expected]
        got = [(s.weight, s.baseline, s.score) for s in ranked]
        np.testing.assert_allclose(got, [r[2:] for r in expected], rtol=1e-6, atol=1e-9)
        top3 = rank_heads(attn, source, target, top=3, sort=sort)
        assert [(s.layer, s.head) for s in top3] == [(r[0], r[1]) for r in expected[:3]]
    assert len(rank_heads(attn, source, target)) == 10


def test_rank_heads_finds_a_planted_head() -> None:
    attn = make_attention()
    weights = attn.weights.copy()
    row = np.full(len(TOKENS), 0.1 / (len(TOKENS) - 1))
    row[2] = 0.9  # layer 2, head 4: "it" looks at "cat"
    weights[2, 4, 5] = row
    planted = attn.replace(weights=weights)
    best = rank_heads(planted, "it", "cat", top=1)
    assert (best[0].layer, best[0].head, best[0].weight) == (2, 4, pytest.approx(0.9, rel=1e-6))
    assert best[0].score == pytest.approx(best[0].weight - best[0].baseline)
    assert best[0].to_dict() == {
        "layer": 2, "head": 4, "weight": best[0].weight, "baseline": best[0].baseline, "score": best[0].score
    }  # fmt: skip
    assert all(isinstance(v, float) for v in list(best[0].to_dict().values())[2:])


@pytest.mark.parametrize("share", [0.9, 0.3, 0.05])
def test_a_head_every_word_uses_to_look_at_the_target_scores_zero(share: float) -> None:
    """Every query gives "cat" the same weight: high weight, but score 0; a head where only "it"
    looks at "cat" ranks first."""
    attn = make_attention()
    weights = attn.weights.copy()
    others = np.delete(weights[1, 2], 2, axis=-1)
    weights[1, 2] = np.insert(others / others.sum(-1, keepdims=True) * (1 - share), 2, share, axis=-1)
    weights[3, 1, :, 2] = 0.0  # nobody but "it" looks at cat
    weights[3, 1, 5] = 0.0
    weights[3, 1, 5, 2] = 1.0
    weights[3, 1] /= weights[3, 1].sum(-1, keepdims=True)
    planted = attn.replace(weights=weights)
    ranked = {(s.layer, s.head): s for s in rank_heads(planted, "it", "cat", top=20)}
    assert len(ranked) == 20
    everyone = ranked[(1, 2)]
    assert everyone.weight == pytest.approx(share)
    assert everyone.baseline == pytest.approx(share)
    assert abs(everyone.score) < 1e-6
    best = rank_heads(planted, "it", "cat", top=1)[0]
    assert (best.layer, best.head, best.score) == (3, 1, pytest.approx(1.0))


def test_word_weight_shape_and_value() -> None:
    attn = make_attention()
    grid = word_weight(attn, [7, 8], [2])
    assert grid.shape == (4, 5)
    w = attn.weights.astype(np.float64)
    assert grid[1, 3] == pytest.approx((w[1, 3, 7, 2] + w[1, 3, 8, 2]) / 2)


def test_rank_heads_errors() -> None:
    attn = make_attention()
    with pytest.raises(UsageError) as excinfo:
        rank_heads(attn, "it", "dog")
    assert str(excinfo.value) == (
        '"dog" is not in this text: its words are the, cat, sat, because, it, was, comfortable'
    )
    with pytest.raises(UsageError) as excinfo:
        rank_heads(attn, "it", "cat", top=0)
    assert str(excinfo.value) == "invalid --top 0: it must be at least 1"
    causal = make_attention(causal=True)
    with pytest.raises(UsageError) as excinfo:
        rank_heads(causal, "cat", "it")
    assert str(excinfo.value) == (
        'in a causal model "cat" cannot attend to "it", which comes later: swap the two words'
    )
    # the allowed direction works, and a word may attend to itself
    assert rank_heads(causal, "it", "cat", top=1)[0].weight > 0
    assert rank_heads(causal, "it", "it", top=1)[0].weight > 0
