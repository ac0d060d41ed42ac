"""Growing numpy buffers for live curves.

A training run appends one point per step for minutes or hours; the plots redraw from these
arrays at ~30 Hz. Appends are amortised O(1) (capacity doubles) and :meth:`Series.arrays`
returns views, so a frame never converts a Python list to an array.
"""
from __future__ import annotations

import math

import numpy as np


class Series:
    """An (x, y) curve that grows by appending; non-finite y values are kept (as NaN/inf)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0
        self.first_nonfinite: float | None = None  # x of the first NaN/inf value
        self.version = 0  # bumped on every change, so a view redraws only when needed

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        if self._n == len(self._x):
            self._x = np.resize(self._x, 2 * len(self._x))
            self._y = np.resize(self._y, 2 * len(self._y))
        y = _as_float(y)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        if self.first_nonfinite is None and not math.isfinite(y):
            self.first_nonfinite = float(x)
        self.version += 1

    def extend(self, xs, ys) -> None:
        for x, y in zip(xs, ys):
            self.append(x, y)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the stored points (valid until the next append)."""
        return self._x[: self._n], self._y[: self._n]

    @property
    def all_finite(self) -> bool:
        return self.first_nonfinite is None

    def last(self) -> float | None:
        return float(self._y[self._n - 1]) if self._n else None

    def clear(self) -> None:
        self._n = 0
        self.first_nonfinite = None
        self.version += 1


class SmoothedSeries(Series):
    """A centred moving average of what is appended: each point is the mean of the raw values
    up to ``half_width`` points either side of it, the window narrowing evenly near the ends.
    So the curve neither lags the raw one (an exponential average trails a falling loss by
    about ``1/(1-weight)`` points; centred, a trend stays in place) nor ramps up from zero at
    the start: the first and the newest point are their raw values. The newest ``half_width``
    points are recomputed as more arrive (O(half_width) per append, from running sums). A
    non-finite value is stored as is and left out of its neighbours' means."""

    def __init__(self, half_width: int = 5, capacity: int = 1024) -> None:
        super().__init__(capacity)
        self.half_width = half_width
        self._sums = np.zeros(capacity + 1)  # running sum and count of the finite raw values
        self._counts = np.zeros(capacity + 1)

    def append(self, x: float, y: float) -> None:
        y = _as_float(y)
        n = len(self)
        if n + 2 > len(self._sums):
            self._sums = np.resize(self._sums, 2 * len(self._sums))
            self._counts = np.resize(self._counts, 2 * len(self._counts))
        finite = math.isfinite(y)
        self._sums[n + 1] = self._sums[n] + (y if finite else 0.0)
        self._counts[n + 1] = self._counts[n] + finite
        super().append(x, y)
        _x, values = self.arrays()
        for i in range(max(0, n - self.half_width), n + 1):
            if math.isfinite(values[i]):  # a NaN stays one
                k = min(self.half_width, i, n - i)
                count = self._counts[i + k + 1] - self._counts[i - k]
                values[i] = (self._sums[i + k + 1] - self._sums[i - k]) / count

    def clear(self) -> None:
        super().clear()
        self._sums[0] = self._counts[0] = 0.0


def _as_float(value) -> float:
    """JSON gives None for NaN in some writers, and strings "NaN"/"Infinity" in others."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
