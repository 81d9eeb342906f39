"""Many heads as one array: panels laid out on a grid, separated by NaN gaps.

Drawing one `imshow` of this array is what keeps a 144-head image fast; matplotlib's cost
grows with the number of artists, not with the number of pixels.

Also the array maths the terminal and image renderers share (numpy only): block means,
resampling, and the value range a colour scale spans.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MosaicLayout:
    """Where each panel sits: panel `i` occupies rows/cols from `origins[i]` on."""

    rows: int  # panel rows
    cols: int  # panel columns
    panel_h: int  # cells per panel, vertically (queries)
    panel_w: int  # cells per panel, horizontally (keys)
    gap_y: int  # empty cells between panel rows (room for the panel titles)
    gap_x: int  # empty cells between panel columns
    slots: tuple[tuple[int, int], ...]  # (panel row, panel column) of each panel

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the composed array."""
        return (
            self.rows * self.panel_h + (self.rows - 1) * self.gap_y,
            self.cols * self.panel_w + (self.cols - 1) * self.gap_x,
        )

    @property
    def origins(self) -> tuple[tuple[int, int], ...]:
        """(row, col) of each panel's top-left cell in the composed array."""
        return tuple((r * (self.panel_h + self.gap_y), c * (self.panel_w + self.gap_x)) for r, c in self.slots)


def grid_slots(n_layers: int, n_heads: int) -> tuple[int, int, tuple[tuple[int, int], ...]]:
    """(rows, cols, slots) for panels in (layer, head) order.

    Several layers and heads: one row per layer, one column per head. A single layer (or a
    single head) is wrapped into a block a little wider than tall instead of one long strip.
    """
    count = n_layers * n_heads
    if n_layers > 1 and n_heads > 1:
        rows, cols = n_layers, n_heads
    else:
        cols = math.ceil(math.sqrt(count))
        # A full rectangle, if a slightly wider one exists, beats one with empty slots.
        cols = next((c for c in range(cols, 2 * cols + 1) if count % c == 0), cols)
        rows = math.ceil(count / cols)
    return rows, cols, tuple(divmod(i, cols) for i in range(count))


def compose(panels: np.ndarray, layout: MosaicLayout) -> np.ndarray:
    """Stack `panels` (count, h, w) into one float array with NaN between and around them."""
    count, h, w = panels.shape
    if (h, w) != (layout.panel_h, layout.panel_w) or count != len(layout.slots):
        raise ValueError(f"panels of shape {panels.shape} do not fit {layout}")
    mosaic = np.full(layout.shape, np.nan, dtype=np.float32)
    for panel, (r0, c0) in zip(panels, layout.origins, strict=True):
        mosaic[r0 : r0 + h, c0 : c0 + w] = panel
    return mosaic


def value_range(arrays: Iterable[np.ndarray], *, diverging: bool = False) -> tuple[float, float]:
    """(low, high) over the finite values of `arrays`: from min(0, lowest) to the highest, or
    symmetric about 0 when diverging; (0, 0) when there are none. A colour scale's range."""
    lows, highs = [], []
    for array in arrays:
        finite = array[np.isfinite(array)]
        if finite.size:
            lows.append(float(finite.min()))
            highs.append(float(finite.max()))
    if not lows:
        return 0.0, 0.0
    if diverging:
        bound = max(abs(min(lows)), abs(max(highs)))
        return -bound, bound
    return min(0.0, *lows), max(highs)


def top_keys(row: np.ndarray, top: int) -> np.ndarray:
    """Indices of the `top` largest values of a query's row, largest first; ties keep token
    order and NaN (a hidden key) comes last. Every ranked view ranks with this."""
    return np.argsort(-np.nan_to_num(row, nan=-1.0), kind="stable")[:top]


def pool_blocks(matrix: np.ndarray, k: int) -> np.ndarray:
    """Mean of each k×k block (edge blocks may be smaller); NaN is skipped."""
    matrix = np.asarray(matrix)
    starts = np.arange(0, matrix.shape[0], k), np.arange(0, matrix.shape[1], k)
    means = _block_sums(matrix, *starts) / _block_sizes(matrix.shape, *starts)
    if not np.isnan(means).any():
        return means
    missing = np.isnan(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _block_sums(np.where(missing, 0, matrix), *starts) / _block_sums(~missing, *starts)


def resample(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Mean over a rows×cols grid of near-equal blocks (area resampling down); NaN counts as 0."""
    matrix = np.asarray(matrix)
    starts = (np.arange(rows) * matrix.shape[0]) // rows, (np.arange(cols) * matrix.shape[1]) // cols
    sums = _block_sums(matrix, *starts)
    if not np.isfinite(sums).all():
        sums = _block_sums(np.nan_to_num(matrix), *starts)
    return sums / _block_sizes(matrix.shape, *starts)


def _block_sums(matrix: np.ndarray, starts_r: np.ndarray, starts_c: np.ndarray) -> np.ndarray:
    """float64 sums of the blocks that start at rows `starts_r` and columns `starts_c`.

    One band of rows at a time, then the bands' columns with `np.add.reduceat`: no padded or
    float64 copy of `matrix` is made.
    """
    bands = np.empty((len(starts_r), matrix.shape[1]))
    for band, start, end in zip(bands, starts_r, np.append(starts_r[1:], matrix.shape[0]), strict=True):
        np.add.reduce(matrix[start:end], axis=0, dtype=np.float64, out=band)
    return np.add.reduceat(bands, starts_c, axis=1)


def _block_sizes(shape: tuple[int, ...], starts_r: np.ndarray, starts_c: np.ndarray) -> np.ndarray:
    """Cells in each block of `_block_sums`."""
    return np.outer(np.diff(np.append(starts_r, shape[0])), np.diff(np.append(starts_c, shape[1])))
