"""A model loaded once, then run on many texts: what corpus commands use.

`extract` loads the model for every call; a corpus of thousands of lines cannot pay that per
line. A `Session` resolves, chooses the engine and loads once, then turns each text into the
same `Attention` that `extract` would give for it (the same helpers build it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.models import packed, run
from attnviz.models.engine import Engine, stack_layers
from attnviz.models.scratch.engine import ScratchEngine
from attnviz.models.scratch.tensors import Resident
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
    threads: int = 1  # BLAS or torch threads in each process: the cores shared among the workers


def check_spec(spec: SessionSpec) -> str:
    """Find the model and choose its engine without loading it: errors come before any work."""
    torch_only = run.torch_only_flags(spec.device, spec.dtype, spec.device_map)
    run.check_torch_only(spec.engine, torch_only)
    source = run._source("x", spec.model, spec.max_tokens)  # "x": a placeholder that passes the text check
    if run.is_encoder_decoder(source):
        raise UsageError(
            f"corpus runs need a self-attention model (an encoder or a decoder); '{source.name}' is an "
            "encoder-decoder, whose cross-attention links two texts"
        )
    if source.kind == "random":
        spec.random.check()
    return run.pick_engine(source, "hf" if torch_only and spec.engine == "auto" else spec.engine)


class Session:
    """One loaded model; `attention(text)` runs it on a text, every layer and head."""

    def __init__(self, spec: SessionSpec) -> None:
        self.spec = spec
        self.engine = check_spec(spec)
        self.source = run._source("x", spec.model, spec.max_tokens)
        self.loaded: Engine = run.load_engine(
            self.source, self.engine, spec.random, device=spec.device, dtype=spec.dtype,
            device_map=spec.device_map, trust_remote_code=spec.trust_remote_code,
        )  # fmt: skip
        self.workspace = packed.Workspace()  # the packed forward's activations, reused group after group
        if isinstance(self.loaded, ScratchEngine):
            # Every text runs every layer: read each layer's weights from the file once, not
            # once per text (the default reader re-reads them to keep one layer in memory).
            self.loaded.model.keep_layers()
            if self.loaded.model.config.arch in packed.PACKED:  # and their embedding tables (tensors.py)
                self.loaded.model.tensors = Resident(self.loaded.model.tensors)

    def attention(self, text: str) -> Attention:
        """Every layer and head of the model on `text`."""
        return next(self.attend([self.encode(text)]))

    def encode(self, text: str) -> Encoded:
        """Tokenise one text (a UsageError or a truncation warning belongs to this text)."""
        check_text(text)
        tokens = self.loaded.tokenize(text, self.spec.max_tokens)
        return Encoded(text, tokens, tokens.inputs)

    def attend(self, batch: list[Encoded]) -> Iterator[Attention]:
        """Every layer and head for each encoded text, in order. The scratch engine runs
        groups of texts together (`packed`); only one group's weights are held at a time."""
        if not isinstance(self.loaded, ScratchEngine):
            yield from (self._one(item) for item in batch)
            return
        c = self.loaded.model.config
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
        if len(group) == 1:
            return [self._one(group[0])]
        engine = self.loaded
        assert isinstance(engine, ScratchEngine)
        layers, heads = list(range(engine.n_layers)), list(range(engine.n_heads))
        with threads(engine, self.spec.threads):
            kept = packed.forward_packed(engine.model, [item.tokens.ids for item in group], layers, self.workspace)
        return [
            run.assemble(engine, item.tokens, stack_layers(weights, layers, heads, engine.n_heads), layers, heads,
                         self.source.name, item.text)
            for item, weights in zip(group, kept, strict=True)
        ]  # fmt: skip

    def _one(self, item: Encoded) -> Attention:
        """One text through the engine, every layer and head."""
        layers, heads = list(range(self.loaded.n_layers)), list(range(self.loaded.n_heads))
        with threads(self.loaded, self.spec.threads):
            weights = self.loaded.attention(item.tokens, layers, heads)
        return run.assemble(self.loaded, item.tokens, weights, layers, heads, self.source.name, item.text)


@contextlib.contextmanager
def threads(engine: Engine, n: int) -> Iterator[None]:
    """Run the engine on `n` threads. A corpus runs in parallel through worker processes, and
    each gets its share of the cores (`run_corpus`): a thread pool larger than that would fight
    the other workers for them (on a busy machine, spinning BLAS threads made a run 10x slower)."""
    if isinstance(engine, ScratchEngine):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(n, user_api="blas"):
            yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
