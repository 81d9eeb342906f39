"""The hf engine's side of `run.extract_all`: text in, the stacks' `Attention` out."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.models import hf, hf_generate
from attnviz.models.generation import GenerateOptions, extend_tokens, stop_ids
from attnviz.models.resolve import ModelSource
from attnviz.models.run import Extraction, Selection, _attention, attention_of, indices
from attnviz.models.scratch_generate import generated_flags, note
from attnviz.models.tokens import Tokens


def extract(
    text: str,
    source: ModelSource,
    layers: Selection,
    heads: Selection,
    max_tokens: int | None,
    generate: GenerateOptions | None,
    target: str | None,
    measure: str = "weights",
    **load_options: Any,
) -> Extraction:
    """Load the model (with its head when it will write), then read, continue or translate."""
    assert source.path is not None
    model, tokenizer = hf.load(source.path, generate=generate is not None, **load_options)
    config = model.config
    limit = hf.max_positions(model, tokenizer)
    if getattr(config, "is_encoder_decoder", False):
        if measure != "weights":
            raise UsageError("--measure value-norm: encoder-decoders are not supported", hint="use --measure weights")
        return _seq2seq(model, tokenizer, text, source.name, layers, heads, max_tokens, limit, generate, target)
    if target is not None:
        raise UsageError(
            f"--target gives an encoder-decoder's decoder text, and '{source.name}' is not an encoder-decoder",
            hint="to let a decoder continue the text, use --generate N",
        )
    if generate is None:
        engine = hf.HfEngine(model, tokenizer)
        return Extraction((attention_of(engine, text, source.name, layers, heads, max_tokens, measure),))
    layer_ids = indices(layers, config.num_hidden_layers, "layer")
    head_ids = indices(heads, config.num_attention_heads, "head")
    model_heads, kv_heads = hf.head_counts(config)
    grouping = {"model_heads": model_heads, "kv_heads": kv_heads}
    by_user = max_tokens is not None and max_tokens <= limit
    inputs, tokens = hf.tokenize(tokenizer, text, min(limit, max_tokens or limit), by_user)
    _check_room(len(tokens.ids), generate.max_new, limit)
    written = hf_generate.decoder(model, inputs, generate, lambda _layers, _heads: (layer_ids, head_ids))
    kept = written.stacks[""]
    tokens = _extend(tokenizer, tokens, written.new_ids)
    continuation = tokenizer.decode(written.new_ids, skip_special_tokens=True)
    attn = _attention(
        tokens, kept.weights, layer_ids, head_ids, True, source.name, "hf", text + continuation,
        generated=_generated(tokens, len(written.new_ids)), notes=(_note(written.new_ids, generate),), **grouping,
    )  # fmt: skip
    return Extraction((attn,), continuation)


def _seq2seq(
    model: Any,
    tokenizer: Any,
    text: str,
    name: str,
    layers: Selection,
    heads: Selection,
    max_tokens: int | None,
    limit: int,
    generate: GenerateOptions | None,
    target: str | None,
) -> Extraction:
    """Encoder, decoder and cross-attention of an encoder-decoder, the decoder fed `target`
    (teacher forcing) and/or writing `generate.max_new` tokens."""
    if target is None and generate is None:
        raise UsageError(
            f"'{name}' is an encoder-decoder: its decoder needs a text",
            hint="give one with --target TEXT, or let it write with --generate N",
        )
    inputs, source = hf.tokenize(tokenizer, text, min(limit, max_tokens or limit), max_tokens is not None)
    start = hf_generate.decoder_start(model)
    ends = stop_ids(model.config.eos_token_id, getattr(model.generation_config, "eos_token_id", None))
    prefix = Tokens(
        ids=np.asarray([start]),
        labels=(_piece(tokenizer, start),),
        special=np.ones(1, bool),
        word_ids=np.full(1, -1),
    )
    if target is not None:
        _, wanted = hf.tokenize(tokenizer, target, limit - 1, target=True)
        if generate is not None:  # the decoder continues the target, so the target does not end it
            while len(wanted.ids) and int(wanted.ids[-1]) in ends:
                wanted = Tokens(wanted.ids[:-1], wanted.labels[:-1], wanted.special[:-1], wanted.word_ids[:-1])
        prefix = Tokens(
            ids=np.concatenate([prefix.ids, wanted.ids]),
            labels=prefix.labels + wanted.labels,
            special=np.concatenate([prefix.special, wanted.special]),
            word_ids=np.concatenate([prefix.word_ids, wanted.word_ids]),
        )
    if generate is not None:
        _check_room(len(prefix.ids), generate.max_new, limit)

    def choose(stack: str) -> hf_generate.Choose:
        return lambda n_layers, n_heads: (indices(layers, n_layers, "layer"), indices(heads, n_heads, "head"))

    written = hf_generate.seq2seq(model, inputs, prefix.ids.tolist(), generate, choose)
    decoded = _extend(tokenizer, prefix, written.new_ids)
    generated = _generated(decoded, len(written.new_ids))
    decoder_text = tokenizer.decode(written.decoder_ids, skip_special_tokens=True) if generate else (target or "")
    notes = (_note(written.new_ids, generate),) if generate else ()
    common = {"model": name, "engine": "hf", "source_text": text}
    encoder = written.stacks["encoder"]
    stacks = (
        Attention(
            tokens=source.labels, weights=encoder.weights, layers=encoder.layers, heads=encoder.heads,
            special=source.special, word_ids=source.word_ids, text=text, stack="encoder",
            model_heads=encoder.n_heads, **common,
        ),
        Attention(
            tokens=decoded.labels, weights=written.stacks["decoder"].weights, layers=written.stacks["decoder"].layers,
            heads=written.stacks["decoder"].heads, special=decoded.special, word_ids=decoded.word_ids,
            causal=True, text=decoder_text, stack="decoder", generated=generated, notes=notes,
            model_heads=written.stacks["decoder"].n_heads, **common,
        ),
        Attention(
            tokens=decoded.labels, weights=written.stacks["cross"].weights, layers=written.stacks["cross"].layers,
            heads=written.stacks["cross"].heads, special=decoded.special, word_ids=decoded.word_ids,
            text=decoder_text, stack="cross", generated=generated, notes=notes,
            key_tokens=source.labels, key_special=source.special, key_word_ids=source.word_ids,
            model_heads=written.stacks["cross"].n_heads, **common,
        ),
    )  # fmt: skip
    return Extraction(stacks, decoder_text if generate else None)


def _check_room(prompt: int, new: int, limit: int) -> None:
    if prompt + new > limit:
        raise UsageError(
            f"the text ({prompt} tokens) and --generate {new} need {prompt + new} positions; the model has {limit}",
            hint=f"use --generate {max(1, limit - prompt)} or a shorter text",
        )


def _piece(tokenizer: Any, token_id: int) -> str:
    return str(tokenizer.convert_ids_to_tokens(int(token_id)))


def _extend(tokenizer: Any, tokens: Tokens, new_ids: list[int]) -> Tokens:
    special = set(getattr(tokenizer, "all_special_ids", ()))
    return extend_tokens(tokens, new_ids, lambda i: _piece(tokenizer, i), lambda i: tokenizer.decode([i]), special)


def _generated(tokens: Tokens, n_new: int) -> np.ndarray:
    return generated_flags(len(tokens.ids), n_new)


def _note(new_ids: list[int], options: GenerateOptions) -> str:
    return note(len(new_ids), options)
