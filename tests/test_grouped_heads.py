"""Grouped-query attention shown: each query head named with its key/value head (H5·kv1)."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from clicheck import ok, run, widest
from rich.console import Console

from attnviz.analysis.stats import head_stats
from attnviz.attention import Attention
from attnviz.models.run import extract
from attnviz.render import image
from attnviz.render.overview import Overview, QueryBars
from attnviz.render.terminal import HeadGrid, Heatmap

SEED = "The cat sat on the mat because it was comfortable"


def grouped(n_layers: int = 2, n_heads: int = 4, kv_heads: int = 2, n: int = 9, seed: int = 0) -> Attention:
    """Random row-stochastic attention of a model whose `n_heads` query heads share `kv_heads`."""
    rng = np.random.default_rng(seed)
    w = rng.random((n_layers, n_heads, n, n)).astype(np.float32)
    return Attention(
        tokens=[f"t{i}" for i in range(n)],
        weights=w / w.sum(-1, keepdims=True),
        layers=range(n_layers),
        heads=range(n_heads),
        special=np.zeros(n, bool),
        word_ids=np.arange(n),
        model="gqa",
        model_heads=n_heads,
        kv_heads=kv_heads,
    )


def draw(renderable: object, width: int = 80) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_hf_engine_reads_the_key_value_heads_from_the_config(tiny_llama: Path, tiny_bert: Path) -> None:
    attn = extract(SEED, str(tiny_llama), "hf")
    assert (attn.model_heads, attn.kv_heads) == (4, 2)
    assert [attn.kv_head(h) for h in attn.heads] == [0, 0, 1, 1]
    plain = extract(SEED, str(tiny_bert), "hf")  # BERT: one key/value head per query head
    assert plain.model_heads == 4 and plain.kv_head(0) is None


def test_hf_engine_head_counts_of_multi_query_families() -> None:
    from transformers import FalconConfig, GPTBigCodeConfig, MistralConfig

    from attnviz.models.hf import head_counts

    assert head_counts(MistralConfig(num_attention_heads=32, num_key_value_heads=8)) == (32, 8)
    assert head_counts(GPTBigCodeConfig(n_head=12, multi_query=True)) == (12, 1)
    assert head_counts(FalconConfig(num_attention_heads=8, multi_query=True)) == (8, 1)
    assert head_counts(FalconConfig(num_attention_heads=8, new_decoder_architecture=True, num_kv_heads=2)) == (8, 2)
    assert head_counts(FalconConfig(num_attention_heads=8, multi_query=False)) == (8, 8)


def test_stats_json_gives_each_head_its_key_value_head(tiny_llama: Path) -> None:
    data = json.loads(ok(run(["stats", SEED, "--model", str(tiny_llama), "--engine", "hf", "--json"])))
    assert [(r["layer"], r["head"], r["kv_head"]) for r in data] == [
        (layer, h, h // 2) for layer in range(2) for h in range(4)
    ]
    picked = head_stats(extract(SEED, str(tiny_llama), "hf", heads=[3]))
    assert [r.to_dict()["kv_head"] for r in picked] == [1, 1]  # the model's head 3, not the first held head


def test_overview_names_each_head_with_its_group_at_80_columns(tiny_llama: Path) -> None:
    out = ok(run(["show", SEED, "--model", str(tiny_llama), "--engine", "hf"]))
    assert widest(out) <= 80
    names = next(line for line in out.splitlines() if "H0" in line).split()
    assert names == ["H0·kv0", "H1·kv0", "H2·kv1", "H3·kv1"]
    assert "H3·kv1: query head 3 reads key/value head 1 (4 heads share 2)" in out


def test_overview_puts_groups_on_their_own_line_when_names_do_not_fit() -> None:
    attn = grouped(n_layers=2, n_heads=32, kv_heads=8, n=40)
    lines = draw(Overview(attn), 80).splitlines()
    assert max(len(line) for line in lines) <= 80
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("kv0 ─"))
    groups, names = lines[at], lines[at + 1]
    assert names.split()[:5] == ["H0", "H1", "H2", "H3", "H4"]
    # each group label starts over the first head of its group
    assert groups.index("kv1") == names.index("H4 ") and groups.index("kv2") == names.index("H8 ")
    assert "·kv" not in names


def test_terminal_grid_and_single_head_titles_carry_the_group() -> None:
    attn = grouped()
    grid = draw(HeadGrid(attn))
    for layer in (0, 1):
        for h in range(4):
            assert f"L{layer} H{h}·kv{h // 2}" in grid
    one = draw(Heatmap(attn, layer=1, head=3))
    assert one.lstrip().startswith("L1 H3·kv1")
    assert "H3·kv1: query head 3 reads key/value head 1 (4 heads share 2)" in one  # the form that fits 80
    wide = draw(Heatmap(attn, layer=1, head=3), 120)
    assert "H3·kv1: query head 3 reads key/value head 1 (4 query heads share 2 key/value heads)" in wide
    assert "·kvG: key/value head G" in draw(Heatmap(attn, layer=1, head=3), 30)
    bars = draw(QueryBars(attn, 2))
    assert "L0 H2·kv1" in bars and "·kv" in bars.splitlines()[-1]


def test_no_grouping_no_labels() -> None:
    attn = grouped().replace(kv_heads=4)  # one key/value head per query head
    assert "·kv" not in draw(HeadGrid(attn)) + draw(Overview(attn))
    assert "·kv" not in draw(Heatmap(attn, layer=0, head=0))


def _title_boxes(rendered: image.Rendered) -> list[tuple[str, float, float, float]]:
    fig = rendered.figure
    renderer = fig.canvas.get_renderer()
    titles = set(rendered.titles)
    boxes = []
    for text in fig.axes[0].texts:
        if text.get_text() in titles:
            box = text.get_window_extent(renderer)
            boxes.append((text.get_text(), box.x0, box.x1, box.y0))
    return boxes


@pytest.mark.parametrize("heads", [4, 32])
def test_grid_image_titles_name_groups_and_never_overlap(tmp_path: Path, heads: int) -> None:
    attn = grouped(n_layers=2, n_heads=heads, kv_heads=heads // 4, n=12)
    rendered = image.render_grid(attn, tmp_path / "grid.png")
    assert rendered.titles[:2] == ("L0 H0·kv0", "L0 H1·kv0")
    assert rendered.titles[-1] == f"L1 H{heads - 1}·kv{heads // 4 - 1}"
    boxes = sorted(_title_boxes(rendered), key=lambda b: (-b[3], b[1]))
    assert len(boxes) == 2 * heads
    for (_, _, right, y), (_, left, _, y2) in itertools.pairwise(boxes):
        if y == y2:  # neighbours in one row of panels
            assert right <= left, "panel titles overlap"
    sizes = {t.get_fontsize() for t in rendered.figure.axes[0].texts if t.get_text() in set(rendered.titles)}
    assert min(sizes) >= image.MIN_TITLE_PT


def test_grid_image_too_narrow_for_groups_keeps_plain_titles(tmp_path: Path) -> None:
    attn = grouped(n_layers=2, n_heads=64, kv_heads=8, n=12)
    rendered = image.render_grid(attn, tmp_path / "grid.png")
    assert rendered.titles[9] == "L0 H9"  # groups left to the caption
    caption = " ".join(t.get_text() for t in rendered.figure.texts)
    assert "H63·kv7: query head 63 reads key/value head 7 (64 query heads share 8 key/value heads)" in caption


def test_single_head_image_header_names_the_group(tmp_path: Path) -> None:
    rendered = image.render_head(grouped().replace(model="m"), tmp_path / "h.png", layer=1, head=2)
    assert rendered.titles == ("m · layer 1 · head 2 · key/value head 1 of 2",)
