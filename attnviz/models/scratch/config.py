"""The engine's model description, read from config.json; what it cannot compute is refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from attnviz.errors import ModelError, UsageError
from attnviz.models.scratch.activations import ACTIVATIONS
from attnviz.models.scratch.rope import Rope

LLAMA_FAMILY = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo2", "phi3")
SUPPORTED = ("bert", "gpt2", *LLAMA_FAMILY)  # config.json model_type values this engine runs
HINT = "use --engine hf or auto"


@dataclass(frozen=True)
class Config:
    arch: str  # config.json model_type: "bert" (encoder), "gpt2" or a Llama-family decoder
    n_layer: int
    n_head: int
    d_model: int
    max_positions: int
    eps: float
    activation: str  # "gelu" (exact, erf), "gelu_new" (tanh approximation) or "silu"
    # The Llama family's pieces (defaults: what BERT and GPT-2 do)
    kv_heads: int = 0  # key/value heads (grouped-query attention); 0: one per query head
    head_dim: int = 0  # 0: d_model // n_head
    rope: Rope | None = None  # rotary positions; None: learned position embeddings
    windows: tuple[int, ...] = ()  # per layer: a sliding window of that many keys, 0 for none
    norm_offset: float = 0.0  # RMSNorm scales by (offset + w): 1 for Gemma
    embed_scale: float = 1.0  # Gemma multiplies embeddings by √d_model
    qk_norm: str = ""  # "head": RMSNorm per head (Qwen3); "proj": over the projection (OLMo2)
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    scale: float = 0.0  # scores are multiplied by this; 0: 1/√d_head
    softcap: float = 0.0  # Gemma 2: scores -> tanh(s/cap)·cap before the mask; 0: none
    logit_softcap: float = 0.0  # Gemma 2: next-token logits -> tanh(l/cap)·cap; 0: none
    layout: str = "pre"  # norms: "pre" (Llama), "sandwich" (Gemma 2), "post" (OLMo2)
    fused: bool = False  # Phi-3: one qkv_proj and one gate_up_proj

    @property
    def causal(self) -> bool:
        return self.arch != "bert"

    @property
    def d_head(self) -> int:
        return self.head_dim or self.d_model // self.n_head

    @property
    def n_kv(self) -> int:
        return self.kv_heads or self.n_head


def read_config(folder: Path) -> dict:
    try:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"'{folder}' has no config.json: not a model folder") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read '{folder / 'config.json'}': {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelError(f"'{folder / 'config.json'}' is not a JSON object")
    return raw


def refuse(arch: str, unsupported: dict[str, bool]) -> None:
    """One UsageError naming every field this engine would compute differently."""
    refused = [name for name, present in unsupported.items() if present]
    if refused:
        raise UsageError(f"the scratch engine does not support {arch} with {', '.join(refused)}", hint=HINT)


def config_from_json(raw: dict) -> Config:
    """Our config from config.json; anything this engine would compute differently is refused
    (UsageError), so that `--engine auto` falls back to transformers instead of drawing wrong numbers."""
    arch = raw.get("model_type")
    if arch not in SUPPORTED:
        raise UsageError(
            f"the scratch engine does not support model type '{arch}'",
            hint=f"it runs {', '.join(SUPPORTED)}; {HINT} for others",
        )
    if arch in LLAMA_FAMILY:
        from attnviz.models.scratch.llama_config import llama_config

        return llama_config(raw)
    if arch == "gpt2":
        act = raw.get("activation_function", "gelu_new")
        unsupported = {
            "scale_attn_weights=false": raw.get("scale_attn_weights", True) is not True,
            "scale_attn_by_inverse_layer_idx": bool(raw.get("scale_attn_by_inverse_layer_idx", False)),
            "add_cross_attention": bool(raw.get("add_cross_attention", False)),
        }
    else:
        act = raw.get("hidden_act", "gelu")
        position = raw.get("position_embedding_type", "absolute")
        unsupported = {
            f"position_embedding_type={position}": position != "absolute",
            "is_decoder (a causal BERT)": bool(raw.get("is_decoder", False)),
        }
    unsupported[f"activation '{act}'"] = ACTIVATIONS.get(act, "silu") == "silu"
    refuse(arch, unsupported)
    try:
        if arch == "gpt2":
            return Config(
                arch, raw["n_layer"], raw["n_head"], raw["n_embd"], raw["n_positions"],
                raw.get("layer_norm_epsilon", 1e-5), ACTIVATIONS[act],
            )  # fmt: skip
        return Config(
            arch, raw["num_hidden_layers"], raw["num_attention_heads"], raw["hidden_size"],
            raw["max_position_embeddings"], raw.get("layer_norm_eps", 1e-12), ACTIVATIONS[act],
        )  # fmt: skip
    except KeyError as exc:
        raise ModelError(f"config.json lacks {exc}") from None
