"""Text to token ids and display labels, the same way for both engines."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnviz.errors import AttnvizWarning, ModelError, UsageError

SPACE = "␣"  # a token that is only whitespace (byte-level BPE's lone "Ġ")


@dataclass(frozen=True)
class Tokens:
    ids: np.ndarray  # int64 (tokens,)
    labels: tuple[str, ...]  # what a person reads: the text span, "##" on word continuations
    special: np.ndarray  # bool (tokens,)
    word_ids: np.ndarray  # int64 (tokens,), -1 for special tokens
    inputs: Any = field(default=None, compare=False, repr=False)  # the engine's own form (hf: tensors)


def check_text(text: str) -> str:
    """Reject input no model can use, with a message that says why."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("the text is empty", hint="give a sentence, --file PATH, or - for stdin")
    if "\x00" in text:
        raise UsageError("the text contains NUL bytes: is it a binary file?")
    bad = next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:  # undecodable argv bytes arrive as lone surrogates (PEP 383)
        code = ord(text[bad])
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"a lone surrogate U+{code:04X}"
        raise UsageError(f"the text is not valid UTF-8 ({what} at character {bad})")
    return text


def from_encoding(enc: Any, text: str) -> Tokens:
    """Labels from a `tokenizers.Encoding`: the original text of each token (so case and
    non-ASCII survive byte-level BPE), "##" on pieces that continue a word."""
    labels, word_ids = [], []
    previous = None
    for token, (start, end), is_special, word in zip(
        enc.tokens, enc.offsets, enc.special_tokens_mask, enc.word_ids, strict=True
    ):
        if is_special or word is None:
            labels.append(token)
            word_ids.append(-1)
            previous = None
            continue
        span = text[start:end].strip() or (SPACE if not token.strip(" Ġ▁\t\n") else token)
        labels.append("##" + span if word == previous else span)
        word_ids.append(word)
        previous = word
    return Tokens(
        ids=np.asarray(enc.ids, dtype=np.int64),
        labels=tuple(labels),
        special=np.asarray(enc.special_tokens_mask, dtype=bool),
        word_ids=np.asarray(word_ids, dtype=np.int64),
    )


def warn_truncated(total: int, kept: int, limit: int, user_limit: bool = False) -> None:
    """Say how much truncation dropped and whose limit it was (the model's, or --max-tokens);
    refuse a limit below what the model's special tokens need."""
    if kept > limit:
        raise UsageError(f"--max-tokens {limit} leaves no room for the text beside this model's special tokens")
    dropped = total - kept
    last = f"the last {dropped} {'token was' if dropped == 1 else 'tokens were'} dropped"
    if user_limit:
        message = f"--max-tokens {limit} kept {kept} of the input's {total} tokens (special tokens included): {last}"
    else:
        message = f"the input has {total} tokens; the model takes {limit}: {last}"
    warnings.warn(message, AttnvizWarning, stacklevel=3)


def load_tokenizer(folder: Path) -> Any:
    """tokenizer.json through the `tokenizers` library, padding and truncation off."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"'{folder}' has no tokenizer.json", hint="the scratch engine needs one; try --engine hf")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception
        raise ModelError(f"cannot read '{path}': {exc}") from exc
    tokenizer.no_padding()  # the packaged MiniLM pads every input to 128
    tokenizer.no_truncation()
    return tokenizer


def encode(tokenizer: Any, text: str, limit: int, user_limit: bool = False) -> Tokens:
    """Tokenise with the model's own special tokens; truncate past `limit` with a warning."""
    enc = tokenizer.encode(text)
    total = len(enc.ids)
    if total > limit:
        tokenizer.enable_truncation(max_length=limit)
        try:
            enc = tokenizer.encode(text)
        finally:
            tokenizer.no_truncation()
        warn_truncated(total, len(enc.ids), limit, user_limit)
    if not enc.ids:
        raise UsageError("the text gives no tokens for this model")
    return from_encoding(enc, text)


def encode_words(text: str, vocab: int, limit: int, user_limit: bool = False) -> Tokens:
    """For the random toy model: [CLS] words [SEP], each word hashed into the vocabulary."""
    import zlib

    from tokenizers.pre_tokenizers import BertPreTokenizer

    words = [w for w, _ in BertPreTokenizer().pre_tokenize_str(text)]
    if len(words) + 2 > limit:
        kept = max(limit, 3)  # [CLS], one word, [SEP] at the least
        warn_truncated(len(words) + 2, kept, limit, user_limit)
        words = words[: kept - 2]
    ids = [1] + [2 + zlib.crc32(w.lower().encode()) % (vocab - 2) for w in words] + [0]
    n = len(ids)
    special = np.zeros(n, dtype=bool)
    special[[0, -1]] = True
    return Tokens(
        ids=np.asarray(ids, dtype=np.int64),
        labels=("[CLS]", *words, "[SEP]"),
        special=special,
        word_ids=np.asarray([-1, *range(len(words)), -1], dtype=np.int64),
    )
