"""256-colour terminals: each colormap quantised onto the xterm palette along its own path.

Every property below is also checked to FAIL for rich's own colour-by-colour downgrade, the
mapping these terminals got before (viridis 0.1–0.25 on colour 60, a grey). Regenerate the
golden sequences with `ATTNVIZ_UPDATE_GOLDEN=1 pytest tests/test_render_ansi256.py` and read
the diff before committing it.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from rich.color import Color, ColorSystem
from rich.console import Console
from test_render_terminal import make_attention

from attnviz.render import ansi256, colormaps
from attnviz.render.terminal import Comparison, Heatmap, Overview, Panel, QueryBars

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ATTNVIZ_UPDATE_GOLDEN") == "1"
T = np.arange(256) / 256  # one value per LUT entry
GREY_60 = 60  # #5f5f87: where rich puts viridis 0.1–0.25
PALETTE_CODE = re.compile(r"\x1b\[([0-9;]*)m")


def mapping(name: str) -> np.ndarray:
    return colormaps.lookup(name).ansi256(T).astype(int)


def rich_downgrade(name: str) -> np.ndarray:
    """What rich alone makes of the truecolor map on a 256-colour console."""
    lut = colormaps.lookup(name).lut
    return np.array([Color.from_rgb(*map(int, rgb)).downgrade(ColorSystem.EIGHT_BIT).number for rgb in lut])


def lab_of(numbers: np.ndarray) -> np.ndarray:
    """Oklab of palette numbers, from rich's own table of what xterm shows for them."""
    return ansi256.oklab(np.array([tuple(Color.from_ansi(int(n)).get_truecolor()) for n in numbers]))


def is_grey(numbers: np.ndarray) -> np.ndarray:
    """The grey ramp (232–255) and the cube's grey diagonal."""
    rgb = np.array([tuple(Color.from_ansi(int(n)).get_truecolor()) for n in numbers])
    return (np.asarray(numbers) >= 232) | (rgb.max(axis=1) == rgb.min(axis=1))


# ------------------------------------------------------------------- properties of a mapping


def sequential_faults(name: str, numbers: np.ndarray) -> list[str]:
    """What is wrong with `numbers` as viridis-like (sequential, chromatic) on 256 colours."""
    faults = []
    lab, source = lab_of(numbers), ansi256.oklab(colormaps.lookup(name).lut)
    low = (T >= 0.1) & (T <= 0.25)
    if (numbers[low] == GREY_60).any() or is_grey(numbers[low]).any():
        faults.append("a grey at 0.1–0.25")
    if (ansi256.chroma(lab) < 0.7 * ansi256.chroma(source)).any():
        faults.append("a colour less than 70% as chromatic as the map")
    if (np.diff(lab[:, 0]) < 0).any():
        faults.append("lightness falls somewhere")
    return faults


def diverging_faults(name: str, numbers: np.ndarray) -> list[str]:
    """What is wrong with `numbers` as RdBu_r-like (blue arm, neutral centre, red arm)."""
    faults = []
    lab = lab_of(numbers)
    chromatic = ansi256.chroma(lab) >= ansi256.NEUTRAL
    below, above = T < 0.5, T >= 0.5
    if not (lab[below & chromatic, 2] < 0).all():  # Oklab b < 0: blue
        faults.append("a non-blue colour below the centre")
    if not (lab[above & chromatic, 1] > 0).all():  # Oklab a > 0: red
        faults.append("a non-red colour above the centre")
    neutral = np.flatnonzero(~chromatic)
    if len(neutral) and not (T[neutral].min() >= 0.4 and T[neutral].max() <= 0.6):
        faults.append("a neutral colour away from the centre")
    if len(set(numbers[neutral])) > 1 or (len(neutral) and np.ptp(neutral) != len(neutral) - 1):
        faults.append("the centre flickers between neutral colours")
    if (np.diff(lab[below, 0]) < 0).any() or (np.diff(lab[above, 0]) > 0).any():
        faults.append("lightness does not rise to the centre and fall after it")
    return faults


def test_viridis_keeps_its_path_on_256_colours() -> None:
    numbers = mapping("viridis")
    assert sequential_faults("viridis", numbers) == []
    assert GREY_60 not in numbers
    assert len(set(numbers)) >= 10  # not one flat band: the map still reads as a scale
    # the same checks reject what rich alone gives these terminals
    assert sequential_faults("viridis", rich_downgrade("viridis")) == [
        "a grey at 0.1–0.25",
        "a colour less than 70% as chromatic as the map",
        "lightness falls somewhere",
    ]
    assert GREY_60 in rich_downgrade("viridis")[(T >= 0.1) & (T <= 0.25)]


@pytest.mark.parametrize("name", ["magma", "inferno", "plasma", "Blues", "Reds"])
def test_every_sequential_map_is_monotone_in_lightness(name: str) -> None:
    lab = lab_of(mapping(name))
    rising = ansi256.oklab(colormaps.lookup(name).lut)[-1, 0] > ansi256.oklab(colormaps.lookup(name).lut)[0, 0]
    steps = np.diff(lab[:, 0])
    assert (steps >= 0).all() if rising else (steps <= 0).all()


def test_rdbu_r_keeps_two_arms_and_one_neutral_centre() -> None:
    numbers = mapping("RdBu_r")
    assert diverging_faults("RdBu_r", numbers) == []
    assert diverging_faults("RdBu_r", rich_downgrade("RdBu_r")) == [
        "a non-red colour above the centre",  # 230, #ffffd7: a yellow just above 0
        "the centre flickers between neutral colours",  # 231, 255, 231
        "lightness does not rise to the centre and fall after it",
    ]


@pytest.mark.parametrize("name", ["viridis", "RdBu_r"])
def test_golden_sequence(name: str) -> None:
    numbers = mapping(name)
    text = f"# {name}: xterm-256 palette number of each of the 256 LUT entries, 16 per line\n"
    text += "".join(" ".join(f"{n:3d}" for n in numbers[i : i + 16]) + "\n" for i in range(0, 256, 16))
    path = GOLDEN / f"ansi256_{name}.txt"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with ATTNVIZ_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_quantisation_is_per_table_and_cached() -> None:
    viridis = colormaps.lookup("viridis")
    assert ansi256.quantise(viridis.lut) is ansi256.quantise(viridis.lut.copy())  # once per table
    assert not ansi256.quantise(viridis.lut).flags.writeable
    bent = colormaps.lookup(colormaps.with_gamma_name("viridis", 0.5))
    assert bent.ansi256(0.25) == viridis.ansi256(0.5)  # --gamma bends the value, not the palette
    flipped = colormaps.lookup("viridis_r")
    assert list(flipped.ansi256(T)) == list(viridis.ansi256(T))[::-1]


# ---------------------------------------------------------------------- what reaches a console


def palette_codes(output: str) -> list[int]:
    """Every 256-colour number (38;5;N foreground, 48;5;N background) in `output`."""
    found = []
    for match in PALETTE_CODE.finditer(output):
        codes = match.group(1).split(";")
        i = 0
        while i < len(codes):
            if codes[i] in ("38", "48") and codes[i + 1 : i + 2] == ["5"]:
                found.append(int(codes[i + 2]))
                i += 3
            elif codes[i] in ("38", "48") and codes[i + 1 : i + 2] == ["2"]:
                i += 5  # a truecolor colour: its three numbers are not codes
            else:
                i += 1
    return found


def render_256(renderable: object, width: int = 80, **console: object) -> str:
    out = io.StringIO()
    Console(width=width, file=out, force_terminal=True, color_system="256", legacy_windows=False, **console).print(
        renderable
    )
    return out.getvalue()


def test_heatmap_on_a_256_colour_console_uses_the_mapping() -> None:
    n = 12
    matrix = np.tile(np.linspace(0.0, 1.0, n), (n, 1))  # columns 0 … 1 in every row
    matrix[:, 2:4] = [0.12, 0.2]  # mid-low viridis weights: rich puts both on colour 60
    labels = [f"t{i}" for i in range(n)]
    output = render_256(Heatmap(matrix, labels, labels, vmin=0.0, vmax=1.0))
    used = palette_codes(output)
    viridis = set(mapping("viridis"))
    assert used and set(used) <= viridis  # heatmap cells and the legend's bar alike
    assert GREY_60 not in used and not is_grey(np.array(used)).any()
    cmap = colormaps.lookup("viridis")
    assert {int(cmap.ansi256(0.12)), int(cmap.ansi256(0.2))} <= set(used)
    assert "38;2;" not in output and "48;2;" not in output  # no truecolor left for rich to downgrade


def test_diff_centre_is_one_neutral_colour_on_256_colours() -> None:
    values = np.linspace(-0.02, 0.02, 9)  # near-zero differences around a ±1 scale
    matrix = np.vstack([values, -values, np.r_[1.0, -1.0, np.zeros(7)]])
    output = render_256(Comparison([Panel("d", matrix, ["a", "b", "c"], [str(i) for i in range(9)])], diverging=True))
    rdbu = colormaps.lookup("RdBu_r")
    centre = {int(rdbu.ansi256(0.5 + v / 2)) for v in values}
    assert len(centre) == 1 and centre <= set(palette_codes(output))
    assert set(palette_codes(output)) <= set(mapping("RdBu_r"))


def test_overview_bars_and_text_on_256_colours_use_the_mapping() -> None:
    from attnviz.render.query_text import QueryText

    attn = make_attention(layers=(0, 1), heads=3)
    viridis = set(mapping("viridis"))
    for view in (Overview(attn), QueryBars(attn, 8, top=3), QueryText(attn, 8)):
        used = palette_codes(render_256(view, 120))
        assert used and set(used) <= viridis, type(view).__name__


@pytest.mark.parametrize("width", [80, 200])
def test_no_color_and_truecolor_are_unchanged(width: int) -> None:
    view = Heatmap.from_attention(make_attention(), 5, 2)
    mono = render_256(view, width, no_color=True)
    assert palette_codes(mono) == [] and "█" in mono  # NO_COLOR: shades, no colour at all
    out = io.StringIO()
    Console(width=width, file=out, force_terminal=True, color_system="truecolor").print(view)
    assert palette_codes(out.getvalue()) == [] and "48;2;" in out.getvalue()


def test_explorer_sentence_on_256_colours_uses_the_mapping() -> None:
    from attnviz.explore.views import Sentence

    weights = np.array([0.05, 0.12, 0.2, 0.63])  # shares of the top: .08, .19, .32, 1
    sentence = Sentence(["the", "cat", "sat", "it"], weights, 3, "viridis")
    console = Console(width=80, file=io.StringIO(), force_terminal=True, color_system="256")
    backgrounds = [span.style.bgcolor for line in sentence._lines(console, 80, False) for span in line.spans]
    numbers = [c.number for c in backgrounds if c is not None]
    cmap = colormaps.lookup("viridis")
    assert numbers == [int(cmap.ansi256(w / weights.max())) for w in weights]
    assert GREY_60 not in numbers
    truecolor = Console(width=80, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    first = sentence._lines(truecolor, 80, False)[1].spans[0].style.bgcolor
    assert first is not None and tuple(first.get_truecolor()) == cmap.rgb(0.05 / 0.63)
