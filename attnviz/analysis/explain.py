"""One head's attention, step by step, with the model's real numbers (scratch engine)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from attnviz.errors import UsageError


@dataclass(frozen=True)
class Explanation:
    """Every intermediate of softmax(Q·Kᵀ/√d_k)·V for one head and one query token."""

    model: str
    tokens: tuple[str, ...]
    layer: int
    head: int
    n_heads: int
    d_model: int
    query: int  # the chosen token's position
    causal: bool
    q: np.ndarray  # (tokens, d_k): this head's queries
    k: np.ndarray  # (tokens, d_k)
    v: np.ndarray  # (tokens, d_k)
    scores: np.ndarray  # (tokens,): q[query] · k[j]
    scaled: np.ndarray  # (tokens,): scores / √d_k
    mask: np.ndarray | None  # bool (tokens,): which keys the query may see; None when not causal
    weights: np.ndarray  # (tokens,): softmax of the (masked) scaled scores
    output: np.ndarray  # (d_k,): weights · V
    merged_shape: tuple[int, int]  # (tokens, d_model) after the heads are concatenated
    softcap: float = 0.0  # Gemma 2: scaled scores -> tanh(s/cap)·cap before the mask; 0: none
    capped: np.ndarray | None = None  # (tokens,): the soft-capped scores, when softcap
    window: int = 0  # a sliding window: the query sees only its last `window` keys; 0: none
    score_matrix: np.ndarray | None = None  # (tokens, tokens): Q·Kᵀ of this head, every query
    pattern: np.ndarray | None = None  # (tokens, tokens): the model's own weights of this head
    worked: int = 0  # the key whose dot product with the query is written out term by term

    @property
    def terms(self) -> np.ndarray:
        """(d_k,): q[query]_i · k[worked]_i, whose sum is scores[worked]."""
        return self.q[self.query].astype(np.float64) * self.k[self.worked].astype(np.float64)

    @property
    def d_k(self) -> int:
        return self.q.shape[1]

    @property
    def sqrt_d_k(self) -> float:
        return math.sqrt(self.d_k)

    def to_dict(self) -> dict[str, object]:
        """Every step's arrays, JSON-ready."""
        return {
            "model": self.model,
            "tokens": list(self.tokens),
            "layer": self.layer,
            "head": self.head,
            "query": self.query,
            "query_token": self.tokens[self.query],
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "d_k": self.d_k,
            "causal": self.causal,
            "q": self.q.tolist(),
            "k": self.k.tolist(),
            "v": self.v.tolist(),
            "scores": self.scores.tolist(),
            "scaled": self.scaled.tolist(),
            "mask": None if self.mask is None else self.mask.tolist(),
            "weights": self.weights.tolist(),
            "output": self.output.tolist(),
            "merged_shape": list(self.merged_shape),
            "softcap": self.softcap or None,
            "capped": None if self.capped is None else self.capped.tolist(),
            "window": self.window or None,
            "score_matrix": None if self.score_matrix is None else self.score_matrix.tolist(),
            "worked_key": self.worked,
            "terms": self.terms.tolist(),
        }


def explain(
    record: dict[str, np.ndarray],
    *,
    model: str,
    tokens: tuple[str, ...],
    layer: int,
    head: int,
    query: int,
    causal: bool,
) -> Explanation:
    """Recompute the chosen row from the recorded Q, K, V, step by step, in float64."""
    n_heads = record["q"].shape[0]
    if not 0 <= head < n_heads:
        raise UsageError(f"head {head} is out of range: this model has heads 0-{n_heads - 1}")
    q, k, v = (record[name][head] for name in ("q", "k", "v"))  # (tokens, d_k) each
    d_k = q.shape[1]
    scores = k.astype(np.float64) @ q[query].astype(np.float64)  # (tokens,)
    scaled = scores / math.sqrt(d_k)
    cap = float(record["softcap"]) if "softcap" in record else 0.0
    capped = np.tanh(scaled / cap) * cap if cap else None
    if "mask" in record:  # the mask the model used: causal, or a sliding window
        mask = np.asarray(record["mask"][query], dtype=bool)
    else:
        mask = np.arange(len(tokens)) <= query if causal else None
    window = int(mask.sum()) if mask is not None and mask.sum() < query + 1 else 0  # fewer keys than causal
    final = scaled if capped is None else capped
    masked = final if mask is None else np.where(mask, final, -np.inf)
    e = np.exp(masked - masked.max())
    weights = e / e.sum()
    pattern = record["pattern"][head] if "pattern" in record else None
    return Explanation(
        model=model, tokens=tokens, layer=layer, head=head, n_heads=n_heads,
        d_model=record["x"].shape[1], query=query, causal=causal,
        q=q, k=k, v=v, scores=scores, scaled=scaled, mask=mask, weights=weights,
        output=weights @ v.astype(np.float64), merged_shape=tuple(record["merged"].shape),
        softcap=cap, capped=capped, window=window,
        score_matrix=q.astype(np.float64) @ k.astype(np.float64).T, pattern=pattern, worked=int(np.argmax(weights)),
    )  # fmt: skip
