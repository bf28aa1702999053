"""Which cells, pairs of cells sharing a zone, and zone figures *could* follow exactly from
the zones' figures of a group too large for the audit's dense checks (docs/privacy.md,
"Scale": groups of more than 4,000 zones or cells take the sparse checks of
``geozones.spatial`` since stop 36; this script, written apart from them, checks what they
decide by other means: local certificates and LSQR).

Usage: ``python3.11 benchmarks/spatial_certificates.py WEIGHTS.parquet [--exact]
[--run OUT --k 30]``, with weights from ``geozones weights`` (or a run's ``weights.parquet``).

The attacker is given every zone's figure (the strongest pattern: a slice publishes a subset,
and fewer rows can only tell less). A target vector ``t`` over the cells (a cell, a pair of
cells sharing a zone, a zone's weights) follows from the zones' rows ``A`` exactly when ``t``
is orthogonal to every ``z`` with ``A z = 0``. A *certificate* that it does not is such a
``z`` found locally: for zone ``j``, the region ``S`` is its cells and those of the zones
sharing one with it; every zone touching ``S`` is a row (for ``j``'s own figure, every zone
but ``j``); ``z`` in the null space of those rows over ``S``, extended by zeros, is in the
null space of the whole group. A target with no certificate in its region is checked over
the whole group with ``--exact`` (LSQR, residual under 1e-6). With ``--run OUT``, every
published slice (period and origin) of the run's ``zone_counts.parquet`` is checked for the
cells that follow, with its own published rows, and a cell under ``--k`` (rounding of every
figure to +-0.5 included) is printed. Independent of ``geozones.audit``'s code.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow.parquet as pq
from scipy import sparse
from scipy.sparse.linalg import lsqr

from geozones import read_weights


def _rows(m: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """An orthonormal basis (columns) of the row space of ``m``."""
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    r = int((s > s[0] * tol).sum()) if len(s) and s[0] > 0 else 0
    return vt[:r].T


def _follows(at, t: np.ndarray) -> tuple[bool, np.ndarray]:
    beta = lsqr(at, t, atol=1e-14, btol=1e-14, iter_lim=20_000)[0]
    return bool(np.linalg.norm(at @ beta - t) < 1e-6), beta


def main() -> None:
    """Print the counts of targets without a certificate, and what follows (see the module)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights")
    p.add_argument("--exact", action="store_true", help="check uncertified cells over the whole group (LSQR)")
    p.add_argument("--run", help="a run's output folder: check its published slices")
    p.add_argument("--k", type=float, default=30.0)
    a = p.parse_args()
    wt = read_weights(a.weights)  # cells and zones sorted by id; "outside" kept apart
    cu, zu = np.asarray(wt.cell_ids).astype(str), np.asarray(wt.zone_ids).astype(str)
    A = sparse.csr_array(wt.matrix.T)  # zones x cells
    A.eliminate_zeros()
    Ac = A.tocsc()
    t0 = time.perf_counter()
    open_cells: set[int] = set()
    pairs = zones = 0
    for j in range(A.shape[0]):
        sj = A.indices[A.indptr[j]:A.indptr[j + 1]]
        if not len(sj):
            continue  # a zone no cell reaches: its figure is 0, a target of nothing
        near = np.unique(Ac[:, sj].tocoo().row)
        s = np.unique(A[near].tocoo().col)
        r = np.unique(Ac[:, s].tocoo().row)
        m = A[r][:, s].toarray()
        q = _rows(m)[np.searchsorted(s, sj)]
        open_cells.update(sj[np.abs((q * q).sum(1) - 1) <= 1e-9].tolist())
        x, y = np.triu_indices(len(sj), 1)
        pairs += int((np.abs(((q[x] + q[y]) ** 2).sum(1) - 2) <= 1e-9).sum())
        own = r == j
        q2 = _rows(m[~own])
        wj = m[own][0]
        zones += int(np.linalg.norm(wj - q2 @ (q2.T @ wj)) <= 1e-7 * np.linalg.norm(wj))
    print(f"{A.shape[0]} zones, {A.shape[1]} cells, {A.nnz} weights above 0; certificates {time.perf_counter() - t0:.1f} s")
    print(f"without a certificate: {len(open_cells)} cells, {pairs} pairs of cells sharing a zone, {zones} zone figures")
    if not (a.exact or a.run) or not open_cells:
        return
    at = sparse.csr_array(A.T)
    t0 = time.perf_counter()
    det = np.array([c for c in sorted(open_cells) if _follows(at, np.eye(1, A.shape[1], c)[0])[0]], int)
    print(f"cells that follow from every zone's figure: {len(det)} ({time.perf_counter() - t0:.1f} s)")
    if not a.run or not len(det):
        return
    z = pq.read_table(f"{a.run}/zone_counts.parquet", columns=["zone_id", "period_start", "origin", "observed", "status"]).to_pandas()
    z = z[z.status == "published"]
    tested = found = follow = 0
    for (ps, o), g in z.groupby(["period_start", "origin"], observed=True):
        ids = g.zone_id.astype(str).to_numpy()
        k_ = np.searchsorted(zu, ids)
        ok = (k_ < len(zu)) & (zu[np.minimum(k_, len(zu) - 1)] == ids)
        rows, y = k_[ok], g.observed.to_numpy(float)[ok]
        at_s = sparse.csr_array(A[rows].T)
        for c in np.intersect1d(det, np.unique(A[rows].tocoo().col)):
            tested += 1
            yes, beta = _follows(at_s, np.eye(1, A.shape[1], c)[0])
            if yes:
                follow += 1
                v, slack = float(beta @ y), 0.5 * float(np.abs(beta).sum())
                if v + slack < a.k:  # counts are >= 0: the cell holds at most v + slack
                    found += 1
                    print(f"cell {cu[c]}, {ps}, origin {o}: {v:.1f} +- {slack:.1f} people")
    print(f"published slices: {tested} (cell, slice) tested, {follow} follow, {found} under k = {a.k:g}")


if __name__ == "__main__":
    main()
