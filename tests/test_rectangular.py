"""Cross-attention is rectangular (target queries × source keys): every transform and view
takes it, or refuses it with one clear line. Built by hand: no model needed."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from attnviz.analysis import select, tokens
from attnviz.analysis.compare import compare_panels
from attnviz.analysis.find import rank_heads
from attnviz.analysis.rollout import rollout
from attnviz.analysis.stats import head_stats, sort_stats
from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.render import terminal

TARGET = ("<pad>", "le", "chat", "dor", "##t", "›x")
SOURCE = ("the", "cat", "sle", "##eps", "</s>")


def cross(generated: bool = True) -> Attention:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, len(TARGET), len(SOURCE))) * 2
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return Attention(
        tokens=TARGET,
        weights=weights,
        layers=(0, 1),
        heads=(0, 1, 2),
        special=[True, False, False, False, False, False],
        word_ids=[-1, 0, 1, 2, 2, 3],
        generated=[False, False, False, True, True, True] if generated else None,
        stack="cross",
        key_tokens=SOURCE,
        key_special=[False, False, False, False, True],
        key_word_ids=[0, 1, 2, 2, -1],
        model="tiny",
    )


def test_hide_special_drops_each_side_its_own_and_renormalises() -> None:
    attn = tokens.hide_special(cross())
    assert attn.tokens == TARGET[1:] and attn.key_tokens == SOURCE[:-1]
    assert attn.weights.shape == (2, 3, 5, 4)
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-6)
    assert attn.generated.tolist() == [False, False, True, True, True]


def test_merge_words_merges_queries_and_keys_separately() -> None:
    before = cross()
    attn = tokens.merge_words(before)
    assert attn.tokens == ("<pad>", "le", "chat", "dort", "›x")
    assert attn.key_tokens == ("the", "cat", "sleeps", "</s>")
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-6)
    # "dort" is the mean of its two query rows; "sleeps" the sum of its two key columns
    expected = before.weights[:, :, 3:5, 2:4].sum(-1).mean(-1)
    np.testing.assert_allclose(attn.weights[:, :, 3, 2], expected, atol=1e-6)


def test_token_range_crops_the_target_and_keeps_the_source() -> None:
    attn = select.token_range(cross(), "1-3")
    assert attn.tokens == TARGET[1:4] and attn.key_tokens == SOURCE
    np.testing.assert_array_equal(attn.weights, cross().weights[:, :, 1:4])


def test_find_looks_for_from_in_the_target_and_to_in_the_source() -> None:
    attn = cross()
    scores = rank_heads(attn, "chat", "cat", top=6, sort="weight")
    flat = attn.weights[:, :, 2, 1].ravel()
    assert [s.weight for s in scores] == pytest.approx(sorted(flat, reverse=True))
    others = [q for q in range(attn.n_queries) if not attn.special[q] and q != 2]  # baseline: the other queries
    by_score = rank_heads(attn, "chat", "cat", top=6)
    expected = (attn.weights[:, :, 2, 1] - attn.weights[:, :, others, 1].mean(-1)).ravel()
    assert [s.score for s in by_score] == pytest.approx(sorted(expected, reverse=True))
    with pytest.raises(UsageError, match='"chat" is not in the source text'):
        rank_heads(attn, "le", "chat")  # "chat" is a target word, not a source key
    with pytest.raises(UsageError, match='"cat" is not in the target text'):
        rank_heads(attn, "cat", "the")
    assert tokens.find_token(attn, "sleeps", keys=True) == [2, 3]


def test_stats_say_not_applicable_for_the_diagonal() -> None:
    rows = head_stats(cross())
    data = [r.to_dict() for r in rows]
    assert all(d["self"] is None and d["prev_token"] is None and d["distance"] is None for d in data)
    assert all(0 < d["entropy"] <= math.log(len(SOURCE)) + 1e-9 for d in data)
    assert json.loads(json.dumps(data)) == data  # valid JSON: null, not NaN
    special = cross().weights[..., -1].mean(-1)  # the source's </s> is its special key
    assert [d["special_mass"] for d in data] == pytest.approx(special.ravel())
    assert len(sort_stats(rows, "self")) == len(rows)


def test_rollout_refuses_cross_attention_with_one_clear_line() -> None:
    with pytest.raises(UsageError, match="use --stack encoder or --stack decoder"):
        rollout(cross())


def test_compare_panel_and_terminal_heatmap_label_keys_with_the_source() -> None:
    attn = cross()
    (panel,) = compare_panels([attn], [(1, 2)])
    assert panel.row_labels == TARGET and panel.col_labels == SOURCE
    out = io.StringIO()
    Console(width=100, file=out, color_system=None).print(terminal.Heatmap.from_attention(attn, 1, 2))
    text = out.getvalue()
    assert "chat" in text and "t  c  s  #  <" in text  # target rows; source columns, read downwards
    out = io.StringIO()
    Console(width=100, file=out, color_system=None).print(terminal.Overview(attn))
    assert "cross-attention (target queries × source keys)" in out.getvalue()
    assert "6 target × 5 source tokens" in out.getvalue()


def test_mark_generated_labels_the_generated_queries_and_says_where_generation_starts() -> None:
    attn = tokens.mark_generated(cross())
    assert attn.tokens[:3] == TARGET[:3] and all(t.startswith(tokens.GENERATED_MARK) for t in attn.tokens[3:])
    assert attn.key_tokens == SOURCE
    assert "from token 3" in attn.notes[-1]
    plain = cross(generated=False)
    assert tokens.mark_generated(plain) is plain


def test_cross_attention_round_trips_through_npz(tmp_path: Path) -> None:
    attn = cross()
    attn.save(tmp_path / "x.npz")
    back = Attention.load(tmp_path / "x.npz")
    assert back.stack == "cross" and back.key_tokens == SOURCE and back.tokens == TARGET
    assert back.generated.tolist() == attn.generated.tolist()
    np.testing.assert_array_equal(back.weights, attn.weights)
