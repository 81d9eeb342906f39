"""Per-head statistics against hand-computed values and an independent loop implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnviz.analysis.stats import (
    STAT_KEYS,
    HeadStats,
    head_stats,
    sort_stats,
    stat_grid,
    stat_legend,
    stat_table,
)
from attnviz.attention import Attention
from attnviz.errors import UsageError


def attention_of(matrices: np.ndarray, special=None, layers=None, heads=None) -> Attention:
    """An Attention from (layers, heads, n, n) weights."""
    n_layers, n_heads, n, _ = matrices.shape
    special = np.zeros(n, bool) if special is None else np.asarray(special)
    return Attention(
        tokens=[f"t{i}" for i in range(n)],
        weights=matrices,
        layers=range(n_layers) if layers is None else layers,
        heads=range(n_heads) if heads is None else heads,
        special=special,
        word_ids=np.where(special, -1, np.arange(n)),
    )


def one_head(matrix, special=None) -> dict[str, float]:
    rows = head_stats(attention_of(np.asarray(matrix, dtype=np.float32)[None, None], special))
    assert len(rows) == 1
    return rows[0].to_dict()


def loop_stats(m: np.ndarray, special: np.ndarray) -> dict[str, float]:
    """The same statistics written with explicit loops."""
    n = len(m)
    ent = mx = spec = own = dist = 0.0
    for i in range(n):
        for j in range(n):
            p = float(m[i][j])
            if p > 0:
                ent -= p * math.log(p)
            if special[j]:
                spec += p
            dist += p * abs(i - j)
        mx += max(float(x) for x in m[i])
        own += float(m[i][i])
    prev = sum(float(m[i][i - 1]) for i in range(1, n)) / (n - 1) if n > 1 else 0.0
    return {
        "entropy": ent / n,
        "max_weight": mx / n,
        "special_mass": spec / n,
        "prev_token": prev,
        "self": own / n,
        "distance": dist / n,
        "sink": sum(float(m[i][0]) for i in range(n)) / n,
    }


def test_identity_head() -> None:
    stats = one_head(np.eye(5))
    assert stats == {
        "layer": 0,
        "head": 0,
        "kv_head": None,
        "entropy": 0.0,
        "max_weight": 1.0,
        "special_mass": 0.0,
        "prev_token": 0.0,
        "self": 1.0,
        "distance": 0.0,
        "sink": 0.2,  # only the first of five rows puts its weight on position 0
    }


def test_uniform_head() -> None:
    n = 4
    stats = one_head(np.full((n, n), 1 / n), special=[True, False, False, True])
    assert stats["entropy"] == pytest.approx(math.log(4), rel=1e-6)
    assert stats["max_weight"] == pytest.approx(0.25)
    assert stats["special_mass"] == pytest.approx(0.5)
    assert stats["prev_token"] == pytest.approx(0.25)
    assert stats["self"] == pytest.approx(0.25)
    # row distance sums 6, 4, 4, 6 over 4 keys each: (20 / 4) / 4
    assert stats["distance"] == pytest.approx(1.25)


def test_previous_token_head() -> None:
    n = 5
    shift = np.zeros((n, n))
    shift[0, 0] = 1.0  # the first token has nothing before it
    for i in range(1, n):
        shift[i, i - 1] = 1.0
    stats = one_head(shift)
    assert stats["prev_token"] == 1.0
    assert stats["self"] == pytest.approx(1 / n)
    assert stats["distance"] == pytest.approx((n - 1) / n)
    assert stats["entropy"] == 0.0


def test_sink_head() -> None:
    n = 6
    sink = np.full((n, n), 0.1 / (n - 1))
    sink[:, 0] = 0.9  # every token parks 0.9 of its attention on the first token
    assert one_head(sink)["sink"] == pytest.approx(0.9)
    assert one_head(np.roll(sink, 1, axis=1))["sink"] == pytest.approx(0.02)


def test_stat_legend_ranges() -> None:
    legend = dict(stat_legend(12))
    assert list(legend) == list(STAT_KEYS)
    assert f"ln N = {math.log(12):.3f}" in legend["entropy"] and "nats" in legend["entropy"]
    assert "1/N = 0.083" in legend["max_weight"]
    assert "N − 1 = 11" in legend["distance"]
    assert "any size (raw norms)" in dict(stat_legend(12, "value-norm"))["sink"]


def test_single_token() -> None:
    stats = one_head([[1.0]])
    assert stats["prev_token"] == 0.0
    assert stats["self"] == 1.0


def test_zero_rows_give_zero_entropy_not_nan() -> None:
    stats = one_head([[0.0, 0.0], [0.5, 0.5]])
    assert stats["entropy"] == pytest.approx(math.log(2) / 2)
    assert not any(math.isnan(stats[k]) for k in STAT_KEYS)


def test_every_statistic_equals_a_loop_implementation() -> None:
    rng = np.random.default_rng(11)
    n = 7
    logits = rng.normal(scale=3.0, size=(3, 4, n, n))
    weights = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    weights[1, 2] = np.tril(weights[1, 2])  # some exact zeros
    special = np.array([True, False, False, False, False, False, True])
    attn = attention_of(weights, special, layers=(2, 3, 5), heads=(0, 1, 2, 3))
    rows = head_stats(attn)
    assert [(r.layer, r.head) for r in rows] == [(la, h) for la in (2, 3, 5) for h in range(4)]
    for row in rows:
        m = attn.head(row.layer, row.head).astype(np.float64)
        expected = loop_stats(m.tolist(), special.tolist())
        got = row.to_dict()
        assert list(got) == ["layer", "head", "kv_head", *STAT_KEYS]
        assert got["kv_head"] is None  # no grouping known
        for key in STAT_KEYS:
            assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key


def test_stat_table_holds_the_numbers_of_head_stats_and_nan_for_n_a() -> None:
    from attnviz.analysis.tokens import hide_special

    rng = np.random.default_rng(5)
    logits = rng.normal(scale=2.0, size=(2, 3, 6, 6))
    weights = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    special = np.array([True, False, False, False, False, True])
    for attn in (attention_of(weights, special, layers=(1, 4)), hide_special(attention_of(weights, special))):
        table = stat_table(attn)
        assert table.shape == (2, 3, len(STAT_KEYS)) and table.dtype == np.float64
        for row in head_stats(attn):
            i, j = list(attn.layers).index(row.layer), list(attn.heads).index(row.head)
            for s, key in enumerate(STAT_KEYS):
                value = row.value(key)
                assert math.isnan(table[i, j, s]) if value is None else table[i, j, s] == value, key
    assert np.isnan(stat_table(hide_special(attention_of(weights, special)))[..., STAT_KEYS.index("sink")]).all()


def test_sort_stats_and_grid() -> None:
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(2, 3, 4, 4))
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    rows = head_stats(attention_of(weights, layers=(4, 5), heads=(0, 1, 2)))
    for key in STAT_KEYS:
        values = [r.value(key) for r in sort_stats(rows, key)]
        assert values == sorted((r.value(key) for r in rows), reverse=True)
        ascending = [r.value(key) for r in sort_stats(rows, key, descending=False)]
        assert ascending == sorted(r.value(key) for r in rows)
        grid = stat_grid(sort_stats(rows, key), key)  # order of rows does not matter
        assert grid.shape == (2, 3)
        for r in rows:
            assert grid[r.layer - 4, r.head] == r.value(key)
    assert rows[0].value("self") == rows[0].self_weight


def test_sort_stats_keeps_ties_in_order() -> None:
    rows = [
        HeadStats(
            layer=0,
            head=h,
            entropy=1.0,
            max_weight=0.5,
            special_mass=0.0,
            prev_token=0.0,
            self_weight=0.0,
            distance=float(h % 2),
        )
        for h in range(4)
    ]
    assert [r.head for r in sort_stats(rows, "distance")] == [1, 3, 0, 2]
    assert [r.head for r in sort_stats(rows, "entropy")] == [0, 1, 2, 3]


def test_grid_marks_missing_pairs_nan() -> None:
    rows = [
        HeadStats(0, 0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0),
        HeadStats(1, 1, 2.0, 0.5, 0.0, 0.0, 0.0, 0.0),
    ]
    grid = stat_grid(rows, "entropy")
    assert grid[0, 0] == 1.0 and grid[1, 1] == 2.0
    assert np.isnan(grid[0, 1]) and np.isnan(grid[1, 0])


@pytest.mark.parametrize("call", [sort_stats, stat_grid])
def test_unknown_statistic(call) -> None:
    with pytest.raises(UsageError) as excinfo:
        call([], "sharpness")
    assert str(excinfo.value) == (
        "unknown statistic 'sharpness': use one of entropy, max_weight, special_mass, prev_token, self, distance, sink"
    )
