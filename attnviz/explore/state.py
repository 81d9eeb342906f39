"""The explorer's state in one place: the attention, what is selected, and the analyses asked for.

No Textual here: the app's widgets read this object and its methods change it, so every rule
(bounds, what `/` and `s` do, where `o` writes) is plain Python, tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from attnviz.analysis.explain import Explanation
from attnviz.analysis.find import HeadScore, rank_heads
from attnviz.analysis.stats import STAT_KEYS, HeadStats, head_stats, sort_stats, stat_grid
from attnviz.attention import Attention
from attnviz.errors import UsageError

# (layer, head, query) in the model's own indices and the token position -> the explanation
Explainer = Callable[[int, int, int], Explanation]
VIEWS = ("overview", "head", "explain")


@dataclass
class Session:
    """Everything the explorer shows, and the selection (indices into `attn`'s axes)."""

    attn: Attention
    cmap: str = "viridis"
    explainer: Explainer | None = None
    explain_missing: str = "explain is not available here"  # why, when `explainer` is None
    layer: int = 0  # index into attn.layers
    head: int = 0  # index into attn.heads
    query: int = 0  # index into attn.tokens
    stat: str | None = None  # the statistic the overview is coloured and sorted by
    found: list[HeadScore] = field(default_factory=list)  # the last `/` ranking
    found_words: tuple[str, str] = ("", "")
    _explained: dict[tuple[int, int, int], Explanation] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.query = next((i for i in range(self.attn.n_queries) if not self.attn.special[i]), 0)

    # --- the selection -------------------------------------------------------------------------

    @property
    def names(self) -> tuple[int, int]:
        """The selected head as the model numbers it: (layer, head)."""
        return self.attn.layers[self.layer], self.attn.heads[self.head]

    @property
    def label(self) -> str:
        layer, head = self.names
        return f"L{layer} H{head}"

    def move(self, layers: int = 0, heads: int = 0, queries: int = 0) -> None:
        """Step the selection, stopping at the edges."""
        self.layer = _clamp(self.layer + layers, len(self.attn.layers))
        self.head = _clamp(self.head + heads, len(self.attn.heads))
        self.query = _clamp(self.query + queries, self.attn.n_queries)

    def select(self, layer: int | None = None, head: int | None = None, query: int | None = None) -> None:
        """Jump to indices (None keeps the current one)."""
        self.move()
        self.layer = self.layer if layer is None else _clamp(layer, len(self.attn.layers))
        self.head = self.head if head is None else _clamp(head, len(self.attn.heads))
        self.query = self.query if query is None else _clamp(query, self.attn.n_queries)

    def matrix(self) -> np.ndarray:
        """The selected head's (query, key) weights."""
        return self.attn.weights[self.layer, self.head]

    # --- `s`: statistics -----------------------------------------------------------------------

    @cached_property
    def stats(self) -> list[HeadStats]:
        return head_stats(self.attn)

    def next_stat(self) -> str | None:
        """Cycle the overview's statistic: each of `stats`' in turn, then the thumbnails again."""
        order = [None, *STAT_KEYS]
        stat = order[(order.index(self.stat) + 1) % len(order)]
        self.stat = stat
        return stat

    def stat_grid(self) -> np.ndarray:
        """(layers, heads) values of the current statistic."""
        assert self.stat is not None
        return stat_grid(self.stats, self.stat)

    def ranked(self) -> list[HeadStats]:
        """Every head sorted by the current statistic, largest first."""
        assert self.stat is not None
        return sort_stats(self.stats, self.stat)

    def stat_value(self) -> float | None:
        if self.stat is None:
            return None
        return float(self.stat_grid()[self.layer, self.head])

    # --- `/`: find -----------------------------------------------------------------------------

    def find(self, source: str, target: str) -> HeadScore:
        """Rank every head as `attnviz find` does and select the best, with the source word as the query."""
        from attnviz.analysis.tokens import find_token

        source, target = source.strip(), target.strip()
        if not source or not target:
            raise UsageError("give two words: the one that attends and the one attended to")
        scores = rank_heads(self.attn, source, target, len(self.attn.layers) * len(self.attn.heads))
        self.found, self.found_words = scores, (source, target)
        best = scores[0]
        query = find_token(self.attn, source)[0]
        self.select(self.attn.layers.index(best.layer), self.attn.heads.index(best.head), query)
        return best

    # --- `e`: explain --------------------------------------------------------------------------

    def explain(self) -> Explanation:
        """The selected head and query, step by step; a UsageError says why when it cannot be."""
        if self.explainer is None:
            raise UsageError(self.explain_missing)
        key = (*self.names, self.query)
        if key not in self._explained:  # it runs the model: once per head and query
            self._explained[key] = self.explainer(*key)
        return self._explained[key]

    # --- `o`: an image of the view -------------------------------------------------------------

    def image_name(self, view: str) -> str:
        """The file `o` writes for `view`: what it shows, in words a directory listing keeps apart."""
        if view == "overview":
            return f"attnviz-{self.stat}.png" if self.stat else "attnviz-overview.png"
        return f"attnviz-{self.label.replace(' ', '')}.png"

    def write_image(self, view: str, folder: Path) -> Path:
        """Draw the current view as a PNG in `folder` (never over an existing file); its path."""
        from attnviz.analysis.select import select
        from attnviz.render import image

        name = self.image_name(view)
        path = folder / name
        n = 2
        while path.exists():
            path = folder / name.replace(".png", f"-{n}.png")
            n += 1
        if view == "overview" and self.stat:
            layers, heads = self.attn.layers, self.attn.heads
            title = f"{self.attn.model}: {self.stat} per head"
            image.render_layer_head_table(
                self.stat_grid(), path, title=title, label=self.stat, cmap=self.cmap, layers=layers, heads=heads
            )
        elif view == "overview":
            image.render_image(self.attn, path, cmap=self.cmap)
        else:
            layer, head = self.names
            image.render_image(select(self.attn, [layer], [head]), path, cmap=self.cmap)
        return path


def _clamp(value: int, count: int) -> int:
    return max(0, min(count - 1, value))
