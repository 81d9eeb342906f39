"""Text for the terminal and images: token labels made safe and measurable, counts, cell numbers."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len

if TYPE_CHECKING:
    from attnviz.attention import Attention

ZWJ = "\u200d"
PLACEHOLDER = "\ufffd"  # "�": stands for any character a terminal could misread
ELLIPSIS = "…"
_MAX_MARKS = 2  # combining marks kept on one base character; more is "zalgo" that spills

# Characters with a well-known visible picture.
_PICTURES = {
    "\t": "⇥",
    "\n": "↵",
    "\r": "␍",
    "\x1b": "␛",
    "\x7f": "␡",
    "\x85": "↵",
    "\u2028": "↵",
    "\u2029": "↵",
}


def _is_pictograph(ch: str) -> bool:
    return unicodedata.category(ch) == "So" and ord(ch) >= 0x2000


def _is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def safe_label(token: str) -> str:
    """`token` as text that draws as itself: controls, escapes and invisibles become visible.

    C0 controls become control pictures (ESC → "␛", tab → "⇥", newline → "↵"), C1 controls,
    format characters (bidi overrides, zero-width joiners and spaces), surrogates and
    private-use characters become "�". An emoji ZWJ sequence is shown as its parts and
    variation selectors are dropped, so that every terminal agrees with rich on the width.
    A leading combining mark is shown on "◌". The result never holds an ESC byte.
    """
    text = unicodedata.normalize("NFC", str(token))
    out: list[str] = []
    marks = 0
    for i, ch in enumerate(text):
        code = ord(ch)
        category = unicodedata.category(ch)
        if ch in _PICTURES:
            out.append(_PICTURES[ch])
        elif code < 0x20:
            out.append(chr(0x2400 + code))  # control pictures block
        elif ch == ZWJ:
            after = text[i + 1] if i + 1 < len(text) else ""
            before = next((c for c in reversed(out) if not _is_variation_selector(c)), "")
            if not (before and after and _is_pictograph(before) and _is_pictograph(after)):
                out.append(PLACEHOLDER)
            continue  # an emoji sequence shows its parts side by side
        elif _is_variation_selector(ch):
            continue
        elif category in ("Mn", "Me"):
            if not out:
                out.append("◌")
            if marks < _MAX_MARKS:
                out.append(ch)
            marks += 1
            continue
        elif category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(PLACEHOLDER)
        else:
            out.append(ch)
        marks = 0
    label = "".join(out)
    if not label:
        return "∅"
    if not label.strip(" "):
        return "␣" * len(label)
    return label


def clusters(label: str) -> list[str]:
    """Split an already-safe label into the pieces a terminal draws as one cell group."""
    pieces: list[str] = []
    for ch in label:
        if pieces and cell_len(ch) == 0:
            pieces[-1] += ch
        else:
            pieces.append(ch)
    return pieces


def fit(label: str, width: int) -> str:
    """`label` cut to at most `width` cells, ending in "…" when it had to be cut."""
    if cell_len(label) <= width:
        return label
    if width <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for piece in clusters(label):
        size = cell_len(piece)
        if used + size > width - 1:
            break
        kept.append(piece)
        used += size
    return "".join(kept) + ELLIPSIS


def pad(label: str, width: int, align: str = "left") -> str:
    """`label` fitted and padded with spaces to exactly `width` cells."""
    label = fit(label, width)
    space = width - cell_len(label)
    if align == "right":
        return " " * space + label
    if align == "center":
        left = space // 2
        return " " * left + label + " " * (space - left)
    return label + " " * space


def head_name(head: int, kv_head: int | None = None) -> str:
    """'H5', or 'H5·kv1' when query head 5 reads key/value head 1 (grouped-query attention)."""
    return f"H{head}" if kv_head is None else f"H{head}·kv{kv_head}"


def kv_legend(attn: Attention, head: int | None = None) -> tuple[str, ...] | None:
    """What '·kvG' in a head's name means, longest form first, with `head` (default: the
    last one held) as the example; None when the model does not group its heads."""
    head = (attn.heads[-1] if attn.heads else 0) if head is None else head
    group = attn.kv_head(head)
    if group is None:
        return None
    q, kv = attn.model_heads, attn.kv_heads
    example = f"{head_name(head, group)}: query head {head} reads key/value head {group}"
    return (
        f"{example} ({q} query heads share {kv} key/value heads)",
        f"{example} ({q} heads share {kv})",
        f"·kvG: key/value head G ({q} query heads share {kv})",
        "·kvG: key/value head G",
    )


def plural(count: int, noun: str) -> str:
    """`count` and `noun`, plural unless the count is one: "1 head", "12 heads"."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def format_value(value: float, digits: int = 2) -> str:
    """A cell's number with `digits` decimals and no leading zero (".64", "-.05", "1.00");
    one that rounds to zero has no sign."""
    text = f"{value:.{digits}f}"
    if text.startswith("-") and not float(text):
        text = text[1:]
    if text.startswith(("0.", "-0.")):
        return text.replace("0.", ".", 1)
    return text


def positions_of(offset: int | Sequence[int], n: int) -> tuple[int, ...]:
    """The full-text position of each of `n` tokens: `offset` onwards, or as given."""
    if isinstance(offset, int) or not hasattr(offset, "__len__"):
        return tuple(range(int(offset), int(offset) + n))
    given = tuple(int(p) for p in offset)[:n]
    start = given[-1] + 1 if given else 0
    return given + tuple(range(start, start + n - len(given)))  # labels past the given ones


def numbered_tokens(attn: Attention) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Query and key tokens for a matrix's axes. A zoomed side (positions other than 0, 1,
    2, …) leads each token with its position in the full text, as the terminal does."""

    def side(tokens: Sequence[str], positions: Sequence[int]) -> tuple[str, ...]:
        if tuple(positions) == tuple(range(len(tokens))):
            return tuple(tokens)
        return tuple(f"{p} {t}" for p, t in zip(positions, tokens, strict=True))

    keys = attn.positions if attn.is_self else range(attn.key_offset, attn.key_offset + attn.n_keys)
    return side(attn.tokens, attn.positions), side(attn.key_tokens, keys)


_STACKS = {
    "encoder": "encoder self-attention (source × source)",
    "decoder": "decoder self-attention (target × target, causal)",
    "cross": "cross-attention (target queries × source keys)",
}


def stack_title(attn: object) -> str:
    """What an encoder-decoder's map is ('cross-attention (target queries × source keys)'), or ''."""
    return _STACKS.get(str(getattr(attn, "stack", "")), "")


def measure_label(measure: str) -> str:
    """What a colour bar's numbers are: attention weights or value-weighted norms."""
    return "attention weight" if measure == "weights" else "value-norm ‖α·f(x)‖"
