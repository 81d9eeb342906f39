"""Many short texts through the scratch engine at once.

A sentence is ~30 tokens: its matrix products are too small to run a CPU at speed. Here the
tokens of a whole batch of texts are stacked into one (tokens, d_model) matrix, so each
projection and feed-forward layer is one large product, while attention still runs inside each
text (`scratch.attention`, with its own positions and mask). The last asked layer stops once it
has its weights: its values, output projection and feed-forward layer would be thrown away.
The blocks are wired as in `scratch.Transformer.forward`; a test holds the two equal.
"""

from __future__ import annotations

import itertools

import numpy as np

from attnviz.models import scratch

PACKED = ("bert", "gpt2")  # architectures whose block is wired here as in scratch.py


def _attend(x: np.ndarray, p: dict[str, np.ndarray], n_head: int, spans: list[slice], causal: bool,
            weights_only: bool) -> tuple[np.ndarray | None, list[np.ndarray]]:  # fmt: skip
    """Multi-head attention of each text in the stack: (output (tokens, d_model) or None, weights per text)."""
    q = x @ p["wq"] + p["bq"]  # (tokens, d_model) for the whole stack
    k = x @ p["wk"] + p["bk"]
    v = None if weights_only else x @ p["wv"] + p["bv"]
    merged = None if weights_only else np.empty_like(q)
    weights = []
    for span in spans:
        n = span.stop - span.start
        mask = scratch.causal_mask(n) if causal else None
        qs, ks = scratch.split_heads(q[span], n_head), scratch.split_heads(k[span], n_head)  # (heads, n, d_k)
        if weights_only:
            scores = qs @ ks.transpose(0, 2, 1) / np.float32(np.sqrt(qs.shape[-1]))  # (heads, query, key)
            if mask is not None:
                np.copyto(scores, np.float32(-np.inf), where=~mask)
            weights.append(scratch.softmax(scores))
            continue
        assert v is not None and merged is not None
        z, w = scratch.attention(qs, ks, scratch.split_heads(v[span], n_head), mask)
        merged[span] = scratch.merge_heads(z)  # (n, d_model)
        weights.append(w)
    if merged is None:
        return None, weights
    return merged @ p["wo"] + p["bo"], weights


def forward_packed(
    model: scratch.Transformer, sequences: list[np.ndarray], layers: list[int]
) -> list[dict[int, np.ndarray]]:
    """For each token-id sequence, {layer: (heads, query, key)} of the asked layers."""
    c = model.config
    if c.arch not in PACKED:
        raise ValueError(f"no packed forward for '{c.arch}'")
    bounds = np.cumsum([0, *(len(ids) for ids in sequences)])
    spans = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    x = np.concatenate([model.embed(ids) for ids in sequences])  # (all tokens, d_model)
    kept: list[dict[int, np.ndarray]] = [{} for _ in sequences]
    last = max(layers)
    for i in range(last + 1):
        p = model.layer(i)
        final = i == last
        if c.arch == "gpt2":  # pre-norm: x + f(LN(x))
            a, weights = _attend(scratch.layer_norm(x, p["ln1_g"], p["ln1_b"], c.eps), p, c.n_head, spans, True, final)
            if not final:
                x = x + a
                h = scratch.gelu(scratch.layer_norm(x, p["ln2_g"], p["ln2_b"], c.eps) @ p["w1"] + p["b1"], c.activation)
                x = x + (h @ p["w2"] + p["b2"])
        else:  # post-norm: LN(x + f(x))
            a, weights = _attend(x, p, c.n_head, spans, False, final)
            if not final:
                x = scratch.layer_norm(x + a, p["ln1_g"], p["ln1_b"], c.eps)
                h = scratch.gelu(x @ p["w1"] + p["b1"], c.activation)
                x = scratch.layer_norm(x + h @ p["w2"] + p["b2"], p["ln2_g"], p["ln2_b"], c.eps)
        if i in layers:
            for store, w in zip(kept, weights, strict=True):
                store[i] = w
    return kept
