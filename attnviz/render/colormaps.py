"""Colour tables for terminal heatmaps: a few matplotlib colormaps built in, others on demand."""

from __future__ import annotations

import difflib
import math
from functools import lru_cache

import numpy as np

from attnviz.errors import UsageError
from attnviz.render import ansi256
from attnviz.render.labels import safe_label

DEFAULT = "viridis"
DIVERGING_DEFAULT = "RdBu_r"

# Every 5th entry (0, 5, …, 255) of matplotlib's 256-entry lookup table, as rrggbb.
# Regenerate (tests/test_render_terminal.py::test_builtin_table_is_matplotlib checks it):
#   lut = np.round(matplotlib.colormaps[name](np.arange(256))[:, :3] * 255).astype(int)
#   " ".join("%02x%02x%02x" % tuple(rgb) for rgb in lut[::5])
_STEP = 5
_TABLE: dict[str, str] = {
    "viridis": (
        "440154 46085c 471063 481769 481d6f 482475 472a7a 46307e 453781 433d84 414287 3f4889 "
        "3d4e8a 3a538b 38598c 355e8d 33638d 31688e 2e6d8e 2c718e 2a768e 297b8e 27808e 25848e "
        "23898e 218e8d 20928c 1f978b 1e9c89 1fa188 21a585 24aa83 28ae80 2eb37c 35b779 3dbc74 "
        "46c06f 50c46a 5ac864 65cb5e 70cf57 7cd250 89d548 95d840 a2da37 b0dd2f bddf26 cae11f "
        "d8e219 e5e419 f1e51d fde725"
    ),
    "magma": (
        "000004 02020b 050416 090720 0e0b2b 140e36 1a1042 21114e 29115a 311165 390f6e 420f75 "
        "4a1079 52137c 5a167e 621980 6a1c81 721f81 792282 812581 892881 912b81 992d80 a1307e "
        "aa337d b2357b ba3878 c23b75 ca3e72 d2426f d9466b e04c67 e75263 ec5860 f1605d f4695c "
        "f7725c f97b5d fb8560 fc8e64 fd9869 fea16e feaa74 feb47b febd82 fec68a fecf92 fed89a "
        "fde2a3 fdebac fcf4b6 fcfdbf"
    ),
    "inferno": (
        "000004 02020c 050417 0a0722 10092d 160b39 1e0c45 260c51 2f0a5b 380962 400a67 490b6a "
        "510e6c 59106e 61136e 69166e 71196e 781c6d 801f6c 88226a 902568 982766 a02a63 a82e5f "
        "b0315b b73557 bf3952 c63d4d cc4248 d34743 d94d3d df5337 e45a31 e9612b ed6925 f1711f "
        "f47918 f78212 f98b0b fa9407 fb9d07 fca60c fcb014 fbba1f fac42a f8cd37 f6d746 f4e156 "
        "f2ea69 f2f27d f5f992 fcffa4"
    ),
    "plasma": (
        "0d0887 1b068d 260591 2f0596 38049a 41049d 4903a0 5102a3 5901a5 6100a7 6900a8 7100a8 "
        "7801a8 8004a8 8707a6 8e0ca4 9511a1 9c179e a21d9a a82296 ae2892 b42e8d ba3388 bf3984 "
        "c43e7f c9447a cd4a76 d24f71 d6556d da5b69 de6164 e26660 e66c5c e97257 ed7953 f07f4f "
        "f3854b f58c46 f79342 f99a3e fba139 fca835 fdaf31 feb72d febe2a fdc627 fcce25 fbd724 "
        "f8df25 f6e826 f3f027 f0f921"
    ),
    "cividis": (
        "00224e 002656 002a5f 002d68 003070 083370 163770 203a6f 273e6e 2e416d 34456c 3a486c "
        "3f4c6c 444f6c 49536c 4e566c 535a6d 575d6d 5c616e 60646f 656870 696b71 6d6f72 727274 "
        "767676 7a7a78 7e7d78 838179 888578 8d8878 928c78 969077 9b9476 a09875 a59c74 aaa073 "
        "afa471 b5a86f baac6d bfb06b c4b468 c9b965 cfbd62 d4c15f dac65b dfca57 e5cf52 ead34c "
        "f0d846 f6dd3f fce236 fee838"
    ),
    "Greys": (
        "ffffff fdfdfd fafafa f8f8f8 f6f6f6 f3f3f3 f1f1f1 eeeeee eaeaea e7e7e7 e3e3e3 dfdfdf "
        "dcdcdc d8d8d8 d4d4d4 cfcfcf cbcbcb c6c6c6 c2c2c2 bebebe b8b8b8 b2b2b2 ababab a5a5a5 "
        "9f9f9f 999999 939393 8e8e8e 888888 838383 7d7d7d 787878 727272 6d6d6d 686868 636363 "
        "5e5e5e 585858 535353 4d4d4d 464646 3f3f3f 383838 303030 292929 232323 1d1d1d 171717 "
        "111111 0c0c0c 060606 000000"
    ),
    "Blues": (
        "f7fbff f3f8fe eff6fc ebf3fb e7f1fa e3eef9 dfecf7 dce9f6 d8e7f5 d4e4f4 d0e2f2 cddff1 "
        "c9ddf0 c4daee bed8ec b8d5ea b2d2e8 abd0e6 a5cde3 9fcae1 97c6df 8fc2de 87bddc 7fb9da "
        "77b5d9 6fb0d7 68acd5 61a7d2 5ba3d0 549fcd 4e9acb 4896c8 4191c6 3c8cc3 3787c0 3282be "
        "2d7dbb 2777b8 2272b6 1e6db2 1a68ae 1663aa 125ea6 0e59a2 0a549e 084f99 084a91 08458a "
        "084082 083a7a 083573 08306b"
    ),
    "Reds": (
        "fff5f0 fff2eb ffeee7 ffebe2 fee8dd fee5d8 fee1d4 fedccd fdd7c6 fdd1be fdcbb6 fdc5ae "
        "fcbfa7 fcb99f fcb398 fcad90 fca689 fca082 fc997a fc9373 fc8d6d fc8666 fc8060 fb7a5a "
        "fb7353 fb6d4d fa6648 f85f43 f6583e f4503a f34935 f14130 ee3a2c e93529 e32f27 dd2a25 "
        "d82422 d21f20 cc191e c7171c c1161b bb141a b51318 af1117 a91016 a10e15 980c13 8e0912 "
        "840711 7a0510 71020e 67000d"
    ),
    "RdBu_r": (
        "053061 0a3b70 10457e 15508d 1b5a9c 2065ab 276eb0 2e77b5 3480b9 3b88be 4291c2 4f9bc7 "
        "5fa5cd 6eaed2 7eb8d7 8dc2dc 9bc9e0 a7d0e4 b3d6e8 c0dceb cce2ef d5e7f1 ddebf2 e4eef4 "
        "ecf2f5 f3f5f6 f8f4f2 f9efe9 fae9df fbe4d6 fcdecd fcd7c2 fbccb4 f9c2a7 f7b799 f5ac8b "
        "f2a17f ec9374 e6866a e17860 db6b55 d55d4c ce4f45 c6413e bf3338 b82531 b1182b a21328 "
        "930e26 840924 760521 67001f"
    ),
    "coolwarm": (
        "3b4cc0 4055c8 465ecf 4c66d6 536edd 5977e3 5f7fe8 6687ed 6c8ff1 7396f5 7a9df8 81a4fb "
        "88abfd 8fb1fe 96b7ff 9dbdff a3c2fe aac7fd b1cbfc b7cff9 bed2f6 c4d5f3 cad8ef cfdaea "
        "d5dbe5 dadce0 dfdbd9 e4d9d2 e9d5cb edd2c3 f0cdbb f2c9b4 f5c4ac f6bea4 f7b89c f7b194 "
        "f7aa8c f6a385 f59c7d f39475 f08b6e ed8366 e97a5f e57058 e16751 dc5d4a d65244 d0473d "
        "ca3b37 c32e31 bb1b2c b40426"
    ),
}


class Colormap:
    """Maps values in [0, 1] to 8-bit RGB by linear interpolation between stops."""

    def __init__(self, name: str, stops: np.ndarray, gamma: float = 1.0, diverging: bool = False) -> None:
        self.name = name
        self.gamma = gamma  # colours follow t ** gamma: below 1, small values brighten (--gamma)
        self.diverging = diverging  # a gamma bends both halves away from the centre alike
        self.stops = np.asarray(stops, dtype=np.float64)  # (n, 3), 0-255
        positions = np.linspace(0.0, 1.0, len(self.stops))
        grid = np.linspace(0.0, 1.0, 256)
        channels = [np.interp(grid, positions, self.stops[:, c]) for c in range(3)]
        self._lut = np.rint(np.stack(channels, axis=-1)).astype(np.uint8)  # (256, 3), linear
        # what readers of the table (the HTML page) draw: the colours as shown, power scale included
        self.lut = self._lut if gamma == 1.0 else self((np.arange(256) + 0.5) / 256)

    def _index(self, t: np.ndarray | float) -> np.ndarray:
        t = bend(np.nan_to_num(np.asarray(t, dtype=np.float64)), self.gamma, self.diverging)
        return np.clip(np.floor(t * 256), 0, 255).astype(np.intp)  # matplotlib's rule

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        """RGB (..., 3) uint8 for values `t` in [0, 1] (clipped)."""
        return self._lut[self._index(t)]

    def ansi256(self, t: np.ndarray | float) -> np.ndarray:
        """xterm palette numbers (16–255) for values `t`: this map's own quantisation (ansi256.py)."""
        return ansi256.quantise(self._lut)[self._index(t)]

    def rgb(self, t: float) -> tuple[int, int, int]:
        """One colour as an (r, g, b) tuple."""
        r, g, b = self(t).tolist()
        return r, g, b

    def reversed(self) -> Colormap:
        """The same colours in the opposite direction (matplotlib's `_r`)."""
        name = self.name[:-2] if self.name.endswith("_r") else self.name + "_r"
        return Colormap(name, self.stops[::-1], self.gamma, self.diverging)

    def with_gamma(self, gamma: float, diverging: bool = False) -> Colormap:
        """The same colours on a power scale (see `bend`)."""
        return Colormap(self.name, self.stops, gamma, diverging)


def bend(t: np.ndarray, gamma: float, diverging: bool = False) -> np.ndarray:
    """`t` in [0, 1] on a power scale: t ** gamma; diverging, |2t − 1| ** gamma about the centre."""
    if gamma == 1.0:
        return t
    t = np.clip(t, 0.0, 1.0)
    if not diverging:
        return t**gamma
    return 0.5 + np.sign(t - 0.5) * np.abs(2 * t - 1) ** gamma / 2


def check_gamma(gamma: float) -> float:
    """--gamma: a positive, finite power."""
    if not (math.isfinite(gamma) and gamma > 0):
        raise UsageError(f"invalid --gamma {gamma:g}: it must be a positive number (1 = linear, 0.5 brightens)")
    return float(gamma)


def gamma_text(gamma: float) -> str:
    """How a legend states the power scale."""
    return f"colour ∝ value^{gamma:g} (--gamma)"


def names() -> list[str]:
    """The built-in colormap names (each also works with `_r` appended or removed)."""
    return list(_TABLE)


@lru_cache(maxsize=32)
def lookup(name: str) -> Colormap:
    """The colormap called `name`: built in, reversed built in, or from matplotlib; `NAME^G`
    puts it on a power scale of G (what --gamma G asks for, see `with_gamma_name`)."""
    if "^" in name:
        base, _, power = name.rpartition("^")
        gamma, diverging = _power(power)
        return lookup(base).with_gamma(gamma, diverging)
    if name in _TABLE:
        return Colormap(name, _parse(_TABLE[name]))
    flipped = name[:-2] if name.endswith("_r") else name + "_r"
    if flipped in _TABLE:
        return lookup(flipped).reversed()
    colormap = _from_matplotlib(name)
    if colormap is None:
        close = difflib.get_close_matches(name, names(), n=1)
        guess = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(
            f"unknown colormap '{safe_label(name)}'{guess}",
            hint=f"built in: {', '.join(names())}; or any matplotlib colormap name",
        )
    return colormap


def _parse(hexes: str) -> np.ndarray:
    values = [bytes.fromhex(h) for h in hexes.split()]
    return np.array([list(v) for v in values], dtype=np.uint8)  # (n, 3)


def _from_matplotlib(name: str) -> Colormap | None:
    try:
        import matplotlib  # only for names outside the built-in table
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    try:
        source = matplotlib.colormaps[name]
    except KeyError:
        return None
    rgba = source((np.arange(256) + 0.5) / 256)  # (256, 4): one sample per LUT bin
    return Colormap(name, np.rint(rgba[:, :3] * 255))


def with_gamma_name(name: str, gamma: float, diverging: bool = False) -> str:
    """`name` that `lookup` reads as the colormap on a power scale of `gamma` (unchanged for 1)."""
    if gamma == 1.0:
        return name
    return f"{name}^{'d' if diverging else ''}{gamma!r}"


def _power(text: str) -> tuple[float, bool]:
    diverging = text.startswith("d")
    try:
        return check_gamma(float(text.removeprefix("d"))), diverging
    except ValueError:
        raise UsageError(f"invalid colormap power '{safe_label(text)}'") from None


def split_gamma(name: str) -> tuple[str, float, bool]:
    """(base name, gamma, diverging) of a name `with_gamma_name` made."""
    if "^" not in name:
        return name, 1.0, False
    base, _, power = name.rpartition("^")
    gamma, diverging = _power(power)
    return base, gamma, diverging
