"""Colormaps on a 256-colour terminal: each lookup table quantised once onto the xterm palette.

rich's own downgrade picks each colour alone (a saturation test, then the nearest cube step),
so viridis between 0.1 and 0.25 lands on colour 60 (#5f5f87, a grey) and a diverging map's
centre flickers between white and light grey. Here the whole table is assigned at once: the
path through palette colours nearest in Oklab whose lightness moves only the way the
colormap's own lightness moves, that keeps a chromatic colour off greys and off other hues,
and that changes colour only where that pays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# xterm's 6×6×6 cube (16–231) and grey ramp (232–255); 0–15 are left out: terminals redefine them
_LEVELS = np.array([0, 95, 135, 175, 215, 255])
FIRST = 16
PALETTE = np.concatenate(
    [
        np.stack(np.meshgrid(_LEVELS, _LEVELS, _LEVELS, indexing="ij"), axis=-1).reshape(216, 3),
        np.repeat(8 + 10 * np.arange(24), 3).reshape(24, 3),
    ]
).astype(np.uint8)  # (240, 3): row i is colour FIRST + i

NEUTRAL = 0.02  # Oklab chroma below which a colour reads as grey (viridis' least is 0.08)
DARK = 0.25  # Oklab lightness below which chroma is not seen (the darkest cube colour is 0.22)
KEEP_CHROMA = 0.7  # a chromatic colour's stand-in keeps at least this share of its chroma
HUE_LIMIT = 50.0  # degrees a chromatic colour's stand-in may turn its hue
# a hue difference counts double: a stand-in of another hue reads as another colour, one of
# another chroma only as a paler or deeper one of the same (light RdBu_r blues stay off cyan)
HUE_WEIGHT = 2.0
PENALTY = 1.0  # cost of breaking either rule: far above any distance (Oklab spans about 1)
SWITCH = 0.02  # cost of a change of colour: no band one or two table entries wide
TREND_REACH = 8  # table entries each side over which the lightness trend is judged
TREND_FLAT = 0.01  # lightness change over that reach below which neither way is imposed


def oklab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0-255 (..., 3) as Oklab (..., 3): L in [0, 1], then a (green-red), b (blue-yellow)."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_lms = np.array(
        [
            [0.4122214708, 0.5363325363, 0.0514459929],
            [0.2119034982, 0.6806995451, 0.1073969566],
            [0.0883024619, 0.2817188376, 0.6299787005],
        ]
    )
    to_lab = np.array(
        [
            [0.2104542553, 0.7936177850, -0.0040720468],
            [1.9779984951, -2.4285922050, 0.4505937099],
            [0.0259040371, 0.7827717662, -0.8086757660],
        ]
    )
    return np.cbrt(linear @ to_lms.T) @ to_lab.T


def chroma(lab: np.ndarray) -> np.ndarray:
    """Oklab chroma: distance from the grey axis."""
    return np.hypot(lab[..., 1], lab[..., 2])


def lightness_trend(lightness: np.ndarray) -> np.ndarray:
    """Per table step: +1 where the colormap brightens, -1 where it darkens, 0 where flat
    (judged over a reach, so the LUT's 8-bit rounding noise imposes nothing)."""
    n = len(lightness)
    at = np.arange(n)
    change = lightness[np.minimum(at + TREND_REACH, n - 1)] - lightness[np.maximum(at - TREND_REACH, 0)]
    return np.where(change > TREND_FLAT, 1, np.where(change < -TREND_FLAT, -1, 0))


def quantise(lut: np.ndarray) -> np.ndarray:
    """Palette numbers (16–255), one per row of `lut` (n, 3) uint8, chosen together (see module);
    computed once per table (read-only, cached)."""
    return _quantise(np.ascontiguousarray(lut, dtype=np.uint8).tobytes())


@lru_cache(maxsize=64)
def _quantise(lut_bytes: bytes) -> np.ndarray:
    lab = oklab(np.frombuffer(lut_bytes, dtype=np.uint8).reshape(-1, 3))  # (n, 3)
    pal = oklab(PALETTE)  # (P, 3)
    c, pc = chroma(lab)[:, None], chroma(pal)[None, :]
    d_lab = lab[:, None, :] - pal[None, :, :]  # (n, P, 3)
    d_hue2 = np.maximum((d_lab[..., 1:] ** 2).sum(-1) - (c - pc) ** 2, 0.0)  # what is not chroma
    cost = np.sqrt(d_lab[..., 0] ** 2 + (c - pc) ** 2 + HUE_WEIGHT * d_hue2)  # (n, P)
    chromatic = (c >= NEUTRAL) & (lab[:, None, 0] >= DARK)
    turn = np.angle(np.exp(1j * (np.arctan2(lab[:, 2], lab[:, 1])[:, None] - np.arctan2(pal[:, 2], pal[:, 1]))))
    greyed = chromatic & (pc < KEEP_CHROMA * c)
    turned = chromatic & (pc >= NEUTRAL) & (np.degrees(np.abs(turn)) > HUE_LIMIT)
    cost += PENALTY * (greyed | turned)

    # Viterbi along the table: a step may keep its colour or move the way the map's lightness does
    pl = pal[:, 0]
    same = np.eye(len(pl), dtype=bool)
    allowed = {1: (pl[None, :] > pl[:, None]) | same, -1: (pl[None, :] < pl[:, None]) | same}
    allowed[0] = np.ones_like(same)
    step = np.where(same, 0.0, SWITCH)  # (from, to)
    trend = lightness_trend(lab[:, 0])
    total = cost[0]
    back = np.zeros(cost.shape, dtype=np.intp)
    for i in range(1, len(cost)):
        through = np.where(allowed[int(trend[i])], total[:, None] + step, np.inf)  # (from, to)
        back[i] = through.argmin(axis=0)
        total = through[back[i], np.arange(len(pl))] + cost[i]
    path = np.empty(len(cost), dtype=np.intp)
    path[-1] = total.argmin()
    for i in range(len(cost) - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    numbers = (path + FIRST).astype(np.uint8)
    numbers.flags.writeable = False
    return numbers
