"""Many short texts through the scratch engine at once.

A sentence is ~30 tokens: its matrix products are too small to run a CPU at speed. Here the
tokens of a whole batch of texts are stacked into one (tokens, d_model) matrix, so each
projection and feed-forward layer is one large product, while attention still runs inside each
text (the formula of `scratch.attention`, with each text's own positions and mask). The texts are
stacked shortest first, so that texts of equal length sit side by side and attend as one
(texts, heads, n, n) stack rather than one text at a time. The last asked layer stops once it
has its weights: its values, output projection and feed-forward layer would be thrown away.
The blocks are wired as in `scratch.Transformer.forward`, with the same operations in the same
order (bias and residual added in place); a test holds the two equal.
"""

from __future__ import annotations

import math

import numpy as np

from attnviz.models import scratch

PACKED = ("bert", "gpt2")  # architectures whose block is wired here as in scratch.py


class Workspace:
    """The arrays a packed forward writes its activations into, kept from one group of texts
    to the next (grown to the largest): new arrays for every layer of every group made the
    kernel fault in and zero fresh pages, 0.4 s of system time per 1,000 sentences. What the
    forward returns (the attention weights) is never in here."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A (rows, cols) float32 array, its contents left from before."""
        array = self._arrays.get(name)
        if array is None or array.shape[0] < rows or array.shape[1] != cols:
            array = self._arrays[name] = np.empty((rows, cols), np.float32)
        return array[:rows]


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """x·W + b into `out`, the bias added in place."""
    np.matmul(x, w, out=out)
    out += b
    return out


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """`scratch.layer_norm` in place on x: the same operations in the same order."""
    mean = x.mean(axis=-1, keepdims=True)
    x -= mean
    var = np.square(x).mean(axis=-1, keepdims=True)
    x /= np.sqrt(var + np.float32(eps))
    x *= g
    x += b
    return x


def _heads(x: np.ndarray, texts: int, n: int, n_head: int) -> np.ndarray:
    """(texts·n, d_model) rows of equal-length texts -> (texts, heads, n, d_k), a view."""
    return x.reshape(texts, n, n_head, x.shape[-1] // n_head).transpose(0, 2, 1, 3)


def _attend(
    x: np.ndarray, p: dict[str, np.ndarray], n_head: int, runs: list[tuple[int, int, int]], causal: bool,
    weights_only: bool, ws: Workspace, out: np.ndarray,
) -> tuple[np.ndarray | None, list[np.ndarray]]:  # fmt: skip
    """Multi-head attention of each text in the stack: (output (tokens, d_model) in `out` or
    None, the weights (texts, heads, n, n) of each run of equal-length texts)."""
    shape = x.shape
    q = _linear(x, p["wq"], p["bq"], ws.get("q", *shape))  # (tokens, d_model) for the whole stack
    k = _linear(x, p["wk"], p["bk"], ws.get("k", *shape))
    v = None if weights_only else _linear(x, p["wv"], p["bv"], ws.get("v", *shape))
    merged = None if weights_only else ws.get("merged", *shape)
    weights = []
    for start, texts, n in runs:
        rows = slice(start, start + texts * n)
        qs, ks = _heads(q[rows], texts, n, n_head), _heads(k[rows], texts, n, n_head)  # (texts, heads, n, d_k)
        scores = qs @ ks.swapaxes(-1, -2)  # (texts, heads, query, key)
        scores /= np.float32(math.sqrt(qs.shape[-1]))
        if causal:
            np.copyto(scores, np.float32(-np.inf), where=~scratch.causal_mask(n))
        w = scratch.softmax(scores)
        weights.append(w)
        if v is not None and merged is not None:
            z = w @ _heads(v[rows], texts, n, n_head)  # (texts, heads, n, d_k)
            merged[rows] = z.transpose(0, 2, 1, 3).reshape(texts * n, -1)  # heads merged: (texts·n, d_model)
    if merged is None:
        return None, weights
    return _linear(merged, p["wo"], p["bo"], out), weights


def _runs(lengths: list[int]) -> list[tuple[int, int, int]]:
    """(first row, texts, length) of each run of equal lengths in a sorted list of lengths."""
    runs: list[tuple[int, int, int]] = []
    row = 0
    for n in lengths:
        if runs and runs[-1][2] == n:
            start, texts, _ = runs[-1]
            runs[-1] = (start, texts + 1, n)
        else:
            runs.append((row, 1, n))
        row += n
    return runs


def forward_packed(
    model: scratch.Transformer, sequences: list[np.ndarray], layers: list[int], workspace: Workspace | None = None
) -> list[dict[int, np.ndarray]]:
    """For each token-id sequence, {layer: (heads, query, key)} of the asked layers. A
    `workspace` kept from call to call saves allocating the activations again."""
    c = model.config
    if c.arch not in PACKED:
        raise ValueError(f"no packed forward for '{c.arch}'")
    ws = workspace or Workspace()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))  # equal lengths side by side
    runs = _runs([len(sequences[i]) for i in order])
    tokens, d = sum(len(ids) for ids in sequences), c.d_model
    x = np.concatenate([model.embed(sequences[i]) for i in order], out=ws.get("x0", tokens, d))
    free = [ws.get("x1", tokens, d), ws.get("x2", tokens, d)]  # the two (tokens, d_model) arrays x is not in
    kept: list[dict[int, np.ndarray]] = [{} for _ in sequences]
    last = max(layers)
    for i in range(last + 1):
        p = model.layer(i)
        final = i == last
        hidden = None if final else ws.get("h", tokens, p["w1"].shape[1])
        if c.arch == "gpt2":  # pre-norm: x + f(LN(x))
            normed = _layer_norm(_copy(x, free[0]), p["ln1_g"], p["ln1_b"], c.eps)
            a, weights = _attend(normed, p, c.n_head, runs, True, final, ws, free[1])
            if a is not None and hidden is not None:
                x += a
                normed = _layer_norm(_copy(x, free[0]), p["ln2_g"], p["ln2_b"], c.eps)
                h = scratch.gelu(_linear(normed, p["w1"], p["b1"], hidden), c.activation, out=hidden)
                x += _linear(h, p["w2"], p["b2"], free[1])
        else:  # post-norm: LN(x + f(x))
            a, weights = _attend(x, p, c.n_head, runs, False, final, ws, free[0])
            if a is not None and hidden is not None:
                a += x
                x, free = _layer_norm(a, p["ln1_g"], p["ln1_b"], c.eps), [x, free[1]]
                h = scratch.gelu(_linear(x, p["w1"], p["b1"], hidden), c.activation, out=hidden)
                y = np.matmul(h, p["w2"], out=free[0])
                y += x  # x + h·W2 + b2, in that order, as bert.py adds them
                y += p["b2"]
                x, free = _layer_norm(y, p["ln2_g"], p["ln2_b"], c.eps), [x, free[1]]
        if i in layers:
            text = 0
            for w in weights:
                for one in w:  # (heads, n, n), a view of its run's stack
                    kept[order[text]][i] = one
                    text += 1
    return kept


def _copy(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.copyto(out, x)
    return out
