"""A model loaded once, then run on many texts: what corpus commands use.

`extract` loads the model for every call; a corpus of thousands of lines cannot pay that per
line. A `Session` resolves, chooses the engine and loads once, then turns each text into the
same `Attention` that `extract` would give for it (the same helpers build it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.models import packed, run
from attnviz.models.tokens import Tokens, check_text

GROUP_BYTES = 64 * 2**20  # attention weights of one packed group of texts
GROUP_TOKENS = 4096  # tokens of one packed group: its hidden states stay a few MB


@dataclass(frozen=True)
class Encoded:
    """A tokenised text, ready to run (`inputs`: the hf engine's tensors)."""

    text: str
    tokens: Tokens
    inputs: Any = None


@dataclass(frozen=True)
class SessionSpec:
    """Everything needed to load a model again in another process (it pickles)."""

    model: str = "minilm"
    engine: str = "auto"
    device: str = "cpu"
    dtype: str = "float32"
    device_map: str | None = None
    trust_remote_code: bool = False
    max_tokens: int | None = None
    random: run.RandomOptions = field(default_factory=run.RandomOptions)


def check_spec(spec: SessionSpec) -> str:
    """Find the model and choose its engine without loading it: errors come before any work."""
    torch_only = [
        flag
        for flag, used in (("--device", spec.device != "cpu"), ("--dtype", spec.dtype != "float32"),
                           ("--device-map", spec.device_map is not None))
        if used
    ]  # fmt: skip
    if torch_only and spec.engine == "scratch":
        raise UsageError(f"{', '.join(torch_only)} applies to the hf engine only", hint="use --engine hf or auto")
    source = run._source("x", spec.model, spec.max_tokens)  # "x": a placeholder that passes the text check
    if source.kind == "random":
        spec.random.check()
    return run.pick_engine(source, "hf" if torch_only and spec.engine == "auto" else spec.engine)


class Session:
    """One loaded model; `attention(text)` runs it on a text, every layer and head."""

    def __init__(self, spec: SessionSpec, *, threads: int | None = None) -> None:
        self.spec = spec
        self.engine = check_spec(spec)
        self.source = run._source("x", spec.model, spec.max_tokens)
        self._model: Any
        self._tokenizer: Any
        if self.engine == "scratch":
            self._model, self._tokenizer = run.load_scratch(self.source, spec.random)
            # Every text runs every layer: read each layer's weights from the file once, not
            # once per text (the default reader re-reads them to keep one layer in memory).
            self._model.w.layer = functools.cache(self._model.w.layer)
        else:
            from attnviz.models import hf

            if threads is not None:
                import torch

                torch.set_num_threads(threads)  # N workers share the cores instead of each taking all
            assert self.source.path is not None
            self._model, self._tokenizer = hf.load(
                self.source.path, device=spec.device, dtype=spec.dtype, device_map=spec.device_map,
                trust_remote_code=spec.trust_remote_code,
            )  # fmt: skip

    def attention(self, text: str) -> Attention:
        """Every layer and head of the model on `text`."""
        return next(self.attend([self.encode(text)]))

    def encode(self, text: str) -> Encoded:
        """Tokenise one text (a UsageError or a truncation warning belongs to this text)."""
        check_text(text)
        limit = self.spec.max_tokens
        if self.engine == "scratch":
            return Encoded(text, run.scratch_tokens(self._model, self._tokenizer, text, limit))
        from attnviz.models import hf

        most = hf.max_positions(self._model, self._tokenizer)
        inputs, tokens = hf.tokenize(self._tokenizer, text, min(most, limit or most))
        return Encoded(text, tokens, inputs)

    def attend(self, batch: list[Encoded]) -> Iterator[Attention]:
        """Every layer and head for each encoded text, in order. The scratch engine runs
        groups of texts together (`packed`); only one group's weights are held at a time."""
        if self.engine == "hf":
            yield from (self._hf(item) for item in batch)
            return
        c = self._model.config
        if c.arch not in packed.PACKED:
            yield from (self._scratch([item])[0] for item in batch)
            return
        group: list[Encoded] = []
        size = 0
        per_token2 = c.n_layer * c.n_head * 4  # bytes of weights per query-key pair
        for item in batch:
            n = len(item.tokens.ids)
            if group and (
                size + per_token2 * n * n > GROUP_BYTES or sum(len(g.tokens.ids) for g in group) + n > GROUP_TOKENS
            ):
                yield from self._scratch(group)
                group, size = [], 0
            group.append(item)
            size += per_token2 * n * n
        if group:
            yield from self._scratch(group)

    def _scratch(self, group: list[Encoded]) -> list[Attention]:
        net, c = self._model, self._model.config
        layers, heads = list(range(c.n_layer)), list(range(c.n_head))
        longest = max(len(item.tokens.ids) for item in group)
        with run.blas_threads_for(longest if len(group) == 1 else run.SMALL_INPUT + 1):
            if len(group) == 1:
                kept = [net.forward(group[0].tokens.ids, layers)[0]]
            else:
                kept = packed.forward_packed(net, [item.tokens.ids for item in group], layers)
        name = self.source.name
        out = []
        for item, weights in zip(group, kept, strict=True):
            stacked = run._stack(weights, layers, heads, c.n_head)
            out.append(run._attention(item.tokens, stacked, layers, heads, c.causal, name, "scratch", item.text))
        return out

    def _hf(self, item: Encoded) -> Attention:
        from attnviz.models import hf

        model, config = self._model, self._model.config
        layers, heads = list(range(config.num_hidden_layers)), list(range(config.num_attention_heads))
        kept = hf.run(model, item.inputs, layers, heads)
        weights = run._stack(kept, layers, heads, len(heads))
        causal = bool(getattr(config, "is_decoder", False)) or run._looks_causal(weights)
        return run._attention(item.tokens, weights, layers, heads, causal, self.source.name, "hf", item.text)
