"""Terminal tables for corpus runs: statistics as mean ± std, ranked heads, pair accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from attnviz.analysis.stats import STAT_KEYS
from attnviz.render.canvas import bar
from attnviz.render.labels import format_value, plural, safe_label

Row = dict[str, int | float | None]


def _table(title: str, padding: int = 1) -> Table:
    # no vertical rules and no edge padding, as the one-text stats table
    return Table(
        title=Text(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
        collapse_padding=True, padding=(0, padding),
    )  # fmt: skip


def corpus_stats_table(rows: Sequence[Row], sort: str | None) -> Table:
    """Every head's statistics as mean±std over the texts; the sort column is marked."""
    n = int(rows[0]["n"]) if rows else 0
    title = f"per-head statistics over {plural(n, 'text')}, mean±std" + (f", sorted by {sort}" if sort else "")
    table = _table(title, padding=0)  # the box's one space between columns: seven statistics fit 80 columns
    table.add_column("layer", justify="right", no_wrap=True)
    table.add_column("head", justify="right", no_wrap=True)
    for key in STAT_KEYS:
        # two-line headers ("max" over "weight") keep seven statistics within 80 columns
        header = key.replace("_", "\n") + (" ▼" if key == sort else "")
        table.add_column(header, justify="right", no_wrap=True)
    for r in rows:
        cells = (
            "n/a" if r[f"{k}_mean"] is None else f"{r[f'{k}_mean']:.2f}±{format_value(float(r[f'{k}_std']))}"
            for k in STAT_KEYS
        )
        table.add_row(str(r["layer"]), str(r["head"]), *cells)
    return table


def corpus_find_table(rows: Sequence[Row], source: str, target: str, texts: int) -> Table:
    """Heads ranked by mean score (weight minus baseline) over the texts holding both words."""
    title = f"heads linking {safe_label(source)} → {safe_label(target)} over {plural(texts, 'text')} (means)"
    table = Table(title=Text(title), title_justify="left")
    for name in ("rank", "layer", "head", "weight", "baseline", "score", "± std"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for rank, r in enumerate(rows, 1):
        table.add_row(
            str(rank), str(r["layer"]), str(r["head"]), f"{r['weight_mean']:.3f}", f"{r['baseline_mean']:.3f}",
            f"{r['score_mean']:+.3f}", f"{r['score_std']:.3f}", bar(float(r["score_mean"]), 12),
        )  # fmt: skip
    return table


def pairs_table(rows: Sequence[Row], pairs: int) -> Table:
    """Heads ranked by accuracy on labelled pairs, with the chance level to compare against."""
    chance = float(rows[0]["chance"]) if rows else 0.0
    title = f"heads by accuracy on {plural(pairs, 'pair')} (chance {chance:.3f})"
    table = Table(title=Text(title), title_justify="left")
    for name in ("rank", "layer", "head", "accuracy", "mean weight", "mean score"):
        table.add_column(name, justify="right")
    table.add_column("accuracy", no_wrap=True)
    for rank, r in enumerate(rows, 1):
        table.add_row(
            str(rank), str(r["layer"]), str(r["head"]), f"{r['accuracy']:.3f}", f"{r['mean_weight']:.3f}",
            f"{r['mean_score']:+.3f}", bar(float(r["accuracy"]), 16),
        )  # fmt: skip
    return table
