"""Value-weighted attention in the hf engine: hooks on the value projection, W_O read from the
output projection's weight, for the layouts known here (BERT-likes, GPT-2, Llama-likes)."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from attnviz.errors import ModelError, UsageError
from attnviz.models.hf import _StopForward, _to_numpy, attention_modules


def value_layout(model: Any, attention: Any, name: str) -> tuple[Any, Any, str]:
    """(value module, output projection module, kind) of one attention module: "linear" for
    BERT-likes and Llama-likes (nn.Linear, weight (out, in)), "conv1d" for GPT-2 (Conv1D, weight
    (in, out), the value the last third of c_attn). Other layouts: one clear error."""
    if hasattr(attention, "v_proj") and hasattr(attention, "o_proj"):  # Llama, Mistral, Qwen2 …
        return attention.v_proj, attention.o_proj, "linear"
    if hasattr(attention, "c_attn") and hasattr(attention, "c_proj"):
        return attention.c_attn, attention.c_proj, "conv1d"  # GPT-2
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else None
    dense = getattr(getattr(parent, "output", None), "dense", None)
    if hasattr(attention, "value") and dense is not None:  # BERT, RoBERTa, ELECTRA …: self.value, output.dense
        return attention.value, dense, "linear"
    raise UsageError(
        f"--measure value-norm: attnviz knows where the value and output projections are in BERT-likes, "
        f"GPT-2 and Llama-likes, and '{getattr(model.config, 'model_type', '?')}' is none of these",
        hint="use --measure weights",
    )


def value_norm_run(model: Any, inputs: dict, layers: list[int], heads: list[int]) -> dict[int, np.ndarray]:
    """Forward once; {layer: float32 (heads, query, key)} of ‖α_ij · f_h(x_j)‖ for the asked
    layers: the weights from the attention module, the values from a hook on the value
    projection, W_O from the output projection's weight."""
    import torch

    from attnviz.models.value_norm import value_norms

    found = attention_modules(model)
    config = model.config
    if found is None or len(found[0]) != config.num_hidden_layers:
        raise UsageError("--measure value-norm: this model does not declare its attention modules")
    modules, index = found
    names = {id(m): n for n, m in model.named_modules()}
    n_heads = config.num_attention_heads
    d_k = getattr(config, "head_dim", None) or config.hidden_size // n_heads
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    values: dict[int, np.ndarray] = {}
    kept: dict[int, np.ndarray] = {}
    last = max(layers)
    handles = []

    def on_value(i: int, kind: str):
        def hook(_module: Any, _args: Any, output: Any) -> None:
            v = output[0].detach().float().cpu().numpy()  # (tokens, out)
            if kind == "conv1d":
                v = v[:, 2 * n_heads * d_k :]  # c_attn: q, k, v side by side
            values[i] = v.reshape(len(v), -1, d_k).transpose(1, 0, 2)  # (kv_heads, tokens, d_k)

        return hook

    def on_attention(i: int, w_out: np.ndarray):
        def hook(_module: Any, _args: Any, output: Any) -> None:
            w = output[index] if isinstance(output, tuple) and len(output) > index else None
            if w is None or i not in values:
                raise ModelError("this model returned no attention weights even with eager attention")
            kept[i] = value_norms(_to_numpy(w[0, heads]), values.pop(i), w_out, heads)
            if i == last:
                raise _StopForward

        return hook

    for i in layers:
        v_module, o_module, kind = value_layout(model, modules[i], names[id(modules[i])])
        w = _to_numpy(o_module.weight)
        w_out = w if kind == "conv1d" else w.T  # (n_heads * d_k, d_model)
        if w_out.shape[0] != n_heads * d_k:
            raise UsageError("--measure value-norm: this model's projections do not have the expected shapes")
        handles.append(v_module.register_forward_hook(on_value(i, kind)))
        handles.append(modules[i].register_forward_hook(on_attention(i, w_out)))
    try:
        with torch.no_grad(), contextlib.suppress(_StopForward):
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    if set(kept) != set(layers):
        raise ModelError("the model's attention hooks did not fire; it returned no attention weights")
    return kept
