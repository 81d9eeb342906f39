"""One entry point for both engines: text in, `Attention` out.

This module picks an engine (models/engine.py: load, tokenize, attention for the asked layers)
and assembles the `Attention`; what a model computes lives in the engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.models import scratch, value_norm
from attnviz.models.engine import Engine, looks_causal
from attnviz.models.generation import GenerateOptions
from attnviz.models.resolve import ModelSource, hub_folder, resolve
from attnviz.models.scratch.engine import ScratchEngine
from attnviz.models.scratch.weights import INDEX, SINGLE
from attnviz.models.tokens import Tokens, check_text

ENGINES = ("auto", "scratch", "hf")
STACKS = ("encoder", "decoder", "cross")  # an encoder-decoder's three kinds of attention
RANDOM_MAX = {"layers": 12, "heads": 16, "dim": 768}  # BERT-base sized: attention of 1024 tokens < 1 GB

Selection = str | Sequence[int] | None


@dataclass(frozen=True)
class RandomOptions:
    layers: int = 4
    heads: int = 4
    dim: int = 64
    seed: int = 0

    def check(self) -> None:
        """Sizes a toy model can have: bounded, so that a typo cannot exhaust memory."""
        for flag, value, most in (
            ("--random-layers", self.layers, RANDOM_MAX["layers"]),
            ("--random-heads", self.heads, RANDOM_MAX["heads"]),
            ("--random-dim", self.dim, RANDOM_MAX["dim"]),
        ):
            if not 1 <= value <= most:
                raise UsageError(f"{flag} must be between 1 and {most}, not {value}")
        if self.dim % self.heads:
            raise UsageError(
                f"--random-dim {self.dim} must be a multiple of --random-heads {self.heads}",
                hint=f"e.g. --random-dim {self.heads * max(1, round(self.dim / self.heads))}",
            )
        if self.seed < 0:
            raise UsageError(f"--seed must be 0 or more, not {self.seed}")


def is_encoder_decoder(source: ModelSource) -> bool:
    """A T5/BART/Marian-style model, from its config.json (False when there is none to read)."""
    if source.path is None:
        return False
    try:
        return bool(scratch.read_config(source.path).get("is_encoder_decoder", False))
    except Exception:  # no or bad config: whatever runs it next reports that
        return False


def pick_engine(source: ModelSource, engine: str) -> str:
    """auto: scratch where it can run the model (it starts fast), hf otherwise."""
    if engine not in ENGINES:
        raise UsageError(f"invalid engine '{engine}'", hint="use " + ", ".join(ENGINES))
    if source.kind == "random":
        if engine == "hf":
            raise UsageError("the random model runs on the scratch engine only", hint="drop --engine hf")
        return "scratch"
    if engine != "auto":
        return engine
    folder = source.path
    if folder is None:
        return "hf"
    try:
        raw = scratch.read_config(folder)
    except Exception:  # let the hf engine report what is wrong with the folder
        return "hf"
    runnable = (
        raw.get("model_type") in scratch.SUPPORTED
        and ((folder / SINGLE).is_file() or (folder / INDEX).is_file())
        and (folder / "tokenizer.json").is_file()
    )
    if not runnable:
        return "hf"
    try:
        scratch.config_from_json(raw)
    except Exception:
        return "hf"
    return "scratch"


@dataclass(frozen=True)
class Extraction:
    """Every stack a run captured (one, or an encoder-decoder's three) and what the model wrote."""

    stacks: tuple[Attention, ...]
    written: str | None = None  # the generated text, when the model generated any

    def pick(self, stack: str | None) -> Attention:
        """One stack: the asked one, else the only one, else an encoder-decoder's cross-attention."""
        return pick_stack(self.stacks, stack)


def pick_stack(stacks: Sequence[Attention], stack: str | None) -> Attention:
    """The `--stack` asked for among `stacks` (cross-attention when None and there are three)."""
    check_stack(stack)
    if len(stacks) == 1:
        if stack is not None and stack != stacks[0].stack:
            raise UsageError(f"--stack {stack} is not in this extraction: it holds {_stack_name(stacks[0])}")
        return stacks[0]
    wanted = stack or "cross"
    return next(a for a in stacks if a.stack == wanted)


def check_stack(stack: str | None) -> None:
    if stack is not None and stack not in STACKS:
        raise UsageError(f"invalid --stack '{stack}'", hint="use " + ", ".join(STACKS))


def _stack_name(attn: Attention) -> str:
    return f"the {attn.stack} stack only" if attn.stack else "one stack (the model is not an encoder-decoder)"


def extract(
    text: str, model: str = "minilm", engine: str = "auto", *, stack: str | None = None, **options: Any
) -> Attention:
    """Run `model` on `text`; keep the selected layers and heads (all when None). For an
    encoder-decoder, `stack` picks encoder, decoder or cross (the default) attention."""
    return extract_all(text, model, engine, **options).pick(stack)


def extract_all(
    text: str,
    model: str = "minilm",
    engine: str = "auto",
    *,
    layers: Selection = None,
    heads: Selection = None,
    device: str = "cpu",
    dtype: str = "float32",
    device_map: str | None = None,
    trust_remote_code: bool = False,
    max_tokens: int | None = None,
    random: RandomOptions | None = None,
    generate: GenerateOptions | None = None,
    target: str | None = None,
    measure: str = "weights",
) -> Extraction:
    """Every stack of `model` on `text`; `generate` lets a decoder continue the text, `target`
    is an encoder-decoder's decoder text (teacher forcing); `measure` "value-norm" gives
    ‖α_ij · f_h(x_j)‖ instead of the weights (models/value_norm.py)."""
    check_measure(measure, generate is not None or target is not None)
    torch_only = torch_only_flags(device, dtype, device_map)
    check_torch_only(engine, torch_only)
    if generate is not None:
        generate.check()
    if target is not None:
        check_text(target)
    source = _source(text, model, max_tokens)
    # options that only transformers has (a GPU, half precision, a decoder text) ask for the hf engine
    wants_hf = (torch_only or target is not None) and engine == "auto"
    chosen = pick_engine(source, "hf" if wants_hf else engine)
    if chosen == "scratch" and generate is not None and source.kind == "random":
        raise UsageError(
            "--generate needs a decoder, and the random model is an encoder (BERT-style)",
            hint="use a GPT-2-family model, or any decoder with --engine hf",
        )
    if chosen == "scratch":
        if target is not None:
            raise UsageError(
                "--target is for encoder-decoders, which the scratch engine does not run", hint="use --engine hf"
            )
        return _extract_scratch(text, source, layers, heads, max_tokens, random or RandomOptions(), generate, measure)
    from attnviz.models import hf_run

    return hf_run.extract(
        text, source, layers, heads, max_tokens, generate, target, measure=measure,
        device=device, dtype=dtype, device_map=device_map, trust_remote_code=trust_remote_code,
    )  # fmt: skip


def check_measure(measure: str, generating: bool = False) -> None:
    """--measure is weights or value-norm; value-norm needs one plain forward pass."""
    from attnviz.attention import MEASURES

    if measure not in MEASURES:
        raise UsageError(f"invalid --measure '{measure}'", hint="use " + " or ".join(MEASURES))
    if measure != "weights" and generating:
        raise UsageError("--measure value-norm reads one forward pass over the text: not with --generate or --target")


def _source(text: str, model: str, max_tokens: int | None) -> ModelSource:
    """Check the input, then find the model (a cached or downloaded hub id becomes its folder)."""
    check_text(text)
    if max_tokens is not None and max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1, not {max_tokens}")
    source = resolve(model)
    if source.kind == "hub":
        source = ModelSource("folder", source.name, hub_folder(source.hub_id))
    return source


def torch_only_flags(device: str, dtype: str, device_map: str | None) -> list[str]:
    """The options only transformers has (a GPU, half precision), where they are used."""
    used = (("--device", device != "cpu"), ("--dtype", dtype != "float32"), ("--device-map", device_map is not None))
    return [flag for flag, on in used if on]


def check_torch_only(engine: str, torch_only: list[str]) -> None:
    if torch_only and engine == "scratch":
        raise UsageError(f"{', '.join(torch_only)} applies to the hf engine only", hint="use --engine hf or auto")


def load_engine(source: ModelSource, chosen: str, random: RandomOptions, **hf_options: Any) -> Engine:
    """The chosen engine with the model loaded (`hf_options`: device, dtype … for transformers)."""
    if chosen == "scratch":
        if source.kind == "random":
            random.check()
            return ScratchEngine(scratch.random_model(random.layers, random.heads, random.dim, random.seed), None)
        assert source.path is not None
        return ScratchEngine.load(source.path)
    from attnviz.models.hf import HfEngine

    assert source.path is not None
    return HfEngine.load(source.path, **hf_options)


def attention_of(
    engine: Engine, text: str, model: str, layers: Selection, heads: Selection, max_tokens: int | None,
    measure: str = "weights",
) -> Attention:  # fmt: skip
    """Tokenise `text`, run the engine on it, and label what it gives."""
    layer_ids = indices(layers, engine.n_layers, "layer")
    head_ids = indices(heads, engine.n_heads, "head")
    tokens = engine.tokenize(text, max_tokens)
    if measure == "weights":
        return assemble(engine, tokens, engine.attention(tokens, layer_ids, head_ids), layer_ids, head_ids, model, text)
    norms = engine.value_norm(tokens, layer_ids, head_ids)
    return assemble(engine, tokens, norms, layer_ids, head_ids, model, text, measure=measure, notes=(value_norm.NOTE,))


def assemble(
    engine: Engine, tokens: Tokens, weights: np.ndarray, layers: list[int], heads: list[int], model: str, text: str,
    **more: Any,
) -> Attention:  # fmt: skip
    """The `Attention` of an engine's weights (layers, heads, query, key) on `tokens`."""
    causal = engine.causal if engine.causal is not None else looks_causal(weights)
    return _attention(
        tokens, weights, layers, heads, causal, model, engine.name, text,
        model_heads=engine.n_heads, kv_heads=engine.kv_heads, **more,
    )  # fmt: skip


def _extract_scratch(
    text: str,
    source: ModelSource,
    layers: Selection,
    heads: Selection,
    max_tokens: int | None,
    random: RandomOptions,
    generate: GenerateOptions | None = None,
    measure: str = "weights",
) -> Extraction:
    engine = load_engine(source, "scratch", random)
    assert isinstance(engine, ScratchEngine)
    if generate is not None:
        from attnviz.models import scratch_generate

        layer_ids = indices(layers, engine.n_layers, "layer")
        head_ids = indices(heads, engine.n_heads, "head")
        tokens = engine.tokenize(text, max_tokens)
        config = scratch.read_config(source.path) if source.path is not None else {}
        return scratch_generate.extract(engine, tokens, text, source.name, layer_ids, head_ids, generate, config)
    return Extraction((attention_of(engine, text, source.name, layers, heads, max_tokens, measure),))


def _attention(
    tokens: Tokens, weights: np.ndarray, layers: list[int], heads: list[int],
    causal: bool, model: str, engine: str, text: str, **more: Any,
) -> Attention:  # fmt: skip
    return Attention(
        tokens=tokens.labels,
        weights=weights,
        layers=layers,
        heads=heads,
        special=tokens.special,
        word_ids=tokens.word_ids,
        causal=causal,
        model=model,
        engine=engine,
        text=text,
        **more,
    )


def indices(spec: Selection, count: int, what: str) -> list[int]:
    """A layer or head selection, checked against the model; None means all."""
    if spec is None:
        return list(range(count))
    if isinstance(spec, str):
        from attnviz.analysis.select import parse_indices

        chosen = parse_indices(spec, count, what)
        return list(range(count)) if chosen is None else chosen
    chosen = sorted({int(i) for i in spec})
    for i in chosen:
        if not 0 <= i < count:
            raise UsageError(f"{what} {i} is out of range: this model has {what}s 0-{count - 1}")
    return chosen


def record_layer(
    text: str,
    model: str,
    layer: int,
    *,
    max_tokens: int | None = None,
    random: RandomOptions | None = None,
    generate: GenerateOptions | None = None,
) -> tuple[Attention, dict[str, np.ndarray]]:
    """One layer's attention plus its recorded intermediates (q, k, v, merged…), scratch
    engine; with `generate`, over the prompt and the tokens the model writes after it."""
    source = _source(text, model, max_tokens)
    if is_encoder_decoder(source):
        raise UsageError(
            f"explain does not cover encoder-decoders such as '{source.name}': it follows one self-attention "
            "head through the scratch engine, which runs BERT- and GPT-2-family models",
            hint="show, find, stats and rollout take encoder-decoders with --target or --generate",
        )
    if pick_engine(source, "auto") != "scratch":
        raise UsageError(
            f"explain needs the scratch engine, which cannot run '{source.name}'",
            hint=f"it runs {', '.join(scratch.SUPPORTED)} models with safetensors weights and tokenizer.json",
        )
    engine = load_engine(source, "scratch", random or RandomOptions())
    assert isinstance(engine, ScratchEngine)
    (layer,) = indices([layer], engine.n_layers, "layer")
    tokens = engine.tokenize(text, max_tokens)
    more: dict[str, Any] = {}
    if generate is not None:
        from attnviz.models import scratch_generate

        config = scratch.read_config(source.path) if source.path is not None else {}
        heads = list(range(engine.n_heads))
        tokens, n_new, _, written = scratch_generate.write(engine, tokens, generate.check(), config, [layer], heads)
        text += written
        more = {"generated": scratch_generate.generated_flags(len(tokens.ids), n_new),
                "notes": (scratch_generate.note(n_new, generate),)}  # fmt: skip
    # one forward over the whole sequence: the cached steps give the same rows (the tests prove it)
    weights, record = engine.record(tokens, layer)
    attn = assemble(engine, tokens, weights[None], [layer], list(range(engine.n_heads)), source.name, text, **more)
    return attn, record
