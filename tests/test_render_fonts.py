"""Image labels in every script are drawn with real glyphs, or one warning names the script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clicheck import run

from attnviz.render import fonts

SAMPLES = Path(__file__).parent.parent / "sample_texts"


def glyph_fonts(svg: str) -> dict[str, set[int]]:
    """Each font matplotlib took glyphs from, with the ids of the glyphs it drew (a character
    code for DejaVu Sans, a glyph index for the CJK fonts)."""
    out: dict[str, set[int]] = {}
    for font, code in re.findall(r'<path id="([A-Za-z-]+)-([0-9a-f]+)"', svg):
        out.setdefault(font, set()).add(int(code, 16))
    return out


@pytest.mark.skipif("Noto Sans CJK JP" not in fonts.families(), reason="needs fonts-noto-cjk (.ci/run installs it)")
def test_japanese_labels_are_drawn_with_a_font_that_has_them(tmp_path: Path) -> None:
    path = tmp_path / "ja.svg"
    result = run(["show", "--file", str(SAMPLES / "12_japanese.txt"), "--layer", "5", "--head", "11", "-o", str(path)])
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr
    drawn = glyph_fonts(path.read_text())
    japanese = {ord(ch) for ch in (SAMPLES / "12_japanese.txt").read_text() if ord(ch) >= 0x3000}
    cjk = set().union(*(codes for font, codes in drawn.items() if "CJK" in font))
    assert len(cjk) >= 10  # the labels' kana and kanji come from the CJK font
    assert not japanese & drawn.get("DejaVuSans", set())  # none from a font without them (boxes)
    assert not any("LastResort" in font for font in drawn)


def test_a_script_no_font_draws_is_named_once(tmp_path: Path) -> None:
    fonts._warned.clear()
    path = tmp_path / "runes.png"
    result = run(["show", "ᚠᚢᚦ ᚠᚢᚦ ᚨᚱ", "-m", "random", "--layer", "0", "--head", "0", "-o", str(path)])
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: no installed font draws RUNIC characters such as 'ᚠ': they show as boxes in the image "
        "(install a font that has them; on Debian: apt-get install fonts-noto-core)"
    ]


def test_fallbacks_start_with_matplotlibs_own_font() -> None:
    assert fonts.families()[0] == "DejaVu Sans"
    assert fonts.script("猫") == "CJK" and fonts.script("ا") == "ARABIC" and fonts.script("🐈") == "emoji"
