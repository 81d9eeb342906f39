"""config.json of a Llama-family model to `Config`, with transformers' defaults and semantics.

Every field the scratch engine would compute differently from transformers is refused by
name, so that `--engine auto` runs such a model on the hf engine instead.
"""

from __future__ import annotations

import math
from typing import Any

from attnviz.errors import ModelError
from attnviz.models.scratch.activations import ACTIVATIONS
from attnviz.models.scratch.config import Config, refuse
from attnviz.models.scratch.rope import KINDS, Rope

# transformers' defaults for fields a config.json may leave out (configuration_<family>.py)
_HEAD_DIM = {"qwen3": 128, "gemma": 256, "gemma2": 256}
_EPS = {"olmo2": 1e-5, "phi3": 1e-5}
_WINDOW = {"mistral": 4096, "qwen2": 4096, "qwen3": 4096, "gemma2": 4096}


def llama_config(raw: dict) -> Config:
    arch = str(raw["model_type"])
    try:
        d_model, n_head = int(raw["hidden_size"]), int(raw["num_attention_heads"])
        n_layer = int(raw["num_hidden_layers"])
    except KeyError as exc:
        raise ModelError(f"config.json lacks {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ModelError(f"config.json has a malformed size: {exc}") from None
    kv = int(raw.get("num_key_value_heads") or n_head)
    head_dim = int(raw.get("head_dim") or _HEAD_DIM.get(arch) or d_model // n_head)
    max_positions = int(raw.get("max_position_embeddings", 2048))
    act = raw.get(
        "hidden_activation" if arch == "gemma2" else "hidden_act", "gelu_pytorch_tanh" if "gemma" in arch else "silu"
    )
    if arch == "gemma" and act == "gelu":  # transformers reads Gemma's legacy "gelu" as the tanh GELU
        act = "gelu_pytorch_tanh"
    rope, rope_refused = _rope(raw, arch, head_dim, max_positions)
    windows, window_refused = _windows(raw, arch, n_layer)
    softcap = raw.get("attn_logit_softcapping") if arch == "gemma2" else None
    logit_softcap = raw.get("final_logit_softcapping") if arch == "gemma2" else None
    unsupported = {
        f"activation '{act}'": act not in ACTIVATIONS,
        f"{n_head} heads over {kv} key/value heads (not a whole number each)": kv <= 0 or n_head % kv != 0,
        "use_bidirectional_attention": bool(raw.get("use_bidirectional_attention")),
        f"pretraining_tp={raw.get('pretraining_tp')}": arch == "llama" and (raw.get("pretraining_tp") or 1) != 1,
        **rope_refused,
        **window_refused,
    }
    refuse(arch, unsupported)
    attention_bias = bool(raw.get("attention_bias", False))
    return Config(
        arch=arch, n_layer=n_layer, n_head=n_head, d_model=d_model, max_positions=max_positions,
        eps=float(raw.get("rms_norm_eps", _EPS.get(arch, 1e-6))), activation=ACTIVATIONS[act],
        kv_heads=kv, head_dim=head_dim, rope=rope, windows=windows,
        norm_offset=1.0 if arch in ("gemma", "gemma2") else 0.0,
        embed_scale=math.sqrt(d_model) if arch in ("gemma", "gemma2") else 1.0,
        qk_norm={"qwen3": "head", "olmo2": "proj"}.get(arch, ""),
        qkv_bias=arch == "qwen2" or (attention_bias and arch not in ("mistral", "phi3")),
        o_bias=attention_bias and arch not in ("mistral", "phi3", "qwen2"),
        mlp_bias=arch == "llama" and bool(raw.get("mlp_bias", False)),
        scale=float(raw.get("query_pre_attn_scalar", 256)) ** -0.5 if arch == "gemma2" else 0.0,
        softcap=float(softcap) if softcap else 0.0,
        logit_softcap=float(logit_softcap) if logit_softcap else 0.0,
        layout={"gemma2": "sandwich", "olmo2": "post"}.get(arch, "pre"),
        fused=arch == "phi3",
    )  # fmt: skip


def _rope(raw: dict, arch: str, head_dim: int, max_positions: int) -> tuple[Rope, dict[str, bool]]:
    """RoPE from `rope_parameters` (transformers 5) or `rope_scaling` + `rope_theta` (older)."""
    params: dict[str, Any] = dict(raw.get("rope_parameters") or raw.get("rope_scaling") or {})
    if any(isinstance(value, dict) for value in params.values()):  # one set per layer type
        return Rope(head_dim), {"rope_parameters per layer type": True}
    kind = str(params.get("rope_type", params.get("type", "default")))
    theta = float(params.get("rope_theta", raw.get("rope_theta", 10000.0)))
    partial = float(params.get("partial_rotary_factor", raw.get("partial_rotary_factor", 1.0)) or 1.0)
    dim = int(head_dim * partial)
    original = params.get("original_max_position_embeddings")
    if arch == "phi3" and raw.get("original_max_position_embeddings") is not None:
        original = raw["original_max_position_embeddings"]  # Phi-3 keeps it beside the parameters, and it wins
    refused = {
        f"RoPE scaling '{kind}'": kind not in KINDS or (arch == "phi3" and kind != "default"),
        # transformers ignores partial_rotary_factor in these families' default RoPE, and their
        # rotation does not leave dimensions out: only Phi-3 rotates part of each head
        f"partial_rotary_factor={partial:g}": partial != 1.0 and arch != "phi3",
        "an odd number of rotary dimensions": dim % 2 == 1,
    }
    factor = params.get("factor")
    if kind in ("linear", "dynamic", "llama3") and not isinstance(factor, int | float):
        refused[f"RoPE '{kind}' without a factor"] = True
    if kind == "yarn" and factor is None and original:
        factor = max_positions / original
    attention_factor = params.get("attention_factor")
    if kind == "yarn":
        mscale, mscale_all = params.get("mscale"), params.get("mscale_all_dim")
        if attention_factor is None and mscale and mscale_all:
            refused["yarn mscale and mscale_all_dim"] = True  # DeepSeek's variant
    rope = Rope(
        dim=dim, theta=theta, kind=kind, factor=float(factor or 1.0), max_positions=max_positions,
        original_max=int(original or max_positions),
        low_freq_factor=float(params.get("low_freq_factor", 1.0)),
        high_freq_factor=float(params.get("high_freq_factor", 4.0)),
        attention_factor=None if attention_factor is None else float(attention_factor),
        beta_fast=float(params.get("beta_fast") or 32), beta_slow=float(params.get("beta_slow") or 1),
        truncate=bool(params.get("truncate", True)),
    )  # fmt: skip
    return rope, refused


def _windows(raw: dict, arch: str, n_layer: int) -> tuple[tuple[int, ...], dict[str, bool]]:
    """Each layer's sliding window (0: none), as transformers decides it per family."""
    window = raw.get("sliding_window", _WINDOW.get(arch))
    if arch in ("qwen2", "qwen3") and not raw.get("use_sliding_window", False):
        window = None  # their config drops the window unless use_sliding_window
    if arch in ("mistral", "phi3"):  # one window for every layer
        return (int(window),) * n_layer if window else (), {}
    if arch not in ("qwen2", "qwen3", "gemma2"):
        return (), {}
    types = raw.get("layer_types")
    if types is None:
        if arch == "gemma2":
            types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(n_layer)]
        else:
            first = int(raw.get("max_window_layers", 28))
            types = [
                "sliding_attention" if window is not None and i >= first else "full_attention" for i in range(n_layer)
            ]
    unknown = sorted(set(types) - {"sliding_attention", "full_attention"})
    refused = {
        f"layer_types {', '.join(map(str, unknown))}": bool(unknown),
        f"{len(types)} layer_types for {n_layer} layers": len(types) != n_layer,
        "sliding layers without a sliding_window": "sliding_attention" in types and not window,
    }
    if any(refused.values()):
        return (), refused
    return tuple(int(window) if t == "sliding_attention" else 0 for t in types), {}
