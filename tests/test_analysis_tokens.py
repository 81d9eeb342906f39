"""Token transforms: hiding special tokens, merging subwords into words, finding a word."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz.analysis.tokens import (
    NOTE_HIDDEN,
    NOTE_MERGED,
    find_token,
    hide_special,
    merge_words,
    word_groups,
)
from attnviz.attention import Attention
from attnviz.errors import UsageError

# "[CLS] the comfort ##able cat sat on the mat [SEP]"
BERT_TOKENS = ["[CLS]", "The", "comfort", "##able", "cat", "sat", "on", "the", "mat", "[SEP]"]
BERT_WORD_IDS = [-1, 0, 1, 1, 2, 3, 4, 5, 6, -1]
BERT_SPECIAL = [True] + [False] * 8 + [True]


def softmax_rows(shape: tuple[int, ...], seed: int, causal: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=shape)
    if causal:
        n = shape[-1]
        logits = np.where(np.tril(np.ones((n, n), bool)), logits, -np.inf)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def make_attention(
    tokens=BERT_TOKENS,
    word_ids=BERT_WORD_IDS,
    special=BERT_SPECIAL,
    layers: int = 2,
    heads: int = 3,
    causal: bool = False,
    seed: int = 0,
) -> Attention:
    n = len(tokens)
    return Attention(
        tokens=tokens,
        weights=softmax_rows((layers, heads, n, n), seed, causal),
        layers=range(layers),
        heads=range(heads),
        special=special,
        word_ids=word_ids,
        causal=causal,
        notes=("earlier",),
    )


def message(excinfo: pytest.ExceptionInfo[UsageError]) -> str:
    return str(excinfo.value)


# hide_special


def test_hide_special_drops_special_and_renormalises() -> None:
    attn = make_attention()
    hidden = hide_special(attn)
    assert hidden.tokens == tuple(BERT_TOKENS[1:-1])
    assert not hidden.special.any()
    assert hidden.word_ids.tolist() == BERT_WORD_IDS[1:-1]
    np.testing.assert_allclose(hidden.weights.sum(-1), 1.0, atol=1e-6)
    # each kept weight is the original divided by the row's weight on non-special keys
    w = attn.weights.astype(np.float64)
    for q in range(1, 9):
        for k in range(1, 9):
            expected = w[1, 2, q, k] / sum(w[1, 2, q, j] for j in range(1, 9))
            assert hidden.weights[1, 2, q - 1, k - 1] == pytest.approx(expected, rel=1e-5)
    assert hidden.notes == ("earlier", NOTE_HIDDEN)
    assert hidden.weights.dtype == np.float32


def test_hide_special_row_with_no_remaining_weight_stays_zero() -> None:
    # a causal model with a BOS token: token 1's row puts everything on BOS
    weights = np.array([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25]]], dtype=np.float32)[None]
    attn = Attention(
        tokens=["<bos>", "a", "b"],
        weights=weights,
        layers=[0],
        heads=[0],
        special=[True, False, False],
        word_ids=[-1, 0, 1],
        causal=True,
    )
    hidden = hide_special(attn)
    assert not np.isnan(hidden.weights).any()
    np.testing.assert_array_equal(hidden.weights[0, 0], [[0.0, 0.0], [0.5, 0.5]])


def test_hide_special_without_special_tokens_is_a_no_op() -> None:
    attn = make_attention(special=[False] * 10, word_ids=list(range(10)))
    assert hide_special(attn) is attn


def test_hide_special_when_every_token_is_special() -> None:
    attn = make_attention(tokens=["[CLS]", "[SEP]"], word_ids=[-1, -1], special=[True, True])
    with pytest.raises(UsageError) as excinfo:
        hide_special(attn)
    assert message(excinfo) == "every token is special: nothing is left once they are hidden"


# merge_words


def merge_reference(weights: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Loop form: mean over the query word's pieces of the sum over the key word's pieces."""
    out = np.zeros((*weights.shape[:2], len(groups), len(groups)))
    for layer in range(weights.shape[0]):
        for head in range(weights.shape[1]):
            for a, queries in enumerate(groups):
                for b, keys in enumerate(groups):
                    total = 0.0
                    for q in queries:
                        for k in keys:
                            total += weights[layer, head, q, k]
                    out[layer, head, a, b] = total / len(queries)
    return out


def test_word_groups_follow_word_ids_and_keep_specials_alone() -> None:
    attn = make_attention()
    assert word_groups(attn) == [[0], [1], [2, 3], [4], [5], [6], [7], [8], [9]]
    # two adjacent special tokens never merge, and a repeated id after a gap starts a new word
    odd = make_attention(
        tokens=["[CLS]", "[SEP]", "a", "##b", "c", "a"],
        word_ids=[-1, -1, 0, 0, 1, 0],
        special=[True, True, False, False, False, False],
    )
    assert word_groups(odd) == [[0], [1], [2, 3], [4], [5]]


def test_merge_words_values_rows_and_text() -> None:
    attn = make_attention()
    merged = merge_words(attn)
    assert merged.tokens == (
        "[CLS]",
        "The",
        "comfortable",
        "cat",
        "sat",
        "on",
        "the",
        "mat",
        "[SEP]",
    )
    assert merged.special.tolist() == [True] + [False] * 7 + [True]
    assert merged.word_ids.tolist() == [-1, 0, 1, 2, 3, 4, 5, 6, -1]
    assert merged.notes == ("earlier", NOTE_MERGED)
    np.testing.assert_allclose(merged.weights.sum(-1), 1.0, atol=1e-6)
    w = attn.weights.astype(np.float64)
    # key side: "cat" (query 4) -> "comfortable" is the sum of the two piece columns
    assert merged.weights[1, 0, 3, 2] == pytest.approx(w[1, 0, 4, 2] + w[1, 0, 4, 3], rel=1e-6)
    # query side: "comfortable" -> "cat" is the mean of the two piece rows
    assert merged.weights[1, 0, 2, 3] == pytest.approx((w[1, 0, 2, 4] + w[1, 0, 3, 4]) / 2)
    np.testing.assert_allclose(merged.weights, merge_reference(w, word_groups(attn)), rtol=1e-5, atol=1e-7)


def test_merge_words_causal_stays_causal() -> None:
    tokens = ["Ġthe", "Ġcomfort", "able", "Ġcat", "Ġsat", "Ġdown", "stairs"]
    attn = make_attention(
        tokens=tokens,
        word_ids=[0, 1, 1, 2, 3, 4, 4],
        special=[False] * 7,
        causal=True,
        seed=3,
    )
    merged = merge_words(attn)
    assert merged.tokens == ("Ġthe", "Ġcomfortable", "Ġcat", "Ġsat", "Ġdownstairs")
    np.testing.assert_allclose(merged.weights.sum(-1), 1.0, atol=1e-6)
    # no word attends to a later word
    assert np.all(np.triu(merged.weights, k=1) == 0)
    np.testing.assert_allclose(
        merged.weights,
        merge_reference(attn.weights.astype(np.float64), word_groups(attn)),
        rtol=1e-5,
        atol=1e-7,
    )


def test_merge_words_without_pieces_is_a_no_op() -> None:
    attn = make_attention(word_ids=[-1, 0, 1, 2, 3, 4, 5, 6, 7, -1])
    assert merge_words(attn) is attn


# find_token


def test_find_token_single_and_case_insensitive() -> None:
    attn = make_attention()
    assert find_token(attn, "cat") == [4]
    assert find_token(attn, "CAT") == [4]
    assert find_token(attn, "[sep]") == [9]


def test_find_token_multi_piece_word_returns_every_piece() -> None:
    attn = make_attention()
    assert find_token(attn, "comfortable") == [2, 3]
    assert find_token(attn, "Comfortable") == [2, 3]
    # a single piece matches when no whole word does
    assert find_token(attn, "comfort") == [2]
    assert find_token(attn, "##able") == [3]
    assert find_token(attn, "able") == [3]


def test_find_token_gpt2_style_pieces() -> None:
    attn = make_attention(
        tokens=["Ġthe", "Ġcomfort", "able", "Ġcat"],
        word_ids=[0, 1, 1, 2],
        special=[False] * 4,
    )
    assert find_token(attn, "comfortable") == [1, 2]
    assert find_token(attn, "cat") == [3]


def test_find_token_occurrences() -> None:
    attn = make_attention()
    assert find_token(attn, "the#1") == [1]
    assert find_token(attn, "the#2") == [7]
    assert find_token(attn, "cat#1") == [4]


def test_find_token_ambiguous_word_lists_the_choices() -> None:
    attn = make_attention()
    with pytest.raises(UsageError) as excinfo:
        find_token(attn, "the")
    assert message(excinfo) == '"the" occurs 2 times: use the#1 or the#2'
    tokens = ["it", "and", "it", "or", "it"]
    three = make_attention(tokens=tokens, word_ids=range(5), special=[False] * 5)
    with pytest.raises(UsageError) as excinfo:
        find_token(three, "it")
    assert message(excinfo) == '"it" occurs 3 times: use it#1, it#2 or it#3'
    many = make_attention(tokens=["a"] * 6, word_ids=range(6), special=[False] * 6)
    with pytest.raises(UsageError) as excinfo:
        find_token(many, "a")
    assert message(excinfo) == '"a" occurs 6 times: use a#1 to a#6'


def test_find_token_missing_word_lists_the_words() -> None:
    attn = make_attention()
    with pytest.raises(UsageError) as excinfo:
        find_token(attn, "dog")
    assert message(excinfo) == ('"dog" is not in this text: its words are The, comfortable, cat, sat, on, mat')


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("cat#2", '"cat" occurs once: there is no cat#2'),
        ("the#3", '"the" occurs 2 times: there is no the#3'),
        ("the#0", "invalid word 'the#0': occurrences count from 1 (the#1)"),
        ("", "invalid word '': give a word from the text"),
        ("  ", "invalid word '  ': give a word from the text"),
    ],
)
def test_find_token_bad_occurrence_or_word(word: str, expected: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        find_token(make_attention(), word)
    assert message(excinfo) == expected
