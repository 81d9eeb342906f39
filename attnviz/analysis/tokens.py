"""Token-level transforms: hide special tokens, merge subwords into words, find a word."""

from __future__ import annotations

import re

import numpy as np

from attnviz.attention import Attention
from attnviz.errors import UsageError

NOTE_HIDDEN = "special tokens hidden, rows renormalised over the whole text"
NOTE_MERGED = "subwords merged into words"
GENERATED_MARK = "›"  # before each token the model generated, in every view

_MARKERS = ("##", "Ġ", "▁")  # WordPiece continuation, GPT-2 and SentencePiece word starts
_OCCURRENCE = re.compile(r"(.+)#(\d+)")
_MAX_LISTED = 40


def hide_special(attn: Attention) -> Attention:
    """Drop special tokens from both axes and renormalise each row to sum to 1 (value norms:
    dropped, not renormalised).

    A row whose remaining weight is 0 stays 0. Cross-attention drops each side's own.
    """
    keep = np.flatnonzero(~attn.special)
    keep_keys = keep if attn.is_self else np.flatnonzero(~attn.key_special)
    if keep.size == attn.n_queries and keep_keys.size == attn.n_keys:
        return attn
    if keep.size == 0 or keep_keys.size == 0:
        raise UsageError("every token is special: nothing is left once they are hidden")
    weights = attn.weights[:, :, keep][:, :, :, keep_keys].astype(np.float64)  # (l, h, kept, kept keys)
    if attn.measure == "weights":  # value norms stay raw: they were never a distribution
        totals = weights.sum(axis=-1, keepdims=True)
        weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    return attn.replace(
        tokens=[attn.tokens[i] for i in keep],
        weights=weights.astype(np.float32),
        special=attn.special[keep],
        word_ids=attn.word_ids[keep],
        generated=attn.generated[keep],
        positions=[attn.positions[i] for i in keep],
        notes=(*attn.notes, NOTE_HIDDEN),
        **({} if attn.is_self else _key_fields(attn, keep_keys)),
    )


def _key_fields(attn: Attention, positions: np.ndarray | list[int]) -> dict[str, object]:
    """The key side of a cross-attention map kept at `positions`."""
    return {
        "key_tokens": [attn.key_tokens[i] for i in positions],
        "key_special": attn.key_special[positions],
        "key_word_ids": attn.key_word_ids[positions],
        "key_generated": attn.key_generated[positions],
    }


def key_side(attn: Attention) -> Attention:
    """The keys as a sequence of their own (no weights): what `find_token` searches for a key."""
    if attn.is_self:
        return attn
    m = attn.n_keys
    return Attention(
        tokens=attn.key_tokens,
        weights=np.zeros((0, 0, m, m), np.float32),
        layers=(),
        heads=(),
        special=attn.key_special,
        word_ids=attn.key_word_ids,
        generated=attn.key_generated,
    )


def word_groups(attn: Attention, keys: bool = False) -> list[list[int]]:
    """Token positions of each word in order: a run of adjacent non-special tokens sharing a
    word id is one word; a special token (or one without a word id) stands alone. `keys`:
    of the key side (differs from the queries in cross-attention only)."""
    groups: list[list[int]] = []
    previous = None
    specials, word_ids = (attn.key_special, attn.key_word_ids) if keys else (attn.special, attn.word_ids)
    for position, (special, word_id) in enumerate(zip(specials.tolist(), word_ids.tolist(), strict=True)):
        current = None if special or word_id < 0 else word_id
        if current is not None and current == previous:
            groups[-1].append(position)
        else:
            groups.append([position])
        previous = current
    return groups


def join_pieces(pieces: list[str]) -> str:
    """The text of a word from its pieces: 'comfort' + '##able' -> 'comfortable'."""
    head, *rest = pieces
    return head + "".join(p[2:] if p.startswith("##") else p for p in rest)


def merge_words(attn: Attention) -> Attention:
    """Merge subword pieces back into words: sum over key pieces, mean over query pieces.

    Rows keep their sums (1 for softmax rows); special tokens stay as their own entries.
    """
    groups = word_groups(attn)
    key_groups = groups if attn.is_self else word_groups(attn, keys=True)
    if len(groups) == attn.n_queries and len(key_groups) == attn.n_keys:
        return attn
    mean_rows = _membership(groups, attn.n_queries)
    mean_rows /= mean_rows.sum(axis=1, keepdims=True)  # (word, token), rows sum to 1
    key_member = _membership(key_groups, attn.n_keys)  # (key word, key token)
    weights = attn.weights.astype(np.float64)  # (layers, heads, query, key)
    merged = mean_rows @ weights @ key_member.T  # (layers, heads, word, key word)
    firsts = [positions[0] for positions in groups]
    keys = {}
    if not attn.is_self:
        keys = _key_fields(attn, [positions[0] for positions in key_groups])
        keys["key_tokens"] = [join_pieces([attn.key_tokens[i] for i in positions]) for positions in key_groups]
    return attn.replace(
        **keys,
        tokens=[join_pieces([attn.tokens[i] for i in positions]) for positions in groups],
        weights=merged.astype(np.float32),
        special=attn.special[firsts],
        word_ids=attn.word_ids[firsts],
        generated=attn.generated[firsts],
        positions=[attn.positions[i] for i in firsts],  # a word is where its first piece is
        notes=(*attn.notes, NOTE_MERGED),
    )


def _membership(groups: list[list[int]], n: int) -> np.ndarray:
    """(word, token): 1 where a token belongs to a word."""
    member = np.zeros((len(groups), n))
    for word, positions in enumerate(groups):
        member[word, positions] = 1.0
    return member


def _bare(text: str) -> str:
    """A token or word without whitespace and piece markers, as a user would type it."""
    text = text.strip()
    for marker in _MARKERS:
        if text.startswith(marker) and len(text) > len(marker):
            return text[len(marker) :]
    return text


def _choices(name: str, count: int) -> str:
    options = [f"{name}#{i}" for i in range(1, count + 1)]
    if count > 4:
        return f"{options[0]} to {options[-1]}"
    return ", ".join(options[:-1]) + " or " + options[-1]


def find_token(attn: Attention, word: str, keys: bool = False) -> list[int]:
    """Token positions of `word` (case-insensitive): several for a word split into pieces.

    `WORD#N` picks the N-th occurrence (1-based). Whole words are matched first; a single
    piece ('comfort', '##able') is matched only when no whole word is. `keys`: among the key
    tokens (the source, in cross-attention) rather than the queries.
    """
    where = "this text" if attn.is_self else "the source text" if keys else "the target text"
    if keys:
        attn = key_side(attn)
    name, occurrence = word.strip(), None
    if match := _OCCURRENCE.fullmatch(name):
        name, occurrence = match.group(1), int(match.group(2))
        if occurrence == 0:
            raise UsageError(f"invalid word '{word}': occurrences count from 1 ({name}#1)")
    key = _bare(name).casefold()
    if not key:
        raise UsageError(f"invalid word '{word}': give a word from the text")

    groups = word_groups(attn)
    texts = [join_pieces([attn.tokens[i] for i in positions]) for positions in groups]
    matches = [g for g, text in zip(groups, texts, strict=True) if _bare(text).casefold() == key]
    if not matches:
        matches = [[i] for g in groups if len(g) > 1 for i in g if _bare(attn.tokens[i]).casefold() == key]
    if not matches:
        seen: dict[str, str] = {}
        for positions, text in zip(groups, texts, strict=True):
            if not attn.special[positions[0]]:
                seen.setdefault(_bare(text).casefold(), _bare(text))
        words = list(seen.values())
        listed = ", ".join(words[:_MAX_LISTED]) + (", …" if len(words) > _MAX_LISTED else "")
        raise UsageError(f'"{name}" is not in {where}: its words are {listed or "none"}')
    if occurrence is None:
        if len(matches) > 1:
            raise UsageError(f'"{name}" occurs {len(matches)} times: use {_choices(name, len(matches))}')
        return matches[0]
    if occurrence > len(matches):
        times = "once" if len(matches) == 1 else f"{len(matches)} times"
        raise UsageError(f'"{name}" occurs {times}: there is no {name}#{occurrence}')
    return matches[occurrence - 1]


def mark_generated(attn: Attention) -> Attention:
    """Labels for drawing: `GENERATED_MARK` before each generated token (queries and keys),
    and a note saying where the prompt ends. Analyses run on the unmarked extraction."""
    if not attn.generated.any() and not attn.key_generated.any():
        return attn

    def marked(tokens: tuple[str, ...], flags: np.ndarray) -> list[str]:
        return [GENERATED_MARK + t if flag else t for t, flag in zip(tokens, flags.tolist(), strict=True)]

    if attn.generated.any():
        start = attn.positions[int(np.argmax(attn.generated))]
        note = f"{GENERATED_MARK} = generated by the model (from token {start}; the prompt is before it)"
    else:
        note = f"{GENERATED_MARK} = generated by the model"
    keys = {} if attn.is_self else {"key_tokens": marked(attn.key_tokens, attn.key_generated)}
    return attn.replace(
        tokens=marked(attn.tokens, attn.generated), positions=attn.positions, notes=(*attn.notes, note), **keys
    )
