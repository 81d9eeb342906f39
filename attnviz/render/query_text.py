"""One query's attention as the text itself: each key token's background is the weight the
query puts on it, one line per head (`show --query WORD --style text`)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.render import colormaps
from attnviz.render.canvas import Drawing, Painter, Scale, is_eight_bit, legend, one_line
from attnviz.render.labels import safe_label

STYLES = ("bars", "text")


class QueryText(Drawing):
    """The key tokens in a row, coloured by one query's weights; a row per head, on one scale."""

    def __init__(
        self, attn: Attention, query: int, *, cmap: str = colormaps.DEFAULT, notes: Sequence[str] | None = None
    ) -> None:
        if not 0 <= query < attn.n_queries:
            raise UsageError(f"query {query} is out of range", hint=f"tokens are 0-{attn.n_queries - 1}")
        self.attn = attn
        self.query = query
        self.cmap = colormaps.lookup(cmap)
        self.notes = tuple(attn.notes if notes is None else notes)
        self.rows = attn.weights[:, :, query, :].reshape(-1, attn.n_keys)  # (layer·head, key)
        self.tags = [f"L{layer} H{head}" for layer in attn.layers for head in attn.heads]
        self.scale = Scale.fit([self.rows], "global: every head's row shares it")

    def window(self, labels: list[str], room: int) -> tuple[int, int]:
        """The widest run of keys [start, stop) that fits `room` cells (a space after each),
        centred on the query's own position where the keys are the queries."""
        widths = [cell_len(t) + 1 for t in labels]
        if sum(widths) <= room:
            return 0, len(labels)
        centre = min(self.query, len(labels) - 1) if self.attn.is_self else 0
        start = stop = centre
        used = 0
        while True:
            grew = False
            for side in (1, -1):  # right first, then left, one token at a time
                if side == 1 and stop < len(labels) and used + widths[stop] <= room - 4:
                    used += widths[stop]
                    stop += 1
                    grew = True
                elif side == -1 and start > 0 and used + widths[start - 1] <= room - 4:
                    start -= 1
                    used += widths[start]
                    grew = True
            if not grew:
                return start, max(stop, start + 1)

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        attn, q = self.attn, self.query
        painter = Painter(self.cmap, mono, eight_bit=is_eight_bit(console))
        what = "weight" if attn.measure == "weights" else "value-norm ‖α·f(x)‖"
        title = f'query "{safe_label(attn.tokens[q])}": the {what} it puts on each token, one line per head'
        lines = [one_line((title, title.split(":")[0]), width, "bold")]
        labels = [safe_label(t).replace(" ", "·") or "·" for t in attn.key_tokens]
        tag_width = max(map(len, self.tags)) + 1
        start, stop = self.window(labels, max(1, width - tag_width))
        norm = self.scale.norm(self.rows)
        for tag, t in zip(self.tags, norm, strict=True):
            line = Text(tag.ljust(tag_width), style="bold")
            shades = Text(" " * tag_width)
            if start > 0:
                line.append("… ")
                shades.append("  ")
            for j in range(start, stop):
                label = labels[j]
                if mono:
                    line.append(label + " ")
                    shades.append(painter.shade(float(t[j]), cell_len(label)) + " ")
                else:
                    line.append(label, style=painter.marked(float(t[j]), 1)[1])  # text in a contrasting ink
                    line.append(" ")
            if stop < len(labels):
                line.append("…")
            lines.append(line)
            if mono:
                lines.append(shades)
        shown = f"tokens {start}-{stop - 1} of {len(labels)}, around the query" if stop - start < len(labels) else ""
        extra = [shown] if shown else []
        if mono:
            extra.append("monochrome: the shade under each token is its weight")
        return [*lines, Text(), *legend(console, width, painter, self.scale, lines=extra, notes=self.notes)]
