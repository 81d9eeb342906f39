"""Running mean and standard deviation (Welford), mergeable in a fixed order (Chan et al.)."""

from __future__ import annotations

import numpy as np


class Moments:
    """Count, mean and sum of squared deviations of equally shaped arrays, element-wise.

    Memory is one mean and one M2 array however many values are added; `merge` combines two
    runs exactly as if the second's values had been added after the first's.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def add(self, x: np.ndarray) -> None:
        """One more value (Welford's update: no catastrophic cancellation)."""
        x = np.asarray(x, dtype=np.float64)
        if self.mean is None:
            self.n, self.mean, self.m2 = 1, x.copy(), np.zeros_like(x)
            return
        assert self.m2 is not None
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def merge(self, other: Moments) -> None:
        """Fold in another run's values, as if added after this run's."""
        if other.mean is None or other.m2 is None:
            return
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = other.n, other.mean.copy(), other.m2.copy()
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.n / n)
        self.m2 = self.m2 + other.m2 + delta**2 * (self.n * other.n / n)
        self.n = n

    @property
    def std(self) -> np.ndarray:
        """The standard deviation of the values (over these values: divided by n, not n - 1)."""
        assert self.m2 is not None
        return np.sqrt(self.m2 / self.n)
