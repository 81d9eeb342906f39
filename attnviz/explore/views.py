"""What the explorer draws: the project's own terminal views with a cursor laid over them.

Plain rich renderables (no Textual here). Each wraps a renderer from `attnviz.render`, lays it
out once per width and only redraws the cursor when the selection moves, so a key press on a
512-token head costs a few copied lines, not a new layout. Each also answers which head or
token sits under a mouse position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len
from rich.color import Color
from rich.console import Console
from rich.style import Style
from rich.text import Text

from attnviz.render import colormaps
from attnviz.render.canvas import Drawing, ink, is_eight_bit, one_line
from attnviz.render.overview import Overview
from attnviz.render.terminal import Heatmap

CURSOR = Style(bold=True, reverse=True)
FRAME = Style(bold=True)


def _column_index(text: str, column: int) -> int:
    """The index in `text` of the character drawn at cell `column` (wide characters take two)."""
    cells = 0
    for i, ch in enumerate(text):
        if cells >= column:
            return i
        cells += cell_len(ch)
    return len(text) + (column - cells)


def mark(line: Text, column: int, width: int, *, text: str | None = None, style: Style = CURSOR) -> Text:
    """A copy of `line` whose cells [column, column + width) are restyled (or replaced by `text`)."""
    line = line.copy()
    if line.cell_len < column + width:
        line.pad_right(column + width - line.cell_len)
    start = _column_index(line.plain, column)
    end = _column_index(line.plain, column + width)
    if text is None:
        line.stylize(style, start, end)
        return line
    out = line[:start]
    out.append(text, style)
    out.append_text(line[end:])
    return out


class _Laid(Drawing):
    """A drawing laid out once per (width, mono), with the geometry it reported."""

    def __init__(self, base: Drawing) -> None:
        self.base = base
        self._cache: dict[tuple[int, bool], tuple[list[Text], object]] = {}

    def _geometry(self) -> object:
        raise NotImplementedError

    def laid(self, console: Console, width: int, mono: bool) -> tuple[list[Text], object]:
        key = (width, mono)
        if key not in self._cache:
            self._cache[key] = (self.base._lines(console, width, mono), self._geometry())
        return self._cache[key]


@dataclass(frozen=True)
class _Thumbs:
    places: dict[tuple[int, int], tuple[int, int]]  # (layer, head) index -> (line, column)
    side: int


class OverviewView(_Laid):
    """Every layer × head as thumbnails (render.overview.Overview), the selected one framed."""

    base: Overview

    def __init__(self, overview: Overview) -> None:
        super().__init__(overview)
        self.cursor = (0, 0)  # (layer index, head index)

    def _geometry(self) -> _Thumbs:
        return _Thumbs(dict(self.base.places), self.base.side)

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        lines, geo = self.laid(console, width, mono)
        assert isinstance(geo, _Thumbs)
        out = list(lines)
        if self.cursor not in geo.places:
            return out
        line, column = geo.places[self.cursor]
        rows = (geo.side + 1) // 2
        for y in range(line, line + rows):
            out[y] = mark(out[y], column - 1, 1, text="▕", style=FRAME)
            out[y] = mark(out[y], column + geo.side, 1, text="▏", style=FRAME)
        out[line] = mark(out[line], 0, len(f"L{self.base.attn.layers[self.cursor[0]]}"))
        if line + rows < len(out):
            out[line + rows] = mark(out[line + rows], column, geo.side, text="▔" * geo.side, style=FRAME)
        header = min(y for (_, h), (y, _) in geo.places.items() if h == self.cursor[1]) - 1
        name = out[header].plain[_column_index(out[header].plain, column) :].split(" ", 1)[0]
        out[header] = mark(out[header], column, max(1, cell_len(name)))
        return out

    def cursor_lines(self, console: Console, width: int, mono: bool) -> tuple[int, int]:
        """The first line of the cursor's thumbnail and how many lines it takes."""
        _, geo = self.laid(console, width, mono)
        assert isinstance(geo, _Thumbs)
        line, _ = geo.places.get(self.cursor, (0, 0))
        return line, (geo.side + 1) // 2 + 1

    def head_at(self, console: Console, width: int, mono: bool, x: int, y: int) -> tuple[int, int] | None:
        """The (layer, head) index of the thumbnail drawn at (x, y), if any."""
        _, geo = self.laid(console, width, mono)
        assert isinstance(geo, _Thumbs)
        rows = (geo.side + 1) // 2
        for place, (line, column) in geo.places.items():
            if line <= y < line + rows and column <= x < column + geo.side:
                return place
        return None


class MatrixView(_Laid):
    """A Heatmap (render.terminal) with one row marked, or one cell when `column` is set."""

    base: Heatmap

    def __init__(self, heatmap: Heatmap) -> None:
        super().__init__(heatmap)
        self.row = 0
        self.column: int | None = None

    def _geometry(self) -> tuple[int, int, int, int]:
        return self.base.grid  # (top line, left column, cell width, pooling)

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        lines, (top, left, cell, k) = self.laid(console, width, mono)
        out = list(lines)
        y = top + self.row // k
        if not 0 <= y < len(out):
            return out
        if self.column is None:
            out[y] = mark(out[y], left - 1, 1, text="▶", style=FRAME)
            out[y] = mark(out[y], 0, left - 1)
        else:
            out[y] = mark(out[y], left + (self.column // k) * cell, cell)
        return out

    def cell_at(self, console: Console, width: int, mono: bool, x: int, y: int) -> tuple[int | None, int | None]:
        """(row, column) under (x, y): None for an axis outside the matrix; a pooled cell gives
        the first token of its block."""
        _, (top, left, cell, k) = self.laid(console, width, mono)
        rows, cols = self.base.panels[0].matrix.shape
        row = (y - top) * k if 0 <= (y - top) * k < rows else None
        col = ((x - left) // cell) * k if x >= left and 0 <= ((x - left) // cell) * k < cols else None
        return row, col

    def row_line(self, console: Console, width: int, mono: bool) -> int:
        _, (top, _, _, k) = self.laid(console, width, mono)
        return top + self.row // k


class Sentence(Drawing):
    """The key tokens as running text, each on the colour of the weight the query gives it."""

    def __init__(self, labels: Sequence[str], weights: np.ndarray, query: int | None, cmap: str) -> None:
        self.labels = labels  # made safe by the caller (safe_label), once per text
        self.weights = np.nan_to_num(np.asarray(weights, dtype=np.float64))
        self.query = query  # marked in the text (self-attention: the query is among the keys)
        self.cmap = colormaps.lookup(cmap)
        self.spans: list[tuple[int, int, int]] = []  # per token: (line, first column, end column)

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        top = float(self.weights.max()) if self.weights.size else 0.0
        share = self.weights / top if top > 0 else np.zeros_like(self.weights)
        eight_bit = is_eight_bit(console)
        # one lookup for the whole row: palette numbers (256 colours) or (tokens, 3) RGB
        colours = (self.cmap.ansi256(share) if eight_bit else self.cmap(share)).tolist()
        styles: dict[tuple[object, ...], Style] = {}
        lines = [one_line(("the query's weights over the sentence:", "the query's weights:"), width, "dim")]
        line, used = Text(), 0
        self.spans = []
        for j, token in enumerate(self.labels):
            strong = share[j] >= 0.25
            shown = f"{token}[{self.weights[j]:.2f}]".replace("0.", ".") if mono and strong else token
            size = cell_len(shown)
            if used and used + 1 + size > width:
                lines.append(line)
                line, used = Text(), 0
            if used:
                line.append(" ")
                used += 1
            key = (strong, j == self.query, None if mono else str(colours[j]))
            style = styles.get(key)
            if style is None:
                style = Style(bold=strong, underline=j == self.query)
                if not mono:
                    shade = Color.from_ansi(colours[j]) if eight_bit else Color.from_rgb(*colours[j])
                    style += Style(color=ink(shade), bgcolor=shade)
                styles[key] = style
            self.spans.append((len(lines), used, used + size))
            line.append(shown[: max(1, width)], style)
            used += size
        lines.append(line)
        return lines

    def token_at(self, x: int, y: int) -> int | None:
        """The token drawn at (x, y) in the last layout."""
        for j, (line, start, end) in enumerate(self.spans):
            if line == y and start <= x < end:
                return j
        return None
