"""Choosing layers, heads and tokens: parse what the user typed, slice an `Attention`."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from attnviz.attention import Attention, format_indices
from attnviz.errors import UsageError

_INDEX = re.compile(r"-?\d+")
_RANGE = re.compile(r"(-?\d+)-(-?\d+)")
_PAIR = re.compile(r"(\d+)\.(\d+)")
_TOKEN_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def _available(count: int, what: str) -> str:
    if count <= 0:
        return f"this model has no {what}s"
    if count == 1:
        return f"this model has only {what} 0"
    return f"this model has {what}s 0-{count - 1}"


def parse_indices(spec: str | None, count: int, what: str) -> list[int] | None:
    """Parse '5', '0,3,5', '0-3', '0-2,5', '-1' (the last) or 'all'; None means all.

    The result is sorted and without duplicates; `count` is how many the model has.
    """
    if spec is None or not spec.strip() or spec.strip().lower() == "all":
        return None

    def resolve(text: str) -> int:
        index = int(text)
        resolved = index + count if index < 0 else index
        if not 0 <= resolved < count:
            raise UsageError(f"{what} {index} is out of range: {_available(count, what)}")
        return resolved

    chosen: set[int] = set()
    for raw in spec.split(","):
        part = raw.strip()
        if _INDEX.fullmatch(part):
            chosen.add(resolve(part))
        elif match := _RANGE.fullmatch(part):
            start, end = resolve(match.group(1)), resolve(match.group(2))
            if start > end:
                raise UsageError(
                    f"invalid {what} range '{part}': the start comes after the end", hint=_available(count, what)
                )
            chosen.update(range(start, end + 1))
        else:
            raise UsageError(
                f"invalid {what} '{part or spec.strip()}': use an index, a list (0,3), a range (0-3) or 'all'",
                hint=_available(count, what),
            )
    return sorted(chosen)


def parse_head_pairs(spec: str) -> list[tuple[int, int]]:
    """Parse 'LAYER.HEAD' pairs such as '5.11,0.3,2.7'; order kept, repeats dropped."""
    pairs: list[tuple[int, int]] = []
    for raw in spec.split(","):
        part = raw.strip()
        match = _PAIR.fullmatch(part)
        if not match:
            raise UsageError(f"invalid head '{part or spec.strip()}': use LAYER.HEAD pairs, e.g. 5.11,0.3")
        pair = (int(match.group(1)), int(match.group(2)))
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def _positions(held: tuple[int, ...], wanted: Sequence[int], what: str) -> list[int]:
    """Axis positions of the model indices `wanted` (sorted, unique) within `held`."""
    if not wanted:
        raise UsageError(f"no {what}s selected: this extraction holds {what}s {format_indices(held)}")
    positions = []
    for index in sorted(set(wanted)):
        if index not in held:
            raise UsageError(f"{what} {index} is not in this extraction: it holds {what}s {format_indices(held)}")
        positions.append(held.index(index))
    return positions


def select(attn: Attention, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None) -> Attention:
    """Keep only the given layers and heads, named by the model's own indices (None: all)."""
    if layers is None and heads is None:
        return attn
    weights = attn.weights  # (layers, heads, query, key)
    new_layers, new_heads = attn.layers, attn.heads
    if layers is not None:
        rows = _positions(attn.layers, layers, "layer")
        weights = weights[rows]
        new_layers = tuple(attn.layers[i] for i in rows)
    if heads is not None:
        cols = _positions(attn.heads, heads, "head")
        weights = weights[:, cols]
        new_heads = tuple(attn.heads[i] for i in cols)
    return attn.replace(weights=weights, layers=new_layers, heads=new_heads)


def parse_token_range(spec: str, total: int) -> tuple[int, int]:
    """'A-B' or 'A' as (start, end), inclusive, checked against a text of `total` tokens."""
    text = spec.strip()
    match = _TOKEN_RANGE.fullmatch(text)
    if not match:
        raise UsageError(f"invalid token range '{text}': use START-END, e.g. 0-{min(total, 8) - 1}")
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    if start > end:
        raise UsageError(f"invalid token range '{text}': the start comes after the end")
    if end >= total:
        what = "token range" if match.group(2) is not None else "token"
        raise UsageError(f"{what} {text} is out of range: this text has tokens {format_indices(range(total))}")
    return start, end


def window(attn: Attention, start: int, end: int) -> np.ndarray:
    """Indices of the tokens whose position in the full text lies in start..end."""
    positions = np.asarray(attn.positions)
    return np.flatnonzero((positions >= start) & (positions <= end))


def token_range(attn: Attention, spec: str, total: int | None = None) -> Attention:
    """Zoom into token positions A..B inclusive ('A-B' or 'A') of the full text (`total`
    tokens; default: up to the last position `attn` holds) on both axes.

    A crop never changes a value: rows keep their weights and show the share of attention
    that stays inside the window. Positions are the full text's, so after hiding special
    tokens or merging words the same A-B still names the same tokens.
    """
    total = attn.positions[-1] + 1 if total is None else total
    start, end = parse_token_range(spec, total)
    keep = window(attn, start, end)
    if keep.size == attn.n_tokens:
        return attn
    if keep.size == 0:
        raise UsageError(f"tokens {start}-{end} are all hidden special tokens: nothing is left to show")
    keys = keep if attn.is_self else slice(None)  # cross-attention: the source keys stay whole
    return attn.replace(
        tokens=[attn.tokens[i] for i in keep],
        weights=attn.weights[:, :, keep][:, :, :, keys].copy(),  # (layers, heads, window, window)
        special=attn.special[keep],
        word_ids=attn.word_ids[keep],
        generated=attn.generated[keep],
        offset=attn.positions[keep[0]],
        positions=[attn.positions[i] for i in keep],
        notes=(*attn.notes, f"tokens {start}-{end} of 0-{total - 1} shown: a crop, values unchanged"),
    )
