"""Helpers for the HTML page tests: Debian's Chromium driven by Playwright, offline, strict.

Without Playwright or a Chromium the browser tests skip with that reason, except under
CI=true (as .ci/run sets), where a missing browser is a failure.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 860}
SEED = "The cat sat on the mat because it was comfortable"
XSS = "</script><img src=x onerror=alert(1)>"


def toy(tokens: list[str], layers: int = 2, heads: int = 3, seed: int = 0, **fields: Any) -> Any:
    """Random softmax rows over the given tokens."""
    import numpy as np

    from attnviz.attention import Attention

    rng = np.random.default_rng(seed)
    n = len(tokens)
    scores = rng.normal(size=(layers, heads, n, n)) * 2
    weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    return Attention(tokens, weights, range(layers), range(heads), np.zeros(n, bool), np.arange(n), **fields)


def chromium_path() -> str | None:
    """Debian's Chromium (Playwright's own browser download is not reachable here)."""
    for candidate in (os.environ.get("ATTNVIZ_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def require_browser() -> str:
    """The Chromium to drive, or skip (fail under CI=true) saying what is missing."""
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
    path = chromium_path()
    if missing is None and path is None:
        missing = "no Chromium found (apt-get install chromium, or set ATTNVIZ_CHROMIUM)"
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests are mandatory under CI=true: {missing}")
        pytest.skip(missing)
    assert path is not None
    return path


class Watched:
    """A page opened offline, with every network request and console error recorded."""

    def __init__(self, page: Any, allowed: str) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("dialog", self._dialog)

        def route(r: Any) -> None:
            if r.request.url != allowed:
                self.requests.append(r.request.url)
                r.abort()
            else:
                r.continue_()

        page.route("**/*", route)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check_clean(self) -> None:
        """No request left the file, nothing was logged as an error, no dialog opened."""
        assert self.requests == [], self.requests
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs


@contextmanager
def open_page(browser: Any, path: Path, color_scheme: str = "light") -> Iterator[Watched]:
    """Open a written file offline (file://) in a fresh context; wait until it has drawn."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme, offline=True)
    try:
        page = context.new_page()
        url = path.resolve().as_uri()
        watched = Watched(page, url)
        page.goto(url)
        yield watched
    finally:
        context.close()


def wait_ready(frame: Any) -> None:
    """Until the page (or the frame holding it) has decoded its data and drawn the model view."""
    frame.wait_for_function("document.body && document.body.dataset.ready === 'true'", timeout=30_000)


def distinct_colours(png: bytes) -> int:
    """How many different colours a screenshot holds (a blank one holds one or two)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])


ALL_WEIGHTS_JS = """() => {
  const a = window.attnviz, out = [];
  for (const l of a.layers) for (const h of a.heads) for (let q = 0; q < a.tokens.length; q++)
    for (let k = 0; k < a.keyTokens.length; k++) out.push(a.weight(l, h, q, k));
  return out;
}"""


def page_weights(frame: Any, shape: tuple[int, ...]) -> Any:
    """Every weight as the page decoded it (window.attnviz.weight), shaped like Attention.weights."""
    import numpy as np

    return np.array(frame.evaluate(ALL_WEIGHTS_JS), dtype=np.float64).reshape(shape)


def check_seed_page(frame: Any, attn: Any) -> None:
    """The issue's checks on a page of the seed sentence: L5 H11 opens from its thumbnail,
    "it" draws its strongest line to "cat" with the .npz weight in the tooltip, and every
    weight the page decodes is the .npz's within the encoding's precision."""
    import numpy as np

    wait_ready(frame)
    assert list(frame.evaluate("window.attnviz.tokens")) == list(attn.tokens)
    assert list(frame.evaluate("window.attnviz.keyTokens")) == list(attn.key_tokens)
    assert list(frame.evaluate("window.attnviz.layers")) == list(attn.layers)
    assert list(frame.evaluate("window.attnviz.heads")) == list(attn.heads)
    precision = frame.evaluate("window.attnviz.precision")
    assert 0 < precision <= 1e-3
    decoded = page_weights(frame, attn.weights.shape)
    assert np.abs(decoded - attn.weights).max() <= precision + 1e-7

    frame.click("button.thumb[aria-label='L5 H11']")
    assert frame.evaluate("window.attnviz.view") == "head"
    assert frame.locator("#layer-picker").input_value() == str(attn.layers.index(5))
    assert frame.locator("#head-picker button[aria-pressed=true]").all_inner_texts() == ["H11"]
    it, cat = attn.tokens.index("it"), attn.tokens.index("cat")
    frame.hover(f"#view-head rect.hit[data-side=q][data-index='{it}']")
    lines = frame.eval_on_selector_all(
        "#view-head line", "ls => ls.map(l => [Number(l.dataset.q), Number(l.dataset.k), Number(l.dataset.w)])"
    )
    assert lines and all(q == it for q, _, _ in lines)  # only the hovered token's lines
    _, k, weight = max(lines, key=lambda line: line[2])
    assert k == cat
    frame.locator(f"#view-head line[data-q='{it}'][data-k='{cat}']").hover()
    shown = float(frame.locator("#tooltip .tt-w").inner_text())
    assert frame.locator("#tooltip .tt-k").inner_text() == "cat"
    expected = float(attn.head(5, 11)[it, cat])
    assert expected > 0.5
    assert abs(shown - expected) <= precision + 5e-5  # the tooltip prints 4 decimals
    assert abs(weight - expected) <= precision + 1e-7
