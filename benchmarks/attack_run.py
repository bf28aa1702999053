"""The attacker of docs/privacy.md against a whole run's published zone figures, at any
size: every published figure of every period and origin at once, written apart from
``geozones.audit`` and ``geozones.span`` (NumPy's SVD and SciPy's LSQR).

Usage: ``python3.11 benchmarks/attack_run.py RUN --counts COUNTS [--weights W] [--k 30]``,
with ``RUN`` a folder written by ``geozones apportion`` or ``run`` (its
``zone_counts.parquet`` and ``manifest.json``; the weights default to its
``weights.parquet``) and ``COUNTS`` the counts the run read (the truth, used to check that
the attacker's rows reproduce every published figure and to say who is exposed).

The attacker knows the weights (cells x zones: public, the cell plan and the coverage model
rebuild them) and every published figure. The unknowns are the counts' sums per cell, base
period (the run's shortest published period) and origin; a published figure of zone ``z``,
period ``P`` and origin ``o`` (or ``all``) is the row ``sum w[c, z] * S[c, b, o] / H`` over
the cells, the base periods ``b`` in ``P`` and the origins (one, or every one for
``all``), with ``H`` the number of the counts' periods in ``P`` (a presence mean; ``H = 1``
for events). Each published figure is known to +-0.5 (rounding). Estimates add no
equation when each is made from published figures (an origin's count over its market
share, ``all``'s from its published origins and ``rest_share``: docs/privacy.md); the
script checks that every one is, to within its rounding, and stops if not.

Targets: every cell and every pair of cells sharing a zone (of up to 64 cells), at every
published period (each base period and each longer one) and every origin of the unknowns
and ``all``; and every suppressed figure whose zone's cells all appear in a published row
(any other holds a count no published row reads). A target follows when
its vector lies in the span of the published rows (residual under 1e-6); it is *exposed*
when it follows, the counts give it more than 0 people, and the published figures bound it
under ``k`` (its value from the rows plus 0.5 times the sum of its coefficients' absolute
values). The rows are split into connected components (rows sharing an unknown). Two random
vectors are projected on the null space of each component's rows: by an SVD for a
component of up to ``--dense`` unknowns, by LSQR for a larger one. A target ``t`` whose
product with either projection ``v`` exceeds ``1e6 * ||A v|| + 1e-6 * (1 + ||t||)`` cannot
follow (``|t.v| <= ||beta|| ||A v|| + ||r||`` for ``t = A^T beta + r``); every other target
under ``k`` is solved (the SVD, or LSQR) and kept when its residual is under 1e-6. Exit
status 1 when anything is exposed.

With ``--bounds N``, N sampled suppressed figures under ``k`` are also bounded by a linear
programme (HiGHS) over the published figures of their own slice (period, start, origin),
each to +-0.5, counts not negative: one under ``k`` is exposed.

Limits: bounds only per slice and sampled (a programme over every published figure at
once is tests/attacker.py's ``lp_max``, too slow at this size); zone figures only (the heat layer is
drawn from them, docs/privacy.md item 4); one run's outputs (earlier runs are not read);
one weights matrix for every period (area models, or ``--density run``: with a density per
period the rows do not reproduce the figures and the script stops); sums and means, no
maxima, no cell key noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import lsqr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geozones import read_counts, read_weights  # noqa: E402
from geozones.counts import parse_period, period_floor  # noqa: E402
from geozones.origins import rollup_codes  # noqa: E402
from tests.attacker import lp_max  # noqa: E402 - the tests' programme (HiGHS, its other methods when one gives no status)

TOL = 1e-6
BOUND = 1e6


def _order(period: str) -> pd.Timedelta:
    n, unit = int("".join(ch for ch in period if ch.isdigit())), period.lstrip("0123456789")
    return pd.Timedelta({"min": "1min", "h": "1h", "d": "1D", "w": "7D", "q": "92D"}[unit]) * n


def _residents(run: Path) -> dict[str, str]:
    """Zone -> its municipality, read from the zone files the run read (manifest)."""
    import geopandas as gpd

    from geozones.origins import successor

    out = {}
    for f in json.loads((run / "manifest.json").read_text())["inputs"]["zones"]:
        g = gpd.read_file(f["path"])
        for col in ("municipality", "nis", "gemeente"):
            if col in g.columns:
                codes = g[col].astype(str).str.strip().str.zfill(5)
                out.update({str(z): successor(c) for z, c in zip(g["zone_id"], codes) if c.isdigit()})
                break
    return out


def _estimates_off(pub: pd.DataFrame, share: dict, res: dict, level: str) -> int:
    """How many published estimates do not follow from published observed figures and the
    manifest's market shares: an origin's is its count divided by the origin's share (its
    pooled share where its codes have several, else the one its codes have); ``all``'s is its
    published origins' estimates plus the rest of its count divided by ``rest_share``
    (docs/privacy.md). Each to within its rounding.
    """
    fac = share.get("factors") or {}
    if not fac:
        return int((np.abs(pub.estimate - pub.observed) > 0.5 + 1e-9).sum())
    # the manifest gives each published origin's share (residents: their home's): estimate = observed / share
    f = 1.0 / np.array([fac.get(res.get(z) if o == "resident" else o, np.nan) for z, o in zip(pub.zone_id, pub.origin)])
    one = pub.origin != "all"
    off = one & ~(np.abs(pub.estimate - pub.observed * f) <= 0.5 + 1e-6)
    key = [pub.zone_id, pub.period, pub.period_start]
    s_est = pub.estimate.where(one, 0).groupby(key).transform("sum")
    s_obs = pub.observed.where(one, 0).groupby(key).transform("sum")
    n = one.groupby(key).transform("sum")
    rest = share.get("rest_share") or 1.0
    want = s_est + (pub.observed - s_obs) / rest
    off |= ~one & ~(np.abs(pub.estimate - want) <= 0.5 * (1 + n) + 1e-6)
    return int(off.sum())


def build(run: Path, counts: Path, weights: Path | None, k: float):
    """The published rows (sparse, over the unknowns), their figures, the truth and the layout."""
    man = json.loads((run / "manifest.json").read_text())["parameters"]
    if man.get("protection", "suppress") != "suppress" or man.get("stat", "mean") != "mean":
        raise SystemExit("only runs with suppression and mean (or event) figures are attacked here")
    mean = man.get("kind", "presence") == "presence"
    wt = read_weights(weights or run / "weights.parquet")
    W = sparse.csc_array(wt.matrix)  # cells x zones
    cells = np.asarray(wt.cell_ids).astype(str)
    zones = np.asarray(wt.zone_ids).astype(str)
    outside = np.asarray(wt.outside, float) if getattr(wt, "outside", None) is not None else None
    z = pq.read_table(run / "zone_counts.parquet", columns=["zone_id", "period", "period_start", "origin", "observed", "estimate", "status"]).to_pandas()
    z["period"] = z["period"].astype(str)
    z["origin"] = z["origin"].astype(str)
    z["zone_id"] = z["zone_id"].astype(str)
    z["period_start"] = pd.to_datetime(z["period_start"], utc=True).astype("datetime64[ns, UTC]")
    periods = sorted(z["period"].unique(), key=_order)
    base = periods[0]
    bstarts = np.sort(z.loc[z.period == base, "period_start"].dt.tz_convert(None).unique().to_numpy(dtype="datetime64[ns]"))
    level = man.get("origin_level", "province")
    res = _residents(run) if man.get("residents_separated") else {}
    c = read_counts(counts)  # origins normalised (countries from mobile country codes)
    # the unknowns' origins: the run's level, the residents' municipalities kept apart
    c["origin"] = rollup_codes(c["origin"], level, keep=frozenset(res.values())).astype(str)
    origins = sorted(set(c["origin"].unique()))
    t = pd.Series(pd.to_datetime(c["period_start"], utc=True)).astype("datetime64[ns, UTC]")
    fl = period_floor(t, parse_period(base)).dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
    bi = np.searchsorted(bstarts, fl)
    if (bi >= len(bstarts)).any() or (bstarts[np.minimum(bi, len(bstarts) - 1)] != fl).any():
        raise SystemExit("counts outside the run's base periods")
    # H: how many of the counts' own periods each base period holds (over all cells)
    hours = pd.Series(t.to_numpy()).groupby(bi).nunique().reindex(range(len(bstarts)), fill_value=0).to_numpy()
    ci = np.searchsorted(cells, c["cell_id"].astype(str).to_numpy())
    oi = np.searchsorted(origins, c["origin"].to_numpy())
    n_b, n_o = len(bstarts), len(origins)
    lev = rollup_codes(pd.Series(origins), level).astype(str).to_numpy()  # each unknown origin's published code
    truth = np.bincount((ci * n_b + bi) * n_o + oi, weights=c["count"].to_numpy(float), minlength=len(cells) * n_b * n_o)

    pub = z[z.status == "published"].reset_index(drop=True)
    odd = _estimates_off(pub, json.loads((run / "manifest.json").read_text()).get("market_share") or {}, res, level)
    print(f"estimates not made from published figures alone (within their rounding): {odd}")
    if odd:
        raise SystemExit("some estimates are equations of their own: this attacker does not read them")
    # which base periods each published (period, start) covers
    cover = {}
    for p in periods:
        fl = period_floor(pd.Series(pd.to_datetime(bstarts, utc=True)), parse_period(p)).dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
        for s in np.unique(fl):
            cover[(p, pd.Timestamp(s))] = np.flatnonzero(fl == s)
    n_u = len(cells) * n_b * n_o
    origins_a = np.asarray(origins)

    def rows(frame: pd.DataFrame) -> sparse.csr_array:
        r_idx, c_idx, vals = [], [], []
        for i, (zid, p, s, o) in enumerate(zip(frame.zone_id, frame.period, frame.period_start, frame.origin)):
            if zid == "outside":
                if outside is None:
                    raise SystemExit("'outside' is published but the weights have no outside column")
                cs, w = np.flatnonzero(outside), outside[outside != 0]
            else:
                j = np.searchsorted(zones, zid)
                if j >= len(zones) or zones[j] != zid:
                    raise SystemExit(f"zone {zid!r} is not in the weights")
                cs, w = W.indices[W.indptr[j] : W.indptr[j + 1]], W.data[W.indptr[j] : W.indptr[j + 1]]
            bs = cover[(p, pd.Timestamp(s).tz_convert(None))]
            own = res.get(zid)
            if o == "all":
                os_ = np.arange(n_o)
            elif o == "resident":
                os_ = np.flatnonzero(origins_a == own)
            else:  # a level's code: its origins but the zone's own municipality (counted as residents)
                os_ = np.flatnonzero((lev == o) & (origins_a != own))
            h = hours[bs].sum() if mean else 1.0
            u = ((cs[:, None, None] * n_b + bs[None, :, None]) * n_o + os_[None, None, :]).reshape(-1)
            r_idx.append(np.full(len(u), i))
            c_idx.append(u)
            vals.append(np.repeat(w / h, len(bs) * len(os_)))
        if not r_idx:
            return sparse.csr_array((len(frame), n_u))
        return sparse.csr_array((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))), shape=(len(frame), n_u))

    R = rows(pub)
    y = pub.observed.to_numpy(float)
    if not len(pub):
        print("nothing published")
        raise SystemExit(0)
    off = np.abs(R @ truth - y)
    print(f"{len(pub):,} published figures over {R.nnz:,} weights; the rows reproduce them within {off.max():.3f} (rounding: 0.5)")
    if off.max() > 0.5 + 1e-6:
        raise SystemExit("the attacker's rows do not reproduce the published figures: wrong weights or counts")
    # suppressed figures that could follow: every cell of their zone in some published row
    hit = np.zeros(len(cells), bool)
    hit[np.unique(R.indices) // (n_b * n_o)] = True
    ok = np.r_[np.asarray(W.T @ (~hit).astype(float)).ravel() == 0, False]  # ("outside": not a target here)
    ids = z.zone_id.to_numpy()
    zi = np.searchsorted(zones, ids)
    zi = np.where((zi < len(zones)) & (zones[np.minimum(zi, len(zones) - 1)] == ids), zi, len(zones))
    hid = z[(z.status != "published").to_numpy() & ok[zi]].reset_index(drop=True)
    Rs = rows(hid)
    tv = Rs @ truth
    keep = np.flatnonzero((tv > 1e-9) & (tv < k))
    hid, Rs = hid.iloc[keep].reset_index(drop=True), Rs[keep]
    print(f"suppressed figures under k with every cell of their zone in a published row: {len(hid):,}")
    lay = dict(
        keys=pub[["period", "period_start", "origin"]],  # (each published row's slice, for --bounds)
        cells=cells,
        zones=zones,
        W=W,
        n_b=n_b,
        n_o=n_o,
        hours=hours,
        periods=periods,
        cover=cover,
        base=base,
        bstarts=bstarts,
        origins=origins,
        mean=mean,
    )
    return R, y, truth, hid, Rs, lay


def targets(lay: dict):
    """The pairs of cells sharing a zone (of up to 64 cells), and the levels a target is
    summed over: every published (period, start) with each origin and ``all``.
    """
    W, n_o, hours = lay["W"], lay["n_o"], lay["hours"]
    pairs = set()
    for j in range(W.shape[1]):
        cs = W.indices[W.indptr[j] : W.indptr[j + 1]]
        if 1 < len(cs) <= 64:
            a, b = np.triu_indices(len(cs), 1)
            pairs.update(zip(cs[a].tolist(), cs[b].tolist()))
    levels = []
    for (p, s), bs in lay["cover"].items():
        h = hours[bs].sum() if lay["mean"] else 1.0
        for o in [*range(n_o), -1]:
            levels.append((p, s, bs, np.arange(n_o) if o < 0 else np.array([o]), h, "all" if o < 0 else lay["origins"][o]))
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2), levels


def main() -> None:
    """Print every exposed target (see the module) and the counts of what follows."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--counts", type=Path, required=True)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--k", type=float, default=30.0)
    ap.add_argument("--dense", type=int, default=4000, help="largest component decided by an SVD")
    ap.add_argument(
        "--bounds",
        type=int,
        default=0,
        help="also bound this many suppressed figures under k (a random sample) by a linear programme over their slice's published figures",
    )
    a = ap.parse_args()
    t0 = time.perf_counter()
    R, y, truth, hid, Rs, lay = build(a.run, a.counts, a.weights, a.k)
    used = np.unique(R.indices)
    Rc = R[:, used].tocsr()
    # components: rows sharing an unknown
    g = sparse.csr_array((np.ones(Rc.nnz), Rc.indices, Rc.indptr), shape=Rc.shape)
    n_comp, lab = connected_components(sparse.csr_array(g @ g.T), directed=False)
    col_lab = np.full(len(used), -1)
    col_lab[Rc.tocoo().col] = lab[Rc.tocoo().row]
    sizes = np.bincount(col_lab, minlength=n_comp)
    print(f"{len(used):,} unknowns touched in {n_comp:,} components (largest {sizes.max():,} unknowns); built in {time.perf_counter() - t0:.1f} s")
    # null-space probes over every unknown: untouched unknowns keep their random value
    rng = np.random.default_rng(0)
    n_u = R.shape[1]
    probes = rng.standard_normal((2, n_u))
    # per component: exact row-space projector (SVD) or LSQR; and a solver for candidates
    solvers, kinds = {}, {}
    eps = np.zeros((2, n_u))  # ||A v|| of each probe's component, per unknown (0 where no row reaches)
    eps_comp = np.zeros((2, n_comp))
    for k in range(n_comp):
        ck = np.flatnonzero(col_lab == k)
        rk = np.flatnonzero(lab == k)
        M = Rc[rk][:, ck]
        if len(ck) <= a.dense:
            u, s, vt = np.linalg.svd(M.toarray(), full_matrices=False)
            r = int((s > s[0] * 1e-10).sum()) if len(s) and s[0] > 0 else 0
            V = vt[:r].T
            for i, p in enumerate(probes):
                p[used[ck]] -= V @ (V.T @ p[used[ck]])
                eps[i, used[ck]] = eps_comp[i, k] = np.linalg.norm(M @ p[used[ck]])
            solvers[k] = ("svd", rk, ck, u[:, :r], s[:r], V)
        else:
            for i, p in enumerate(probes):
                x = lsqr(M, M @ p[used[ck]], atol=1e-15, btol=1e-15, iter_lim=100_000)[0]
                p[used[ck]] -= x
                eps[i, used[ck]] = eps_comp[i, k] = np.linalg.norm(M @ p[used[ck]])
            solvers[k] = ("lsqr", rk, ck, M)
        kinds[k] = solvers[k][0]
    big = [k for k in kinds if kinds[k] == "lsqr"]
    print(
        f"null-space probes ready ({time.perf_counter() - t0:.1f} s): ||A v|| at most {eps.max():.1e}"
        f" ({len(big)} components by LSQR, {sum(sizes[k] for k in big):,} unknowns)"
    )
    pairs, levels = targets(lay)
    cells = lay["cells"]
    n_b, n_o = lay["n_b"], lay["n_o"]
    pos = np.full(n_u, -1)
    pos[used] = np.arange(len(used))
    P = probes.reshape(2, len(cells), n_b, n_o)
    E = eps.reshape(2, len(cells), n_b, n_o)
    T = truth.reshape(len(cells), n_b, n_o)
    touched = np.zeros(len(cells), bool)
    touched[used // (n_b * n_o)] = True
    tc = np.flatnonzero(touched)
    found, tested, follow, by = [], 0, 0, {"svd": 0, "lsqr": 0}

    def solve(cols: np.ndarray, coef: np.ndarray):
        """Does the target (``coef`` on the unknowns ``cols``) follow? Its value and rounding
        slack from the published rows if so. Each component's part must follow on its own
        (components share no unknown).
        """
        if (pos[cols] < 0).any():
            return None  # an unknown no published row reaches
        v = slack = 0.0
        comp = col_lab[pos[cols]]
        for k in np.unique(comp):
            kind, rk, ck, *rest = solvers[k]
            by[kind] += 1
            tvec = np.zeros(len(ck))
            tvec[np.searchsorted(ck, pos[cols[comp == k]])] = coef[comp == k]
            if kind == "svd":
                uu, ss, V = rest
                res = np.linalg.norm(tvec - V @ (V.T @ tvec))
                beta = uu @ ((V.T @ tvec) / ss)
            else:
                M = rest[0]
                beta = lsqr(sparse.csr_array(M.T), tvec, atol=1e-15, btol=1e-15, iter_lim=100_000)[0]
                res = np.linalg.norm(M.T @ beta - tvec)
            if res > TOL * (1 + np.linalg.norm(tvec)):
                return None
            v, slack = v + float(beta @ y[rk]), slack + 0.5 * float(np.abs(beta).sum())
        return v, slack

    for p, s, bs, os_, h, olab in levels:
        pv = P[:, :, bs][:, :, :, os_].sum(axis=(2, 3))  # probes' dot with each cell's target (its unknowns at 1)
        ev = E[:, :, bs][:, :, :, os_].sum(axis=(2, 3))
        nv = len(bs) * len(os_)
        tv = T[:, bs][:, :, os_].sum(axis=(1, 2)) / h
        groups = [(tc[:, None], "cell")]
        m = touched[pairs[:, 0]] & touched[pairs[:, 1]] if len(pairs) else np.zeros(0, bool)
        groups.append((pairs[m], "pair"))
        for grp, what in groups:
            if not len(grp):
                continue
            dots = pv[:, grp].sum(axis=2)
            # |t.v| <= ||beta|| ||A v|| + ||r||: a target with |t.v| above BOUND ||A v|| + TOL (1 + ||t||)
            # for either probe cannot follow with coefficients up to BOUND and a residual up to TOL
            bound = BOUND * ev[:, grp].sum(axis=2) + TOL * (1 + np.sqrt(nv * grp.shape[1]))
            true = tv[grp].sum(axis=1)
            cand = np.flatnonzero((np.abs(dots) <= bound).all(axis=0) & (true > 1e-9) & (true < a.k))
            for i in cand:
                tested += 1
                us = ((grp[i][:, None, None] * n_b + bs[None, :, None]) * n_o + os_[None, None, :]).reshape(-1)
                got = solve(us, np.ones(len(us)))  # the sum of its unknowns; its value is that over h
                if got is None:
                    continue
                follow += 1
                v, slack = got[0] / h, got[1] / h
                if v + slack < a.k:
                    found.append((what, [str(cells[c]) for c in grp[i]], p, str(s), olab, round(float(true[i]), 2), round(v, 2), round(slack, 2)))
    # suppressed figures under k: the same certificate, each row its own target
    if len(hid):
        # each row scaled to a largest coefficient of 1 (whether it follows does not depend on its
        # scale; the certificate's BOUND does), and ||A v|| summed over the components it reaches
        scale = 1.0 / np.maximum(abs(Rs).max(axis=1).toarray().ravel(), 1e-300)
        Ru = sparse.diags_array(scale) @ Rs
        lab_u = np.full(n_u, n_comp)  # each unknown's component (n_comp: none)
        lab_u[used] = col_lab
        comp_of = sparse.csr_array(
            (np.ones(Rs.nnz), (np.repeat(np.arange(Rs.shape[0]), np.diff(Rs.indptr)), lab_u[Rs.indices])), shape=(Rs.shape[0], n_comp + 1)
        )
        comp_of.sum_duplicates()
        comp_of.data[:] = 1.0  # (one per component)
        dots = np.vstack([Ru @ pr for pr in probes])
        bound = BOUND * np.vstack([comp_of @ np.r_[e, 0.0] for e in eps_comp]) + TOL * (1 + sparse.linalg.norm(Ru, axis=1))
        for i in np.flatnonzero((np.abs(dots) <= bound).all(axis=0)):
            tested += 1
            row = Rs[[i]]
            got = solve(row.indices, row.data)
            if got is None:
                continue
            follow += 1
            if got[0] + got[1] < a.k:
                f = hid.iloc[i]
                found.append(
                    (
                        "suppressed figure",
                        [f.zone_id],
                        f.period,
                        str(f.period_start),
                        f.origin,
                        round(float((Rs[[i]] @ truth)[0]), 2),
                        round(got[0], 2),
                        round(got[1], 2),
                    )
                )
    print(
        f"targets under k without a probe certificate: {tested} ({by['svd']} solves in SVD components, {by['lsqr']} by LSQR); follow exactly: {follow}; "
        f"exposed (bound under k = {a.k:g}): {len(found)} ({time.perf_counter() - t0:.1f} s)"
    )
    if a.bounds and len(hid):
        found += _bounds(R, y, hid, Rs, lay["keys"], a.k, a.bounds)
    for f in found[:30]:
        print("  ", f)
    raise SystemExit(1 if found else 0)


def _bounds(R, y, hid: pd.DataFrame, Rs, keys: pd.DataFrame, k: float, n: int) -> list:
    """The largest value of each of ``n`` sampled suppressed figures that the published
    figures of its own slice (period, start, origin) allow, every figure read to +-0.5 and
    counts not negative (HiGHS): those under ``k`` are exposed. One slice's rows only: a
    weaker attacker than all rows at once, as large as the audit's own programmes.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(1)
    pick = rng.choice(len(hid), size=min(n, len(hid)), replace=False)
    hk = hid.assign(period_start=pd.to_datetime(hid.period_start, utc=True))
    found, worst = [], np.inf
    for i in pick:
        f = hk.iloc[i]
        rows = np.flatnonzero(((keys.period == f.period) & (keys.period_start == f.period_start) & (keys.origin == f.origin)).to_numpy())
        t = Rs[[i]]
        A = R[rows]
        cols = np.union1d(np.unique(A.indices), t.indices)
        c = np.zeros(len(cols))
        c[np.searchsorted(cols, t.indices)] = t.data
        top = lp_max(A[:, cols], y[rows], c)
        worst = min(worst, top)
        if top < k:
            found.append(("bounded figure", [f.zone_id], f.period, str(f.period_start), f.origin, None, round(top, 2), 0.0))
    print(
        f"bounds: {len(pick)} sampled suppressed figures under k, each by its slice's programme: {len(found)} bounded under k = {k:g}"
        f" (the lowest bound {worst:.1f}; {time.perf_counter() - t0:.1f} s)"
    )
    return found


if __name__ == "__main__":
    main()
