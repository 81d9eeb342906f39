"""The one type that flows through attnviz: every head's attention for one text."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attnviz.errors import UsageError
from attnviz.files import atomic_write

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Attention:
    """Attention weights of the held layers and heads for one tokenised text.

    `weights[i, j]` is the (query, key) matrix of layer `layers[i]`, head `heads[j]`;
    `layers` and `heads` are the model's own 0-based indices.
    """

    tokens: tuple[str, ...]
    weights: np.ndarray  # float32 (layers, heads, query, key)
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    special: np.ndarray  # bool (tokens,): [CLS]/[SEP]/BOS/padding
    word_ids: np.ndarray  # int64 (tokens,): word index of each token, -1 for special tokens
    causal: bool = False
    model: str = ""
    engine: str = ""
    text: str = ""
    notes: tuple[str, ...] = field(default=())  # what transforms did, for legends
    offset: int = 0  # position of tokens[0] in the full text (after a --tokens zoom)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(str(t) for t in self.tokens))
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        object.__setattr__(self, "heads", tuple(int(i) for i in self.heads))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "offset", int(self.offset))
        object.__setattr__(self, "weights", np.asarray(self.weights, dtype=np.float32))
        object.__setattr__(self, "special", np.asarray(self.special, dtype=bool))
        object.__setattr__(self, "word_ids", np.asarray(self.word_ids, dtype=np.int64))
        n = len(self.tokens)
        expected = (len(self.layers), len(self.heads), n, n)
        if self.weights.shape != expected:
            raise ValueError(f"weights have shape {self.weights.shape}, expected {expected}")
        if self.special.shape != (n,) or self.word_ids.shape != (n,):
            raise ValueError("special and word_ids must have one entry per token")

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

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
        """A copy with some fields changed (the type is frozen)."""
        return dataclasses.replace(self, **changes)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to `.npz` (no pickled objects), atomically."""
        with atomic_write(path) as handle:
            np.savez_compressed(
                handle,
                format_version=np.int64(FORMAT_VERSION),
                weights=self.weights,
                tokens=np.array(self.tokens, dtype=np.str_),
                layers=np.array(self.layers, dtype=np.int64),
                heads=np.array(self.heads, dtype=np.int64),
                special=self.special,
                word_ids=self.word_ids,
                causal=np.bool_(self.causal),
                model=np.str_(self.model),
                engine=np.str_(self.engine),
                text=np.str_(self.text),
                notes=np.array(self.notes, dtype=np.str_),
                offset=np.int64(self.offset),
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Attention:
        """Read an extraction written by `save`; any other file is a clear error."""
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"cannot load '{path}': no such file")
        if not zipfile.is_zipfile(path):
            raise UsageError(f"cannot load '{path}': not an .npz file (it is not a zip archive; was it cut short?)")
        try:
            with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
                if "format_version" not in data.files or "weights" not in data.files:
                    raise UsageError(f"cannot load '{path}': not an attnviz extraction")
                tokens = [str(t) for t in data["tokens"]]
                n = len(tokens)
                attn = cls(
                    tokens=tokens,
                    weights=data["weights"],
                    layers=data["layers"].tolist(),
                    heads=data["heads"].tolist(),
                    special=data["special"] if "special" in data.files else np.zeros(n, bool),
                    word_ids=data["word_ids"] if "word_ids" in data.files else np.arange(n),
                    causal=bool(data["causal"]) if "causal" in data.files else False,
                    model=str(data["model"]) if "model" in data.files else "",
                    engine=str(data["engine"]) if "engine" in data.files else "",
                    text=str(data["text"]) if "text" in data.files else "",
                    notes=[str(t) for t in data["notes"]] if "notes" in data.files else (),
                    offset=int(data["offset"]) if "offset" in data.files else 0,
                )
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
            "causal": self.causal,
            "tokens": list(self.tokens),
            "special": self.special.tolist(),
            "word_ids": self.word_ids.tolist(),
            "layers": list(self.layers),
            "heads": list(self.heads),
            "weights": self.weights.tolist(),
            "notes": list(self.notes),
            "offset": self.offset,
        }


def format_indices(indices: Iterable[int]) -> str:
    """'0-5' for a contiguous run, '3' for one, '0,2,3' otherwise, 'none' for nothing."""
    values = list(indices)
    if not values:
        return "none"
    if len(values) > 1 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(map(str, values))
