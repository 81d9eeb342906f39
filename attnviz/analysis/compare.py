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
    if np.shape(a.matrix) != np.shape(b.matrix):
        raise _mismatch(sources, names)
    rows = _joined(a.row_labels, b.row_labels)
    cols = _joined(a.col_labels, b.col_labels)
    return [Panel(f"{a.title} − {b.title}", difference(a.matrix, b.matrix), rows, cols)]


def _joined(first: Sequence[str], second: Sequence[str]) -> list[str]:
    """One label per position; where the two sides hold different tokens, both ('big/small')."""
    return [x if x == y else f"{x}/{y}" for x, y in zip(first, second, strict=True)]


def _mismatch(sources: Sequence[Attention], names: Sequence[str]) -> UsageError:
    """Two sides of different lengths cannot be subtracted; the hint offers only what works."""
    from attnviz.analysis.tokens import word_groups

    a, b = sources[0], sources[-1]
    sides = [n.removesuffix(" · ") or "one side" for n in (names[0], names[-1])]
    message = f"--diff needs as many tokens on both sides: {sides[0]} has {a.n_tokens}, {sides[1]} has {b.n_tokens}"
    words = len(word_groups(a)), len(word_groups(b))
    if words[0] == words[1] and words[0] != a.n_tokens:
        return UsageError(message, hint=f"--merge-words gives both {words[0]} words")
    return UsageError(message, hint="drop --diff to see them side by side, or give texts of as many tokens")


def _source_names(sources: Sequence[Attention]) -> list[str]:
    """Prefixes that tell the sources apart: model names, else the start of each text."""
    if len(sources) == 1:
        return [""]
    models = [a.model for a in sources]
    if len(set(models)) == len(models):
        return [f"{m} · " for m in models]
    starts = [_start(a.text) for a in sources]
    if len(set(starts)) < len(starts):  # the same first words: show where the texts part
        starts = [_start(a.text, _common_words([b.text for b in sources])) for a in sources]
    if all(starts) and len(set(starts)) == len(starts):
        return [f"{s} · " for s in starts]
    return [f"text {i + 1} · " for i in range(len(sources))]


def _common_words(texts: Sequence[str]) -> int:
    """How many first words the texts share."""
    split = [t.split() for t in texts]
    shared = 0
    while all(len(w) > shared for w in split) and len({w[shared] for w in split}) == 1:
        shared += 1
    return shared


def _start(text: str, skip: int = 0, words: int = 3) -> str:
    """A text's first words in quotes, '"The cat sat…"', to title its panels; past `skip`
    shared words it shows the first and where it parts from the others: '"The … tired"'."""
    parts = text.split()
    if skip and len(parts) > skip:
        shown = " ".join(parts[skip : skip + words - 1])
        more = "…" if len(parts) > skip + words - 1 else ""
        return f'"{parts[0]} … {shown}{more}"'
    start = " ".join(parts[:words])
    return f'"{start}…"' if len(parts) > words else f'"{start}"' if start else ""
