"""BERT: a post-norm encoder, LN(x + f(x)), learned positions, bidirectional attention."""

from __future__ import annotations

import numpy as np

from attnviz.models.scratch.activations import activate
from attnviz.models.scratch.attention import multi_head_attention
from attnviz.models.scratch.config import Config
from attnviz.models.scratch.norms import layer_norm
from attnviz.models.scratch.tensors import Tensors

# Our names -> the checkpoint's. "T" marks a torch nn.Linear weight (out, in) that we store as
# (in, out) so that every projection reads `x @ W + b`.
LAYER = {
    "wq": "attention.self.query.weight:T", "bq": "attention.self.query.bias",
    "wk": "attention.self.key.weight:T", "bk": "attention.self.key.bias",
    "wv": "attention.self.value.weight:T", "bv": "attention.self.value.bias",
    "wo": "attention.output.dense.weight:T", "bo": "attention.output.dense.bias",
    "ln1_g": "attention.output.LayerNorm.weight", "ln1_b": "attention.output.LayerNorm.bias",
    "w1": "intermediate.dense.weight:T", "b1": "intermediate.dense.bias",
    "w2": "output.dense.weight:T", "b2": "output.dense.bias",
    "ln2_g": "output.LayerNorm.weight", "ln2_b": "output.LayerNorm.bias",
}  # fmt: skip
GLOBAL = {
    "word": "embeddings.word_embeddings.weight", "pos": "embeddings.position_embeddings.weight",
    "type": "embeddings.token_type_embeddings.weight",
    "emb_ln_g": "embeddings.LayerNorm.weight", "emb_ln_b": "embeddings.LayerNorm.bias",
}  # fmt: skip
FIRST = GLOBAL["word"]
MLP = {"w1", "b1", "w2", "b2", "ln2_g", "ln2_b"}  # what a layer needs only after its attention


def read(tensors: Tensors, name: str) -> np.ndarray:
    """A tensor by table entry; ":T" ones transposed to (in, out)."""
    t = tensors.read(name.removesuffix(":T"))
    return np.ascontiguousarray(t.T) if name.endswith(":T") else t


def layer_weights(c: Config, tensors: Tensors, prefix: str, i: int, mlp: bool = True) -> dict[str, np.ndarray]:
    return {k: read(tensors, f"{prefix}encoder.layer.{i}.{v}") for k, v in LAYER.items() if mlp or k not in MLP}


def embed(c: Config, tensors: Tensors, prefix: str, ids: np.ndarray, start: int = 0) -> np.ndarray:
    pos = np.arange(start, start + len(ids))
    g = {k: prefix + v for k, v in GLOBAL.items()}
    x = tensors.rows(g["word"], ids) + tensors.rows(g["pos"], pos) + tensors.rows(g["type"], np.zeros_like(ids))
    return layer_norm(x, tensors.read(g["emb_ln_g"]), tensors.read(g["emb_ln_b"]), c.eps)


def prepare(c: Config, n: int) -> dict:
    return {"mask": None}


def block(
    c: Config, x: np.ndarray, p: dict, i: int, context: dict, rec: dict, mlp: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """post-norm: LN(x + attention(x)), then LN(x + MLP(x)); `mlp=False` stops after the
    attention (the last layer asked for: nothing reads its output)."""
    a, weights = multi_head_attention(x, p, c.n_head, context["mask"], rec)
    rec.update(wo=p["wo"], bo=p["bo"])
    x = layer_norm(x + a, p["ln1_g"], p["ln1_b"], c.eps)
    if mlp:
        h = activate(x @ p["w1"] + p["b1"], c.activation)
        x = layer_norm(x + h @ p["w2"] + p["b2"], p["ln2_g"], p["ln2_b"], c.eps)
    return x, weights
