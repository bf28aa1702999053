"""Array helpers shared by modules (the audit's, the overlay's)."""

from __future__ import annotations

import numpy as np


def ranges(start: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The positions ``start[k]:start[k + 1]`` of every key, concatenated."""
    n = start[keys + 1] - start[keys]
    if not n.sum():
        return np.zeros(0, np.int64)
    return np.repeat(start[keys] - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(int(n.sum()))
