"""One labelled pair (a from-word and the word it should attend to) scored on every head."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.analysis.find import Link, link
from attnviz.analysis.tokens import find_token, word_groups
from attnviz.attention import Attention
from attnviz.errors import UsageError


@dataclass(frozen=True)
class PairResult:
    """How every head treats one labelled pair."""

    hit: np.ndarray  # bool (layers, heads): the from-word's most-attended word is the to-word
    link: Link
    chance: float  # 1 / the number of candidate words


def locate(attn: Attention, source: str, target: str) -> tuple[list[int], list[int]]:
    """Token positions of the from-word and the to-word; a UsageError says why a pair is unusable."""
    src, tgt = find_token(attn, source), find_token(attn, target)
    if set(src) & set(tgt):
        raise UsageError(f'"{source}" and "{target}" are the same word')
    if attn.causal and min(tgt) > max(src):
        raise UsageError(f'"{target}" comes after "{source}": a causal model cannot attend to it')
    return src, tgt


def score_pair(attn: Attention, source: str, target: str) -> PairResult:
    """Per head: is the from-word's most-attended word the to-word? Plus the link's weight and score.

    Candidates are the non-special words other than the from-word (in a causal model, those
    that start before the from-word ends); a word's weight is find's: mean over the from-word's
    pieces of the sum over the word's pieces. Ties go to the earlier word.
    """
    src, tgt = locate(attn, source, target)
    mine, last = set(src), max(src)
    candidates = [
        g
        for g in word_groups(attn)
        if not attn.special[g[0]] and not mine & set(g) and (not attn.causal or g[0] <= last)
    ]
    wanted = [i for i, g in enumerate(candidates) if set(g) & set(tgt)]
    if not wanted:  # the to-word is special (e.g. [SEP]): no word to find
        raise UsageError(f'"{target}" is not a word the from-word can be scored against')
    member = np.zeros((attn.n_tokens, len(candidates)))  # (key, candidate word)
    for i, g in enumerate(candidates):
        member[g, i] = 1.0
    rows = attn.weights[:, :, src].astype(np.float64).mean(axis=2)  # (layers, heads, key)
    words = rows @ member  # (layers, heads, candidate word)
    best = words.argmax(axis=-1)  # the first maximum: ties go to the earlier word
    return PairResult(np.isin(best, wanted), link(attn, src, tgt), 1.0 / len(candidates))
