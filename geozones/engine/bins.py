"""Sums of counts per period, origin and cell (:class:`CellBins`), and memory sizes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

__all__ = ['ENGINES', 'DEFAULT_BUDGET', 'parse_size', 'format_size', 'CellBins']


ENGINES = ("memory", "stream", "dask")


#: Default memory budget of the stream engine, in bytes.
DEFAULT_BUDGET = 2 * 10**9


def parse_size(text: str | int | float) -> int:
    """Bytes from ``"2GB"``, ``"500MB"``, ``"1.5G"`` or a number of bytes."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = str(text).strip().upper().removesuffix("B").removesuffix("I")
        units = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
        try:
            value = float(s[:-1]) * units[s[-1]] if s and s[-1] in units else float(s)
        except (ValueError, KeyError):
            raise InputError(f"memory budget {text!r} is not a size such as 2GB or 500MB") from None
    if not value > 0:
        raise InputError(f"memory budget {text!r} is not a positive size")
    return int(value)


def format_size(n: float, beside: float | None = None) -> str:
    """``"1.23 GB"``, ``"4.6 MB"``, ``"512 bytes"``: a size as :func:`parse_size` reads it.

    ``beside``: a size said next to this one (a budget): digits are added until the two
    read differently when they differ ("5.04 MB, more than 5.00 MB", not "5.0 MB, more
    than 5.0 MB").
    """
    for unit, scale, digits in (("GB", 1e9, 2), ("MB", 1e6, 1), ("kB", 1e3, 1)):
        if n >= scale:
            while beside is not None and beside != n and digits < 9 and round(n / scale, digits) == round(beside / scale, digits):
                digits += 1
            return f"{n / scale:.{digits}f} {unit}"
    return f"{int(n)} bytes"


@dataclass
class CellBins:
    """Counts added up per (period, origin, cell): what a counts table reduces to.

    The arrays are kept in the order the periods and origins were met (no copy of the
    sums is made); :meth:`order` gives them in ascending order.

    Attributes
    ----------
    period : str
        The period of ``period_start`` (canonical label).
    period_start : numpy.ndarray of datetime64[ns]
        UTC start of each period (first axis).
    origins : numpy.ndarray of str
        Origin codes (second axis).
    sums : numpy.ndarray, shape (periods, origins, cells)
        Sums of the observed counts, cells in weights order: int32 where the counts are
        whole numbers that cannot overflow it (half the memory), else float64. The
        observed figure of a period is its sum divided by ``divisor`` (:meth:`observed_at`).
    factors : numpy.ndarray of float
        Per origin, the market share that turns its observed sums into estimates; NaN
        where the origin's raw codes have different shares and its estimates are summed
        in ``estimates``.
    estimates : dict of int to numpy.ndarray
        Origin index -> estimate sums, shape (periods, cells), for those origins.
    present : numpy.ndarray of bool, shape (periods, origins)
        Whether any row fell in that period and origin.
    cell_ids : numpy.ndarray of str
        The cells, in the order of the last axis.
    divisor : numpy.ndarray of float
        Per period: how many of the counts' own periods it holds (presence means), else 1.
    info : dict
        ``rows`` (kept: exact duplicates not counted), ``input_total``, ``dropped_rows``,
        ``dropped_count``, ``unknown_cells``, ``duplicate_rows`` (exact duplicates left out),
        ``notes`` (what the run should say, as the memory reader's notes), ``factors`` (the
        market share used per raw origin code), ``base_period``, ``first`` and ``last`` (the
        first and last ``period_start`` read, UTC nanoseconds), ``engine``.
    """

    period: str
    period_start: np.ndarray
    origins: np.ndarray
    sums: np.ndarray
    factors: np.ndarray
    estimates: dict
    present: np.ndarray
    cell_ids: np.ndarray
    divisor: np.ndarray
    info: dict = field(default_factory=dict)

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the periods and of the origins in ascending order."""
        return (np.argsort(self.period_start, kind="stable"), np.argsort(self.origins.astype(str), kind="stable"))

    def observed_at(self, t: int) -> np.ndarray:
        """The observed figures of period ``t`` per origin and cell, shape (origins, cells)."""
        return self.sums[t] / self.divisor[t]

    def estimate_at(self, t: int) -> np.ndarray:
        """The estimated figures of period ``t``, shape (origins, cells)."""
        est = self.observed_at(t) / self.factors[:, None]
        for g, arr in self.estimates.items():
            est[g] = arr[t] / self.divisor[t]
        return est

    @property
    def observed(self) -> np.ndarray:
        """All observed figures, shape (periods, origins, cells) (a new array: for small runs)."""
        return self.sums / self.divisor[:, None, None]

    @property
    def estimate(self) -> np.ndarray:
        """All estimated figures, shape (periods, origins, cells) (a new array: for small runs)."""
        return np.stack([self.estimate_at(t) for t in range(len(self.period_start))]) if len(self.period_start) else self.observed
