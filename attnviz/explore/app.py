"""`attnviz explore`: the Textual app, its screens and its keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, Static

from attnviz.errors import AttnvizError, UsageError
from attnviz.explore.state import Session
from attnviz.explore.widgets import (
    ExplainReport,
    FindRanking,
    HeadHeatmap,
    HeadLine,
    OverviewMap,
    Picked,
    QueryBars,
    QuerySentence,
)


class Pane(VerticalScroll, can_focus=False):
    """A scrolled area that leaves the arrow keys to the screen (the screen scrolls it to the cursor)."""


KEYS = (
    ("arrows", "overview: move the cursor over layers × heads; a head: ↑↓ pick the query, ←→ the head"),
    ("Enter / click", "open the head under the cursor (click a thumbnail, then click it again)"),
    ("Esc", "back"),
    ("[  ]", "previous / next layer"),
    ("PgUp PgDn Home End", "a head: move the query by 10 / to the first or last token"),
    ("/", "find: rank heads by the weight from one word to another, jump to the best"),
    ("s", "overview: colour and sort by a statistic (entropy, max_weight, …; again for the next)"),
    ("e", "explain the selected head and query step by step (scratch-engine models)"),
    ("o", "write the current view to a PNG in the current folder"),
    ("click a token", "a head: make it the query (heatmap row, bar or sentence word)"),
    ("?", "this list"),
    ("q", "quit"),
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
        with Pane(id="map-scroll"):
            yield OverviewMap(self.session, id="map")
        yield FindRanking(self.session, id="ranking")
        yield Footer()

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
    HeadScreen #heatmap-scroll { width: 3fr; }
    HeadScreen #query { width: 2fr; min-width: 30; padding-left: 1; }
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
            with Pane(id="heatmap-scroll"):
                yield HeadHeatmap(self.session, id="heatmap")
            with Pane(id="query"):
                yield QueryBars(self.session, id="bars")
                yield Static("")
                yield QuerySentence(self.session, id="sentence")
        yield Footer()

    def redraw(self) -> None:
        super().redraw()
        for widget in (HeadHeatmap, QueryBars, QuerySentence):
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
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#explain-scroll").focus()

    def redraw(self) -> None:
        super().redraw()
        self.query_one(ExplainReport).update()

    def action_back(self) -> None:
        self.app.pop_screen()


class FindDialog(ModalScreen[bool]):
    """`/`: two words; ranks every head by the weight from the first to the second."""

    DEFAULT_CSS = """
    FindDialog { align: center middle; }
    FindDialog > Vertical { width: 60; max-width: 100%; height: auto; border: round $accent; padding: 0 1; }
    FindDialog #error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("find: which heads link one word to another? (WORD#2 for the 2nd)")
            yield Input(placeholder="it cat   (the word that attends, then the one attended to)", id="words")
            yield Label("", id="error")

    @on(Input.Submitted, "#words")
    def submit(self, event: Input.Submitted) -> None:
        words = event.value.replace("→", " ").replace("->", " ").split()
        try:
            if len(words) != 2:
                raise UsageError("type two words: the one that attends, then the one attended to (e.g. it cat)")
            best = self.session.find(*words)
        except AttnvizError as exc:
            self.query_one("#error", Label).update(Text(str(exc)))
            return
        self.app.clear_notifications()
        self.notify(f"best: L{best.layer} H{best.head} ({best.weight:.3f})", timeout=3)
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class KeysDialog(ModalScreen[None]):
    """`?`: every key."""

    DEFAULT_CSS = """
    KeysDialog { align: center middle; }
    KeysDialog > Static { width: auto; max-width: 100%; height: auto; border: round $accent; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "close"),
        Binding("question_mark", "app.pop_screen", "close"),
    ]

    def compose(self) -> ComposeResult:
        table = Table(title="attnviz explore: keys", box=None, show_header=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        yield Static(table)


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
