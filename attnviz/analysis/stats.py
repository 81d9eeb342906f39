"""Per-head statistics: what kind of head is this (broad, sharp, positional, a sink)?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.attention import Attention
from attnviz.errors import UsageError

STAT_KEYS = ("entropy", "max_weight", "special_mass", "prev_token", "self", "distance", "sink")


@dataclass(frozen=True)
class HeadStats:
    """Statistics of one head, each a mean over its query rows (see `head_stats`)."""

    layer: int
    head: int
    entropy: float
    max_weight: float
    special_mass: float
    prev_token: float | None  # None: not applicable (cross-attention has no diagonal)
    self_weight: float | None  # 'self' in `to_dict` and `STAT_KEYS`
    distance: float | None
    sink: float | None = None  # None: position 0 is not in the map (hidden or cropped away)
    kv_head: int | None = None  # the key/value head this query head reads (grouped-query attention)

    def value(self, key: str) -> float | None:
        """The statistic named `key` (one of `STAT_KEYS`)."""
        _check_key(key)
        return self.self_weight if key == "self" else getattr(self, key)

    def to_dict(self) -> dict[str, int | float | None]:
        """JSON-ready form with keys layer, head, kv_head (None without grouped heads) and
        `STAT_KEYS`; a statistic the map has no meaning for (the diagonal of cross-attention) is None."""
        stats = {k: self.value(k) for k in STAT_KEYS}
        return {"layer": self.layer, "head": self.head, "kv_head": self.kv_head, **stats}


def _check_key(key: str) -> None:
    if key not in STAT_KEYS:
        raise UsageError(f"unknown statistic '{key}': use one of {', '.join(STAT_KEYS)}")


def head_stats(attn: Attention) -> list[HeadStats]:
    """Statistics of every held head, in layer then head order.

    entropy: -sum p ln p in nats (0 ln 0 = 0); max_weight: the row maximum; special_mass:
    weight on special tokens; prev_token: weight of query i on i-1, over i >= 1 (0 for one
    token); self: the diagonal; distance: sum_j p_ij |i - j|; sink: weight on the key at
    position 0 (None when that key is not in the map). Each is a mean over query rows.
    Cross-attention has no diagonal: prev_token, self and distance are None (n/a) there.
    """
    return _rows(attn, *_stat_arrays(attn))


def stat_table(attn: Attention) -> np.ndarray:
    """The numbers of `head_stats` as one float64 (layers, heads, len(STAT_KEYS)) array, NaN
    where a statistic is n/a: what a corpus run adds up per text, without a row object per head."""
    shape = (len(attn.layers), len(attn.heads))
    return np.stack([np.full(shape, np.nan) if a is None else a for a in _stat_arrays(attn)], axis=-1)


def _stat_arrays(attn: Attention) -> tuple[np.ndarray | None, ...]:
    """(layers, heads) arrays of the statistics in `STAT_KEYS` order (None: n/a), as `head_stats` defines them."""
    weights = attn.weights.astype(np.float64)  # (layers, heads, query, key)
    n = attn.n_tokens
    shares = _shares(attn, weights)
    logs = np.log(shares, out=np.zeros_like(shares), where=shares > 0)
    entropy = -(shares * logs).sum(axis=-1).mean(axis=-1)  # (layers, heads)
    max_weight = weights.max(axis=-1).mean(axis=-1)
    special_mass = weights[..., attn.key_special].sum(axis=-1).mean(axis=-1)
    sink = _sink(attn, weights)
    if not attn.is_self:  # target positions against source positions: no diagonal to speak of
        return entropy, max_weight, special_mass, None, None, None, sink
    diagonal = np.diagonal(weights, axis1=-2, axis2=-1)  # (layers, heads, n)
    self_weight = diagonal.mean(axis=-1)
    if n > 1:
        prev_token = np.diagonal(weights, offset=-1, axis1=-2, axis2=-1).mean(axis=-1)
    else:
        prev_token = np.zeros(weights.shape[:2])
    positions = np.arange(n)
    gaps = np.abs(positions[:, None] - positions[None, :])  # (query, key)
    distance = (shares * gaps).sum(axis=-1).mean(axis=-1)
    return entropy, max_weight, special_mass, prev_token, self_weight, distance, sink


def _shares(attn: Attention, weights: np.ndarray) -> np.ndarray:
    """Rows as distributions: the weights themselves; value norms divided by their row sum (the
    share of the output's norm each key brings), so that entropy and distance keep their meaning."""
    if attn.measure == "weights":
        return weights
    totals = weights.sum(axis=-1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)


def _sink(attn: Attention, weights: np.ndarray) -> np.ndarray | None:
    """(layers, heads) mean weight on the key at position 0 of the text (the attention sink of
    Xiao et al. 2023); None when --hide-special or --tokens took that key out of the map."""
    keys = attn.positions if attn.is_self else range(attn.key_offset or 0, (attn.key_offset or 0) + attn.n_keys)
    first = list(keys)[:1]
    if first != [0]:
        return None
    return weights[..., 0].mean(axis=-1)


def _rows(attn: Attention, *stats: np.ndarray | None) -> list[HeadStats]:
    """One `HeadStats` per held head from (layers, heads) arrays in field order (None: n/a)."""

    def at(values: np.ndarray | None, i: int, j: int) -> float | None:
        return None if values is None else float(values[i, j])

    entropy, max_weight, special_mass, prev_token, self_weight, distance, sink = stats
    return [
        HeadStats(
            layer=layer,
            head=head,
            entropy=at(entropy, i, j),
            max_weight=at(max_weight, i, j),
            special_mass=at(special_mass, i, j),
            prev_token=at(prev_token, i, j),
            self_weight=at(self_weight, i, j),
            distance=at(distance, i, j),
            sink=at(sink, i, j),
            kv_head=attn.kv_head(head),
        )
        for i, layer in enumerate(attn.layers)
        for j, head in enumerate(attn.heads)
    ]


def sort_stats(rows: Sequence[HeadStats], key: str, descending: bool = True) -> list[HeadStats]:
    """Rows sorted by statistic `key`; ties keep their order."""
    _check_key(key)
    present = [row for row in rows if row.value(key) is not None]
    missing = [row for row in rows if row.value(key) is None]  # n/a sorts last either way
    return sorted(present, key=lambda row: row.value(key), reverse=descending) + missing


def stat_grid(rows: Sequence[HeadStats], key: str) -> np.ndarray:
    """A (layers, heads) grid of statistic `key` for a heatmap; rows and columns follow the
    ascending layer and head indices present in `rows` (NaN where a pair is missing)."""
    _check_key(key)
    layers = sorted({row.layer for row in rows})
    heads = sorted({row.head for row in rows})
    grid = np.full((len(layers), len(heads)), np.nan)
    for row in rows:
        value = row.value(key)
        grid[layers.index(row.layer), heads.index(row.head)] = np.nan if value is None else value
    return grid


def stat_legend(n_keys: int, measure: str = "weights") -> list[tuple[str, str]]:
    """(statistic, what it measures, its range and unit) for a map of `n_keys` keys."""
    weights = measure == "weights"
    what = "weight" if weights else "value-weighted norm"
    top = "1" if weights else "any size (raw norms)"
    p = "p" if weights else "p (each row's norms as shares of its sum)"
    ln_n = math.log(max(n_keys, 1))
    low = f"1/N = {1 / max(n_keys, 1):.3f} (flat)" if weights else "0"
    return [
        ("entropy", f"how spread a row is, −Σ {p} ln p, in nats: 0 (one key) to ln N = {ln_n:.3f} (all N = "
                    f"{n_keys} keys equal)"),
        ("max_weight", f"the largest {what} in a row: {low} to {top}"),
        ("special_mass", f"{what} on special tokens ([CLS], [SEP], BOS, padding): 0 to {top}"),
        ("prev_token", f"{what} on the token just before: 0 to {top}"),
        ("self", f"{what} on the token itself: 0 to {top}"),
        ("distance", f"Σ {p[:1]} |i − j|, how far away the {what} lies, in tokens: 0 to N − 1 = {n_keys - 1}"),
        ("sink", f"{what} on position 0, the attention sink (Xiao et al. 2023): 0 to {top}"),
    ]  # fmt: skip
