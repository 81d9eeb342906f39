"""A model loaded once, then run on many texts: what corpus commands use.

`extract` loads the model for every call; a corpus of thousands of lines cannot pay that per
line. A `Session` resolves, chooses the engine and loads once, then turns each text into the
same `Attention` that `extract` would give for it (the same helpers build it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.models import run
from attnviz.models.tokens import check_text


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
        check_text(text)
        if self.engine == "scratch":
            return self._scratch(text)
        return self._hf(text)

    def _scratch(self, text: str) -> Attention:
        net, c = self._model, self._model.config
        layers, heads = list(range(c.n_layer)), list(range(c.n_head))
        tokens = run.scratch_tokens(net, self._tokenizer, text, self.spec.max_tokens)
        with run.blas_threads_for(len(tokens.ids)):
            kept, _ = net.forward(tokens.ids, layers)
        weights = run._stack(kept, layers, heads, c.n_head)
        return run._attention(tokens, weights, layers, heads, c.causal, self.source.name, "scratch", text)

    def _hf(self, text: str) -> Attention:
        from attnviz.models import hf

        model, config = self._model, self._model.config
        layers, heads = list(range(config.num_hidden_layers)), list(range(config.num_attention_heads))
        limit = hf.max_positions(model, self._tokenizer)
        inputs, tokens = hf.tokenize(self._tokenizer, text, min(limit, self.spec.max_tokens or limit))
        kept = hf.run(model, inputs, layers, heads)
        weights = run._stack(kept, layers, heads, len(heads))
        causal = bool(getattr(config, "is_decoder", False)) or run._looks_causal(weights)
        return run._attention(tokens, weights, layers, heads, causal, self.source.name, "hf", text)
