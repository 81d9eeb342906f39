"""`show --query WORD -o FILE`: the image shows that query (ranked bars per head, its row
outlined in a heatmap), with the terminal's numbers, in every format. Packaged MiniLM, scratch engine."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from clicheck import assert_clean_error, ok, run
from matplotlib.colors import to_hex
from test_grouped_heads import grouped

import attnviz
from attnviz.analysis.select import select
from attnviz.attention import Attention
from attnviz.render import image
from attnviz.render.canvas import number
from attnviz.render.panels import MARK_COLOR

SEED = "The cat sat on the mat because it was comfortable"
SPLIT = "An unbelievably comfortable cat"  # MiniLM: un ##bel ##ie ##va ##bly
IT = 8  # the position of "it" in SEED's tokens


@pytest.fixture(scope="module")
def seed() -> Attention:
    return attnviz.extract(SEED)


def comments(svg: Path) -> list[str]:
    """The texts matplotlib drew, in drawing order (it writes each as an SVG comment)."""
    return re.findall(r"<!-- (.*?) -->", svg.read_text(encoding="utf-8"))


def svg_bars(svg: Path, title: str, top: int) -> list[tuple[int, str, str]]:
    """(position, token, value) of the `top` bars under the block titled `title`."""
    texts = comments(svg)
    start = texts.index(title) + 1
    triples = texts[start : start + 3 * top]
    return [(int(p), token, value) for p, token, value in zip(*[iter(triples)] * 3, strict=True)]


def terminal_bars(out: str) -> dict[str, list[tuple[int, str, str]]]:
    """Each head's (position, token, value) lines in the terminal's QueryBars at width 40."""
    heads: dict[str, list[tuple[int, str, str]]] = {}
    for line in out.splitlines():
        if re.fullmatch(r"L\d+ H\d+(·kv\d+)?", line.strip()):
            current = heads.setdefault(line.strip(), [])
        elif heads and re.match(r"\s*\d+ ", line) and len(current) < 5:
            parts = line.split()
            current.append((int(parts[0]), parts[1], parts[-1]))
    return heads


# --- the image is of the query -----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
@pytest.mark.parametrize("selection", [[], ["--layer", "5", "--head", "11"]], ids=["all", "one-head"])
def test_a_query_image_is_not_the_plain_image(tmp_path: Path, suffix: str, selection: list[str]) -> None:
    plain, query = tmp_path / f"plain{suffix}", tmp_path / f"q{suffix}"
    ok(run(["show", SEED, *selection, "-o", str(plain)]))
    result = run(["show", SEED, *selection, "--query", "it", "-o", str(query)])
    assert ok(result) == ""
    heads = "72 heads" if not selection else "1 head"
    assert result.stderr == f'wrote {query} ({heads}, query 8 "it")\n'
    assert query.read_bytes() != plain.read_bytes()
    if suffix == ".pdf":
        assert query.read_bytes().startswith(b"%PDF-")


def test_the_svg_names_each_heads_top_keys_with_the_weights_of_the_attention(tmp_path: Path, seed: Attention) -> None:
    path = tmp_path / "q.svg"
    ok(run(["show", SEED, "--query", "it", "-o", str(path)]))
    for layer in seed.layers:
        for head in seed.heads:
            row = seed.head(layer, head)[IT]
            keys = np.argsort(-row, kind="stable")[:5]
            expected = [(int(j), seed.tokens[j], number(float(row[j]), 3).strip()) for j in keys]
            assert svg_bars(path, f"L{layer} H{head}", 5) == expected, (layer, head)
    assert svg_bars(path, "L5 H11", 1) == [(2, "cat", ".64")]  # DESIGN.md's checkable pattern
    caption = "bars: the top 5 keys of “it” in each head, by attention weight; full bar = 1 · a column per layer"
    assert caption in comments(path)


def test_one_head_outlines_the_query_row_beside_its_ranked_bars(tmp_path: Path, seed: Attention) -> None:
    rendered = image.render_query(select(seed, [5], [11]), IT, tmp_path / "q.png")
    assert rendered.heatmap is not None and rendered.heatmap.mark == ((IT,), ())
    heatmap = rendered.figure.axes[0]
    outlines = [p for p in heatmap.patches if to_hex(p.get_edgecolor()) == MARK_COLOR]
    assert [(p.get_y(), p.get_height(), p.get_linestyle()) for p in outlines] == [(IT - 0.5, 1, "--")]
    assert [t.get_text() for t in heatmap.get_yticklabels() if to_hex(t.get_color()) == MARK_COLOR] == ["it"]
    row = seed.head(5, 11)[IT]
    assert rendered.ranked == (tuple(np.argsort(-row, kind="stable")[:10].tolist()),)
    assert rendered.titles == ("L5 H11",) and rendered.top == 10

    svg = tmp_path / "q.svg"
    ok(run(["show", SEED, "--layer", "5", "--head", "11", "--query", "it", "-o", str(svg)]))
    assert f"stroke: {MARK_COLOR}" in svg.read_text(encoding="utf-8")
    assert svg_bars(svg, "L5 H11 · query “it”", 10)[:2] == [(2, "cat", ".64"), (6, "mat", ".13")]
    plain = tmp_path / "plain.svg"
    ok(run(["show", SEED, "--layer", "5", "--head", "11", "-o", str(plain)]))
    assert f"stroke: {MARK_COLOR}" not in plain.read_text(encoding="utf-8")


# --- the numbers are the terminal's, whatever the options ---------------------------------------


@pytest.mark.parametrize(
    ("text", "word", "options"),
    [
        (SEED, "it", []),
        (SEED, "it", ["--hide-special"]),
        (SEED, "it", ["--hide-special", "--tokens", "1-9"]),
        (SEED, "it", ["--tokens", "3-10"]),
        (SEED, "it", ["--measure", "value-norm"]),
        (SEED, "it", ["--scale", "head", "--cmap", "magma"]),
        (SPLIT, "cat", ["--merge-words"]),
    ],
    ids=["plain", "hide-special", "hide-then-crop", "crop", "value-norm", "scale-cmap", "merge-words"],
)
def test_the_image_prints_the_terminals_numbers(tmp_path: Path, text: str, word: str, options: list[str]) -> None:
    args = ["show", text, "--layer", "5", "--query", word, *options]
    terminal = terminal_bars(ok(run(args, width=40)))
    assert len(terminal) == 12
    path = tmp_path / "q.svg"
    ok(run([*args, "-o", str(path)]))
    for title, bars in terminal.items():
        assert svg_bars(path, title, len(bars)) == bars, title
    one = tmp_path / "one.svg"
    ok(run([*args, "--head", "11", "-o", str(one)]))
    assert svg_bars(one, f"L5 H11 · query “{word}”", 5) == terminal["L5 H11"]


def test_scale_and_cmap_set_the_bars_lengths_and_colours(tmp_path: Path, seed: Attention) -> None:
    import matplotlib

    layer = select(seed, [5])
    plain = image.render_query(layer, IT, tmp_path / "a.svg")
    own = image.render_query(layer, IT, tmp_path / "b.svg", scale="head", cmap="magma")
    rows = seed.weights[5, :, IT, :]  # (head, key)
    assert [lengths[0] for lengths in plain.lengths] == pytest.approx(rows.max(-1).tolist())  # full bar = 1
    assert [lengths[0] for lengths in own.lengths] == [1.0] * 12  # each head to its own largest
    top = to_hex(matplotlib.colormaps["magma"](1.0))  # every head's first bar in --scale head
    assert f"fill: {top}" in (tmp_path / "b.svg").read_text(encoding="utf-8")


def test_grouped_heads_are_named_with_their_key_value_head(tmp_path: Path) -> None:
    saved = tmp_path / "gqa.npz"
    grouped().save(saved)
    path = tmp_path / "q.svg"
    ok(run(["show", "--load", str(saved), "--query", "t3", "-o", str(path)]))
    texts = comments(path)
    assert {"L0 H0·kv0", "L0 H1·kv0", "L1 H2·kv1", "L1 H3·kv1"} <= set(texts)
    assert "H3·kv1: query head 3 reads key/value head 1 (4 query heads share 2 key/value heads)" in texts
    one = tmp_path / "one.svg"
    ok(run(["show", "--load", str(saved), "--layer", "1", "--head", "3", "--query", "t3", "-o", str(one)]))
    assert "gqa · layer 1 · head 3 · query 3 “t3” · key/value head 1 of 2" in comments(one)


def test_many_heads_fit_the_largest_image(tmp_path: Path) -> None:
    attn = grouped(n_layers=12, n_heads=32, kv_heads=8, n=20)
    rendered = image.render_query(attn, 4, tmp_path / "q.png")
    width, height = rendered.figure.get_size_inches()
    assert width <= 22.0 and height <= 22.0
    assert len(rendered.titles) == 12 * 32 and rendered.top == 5


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--query", "dog"], '"dog" is not in this text: its words are The, cat, sat, on, mat, because, it, was, '
         "comfortable"),
        (["--query", "the"], '"the" occurs 2 times: use the#1 or the#2'),
        (["--query", "it", "--style", "text"], "--style text is drawn in the terminal; an image of --query draws its "
         "ranked bars (drop --style text, or drop -o)"),
    ],
    ids=["unknown", "ambiguous", "style-text"],
)  # fmt: skip
@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_a_bad_query_writes_no_image(tmp_path: Path, args: list[str], message: str, suffix: str) -> None:
    result = run(["show", SEED, *args, "-o", str(tmp_path / f"q{suffix}")])
    assert_clean_error(result, 2, message)
    assert list(tmp_path.iterdir()) == []
