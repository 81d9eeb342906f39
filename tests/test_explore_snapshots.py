"""Snapshots (pytest-textual-snapshot) of the explorer's three views at 80×24 and 200×60.

After a deliberate change of the look: `pytest tests/test_explore_snapshots.py --snapshot-update`,
then look at the SVGs under tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import attnviz
from attnviz.attention import Attention
from attnviz.commands.common import Common
from attnviz.commands.explore import explainer_for
from attnviz.explore.app import ExploreApp
from attnviz.explore.state import Session

SEED = "The cat sat on the mat because it was comfortable"
SIZES = [(80, 24), (200, 60)]


@pytest.fixture(autouse=True)
def truecolor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots of the truecolor look whatever terminal runs the tests: under
    TERM=xterm-256color the app would draw the 256-colour palette (ansi256.py)."""
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture(scope="module")
def seed() -> Attention:
    return attnviz.extract(SEED)


def app_at(seed: Attention, layer: int, head: int, query: str) -> ExploreApp:
    explainer, missing = explainer_for(Common(), SEED, seed)
    session = Session(seed, explainer=explainer, explain_missing=missing)
    session.select(layer, head, seed.tokens.index(query))
    return ExploreApp(session)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_overview(seed: Attention, snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(app_at(seed, 2, 3, "it"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_head(seed: Attention, snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(app_at(seed, 5, 11, "it"), press=["enter"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_explain(seed: Attention, snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(app_at(seed, 5, 11, "it"), press=["enter", "e"], terminal_size=size)
