"""The HTML page in a real browser (Debian's Chromium through Playwright), opened offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clicheck import invoke, ok
from pagecheck import (
    SEED,
    XSS,
    check_seed_page,
    distinct_colours,
    open_page,
    page_weights,
    toy,
    wait_ready,
)

from attnviz.attention import Attention


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Attention]:
    folder = tmp_path_factory.mktemp("seed-page")
    ok(invoke(["show", SEED, "--save", str(folder / "seed.npz"), "-o", str(folder / "seed.html")]))
    return folder / "seed.html", Attention.load(folder / "seed.npz")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_seed_page(browser: Any, seed: tuple[Path, Attention], scheme: str) -> None:
    path, attn = seed
    with open_page(browser, path, scheme) as watched:
        check_seed_page(watched.page, attn)
        background = watched.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(255, 255, 255)") == (scheme == "light")  # the theme follows the system
        for view in ("1", "2", "3", "4"):
            watched.page.keyboard.press(view)
            assert distinct_colours(watched.page.screenshot()) > 40
        watched.check_clean()


def test_keyboard_moves_opens_and_goes_back(browser: Any, seed: tuple[Path, Attention]) -> None:
    path, _ = seed
    with open_page(browser, path) as watched:
        page = watched.page
        wait_ready(page)
        page.locator("button.thumb[aria-label='L0 H0']").focus()
        for key in ("ArrowRight", "ArrowRight", "ArrowDown"):
            page.keyboard.press(key)
        assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "L1 H2"
        page.keyboard.press("Enter")
        assert page.evaluate("window.attnviz.view") == "head"
        assert page.locator("#head-picker button[aria-pressed=true]").all_inner_texts() == ["H2"]
        page.keyboard.press("ArrowLeft")
        assert page.locator("#head-picker button[aria-pressed=true]").all_inner_texts() == ["H1"]
        page.keyboard.press("Escape")
        assert page.evaluate("window.attnviz.view") == "model"
        assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "L1 H1"
        watched.check_clean()


def test_several_heads_in_distinct_colours(browser: Any, seed: tuple[Path, Attention]) -> None:
    path, attn = seed
    with open_page(browser, path) as watched:
        page = watched.page
        wait_ready(page)
        page.click("button.thumb[aria-label='L5 H11']")
        page.click("#head-picker button:text-is('H3')")
        page.click("#head-picker button:text-is('H7')")
        cat = attn.tokens.index("cat")
        page.hover(f"#view-head rect.hit[data-side=k][data-index='{cat}']")  # a key: its lines from every query
        lines = page.eval_on_selector_all(
            "#view-head line", "ls => ls.map(l => [l.dataset.map, l.dataset.k, l.getAttribute('stroke')])"
        )
        assert {k for _, k, _ in lines} == {str(cat)}
        colours = {m: stroke for m, _, stroke in lines}
        assert len(colours) == 3 and len(set(colours.values())) == 3
        watched.check_clean()


def test_script_in_a_token_runs_nothing(browser: Any, tmp_path: Path) -> None:
    tokens = ["[CLS]", XSS, '<img src=x onerror="window.pwned=1">', "</script><script>window.pwned=2</script>", "[SEP]"]
    attn = toy(tokens)
    path = tmp_path / "xss.html"
    attn.to_html(path)
    with open_page(browser, path) as watched:
        page = watched.page
        wait_ready(page)
        assert list(page.evaluate("window.attnviz.tokens")) == tokens
        for view in ("2", "3", "4"):
            page.keyboard.press(view)
        page.keyboard.press("2")
        assert page.locator("#view-head text[data-side=q]").all_text_contents() == tokens
        assert page.evaluate("window.pwned") is None
        assert page.locator("img").count() == 0 and page.locator("script").count() == 2
        watched.check_clean()  # also: no alert() dialog, no request for "x"


def test_causal_and_rectangular_maps(browser: Any, tmp_path: Path) -> None:
    causal = toy(["a", "b", "c", "d"], causal=True)
    causal = causal.replace(weights=np.tril(causal.weights) / np.tril(causal.weights).sum(-1, keepdims=True))
    rng = np.random.default_rng(2)
    cross = Attention(
        ["x", "y", "z"], rng.random((1, 2, 3, 6)), [0], [0, 1], np.zeros(3, bool), np.arange(3), stack="cross",
        key_tokens=["s0", "s1", "s2", "s3", "s4", "s5"], key_special=np.zeros(6, bool), key_word_ids=np.arange(6),
    )  # fmt: skip
    for name, attn in (("causal", causal), ("cross", cross)):
        path = tmp_path / f"{name}.html"
        attn.to_html(path)
        with open_page(browser, path) as watched:
            page = watched.page
            wait_ready(page)
            assert list(page.evaluate("window.attnviz.keyTokens")) == list(attn.key_tokens)
            precision = page.evaluate("window.attnviz.precision")
            assert np.abs(page_weights(page, attn.weights.shape) - attn.weights).max() <= precision + 1e-7
            page.click("button.thumb[aria-label='L0 H1']")
            assert page.locator("#view-head text[data-side=q]").count() == attn.n_queries
            assert page.locator("#view-head text[data-side=k]").count() == attn.n_keys
            page.hover("#view-head rect.hit[data-side=q][data-index='1']")
            drawn = page.eval_on_selector_all("#view-head line", "ls => ls.map(l => Number(l.dataset.k))")
            if name == "causal":
                assert set(drawn) <= {0, 1}  # a decoder's token sees only itself and the past
            else:
                assert max(drawn) >= 3  # keys past the number of queries
            page.keyboard.press("3")
            page.keyboard.press("4")
            watched.check_clean()


def test_long_input_draws_lines_only_for_the_hovered_token(browser: Any, tmp_path: Path) -> None:
    attn = toy([f"w{i}" for i in range(300)], layers=1, heads=2)
    path = tmp_path / "long.html"
    from attnviz.render import html

    html.write_page(html.attention_page(attn, compress=True), path)
    with open_page(browser, path) as watched:
        page = watched.page
        wait_ready(page)
        precision = page.evaluate("window.attnviz.precision")
        assert np.abs(page_weights(page, attn.weights.shape) - attn.weights).max() <= precision + 1e-7
        page.click("button.thumb[aria-label='L0 H0']")
        assert page.locator("#view-head line").count() == 0
        page.hover("#view-head rect.hit[data-side=q][data-index='5']")
        drawn = page.locator("#view-head line").count()
        assert 0 < drawn <= 300
        watched.check_clean()


def test_compare_page(browser: Any, seed: tuple[Path, Attention], tmp_path: Path) -> None:
    _, attn = seed
    npz = tmp_path / "seed.npz"
    attn.save(npz)
    out = tmp_path / "cmp.html"
    ok(invoke(["compare", "--load", str(npz), "--heads", "5.11,0.3", "-o", str(out)]))
    with open_page(browser, out) as watched:
        page = watched.page
        wait_ready(page)
        assert list(page.evaluate("window.attnviz.layers")) == [0, 5]
        it, cat = attn.tokens.index("it"), attn.tokens.index("cat")
        got = page.evaluate(f"window.attnviz.weight(5, 11, {it}, {cat})")
        assert abs(got - attn.head(5, 11)[it, cat]) <= page.evaluate("window.attnviz.precision") + 1e-7
        page.click("button.thumb[aria-label='L5 H11']")
        page.keyboard.press("3")
        assert distinct_colours(page.screenshot()) > 40
        watched.check_clean()


def test_query_page_opens_on_the_text_coloured_by_that_word(browser: Any, tmp_path: Path) -> None:
    """`show --query it -o page.html` opens on "it": the text view, "it" outlined (issue 9)."""
    path = tmp_path / "it.html"
    result = invoke(["show", SEED, "--layer", "5", "--head", "11", "--query", "it", "-o", str(path)])
    ok(result)
    assert 'opens on query 8 "it"' in result.stderr
    with open_page(browser, path) as watched:
        page = watched.page
        wait_ready(page)
        assert page.evaluate("window.attnviz.view") == "text"
        assert page.locator("#view-text span.tok.query").all_inner_texts() == ["it"]
        assert "query 8 “it”" in page.locator("body").inner_text()
        watched.check_clean()
