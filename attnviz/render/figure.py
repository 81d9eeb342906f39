"""Matplotlib plumbing shared by the image renderers: canvas, colour maps, labels, saving.

Matplotlib is imported inside the functions, never at module level, so that importing
attnviz (or running the terminal renderer) costs nothing. Figures are built from
`matplotlib.figure.Figure` with an Agg canvas, without pyplot and its global state.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from attnviz.errors import UsageError
from attnviz.files import atomic_write, check_output_path
from attnviz.render import colormaps
from attnviz.render.mosaic import value_range

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
DEFAULT_DPI = 150
MAX_LABEL_CHARS = 16
FRAME_COLOR = "#b0b0b0"
TEXT_COLOR = "#222222"
NOTE_COLOR = "#555555"


def check_image_path(path: str | Path) -> Path:
    """Validate an image output path (format follows the extension) before any drawing."""
    return check_output_path(path, IMAGE_SUFFIXES)


def check_dpi(dpi: int) -> int:
    """Reject a resolution that would make an empty or enormous image."""
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 20 <= dpi <= 1200:
        raise UsageError(f"invalid dpi {dpi!r}", hint="use a whole number from 20 to 1200")
    return int(dpi)


def resolve_cmap(name: str | None, *, diverging: bool = False) -> Colormap:
    """The named matplotlib colormap, with NaN drawn transparent (the background shows).

    The name is checked by `colormaps.lookup`, so an unknown one is the same error as in the
    terminal; None means `colormaps.DEFAULT` (`DIVERGING_DEFAULT` when diverging).
    """
    if name is None:
        name = colormaps.DIVERGING_DEFAULT if diverging else colormaps.DEFAULT
    colormaps.lookup(name)
    import matplotlib

    base, gamma, bent = colormaps.split_gamma(name)
    colormap = matplotlib.colormaps[base]
    if gamma != 1.0:  # --gamma: the colours resampled on a power scale; the colour bar's ticks stay linear
        from matplotlib.colors import ListedColormap

        grid = np.linspace(0.0, 1.0, 256)
        colormap = ListedColormap(colormap(colormaps.bend(grid, gamma, bent)), name=name)
    return colormap.with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def new_figure(width_in: float, height_in: float, dpi: int) -> Figure:
    """A white figure with its own Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path, dpi: int) -> None:
    """Write `fig` to `path` in the format its extension names; nothing is left on failure."""
    fmt = path.suffix.lower().lstrip(".")
    # Fixed metadata and ids make SVG and PDF output byte-for-byte repeatable. Unhinted text
    # draws ~30% faster and looks no worse at these sizes.
    options: dict[str, object] = {
        "png": {"pil_kwargs": {"compress_level": 3}},  # vs 6: ~25% faster, ~30% larger
        "svg": {"metadata": {"Date": None}},
        "pdf": {"metadata": {"CreationDate": None}},
    }[fmt]
    import matplotlib

    with (
        quiet_glyphs(),
        matplotlib.rc_context({"svg.hashsalt": "attnviz", "text.hinting": "none"}),
        atomic_write(path) as f,
    ):
        fig.savefig(f, format=fmt, dpi=dpi, facecolor="white", **options)  # type: ignore[arg-type]


@contextlib.contextmanager
def quiet_glyphs() -> Iterator[None]:
    """Labels drawn with fonts that cover their scripts; matplotlib's warning per missing
    character becomes one line per script no installed font draws (see render/fonts.py)."""
    from attnviz.render.fonts import label_fonts

    with label_fonts():
        yield


def token_label(token: str) -> str:
    """A token as a one-line axis label: the terminal's safe form, long tokens shortened."""
    from attnviz.render.labels import safe_label

    label = safe_label(token)
    if len(label) > MAX_LABEL_CHARS:
        label = label[: MAX_LABEL_CHARS - 1] + "…"
    return label


def text_width_pt(labels: Sequence[str], fontsize: float) -> float:
    """Width in points of the widest label, measured with the font matplotlib will use."""
    if not labels:
        return 0.0
    from matplotlib.font_manager import FontProperties, findfont, get_font

    from attnviz.render.fonts import families

    # the same fallback list the labels are drawn with: CJK and Arabic have their own widths
    font = get_font([findfont(FontProperties(family=name, size=fontsize)) for name in families()])
    font.set_size(fontsize, 72)  # at 72 dpi a pixel is a point
    # Measuring costs ~0.1 ms a label; the widest is almost always among the longest.
    widest = 0.0
    with quiet_glyphs():
        for label in sorted(set(labels), key=len, reverse=True)[:24]:
            font.set_text(label, 0.0)
            widest = max(widest, font.get_width_height()[0] / 64)  # 26.6 fixed point
    return widest


def label_step(cell_pt: float, fontsize: float) -> int:
    """Label every k-th token so that neighbouring labels do not collide."""
    return max(1, math.ceil(fontsize * 1.15 / cell_pt))


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def shorten(text: str, limit: int) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def colour_range(data: np.ndarray, *, diverging: bool) -> tuple[float, float]:
    """`value_range` of `data`, widened to (-1, 1) or (low, low + 1) when empty or flat."""
    low, high = value_range([data], diverging=diverging)
    if high > low:
        return low, high
    return (-1.0, 1.0) if diverging else (low, low + 1.0)


def interpolation_for(path: Path, cell_px: float) -> str:
    """Exact cells in vector formats; nearest when cells are big enough on a raster."""
    if path.suffix.lower() != ".png":
        return "none"  # the viewer scales the embedded data itself
    return "nearest" if cell_px >= 3 else "antialiased"


def cell_text_colours(cmap: Colormap, normed: np.ndarray) -> np.ndarray:
    """Black or white per cell, whichever reads better on that cell's colour."""
    rgba = cmap(np.nan_to_num(normed, nan=0.0))
    luminance = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
    return np.where(luminance > 0.5, "black", "white")
