"""A from-scratch transformer in numpy, written to be read; no torch anywhere on this path.

The heart of it is `attention` (attention.py), the formula from "Attention Is All You Need":

    Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k) · V

Around it, one small module per idea:

- attention.py   the formula, and the multi-head split and merge
- masks.py       causal and sliding-window masks
- rope.py        rotary position embeddings and their scaling types
- gqa.py         grouped-query attention: key/value heads shared by groups of query heads
- norms.py       LayerNorm and RMSNorm
- activations.py GELU (exact and tanh), SiLU
- weights.py     the safetensors reader: shards, float16/bfloat16 without torch, one tensor at a time
- config.py      config.json to `Config`, refusing what this engine would compute differently
- bert.py, gpt2.py, llama.py   how each family's block wires those pieces
- kvcache.py     the key/value cache: a decoder writes one token per step over it
- model.py       the layer loop (a plain pass, or one cached step), the loader, the seeded toy model
- generate.py    writing: the prompt once, then one sampled or greedy token per cached step
- engine.py      the engine interface `run.py` talks to
"""

from attnviz.models.scratch.activations import erf, gelu
from attnviz.models.scratch.attention import attention, merge_heads, multi_head_attention, softmax, split_heads
from attnviz.models.scratch.config import SUPPORTED, Config, config_from_json, read_config
from attnviz.models.scratch.masks import causal_mask, sliding_window_mask
from attnviz.models.scratch.model import RANDOM_VOCAB, Transformer, load, random_model
from attnviz.models.scratch.norms import layer_norm, rms_norm

__all__ = [
    "RANDOM_VOCAB", "SUPPORTED", "Config", "Transformer", "attention", "causal_mask", "config_from_json",
    "erf", "gelu", "layer_norm", "load", "merge_heads", "multi_head_attention", "random_model",
    "read_config", "rms_norm", "sliding_window_mask", "softmax", "split_heads",
]  # fmt: skip
