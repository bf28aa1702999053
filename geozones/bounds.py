"""Bounds through shared cells: a hidden zone figure that published figures of its period
and origin bound under ``k`` (part of the attacker's audit, :mod:`geozones.audit`).

Exact recovery is not the only exposure: counts are not negative, so a published figure
caps every cell it holds, and a hidden figure whose cells are all capped is bounded. This
module finds the simple bounds (a cell's cap from one published figure, one published
figure holding all of a hidden figure's cells) with array arithmetic, per period and
origin; the attacker's full linear programme can combine more (docs/privacy.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["capped_figures"]

_TOL = 1e-7


def capped_figures(a, sup: np.ndarray, k: float):
    """Suppressed figures that the published figures of their slice bound under ``k``.

    A published figure ``v`` of zone ``z`` caps each of its cells: ``x_c <= (v + 0.5) /
    W[c, z]`` (counts are not negative; the published figure is rounded). A suppressed
    figure of zone ``s`` is then at most ``sum_c W[c, s] * cap_c``; and when one published
    figure ``g`` holds every cell of ``s``, at most ``max_c (W[c, s] / W[c, g]) * (g + 0.5)``.
    For a figure above none and under ``k`` either bound under ``k`` tells the attacker the
    group is small: the published figure behind it is suppressed (yields ``("bounded by
    others", zone, figure)``), and the slice is checked again. Suppressing more only loosens
    the bounds, so one call is enough. A sufficient test: the attacker's full linear
    programme can combine more figures (docs/privacy.md).

    Parameters
    ----------
    a : geozones.audit.AuditInput
        The figures, with ``cells`` (the weights) set.
    sup : numpy.ndarray of bool
        Suppressed so far; updated as figures are yielded.
    k : float

    Yields
    ------
    tuple
        ``("bounded by others", zone, figure)``: the published figure to suppress.
    """
    small = sup & (a.obs > _TOL) & (a.obs < k)
    if not small.any():
        return
    w = sparse.coo_array(a.cells)
    n_cells, n_z = w.shape
    wc, wz, wv = w.row.astype(np.int64), w.col.astype(np.int64), w.data.astype(float)
    # zone pairs (s, g) where g holds every cell of s, with max_c W[c, s] / W[c, g]
    e = pd.DataFrame({"c": wc, "z": wz, "w": wv})
    m = e.merge(e, on="c", suffixes=("_s", "_g"))
    m = m[m["z_s"] != m["z_g"]]
    m = m.assign(r=m["w_s"] / m["w_g"]).groupby(["z_s", "z_g"], sort=False).agg(n=("c", "size"), r=("r", "max")).reset_index()
    n_cells_of = np.bincount(wz, minlength=n_z)
    m = m[m["n"].to_numpy() == n_cells_of[m["z_s"].to_numpy()]]
    ps, pg, pr = m["z_s"].to_numpy(np.int64), m["z_g"].to_numpy(np.int64), m["r"].to_numpy(float)
    slice_key = (a.level.astype(np.int64) * (int(a.t.max()) + 1) + a.t) * (int(a.lab.max()) + 1) + a.lab
    s_code, s_inv = np.unique(slice_key, return_inverse=True)
    fig = np.full((len(s_code), n_z), -1, np.int64)
    fig[s_inv, a.zone] = np.arange(len(a.zone))
    for sl in np.unique(s_inv[small]):
        f_of = fig[sl]
        has = f_of >= 0
        targets = np.flatnonzero(has & small[np.maximum(f_of, 0)])
        while True:
            pub = has & ~sup[np.maximum(f_of, 0)]
            v = np.where(pub, np.round(a.obs[np.maximum(f_of, 0)]) + 0.5, np.inf)
            cap = np.full(n_cells, np.inf)
            on = pub[wz]
            vals = v[wz[on]] / wv[on]
            np.minimum.at(cap, wc[on], vals)
            src = np.full(n_cells, -1, np.int64)
            hit = vals == cap[wc[on]]
            src[wc[on][hit]] = wz[on][hit]
            terms = wv * cap[wc]
            by_sum = np.bincount(wz, weights=np.where(np.isfinite(terms), terms, 1e300), minlength=n_z)
            pair_b = np.where(pub[pg], pr * v[pg], np.inf)
            by_one = np.full(n_z, np.inf)
            np.minimum.at(by_one, ps, pair_b)
            bound = np.minimum(by_sum, by_one)[targets]
            leak = np.flatnonzero(bound < k)
            if not len(leak):
                break
            t = int(targets[leak[0]])
            if by_one[t] <= by_sum[t]:
                cand = np.flatnonzero((ps == t) & pub[pg])
                g = int(pg[cand[np.argmin(pair_b[cand])]])
            else:
                mine = np.flatnonzero(wz == t)
                g = int(src[wc[mine[np.argmax(terms[mine])]]])
            f = int(f_of[g])
            sup[f] = True  # (the audit marks it too; here so that the slice is checked again)
            yield "bounded by others", g, f
