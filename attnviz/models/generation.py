"""What both engines share when a model writes: the options, the sampler, the new tokens'
labels, and the attention rows of each step put back together into one (query, key) map."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.errors import UsageError
from attnviz.models.tokens import SPACE, Tokens

MAX_NEW = 4096  # a typo such as --generate 1000000 is refused, not run for hours
_WORD_STARTS = ("Ġ", "▁", " ")  # byte-level BPE and SentencePiece mark a word's first piece


@dataclass(frozen=True)
class GenerateOptions:
    """`--generate N` and its sampling flags; greedy unless `sample`."""

    max_new: int
    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    seed: int = 0

    def check(self) -> GenerateOptions:
        """Bounded, meaningful values, or one clear error naming the flag."""
        if not 1 <= self.max_new <= MAX_NEW:
            raise UsageError(f"--generate must be between 1 and {MAX_NEW}, not {self.max_new}")
        if not self.temperature > 0 or not np.isfinite(self.temperature):
            raise UsageError(f"--temperature must be above 0, not {self.temperature}")
        if self.top_k < 0:
            raise UsageError(f"--top-k must be 0 (off) or more, not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1], not {self.top_p}")
        if self.seed < 0:
            raise UsageError(f"--seed must be 0 or more, not {self.seed}")
        return self

    @property
    def how(self) -> str:
        """How the tokens were chosen, for notes: 'greedy' or 'sampled (T=0.8, top-k 40, seed 1)'."""
        if not self.sample:
            return "greedy"
        parts = [f"T={self.temperature:g}"]
        parts += [f"top-k {self.top_k}"] * bool(self.top_k) + [f"top-p {self.top_p:g}"] * (self.top_p < 1)
        return f"sampled ({', '.join(parts)}, seed {self.seed})"


class Sampler:
    """Next token from a logits vector: argmax, or a seeded draw after temperature, top-k and
    top-p (nucleus) filtering, in that order (the order transformers applies them)."""

    def __init__(self, options: GenerateOptions) -> None:
        self.options = options
        self.rng = np.random.default_rng(options.seed)

    def __call__(self, logits: np.ndarray) -> int:
        o = self.options
        logits = np.asarray(logits, dtype=np.float64)
        if not o.sample:
            return int(np.argmax(logits))
        scores = logits / o.temperature
        if o.top_k and o.top_k < scores.size:
            kth = np.partition(scores, -o.top_k)[-o.top_k]
            scores = np.where(scores < kth, -np.inf, scores)
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        if o.top_p < 1:
            order = np.argsort(-probs, kind="stable")
            before = np.cumsum(probs[order]) - probs[order]  # mass of the tokens ranked above
            dropped = order[before >= o.top_p]  # the smallest set reaching top_p stays
            probs[dropped] = 0.0
            probs /= probs.sum()
        return int(self.rng.choice(probs.size, p=probs))


def stop_ids(*candidates: object) -> set[int]:
    """End-of-sequence ids from config values that may be None, an int or a list."""
    ids: set[int] = set()
    for value in candidates:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value if isinstance(v, int))
    return ids


def extend_tokens(
    tokens: Tokens, new_ids: Sequence[int], piece: Callable[[int], str], text: Callable[[int], str], special: set[int]
) -> Tokens:
    """`tokens` followed by generated ids, labelled like the prompt's: the token's text, '##'
    on a piece that continues a word (no word-start marker), special tokens by name."""
    labels, flags, words = list(tokens.labels), list(tokens.special), list(tokens.word_ids)
    word = int(max(words, default=-1))
    previous_is_word = bool(words) and words[-1] >= 0
    for token_id in new_ids:
        raw = piece(token_id)
        if token_id in special:
            labels.append(raw)
            flags.append(True)
            words.append(-1)
            previous_is_word = False
            continue
        shown = text(token_id)
        starts = raw.startswith(_WORD_STARTS) or not previous_is_word or not shown.strip() or shown[:1].isspace()
        if starts:
            word += 1
        label = shown.strip() or SPACE
        labels.append(label if starts else "##" + label)
        flags.append(False)
        words.append(word)
        previous_is_word = True
    return Tokens(
        ids=np.concatenate([tokens.ids, np.asarray(new_ids, dtype=np.int64)]),
        labels=tuple(labels),
        special=np.asarray(flags, dtype=bool),
        word_ids=np.asarray(words, dtype=np.int64),
    )


def assemble(steps: Sequence[np.ndarray], n_keys: int | None = None) -> np.ndarray:
    """One (..., query, key) map from the rows of each step: the first step holds the prompt's
    rows, each later one the new token's row over the keys cached so far. Keys a row could not
    yet see are 0, as in one causal forward; `n_keys` fixes the key axis (cross-attention)."""
    n_rows = sum(s.shape[-2] for s in steps)
    width = n_keys if n_keys is not None else max(s.shape[-1] for s in steps)
    out = np.zeros((*steps[0].shape[:-2], n_rows, width), dtype=np.float32)
    row = 0
    for s in steps:
        out[..., row : row + s.shape[-2], : s.shape[-1]] = s
        row += s.shape[-2]
    return out
