"""Terminal heatmaps: one head, a grid of heads, and panels compared side by side.

Every class here is a rich renderable that lays itself out for the width it is given and
draws onto whatever Console prints it. Token text is shown through `safe_label` only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from attnviz.analysis.compare import Panel
from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.render import colormaps
from attnviz.render.canvas import (
    GAP,
    Drawing,
    Line,
    Painter,
    Scale,
    hstack,
    is_eight_bit,
    legend,
    number,
    scale_text,
)
from attnviz.render.labels import clusters, fit, head_name, kv_legend, pad, positions_of, safe_label
from attnviz.render.mosaic import pool_blocks
from attnviz.render.overview import Overview, QueryBars

__all__ = [
    "Comparison",
    "HeadGrid",
    "Heatmap",
    "Overview",
    "Panel",
    "QueryBars",
    "safe_label",
]

_HEADER_LINES = 8  # tallest vertical column label
MARK_ROW = "▶"  # ends the label of a row a panel marks


def _short(value: float) -> str:
    return (number(value, 4) or scale_text(value)).strip()


def _checked(panel: Panel) -> Panel:
    """`Panel.checked()` with every label made safe to print."""
    panel = panel.checked()
    return Panel(
        safe_label(panel.title) if panel.title else "",
        panel.matrix,
        [safe_label(t) for t in panel.row_labels],
        [safe_label(t) for t in panel.col_labels],
        panel.mark,
    )


@dataclass(frozen=True)
class _Plan:
    cell: int  # cell width in columns
    k: int  # pooling: one cell stands for k×k tokens
    label_width: int
    rows: list[list[int]]  # panel indices of each grid row
    values: bool  # numbers drawn in the cells
    shared: bool  # one label column for each grid row
    positions: tuple[int, ...] = ()  # each token's position in the full text
    numbered: bool = False  # rows and columns labelled with positions (pooled or zoomed views)


def _pack(widths: list[int], lead: int, width: int) -> list[list[int]] | None:
    """Greedy rows of panels that fit `width`; None when one panel alone does not fit."""
    rows: list[list[int]] = []
    used = 0
    for i, w in enumerate(widths):
        if lead + w > width:
            return None
        if rows and used + GAP + w <= width:
            rows[-1].append(i)
            used += GAP + w
        else:
            rows.append([i])
            used = lead + w
    return rows


def _plan(panels: list[Panel], width: int, values: bool, offset: int | Sequence[int], signed: bool = False) -> _Plan:
    """Choose cell width, pooling and wrapping so that every line fits `width`."""
    shared = all(p.row_labels == panels[0].row_labels for p in panels)
    longest = max((cell_len(t) for p in panels for t in p.row_labels), default=1)
    cap = max(4, min(16, width // 5))
    n = max(max(len(p.col_labels), len(p.row_labels)) for p in panels)
    positions = positions_of(offset, n)
    digits = len(str(max(positions)))
    # a zoomed view (positions other than 0, 1, 2, …) says where its tokens sit in the text
    numbered = positions != tuple(range(n))

    def pack(cell: int, k: int, label_width: int) -> list[list[int]] | None:
        own = 0 if shared else label_width + 1
        widths = [-(-len(p.col_labels) // k) * cell + own for p in panels]
        return _pack(widths, label_width + 1 if shared else 0, width)

    label_width = max(min(digits + 1 + longest, cap), digits + 2) if numbered else min(longest, cap)
    # a number needs 3 cells (".64", 4 for "-.03") plus 1 blank so that neighbours never run together
    value_cell = 5 if signed else 4
    options = {cell: pack(cell, 1, label_width) for cell in ((value_cell,) if values else (3, 2))}
    fitting = {cell: rows for cell, rows in options.items() if rows is not None}
    if fitting:
        fewest = min(len(rows) for rows in fitting.values())
        cell = max(c for c, rows in fitting.items() if len(rows) == fewest)
        return _Plan(cell, 1, label_width, fitting[cell], values, shared, positions, numbered)
    for cell in (3, 2) if values else ():
        if (rows := pack(cell, 1, label_width)) is not None:
            return _Plan(cell, 1, label_width, rows, False, shared, positions, numbered)

    # Too many tokens: mean-pool k×k blocks; rows are labelled "position token".
    columns = max(len(p.col_labels) for p in panels)
    label_width = max(min(digits + 1 + longest, cap), digits + 2)
    cell = value_cell if values else 2
    lead = label_width + 1
    k = max(2, math.ceil(columns / max(1, (width - lead) // cell)))
    rows = pack(cell, k, label_width) or [[i] for i in range(len(panels))]
    return _Plan(cell, k, label_width, rows, values, shared, positions, True)


def _row_labels(labels: Sequence[str], plan: _Plan) -> list[str]:
    if not plan.numbered:
        return [pad(t, plan.label_width, "right") for t in labels]
    digits = len(str(max(plan.positions)))
    width = plan.label_width - digits - 1
    starts = range(0, len(labels), plan.k)
    return [f"{plan.positions[i]:>{digits}} " + pad(labels[i], width, "right") for i in starts]


def _ruler(count: int, plan: _Plan) -> Text:
    """Positions over the columns, each where its column starts, as many as fit apart."""
    cells = -(-count // plan.k)
    ruler = ""
    for j in range(cells):
        mark = str(plan.positions[j * plan.k])
        start = j * plan.cell + max(0, (plan.cell - len(mark)) // 2)  # centred like the labels below
        if (not ruler or start > len(ruler)) and start + len(mark) <= cells * plan.cell:  # one blank apart
            ruler = ruler.ljust(start) + mark
    return Text(ruler)


def _column_header(labels: Sequence[str], plan: _Plan, height: int) -> list[Text]:
    """Vertical labels, one character per line, under a ruler of positions when the view is
    numbered; the ruler alone when pooled."""
    if plan.k > 1:
        return [_ruler(len(labels), plan)]
    ruler = [_ruler(len(labels), plan)] if plan.numbered else []
    height -= len(ruler)
    stacks = []
    for label in labels:
        pieces = clusters(label)
        stacks.append(pieces if len(pieces) <= height else [*pieces[: height - 1], "…"])
    return ruler + [
        Text("".join(pad(s[r] if r < len(s) else "", plan.cell, "center") for s in stacks)) for r in range(height)
    ]


def _panel_block(panel: Panel, scale: Scale, painter: Painter, plan: _Plan, header: int, room: int) -> list[Text]:
    """Title (in `room` cells), column labels and cells of one panel, with its own row labels
    when they are not shared."""
    data = pool_blocks(panel.matrix, plan.k) if plan.k > 1 else panel.matrix
    norm = scale.norm(data)
    indent = "" if plan.shared else " " * (plan.label_width + 1)
    lines = [Text(indent) + Text(fit(panel.title, room - len(indent)), style="bold")]
    columns = _column_header(panel.col_labels, plan, header)
    lines += [Text(indent) + line for line in columns]
    lines += [Text(indent)] * (header - len(columns))
    labels = _marked_labels(panel, plan)
    rows, cols = ({i // plan.k for i in m} for m in panel.mark)
    for i in range(data.shape[0]):
        line = Text("" if plan.shared else labels[i] + " ")
        for j in range(data.shape[1]):
            text, style = painter.cell(data[i, j], norm[i, j], plan.cell, plan.values)
            if i in rows and j in cols:
                text, style = painter.marked(norm[i, j], plan.cell)
            line.append(text, style)
        lines.append(line)
    return lines


def _marked_labels(panel: Panel, plan: _Plan) -> list[str]:
    """Row labels; a row the panel marks ends in MARK_ROW."""
    labels = _row_labels(panel.row_labels, plan)
    for i in {i // plan.k for i in panel.mark[0]}:
        labels[i] = pad(fit(labels[i].strip(), plan.label_width - 1) + MARK_ROW, plan.label_width, "right")
    return labels


class _Matrices(Drawing):
    """What Heatmap, HeadGrid and Comparison share: panels wrapped to the width, one legend."""

    panels: list[Panel]
    scales: list[Scale]  # one per panel
    legend_scale: Scale
    legend_high: str | None = None  # the legend's top end, when not legend_scale.vmax
    cmap: colormaps.Colormap
    values: bool
    offset: int | Sequence[int]  # the first token's position in the full text, or every token's
    notes: tuple[str, ...]
    kv_line: Line | None = None  # what '·kvG' in the titles means, for grouped heads
    empty = "nothing to draw"

    def _extra(self, mono: bool) -> list[Line]:
        return []

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        panels = self.panels
        if not panels:
            return [Text(self.empty, style="dim")]
        plan = _plan(panels, width, self.values, self.offset, self.legend_scale.diverging)
        painter = Painter(self.cmap, mono, self.legend_scale.diverging, is_eight_bit(console))
        tallest = max((len(clusters(t)) for p in panels for t in p.col_labels), default=1)
        header = 1 if plan.k > 1 else min(_HEADER_LINES if len(panels) == 1 else 6, tallest) + plan.numbered
        lines: list[Text] = []
        for members in plan.rows:
            widths = [-(-len(panels[i].col_labels) // plan.k) * plan.cell for i in members]
            if not plan.shared:
                widths = [w + plan.label_width + 1 for w in widths]
            lead = plan.label_width + 1 if plan.shared else 0
            rooms = [*widths[:-1], width - lead - sum(widths[:-1]) - GAP * (len(widths) - 1)]
            blocks = [
                _panel_block(panels[i], self.scales[i], painter, plan, header, room)
                for i, room in zip(members, rooms, strict=True)
            ]
            gaps = [0] + [GAP] * (len(blocks) - 1)
            if plan.shared:
                labels = _marked_labels(panels[members[0]], plan)
                blocks.insert(0, [Text()] * (1 + header) + [Text(t) for t in labels])
                widths.insert(0, plan.label_width)
                gaps = [0, 1, *gaps[1:]]
            if members[0] == 0:  # where the first panel's cells are, for views that mark one
                self.grid = (len(lines) + 1 + header, plan.label_width + 1, plan.cell, plan.k)  # top, left, cell, pool
            lines += hstack(blocks, widths, gaps)
            lines.append(Text())
        extra = self._extra(mono)
        if self.kv_line is not None:
            extra.append(self.kv_line)
        if plan.k > 1:
            extra.append(
                f"1 cell = {plan.k}×{plan.k} tokens (block mean); "
                "rows are labelled with the position and token that start each block"
            )
        if self.values and not plan.values:
            extra.append("values hidden: the cells are too narrow at this width")
        return lines + legend(
            console,
            width,
            painter,
            self.legend_scale,
            high=self.legend_high,
            lines=extra,
            notes=self.notes,
        )


class Heatmap(_Matrices):
    """One (query, key) matrix full size: labelled rows and columns, colour legend, title.

    `Heatmap(attn)` draws the one head an `Attention` holds (`layer=`/`head=` pick one of
    several, by the model's indices); `Heatmap(matrix, row_labels, col_labels)` draws any matrix.
    """

    def __init__(
        self,
        matrix: np.ndarray | Attention,
        row_labels: Sequence[str] | None = None,
        col_labels: Sequence[str] | None = None,
        *,
        layer: int | None = None,
        head: int | None = None,
        title: str | None = None,
        cmap: str = colormaps.DEFAULT,
        values: bool = False,
        vmin: float | None = None,
        vmax: float | None = None,
        scale_label: str = "per head",
        notes: Sequence[str] | None = None,
        offset: int | Sequence[int] | None = None,
    ) -> None:
        if isinstance(matrix, Attention):
            attn = matrix
            layer = _only(attn.layers, "layer") if layer is None else layer
            head = _only(attn.heads, "head") if head is None else head
            matrix = attn.head(layer, head)
            row_labels = attn.tokens if row_labels is None else row_labels
            col_labels = attn.key_tokens if col_labels is None else col_labels
            if title is None:
                title = f"L{layer} {head_name(head, attn.kv_head(head))}"
                self.kv_line = kv_legend(attn, head)
            notes = attn.notes if notes is None else notes
            offset = attn.positions if offset is None else offset
        elif row_labels is None or col_labels is None:
            raise TypeError("Heatmap(matrix, row_labels, col_labels): a bare matrix needs its labels")
        self.panels = [_checked(Panel(title or "", matrix, row_labels, col_labels))]
        self.cmap = colormaps.lookup(cmap)
        fitted = Scale.fit([self.panels[0].matrix], scale_label)
        self.legend_scale = Scale(
            fitted.vmin if vmin is None else float(vmin),
            fitted.vmax if vmax is None else float(vmax),
            scale_label,
        )
        self.scales = [self.legend_scale]
        self.values = values
        self.notes = tuple(notes or ())
        self.offset = 0 if offset is None else offset

    @classmethod
    def from_attention(cls, attn: Attention, layer: int, head: int, **options: Any) -> Heatmap:
        """The heatmap of the model's `layer`, `head`, titled `L{layer} H{head}`."""
        return cls(attn, layer=layer, head=head, **options)


def _only(held: tuple[int, ...], what: str) -> int:
    """The one layer (or head) an extraction holds; with several, the caller must choose."""
    if len(held) != 1:
        from attnviz.attention import format_indices

        raise UsageError(
            f"this extraction holds {what}s {format_indices(held)}: choose one with {what}=",
            hint="HeadGrid draws them all",
        )
    return held[0]


class HeadGrid(_Matrices):
    """Every head an Attention holds as full heatmaps, wrapped into rows of panels."""

    empty = "no heads selected"

    def __init__(
        self,
        attn: Attention,
        *,
        cmap: str = colormaps.DEFAULT,
        values: bool = False,
        scale: str = "head",
        notes: Sequence[str] | None = None,
        offset: int | Sequence[int] | None = None,
    ) -> None:
        if scale not in ("head", "global"):
            raise UsageError(f"unknown scale '{safe_label(scale)}'", hint="use 'head' or 'global'")
        self.cmap = colormaps.lookup(cmap)
        self.values = values
        self.offset = attn.positions if offset is None else offset
        self.notes = tuple(attn.notes if notes is None else notes)
        self.kv_line = kv_legend(attn)
        heads = [
            (f"L{layer} {head_name(head, attn.kv_head(head))}", attn.weights[li, hi])
            for li, layer in enumerate(attn.layers)
            for hi, head in enumerate(attn.heads)
        ]
        if scale == "global":
            self.legend_scale = Scale.fit([m for _, m in heads], "global (all heads share it)")
            self.scales = [self.legend_scale] * len(heads)
            self.panels = [_checked(Panel(t, m, attn.tokens, attn.key_tokens)) for t, m in heads]
        else:
            self.scales = [Scale.fit([m], "per head") for _, m in heads]
            self.panels = [
                _checked(Panel(f"{t} max {_short(s.vmax)}", m, attn.tokens, attn.key_tokens))
                for (t, m), s in zip(heads, self.scales, strict=True)
            ]
            low = min((s.vmin for s in self.scales), default=0.0)
            self.legend_scale = Scale(low, 1.0, "per head: each panel up to the max in its title")
            self.legend_high = "max"


class Comparison(_Matrices):
    """Panels on one shared scale, side by side when they fit, else stacked.

    With `diverging=True` the scale is symmetric about 0 and the default colormap is
    RdBu_r (blue below 0, red above): the form for difference maps.
    """

    empty = "nothing to compare"

    def __init__(
        self,
        panels: Sequence[Panel | tuple[str, np.ndarray, Sequence[str], Sequence[str]]],
        *,
        cmap: str | None = None,
        diverging: bool = False,
        values: bool = False,
        notes: Sequence[str] = (),
        offset: int | Sequence[int] = 0,
    ) -> None:
        self.panels = [_checked(Panel(*p)) for p in panels]
        default = colormaps.DIVERGING_DEFAULT if diverging else colormaps.DEFAULT
        self.cmap = colormaps.lookup(cmap or default)
        label = "diverging, centred on 0, symmetric" if diverging else "shared by all panels"
        self.legend_scale = Scale.fit([p.matrix for p in self.panels], label, diverging)
        self.scales = [self.legend_scale] * len(self.panels)
        self.values = values
        self.notes = tuple(notes)
        self.offset = offset

    def _extra(self, mono: bool) -> list[Line]:
        if mono and self.legend_scale.diverging:
            return ["monochrome: a cell leads with the sign of its value"]
        return []
