"""Heads side by side: turn extractions and head pairs into labelled panels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from attnviz.analysis.diff import difference
from attnviz.attention import Attention
from attnviz.errors import UsageError


class Panel(NamedTuple):
    """One map to draw: a title, a (query, key) matrix, and its row and column labels."""

    title: str
    matrix: np.ndarray
    row_labels: Sequence[str]
    col_labels: Sequence[str]
    mark: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())  # (rows, columns) to point out

    def checked(self) -> Panel:
        """A float32 copy whose shape matches its labels, or ValueError."""
        matrix = np.asarray(self.matrix, dtype=np.float32)
        rows, cols = tuple(map(str, self.row_labels)), tuple(map(str, self.col_labels))
        if matrix.shape != (len(rows), len(cols)) or matrix.size == 0:
            raise ValueError(f"panel matrix has shape {matrix.shape}; expected ({len(rows)}, {len(cols)}), not empty")
        marked_rows, marked_cols = (tuple(int(i) for i in m) for m in self.mark)
        if any(not 0 <= i < len(rows) for i in marked_rows) or any(not 0 <= j < len(cols) for j in marked_cols):
            raise ValueError(f"panel mark {self.mark} lies outside its ({len(rows)}, {len(cols)}) matrix")
        return Panel(str(self.title), matrix, rows, cols, (marked_rows, marked_cols))


def compare_panels(sources: Sequence[Attention], pairs: Sequence[tuple[int, int]], diff: bool = False) -> list[Panel]:
    """Each (layer, head) of each source as a panel; with `diff`, the one difference of two maps."""
    if not sources:
        raise UsageError("nothing to compare")
    names = _source_names(sources)
    panels = [
        Panel(f"{name}L{layer} H{head}", attn.head(layer, head), attn.tokens, attn.key_tokens)
        for layer, head in pairs
        for attn, name in zip(sources, names, strict=True)
    ]
    if not diff:
        return panels
    if len(panels) != 2:
        raise UsageError(
            f"--diff needs exactly two maps, not {len(panels)}",
            hint="give two heads, or one head with two models or two texts",
        )
    a, b = panels
    return [Panel(f"{a.title} − {b.title}", difference(a.matrix, b.matrix), a.row_labels, a.col_labels)]


def _source_names(sources: Sequence[Attention]) -> list[str]:
    """Prefixes that tell the sources apart: model names, else text 1 / text 2."""
    if len(sources) == 1:
        return [""]
    models = [a.model for a in sources]
    if len(set(models)) == len(models):
        return [f"{m} · " for m in models]
    return [f"text {i + 1} · " for i in range(len(sources))]
