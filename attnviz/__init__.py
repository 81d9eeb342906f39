"""attnviz: see what every attention head is doing, from the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attnviz.errors import AttnvizError

if TYPE_CHECKING:
    from attnviz.attention import Attention

__version__ = "0.1.0"
__all__ = ["Attention", "AttnvizError", "__version__", "extract"]


def extract(text: str, model: str = "minilm", engine: str = "auto", **options: Any) -> Attention:
    """Run `model` on `text` and return every selected head's attention (see `models.run.extract`)."""
    from attnviz.models.run import extract as _extract

    return _extract(text, model=model, engine=engine, **options)


def __getattr__(name: str) -> Any:
    # `Attention` needs numpy; `attnviz --help` should not pay for it.
    if name == "Attention":
        from attnviz.attention import Attention

        return Attention
    raise AttributeError(f"module 'attnviz' has no attribute {name!r}")
