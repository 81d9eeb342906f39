"""Terminal reports for the analysis commands: ranked heads, head statistics, explain steps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attnviz.analysis.explain import Explanation
from attnviz.analysis.find import HeadScore
from attnviz.analysis.stats import STAT_KEYS, HeadStats, stat_legend
from attnviz.render.canvas import bar
from attnviz.render.labels import fit, safe_label


def find_table(
    scores: Sequence[HeadScore],
    source: str,
    target: str,
    asked: int | None = None,
    heads: int | None = None,
    sort: str = "score",
) -> Table:
    """Heads ranked by score (or weight): weight, the other words' baseline, and score = weight −
    baseline; says why when fewer than `asked`."""
    lines = []
    if asked is not None and len(scores) < asked:
        lines.append(f"--top {asked}: this extraction holds only {heads or len(scores)} heads")
    lines.append(f"ranked by {sort}; score = weight − baseline, the mean weight the other words give {target}")
    table = Table(
        title=Text(f"heads linking {safe_label(source)!s} → {safe_label(target)!s}"),
        title_justify="left",
        caption=Text(safe_label("\n".join(lines)), style="dim"),
        caption_justify="left",
    )
    table.add_column("rank", justify="right")
    table.add_column("layer", justify="right")
    table.add_column("head", justify="right")
    for key in ("weight", "baseline", "score"):
        table.add_column(key + (" ▼" if key == sort else ""), justify="right", no_wrap=True)
    table.add_column("weight, 0 to 1", no_wrap=True)
    for rank, s in enumerate(scores, 1):
        table.add_row(
            str(rank), str(s.layer), str(s.head), f"{s.weight:.3f}", f"{s.baseline:.3f}", f"{s.score:+.3f}",
            bar(s.weight, 20),
        )  # fmt: skip
    return table


def stats_table(rows: Sequence[HeadStats], sort: str | None) -> Table:
    """Every head's statistics; the sort column is marked."""
    title = "per-head statistics" + (f", sorted by {sort}" if sort else "")
    # no vertical rules, no edge padding, the box's one space between columns: the nine columns fit 80 columns
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)
    table.add_column("layer", justify="right", no_wrap=True)
    table.add_column("head", justify="right", no_wrap=True)
    for key in STAT_KEYS:
        header = key + (" ▼" if key == sort else "")
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for r in rows:
        table.add_row(str(r.layer), str(r.head), *(_stat(r.value(k)) for k in STAT_KEYS))
    return table


def stats_legend(n_keys: int, measure: str = "weights") -> Table:
    """Under the statistics table: what each statistic measures, its range and unit."""
    legend = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
    legend.add_column(no_wrap=True, style="bold")
    legend.add_column(style="dim")
    for key, text in stat_legend(n_keys, measure):
        legend.add_row(key, text)
    legend.add_row("", "each is a mean over the query rows; n/a: not defined for this map")
    return legend


def _stat(value: float | None) -> str:
    """'n/a' for a statistic the map has no meaning for (None)."""
    return "n/a" if value is None else f"{value:.3f}"


def share_bars(values: np.ndarray, labels: Sequence[str], title: str, top: int | None = None) -> Table:
    """Each label's share as a bar, largest first."""
    order = np.argsort(-values, kind="stable")[: top or len(values)]
    table = Table(title=Text(title), title_justify="left", show_header=False, box=None, padding=(0, 1))
    table.add_column(justify="right", no_wrap=True)
    table.add_column(justify="right")
    table.add_column(no_wrap=True)
    peak = float(values.max()) or 1.0
    for i in order:
        table.add_row(Text(fit(safe_label(labels[i]), 16)), f"{values[i]:.3f}", bar(values[i] / peak, 30))
    return table


def _vector(v: np.ndarray, keep: int = 6) -> str:
    """A long vector abbreviated: its first and last numbers and its length."""
    shown = [f"{x:+.2f}" for x in v[:keep]]
    if len(v) > keep + 2:
        return "[" + " ".join(shown[:4]) + " … " + " ".join(f"{x:+.2f}" for x in v[-2:]) + f"]  ({len(v)} values)"
    return "[" + " ".join(f"{x:+.2f}" for x in v) + "]"


def explain_report(e: Explanation, width: int = 100) -> RenderableType:
    """The computation of one head for one query token, as numbered steps (`width`: the score
    matrix shows a window of keys around the query when it is wider)."""
    tok = [fit(safe_label(t), 14) for t in e.tokens]
    me = tok[e.query]
    n_tok = len(e.tokens)
    steps: list[RenderableType] = [
        Text("Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k) · V", style="bold"),
        Text(
            f"Here: the text's {n_tok} tokens × {e.d_model} (d_model) are projected and split into "
            f"{e.n_heads} heads × {n_tok} tokens × {e.d_k} (d_k); this is head {e.head} of layer {e.layer}, "
            f"followed for the token {me!r} (position {e.query})."
        ),
    ]

    def step(n: int, title: str, body: str | None = None) -> None:
        steps.append(Text(f"\n{n}. {title}", style="bold"))
        if body:
            steps.append(Text(body))

    step(
        1,
        "queries, keys and values",
        f"{safe_label(e.model)}, layer {e.layer}, head {e.head} of {e.n_heads}. Each token's {e.d_model}-dim state is "
        f"projected to Q, K, V and split into {e.n_heads} heads of d_k = {e.d_k}: Q, K, V are "
        f"({len(e.tokens)} tokens × {e.d_k}).\n"
        f"q[{me}] = {_vector(e.q[e.query])}\n"
        f"k[{me}] = {_vector(e.k[e.query])}\n"
        f"v[{me}] = {_vector(e.v[e.query])}",
    )
    if e.score_matrix is not None:
        step(2, f"scores = Q·Kᵀ: every query against every key ({n_tok} × {n_tok}); the {me} row is followed")
        steps.append(_score_matrix(e, tok, width))
    j = e.worked
    terms = e.terms
    shown = " + ".join(f"({e.q[e.query][i]:+.2f})({e.k[j][i]:+.2f})" for i in range(min(3, len(terms))))
    more = f" + … ({len(terms) - 3} more terms)" if len(terms) > 3 else ""
    steps.append(
        Text(
            f"\nOne of them term by term, q[{me}] · k[{tok[j]}] (the key it weighs most):\n"
            f"  = {shown}{more}\n"
            f"  = {_sum(terms[:3])}{' + …' if more else ''} = {e.scores[j]:.3f}"
        )
    )
    steps.append(Text(f"\nThe {me} row, key by key:"))
    steps.append(_row_table(tok, [("score", e.scores)]))
    step(
        3,
        f"scale by √d_k = √{e.d_k} = {e.sqrt_d_k:.3f}",
        f"Dot products of {e.d_k}-dim vectors grow like √d_k; dividing keeps softmax out of its flat, "
        "saturated regions, where one key takes everything and gradients vanish.",
    )
    steps.append(_row_table(tok, [("score", e.scores), ("scaled", e.scaled)]))
    n = 4
    final = e.scaled
    if e.capped is not None:
        step(
            n,
            f"soft-cap: tanh(s / {e.softcap:g}) · {e.softcap:g}",
            f"This model squashes every scaled score into (−{e.softcap:g}, {e.softcap:g}) before the mask, "
            "so no single key can take all the weight.",
        )
        steps.append(_row_table(tok, [("scaled", e.scaled), ("capped", e.capped)]))
        final = e.capped
        n += 1
    if e.mask is not None:
        hidden = int((~e.mask).sum())
        if e.window:
            step(
                n,
                f"sliding-window causal mask ({e.window} keys)",
                f"This layer's token sees only itself and the {e.window - 1} tokens before it: the {hidden} other "
                "key(s) get −∞, so softmax gives them exactly 0.",
            )
        elif hidden == 0:
            step(
                n,
                "causal mask",
                f"A decoder's token sees only itself and earlier tokens; {me} is the last token, so there are no "
                "later keys to hide: nothing gets −∞ here.",
            )
        else:
            step(
                n,
                "causal mask",
                f"A decoder's token sees only itself and earlier tokens: the {hidden} later key(s) get −∞, so "
                "softmax gives them exactly 0.",
            )
        n += 1
    step(
        n,
        "softmax → attention weights",
        "w_j = exp(s_j − max s) / Σ exp(s − max s); the weights sum to 1.",
    )
    masked = final if e.mask is None else np.where(e.mask, final, -np.inf)
    steps.append(
        _row_table(tok, [("masked" if e.mask is not None else "scaled", masked), ("weight", e.weights)], bars=e.weights)
    )
    step(
        n + 1,
        "weighted sum of values → this head's output",
        f"out[{me}] = Σ_j w_j · v[j] = {_vector(e.output)}\n"
        f"The {e.n_heads} heads' outputs ({e.d_k} each) are concatenated into {e.merged_shape[1]} per token "
        f"({e.merged_shape[0]} × {e.merged_shape[1]}), then projected by W_O back into the model's stream.",
    )
    return Group(*steps)


def _sum(values: np.ndarray) -> str:
    """0.145 + 0.041 − 0.123: a sum written with its signs."""
    text = f"{values[0]:.3f}"
    for v in values[1:]:
        text += f" {'−' if v < 0 else '+'} {abs(v):.3f}"
    return text


def _score_matrix(e: Explanation, tok: Sequence[str], width: int) -> Table:
    """Q·Kᵀ as numbers: every query row (a window of rows and of key columns around the
    followed query when the matrix does not fit); the followed row is marked and bold."""
    assert e.score_matrix is not None
    n = len(tok)
    label = min(14, max(len(t) for t in tok)) + 2
    cols = max(1, min(n, (width - label) // 7))
    rows = min(n, 24)
    lo, hi = min(e.query, e.worked), max(e.query, e.worked)  # the query's own column and its top key, if both fit
    centre = (lo + hi) // 2 if hi - lo < cols else e.query
    c0 = 0 if cols == n else min(max(0, centre - cols // 2), n - cols)
    r0 = 0 if rows == n else min(max(0, e.query - rows // 2), n - rows)
    table = Table(box=None, padding=(0, 0, 0, 1), show_edge=False)
    table.add_column("", no_wrap=True)
    for j in range(c0, c0 + cols):
        table.add_column(Text(fit(tok[j], 6)), justify="right", no_wrap=True, width=6)
    for i in range(r0, r0 + rows):
        mark = "▶" if i == e.query else " "
        cells = [f"{e.score_matrix[i, j]:.1f}" for j in range(c0, c0 + cols)]
        table.add_row(Text(f"{tok[i]} {mark}"), *cells, style="bold" if i == e.query else None)
    if cols < n or rows < n:
        table.caption = Text(
            f"keys {c0}-{c0 + cols - 1} and queries {r0}-{r0 + rows - 1} of {n}, around the followed query",
            style="dim",
        )
        table.caption_justify = "left"
    return table


def _row_table(tokens: Sequence[str], columns: list[tuple[str, np.ndarray]], bars: np.ndarray | None = None) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("key j", no_wrap=True)
    for name, _ in columns:
        table.add_column(name, justify="right", no_wrap=True)
    if bars is not None:
        table.add_column("", no_wrap=True)
    for j, token in enumerate(tokens):
        cells = [f"{values[j]:.3f}" if np.isfinite(values[j]) else "−∞" for _, values in columns]
        extra = [bar(float(bars[j]), 16)] if bars is not None else []
        table.add_row(Text(token), *cells, *extra)
    return table
