"""Whole-model terminal views: every head as a thumbnail, and one query's top keys per head."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.render import colormaps
from attnviz.render.canvas import (
    GAP,
    Drawing,
    Line,
    Painter,
    Scale,
    bar,
    hstack,
    is_eight_bit,
    legend,
    note_lines,
    number,
    one_line,
)
from attnviz.render.labels import fit, head_name, kv_legend, pad, plural, positions_of, safe_label, stack_title
from attnviz.render.mosaic import resample, top_keys

ZOOM_HINT = "zoom in: attnviz show TEXT --layer L --head H"
_TOKEN_LINES = 3  # the overview's token list: at most this many lines, elided in the middle
_TOKEN_LABEL = 12  # widest token label in that list, in cells
_THUMB_MAX = 16  # largest thumbnail side, in pixels
_THUMB_MIN = 4  # smaller than this, heads wrap onto more sections instead


def _thumb_lines(pixels: np.ndarray, painter: Painter, top: float | None = None) -> list[Text]:
    """A thumbnail: two pixel rows per line with '▀' (monochrome: the pair's mean as a shade),
    coloured from 0 to `top` (default: its own max)."""
    if top is None:
        top = float(np.nanmax(pixels)) if pixels.size else 0.0
    t = pixels / top if top > 0 else np.zeros_like(pixels)
    lines = []
    for r in range(0, t.shape[0], 2):
        line = Text()
        lower = t[r + 1] if r + 1 < t.shape[0] else None
        for c in range(t.shape[1]):
            if painter.mono:
                pair = t[r, c] if lower is None else (t[r, c] + lower[c]) / 2
                line.append(painter.shade(float(pair), 1))
            else:
                line.append(*painter.half(float(t[r, c]), None if lower is None else lower[c]))
        lines.append(line)
    return lines


def token_list(tokens: Sequence[str], width: int, positions: Sequence[int]) -> list[Text]:
    """Each token with its position ('0 [CLS]  1 the  2 cat …') in at most three lines of
    `width`; a long text keeps its start and end and says how many tokens sit between."""
    entries = [f"{p} {fit(safe_label(t), _TOKEN_LABEL)}" for p, t in zip(positions, tokens, strict=True)]

    def pack(items: list[str]) -> list[str]:
        rows: list[str] = []
        for item in items:
            if rows and cell_len(rows[-1]) + 2 + cell_len(item) <= width:
                rows[-1] += "  " + item
            else:
                rows.append(fit(item, width))
        return rows

    rows = pack(entries)
    keep = len(entries) // 2
    while len(rows) > _TOKEN_LINES and keep > 0:
        keep -= 1
        hidden = len(entries) - 2 * keep
        rows = pack([*entries[:keep], f"… {hidden} tokens …", *entries[len(entries) - keep :]])
    return [Text(row, style="dim") for row in rows[:_TOKEN_LINES]]


def _square(matrix: np.ndarray, side: int) -> np.ndarray:
    """A side×side thumbnail: area means down to the side, and a shorter axis (the target of a
    cross-attention map) stretched to it by repeating rows or columns."""
    rows, cols = min(side, matrix.shape[0]), min(side, matrix.shape[1])
    small = resample(matrix, rows, cols)
    return small[(np.arange(side) * rows) // side][:, (np.arange(side) * cols) // side]


class Overview(Drawing):
    """Every layer × head as a small thumbnail: layers down, heads across (a model view)."""

    def __init__(
        self,
        attn: Attention,
        *,
        cmap: str = colormaps.DEFAULT,
        hint: Line | None = None,
        notes: Sequence[str] | None = None,
        scale: str = "head",
    ) -> None:
        if scale not in ("head", "global"):
            raise UsageError(f"invalid scale '{scale}'", hint="use head or global")
        self.attn = attn
        self.scale = scale
        self.cmap = colormaps.lookup(cmap)
        self.hint = ZOOM_HINT if hint is None else hint
        self.notes = tuple(attn.notes if notes is None else notes)

    def _size(self, width: int) -> tuple[int, int, int]:
        """(thumbnail side, heads per section, label width) that fit `width`."""
        n, heads = max(self.attn.n_queries, self.attn.n_keys), len(self.attn.heads)
        lead = max((len(f"L{layer}") for layer in self.attn.layers), default=2) + 1
        per = max(1, heads)
        side = min(n, _THUMB_MAX, (width - lead) // per - 1)
        if side < min(n, _THUMB_MIN):
            per = max(1, (width - lead) // (min(n, _THUMB_MIN) + 1))
            side = min(n, _THUMB_MAX, (width - lead) // per - 1)
        return max(1, side), per, lead

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        attn = self.attn
        painter = Painter(self.cmap, mono, eight_bit=is_eight_bit(console))
        n = max(attn.n_queries, attn.n_keys)
        layers, heads = plural(len(attn.layers), "layer"), plural(len(attn.heads), "head")
        sizes = plural(n, "token") if attn.is_self else f"{attn.n_queries} target × {attn.n_keys} source tokens"
        stack = f"{stack_title(attn)}: " if stack_title(attn) else ""
        shape = f"{stack}{layers} × {heads}, {sizes}"
        short = f"{stack}{len(attn.layers)}×{heads}, {sizes}"
        name = fit(safe_label(attn.model), max(1, width - cell_len(short) - 2)) if attn.model else ""
        title = Text(name + "  " if name else "", style="bold")
        title.append_text(one_line((shape, short), width - title.cell_len))
        lines = [title]
        if n == 0 or not attn.layers or not attn.heads:
            return lines
        lines += token_list(attn.tokens, width, attn.positions)
        side, per, lead = self._size(width)
        thumbs_of = {
            (li, h): _square(attn.weights[li, h], side)
            for li in range(len(attn.layers))
            for h in range(len(attn.heads))
        }
        top = max(float(np.nanmax(t)) for t in thumbs_of.values()) if self.scale == "global" else None
        self.side = side
        self.places: dict[tuple[int, int], tuple[int, int]] = {}  # (layer, head) index -> (line, column)
        for start in range(0, len(attn.heads), per):
            section = range(start, min(start + per, len(attn.heads)))
            lines += [Text(" " * lead) + line for line in _head_names(attn, [attn.heads[h] for h in section], side)]
            for li, layer in enumerate(attn.layers):
                thumbs = [_thumb_lines(thumbs_of[li, h], painter, top) for h in section]
                label = [Text(pad(f"L{layer}", lead - 1))]
                gaps = [0] + [1] * len(thumbs)
                self.places.update({(li, h): (len(lines), lead + i * (side + 1)) for i, h in enumerate(section)})
                lines += hstack([label, *thumbs], [lead - 1] + [side] * len(thumbs), gaps)
                lines.append(Text())  # keeps one layer's thumbnails off the next one's
        extra: list[Line] = []
        if (kv := kv_legend(attn)) is not None:
            extra.append(kv)
        if side < n:
            ratio = f"{n / side:.1f}".removesuffix(".0")
            pooled = f"1 pixel ≈ {ratio}×{ratio} tokens"
            extra.append((f"thumbnails pooled: {pooled}", f"pooled: {pooled}"))
        if mono:
            extra.append(("monochrome: one character = 1 key × 2 query pixels", "1 character = 1 key × 2 query pixels"))
        extra.append(self.hint)
        if top is None:
            scale = Scale(0.0, 1.0, "per head: each thumbnail from 0 to its own max")
            return lines + legend(console, width, painter, scale, high="max", lines=extra, notes=self.notes)
        scale = Scale(0.0, top, "global: one scale for every thumbnail")
        return lines + legend(console, width, painter, scale, lines=extra, notes=self.notes)


def _head_names(attn: Attention, heads: Sequence[int], side: int) -> list[Text]:
    """The line(s) naming the thumbnail columns, each name in `side` cells: 'H5·kv1' when it
    fits; else 'H5' (or '5') under a line that spans each key/value group ('kv1 ─────')."""
    groups = [attn.kv_head(h) for h in heads]
    with_kv = [head_name(h, g) for h, g in zip(heads, groups, strict=True)]
    if max(map(cell_len, with_kv)) <= side:
        return [Text(" ".join(pad(name, side) for name in with_kv))]
    names = [f"H{h}" for h in heads]
    if max(map(cell_len, names)) > side:
        names = [str(h) for h in heads]
    lines = [Text(" ".join(pad(name, side) for name in names))]
    if groups and groups[0] is not None:
        spans: list[tuple[int | None, int]] = []  # (group, heads in a row)
        for g in groups:
            spans = [*spans[:-1], (g, spans[-1][1] + 1)] if spans and spans[-1][0] == g else [*spans, (g, 1)]
        cells = [(f"kv{g} ", count * (side + 1) - 1) for g, count in spans]
        lines.insert(0, Text(" ".join(pad(label.ljust(span, "─"), span) for label, span in cells)))
    return lines


class QueryBars(Drawing):
    """For one query token, each head's top keys as ranked horizontal bars (a hover view)."""

    def __init__(
        self,
        attn: Attention,
        query: int,
        *,
        top: int = 5,
        cmap: str = colormaps.DEFAULT,
        notes: Sequence[str] | None = None,
        offset: int | Sequence[int] | None = None,
    ) -> None:
        if not 0 <= query < attn.n_tokens:
            raise UsageError(f"query {query} is out of range", hint=f"tokens are 0-{attn.n_tokens - 1}")
        if top < 1:
            raise UsageError(f"top must be at least 1, not {top}")
        self.attn = attn
        self.query = query
        self.top = min(top, attn.n_keys)
        self.cmap = colormaps.lookup(cmap)
        self.notes = tuple(attn.notes if notes is None else notes)
        self.positions = positions_of(attn.positions if offset is None else offset, attn.n_tokens)

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        attn, q = self.attn, self.query
        painter = Painter(self.cmap, mono, eight_bit=is_eight_bit(console))
        weights = attn.weights[:, :, q, :]  # (layers, heads, key)
        full = max(1.0, float(np.nanmax(weights))) if weights.size else 1.0
        title = Text(f'query {self.positions[q]} "', style="bold")
        title.append(safe_label(attn.tokens[q]), style="bold")
        title.append('"', style="bold")
        title.append(f": top {plural(self.top, 'key')} of each head (full bar = {full:g})")
        lines = [title] if title.cell_len <= width else [one_line(title.plain, width, "bold")]

        labels = [safe_label(t) for t in attn.key_tokens]
        key_positions = self.positions if attn.is_self else positions_of(attn.key_offset, attn.n_keys)
        digits = len(str(max(*self.positions, *key_positions)))
        longest = max(map(cell_len, labels))
        key_width = min(digits + 1 + longest, max(digits + 2, 16))
        heads = [(li, hi) for li in range(len(attn.layers)) for hi in range(len(attn.heads))]
        smallest = key_width + 11  # key, a 6-cell bar, a value
        cols = max(1, min(len(heads), (width + GAP) // (smallest + GAP)))
        block = (width - GAP * (cols - 1)) // cols
        key_width = max(1, min(key_width, block - 6))
        bar_width = max(1, min(24, block - key_width - 5))

        blocks = []
        for li, hi in heads:
            row = weights[li, hi]
            order = top_keys(row, self.top)
            head = attn.heads[hi]
            name = f"L{attn.layers[li]} {head_name(head, attn.kv_head(head))}"
            block_lines = [Text(fit(name, key_width + bar_width + 5), style="bold")]
            for j in order:
                value = float(row[j])
                key = pad(f"{key_positions[j]:>{digits}} {labels[j]}", key_width)
                line = Text(key + " ")
                line.append(bar(value / full, bar_width), style=painter.fg(0.15 + 0.85 * value / full))
                line.append(" " + (number(value, 3) or "").rjust(3))
                block_lines.append(line)
            blocks.append(block_lines)
        used = key_width + bar_width + 5
        for start in range(0, len(blocks), cols):
            group = blocks[start : start + cols]
            lines += hstack(group, [used] * len(group), [0] + [GAP] * (len(group) - 1))
            lines.append(Text())
        if (kv := kv_legend(attn)) is not None:
            lines.append(one_line(kv, width, "dim"))
        return lines + note_lines(self.notes, width)
