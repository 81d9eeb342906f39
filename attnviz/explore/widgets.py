"""The explorer's widgets, each named after what it shows; they draw the render/ renderables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from attnviz.explore.views import MatrixView, OverviewView, Sentence
from attnviz.render.canvas import is_mono
from attnviz.render.labels import safe_label
from attnviz.render.overview import Overview
from attnviz.render.overview import QueryBars as Bars
from attnviz.render.reports import find_table, share_bars
from attnviz.render.terminal import Heatmap

if TYPE_CHECKING:
    from attnviz.explore.state import Session


class Picked(Message):
    """The mouse chose a head (layer, head indices) or a query token; `again` when it was already chosen."""

    def __init__(
        self, layer: int | None = None, head: int | None = None, query: int | None = None, again: bool = False
    ) -> None:
        super().__init__()
        self.layer, self.head, self.query, self.again = layer, head, query, again


class _SessionView(Widget):
    """A widget that draws from the session and redraws when told the selection changed."""

    DEFAULT_CSS = "_SessionView { height: auto; }"

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session

    def update(self) -> None:
        self.refresh(layout=True)

    @property
    def _mono(self) -> bool:
        return is_mono(self.app.console)

    def _width(self) -> int:
        return max(1, self.content_size.width)

    def keep_visible(self, line: int, rows: int) -> None:
        """Scroll the enclosing container so that lines [line, line + rows) of this widget show."""
        parent = self.parent
        if isinstance(parent, Widget) and parent.is_scrollable:
            top = self.virtual_region.y
            parent.scroll_to_region(Region(0, top + line, 1, rows), animate=False, force=True)


class OverviewMap(_SessionView):
    """Every layer × head as thumbnails with a framed cursor, or, with a statistic chosen, the
    statistic of every head as a layers × heads table."""

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        self._thumbs = OverviewView(Overview(session.attn, cmap=session.cmap, hint=""))
        self._tables: dict[str, MatrixView] = {}

    def view(self) -> OverviewView | MatrixView:
        s = self.session
        if s.stat is None:
            self._thumbs.cursor = (s.layer, s.head)
            return self._thumbs
        if s.stat not in self._tables:
            labels_l = [f"L{layer}" for layer in s.attn.layers]
            labels_h = [str(head) for head in s.attn.heads]
            title = f"{s.stat} per head (layers down, heads across)"
            heatmap = Heatmap(s.stat_grid(), labels_l, labels_h, title=title, cmap=s.cmap, values=True,
                              scale_label=f"{s.stat}, all heads")  # fmt: skip
            self._tables[s.stat] = MatrixView(heatmap)
        table = self._tables[s.stat]
        table.row, table.column = s.layer, s.head
        return table

    def render(self) -> RenderableType:
        return self.view()

    def follow(self) -> None:
        """Keep the cursor on screen."""
        view = self.view()
        if isinstance(view, OverviewView):
            self.keep_visible(*view.cursor_lines(self.app.console, self._width(), self._mono))
        else:
            self.keep_visible(view.row_line(self.app.console, self._width(), self._mono), 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        view, console, width = self.view(), self.app.console, self._width()
        if isinstance(view, OverviewView):
            place = view.head_at(console, width, self._mono, offset.x, offset.y)
        else:
            row, col = view.cell_at(console, width, self._mono, offset.x, offset.y)
            place = None if row is None or col is None else (row, col)
        if place is not None:
            again = place == (self.session.layer, self.session.head)
            self.post_message(Picked(layer=place[0], head=place[1], again=again))


class HeadLine(Static):
    """One line naming the selection: the head, its statistic, the query token."""

    DEFAULT_CSS = "HeadLine { height: 1; background: $panel; }"

    def __init__(self, session: Session, view: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.view = view

    def update_line(self) -> None:
        s = self.session
        text = Text(f" {s.label}", style="bold")
        if self.view == "overview" and s.stat is not None:
            text.append(f"  {s.stat} {s.stat_value():.3f}")
        if self.view != "overview":
            text.append(f"  query {s.attn.offset + s.query} ")
            text.append(repr(safe_label(s.attn.tokens[s.query])))
        hint = {
            "overview": "  arrows move · Enter opens · [ ] layer · s statistic · / find · ? keys",
            "head": "  ↑↓ query · ←→ head · [ ] layer · e explain · Esc back · ? keys",
            "explain": "  ↑↓ scroll · Esc back · ? keys",
        }[self.view]
        text.append(hint, style="dim")
        self.update(text)


class FindRanking(Static):
    """The last `/` ranking, as `attnviz find` prints it (hidden until a search)."""

    DEFAULT_CSS = "FindRanking { height: auto; max-height: 40%; }"

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session

    def update_ranking(self) -> None:
        s = self.session
        self.display = bool(s.found) or s.stat is not None
        if s.stat is not None:
            from attnviz.render.reports import stats_table

            self.update(stats_table(s.ranked()[:10], s.stat))
        elif s.found:
            self.update(find_table(s.found[:5], *s.found_words))


class HeadHeatmap(_SessionView):
    """The selected head's heatmap with token labels; the query's row is marked."""

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        self._views: dict[tuple[int, int], MatrixView] = {}

    def view(self) -> MatrixView:
        s = self.session
        key = (s.layer, s.head)
        if key not in self._views:
            if len(self._views) > 8:  # a few recent heads stay laid out; older ones go
                self._views.pop(next(iter(self._views)))
            a = s.attn
            heatmap = Heatmap(s.matrix(), a.tokens, a.key_tokens, title=s.label, cmap=s.cmap, notes=a.notes,
                              offset=a.offset)  # fmt: skip
            self._views[key] = MatrixView(heatmap)
        view = self._views[key]
        view.row = s.query
        return view

    def render(self) -> RenderableType:
        return self.view()

    def follow(self) -> None:
        self.keep_visible(self.view().row_line(self.app.console, self._width(), self._mono), 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row, _ = self.view().cell_at(self.app.console, self._width(), self._mono, offset.x, offset.y)
        if row is not None:
            self.post_message(Picked(query=row))


class QueryBars(_SessionView):
    """The query's weights in the selected head, ranked as bars (render.overview.QueryBars)."""

    def render(self) -> RenderableType:
        from attnviz.analysis.select import select

        s = self.session
        a = s.attn
        if not a.is_self:  # QueryBars labels keys with the query tokens
            title = f"query {a.offset + s.query} {safe_label(a.tokens[s.query])!r}: top keys in {s.label}"
            return share_bars(s.matrix()[s.query], a.key_tokens, title, top=min(10, a.n_keys))
        layer, head = s.names
        return Bars(select(a, [layer], [head]), s.query, top=10, cmap=s.cmap, offset=a.offset, notes=())


class QuerySentence(_SessionView):
    """The sentence coloured by the query's weights; clicking a token makes it the query."""

    def render(self) -> RenderableType:
        s = self.session
        query = s.query if s.attn.is_self else None
        self._sentence = Sentence(s.attn.key_tokens, s.matrix()[s.query], query, s.cmap)
        return self._sentence

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.session.attn.is_self:
            return
        token = self._sentence.token_at(offset.x, offset.y)
        if token is not None:
            self.post_message(Picked(query=token))


class ExplainReport(_SessionView):
    """`attnviz explain` for the selected head and query, or why it cannot be shown."""

    def render(self) -> RenderableType:
        from attnviz.errors import AttnvizError
        from attnviz.render.reports import explain_report

        try:
            explanation = self.session.explain()
        except AttnvizError as exc:
            return Group(Text("explain is not available", style="bold"), Text(str(exc)))
        return explain_report(explanation)
