"""The explorer's widgets, each named after what it shows; they draw the render/ renderables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from attnviz.explore.views import MatrixView, OverviewView, Sentence
from attnviz.render.canvas import Drawing, is_mono
from attnviz.render.labels import safe_label
from attnviz.render.overview import Overview
from attnviz.render.overview import QueryBars as Bars
from attnviz.render.reports import find_table
from attnviz.render.terminal import Heatmap

if TYPE_CHECKING:
    from attnviz.attention import Attention
    from attnviz.explore.state import Session


class Picked(Message):
    """The mouse chose a head (layer, head indices) or a query token; `again` when it was already chosen."""

    def __init__(
        self, layer: int | None = None, head: int | None = None, query: int | None = None, again: bool = False
    ) -> None:
        super().__init__()
        self.layer, self.head, self.query, self.again = layer, head, query, again


def text_lines(renderable: RenderableType, console: Console, width: int) -> list[Text]:
    """A renderable as one Text per line for `width`: a Drawing's own lines, else rich's."""
    if isinstance(renderable, Drawing):
        lines = renderable._lines(console, width, is_mono(console))
        for line in lines:  # what Drawing.__rich_console__ does; these lines are cached, so once
            if is_mono(console):
                line.rstrip()
            line.truncate(width)
        return lines
    options = console.options.update_width(width)
    return [
        Text.assemble(*((seg.text, seg.style) for seg in line)) for line in console.render_lines(renderable, options)
    ]


class LinesView(ScrollView, can_focus=False):
    """A scrolled view of a renderable drawn through Textual's line API: only the lines on
    screen become strips, and a line that did not change (the same Text object) keeps its strip,
    so moving a cursor over a 512-token heatmap converts two lines, not the whole map."""

    DEFAULT_CSS = "LinesView { height: 1fr; scrollbar-gutter: stable; }"  # one width: one layout

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self._lines: list[Text] | None = None
        self._strips: dict[int, tuple[Text, Strip]] = {}
        self._style = Style()
        self._laid_width = 0

    def drawing(self) -> RenderableType:
        """What to draw now, with the selection applied."""
        raise NotImplementedError

    def update(self) -> None:
        """The selection changed: lay out again (cheap: the views cache their layout) and redraw."""
        before, self._lines = self._lines, None
        if not self.size.width:  # before the first layout there is no width to lay out for
            self.refresh()
            return
        after = self._current()
        if before is None or len(before) != len(after):
            self.refresh()
            return
        # Only the lines that changed (new Text objects: the cursor's) are drawn again.
        top, width = self.scroll_offset.y, self.size.width
        for y in (i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old is not new):
            self.refresh(Region(0, y - top, width, 1))

    def on_resize(self) -> None:
        self.update()

    @property
    def _mono(self) -> bool:
        return is_mono(self.app.console)

    def _width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _current(self) -> list[Text]:
        if self._lines is None or self._laid_width != self._width():  # a resize can come after update()
            self._style = self.rich_style  # the widget's colours, looked up once per layout
            self._laid_width = self._width()
            self._lines = text_lines(self.drawing(), self.app.console, self._laid_width)
            widest = max((line.cell_len for line in self._lines), default=0)
            self.virtual_size = Size(widest, len(self._lines))
        return self._lines

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        lines = self._current()
        width = self.scrollable_content_region.width
        if index >= len(lines):
            return Strip.blank(width, self._style)
        text = lines[index]
        cached = self._strips.get(index)
        if cached is None or cached[0] is not text:
            cached = (text, Strip(list(text.render(self.app.console)), text.cell_len))
            self._strips[index] = cached
        return cached[1].crop_extend(scroll_x, scroll_x + width, self._style).apply_style(self._style)

    def keep_visible(self, line: int, rows: int) -> None:
        """Scroll so that lines [line, line + rows) show."""
        self.scroll_to_region(Region(0, line, 1, rows), animate=False, force=True)

    def content_at(self, event: events.MouseEvent) -> tuple[int, int] | None:
        """(column, line) of the drawing under the mouse."""
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        return offset.x + self.scroll_offset.x, offset.y + self.scroll_offset.y


class OverviewMap(LinesView):
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

    def drawing(self) -> RenderableType:
        return self.view()

    def follow(self) -> None:
        """Keep the cursor on screen."""
        view = self.view()
        if isinstance(view, OverviewView):
            self.keep_visible(*view.cursor_lines(self.app.console, self._width(), self._mono))
        else:
            self.keep_visible(view.row_line(self.app.console, self._width(), self._mono), 1)

    def on_click(self, event: events.Click) -> None:
        at = self.content_at(event)
        if at is None:
            return
        view, console, width = self.view(), self.app.console, self._width()
        if isinstance(view, OverviewView):
            place = view.head_at(console, width, self._mono, *at)
        else:
            row, col = view.cell_at(console, width, self._mono, *at)
            place = None if row is None or col is None else (row, col)
        if place is not None:
            again = place == (self.session.layer, self.session.head)
            self.post_message(Picked(layer=place[0], head=place[1], again=again))


class HeadLine(Widget):
    """One line naming the selection: the head, its statistic, the query token."""

    DEFAULT_CSS = "HeadLine { height: 1; background: $panel; }"

    def __init__(self, session: Session, view: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.view = view
        self._text = Text()

    def render(self) -> RenderableType:
        return self._text

    def update_line(self) -> None:
        s = self.session
        text = Text(f" {s.label}", style="bold")
        if self.view == "overview" and s.stat is not None:
            value = s.stat_value()
            text.append(f"  {s.stat} " + ("n/a" if value is None or value != value else f"{value:.3f}"))
        if self.view != "overview":
            text.append(f"  query {s.attn.positions[s.query]} ")
            text.append(repr(safe_label(s.attn.tokens[s.query])))
        hint = {
            "overview": "  arrows move · Enter opens · [ ] layer · s statistic · / find · ? keys",
            "head": "  ↑↓ query · ←→ head · [ ] layer · e explain · Esc back · ? keys",
            "explain": "  ↑↓ scroll · Esc back · ? keys",
        }[self.view]
        text.append(hint, style="dim")
        self._text = text
        self.refresh()  # one line, always: no new layout


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


class HeadHeatmap(LinesView):
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
            layer, head = s.names
            heatmap = Heatmap(s.attn, layer=layer, head=head, cmap=s.cmap)
            self._views[key] = MatrixView(heatmap)
        view = self._views[key]
        view.row = s.query
        return view

    def drawing(self) -> RenderableType:
        return self.view()

    def follow(self) -> None:
        self.keep_visible(self.view().row_line(self.app.console, self._width(), self._mono), 1)

    def on_click(self, event: events.Click) -> None:
        at = self.content_at(event)
        if at is None:
            return
        row, _ = self.view().cell_at(self.app.console, self._width(), self._mono, *at)
        if row is not None:
            self.post_message(Picked(query=row))


class QueryPane(LinesView):
    """The query's weights in the selected head, ranked as bars (render.overview.QueryBars),
    then the sentence coloured by them; clicking a word makes it the query."""

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        self._labels: list[str] | None = None
        self._one: tuple[tuple[int, int], Attention] | None = None  # the selected head alone, for the bars

    def _head(self) -> Attention:
        from attnviz.analysis.select import select

        s = self.session
        if self._one is None or self._one[0] != s.names:
            self._one = (s.names, select(s.attn, [s.names[0]], [s.names[1]]))
        return self._one[1]

    def drawing(self) -> RenderableType:
        s = self.session
        a = s.attn
        bars = Bars(self._head(), s.query, top=10, cmap=s.cmap, notes=())
        if self._labels is None:
            self._labels = [safe_label(t) for t in a.key_tokens]
        self._sentence = Sentence(self._labels, s.matrix()[s.query], s.query if a.is_self else None, s.cmap)
        self._stack = _Stacked([bars, self._sentence])
        return self._stack

    def on_click(self, event: events.Click) -> None:
        at = self.content_at(event)
        if at is None or not self.session.attn.is_self:
            return
        x, y = at
        token = self._sentence.token_at(x, y - self._stack.starts[-1])
        if token is not None:
            self.post_message(Picked(query=token))


class _Stacked(Drawing):
    """Renderables one under the other, a blank line between."""

    def __init__(self, parts: list[RenderableType]) -> None:
        self.parts = parts
        self.starts: list[int] = []  # the first line of each part, in the last layout

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        lines: list[Text] = []
        self.starts = []
        for part in self.parts:
            if lines:
                lines.append(Text())
            self.starts.append(len(lines))
            lines += text_lines(part, console, width)
        return lines


class ExplainReport(Widget):
    """`attnviz explain` for the selected head and query, or why it cannot be shown."""

    DEFAULT_CSS = "ExplainReport { height: auto; }"

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session

    def update(self) -> None:
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        from attnviz.errors import AttnvizError
        from attnviz.render.reports import explain_report

        try:
            explanation = self.session.explain()
        except AttnvizError as exc:
            return Group(Text("explain is not available", style="bold"), Text(str(exc)))
        return explain_report(explanation)
