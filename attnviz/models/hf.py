"""The general engine: any model transformers can load, with eager attention.

Attention is captured with forward hooks on the model's own attention modules (the ones
transformers itself records `attentions` from), removed in a `finally`. Only the asked
layers' weights are kept, and the forward pass stops after the last of them.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from attnviz.errors import ModelError, UsageError
from attnviz.models import layouts
from attnviz.models.engine import stack_layers
from attnviz.models.tokens import Tokens, from_encoding, warn_truncated

DTYPES = ("float32", "float16", "bfloat16")


class _StopForward(Exception):
    """Raised from a hook once every asked layer is captured: the rest of the model is skipped."""


def load(
    folder: Path,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    device_map: str | None = None,
    trust_remote_code: bool = False,
    generate: bool = False,
) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder, eager attention, in eval mode; with its
    language-model head when it will `generate` or is an encoder-decoder."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if dtype not in DTYPES:
        raise UsageError(f"invalid --dtype '{dtype}'", hint="use " + ", ".join(DTYPES))
    try:
        torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"invalid --device '{device}'", hint="use cpu, cuda, cuda:1 …") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine", hint="use --device cpu")
    if not (folder / "config.json").is_file():
        raise ModelError(f"'{folder}' has no config.json: not a model folder")
    kwargs: dict[str, Any] = {
        "attn_implementation": "eager",  # sdpa and flash kernels never materialise the weights
        "dtype": getattr(torch, dtype),
        "trust_remote_code": trust_remote_code,
    }
    if device_map is not None:
        if importlib.util.find_spec("accelerate") is None:
            raise UsageError("--device-map needs the accelerate package", hint="pip install accelerate")
        kwargs["device_map"] = device_map
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        _check_vocabulary(tokenizer, folder)
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        if getattr(config, "is_encoder_decoder", False):
            auto: Any = AutoModelForSeq2SeqLM
        elif generate:
            from attnviz.models.hf_generate import is_decoder

            if not is_decoder(config):
                raise UsageError(
                    f"--generate needs a decoder, and '{folder.name}' ({config.model_type}) is an encoder",
                    hint="use a GPT-2 or Llama-family model, or an encoder-decoder",
                )
            auto = AutoModelForCausalLM
        else:
            auto = AutoModel
        model = auto.from_pretrained(str(folder), **kwargs)
    except (UsageError, ModelError):
        raise
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelError(
                f"model '{folder.name}' needs its own code to run, which attnviz does not run by default",
                hint="read that code first; then pass --trust-remote-code",
            ) from None
        raise ModelError(f"cannot load model '{folder}': {_first_line(exc)}") from exc
    except Exception as exc:  # transformers raises OSError, EnvironmentError, safetensors errors…
        if "Weights only load failed" in str(exc):  # torch.load(weights_only=True) met pickled code
            raise ModelError(
                f"cannot load model '{folder}': its pickled .bin weights hold more than tensors, "
                "and attnviz loads pickles in safe (weights-only) mode only",
                hint="use a model.safetensors copy from a source you trust",
            ) from None
        raise ModelError(f"cannot load model '{folder}': {_first_line(exc)}") from exc
    if device_map is None:
        try:
            model.to(device)
        except (RuntimeError, AssertionError) as exc:  # e.g. cuda:3 on a one-GPU machine
            raise ModelError(f"cannot move the model to {device}: {_first_line(exc)}") from None
    model.eval()
    return model, tokenizer


def _check_vocabulary(tokenizer: Any, folder: Path) -> None:
    """transformers builds an empty tokenizer when a folder has no vocabulary files; every word
    would then be [UNK] and the attention shown would be meaningless."""
    try:
        words = set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens)
    except Exception:  # a tokenizer that cannot list its vocabulary: nothing to check
        return
    if not words:
        raise ModelError(
            f"'{folder}' has no usable tokenizer: its vocabulary holds only special tokens",
            hint="the folder needs tokenizer.json or the model's own vocabulary files",
        )


# Models whose position ids start after the padding id (fairseq's convention): of
# max_position_embeddings = 514, only 512 positions are usable.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
                     "roberta-prelayernorm", "ibert", "mpnet"}  # fmt: skip
# (BART and mBART also offset positions, by 2, but their tables have 2 extra rows for it.)


def max_positions(model: Any, tokenizer: Any) -> int:
    """How many tokens the model can take: its position table, the tokenizer's own limit."""
    config = model.config
    limits = []
    for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
                value -= (getattr(config, "pad_token_id", None) or 0) + 1
            limits.append(value)
            break
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < 1_000_000:
        limits.append(declared)
    return min(limits) if limits else 1024


def head_counts(config: Any) -> tuple[int, int]:
    """(query heads, key/value heads) from a config; 0 key/value heads when it does not say.
    Families name the key/value count differently; multi-query models share one."""
    heads = getattr(config, "num_attention_heads", 0)
    kv = getattr(config, "num_key_value_heads", None)
    multi_query = getattr(config, "multi_query", False)
    if kv is None and hasattr(config, "num_kv_heads"):  # Falcon: 7B is multi-query, 40B/180B grouped
        kv = 1 if multi_query and not getattr(config, "new_decoder_architecture", False) else config.num_kv_heads
    if kv is None and multi_query:
        kv = 1
    valid = isinstance(heads, int) and isinstance(kv, int) and 0 < kv <= heads and heads % kv == 0
    return (heads, kv) if valid else (heads if isinstance(heads, int) else 0, 0)


def tokenize(
    tokenizer: Any, text: str, limit: int, user_limit: bool = False, *, target: bool = False
) -> tuple[dict, Tokens]:
    """Model inputs plus the same display labels the scratch engine makes; `target` tokenises
    an encoder-decoder's decoder text (some models use a second vocabulary for it)."""

    def call(**options: Any) -> Any:
        return tokenizer(text_target=text, **options) if target else tokenizer(text, **options)

    total = len(call()["input_ids"])
    inputs = call(return_tensors="pt", truncation=total > limit, max_length=limit)
    if total > limit:
        warn_truncated(total, inputs["input_ids"].shape[1], limit, user_limit)
    if inputs["input_ids"].shape[1] == 0:
        raise UsageError("the text gives no tokens for this model")
    if getattr(inputs, "encodings", None):
        return inputs, replace(from_encoding(inputs.encodings[0], text), inputs=inputs)
    ids = inputs["input_ids"][0].tolist()  # a slow tokenizer: no offsets or word ids
    special = np.isin(ids, tokenizer.all_special_ids)
    return inputs, Tokens(
        ids=np.asarray(ids),
        labels=tuple(tokenizer.convert_ids_to_tokens(ids)),
        special=special,
        word_ids=np.where(special, -1, np.arange(len(ids))),
        inputs=inputs,
    )


def attention_modules(model: Any) -> tuple[list[Any], int] | None:
    """The modules transformers records `attentions` from, in layer order, and the index of
    the weights in their output tuple; None if the model does not declare them."""
    specs = (getattr(type(model), "_can_record_outputs", None) or {}).get("attentions")
    specs = [s for s in (specs if isinstance(specs, list) else [specs]) if s is not None]
    if not specs or len({getattr(s, "index", 1) for s in specs}) != 1:
        return None
    found = []
    for name, module in model.named_modules():
        if any(_records(spec, name, module) for spec in specs):  # BigBird: full or block-sparse, per layer
            found.append(module)
    return found, getattr(specs[0], "index", 1)


def _records(spec: Any, name: str, module: Any) -> bool:
    """Whether `module` (named `name`) is one that `spec` records attention weights from."""
    target = getattr(spec, "target_class", spec if isinstance(spec, type) else None)
    class_name = getattr(spec, "class_name", spec if isinstance(spec, str) else None)
    layer_name = getattr(spec, "layer_name", None)
    if not ((target is not None and isinstance(module, target)) or (class_name and name.endswith(class_name))):
        return False
    return layer_name is None or f".{layer_name.strip('.')}." in name + "."


def run(
    model: Any,
    inputs: dict,
    layers: list[int],
    heads: list[int],
) -> dict[int, np.ndarray]:
    """Forward once; return {layer: float32 (heads, query, key)} over the text's tokens, for the
    asked layers only, whatever layout the model returns them in (see layouts.py)."""
    n_layers = model.config.num_hidden_layers
    n = int(inputs["input_ids"].shape[1])
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    # Twice at most: a model may swap its attention modules during the forward (BigBird turns
    # block-sparse attention into full attention for short texts), leaving the hooks unfired.
    for _ in range(2):
        found = attention_modules(model)
        if found is None or len(found[0]) != n_layers:
            return _run_all(model, inputs, layers, heads, n)
        kept = _hooked(model, inputs, found, layers, heads)
        if set(kept) == set(layers):
            return {i: layouts.full_matrix(w, n, i) for i, w in kept.items()}
        if attention_modules(model) == found:
            break
    raise ModelError("the model's attention hooks did not fire; it returned no attention weights")


def _run_all(model: Any, inputs: dict, layers: list[int], heads: list[int], n: int) -> dict[int, np.ndarray]:
    """No declared attention modules (older transformers, custom code): ask for all of them."""
    out = _forward(model, inputs, output_attentions=True)
    attentions = getattr(out, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise ModelError("this model returned no attention weights even with eager attention")
    band = hasattr(model.config, "attention_window")  # Longformer: each query's band of neighbours
    rows = getattr(out, "global_attentions", None)
    marked = inputs.get("global_attention_mask")
    positions = [] if marked is None else marked[0].nonzero().flatten().tolist()
    return {
        i: layouts.full_matrix(
            _to_numpy(attentions[i][0, heads]), n, i, band=band,
            global_rows=_to_numpy(rows[i][0, heads]) if rows else None, global_positions=positions,
        )
        for i in layers
    }  # fmt: skip


def _hooked(model: Any, inputs: dict, found: tuple[list[Any], int], layers: list[int], heads: list[int]) -> dict:
    """{layer: weights as the module returned them} from hooks on the declared modules."""
    modules, index = found
    kept: dict[int, np.ndarray] = {}
    last = max(layers)

    def capture(i: int):
        def hook(_module: Any, _args: Any, output: Any) -> None:
            weights = output[index] if isinstance(output, tuple) and len(output) > index else None
            if weights is None:
                raise ModelError("this model returned no attention weights even with eager attention")
            kept[i] = _to_numpy(weights[0, heads])  # (heads, query, key)
            if i == last:
                raise _StopForward

        return hook

    handles = [modules[i].register_forward_hook(capture(i)) for i in layers]
    try:
        with contextlib.suppress(_StopForward):
            _forward(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return kept


def _forward(model: Any, inputs: dict, **options: Any) -> Any:
    """The model on `inputs`; its own failure on this input (an assert or a shape it cannot
    take) becomes one clear error instead of a traceback."""
    import torch

    try:
        with torch.no_grad():
            return model(**inputs, **options)
    except (AssertionError, ValueError, RuntimeError, IndexError) as exc:
        raise ModelError(f"the model failed on this text: {_first_line(exc)}") from exc


class HfEngine:
    """A transformers model and its tokenizer behind the common interface (models/engine.py)."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        config = model.config
        self.n_layers = config.num_hidden_layers
        self.n_heads = config.num_attention_heads
        self.kv_heads = head_counts(config)[1] or self.n_heads  # multi-query families name it differently
        self.causal: bool | None = True if getattr(config, "is_decoder", False) else None

    @classmethod
    def load(cls, folder: Path, **options: Any) -> HfEngine:
        return cls(*load(folder, **options))

    def tokenize(self, text: str, max_tokens: int | None) -> Tokens:
        limit = max_positions(self.model, self.tokenizer)
        by_user = max_tokens is not None and max_tokens <= limit
        return tokenize(self.tokenizer, text, min(limit, max_tokens or limit), by_user)[1]

    def attention(self, tokens: Tokens, layers: list[int], heads: list[int]) -> np.ndarray:
        kept = run(self.model, tokens.inputs, layers, heads)
        return stack_layers(kept, layers, list(range(len(heads))), len(heads))

    def value_norm(self, tokens: Tokens, layers: list[int], heads: list[int]) -> np.ndarray:
        from attnviz.models.hf_value_norm import value_norm_run

        kept = value_norm_run(self.model, tokens.inputs, layers, heads)
        return stack_layers(kept, layers, list(range(len(heads))), len(heads))


def _to_numpy(t: Any) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
