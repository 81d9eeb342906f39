"""The hf engine when a decoder writes, and for encoder-decoders (T5, BART, Marian, …).

Generation runs through transformers' own `generate` (the model's forward and its cache, its
own generation config: forced tokens, end-of-sequence ids), with each step's attention rows
kept. `generate` never feeds the last token it picks, so one more cached forward step gives
that token's row. Encoder-decoders run the encoder once; its output is reused by the decoder
for teacher forcing (`--target`) and for generation alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnviz.errors import ModelError, UsageError
from attnviz.models.generation import GenerateOptions, assemble

# (n_layers, n_heads) of a stack -> the (layers, heads) to keep, checked against those counts
Choose = Callable[[int, int], tuple[list[int], list[int]]]


@dataclass
class StackWeights:
    """One stack's kept attention: float32 (layers, heads, query, key) and the indices it holds."""

    weights: np.ndarray
    layers: list[int]
    heads: list[int]
    n_heads: int  # the model's heads in this stack


@dataclass
class Written:
    """What a run produced: each stack's attention and the ids the model generated."""

    stacks: dict[str, StackWeights]
    new_ids: list[int]
    decoder_ids: list[int]  # encoder-decoders: every decoder input id, the start token first


def is_decoder(config: Any) -> bool:
    """A model that can continue a text: declared a decoder, or a causal-LM family that is
    not also a masked-LM (encoder) family."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", "")
    if getattr(config, "is_decoder", False):
        return True
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _generate_kwargs(options: GenerateOptions) -> dict[str, Any]:
    """Greedy or sampling as asked, one sequence (no beams whatever the model's config says)."""
    import torch

    kwargs: dict[str, Any] = {
        "max_new_tokens": options.max_new,
        "do_sample": options.sample,
        "num_beams": 1,
        "output_attentions": True,
        "return_dict_in_generate": True,
        "use_cache": True,
    }
    if options.sample:
        torch.manual_seed(options.seed)
        kwargs.update(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p)
    else:  # a config's sampling defaults would only draw warnings in greedy mode
        kwargs.update(temperature=None, top_k=None, top_p=None)
    return kwargs


def _cache_kwarg(model: Any) -> str:
    """transformers 5 names the cache argument `cache`; earlier versions `past_key_values`."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def _keep(steps: Sequence[Sequence[Any]], choose: Choose, n_keys: int | None = None) -> StackWeights:
    """Per step a tuple of layers' (1, heads, new rows, keys) tensors -> the chosen layers and
    heads as one (layers, heads, query, key) array."""
    first = steps[0]
    if not first or any(a is None for a in first):
        raise ModelError("this model returned no attention weights even with eager attention")
    n_heads = int(first[0].shape[1])
    layers, heads = choose(len(first), n_heads)
    kept = [assemble([_numpy(step[i][0, heads]) for step in steps], n_keys) for i in layers]
    return StackWeights(np.stack(kept), layers, heads, n_heads)


def decoder(model: Any, inputs: dict, options: GenerateOptions, choose: Choose) -> Written:
    """Continue the prompt; the attention of prompt + generated tokens, row by row from the cache."""
    import torch

    ids = inputs["input_ids"].to(model.device)
    mask = inputs.get("attention_mask")
    mask = torch.ones_like(ids) if mask is None else mask.to(model.device)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=mask, **_generate_kwargs(options))
        sequence = out.sequences[0]
        # the last token picked was never fed: one cached step gives its row
        last = model(
            input_ids=sequence[-1:][None],
            attention_mask=torch.ones_like(sequence)[None],
            use_cache=True,
            output_attentions=True,
            **{_cache_kwarg(model): _cache_of(out)},
        )
    steps = [*out.attentions, last.attentions]
    new = sequence[ids.shape[1] :].tolist()
    return Written({"": _keep(steps, choose)}, new, [])


def seq2seq(
    model: Any,
    inputs: dict,
    prefix: list[int],
    options: GenerateOptions | None,
    choose: Callable[[str], Choose],
) -> Written:
    """Encoder once; the decoder over `prefix` (its start token and the target's ids), then
    writing up to `options.max_new` more tokens when asked. Returns all three stacks."""
    import torch

    ids = inputs["input_ids"].to(model.device)
    mask = inputs.get("attention_mask")
    mask = torch.ones_like(ids) if mask is None else mask.to(model.device)
    decoder_ids = torch.tensor([prefix], device=model.device)
    with torch.no_grad():
        encoded = model.get_encoder()(input_ids=ids, attention_mask=mask, output_attentions=True, return_dict=True)
        encoder = _keep([encoded.attentions], choose("encoder"))
        if options is None:  # teacher forcing: the whole target at once
            out = model(
                encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder_ids, output_attentions=True
            )
            self_steps, cross_steps, sequence = [out.decoder_attentions], [out.cross_attentions], decoder_ids[0]
        else:
            out = model.generate(
                ids,
                attention_mask=mask,
                encoder_outputs=encoded,
                decoder_input_ids=decoder_ids,
                **_generate_kwargs(options),
            )
            sequence = out.sequences[0]
            last = model(
                encoder_outputs=encoded,
                attention_mask=mask,
                decoder_input_ids=sequence[-1:][None],
                use_cache=True,
                output_attentions=True,
                **{_cache_kwarg(model): _cache_of(out)},
            )
            self_steps = [*out.decoder_attentions, last.decoder_attentions]
            cross_steps = [*out.cross_attentions, last.cross_attentions]
    decoder_choice = choose("decoder")
    stacks = {
        "encoder": encoder,
        "decoder": _keep(self_steps, decoder_choice),
        "cross": _keep(cross_steps, choose("cross"), n_keys=ids.shape[1]),
    }
    full = sequence.tolist()
    return Written(stacks, full[len(prefix) :], full)


def decoder_start(model: Any) -> int:
    """The id the decoder starts from (T5: pad, BART: eos, Marian: pad)."""
    for config in (getattr(model, "generation_config", None), model.config):
        value = getattr(config, "decoder_start_token_id", None)
        if isinstance(value, int):
            return value
    raise UsageError("this encoder-decoder declares no decoder_start_token_id, so its decoder cannot be run")


def _numpy(t: Any) -> np.ndarray:
    return t.detach().float().cpu().numpy()
