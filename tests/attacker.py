"""The attacker of docs/privacy.md, written apart from geozones' audit: least squares
over everything published, in the cells' own unknowns, and the linear programme that
bounds a quantity by the published figures (counts are not negative).

The attacker knows the weights (cells x zones, public: the cell plan and the coverage
model rebuild them) and every published figure, observed and estimate, with the factor
of every origin. Each published figure is a row over the unknowns ``x[cell, hour,
origin]``; a quantity follows when its vector lies in the rows' span (``lstsq`` leaves no
residual).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rows_of(table: pd.DataFrame, w: np.ndarray, hours: list, origins: list, factors: dict, mean: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every row of ``table`` as vectors over x (observed) and over x weighted by the
    origins' factors (estimate). ``table`` rows: zone index ``z``, ``period`` ("1h"/"1d"),
    ``hour`` (index, or -1 for the day), ``origin``."""
    n_c, n_z = w.shape
    n_h, n_o = len(hours), len(origins)
    fac = np.array([factors[o] for o in origins])
    obs_rows, est_rows = [], []
    for r in table.itertuples():
        v = np.zeros((n_c, n_h, n_o))
        hs = range(n_h) if r.hour < 0 else [r.hour]
        os_ = range(n_o) if r.origin == "all" else [origins.index(r.origin)]
        for h in hs:
            for o in os_:
                v[:, h, o] = w[:, r.z] / (n_h if (mean and r.hour < 0) else 1)
        obs_rows.append(v.reshape(-1))
        est_rows.append((v * fac[None, None, :]).reshape(-1))
    return np.array(obs_rows), np.array(est_rows)


def follows(a: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Which targets (rows) lie in the span of the rows of ``a``."""
    if not len(targets):
        return np.zeros(0, bool)
    if not len(a):
        return np.linalg.norm(targets, axis=1) < 1e-9
    sol = np.linalg.lstsq(a.T, targets.T, rcond=None)[0]
    res = np.linalg.norm(a.T @ sol - targets.T, axis=0)
    return res <= 1e-6 * (1 + np.linalg.norm(targets, axis=1))


def exposures(table: pd.DataFrame, w: np.ndarray, x: np.ndarray, hours: list, origins: list, factors: dict, k: float, mean: bool,
              estimates: bool = True) -> list:
    """Everything under k people (and above none) that follows from the published rows:
    a cell at any published period and origin, a pair of cells sharing a zone, a
    suppressed figure. ``estimates``: the estimates are equations with the origins' true
    factors (else they are a function of the published counts and add nothing)."""
    obs_rows, est_rows = rows_of(table, w, hours, origins, factors, mean)
    pub = (table["status"] == "published").to_numpy()
    a = np.vstack([obs_rows[pub], est_rows[pub]]) if estimates else obs_rows[pub]
    n_c, n_h, n_o = x.shape
    found = []
    # suppressed figures
    vals = obs_rows @ x.reshape(-1)
    cand = np.flatnonzero(~pub & (vals > 1e-6) & (vals < k))
    for i in cand[follows(a, obs_rows[cand])]:
        found.append(("suppressed figure", table.iloc[i].to_dict(), vals[i]))
    # cells and pairs of cells sharing a zone, at every hour and the day, each origin and all
    groups = [[c] for c in range(n_c)]
    for z in range(w.shape[1]):
        cs = np.flatnonzero(w[:, z] > 0)
        groups += [[cs[i], cs[j]] for i in range(len(cs)) for j in range(i + 1, len(cs))]
    targets, what = [], []
    for g in groups:
        for h in [*range(n_h), -1]:
            for o in [*range(n_o), -1]:
                v = np.zeros((n_c, n_h, n_o))
                hs = range(n_h) if h < 0 else [h]
                os_ = range(n_o) if o < 0 else [o]
                for hh in hs:
                    for oo in os_:
                        v[g, hh, oo] = 1.0 / (n_h if (mean and h < 0) else 1)
                val = float(v.reshape(-1) @ x.reshape(-1))
                if 1e-6 < val < k:
                    targets.append(v.reshape(-1))
                    what.append((tuple(int(c) for c in g), h, o, val))
    if targets:
        t = np.array(targets)
        for i in np.flatnonzero(follows(a, t)):
            found.append(("cells",) + what[i])
    return found


def lp_max(rows, vals: np.ndarray, target: np.ndarray, slack: float = 0.5) -> float:
    """The attacker's largest value for ``target @ x`` given the published ``rows @ x``
    (rounded: +-0.5, or +-``slack`` when the figures carry noise of at most ``slack - 0.5``;
    rows dense or sparse) and ``x >= 0`` (scipy's HiGHS); ``inf`` when nothing bounds it."""
    from scipy import sparse
    from scipy.optimize import linprog

    n = rows.shape[0]
    a_ub = sparse.vstack([sparse.csr_array(rows), -sparse.csr_array(rows)]) if n else None
    b_ub = np.concatenate([np.round(vals) + slack, -(np.round(vals) - slack)]) if n else None
    for method in ("highs", "highs-ipm", "highs-ds"):  # (HiGHS's choice now and then returns no status: another of its methods)
        res = linprog(-target, A_ub=a_ub, b_ub=b_ub, bounds=[(0, None)] * len(target), method=method)
        if res.status in (0, 3):
            break
    if res.status == 3:
        return float("inf")
    assert res.status == 0, res.message
    return -res.fun


def period_rows(a, figs: np.ndarray):
    """Figures of one period as rows over its counts per origin and cell (``x[origin,
    cell]``, origin-major; an ``all`` figure sums the origins), from an audit's input
    ``a`` (:class:`geozones.audit.AuditInput`: the run's weights and labels). Sparse."""
    from scipy import sparse

    n_c = a.cells.shape[0]
    origins = np.array([lab for lab in np.unique(a.lab) if lab != a.all_label])
    blocks = []
    for i in figs:
        col = sparse.csc_array(cells_of(a, i), dtype=float)[:, [int(a.zone[i])]]
        on = origins == a.lab[i] if a.lab[i] != a.all_label else np.ones(len(origins), bool)
        blocks.append(sparse.vstack([col if o else sparse.csc_array((n_c, 1)) for o in on]).T)
    return sparse.vstack(blocks).tocsr() if blocks else sparse.csr_array((0, len(origins) * n_c))


def cells_of(a, f: int):
    """The weights (cells x zones) figure ``f`` of an audit's input was apportioned with:
    its period's own where each period has its density (``--density period``)."""
    if a.cell_groups is None:
        return a.cells
    group, mats = a.cell_groups
    return mats[int(group[f])]


#: The mobile country codes of the tests' counts, as the tables name them.
COUNTRIES = {"208": "FR", "204": "NL", "276": "AL"}


def attack_days(counts, weights, tables, fine: list, holds, k: float = 30.0) -> list:
    """The attacker over every published figure of runs at once, in the cells' counts per
    day and origin (a run's summary period: the mean of the days). ``counts``: the counts
    (country codes read as :data:`COUNTRIES`); ``weights``: a run's weights table (``cell_id``, ``zone_id``,
    ``weight``; public); ``tables``: ``(name, zone table, its origin level)`` per run;
    ``fine``: the origins of the unknowns; ``holds(origin, code, level)``: whether a
    figure's origin holds the unknowns of ``code``. Per hidden figure whose truth is under
    k (above none): ``(name, zone, period_start, origin, truth, largest value)``.
    """
    import pandas as pd

    w = weights[weights["zone_id"] != "outside"].pivot_table(index="cell_id", columns="zone_id", values="weight", fill_value=0.0)
    days = sorted(pd.unique(counts["period_start"]))
    code = counts["origin"].astype(str).replace(COUNTRIES)
    x = np.zeros((len(w.index), len(days), len(fine)))
    np.add.at(x, (w.index.get_indexer(counts["cell_id"]), pd.Index(days).get_indexer(counts["period_start"]), pd.Index(fine).get_indexer(code)),
              counts["count"].to_numpy(dtype=float))
    rows, vals, hidden = [], [], []
    for name, t, level in tables:
        for r in t.itertuples():
            v = np.zeros(x.shape)
            on = [i for i, m in enumerate(fine) if r.origin == "all" or holds(r.origin, m, level)]
            if r.period == "1d":
                v[:, days.index(pd.Timestamp(r.period_start).tz_convert("UTC")), on] = w[r.zone_id].to_numpy()[:, None]
            else:  # (the summary period, a quarter: the mean of the days counted)
                v[:, :, on] = w[r.zone_id].to_numpy()[:, None, None] / len(days)
            truth = float(v.reshape(-1) @ x.reshape(-1))
            if r.status == "published":
                rows.append(v.reshape(-1))
                vals.append(r.observed)
            elif 0.5 < truth < k:
                hidden.append((name, r.zone_id, r.period_start, r.origin, truth, v.reshape(-1)))
    a = np.array(rows)
    return [(name, z, day, o, truth, lp_max(a, np.array(vals), v)) for name, z, day, o, truth, v in hidden]
