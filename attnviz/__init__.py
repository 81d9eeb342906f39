"""attnviz: see what every attention head is doing, from the terminal."""

from attnviz.attention import Attention
from attnviz.errors import AttnvizError

__version__ = "0.1.0"
__all__ = ["Attention", "AttnvizError", "__version__", "extract"]


def extract(text: str, model: str = "minilm", engine: str = "auto", **options: object) -> Attention:
    """Run `model` on `text` and return every selected head's attention."""
    from attnviz.models.run import extract as _extract

    return _extract(text, model=model, engine=engine, **options)
