"""Drawing primitives shared by the terminal renderers: scales, cell painting, pooling, legends."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from attnviz.render.colormaps import Colormap, bend, gamma_text
from attnviz.render.labels import fit, format_value, safe_label
from attnviz.render.mosaic import value_range

SHADES = " ░▒▓█"  # monochrome levels, darkest (no ink) first
EIGHTHS = " ▏▎▍▌▋▊▉█"  # a cell filled by 0/8 … 8/8 from the left
MARK_CELL = "◆"  # a cell a panel points out (find: the from -> to cells)
HALF = "▀"  # upper half block: foreground is the upper pixel, background the lower
GAP = 2  # spaces between panels
MIN_WIDTH = 20  # the narrowest width a renderer is designed for


def is_mono(console: Console) -> bool:
    """Whether `console` shows no colour (NO_COLOR, a pipe, or color_system=None)."""
    return console.no_color or console.color_system is None


def is_eight_bit(console: Console) -> bool:
    """Whether `console` shows the 256-colour palette, where colormaps take their own
    quantisation (ansi256.py) rather than rich's colour-by-colour downgrade."""
    return console.color_system == "256"


def colour(cmap: Colormap, t: float, eight_bit: bool) -> Color:
    """The colour `cmap` gives `t`: truecolor, or its palette number on a 256-colour console."""
    if eight_bit:
        return Color.from_ansi(int(cmap.ansi256(t)))
    return Color.from_rgb(*cmap.rgb(t))


def ink(background: Color) -> str:
    """Text colour that reads on `background`: black on light colours, white on dark."""
    r, g, b = background.get_truecolor()
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"


class Drawing:
    """Base of the renderers: `_lines` lays out one Text per line for a width, rich prints."""

    def _lines(self, console: Console, width: int, mono: bool) -> list[Text]:
        raise NotImplementedError

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width)
        mono = is_mono(console)
        for line in self._lines(console, width, mono):
            if mono:
                line.rstrip()
            line.truncate(width)  # a guard only: every layout keeps to `width` (tested)
            yield from line.render(console)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lines = self._lines(console, max(1, options.max_width), is_mono(console))
        widest = max((line.cell_len for line in lines), default=0)
        return Measurement(min(MIN_WIDTH, widest), widest)


@dataclass(frozen=True)
class Scale:
    """The value range a colour bar spans, and how a legend names it."""

    vmin: float
    vmax: float
    label: str
    diverging: bool = False

    @classmethod
    def fit(cls, matrices: Iterable[np.ndarray], label: str, diverging: bool = False) -> Scale:
        """The scale spanning `matrices` (see `value_range`), left flat where an image's range
        would be widened (`Scale.norm` handles a flat scale)."""
        return cls(*value_range(matrices, diverging=diverging), label, diverging)

    def norm(self, values: np.ndarray | float) -> np.ndarray:
        """Values mapped to [0, 1] (NaN stays NaN); a flat scale maps to its low end."""
        values = np.asarray(values, dtype=np.float64)
        span = self.vmax - self.vmin
        if not span > 0:
            return np.where(np.isnan(values), np.nan, 0.5 if self.diverging else 0.0)
        return np.clip((values - self.vmin) / span, 0.0, 1.0)


def number(value: float, width: int) -> str | None:
    """`value` in at most `width` cells ('.64', '-.3', '1.0'), right-aligned; None if no fit."""
    for digits in (2, 1, 0):
        text = format_value(value, digits)
        if len(text) <= width:
            return text.rjust(width)
    return None


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction` (eighth-cell resolution);
    NaN draws no bar."""
    eighths = round(min(1.0, fraction) * width * 8) if fraction > 0 else 0
    full, part = divmod(eighths, 8)
    return (EIGHTHS[-1] * full + EIGHTHS[part].strip()).ljust(width)


def scale_text(value: float) -> str:
    """A scale end for a legend: three significant digits."""
    return f"{value:.3g}"


class Painter:
    """Turns normalised values into cell text and styles for one colormap and console."""

    def __init__(self, cmap: Colormap, mono: bool, diverging: bool = False, eight_bit: bool = False) -> None:
        self.cmap = cmap
        self.mono = mono
        self.diverging = diverging
        self.eight_bit = eight_bit  # a 256-colour console: the map's own palette colours (ansi256.py)
        self._styles: dict[tuple[str, int, int], Style] = {}
        self._colors: dict[int, Color] = {}

    def _color(self, t: float) -> Color:
        """The colour of `t`, looked up once per 1/256 bin (the styles are cached by bin too):
        72 thumbnails ask for thousands of pixel colours, from at most 256 colours."""
        key = min(255, int(t * 256))
        color = self._colors.get(key)
        if color is None:
            color = self._colors[key] = colour(self.cmap, t, self.eight_bit)
        return color

    def _style(self, kind: str, t: float, other: float = -1.0) -> Style:
        key = (kind, min(255, int(t * 256)), min(255, int(other * 256)))
        style = self._styles.get(key)
        if style is None:
            color = self._color(t)
            if kind == "bg":
                style = Style(bgcolor=color)
            elif kind == "fg":
                style = Style(color=color)
            elif kind == "value":
                style = Style(color=ink(color), bgcolor=color)
            else:  # "half": upper pixel in the foreground, lower in the background
                lower = self._color(other) if other >= 0 else None
                style = Style(color=color, bgcolor=lower)
            self._styles[key] = style
        return style

    def shade(self, t: float, width: int) -> str:
        """Monochrome cell: a shade for the level; a diverging one leads with its sign."""
        if math.isnan(t):
            return "·".center(width)
        t = float(bend(np.float64(t), self.cmap.gamma, self.cmap.diverging))  # --gamma, as the colours
        if not self.diverging:
            return SHADES[min(4, int(t * 5))] * width
        level = min(4, int(abs(2 * t - 1) * 5))
        text = SHADES[level] * width
        if not level or width < 2:
            return text
        return ("-" if t < 0.5 else "+") + text[1:]

    def cell(self, value: float, t: float, width: int, show_value: bool) -> tuple[str, Style | None]:
        """Text and style of one heatmap cell holding `value` (normalised to `t`)."""
        # one cell of the width stays blank, so that neighbouring numbers never run together
        fitted = number(value, width - 1) if show_value and not math.isnan(value) else None
        label = fitted.rjust(width) if fitted is not None else None
        if self.mono:
            return (label if label is not None else self.shade(t, width)), None
        if math.isnan(t):
            return "·".center(width), None
        if label is not None:
            return label, self._style("value", t)
        return " " * width, self._style("bg", t)

    def marked(self, t: float, width: int) -> tuple[str, Style | None]:
        """A cell pointed out: MARK_CELL on its colour (ink that contrasts with it)."""
        text = MARK_CELL.center(width)
        if self.mono or math.isnan(t):
            return text, None
        return text, self._style("value", t)

    def half(self, upper: float, lower: float | None) -> tuple[str, Style | None]:
        """One character holding two stacked pixels (colour consoles only)."""
        if math.isnan(upper):
            upper = 0.0
        low = -1.0 if lower is None or math.isnan(lower) else lower
        return HALF, self._style("half", upper, low)

    def fg(self, t: float) -> Style | None:
        """Foreground colour for `t` (bars), none on a monochrome console."""
        return None if self.mono else self._style("fg", t)

    def bar(self, width: int) -> Text:
        """The colour bar of a legend, low to high."""
        text = Text()
        if self.mono:  # one 2-wide swatch per shade level
            steps = (0.05, 0.15, 0.25, 0.35, 0.5, 0.65, 0.75, 0.85, 0.95)
            for t in steps if self.diverging else (0.1, 0.3, 0.5, 0.7, 0.9):
                text.append(self.shade(t, 2))
            return text
        for i in range(width):
            text.append(" ", self._style("bg", i / max(1, width - 1)))
        return text


Line = str | Sequence[str]  # one line of text, or its forms from longest to shortest


def one_line(line: Line, width: int, style: str | None = None) -> Text:
    """The longest form of `line` that fits `width`; the shortest one cut with "…" if none does.

    Renderers never wrap a line: a wrapped legend leaves a word alone on the next line.
    """
    forms = [line] if isinstance(line, str) else list(line)
    chosen = next((f for f in forms if cell_len(f) <= width), None)
    return Text(fit(forms[-1], width) if chosen is None else chosen, style=style or "")


def note_lines(notes: Sequence[str], width: int, style: str = "dim") -> list[Text]:
    """'notes: a; b' on one line when it fits, else one 'note: …' line per note; a note too
    long for the width continues, indented, after one of its commas (never cut mid-phrase)."""
    if not notes:
        return []
    safe = [safe_label(n) for n in notes]
    joined = "notes: " + "; ".join(safe)
    if cell_len(joined) <= width:
        return [Text(joined, style=style)]
    out: list[Text] = []
    for note in safe:
        rows = ["note:"]
        clauses = note.split(", ")
        for i, clause in enumerate(clauses):
            piece = clause if i == len(clauses) - 1 else clause + ","
            if cell_len(rows[-1]) + 1 + cell_len(piece) <= width or rows[-1] == "note:":
                rows[-1] += " " + piece
            else:
                rows.append("  " + piece)
        out += [one_line(row, width, style) for row in rows]
    return out


def legend(
    console: Console,
    width: int,
    painter: Painter,
    scale: Scale,
    *,
    low: str | None = None,
    high: str | None = None,
    lines: Sequence[Line] = (),
    notes: Sequence[str] = (),
) -> list[Text]:
    """Colour bar with its ends and scale name, then extra lines and notes: each line fits
    `width` (a narrower bar, the scale on a line of its own, a shorter form), none wraps."""
    low = scale_text(scale.vmin) if low is None else low
    high = scale_text(scale.vmax) if high is None else high
    if scale.diverging and high[:1] not in "-+":
        high = "+" + high
    ends = cell_len(low) + cell_len(high) + 4  # "low ▕" and "▏ high"
    label = f"scale: {scale.label}"
    bar_width = next(
        (w for w in range(20, 7, -1) if ends + w + 2 + cell_len(label) <= width),
        max(5, min(20, width - ends)),
    )
    first = Text(f"{low} ▕")
    first.append_text(painter.bar(bar_width))
    first.append(f"▏ {high}")
    texts = [first]
    if first.cell_len + 2 + cell_len(label) <= width:
        first.append("  " + label, style="dim")
    else:
        short = label.split(":")[0] + ":" + label.split(":")[1] if label.count(":") > 1 else label
        texts.append(one_line((label, short), width, "dim"))
    if painter.cmap.gamma != 1.0:
        lines = [*lines, gamma_text(painter.cmap.gamma)]
    texts += [one_line(line, width, "dim") for line in lines]
    return texts + note_lines(notes, width)


def hstack(blocks: Sequence[Sequence[Text]], widths: Sequence[int], gaps: Sequence[int]) -> list[Text]:
    """Blocks of lines side by side; block i is padded to widths[i], gaps[i] spaces before it."""
    height = max((len(block) for block in blocks), default=0)
    lines = []
    for row in range(height):
        line = Text()
        for i, block in enumerate(blocks):
            line.append(" " * gaps[i])
            piece = block[row] if row < len(block) else Text()
            line.append_text(piece)
            if i < len(blocks) - 1:
                line.append(" " * (widths[i] - piece.cell_len))
        lines.append(line)
    return lines
