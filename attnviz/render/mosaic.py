"""Many heads as one array: panels laid out on a grid, separated by NaN gaps.

Drawing one `imshow` of this array is what keeps a 144-head image fast; matplotlib's cost
grows with the number of artists, not with the number of pixels.
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


def pool_blocks(matrix: np.ndarray, k: int) -> np.ndarray:
    """Mean of each k×k block (edge blocks may be smaller); NaN is skipped."""
    rows, cols = np.shape(matrix)
    return _block_means(matrix, np.arange(0, rows, k), np.arange(0, cols, k))


def resample(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Mean over a rows×cols grid of near-equal blocks (area resampling down); NaN counts as 0."""
    matrix = np.asarray(matrix)
    if not np.isfinite(matrix).all():
        matrix = np.nan_to_num(matrix)
    n_rows, n_cols = matrix.shape
    return _block_means(matrix, (np.arange(rows) * n_rows) // rows, (np.arange(cols) * n_cols) // cols)


def _block_means(matrix: np.ndarray, starts_r: np.ndarray, starts_c: np.ndarray) -> np.ndarray:
    """float64 means of the blocks starting at rows `starts_r` and columns `starts_c`, NaN skipped.

    Sums with `np.add.reduceat`, so no padded copy of `matrix` is made (a NaN-free one is
    not copied at all).
    """
    matrix = np.asarray(matrix)

    def sums(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.add.reduceat(values, starts_r, axis=0, dtype=np.float64), starts_c, axis=1)

    missing = np.isnan(matrix)
    if missing.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums(np.where(missing, 0, matrix)) / sums(~missing)
    rows, cols = matrix.shape
    return sums(matrix) / np.outer(np.diff(np.append(starts_r, rows)), np.diff(np.append(starts_c, cols)))
