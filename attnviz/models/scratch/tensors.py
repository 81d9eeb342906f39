"""Where a model's tensors come from: a checkpoint on disk, or arrays in memory (the toy model)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from attnviz.errors import ModelError


class Tensors(Protocol):
    """Tensors by checkpoint name, as float32 in torch's layout."""

    def names(self) -> set[str]: ...

    def read(self, name: str) -> np.ndarray: ...

    def rows(self, name: str, index: np.ndarray) -> np.ndarray: ...


class InMemory:
    """Tensors held in a dict (the seeded random model)."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self._tensors = tensors

    def names(self) -> set[str]:
        return set(self._tensors)

    def read(self, name: str) -> np.ndarray:
        try:
            return self._tensors[name]
        except KeyError:
            raise ModelError(f"weights are missing: '{name}'") from None

    def rows(self, name: str, index: np.ndarray) -> np.ndarray:
        return self.read(name)[index]


def find_prefix(tensors: Tensors, first: str, where: str) -> str:
    """The prefix a checkpoint puts before the base model's names ("model.", "bert." …)."""
    names = tensors.names()
    for prefix in ("", "model.", "bert.", "transformer."):
        if prefix + first in names:
            return prefix
    raise ModelError(f"'{where}' does not hold the weights this config describes (no '{first}')")


class Resident:
    """A model's tensors with its embedding tables and 1-D tensors (norms, biases) kept in memory
    once read: many texts through one model (corpus runs) then read each once, not per text.

    For models whose tables are small beside their layers (BERT, GPT-2: 47 MB for MiniLM's
    vocabulary); an 8B model's 2 GB table is better read a few rows at a time."""

    def __init__(self, tensors: Tensors) -> None:
        self.tensors = tensors
        self._kept: dict[str, np.ndarray] = {}

    def names(self) -> set[str]:
        return self.tensors.names()

    def read(self, name: str) -> np.ndarray:
        kept = self._kept.get(name)
        if kept is not None:
            return kept
        tensor = self.tensors.read(name)
        if tensor.ndim == 1:  # the layers' matrices are kept by `Transformer.keep_layers`, after their transpose
            self._kept[name] = tensor
        return tensor

    def rows(self, name: str, index: np.ndarray) -> np.ndarray:
        table = self._kept.get(name)
        if table is None:
            table = self._kept[name] = self.tensors.read(name)
        if index.size and (index.min() < 0 or index.max() >= len(table)):
            raise ModelError(f"token id {int(index.max())} is outside the embedding table '{name}' ({len(table)} rows)")
        return table[index]
