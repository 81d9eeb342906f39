"""`attnviz explore`: Textual's pilot drives the keys and the mouse; the tests read what is selected and shown."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from clicheck import png_size, run

import attnviz
from attnviz.analysis.stats import STAT_KEYS, head_stats
from attnviz.attention import Attention
from attnviz.commands.common import Common
from attnviz.commands.explore import explainer_for
from attnviz.explore.app import ExplainScreen, ExploreApp, HeadScreen, OverviewScreen
from attnviz.explore.dialogs import FindDialog, KeysDialog
from attnviz.explore.state import Session
from attnviz.explore.widgets import HeadHeatmap, OverviewMap, QueryPane

SEED = "The cat sat on the mat because it was comfortable"


@pytest.fixture(scope="module")
def seed() -> Attention:
    return attnviz.extract(SEED)


def session(attn: Attention, **kwargs: object) -> Session:
    """A session as the command builds it: the real explainer (scratch engine, minilm)."""
    explainer, missing = explainer_for(Common(), SEED, attn)
    return Session(attn, explainer=explainer, explain_missing=missing, **kwargs)  # type: ignore[arg-type]


def drive(app: ExploreApp, script: Callable[..., Awaitable[None]], size: tuple[int, int] = (80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


def screen_text(app: ExploreApp) -> str:
    """The characters on the (virtual) terminal, line by line."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def test_arrows_move_the_cursor_enter_opens_escape_returns(seed: Attention) -> None:
    app = ExploreApp(session(seed))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        s = app.session
        assert isinstance(app.screen, OverviewScreen)
        assert (s.layer, s.head) == (0, 0)
        await pilot.press("right", "right", "down")
        assert (s.layer, s.head) == (1, 2)
        text = screen_text(app)
        framed = [line for line in text.splitlines() if "▕" in line]
        assert framed and framed[0].startswith("L1") and framed[0].index("▕") == 3 + 2 * 6 - 1
        await pilot.press("left", "left", "left", "up", "up")  # stops at the edges
        assert (s.layer, s.head) == (0, 0)
        await pilot.press("right_square_bracket", "right_square_bracket", "left_square_bracket")
        assert s.layer == 1
        await pilot.press("enter")
        assert isinstance(app.screen, HeadScreen)
        text = screen_text(app)
        assert text.splitlines()[0].startswith(" L1 H0  query 1 'The'")
        assert "The▶" in text.replace(" ", "")
        await pilot.press("down", "down")
        assert seed.tokens[s.query] == "sat"
        text = screen_text(app)
        assert 'query 3 "sat": top 10 keys' in text
        assert "sat▶" in text.replace(" ", "")
        await pilot.press("right")
        assert s.names == (1, 1)
        await pilot.press("end")
        assert s.query == seed.n_tokens - 1
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        assert (s.layer, s.head) == (1, 1)

    drive(app, script)


def test_slash_ranks_heads_like_find_and_jumps_to_the_best(seed: Attention) -> None:
    app = ExploreApp(session(seed))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("slash")
        assert isinstance(app.screen, FindDialog)
        await pilot.press(*"it dog", "enter")
        assert isinstance(app.screen, FindDialog)  # a word not in the text: said, and the dialog stays
        assert "dog" in str(app.screen.query_one("#error").render())
        await pilot.press(*["backspace"] * 3, *"cat", "enter")
        assert isinstance(app.screen, HeadScreen)
        s = app.session
        ranked = attnviz.analysis.find.rank_heads(seed, "it", "cat", 3)  # by score, as find ranks
        assert s.names == (ranked[0].layer, ranked[0].head)
        assert seed.tokens[s.query] == "it"
        assert [(f.layer, f.head) for f in s.found[:3]] == [(r.layer, r.head) for r in ranked]
        text = screen_text(app)
        weight = f"{seed.head(*s.names)[8, 2]:.2f}".lstrip("0")
        assert 'query 8 "it"' in text and "cat" in text and weight in text
        await pilot.press("escape")
        assert "heads linking it → cat" in screen_text(app)  # the ranking stays under the overview

    drive(app, script, (120, 40))


def test_s_colours_and_sorts_the_overview_by_each_statistic(seed: Attention) -> None:
    app = ExploreApp(session(seed))
    stats = {(r.layer, r.head): r for r in head_stats(seed)}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("down", "right", "s")
        s = app.session
        assert s.stat == "entropy"
        text = screen_text(app)
        assert "entropy per head" in text and "sorted by entropy" in text
        assert text.splitlines()[0].startswith(f" L1 H1  entropy {stats[1, 1].entropy:.3f}")
        best = max(stats.values(), key=lambda r: r.entropy)
        ranking = text[text.index("sorted by entropy") :].splitlines()
        first = next(line.split() for line in ranking if line.strip()[:1].isdigit())
        assert (int(first[0]), int(first[1])) == (best.layer, best.head)
        for _ in range(len(STAT_KEYS)):  # through every statistic and back to none
            await pilot.press("s")
        assert s.stat is None
        assert "▀" in screen_text(app)

    drive(app, script, (100, 40))


def test_e_explains_the_selected_head_and_query(seed: Attention) -> None:
    app = ExploreApp(session(seed))
    it, cat = seed.tokens.index("it"), seed.tokens.index("cat")

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        app.session.select(5, 11, it)
        await pilot.press("enter", "e")
        assert isinstance(app.screen, ExplainScreen)
        text = screen_text(app)
        assert "layer 5, head 11 of 12" in text
        assert "q[it] = [" in text
        await pilot.press("escape")
        assert isinstance(app.screen, HeadScreen)

    drive(app, script, (120, 60))
    weights = app.session.explain().weights
    assert abs(weights[cat] - seed.head(5, 11)[it, cat]) < 1e-5  # explain recomputes what the heatmap shows


def test_explain_says_why_when_it_cannot_run(seed: Attention, tmp_path: Path) -> None:
    loaded = Common(load=tmp_path / "x.npz")
    explainer, missing = explainer_for(loaded, "", seed)
    assert explainer is None
    app = ExploreApp(Session(seed, explainer=explainer, explain_missing=missing))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("e")
        text = screen_text(app)
        assert "explain is not available" in text
        assert "--load has none" in text

    drive(app, script)
    hf = seed.replace(engine="hf")
    assert "needs the scratch engine" in explainer_for(Common(), SEED, hf)[1]


def test_o_writes_the_current_view_as_an_image(seed: Attention, tmp_path: Path) -> None:
    app = ExploreApp(session(seed), folder=tmp_path)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("o")
        await app.workers.wait_for_complete()
        app.session.select(5, 11)
        await pilot.press("enter", "o")
        await app.workers.wait_for_complete()
        await pilot.press("o")
        await app.workers.wait_for_complete()

    drive(app, script)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["attnviz-L5H11-2.png", "attnviz-L5H11.png", "attnviz-overview.png"]  # never over a file
    grid, head = png_size(tmp_path / "attnviz-overview.png"), png_size(tmp_path / "attnviz-L5H11.png")
    assert grid[0] > head[0]  # 72 heads against one


def test_question_mark_lists_the_keys_and_q_quits_with_0(seed: Attention) -> None:
    app = ExploreApp(session(seed))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeysDialog)
        await pilot.pause()
        text = screen_text(app)
        for key in ("Enter", "Esc", "/", "explain", "statistic", "PNG", "quit"):
            assert key in text
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("q")

    drive(app, script)
    assert app.return_code == 0
    assert not app.is_running


def test_the_mouse_selects_heads_and_tokens(seed: Attention) -> None:
    app = ExploreApp(session(seed))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        overview = app.screen.query_one(OverviewMap)
        _, geo = overview.view().laid(app.console, overview._width(), False)
        line, column = geo.places[2, 3]
        await pilot.click(OverviewMap, offset=(column + 1, line))
        assert (app.session.layer, app.session.head) == (2, 3)
        assert isinstance(app.screen, OverviewScreen)
        await pilot.click(OverviewMap, offset=(column + 1, line))  # the selected head again: open it
        assert isinstance(app.screen, HeadScreen)
        pane = app.screen.query_one(QueryPane)
        line, start, _ = pane._sentence.spans[seed.tokens.index("mat")]
        await pilot.click(QueryPane, offset=(start, pane._stack.starts[-1] + line))
        assert seed.tokens[app.session.query] == "mat"
        heatmap = app.screen.query_one(HeadHeatmap).view()
        top = heatmap.laid(app.console, app.screen.query_one(HeadHeatmap)._width(), False)[1][0]
        await pilot.click(HeadHeatmap, offset=(20, top + 2))  # the third row
        assert app.session.query == 2

    drive(app, script)


def test_the_layout_follows_a_resize(seed: Attention) -> None:
    app = ExploreApp(session(seed))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        narrow = next(line for line in screen_text(app).splitlines() if line.startswith("L0"))
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        wide = next(line for line in screen_text(app).splitlines() if line.startswith("L0"))
        assert wide.count("▀") > 2 * narrow.count("▀")  # bigger thumbnails
        assert len(wide.rstrip()) > 120

    drive(app, script)


def test_no_color_draws_shades(seed: Attention, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ExploreApp(session(seed))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        text = screen_text(app)
        assert "▀" not in text and any(shade in text for shade in "░▒▓█")
        assert "monochrome" in text

    drive(app, script, (80, 60))


def test_a_long_text_pools_and_the_query_marker_follows(seed: Attention) -> None:
    rng = np.random.default_rng(0)
    n = 512
    weights = rng.random((2, 2, n, n)).astype(np.float32)
    weights /= weights.sum(-1, keepdims=True)
    attn = Attention([f"t{i}" for i in range(n)], weights, (0, 1), (0, 1), np.zeros(n, bool), np.arange(n))
    app = ExploreApp(Session(attn))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("enter")
        view = app.screen.query_one(HeadHeatmap).view()
        width = app.screen.query_one(HeadHeatmap)._width()
        first = view.row_line(app.console, width, False)
        await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
        assert app.session.query == 40
        k = view.laid(app.console, width, False)[1][3]
        assert k > 1  # pooled cells
        assert view.row_line(app.console, width, False) == first + 40 // k
        assert 'query 40 "t40"' in screen_text(app)

    drive(app, script)


def test_cross_attention_draws_keys_apart() -> None:
    rng = np.random.default_rng(1)
    weights = rng.random((1, 2, 3, 5)).astype(np.float32)
    weights /= weights.sum(-1, keepdims=True)
    attn = Attention(
        ["le", "chat", "dort"], weights, (0,), (0, 1), np.zeros(3, bool), np.arange(3), stack="cross",
        key_tokens=["the", "cat", "is", "asleep", "</s>"], key_special=np.zeros(5, bool), key_word_ids=np.arange(5),
    )  # fmt: skip
    explainer, missing = explainer_for(Common(), "", dataclasses.replace(attn, engine="scratch"))
    app = ExploreApp(Session(attn, explainer=explainer, explain_missing=missing))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("s", "s", "s", "s")  # entropy, max_weight, special_mass, prev_token
        assert app.session.stat == "prev_token"
        assert "prev_token n/a" in screen_text(app)  # no diagonal between two texts
        await pilot.press("enter")
        text = screen_text(app)
        assert "asleep" in text and "chat" in text  # keys across, queries down
        assert "the cat is asleep" in text  # the sentence is the key side
        best = int(np.argmax(weights[0, 0, 0]))
        bars = text[text.index('query 0 "le"') :].splitlines()
        assert f"{best} {attn.key_tokens[best]}" in bars[2]  # the top bar is the source token it weighs most
        await pilot.press("e")
        assert "cross-attention" in screen_text(app)

    drive(app, script, (100, 30))


@pytest.mark.slow
def test_an_encoder_decoder_opens_on_its_cross_attention(tmp_path: Path) -> None:
    from conftest import save_tiny_seq2seq

    model = save_tiny_seq2seq(tmp_path / "t5", "t5")
    common = Common(model=str(model), target="le chat dort")
    attn = common.hygiene(common.extract("the cat sleeps"))  # as the command does: the cross stack
    assert attn.stack == "cross" and attn.n_queries != attn.n_keys
    explainer, missing = explainer_for(common, "the cat sleeps", attn)
    app = ExploreApp(Session(attn, explainer=explainer, explain_missing=missing))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        assert f"{attn.n_queries} target × {attn.n_keys} source tokens" in screen_text(app)
        await pilot.press("enter")
        view = app.screen.query_one(HeadHeatmap).view()
        assert view.base.panels[0].matrix.shape == (attn.n_queries, attn.n_keys)
        await pilot.press("e")
        assert "explain is not available" in screen_text(app)

    drive(app, script, (120, 40))


def test_explore_needs_a_terminal() -> None:
    result = run(["explore", SEED])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: explore is a full-screen app: it needs a terminal")
    assert result.stdout == ""
