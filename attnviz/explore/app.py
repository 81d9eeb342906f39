"""`attnviz explore`: the Textual app, its screens and its keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen

from attnviz.errors import AttnvizError
from attnviz.explore.state import Session
from attnviz.explore.widgets import (
    ExplainReport,
    FindRanking,
    HeadHeatmap,
    HeadLine,
    OverviewMap,
    Picked,
    QueryPane,
)


class _View(Screen[None]):
    """A screen that draws the session: redraw() after every change of the selection."""

    VIEW = ""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def redraw(self) -> None:
        for line in self.query(HeadLine):
            line.update_line()

    def on_screen_resume(self) -> None:
        self.redraw()

    def on_mount(self) -> None:
        self.redraw()

    def changed(self) -> None:
        self.redraw()


class OverviewScreen(_View):
    """Every layer × head; the cursor picks one."""

    VIEW = "overview"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", "layer", show=False),
        Binding("down", "move(1, 0)", "layer", show=False),
        Binding("left", "move(0, -1)", "head", show=False),
        Binding("right", "move(0, 1)", "head", show=False),
        Binding("enter", "open", "open"),
        Binding("s", "stat", "statistic"),
        Binding("e", "explain", "explain"),
    ]

    def compose(self) -> ComposeResult:
        yield HeadLine(self.session, self.VIEW)
        yield OverviewMap(self.session, id="map")
        yield FindRanking(self.session, id="ranking")

    def redraw(self) -> None:
        super().redraw()
        self.query_one(OverviewMap).update()
        self.query_one(FindRanking).update_ranking()
        self.call_after_refresh(self.query_one(OverviewMap).follow)

    def action_move(self, layers: int, heads: int) -> None:
        self.session.move(layers=layers, heads=heads)
        self.redraw()

    def action_open(self) -> None:
        self.app.push_screen(HeadScreen(self.session))

    def action_explain(self) -> None:
        self.app.push_screen(ExplainScreen(self.session))

    def action_stat(self) -> None:
        try:
            stat = self.session.next_stat()
        except AttnvizError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.clear_notifications()
        self.notify(f"coloured and sorted by {stat}" if stat else "thumbnails", timeout=2)
        self.redraw()

    @on(Picked)
    def picked(self, message: Picked) -> None:
        self.session.select(message.layer, message.head)
        self.redraw()
        if message.again:
            self.action_open()


class HeadScreen(_View):
    """One head: its heatmap, the query's ranked keys and the sentence in the query's colours."""

    VIEW = "head"
    DEFAULT_CSS = """
    HeadScreen #heatmap { width: 3fr; }
    HeadScreen #query { width: 2fr; min-width: 30; margin-left: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "query(-1)", "query", show=False),
        Binding("down", "query(1)", "query", show=False),
        Binding("pageup", "query(-10)", show=False),
        Binding("pagedown", "query(10)", show=False),
        Binding("home", "query(-1000000)", show=False),
        Binding("end", "query(1000000)", show=False),
        Binding("left", "head(-1)", "head", show=False),
        Binding("right", "head(1)", "head", show=False),
        Binding("escape", "back", "back"),
        Binding("e", "explain", "explain"),
    ]

    def compose(self) -> ComposeResult:
        yield HeadLine(self.session, self.VIEW)
        with Horizontal():
            yield HeadHeatmap(self.session, id="heatmap")
            yield QueryPane(self.session, id="query")

    def redraw(self) -> None:
        super().redraw()
        for widget in (HeadHeatmap, QueryPane):
            self.query_one(widget).update()
        self.call_after_refresh(self.query_one(HeadHeatmap).follow)

    def action_query(self, step: int) -> None:
        self.session.move(queries=step)
        self.redraw()

    def action_head(self, step: int) -> None:
        self.session.move(heads=step)
        self.redraw()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_explain(self) -> None:
        self.app.push_screen(ExplainScreen(self.session))

    @on(Picked)
    def picked(self, message: Picked) -> None:
        self.session.select(query=message.query)
        self.redraw()


class ExplainScreen(_View):
    """`attnviz explain` for the selected head and query."""

    VIEW = "explain"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "back")]

    def compose(self) -> ComposeResult:
        yield HeadLine(self.session, self.VIEW)
        with VerticalScroll(id="explain-scroll"):
            yield ExplainReport(self.session, id="explain")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#explain-scroll").focus()

    def redraw(self) -> None:
        super().redraw()
        self.query_one(ExplainReport).update()

    def action_back(self) -> None:
        self.app.pop_screen()


class ExploreApp(App[None]):
    """The explorer: an overview of every head, one head, explain; the state is one `Session`."""

    TITLE = "attnviz explore"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "keys", "keys"),
        Binding("slash", "find", "find"),
        Binding("o", "image", "image"),
        Binding("left_square_bracket", "layer(-1)", "layer", show=False),
        Binding("right_square_bracket", "layer(1)", "layer", show=False),
    ]

    def __init__(self, session: Session, *, folder: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.folder = folder or Path.cwd()
        if self.no_color:  # NO_COLOR: our renderers draw shades, not colours, as `show` does
            self.console.no_color = True

    def on_mount(self) -> None:
        self.push_screen(OverviewScreen(self.session))

    def _redraw(self) -> None:
        screen = self.screen
        if isinstance(screen, _View):
            screen.redraw()

    def action_layer(self, step: int) -> None:
        self.session.move(layers=step)
        self._redraw()

    def action_keys(self) -> None:
        from attnviz.explore.dialogs import KeysDialog  # dialogs load when first asked for

        if not isinstance(self.screen, KeysDialog):
            self.push_screen(KeysDialog())

    def action_find(self) -> None:
        def found(ok: bool | None) -> None:
            if not ok:
                return
            if isinstance(self.screen, HeadScreen):
                self._redraw()
                return
            while len(self.screen_stack) > 2:  # from explain: back to the overview first
                self.pop_screen()
            self.push_screen(HeadScreen(self.session))  # it draws itself once mounted

        from attnviz.explore.dialogs import FindDialog

        if isinstance(self.screen, _View):
            self.push_screen(FindDialog(self.session), found)

    def action_image(self) -> None:
        screen = self.screen
        if isinstance(screen, _View):
            self.notify("drawing the image …", timeout=2)
            self._write_image(screen.VIEW)

    @work(thread=True, exclusive=True)
    def _write_image(self, view: str) -> None:
        try:
            path = self.session.write_image(view, self.folder)
        except (AttnvizError, OSError) as exc:
            self.call_from_thread(self.notify, f"cannot write the image: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"wrote {path}", timeout=5)
