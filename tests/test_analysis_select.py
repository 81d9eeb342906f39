"""Selection: parsing layer/head/token specs and slicing an Attention by model indices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnviz.analysis.select import (
    format_indices,
    parse_head_pairs,
    parse_indices,
    select,
    token_range,
)
from attnviz.attention import Attention
from attnviz.errors import ExitCode, UsageError


def make_attention(n: int = 6, layers=(0, 1, 2), heads=(0, 1, 2, 3), seed: int = 0) -> Attention:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(layers), len(heads), n, n))
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    special = np.zeros(n, bool)
    special[[0, -1]] = True
    word_ids = np.where(special, -1, np.arange(n) - 1)
    return Attention(
        tokens=[f"t{i}" for i in range(n)],
        weights=weights,
        layers=layers,
        heads=heads,
        special=special,
        word_ids=word_ids,
    )


def usage_message(excinfo: pytest.ExceptionInfo[UsageError]) -> str:
    assert excinfo.value.exit_code == ExitCode.USAGE
    return str(excinfo.value)


# parse_indices: accepted forms


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("5", [5]),
        ("0,3,5", [0, 3, 5]),
        ("0-3", [0, 1, 2, 3]),
        ("0-2,5", [0, 1, 2, 5]),
        (" 1 , 4 ", [1, 4]),
        ("5,1,5,1-2", [1, 2, 5]),  # duplicates removed, sorted
        ("-1", [5]),
        ("-2--1", [4, 5]),
        ("-3-5", [3, 4, 5]),
        ("0,-1", [0, 5]),
        ("0-5", [0, 1, 2, 3, 4, 5]),
        ("3-3", [3]),
    ],
)
def test_parse_indices_accepts(spec: str, expected: list[int]) -> None:
    assert parse_indices(spec, 6, "layer") == expected


@pytest.mark.parametrize("spec", [None, "", "  ", "all", "ALL", " all "])
def test_parse_indices_all_means_none(spec: str | None) -> None:
    assert parse_indices(spec, 6, "layer") is None


# parse_indices: rejected forms, exact messages


@pytest.mark.parametrize(
    ("spec", "count", "what", "message"),
    [
        ("7", 6, "layer", "layer 7 is out of range: this model has layers 0-5"),
        ("6", 6, "layer", "layer 6 is out of range: this model has layers 0-5"),
        ("2-9", 6, "layer", "layer 9 is out of range: this model has layers 0-5"),
        ("-7", 6, "layer", "layer -7 is out of range: this model has layers 0-5"),
        ("12", 12, "head", "head 12 is out of range: this model has heads 0-11"),
        ("1", 1, "layer", "layer 1 is out of range: this model has only layer 0"),
        (
            "1-x",
            6,
            "layer",
            "invalid layer '1-x': use an index, a list (0,3), a range (0-3) or 'all' (this model has layers 0-5)",
        ),
        (
            "0,x",
            6,
            "head",
            "invalid head 'x': use an index, a list (0,3), a range (0-3) or 'all' (this model has heads 0-5)",
        ),
        (
            "0,,2",
            6,
            "layer",
            "invalid layer '0,,2': use an index, a list (0,3), a range (0-3) or 'all' (this model has layers 0-5)",
        ),
        (
            "1.5",
            6,
            "layer",
            "invalid layer '1.5': use an index, a list (0,3), a range (0-3) or 'all' (this model has layers 0-5)",
        ),
        (
            "1-2-3",
            6,
            "layer",
            "invalid layer '1-2-3': use an index, a list (0,3), a range (0-3) or 'all' (this model has layers 0-5)",
        ),
        ("3-1", 6, "layer", "invalid layer range '3-1': the start comes after the end (this model has layers 0-5)"),
        ("-1-2", 6, "layer", "invalid layer range '-1-2': the start comes after the end (this model has layers 0-5)"),
    ],
)
def test_parse_indices_rejects(spec: str, count: int, what: str, message: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        parse_indices(spec, count, what)
    assert usage_message(excinfo) == message


_PART = st.one_of(
    st.tuples(st.integers(-30, 29)),
    st.tuples(st.integers(-30, 29), st.integers(-30, 29)),
)


@given(count=st.integers(1, 30), parts=st.lists(_PART, min_size=1, max_size=6))
def test_parse_indices_matches_a_brute_force_reading(count: int, parts: list[tuple[int, ...]]) -> None:
    """A comma list of indices and ranges selects what Python's own indexing selects."""
    spec = ",".join("-".join(map(str, part)) for part in parts)
    positions = list(range(count))
    expected: set[int] = set()
    valid = True
    for part in parts:
        try:
            lo, hi = positions[part[0]], positions[part[-1]]
        except IndexError:
            valid = False
            break
        if lo > hi:
            valid = False
            break
        expected.update(positions[lo : hi + 1])
    if valid:
        assert parse_indices(spec, count, "layer") == sorted(expected)
    else:
        with pytest.raises(UsageError):
            parse_indices(spec, count, "layer")


# parse_head_pairs


def test_parse_head_pairs_keeps_order() -> None:
    assert parse_head_pairs("5.11,0.3,2.7") == [(5, 11), (0, 3), (2, 7)]
    assert parse_head_pairs(" 1.2 , 1.2, 0.0") == [(1, 2), (0, 0)]


@pytest.mark.parametrize(
    ("spec", "bad"),
    [("5-11", "5-11"), ("5.11,3", "3"), ("", ""), ("a.b", "a.b"), ("1.2.3", "1.2.3")],
)
def test_parse_head_pairs_rejects(spec: str, bad: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        parse_head_pairs(spec)
    assert usage_message(excinfo) == f"invalid head '{bad}': use LAYER.HEAD pairs, e.g. 5.11,0.3"


# select


def test_select_uses_model_indices_and_keeps_values() -> None:
    attn = make_attention(layers=(2, 4, 5), heads=(0, 1, 2, 3))
    picked = select(attn, [5, 2], [3, 1])
    assert picked.layers == (2, 5)
    assert picked.heads == (1, 3)
    for layer in (2, 5):
        for head in (1, 3):
            np.testing.assert_array_equal(picked.head(layer, head), attn.head(layer, head))
    assert picked.weights.shape == (2, 2, 6, 6)


def test_select_none_keeps_everything() -> None:
    attn = make_attention()
    assert select(attn, None, None) is attn
    only_heads = select(attn, None, [2])
    assert only_heads.layers == attn.layers and only_heads.heads == (2,)
    np.testing.assert_array_equal(only_heads.weights[:, 0], attn.weights[:, 2])


def test_select_unheld_index_lists_what_is_held() -> None:
    attn = make_attention(layers=(2, 4, 5))
    with pytest.raises(UsageError) as excinfo:
        select(attn, [3], None)
    assert usage_message(excinfo) == "layer 3 is not in this extraction: it holds layers 2,4,5"
    with pytest.raises(UsageError) as excinfo:
        select(attn, None, [7])
    assert usage_message(excinfo) == "head 7 is not in this extraction: it holds heads 0-3"
    with pytest.raises(UsageError) as excinfo:
        select(attn, [], None)
    assert usage_message(excinfo) == "no layers selected: this extraction holds layers 2,4,5"


def test_format_indices() -> None:
    assert format_indices([0, 1, 2]) == "0-2"
    assert format_indices([3]) == "3"
    assert format_indices([0, 2, 3]) == "0,2,3"
    assert format_indices([]) == "none"


# token_range


def test_token_range_zooms_both_axes_and_notes_it() -> None:
    attn = make_attention(n=8)
    zoomed = token_range(attn, "2-5")
    assert zoomed.tokens == ("t2", "t3", "t4", "t5")
    np.testing.assert_array_equal(zoomed.weights, attn.weights[:, :, 2:6, 2:6])
    np.testing.assert_array_equal(zoomed.special, attn.special[2:6])
    np.testing.assert_array_equal(zoomed.word_ids, attn.word_ids[2:6])
    assert zoomed.notes == ("tokens 2-5 of 0-7 shown: a crop, values unchanged",)
    assert zoomed.positions == (2, 3, 4, 5) and zoomed.offset == 2
    single = token_range(attn, "7")
    assert single.tokens == ("t7",)
    assert single.weights[0, 0, 0, 0] == attn.weights[0, 0, 7, 7]
    assert token_range(attn, "0-7") is attn


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2-8", "token range 2-8 is out of range: this text has tokens 0-7"),
        ("9", "token 9 is out of range: this text has tokens 0-7"),
        ("5-2", "invalid token range '5-2': the start comes after the end"),
        ("2-x", "invalid token range '2-x': use START-END, e.g. 0-7"),
        ("-1-3", "invalid token range '-1-3': use START-END, e.g. 0-7"),
        ("", "invalid token range '': use START-END, e.g. 0-7"),
    ],
)
def test_token_range_rejects(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        token_range(make_attention(n=8), spec)
    assert usage_message(excinfo) == message


def test_crop_after_hide_and_merge_keeps_values_and_real_positions() -> None:
    """Hide and merge act on the whole text; --tokens then crops by the full text's positions."""
    from attnviz.analysis.tokens import hide_special, merge_words

    attn = make_attention(n=8)
    attn = attn.replace(special=np.array([True] + [False] * 6 + [True]), word_ids=np.array([-1, 0, 1, 1, 2, 3, 3, -1]))
    hidden = hide_special(attn)
    assert hidden.positions == (1, 2, 3, 4, 5, 6)
    for spec, kept in [("0-3", [1, 2, 3]), ("1-4", [1, 2, 3, 4]), ("6-7", [6])]:
        zoomed = token_range(hidden, spec, total=8)
        assert zoomed.positions == tuple(kept)
        rows = [hidden.positions.index(p) for p in kept]
        np.testing.assert_array_equal(zoomed.weights, hidden.weights[:, :, rows][:, :, :, rows])  # never renormalised
    merged = merge_words(hidden)
    assert merged.positions == (1, 2, 4, 5)  # a word sits where its first piece does
    zoomed = token_range(merged, "2-5", total=8)
    assert zoomed.tokens == merged.tokens[1:] and zoomed.positions == (2, 4, 5)
    np.testing.assert_array_equal(zoomed.weights, merged.weights[:, :, 1:, 1:])
    with pytest.raises(UsageError, match="tokens 7-7 are all hidden special tokens"):
        token_range(hidden, "7", total=8)
