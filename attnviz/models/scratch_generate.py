"""The scratch engine's side of `run.extract_all` when a decoder writes: tokens and labels in,
`Attention` over prompt + generated tokens out (the loop itself: scratch/generate.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnviz.errors import UsageError
from attnviz.models.generation import GenerateOptions, extend_tokens, stop_ids
from attnviz.models.scratch.engine import ScratchEngine, blas_threads_for
from attnviz.models.scratch.generate import generate
from attnviz.models.tokens import Tokens


def write(
    engine: ScratchEngine, tokens: Tokens, options: GenerateOptions, config: dict, layers: list[int], heads: list[int]
) -> tuple[Tokens, int, np.ndarray, str]:
    """(prompt + generated tokens, how many were generated, the kept layers' attention over
    them, the generated text)."""
    model, tokenizer = engine.model, engine.tokenizer
    if tokenizer is None or not model.config.causal:
        what = "the random model" if tokenizer is None else f"this {model.config.arch} model"
        raise UsageError(
            f"--generate needs a decoder, and {what} is an encoder",
            hint="use a GPT-2-family model, or any decoder with --engine hf",
        )
    limit = model.config.max_positions
    if len(tokens.ids) + options.max_new > limit:
        raise UsageError(
            f"the text ({len(tokens.ids)} tokens) and --generate {options.max_new} need "
            f"{len(tokens.ids) + options.max_new} positions; the model has {limit}",
            hint=f"use --generate {max(1, limit - len(tokens.ids))} or a shorter text",
        )
    special = {i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
    model.keep_layers()  # every step reads every layer: read each from the file once
    with blas_threads_for(1):  # a step multiplies one row: one thread is fastest
        new, weights = generate(model, tokens.ids, options, stop_ids(config.get("eos_token_id")), layers, heads)
    piece = tokenizer.id_to_token
    every = extend_tokens(tokens, new, lambda i: piece(i) or "", lambda i: tokenizer.decode([i], False), special)
    return every, len(new), weights, tokenizer.decode(new, skip_special_tokens=True)


def extract(
    engine: ScratchEngine,
    tokens: Tokens,
    text: str,
    name: str,
    layers: list[int],
    heads: list[int],
    options: GenerateOptions,
    config: dict,
) -> Any:
    """`run.Extraction` of prompt + generated tokens on the scratch engine."""
    from attnviz.models.run import Extraction, assemble

    every, n_new, weights, written = write(engine, tokens, options, config, layers, heads)
    attn = assemble(
        engine, every, weights, layers, heads, name, text + written,
        generated=generated_flags(len(every.ids), n_new), notes=(note(n_new, options),),
    )  # fmt: skip
    return Extraction((attn,), written)


def generated_flags(n: int, n_new: int) -> np.ndarray:
    """bool (n,): the last `n_new` tokens were generated."""
    flags = np.zeros(n, bool)
    flags[n - n_new :] = n_new > 0
    return flags


def note(n_new: int, options: GenerateOptions) -> str:
    """'8 generated tokens (greedy)', for the legends."""
    return f"{n_new} generated {'token' if n_new == 1 else 'tokens'} ({options.how})"
