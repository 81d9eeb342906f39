"""Fonts for image labels: a fallback list built from the installed fonts, and one warning
per script that no installed font draws (never silent boxes)."""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
import warnings
from collections.abc import Iterator

from attnviz.errors import AttnvizWarning

BASE = "DejaVu Sans"  # matplotlib's own font: Latin, Greek, Cyrillic
# Families that cover the scripts DejaVu Sans lacks, in the order matplotlib tries them;
# Debian ships them in fonts-noto-cjk, fonts-noto-core and fonts-noto-color-emoji.
FALLBACKS = (
    "Noto Sans CJK JP",  # kana, kanji, Hangul
    "Noto Sans CJK KR",
    "Noto Sans CJK SC",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Devanagari",
    "Noto Sans Thai",
    "Noto Sans Bengali",
    "Noto Sans Tamil",
    "Noto Sans Symbols",
    "Noto Sans Symbols 2",
    "Symbola",  # monochrome emoji: matplotlib cannot draw colour emoji fonts
    "Noto Sans",
)
_MISSING = re.compile(r"Glyph (\d+) .*missing from (?:current font|font\(s\) (.*))")
_warned: set[str] = set()  # scripts already named in this process: one warning line each
_PACKAGES = {"CJK": "fonts-noto-cjk", "HIRAGANA": "fonts-noto-cjk", "KATAKANA": "fonts-noto-cjk",
             "HANGUL": "fonts-noto-cjk"}  # fmt: skip


@functools.cache
def families() -> tuple[str, ...]:
    """DejaVu Sans, then every fallback family that is installed."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    known = {f.fname for f in manager.ttflist}
    new = [path for path in font_manager.findSystemFonts() if path not in known]
    for path in new:  # fonts installed after matplotlib cached its list (e.g. by .ci/run)
        with contextlib.suppress(Exception):  # bitmap-only fonts (colour emoji) are refused
            manager.addfont(path)
    if new:
        _save_cache(manager)
    installed = {f.name for f in manager.ttflist}
    return (BASE, *(name for name in FALLBACKS if name in installed))


def _save_cache(manager: object) -> None:
    """Rewrite matplotlib's font list so that the next run finds the new fonts at once."""
    import matplotlib
    from matplotlib import font_manager

    path = f"{matplotlib.get_cachedir()}/fontlist-v{font_manager.FontManager.__version__}.json"
    with contextlib.suppress(OSError):
        font_manager.json_dump(manager, path)


def script(ch: str) -> str:
    """The script of a character as Unicode names it: 'HIRAGANA', 'ARABIC', 'CJK', …"""
    name = unicodedata.name(ch, "")
    if not name:
        return f"U+{ord(ch):04X}"
    return "emoji" if unicodedata.category(ch) == "So" and ord(ch) >= 0x1F000 else name.split()[0]


@contextlib.contextmanager
def label_fonts() -> Iterator[None]:
    """Draw text with the fallback list; say once per script which characters no installed
    font has, instead of matplotlib's warning per character (or silence)."""
    import matplotlib

    missing: dict[str, str] = {}
    with matplotlib.rc_context({"font.family": list(families())}), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        match = _MISSING.search(str(w.message))
        if match:  # missing only when every font of the fallback list was tried
            tried = (match.group(2) or BASE).rstrip(".").split(", ")
            if len(tried) >= len(families()):
                ch = chr(int(match.group(1)))
                missing.setdefault(script(ch), ch)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for name, ch in missing.items():
        if name in _warned:
            continue
        _warned.add(name)
        package = _PACKAGES.get(name, "fonts-symbola" if name == "emoji" else "fonts-noto-core")
        warnings.warn(
            f"no installed font draws {name} characters such as {ch!r}: they show as boxes in the image "
            f"(install a font that has them; on Debian: apt-get install {package})",
            AttnvizWarning,
            stacklevel=3,
        )
