"""The explorer's dialogs: `/` asks for two words, `?` lists the keys (loaded when first opened)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from attnviz.errors import AttnvizError, UsageError
from attnviz.explore.state import Session

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
    ("click a token", "a head: make it the query (a heatmap row or a word of the sentence)"),
    ("?", "this list"),
    ("q", "quit"),
)


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
        self.notify(f"best: L{best.layer} H{best.head} (score {best.score:+.3f}, weight {best.weight:.3f})", timeout=3)
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
