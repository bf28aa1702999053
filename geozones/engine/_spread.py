"""The zone product of one period's sums: each zone's weights times its cells' sums."""

from __future__ import annotations

import os

import numpy as np

from ..weights import Weights
from ._kernels import spread, spread_serial
from .bins import CellBins


class _Spread:
    """Zone figures of one period at a time: each zone's weights times its cells' sums.

    The weights are taken once as rows of zones (``outside`` as a last row) and cut into
    chunks of equal work for the threads; each period then costs one pass over them.
    """

    def __init__(self, weights: Weights, parallel: bool = True) -> None:
        import scipy.sparse as sp

        self.weights = weights
        self.wt = weights.matrix.T.tocsr()
        self.kernel = spread if parallel else spread_serial
        rows = sp.vstack([self.wt, sp.csr_matrix(np.asarray(weights.outside, dtype=float)[None, :])]).tocsr()
        rows.sort_indices()
        self.indptr, self.indices, self.data = rows.indptr.astype(np.int64), rows.indices.astype(np.int32), rows.data.astype(np.float64)
        chunks = max(1, min(len(rows.indptr) - 1, 32 * (os.cpu_count() or 1)))
        bounds = np.searchsorted(self.indptr, np.linspace(0, self.indptr[-1], chunks + 1)[1:-1])
        self.bounds = np.unique(np.concatenate([[0], bounds, [len(self.indptr) - 1]])).astype(np.int64)

    def __call__(self, bins: CellBins, t: int, origins: np.ndarray, estimate: bool, factor: float, out: np.ndarray | None = None) -> np.ndarray:
        """Figures of period ``t`` for these origin indices, into ``out`` of shape
        (zones + 1, origins) (a new array if None); returns ``out``.
        """
        if out is None:
            out = np.empty((len(self.weights.zone_ids) + 1, len(origins)))
        idx = np.asarray(origins, dtype=np.int64)
        scale = np.full(len(origins), factor / bins.divisor[t])
        if estimate and bins.estimates:  # origins with several shares: their own estimate sums
            cells = bins.estimate_at(t).T
            scale[:] = factor
        else:
            cells = bins.sums[t].T
            if estimate:
                scale /= bins.factors[origins]
        self.kernel(self.bounds, self.indptr, self.indices, self.data, cells, idx, scale, out)
        return out


_SMALL_RESULT = 64 * 2**20  # bytes: a result below this is an ordinary NumPy array


def _big_array(shape: tuple[int, ...]) -> np.ndarray:
    """A zeroed float64 array for a large result, in ordinary (4 kB) pages.

    NumPy asks the kernel for transparent huge pages for large arrays. On this project's
    virtual machine the first write to fresh huge pages was slow in two of three new
    processes (2.5 and 3.1 s for the national case's 827 MB, 0.24 s in the third), where
    ordinary pages took 0.52 to 0.75 s each time; an anonymous memory map (zeroed by the
    kernel) does not ask for huge pages. Small arrays are left to NumPy. (Not for the
    sums that the zone product reads at random: in ordinary pages they made it 1.3x
    slower, from missed address translations.)
    """
    n = int(np.prod(shape)) * 8
    if n < _SMALL_RESULT:
        return np.zeros(shape)
    import mmap

    # private: a shared anonymous map is backed by shmem, whose page faults cost more
    # (0.42-0.44 s against 0.54-0.56 s to touch 827 MB here)
    if not hasattr(mmap, "MAP_PRIVATE"):  # pragma: no cover - Windows
        return np.zeros(shape)
    return np.frombuffer(mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS), dtype=np.float64).reshape(shape)
