"""The one type that flows through attnviz: every head's attention for one text."""

from __future__ import annotations

import dataclasses
import functools
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attnviz.errors import UsageError
from attnviz.files import atomic_write, check_output_path

FORMAT_VERSION = 2  # 2: key side, generated tokens, stack, measure, key/value heads
STACKS = ("", "encoder", "decoder", "cross")
MEASURES = ("weights", "value-norm")
# query-side field -> its key-side twin; for self-attention the twin is the same sequence
_KEY_TWINS = {"tokens": "key_tokens", "special": "key_special", "word_ids": "key_word_ids",
              "generated": "key_generated", "offset": "key_offset"}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Attention:
    """Attention weights of the held layers and heads for one tokenised text.

    `weights[i, j]` is the (query, key) matrix of layer `layers[i]`, head `heads[j]`;
    `layers` and `heads` are the model's own 0-based indices. `tokens` are the queries.
    Self-attention (every stack but "cross") has the same sequence on both sides, so the
    `key_*` fields mirror the query side; cross-attention has source keys of its own.
    """

    tokens: tuple[str, ...]
    weights: np.ndarray  # float32 (layers, heads, query, key)
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    special: np.ndarray  # bool (queries,): [CLS]/[SEP]/BOS/padding
    word_ids: np.ndarray  # int64 (queries,): word index of each token, -1 for special tokens
    causal: bool = False
    model: str = ""
    engine: str = ""
    text: str = ""
    notes: tuple[str, ...] = field(default=())  # what transforms did, for legends
    offset: int = 0  # position of tokens[0] in the full text (after a --tokens zoom)
    generated: np.ndarray | None = None  # bool (queries,): written by the model, not the user
    stack: str = ""  # "" (one stack), "encoder", "decoder" or "cross"
    measure: str = "weights"  # what the numbers are: attention "weights" or "value-norm"
    model_heads: int = 0  # the model's query heads (0: unknown)
    kv_heads: int = 0  # the model's key/value heads (0: unknown or one per query head)
    key_tokens: tuple[str, ...] | None = None  # cross-attention only; else = tokens
    key_special: np.ndarray | None = None
    key_word_ids: np.ndarray | None = None
    key_generated: np.ndarray | None = None
    key_offset: int | None = None
    source_text: str = ""  # cross-attention: the encoder's text
    # position in the full text of each query token: offset, offset+1, … unless hidden special
    # tokens or merged words left gaps (then a --tokens zoom still labels the real positions)
    positions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        put = functools.partial(object.__setattr__, self)
        put("tokens", tuple(str(t) for t in self.tokens))
        put("layers", tuple(int(i) for i in self.layers))
        put("heads", tuple(int(i) for i in self.heads))
        put("notes", tuple(self.notes))
        put("offset", int(self.offset))
        put("weights", np.asarray(self.weights, dtype=np.float32))
        put("special", np.asarray(self.special, dtype=bool))
        put("word_ids", np.asarray(self.word_ids, dtype=np.int64))
        n = len(self.tokens)
        put(
            "positions",
            tuple(range(self.offset, self.offset + n) if self.positions is None else map(int, self.positions)),
        )
        if len(self.positions) != n:
            raise ValueError(f"positions has {len(self.positions)} entries for {n} tokens")
        put("generated", np.zeros(n, bool) if self.generated is None else np.asarray(self.generated, dtype=bool))
        if self.stack not in STACKS:
            raise ValueError(f"stack must be one of {STACKS}, not {self.stack!r}")
        if self.measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}, not {self.measure!r}")
        if self.is_self:  # one sequence: the key side is the query side, whatever was passed
            for query_field, key_field in _KEY_TWINS.items():
                put(key_field, getattr(self, query_field))
        else:
            if self.key_tokens is None or self.key_special is None or self.key_word_ids is None:
                raise ValueError("cross-attention needs key_tokens, key_special and key_word_ids")
            m = len(self.key_tokens)
            put("key_tokens", tuple(str(t) for t in self.key_tokens))
            put("key_special", np.asarray(self.key_special, dtype=bool))
            put("key_word_ids", np.asarray(self.key_word_ids, dtype=np.int64))
            kg = self.key_generated
            put("key_generated", np.zeros(m, bool) if kg is None else np.asarray(kg, dtype=bool))
            put("key_offset", int(self.key_offset or 0))
        m = len(self.key_tokens)
        expected = (len(self.layers), len(self.heads), n, m)
        if self.weights.shape != expected:
            raise ValueError(f"weights have shape {self.weights.shape}, expected {expected}")
        if self.special.shape != (n,) or self.word_ids.shape != (n,) or self.generated.shape != (n,):
            raise ValueError("special, word_ids and generated must have one entry per query token")
        if self.key_special.shape != (m,) or self.key_word_ids.shape != (m,) or self.key_generated.shape != (m,):
            raise ValueError("key_special, key_word_ids and key_generated must have one entry per key token")

    @property
    def n_tokens(self) -> int:
        """Number of query tokens (= keys for self-attention)."""
        return len(self.tokens)

    @property
    def query_tokens(self) -> tuple[str, ...]:
        return self.tokens

    @property
    def n_queries(self) -> int:
        return len(self.tokens)

    @property
    def n_keys(self) -> int:
        return len(self.key_tokens)

    @property
    def is_self(self) -> bool:
        """Queries and keys are one sequence (every stack but cross-attention)."""
        return self.stack != "cross"

    @property
    def prompt_length(self) -> int:
        """Query tokens the user gave (the model generated the rest)."""
        return int((~self.generated).sum())

    def kv_head(self, head: int) -> int | None:
        """The key/value head that query head `head` reads (grouped-query attention), or None."""
        if not (self.kv_heads and self.model_heads) or self.kv_heads >= self.model_heads:
            return None
        return int(head) // (self.model_heads // self.kv_heads)

    def head(self, layer: int, head: int) -> np.ndarray:
        """The (query, key) matrix of the model's layer `layer`, head `head`."""
        try:
            return self.weights[self.layers.index(layer), self.heads.index(head)]
        except ValueError:
            raise UsageError(
                f"layer {layer} head {head} is not in this extraction",
                hint=f"it holds layers {format_indices(self.layers)} and heads {format_indices(self.heads)}",
            ) from None

    def replace(self, **changes: object) -> Attention:
        """A copy with some fields changed (the type is frozen); for self-attention a change
        to the query side is the change to the key side. Positions follow a new `offset` or
        token count unless given."""
        if "positions" not in changes and ("offset" in changes or "tokens" in changes):
            changes["positions"] = None
        return dataclasses.replace(self, **changes)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str | None:
        """The interactive page (every view, offline) as a string, or written to `path`."""
        from attnviz.render import html

        page = html.attention_page(self)
        if path is None:
            return page
        html.write_page(page, check_output_path(path, (html.SUFFIX,)))
        return None

    def _repr_html_(self) -> str:
        """Jupyter shows the same page, isolated in an iframe (no requirejs, no network)."""
        from attnviz.render import html

        return html.notebook_html(html.attention_page(self))

    def __repr__(self) -> str:
        stack = f", stack={self.stack!r}" if self.stack else ""
        measure = f", measure={self.measure!r}" if self.measure != "weights" else ""
        sizes = f"{len(self.layers)} layers × {len(self.heads)} heads × {self.n_queries} × {self.n_keys}"
        return (
            f"Attention(model={self.model!r}, engine={self.engine!r}{stack}{measure}, {self.n_queries} tokens, {sizes})"
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to `.npz` (no pickled objects), atomically."""
        with atomic_write(path) as handle:
            np.savez_compressed(handle, **self._arrays())

    def _arrays(self) -> dict[str, np.ndarray]:
        """The .npz members: format version 2 (version 1 lacked everything after `offset`)."""
        return {
            "format_version": np.int64(FORMAT_VERSION),
            "weights": self.weights,
            "tokens": np.array(self.tokens, dtype=np.str_),
            "layers": np.array(self.layers, dtype=np.int64),
            "heads": np.array(self.heads, dtype=np.int64),
            "special": self.special,
            "word_ids": self.word_ids,
            "causal": np.bool_(self.causal),
            "model": np.str_(self.model),
            "engine": np.str_(self.engine),
            "text": np.str_(self.text),
            "notes": np.array(self.notes, dtype=np.str_),
            "offset": np.int64(self.offset),
            "generated": self.generated,
            "stack": np.str_(self.stack),
            "measure": np.str_(self.measure),
            "model_heads": np.int64(self.model_heads),
            "kv_heads": np.int64(self.kv_heads),
            "key_tokens": np.array(self.key_tokens, dtype=np.str_),
            "key_special": self.key_special,
            "key_word_ids": self.key_word_ids,
            "key_generated": self.key_generated,
            "key_offset": np.int64(self.key_offset),
            "source_text": np.str_(self.source_text),
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Attention:
        """Read an extraction written by `save` (format 1 or 2); any other file is a clear error."""
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"cannot load '{path}': no such file")
        if not zipfile.is_zipfile(path):
            raise UsageError(f"cannot load '{path}': not an .npz file (it is not a zip archive; was it cut short?)")
        try:
            with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
                if "format_version" not in data.files or "weights" not in data.files:
                    raise UsageError(f"cannot load '{path}': not an attnviz extraction")
                version = int(data["format_version"])
                if version > FORMAT_VERSION:
                    raise UsageError(
                        f"cannot load '{path}': it is format version {version}, this attnviz reads up to "
                        f"{FORMAT_VERSION}",
                        hint="upgrade attnviz",
                    )
                attn = cls(**_fields_from(data))
        except UsageError:
            raise
        except Exception as exc:  # numpy, zipfile and zlib raise a dozen kinds on a damaged file
            raise UsageError(f"cannot load '{path}': not a valid attnviz .npz file ({exc})") from exc
        if not (attn.tokens and attn.layers and attn.heads):
            raise UsageError(f"cannot load '{path}': the extraction holds no tokens, layers or heads")
        return attn

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "model": self.model,
            "engine": self.engine,
            "stack": self.stack,
            "measure": self.measure,
            "causal": self.causal,
            "tokens": list(self.tokens),
            "special": self.special.tolist(),
            "word_ids": self.word_ids.tolist(),
            "generated": self.generated.tolist(),
            "key_tokens": list(self.key_tokens),
            "key_special": self.key_special.tolist(),
            "key_word_ids": self.key_word_ids.tolist(),
            "layers": list(self.layers),
            "heads": list(self.heads),
            "model_heads": self.model_heads,
            "kv_heads": self.kv_heads,
            "weights": self.weights.tolist(),
            "notes": list(self.notes),
            "offset": self.offset,
            "positions": list(self.positions),
            "key_offset": self.key_offset,
        }


def _fields_from(data: np.lib.npyio.NpzFile) -> dict[str, object]:
    """Constructor arguments from an .npz of any version: what an older file lacks takes its default."""
    files = set(data.files)

    def get(key: str, convert: object, default: object = None) -> object:
        return convert(data[key]) if key in files else default  # type: ignore[operator]

    def strings(a: np.ndarray) -> list[str]:
        return [str(t) for t in a]

    n = len(data["tokens"])
    fields = {
        "tokens": strings(data["tokens"]),
        "weights": data["weights"],
        "layers": data["layers"].tolist(),
        "heads": data["heads"].tolist(),
        "special": get("special", np.asarray, np.zeros(n, bool)),
        "word_ids": get("word_ids", np.asarray, np.arange(n)),
        "causal": get("causal", bool, False),
        "model": get("model", str, ""),
        "engine": get("engine", str, ""),
        "text": get("text", str, ""),
        "notes": get("notes", strings, ()),
        "offset": get("offset", int, 0),
        "generated": get("generated", np.asarray),
        "stack": get("stack", str, ""),
        "measure": get("measure", str, "weights"),
        "model_heads": get("model_heads", int, 0),
        "kv_heads": get("kv_heads", int, 0),
        "source_text": get("source_text", str, ""),
    }
    if fields["stack"] == "cross":
        fields.update(
            key_tokens=strings(data["key_tokens"]),
            key_special=data["key_special"],
            key_word_ids=data["key_word_ids"],
            key_generated=get("key_generated", np.asarray),
            key_offset=get("key_offset", int, 0),
        )
    return fields


def format_indices(indices: Iterable[int]) -> str:
    """'0-5' for a contiguous run, '3' for one, '0,2,3' otherwise, 'none' for nothing."""
    values = list(indices)
    if not values:
        return "none"
    if len(values) > 1 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(map(str, values))
