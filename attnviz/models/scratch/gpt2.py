"""GPT-2: a pre-norm causal decoder, x + f(LN(x)), learned positions, fused q/k/v (Conv1D)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from attnviz.models.scratch.activations import activate
from attnviz.models.scratch.attention import multi_head_attention
from attnviz.models.scratch.config import Config
from attnviz.models.scratch.kvcache import layer_cache, step_causal_mask
from attnviz.models.scratch.masks import causal_mask
from attnviz.models.scratch.norms import layer_norm
from attnviz.models.scratch.tensors import Tensors

LAYER = {  # GPT-2 uses Conv1D, already (in, out); c_attn holds q, k, v side by side
    "qkv_w": "attn.c_attn.weight", "qkv_b": "attn.c_attn.bias",
    "wo": "attn.c_proj.weight", "bo": "attn.c_proj.bias",
    "ln1_g": "ln_1.weight", "ln1_b": "ln_1.bias", "ln2_g": "ln_2.weight", "ln2_b": "ln_2.bias",
    "w1": "mlp.c_fc.weight", "b1": "mlp.c_fc.bias", "w2": "mlp.c_proj.weight", "b2": "mlp.c_proj.bias",
}  # fmt: skip
FIRST = "wte.weight"
MLP = {"ln2_g", "ln2_b", "w1", "b1", "w2", "b2"}  # what a layer needs only after its attention


def layer_weights(c: Config, tensors: Tensors, prefix: str, i: int, mlp: bool = True) -> dict[str, np.ndarray]:
    p = {k: tensors.read(f"{prefix}h.{i}.{v}") for k, v in LAYER.items() if mlp or k not in MLP}
    d = p["wo"].shape[0]
    p["wq"], p["wk"], p["wv"] = np.split(p.pop("qkv_w"), [d, 2 * d], axis=1)  # (d, d) each
    p["bq"], p["bk"], p["bv"] = np.split(p.pop("qkv_b"), [d, 2 * d])
    return p


def embed(c: Config, tensors: Tensors, prefix: str, ids: np.ndarray, start: int = 0) -> np.ndarray:
    pos = np.arange(start, start + len(ids))
    return tensors.rows(prefix + "wte.weight", ids) + tensors.rows(prefix + "wpe.weight", pos)  # (tokens, d_model)


def prepare(c: Config, n: int, start: int = 0) -> dict:
    """The mask of `n` tokens at positions start.. (after `start` cached ones)."""
    return {"mask": causal_mask(n) if start == 0 else step_causal_mask(start, n)}


def block(
    c: Config, x: np.ndarray, p: dict, i: int, context: dict, rec: dict, mlp: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """pre-norm: x + attention(LN(x)), then x + MLP(LN(x)); `mlp=False` stops after the
    attention (the last layer asked for: nothing reads its output)."""
    h = layer_norm(x, p["ln1_g"], p["ln1_b"], c.eps)
    a, weights = multi_head_attention(h, p, c.n_head, context["mask"], rec, layer_cache(context, i))
    rec.update(wo=p["wo"], bo=p["bo"])
    x = x + a
    if not mlp:
        return x, weights
    h = activate(layer_norm(x, p["ln2_g"], p["ln2_b"], c.eps) @ p["w1"] + p["b1"], c.activation)
    return x + (h @ p["w2"] + p["b2"]), weights


def lm_head(c: Config, tensors: Tensors, prefix: str) -> Callable[[np.ndarray], np.ndarray]:
    """(d_model,) final hidden state -> (vocab,) logits: the last LayerNorm, then the token
    embedding read backwards (GPT-2 ties the two). Weights are read once, here."""
    g, b = tensors.read(prefix + "ln_f.weight"), tensors.read(prefix + "ln_f.bias")
    unembed = tensors.read(prefix + "wte.weight")  # (vocab, d_model)
    return lambda x: layer_norm(x, g, b, c.eps) @ unembed.T
