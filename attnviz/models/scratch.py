"""A from-scratch transformer in numpy, written to be read.

The heart of it is `attention`, the formula from "Attention Is All You Need":

    Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k) · V

`multi_head_attention` splits the model dimension into heads, runs `attention` in each, and
merges the heads back. Around it sit just enough BERT (post-norm encoder) and GPT-2 (pre-norm
causal decoder) to run real pretrained weights from safetensors. No torch anywhere on this path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnviz.errors import ModelError, UsageError

SUPPORTED = ("bert", "gpt2")  # config.json model_type values this engine runs
RANDOM_VOCAB = 4096  # the toy model's vocabulary; its words are hashed into it


@dataclass(frozen=True)
class Config:
    arch: str  # "bert" (encoder, bidirectional) or "gpt2" (decoder, causal)
    n_layer: int
    n_head: int
    d_model: int
    max_positions: int
    eps: float
    activation: str  # "gelu" (exact, erf) or "gelu_new" (tanh approximation)

    @property
    def causal(self) -> bool:
        return self.arch == "gpt2"

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_head


# --- the attention function -----------------------------------------------------------------


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place (a 4096-token head is 64 MB; no copies).

    Subtracting the row max first keeps exp() from overflowing; it does not change the result.
    """
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """softmax(Q·Kᵀ/√d_k)·V for every head at once; returns (output, weights).

    q, k, v: (heads, tokens, d_k). mask: bool (query, key), True where a query may look.
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(0, 2, 1)  # (heads, query, key)
    # Dot products of d_k-dimensional vectors grow like √d_k; dividing keeps softmax out of
    # its flat, saturated regions where gradients vanish.
    scores /= np.float32(math.sqrt(d_k))
    if mask is not None:
        np.copyto(scores, np.float32(-np.inf), where=~mask)  # exp(-inf) = 0 exactly
    weights = softmax(scores)  # (heads, query, key), rows sum to 1
    return weights @ v, weights  # (heads, query, d_k), (heads, query, key)


def split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    """(tokens, d_model) -> (heads, tokens, d_k)."""
    n, d = x.shape
    return x.reshape(n, n_head, d // n_head).transpose(1, 0, 2)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(heads, tokens, d_k) -> (tokens, d_model): the heads' outputs concatenated."""
    h, n, d_k = x.shape
    return x.transpose(1, 0, 2).reshape(n, h * d_k)


def causal_mask(n: int) -> np.ndarray:
    """bool (query, key): token i sees tokens 0..i only."""
    return np.tril(np.ones((n, n), dtype=bool))


def multi_head_attention(
    x: np.ndarray, p: dict[str, np.ndarray], n_head: int, mask: np.ndarray | None, record: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Project x to Q, K, V, attend in each head, merge, project out. Returns (out, weights)."""
    q = split_heads(x @ p["wq"] + p["bq"], n_head)  # (heads, tokens, d_k)
    k = split_heads(x @ p["wk"] + p["bk"], n_head)  # (heads, tokens, d_k)
    v = split_heads(x @ p["wv"] + p["bv"], n_head)  # (heads, tokens, d_k)
    z, weights = attention(q, k, v, mask)  # (heads, tokens, d_k), (heads, query, key)
    merged = merge_heads(z)  # (tokens, d_model)
    out = merged @ p["wo"] + p["bo"]  # (tokens, d_model)
    record.update(x=x, q=q, k=k, v=v, z=z, merged=merged, out=out, pattern=weights)
    return out, weights


# --- the rest of a transformer block --------------------------------------------------------


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * g + b


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and scipy's import
    alone costs more than this whole engine's start-up."""
    sign = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(x.dtype)


def gelu(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "gelu_new":  # GPT-2's tanh approximation
        return 0.5 * x * (1.0 + np.tanh(np.float32(math.sqrt(2.0 / math.pi)) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))))


# --- the model --------------------------------------------------------------------------------


class Transformer:
    """Weights plus a forward pass that returns the attention of the layers asked for."""

    def __init__(self, config: Config, weights: WeightSource) -> None:
        self.config = config
        self.w = weights

    def embed(self, ids: np.ndarray) -> np.ndarray:
        c, w = self.config, self.w
        pos = np.arange(len(ids))
        if c.arch == "gpt2":
            return w.rows("wte", ids) + w.rows("wpe", pos)  # (tokens, d_model)
        x = w.rows("word", ids) + w.rows("pos", pos) + w.rows("type", np.zeros_like(ids))
        return layer_norm(x, w["emb_ln_g"], w["emb_ln_b"], c.eps)

    def forward(
        self, ids: np.ndarray, layers: list[int], record_layer: int | None = None
    ) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
        """Run up to the last layer needed; keep only the asked layers' weights (heads, q, k)."""
        c = self.config
        mask = causal_mask(len(ids)) if c.causal else None
        x = self.embed(ids)
        kept: dict[int, np.ndarray] = {}
        record: dict[str, np.ndarray] = {}
        last = max([*layers, -1 if record_layer is None else record_layer])
        for i in range(last + 1):
            p = self.w.layer(i)
            rec: dict[str, np.ndarray] = {}
            if c.arch == "gpt2":  # pre-norm: x + f(LN(x))
                a, weights = multi_head_attention(layer_norm(x, p["ln1_g"], p["ln1_b"], c.eps), p, c.n_head, mask, rec)
                x = x + a
                h = gelu(layer_norm(x, p["ln2_g"], p["ln2_b"], c.eps) @ p["w1"] + p["b1"], c.activation)
                x = x + (h @ p["w2"] + p["b2"])
            else:  # post-norm: LN(x + f(x))
                a, weights = multi_head_attention(x, p, c.n_head, mask, rec)
                x = layer_norm(x + a, p["ln1_g"], p["ln1_b"], c.eps)
                h = gelu(x @ p["w1"] + p["b1"], c.activation)
                x = layer_norm(x + h @ p["w2"] + p["b2"], p["ln2_g"], p["ln2_b"], c.eps)
            if i in layers:
                kept[i] = weights
            if i == record_layer:
                record = {**rec, "wo": p["wo"], "bo": p["bo"]}
            del weights, rec  # only the asked layers' attention stays in memory
        return kept, record


# --- weights ----------------------------------------------------------------------------------

# Our names -> the checkpoint's, per architecture. "T" marks a torch nn.Linear weight
# (out, in) that we store as (in, out) so that every projection reads `x @ W + b`.
_BERT_LAYER = {
    "wq": "attention.self.query.weight:T", "bq": "attention.self.query.bias",
    "wk": "attention.self.key.weight:T", "bk": "attention.self.key.bias",
    "wv": "attention.self.value.weight:T", "bv": "attention.self.value.bias",
    "wo": "attention.output.dense.weight:T", "bo": "attention.output.dense.bias",
    "ln1_g": "attention.output.LayerNorm.weight", "ln1_b": "attention.output.LayerNorm.bias",
    "w1": "intermediate.dense.weight:T", "b1": "intermediate.dense.bias",
    "w2": "output.dense.weight:T", "b2": "output.dense.bias",
    "ln2_g": "output.LayerNorm.weight", "ln2_b": "output.LayerNorm.bias",
}  # fmt: skip
_BERT_GLOBAL = {
    "word": "embeddings.word_embeddings.weight", "pos": "embeddings.position_embeddings.weight",
    "type": "embeddings.token_type_embeddings.weight",
    "emb_ln_g": "embeddings.LayerNorm.weight", "emb_ln_b": "embeddings.LayerNorm.bias",
}  # fmt: skip
_GPT2_LAYER = {  # GPT-2 uses Conv1D, already (in, out); c_attn holds q, k, v side by side
    "qkv_w": "attn.c_attn.weight", "qkv_b": "attn.c_attn.bias",
    "wo": "attn.c_proj.weight", "bo": "attn.c_proj.bias",
    "ln1_g": "ln_1.weight", "ln1_b": "ln_1.bias", "ln2_g": "ln_2.weight", "ln2_b": "ln_2.bias",
    "w1": "mlp.c_fc.weight", "b1": "mlp.c_fc.bias", "w2": "mlp.c_proj.weight", "b2": "mlp.c_proj.bias",
}  # fmt: skip
_GPT2_GLOBAL = {"wte": "wte.weight", "wpe": "wpe.weight"}


class WeightSource:
    """Reads tensors lazily from safetensors (only the layers a run needs), or holds arrays."""

    def __init__(self, arch: str, tensors: dict[str, np.ndarray] | None = None, path: Path | None = None):
        self.arch = arch
        self._tensors = tensors
        self._file = None
        self._prefix = ""
        if path is not None:
            from safetensors import safe_open

            try:
                self._file = safe_open(str(path), framework="np")
                keys = set(self._file.keys())
            except Exception as exc:  # safetensors raises its own error types
                raise ModelError(f"cannot read weights '{path}': {exc}") from exc
            first = "embeddings.word_embeddings.weight" if arch == "bert" else "wte.weight"
            prefixes = [p for p in ("", "bert.", "model.", "transformer.") if p + first in keys]
            if not prefixes:
                raise ModelError(f"'{path}' does not hold {arch} weights (no '{first}')")
            self._prefix = prefixes[0]

    def tensor(self, name: str) -> np.ndarray:
        transpose = name.endswith(":T")
        name = name.removesuffix(":T")
        try:
            t = self._tensors[name] if self._tensors is not None else self._file.get_tensor(self._prefix + name)
        except Exception as exc:
            raise ModelError(f"weights are missing or unreadable: '{self._prefix + name}' ({exc})") from exc
        t = np.asarray(t, dtype=np.float32)
        return np.ascontiguousarray(t.T) if transpose else t

    def __getitem__(self, key: str) -> np.ndarray:
        table = _BERT_GLOBAL if self.arch == "bert" else _GPT2_GLOBAL
        return self.tensor(table[key])

    def rows(self, key: str, index: np.ndarray) -> np.ndarray:
        """Rows of an embedding table; from a file, only those rows are read (a 30k-word
        vocabulary is 94 MB in BERT-base, a sentence needs a few kB of it)."""
        if self._file is None:
            return self[key][index]
        table = _BERT_GLOBAL if self.arch == "bert" else _GPT2_GLOBAL
        name = self._prefix + table[key]
        try:
            view = self._file.get_slice(name)
            n_rows = view.get_shape()[0]
            if index.size and (index.min() < 0 or index.max() >= n_rows):
                raise ModelError(f"token id {int(index.max())} is outside the embedding table '{name}' ({n_rows} rows)")
            unique, inverse = np.unique(index, return_inverse=True)
            rows = np.stack([view[int(i) : int(i) + 1][0] for i in unique]) if unique.size else np.zeros((0,))
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"weights are missing or unreadable: '{name}' ({exc})") from exc
        return np.asarray(rows, dtype=np.float32)[inverse]

    def layer(self, i: int) -> dict[str, np.ndarray]:
        if self.arch == "bert":
            return {k: self.tensor(f"encoder.layer.{i}.{v}") for k, v in _BERT_LAYER.items()}
        p = {k: self.tensor(f"h.{i}.{v}") for k, v in _GPT2_LAYER.items()}
        d = p["wo"].shape[0]
        p["wq"], p["wk"], p["wv"] = np.split(p.pop("qkv_w"), [d, 2 * d], axis=1)  # (d, d) each
        p["bq"], p["bk"], p["bv"] = np.split(p.pop("qkv_b"), [d, 2 * d])
        return p


def read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"'{folder}' has no config.json: not a model folder") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read '{folder / 'config.json'}': {exc}") from exc


# GELU spellings in config.json -> ours: "gelu" is exact (erf), "gelu_new" the tanh approximation
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu_fast": "gelu_new"}


def config_from_json(raw: dict) -> Config:
    """Our config from config.json; anything this engine would compute differently is refused
    (UsageError), so that `--engine auto` falls back to transformers instead of drawing wrong numbers."""
    arch = raw.get("model_type")
    if arch not in SUPPORTED:
        raise UsageError(
            f"the scratch engine does not support model type '{arch}'",
            hint=f"it runs {', '.join(SUPPORTED)}; use --engine hf or auto for others",
        )
    if arch == "gpt2":
        act = raw.get("activation_function", "gelu_new")
        unsupported = {
            "scale_attn_weights=false": raw.get("scale_attn_weights", True) is not True,
            "scale_attn_by_inverse_layer_idx": bool(raw.get("scale_attn_by_inverse_layer_idx", False)),
            "add_cross_attention": bool(raw.get("add_cross_attention", False)),
        }
    else:
        act = raw.get("hidden_act", "gelu")
        unsupported = {
            f"position_embedding_type={raw.get('position_embedding_type')}": raw.get(
                "position_embedding_type", "absolute"
            )
            != "absolute",
            "is_decoder (a causal BERT)": bool(raw.get("is_decoder", False)),
        }
    if act not in _ACTIVATIONS:
        unsupported[f"activation '{act}'"] = True
    refused = [name for name, present in unsupported.items() if present]
    if refused:
        raise UsageError(
            f"the scratch engine does not support {arch} with {', '.join(refused)}", hint="use --engine hf or auto"
        )
    try:
        if arch == "gpt2":
            return Config(
                arch, raw["n_layer"], raw["n_head"], raw["n_embd"], raw["n_positions"],
                raw.get("layer_norm_epsilon", 1e-5), _ACTIVATIONS[act],
            )  # fmt: skip
        return Config(
            arch, raw["num_hidden_layers"], raw["num_attention_heads"], raw["hidden_size"],
            raw["max_position_embeddings"], raw.get("layer_norm_eps", 1e-12), _ACTIVATIONS[act],
        )  # fmt: skip
    except KeyError as exc:
        raise ModelError(f"config.json lacks {exc}") from None


def load(folder: Path) -> Transformer:
    """A pretrained BERT- or GPT-2-family model from config.json + model.safetensors."""
    config = config_from_json(read_config(folder))
    weights_file = folder / "model.safetensors"
    if not weights_file.is_file():
        raise ModelError(f"'{folder}' has no model.safetensors", hint="the scratch engine reads safetensors only")
    return Transformer(config, WeightSource(config.arch, path=weights_file))


def random_model(
    layers: int = 4, heads: int = 4, dim: int = 64, seed: int = 0, max_positions: int = 1024
) -> Transformer:
    """A seeded random BERT-style encoder, for watching the mechanics without pretrained weights
    (sizes are checked by the caller: `run.RandomOptions.check`)."""
    rng = np.random.default_rng(seed)
    vocab = RANDOM_VOCAB

    def normal(*shape: int, std: float = 1.0) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    t: dict[str, np.ndarray] = {}
    t[_BERT_GLOBAL["word"]] = normal(vocab, dim)
    t[_BERT_GLOBAL["pos"]] = normal(max_positions, dim, std=0.5)
    t[_BERT_GLOBAL["type"]] = np.zeros((2, dim), np.float32)
    t[_BERT_GLOBAL["emb_ln_g"]], t[_BERT_GLOBAL["emb_ln_b"]] = np.ones(dim, np.float32), np.zeros(dim, np.float32)
    for i in range(layers):
        for ours, theirs in _BERT_LAYER.items():
            name = f"encoder.layer.{i}.{theirs.removesuffix(':T')}"
            if ours.startswith("ln") and ours.endswith("_g"):
                t[name] = np.ones(dim, np.float32)
            elif ours.startswith(("ln", "b")):
                t[name] = np.zeros(4 * dim if ours == "b1" else dim, np.float32)
            else:
                out_dim, in_dim = (4 * dim, dim) if ours == "w1" else (dim, 4 * dim) if ours == "w2" else (dim, dim)
                t[name] = normal(out_dim, in_dim, std=1.0 / math.sqrt(in_dim))  # torch layout (out, in)
    config = Config("bert", layers, heads, dim, max_positions, 1e-12, "gelu")
    return Transformer(config, WeightSource("bert", tensors=t))
