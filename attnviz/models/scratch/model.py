"""The model: a family's embedding and blocks run layer after layer, one layer's weights in
memory at a time; the loader and the seeded toy model."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np

from attnviz.errors import ModelError, UsageError
from attnviz.models.scratch import bert
from attnviz.models.scratch.config import LLAMA_FAMILY, Config, config_from_json, read_config
from attnviz.models.scratch.kvcache import KVCache
from attnviz.models.scratch.tensors import InMemory, Tensors, find_prefix
from attnviz.models.scratch.weights import Checkpoint, Spares

RANDOM_VOCAB = 4096  # the toy model's vocabulary; its words are hashed into it


def family(arch: str) -> ModuleType:
    """The module that wires an architecture's block: bert.py, gpt2.py or llama.py."""
    name = "llama" if arch in LLAMA_FAMILY else arch
    return importlib.import_module(f"attnviz.models.scratch.{name}")


class Transformer:
    """Weights plus a forward pass that returns the attention of the layers asked for."""

    def __init__(self, config: Config, tensors: Tensors, where: str = "weights") -> None:
        self.config = config
        self.tensors = tensors
        self.family = family(config.arch)
        self.prefix = find_prefix(tensors, self.family.FIRST, where)
        self._cache: dict[int, dict[str, np.ndarray]] | None = None

    def keep_layers(self) -> None:
        """Keep each layer's weights once read (many texts through one model: corpus runs)
        instead of reading them again per text to hold one layer in memory."""
        self._cache = {}

    def layer(self, i: int, mlp: bool = True) -> dict[str, np.ndarray]:
        """Layer i's weights; without its MLP's when `mlp` is False and layers are not kept."""
        if self._cache is None:
            return self.family.layer_weights(self.config, self.tensors, self.prefix, i, mlp)
        if i not in self._cache:
            self._cache[i] = self.family.layer_weights(self.config, self.tensors, self.prefix, i)
        return self._cache[i]

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """(tokens, d_model): the input of the first block."""
        return self.family.embed(self.config, self.tensors, self.prefix, ids)

    def forward(
        self, ids: np.ndarray, layers: list[int], record_layer: int | None = None, measure: str = "weights"
    ) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
        """Run up to the last layer needed; keep only the asked layers' weights (heads, q, k),
        or their value-weighted norms with `measure="value-norm"`, and, for `record_layer`,
        every intermediate of its attention (q, k, v, z, merged …)."""
        last = max([*layers, -1 if record_layer is None else record_layer])
        _, kept, record = self._run(ids, layers, last, record_layer, None, measure, final_mlp=False)
        return kept, record

    def step(self, ids: np.ndarray, layers: list[int], cache: KVCache) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Feed `ids` after the tokens in `cache` through every layer, adding their keys and
        values to it: (their final hidden states, {asked layer: (heads, new, all keys)})."""
        x, kept, _ = self._run(ids, layers, self.config.n_layer - 1, None, cache)
        cache.length += len(ids)
        return x, kept

    def lm_head(self) -> Callable[[np.ndarray], np.ndarray]:
        """Final hidden state -> logits over the vocabulary (decoders)."""
        head = getattr(self.family, "lm_head", None)
        if head is None:
            raise UsageError(f"--generate needs a decoder, and this {self.config.arch} model is an encoder")
        return head(self.config, self.tensors, self.prefix)

    def _run(
        self,
        ids: np.ndarray,
        layers: list[int],
        last: int,
        record_layer: int | None,
        cache: KVCache | None,
        measure: str = "weights",
        final_mlp: bool = True,
    ) -> tuple[np.ndarray, dict[int, np.ndarray], dict[str, np.ndarray]]:
        """Layers 0 … last; the last one's MLP only with `final_mlp` (when its output is used)."""
        c = self.config
        start = 0 if cache is None else cache.length
        # Everything that depends on positions only (masks, RoPE angles), computed once per pass;
        # with a cache, for the new tokens' positions after the cached ones.
        context = self.family.prepare(c, len(ids)) if start == 0 else self.family.prepare(c, len(ids), start)
        context["cache"] = cache
        x = self.family.embed(c, self.tensors, self.prefix, ids, start)
        kept: dict[int, np.ndarray] = {}
        record: dict[str, np.ndarray] = {}
        for i, p in enumerate(self._layers(last + 1, final_mlp, record_layer)):
            rec: dict[str, np.ndarray] = {}
            x, weights = self.family.block(c, x, p, i, context, rec, mlp=final_mlp or i < last)
            if i in layers:
                kept[i] = weights if measure == "weights" else _value_norms(weights, rec)
            if i == record_layer:
                record = rec
            del weights, rec, p  # only the asked layers' attention stays in memory
        return x, kept, record

    def _layers(self, n: int, final_mlp: bool, recorded: int | None) -> Iterator[dict[str, np.ndarray]]:
        """Layers 0 … n-1's weights (the last without its MLP's unless `final_mlp`). Read
        from a file, layer i+1 is read (and widened) on a second thread while layer i
        computes: numpy releases the GIL for file reads, copies and BLAS, so a big model's
        disk time hides behind its matmuls. At most two layers are in memory at once (an 8B
        model's are 0.9 GB each in float32), and layer i+2 is widened into layer i's buffers
        once layer i has run (`_run` keeps nothing of a layer's weights but the `recorded`
        one's, which is not handed back)."""

        def mlp(i: int) -> bool:
            return final_mlp or i < n - 1

        if self._cache is not None or n < 2 or not isinstance(self.tensors, Checkpoint):
            yield from (self.layer(i, mlp(i)) for i in range(n))
            return
        self.tensors.spares = spares = Spares()
        reader = ThreadPoolExecutor(1, thread_name_prefix="attnviz-read")
        try:
            upcoming = reader.submit(self.layer, 0, mlp(0))
            for i in range(n):
                p = upcoming.result()
                if i + 1 < n:
                    upcoming = reader.submit(self.layer, i + 1, mlp(i + 1))
                yield p
                if i != recorded:
                    spares.give(p.values())
                del p
        finally:
            reader.shutdown(cancel_futures=True)  # waits for a read under way
            self.tensors.spares = None


def _value_norms(weights: np.ndarray, rec: dict[str, np.ndarray]) -> np.ndarray:
    """The block's weights times the norms of its values carried through W_O (value_norm.py)."""
    from attnviz.models.value_norm import value_norms

    if "v" not in rec or "wo" not in rec:
        raise ModelError("--measure value-norm: this model's blocks do not record their values and output projection")
    return value_norms(weights, rec["v"], rec["wo"])


def load(folder: Path) -> Transformer:
    """A pretrained model from config.json + safetensors (one file or index + shards)."""
    config = config_from_json(read_config(folder))
    return Transformer(config, Checkpoint(folder), str(folder))


def random_model(
    layers: int = 4, heads: int = 4, dim: int = 64, seed: int = 0, max_positions: int = 1024
) -> Transformer:
    """A seeded random BERT-style encoder, for watching the mechanics without pretrained weights
    (sizes are checked by the caller: `run.RandomOptions.check`)."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int, std: float = 1.0) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    g = bert.GLOBAL
    t: dict[str, np.ndarray] = {}
    t[g["word"]] = normal(RANDOM_VOCAB, dim)
    t[g["pos"]] = normal(max_positions, dim, std=0.5)
    t[g["type"]] = np.zeros((2, dim), np.float32)
    t[g["emb_ln_g"]], t[g["emb_ln_b"]] = np.ones(dim, np.float32), np.zeros(dim, np.float32)
    for i in range(layers):
        for ours, theirs in bert.LAYER.items():
            name = f"encoder.layer.{i}.{theirs.removesuffix(':T')}"
            if ours.startswith("ln") and ours.endswith("_g"):
                t[name] = np.ones(dim, np.float32)
            elif ours.startswith(("ln", "b")):
                t[name] = np.zeros(4 * dim if ours == "b1" else dim, np.float32)
            else:
                out_dim, in_dim = (4 * dim, dim) if ours == "w1" else (dim, 4 * dim) if ours == "w2" else (dim, dim)
                t[name] = normal(out_dim, in_dim, std=1.0 / math.sqrt(in_dim))  # torch layout (out, in)
    config = Config("bert", layers, heads, dim, max_positions, 1e-12, "gelu")
    return Transformer(config, InMemory(t), "random")
