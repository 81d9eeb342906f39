"""Reduced corpus aggregates as rows per head: what `--json` prints and the tables show."""

from __future__ import annotations

import numpy as np

from attnviz.analysis.stats import STAT_KEYS
from attnviz.corpus.jobs import LINK_KEYS, Aggregate
from attnviz.errors import UsageError

Row = dict[str, int | float | None]


def _heads(aggregate: Aggregate) -> list[tuple[int, int, int, int]]:
    """(layer index, head index, layer, head) in layer then head order."""
    return [(i, j, layer, head) for i, layer in enumerate(aggregate.layers) for j, head in enumerate(aggregate.heads)]


def _moment_rows(aggregate: Aggregate, keys: tuple[str, ...]) -> list[Row]:
    moments = aggregate.moments
    assert moments.mean is not None
    mean, std = moments.mean, moments.std
    rows: list[Row] = []
    for i, j, layer, head in _heads(aggregate):
        row: Row = {"layer": layer, "head": head}
        for s, key in enumerate(keys):
            # NaN: a statistic the texts' maps do not define (sink after --hide-special): null in JSON
            row[f"{key}_mean"] = None if np.isnan(mean[i, j, s]) else float(mean[i, j, s])
            row[f"{key}_std"] = None if np.isnan(std[i, j, s]) else float(std[i, j, s])
        row["n"] = moments.n
        rows.append(row)
    return rows


def stats_rows(aggregate: Aggregate, sort: str | None = None) -> list[Row]:
    """Per head: `<statistic>_mean` and `<statistic>_std` over the texts, and `n`; sorted by a
    statistic's mean (largest first) when `sort` names one, else in layer and head order."""
    rows = _moment_rows(aggregate, STAT_KEYS)
    if sort is not None:
        rows.sort(key=lambda r: -_number(r[f"{sort}_mean"]))
    return rows


def _number(value: int | float | None) -> float:
    """A row's value for sorting: n/a (None) sorts last."""
    return -np.inf if value is None else float(value)


def find_rows(aggregate: Aggregate, sort: str = "score") -> list[Row]:
    """Per head: mean and std of find's weight, baseline and score over the texts holding both
    words, and `n`; highest mean `sort` first (ties keep layer, head order)."""
    if sort not in ("score", "weight"):
        raise UsageError(f"invalid --sort '{sort}': use score or weight")
    rows = _moment_rows(aggregate, LINK_KEYS)
    rows.sort(key=lambda r: -r[f"{sort}_mean"])
    return rows


def pairs_rows(aggregate: Aggregate) -> list[Row]:
    """Per head: accuracy, mean_weight, mean_score, chance and n over the scored pairs; highest
    accuracy first, then highest mean score (ties keep layer, head order)."""
    assert aggregate.hits is not None and aggregate.sums is not None
    n = aggregate.n
    accuracy = aggregate.hits / n
    means = aggregate.sums / n  # (l, h, [weight, score])
    rows: list[Row] = [
        {
            "layer": layer,
            "head": head,
            "accuracy": float(accuracy[i, j]),
            "mean_weight": float(means[i, j, 0]),
            "mean_score": float(means[i, j, 1]),
            "chance": aggregate.chance / n,
            "n": n,
        }
        for i, j, layer, head in _heads(aggregate)
    ]
    rows.sort(key=lambda r: (-r["accuracy"], -r["mean_score"]))
    return rows


def grid(rows: list[Row], key: str) -> tuple[np.ndarray, list[int], list[int]]:
    """A (layers, heads) table of `key` from rows, with the layer and head indices."""
    layers = sorted({int(r["layer"]) for r in rows})
    heads = sorted({int(r["head"]) for r in rows})
    table = np.full((len(layers), len(heads)), np.nan)
    for r in rows:
        table[layers.index(int(r["layer"])), heads.index(int(r["head"]))] = r[key]
    return table, layers, heads
