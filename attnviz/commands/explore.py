"""explore: everything show, find, stats and explain give, in one full-screen terminal app."""

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from attnviz.cli import EPILOG, app
from attnviz.commands.common import Common, common_options, read_text
from attnviz.commands.view import CmapOpt, TextArg, check_image
from attnviz.errors import UsageError

if TYPE_CHECKING:
    from attnviz.analysis.explain import Explanation
    from attnviz.attention import Attention
    from attnviz.explore.state import Explainer


@app.command(epilog=EPILOG)
@common_options()
def explore(text: TextArg = None, cmap: CmapOpt = None, *, common: Common) -> None:
    """Explore every head in a full-screen terminal app (arrows, Enter, Esc, /, s, e, o; ? lists the keys; q quits)."""
    import sys

    check_image(None, cmap, 150)
    if common.load is not None and (text is not None or common.file is not None):
        raise UsageError("give TEXT or --load, not both")
    if not (sys.stdin.isatty() or text == "-") or not sys.stdout.isatty():
        raise UsageError("explore is a full-screen app: it needs a terminal", hint="use attnviz show for a pipe")
    source = "" if common.load is not None else read_text(text, common.file)
    if not sys.stdin.isatty():  # the text came down a pipe: the keys come from the terminal
        _keys_from_terminal()
    with ThreadPoolExecutor(1) as pool:
        # Textual's import (a few hundred ms of Python) overlaps the model's run, whose numpy
        # and file reading leave the interpreter free; an error still surfaces here, as one line.
        running = pool.submit(lambda: common.hygiene(common.extract(source)))
        from attnviz.explore.app import ExploreApp
        from attnviz.explore.state import Session

        attn = running.result()
    if common.no_color:
        os.environ["NO_COLOR"] = "1"  # Textual reads it when the app starts

    explainer, missing = explainer_for(common, source, attn)
    ExploreApp(Session(attn, cmap=cmap or "viridis", explainer=explainer, explain_missing=missing)).run()


def explainer_for(common: Common, text: str, attn: "Attention") -> "tuple[Explainer | None, str]":
    """How `e` recomputes a head step by step: the scratch engine reruns one layer on the raw
    tokens (a --tokens zoom keeps their positions). None and the reason when that cannot give
    the rows shown."""
    if common.load is not None:
        return None, "explain reruns the model, and --load has none: run explore on the text instead"
    if attn.engine != "scratch":
        return None, f"explain needs the scratch engine; {attn.model} ran on {attn.engine or 'another engine'}"
    if common.generate is not None or common.target is not None:
        return None, "explain reruns the text you gave: run explore without --generate and --target for it"
    if common.hide_special or common.merge_words:
        return None, "explain follows the model's raw tokens: run explore without --hide-special and --merge-words"
    if not attn.is_self:
        return None, "explain covers self-attention; this is cross-attention"

    def explain(layer: int, head: int, query: int) -> "Explanation":
        from attnviz.analysis.explain import explain as build
        from attnviz.models.run import RandomOptions, record_layer

        random = RandomOptions(common.random_layers, common.random_heads, common.random_dim, common.seed)
        raw, record = record_layer(text, common.model, layer, max_tokens=common.max_tokens, random=random)
        return build(record, model=raw.model, tokens=raw.tokens, layer=layer, head=head,
                     query=attn.positions[query], causal=raw.causal)  # fmt: skip

    return explain, ""


def _keys_from_terminal() -> None:
    """Make the controlling terminal the standard input, where Textual reads the keys."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        raise UsageError("explore reads its keys from a terminal, and this process has none") from None
    os.dup2(fd, 0)
    os.close(fd)
