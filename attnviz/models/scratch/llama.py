"""The Llama family: pre-norm causal decoders with RoPE, RMSNorm, grouped key/value heads and
a gated MLP. Mistral, Qwen2/3, Gemma/Gemma 2, OLMo2 and Phi-3 are the same block with a few
pieces swapped, each a field of `Config` (read in llama_config.py):

    Llama    x + attn(norm(x)),  x + mlp(norm(x)),  mlp = down(act(gate(x)) · up(x))
    Mistral  a sliding window on every layer
    Qwen2    q/k/v biases; sliding windows on layers ≥ max_window_layers
    Qwen3    RMSNorm on each head's q and k before RoPE
    Gemma    RMSNorm x·(1+w), embeddings × √d_model, GELU (tanh)
    Gemma 2  + norms after attention and MLP too, soft-capped scores, query_pre_attn_scalar,
             sliding windows on alternating layers
    OLMo2    norms only after attention and MLP; RMSNorm over the whole q and k projections
    Phi-3    fused qkv_proj and gate_up_proj; partial rotary dimensions
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from attnviz.models.scratch.activations import activate
from attnviz.models.scratch.attention import attention, merge_heads, split_heads
from attnviz.models.scratch.config import Config
from attnviz.models.scratch.gqa import repeat_kv
from attnviz.models.scratch.kvcache import Extend, layer_cache, step_causal_mask
from attnviz.models.scratch.masks import causal_mask, sliding_window_mask
from attnviz.models.scratch.norms import rms_norm
from attnviz.models.scratch.rope import apply_rope, cos_sin
from attnviz.models.scratch.softcap import softcapped_attention
from attnviz.models.scratch.tensors import Tensors

FIRST = "embed_tokens.weight"

# Our names -> the checkpoint's, under "layers.{i}.". Weights stay in torch's (out, in) layout:
# `x @ w.T` reads them without a transposed copy (an 8B model's layer is 0.9 GB in float32).
_ATTENTION = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj"}
_MLP = {"gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
_NORMS = {
    "pre": {"norm_attn_in": "input_layernorm", "norm_mlp_in": "post_attention_layernorm"},
    "sandwich": {"norm_attn_in": "input_layernorm", "norm_attn_out": "post_attention_layernorm",
                 "norm_mlp_in": "pre_feedforward_layernorm", "norm_mlp_out": "post_feedforward_layernorm"},
    "post": {"norm_attn_out": "post_attention_layernorm", "norm_mlp_out": "post_feedforward_layernorm"},
}  # fmt: skip


def layer_weights(c: Config, tensors: Tensors, prefix: str, i: int, mlp: bool = True) -> dict[str, np.ndarray]:
    """Layer i's tensors under our short names ("q", "q_b", "gate", "norm_attn_in" …); with
    `mlp=False`, only what its attention needs (an 8B model's MLP is 80% of a layer)."""
    base = f"{prefix}layers.{i}."
    p: dict[str, np.ndarray] = {}
    if c.fused:  # Phi-3: q, k, v stacked in one projection, gate and up in another
        qkv = tensors.read(base + "self_attn.qkv_proj.weight")
        nq, nkv = c.n_head * c.d_head, c.n_kv * c.d_head
        p["q"], p["k"], p["v"] = qkv[:nq], qkv[nq : nq + nkv], qkv[nq + nkv :]
        p["o"] = tensors.read(base + "self_attn.o_proj.weight")
        if mlp:
            p["gate_up"] = tensors.read(base + "mlp.gate_up_proj.weight")
            p["down"] = tensors.read(base + "mlp.down_proj.weight")
    else:
        for ours, theirs in _ATTENTION.items():
            p[ours] = tensors.read(f"{base}{theirs}.weight")
            if (c.qkv_bias and ours != "o") or (c.o_bias and ours == "o"):
                p[ours + "_b"] = tensors.read(f"{base}{theirs}.bias")
        for ours, theirs in _MLP.items() if mlp else ():
            p[ours] = tensors.read(f"{base}{theirs}.weight")
            if c.mlp_bias:
                p[ours + "_b"] = tensors.read(f"{base}{theirs}.bias")
    if c.qk_norm:
        p["q_norm"] = tensors.read(base + "self_attn.q_norm.weight")
        p["k_norm"] = tensors.read(base + "self_attn.k_norm.weight")
    for ours, theirs in _NORMS[c.layout].items():
        if mlp or ours in ("norm_attn_in", "norm_attn_out"):
            p[ours] = tensors.read(f"{base}{theirs}.weight")
    return p


def embed(c: Config, tensors: Tensors, prefix: str, ids: np.ndarray, start: int = 0) -> np.ndarray:
    x = tensors.rows(prefix + FIRST, ids)  # (tokens, d_model); no position table: RoPE turns q and k
    if c.embed_scale != 1.0:
        x = x * np.float32(c.embed_scale)
    return x


def prepare(c: Config, n: int, start: int = 0) -> dict:
    """RoPE angles and the masks (one per window size) for n tokens from position `start`
    (after `start` cached ones: the masks then span every key, cached and new)."""
    assert c.rope is not None
    cos, sin = cos_sin(c.rope, np.arange(start, start + n))
    windows = set(c.windows) or {0}
    if start:
        masks = {w: step_causal_mask(start, n, w) for w in windows}
    else:
        masks = {w: sliding_window_mask(n, w) if w and w < n else causal_mask(n) for w in windows}
    return {"cos": cos, "sin": sin, "masks": masks}


def _linear(x: np.ndarray, p: dict, name: str) -> np.ndarray:
    """x · Wᵀ (+ b), computed as (W · xᵀ)ᵀ: the same sums, but OpenBLAS runs the big weight
    matrix as its left operand 15–35% faster (measured on the 8B shapes)."""
    y = np.ascontiguousarray((p[name] @ x.T).T)
    return y + p[name + "_b"] if name + "_b" in p else y


def self_attention(
    c: Config, x: np.ndarray, p: dict, mask: np.ndarray, context: dict, rec: dict, cache: Extend | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Project, normalise, rotate, share key/value heads, attend, merge. Returns (out, weights).
    With a key/value `cache`, x holds the new tokens only; the cache keeps the rotated keys."""
    q, k, v = _linear(x, p, "q"), _linear(x, p, "k"), _linear(x, p, "v")  # (tokens, heads · d_head)
    if c.qk_norm == "proj":  # OLMo2: over all heads at once
        q, k = rms_norm(q, p["q_norm"], c.eps), rms_norm(k, p["k_norm"], c.eps)
    q = split_heads(q, c.n_head)  # (heads, tokens, d_head)
    k, v = split_heads(k, c.n_kv), split_heads(v, c.n_kv)  # (kv_heads, tokens, d_head)
    if c.qk_norm == "head":  # Qwen3: each head's vectors
        q, k = rms_norm(q, p["q_norm"], c.eps), rms_norm(k, p["k_norm"], c.eps)
    q = apply_rope(q, context["cos"], context["sin"])
    k = apply_rope(k, context["cos"], context["sin"])
    if cache is not None:
        k, v = cache(k, v)  # (kv_heads, cached + new tokens, d_head)
    k, v = repeat_kv(k, c.n_head), repeat_kv(v, c.n_head)  # (heads, tokens, d_head)
    if c.scale:  # a scale other than 1/√d_head (Gemma 2): folded into q, so the formula stays
        q = q * np.float32(c.scale * math.sqrt(c.d_head))
    if c.softcap:
        z, weights = softcapped_attention(q, k, v, mask, c.softcap)
    else:
        z, weights = attention(q, k, v, mask)  # (heads, tokens, d_head), (heads, query, key)
    merged = merge_heads(z)  # (tokens, heads · d_head)
    out = _linear(merged, p, "o")  # (tokens, d_model)
    rec.update(x=x, q=q, k=k, v=v, z=z, merged=merged, out=out, pattern=weights, mask=mask, wo=p["o"].T)
    if c.softcap:
        rec["softcap"] = np.float32(c.softcap)
    return out, weights


def feed_forward(c: Config, x: np.ndarray, p: dict) -> np.ndarray:
    """down(act(gate(x)) · up(x))."""
    if c.fused:
        gate, up = np.split(_linear(x, p, "gate_up"), 2, axis=-1)
    else:
        gate, up = _linear(x, p, "gate"), _linear(x, p, "up")
    return _linear(activate(gate, c.activation) * up, p, "down")


def block(
    c: Config, x: np.ndarray, p: dict, i: int, context: dict, rec: dict, mlp: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One decoder layer, its norms where the family puts them; `mlp=False` stops after
    the attention (the last layer asked for: nothing reads its output)."""
    mask = context["masks"][c.windows[i] if c.windows else 0]

    def norm(h: np.ndarray, name: str) -> np.ndarray:
        return rms_norm(h, p[name], c.eps, c.norm_offset) if name in p else h

    a, weights = self_attention(c, norm(x, "norm_attn_in"), p, mask, context, rec, layer_cache(context, i))
    x = x + norm(a, "norm_attn_out")
    if mlp:
        x = x + norm(feed_forward(c, norm(x, "norm_mlp_in"), p), "norm_mlp_out")
    return x, weights


def lm_head(c: Config, tensors: Tensors, prefix: str) -> Callable[[np.ndarray], np.ndarray]:
    """(d_model,) final hidden state -> (vocab,) logits: the final RMSNorm, then lm_head (or the
    token embedding, when the checkpoint ties them and stores it once), then Gemma 2's
    soft cap on the logits (which changes sampling, never the greedy choice). Read once, here."""
    norm = tensors.read(prefix + "norm.weight")
    tied = "lm_head.weight" not in tensors.names()
    head = tensors.read(prefix + FIRST if tied else "lm_head.weight")  # (vocab, d_model)
    cap = np.float32(c.logit_softcap)

    def logits(x: np.ndarray) -> np.ndarray:
        y = rms_norm(x, norm, c.eps, c.norm_offset) @ head.T
        return np.tanh(y / cap) * cap if cap else y

    return logits
