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
