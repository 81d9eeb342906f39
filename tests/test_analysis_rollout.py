"""Attention rollout against a loop reference, and differences."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz.analysis.diff import difference
from attnviz.analysis.rollout import rollout
from attnviz.analysis.select import select
from attnviz.attention import Attention
from attnviz.errors import UsageError


def make_attention(weights: np.ndarray, layers=None, heads=None) -> Attention:
    n_layers, n_heads, n, _ = weights.shape
    return Attention(
        tokens=[f"t{i}" for i in range(n)],
        weights=weights,
        layers=range(n_layers) if layers is None else layers,
        heads=range(n_heads) if heads is None else heads,
        special=np.zeros(n, bool),
        word_ids=np.arange(n),
    )


def random_weights(shape: tuple[int, ...], seed: int, causal: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=shape)
    if causal:
        n = shape[-1]
        logits = np.where(np.tril(np.ones((n, n), bool)), logits, -np.inf)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def rollout_reference(weights: np.ndarray, fusion: str) -> np.ndarray:
    """Abnar & Zuidema with loops: fuse heads, add the residual, normalise, multiply up."""
    n_layers, n_heads, n, _ = weights.shape
    result = None
    for layer in range(n_layers):
        a = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                values = [float(weights[layer, h, i, j]) for h in range(n_heads)]
                fused = {"mean": sum(values) / n_heads, "max": max(values), "min": min(values)}
                a[i][j] = 0.5 * fused[fusion] + (0.5 if i == j else 0.0)
            total = sum(a[i])
            a[i] = [x / total for x in a[i]]
        if result is None:
            result = a
        else:  # R_l = A_l . R_(l-1)
            result = [[sum(a[i][k] * result[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    return np.array(result)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("causal", [False, True])
def test_rollout_equals_reference(fusion: str, causal: bool) -> None:
    weights = random_weights((4, 3, 6, 6), seed=1, causal=causal)
    attn = make_attention(weights)
    got = rollout(attn, fusion)
    assert got.shape == (6, 6)
    np.testing.assert_allclose(got, rollout_reference(attn.weights, fusion), rtol=1e-9)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)
    if causal:
        assert np.all(np.triu(got, k=1) == 0)


def test_rollout_fusions_differ() -> None:
    attn = make_attention(random_weights((2, 4, 5, 5), seed=2))
    assert not np.allclose(rollout(attn, "max"), rollout(attn, "min"))


def test_rollout_of_identity_layers_is_identity() -> None:
    weights = np.broadcast_to(np.eye(5), (3, 4, 5, 5)).copy()
    np.testing.assert_array_equal(rollout(make_attention(weights)), np.eye(5))


def test_rollout_of_one_layer_is_half_attention_half_residual() -> None:
    weights = random_weights((1, 2, 4, 4), seed=3)
    attn = make_attention(weights)
    expected = 0.5 * attn.weights.astype(np.float64).mean(axis=1)[0] + 0.5 * np.eye(4)
    np.testing.assert_allclose(rollout(attn), expected, rtol=1e-7)


def test_rollout_of_the_first_layers() -> None:
    weights = random_weights((4, 2, 5, 5), seed=4)
    attn = make_attention(weights)
    first_two = select(attn, [0, 1], None)
    np.testing.assert_allclose(rollout(first_two), rollout_reference(attn.weights[:2], "mean"), rtol=1e-9)


@pytest.mark.parametrize(
    ("layers", "heads", "message"),
    [
        (
            (1, 2, 3),
            (0, 1),
            "rollout needs consecutive layers from 0, but this extraction holds layers 1-3",
        ),
        (
            (0, 2, 3),
            (0, 1),
            "rollout needs consecutive layers from 0, but this extraction holds layers 0,2,3",
        ),
        (
            (0, 1, 2),
            (1, 3),
            "rollout fuses every head of each layer, but this extraction holds only heads 1,3",
        ),
    ],
)
def test_rollout_needs_consecutive_layers_and_all_heads(layers, heads, message) -> None:
    attn = make_attention(random_weights((3, 2, 4, 4), seed=0), layers=layers, heads=heads)
    with pytest.raises(UsageError) as excinfo:
        rollout(attn)
    assert str(excinfo.value) == message


def test_rollout_rejects_unknown_fusion() -> None:
    attn = make_attention(random_weights((1, 1, 3, 3), seed=0))
    with pytest.raises(UsageError) as excinfo:
        rollout(attn, "sum")
    assert str(excinfo.value) == "invalid fusion 'sum': use mean, max or min"


# difference


def test_difference_is_a_minus_b() -> None:
    a = random_weights((2, 3, 4, 4), seed=5).astype(np.float32)
    b = random_weights((2, 3, 4, 4), seed=6).astype(np.float32)
    diff = difference(a, b)
    assert diff.dtype == np.float32
    assert diff[1, 2, 3, 0] == a[1, 2, 3, 0] - b[1, 2, 3, 0]
    np.testing.assert_array_equal(diff, a - b)
    np.testing.assert_array_equal(difference(a, a), np.zeros_like(a))


def test_difference_of_different_token_counts() -> None:
    with pytest.raises(UsageError) as excinfo:
        difference(np.zeros((9, 9)), np.zeros((11, 11)))
    assert str(excinfo.value) == (
        "cannot compare attention over 9 tokens with attention over 11 tokens: both sides need the same tokens"
    )


def test_difference_of_different_head_grids() -> None:
    with pytest.raises(UsageError) as excinfo:
        difference(np.zeros((2, 3, 4, 4)), np.zeros((2, 2, 4, 4)))
    assert str(excinfo.value) == (
        "cannot compare arrays of shapes (2, 3, 4, 4) and (2, 2, 4, 4): select the same layers and heads on both sides"
    )
