"""Levers of the footprint model on the crowd study (issue 18, stop 32): the crowd study
(``benchmarks/crowds.py``) for the footprint method alone, with ``geozones.footprint``
patched as VARIANT says. A study of what moves the figures, not a setting of geozones.

Usage
-----
From the repository root::

    python3.11 benchmarks/crowd_levers.py VARIANT [crowds.py options, e.g. --case kortrijk --seeds 0 1 2 --out F.json]
    python3.11 benchmarks/crowd_levers.py VARIANT --day [accuracy.py options, e.g. --seeds 0 1 2 --out F.json]

``--day`` runs the day simulations of ``benchmarks/accuracy.py`` (every method; the
variant changes the footprint method only) instead of the crowd study, ``--week`` the
week with an event day of ``benchmarks/event_days.py``.

VARIANT, joined with ``+``:

- ``base``: geozones as it is.
- ``plan:g,m``: prior per tile = sum over cells of P[c, t] / (cell c's footprint size), to the power g, mixed
  with a share m of uniform.
- ``kern:h,m`` / ``kernc:h,m``: prior per tile = sum over the 8 nearest sites (24 nearest cells) of
  exp(-d^2 / 2h^2), scaled to mean 1, mixed with a share m of uniform.
- ``em:n,beta,s``: n EM steps; beta > 1 over-relaxed; s > 0 a sparsity-promoting MAP step.
- ``akern:f,m``: adaptive kernel: each site's Gaussian has f x the distance to its third
  nearest other site (at least 100 m) and mass 1 (sites stand for people where they are
  dense and where they are sparse alike), mixed with a share m of uniform.
- ``anc:shops`` / ``anc:kern``: an ancillary layer as the prior (``--ancillary``): the case's
  shopping-area zones (where the simulation puts its visitors: an upper bound) or Flanders'
  core shopping areas (``kernwinkelgebied``, coarser; not where the simulation draws from).
- ``shopx:b``: the default prior times (1 + b x the tile's share inside the shopping areas).
- ``ancx:src,b``: the default prior times (1 + b x min(layer / its 99th percentile, 1)),
  the layer's density per tile as ``--ancillary`` reads it; src ``pop`` (the 1 km
  population raster ``POP.tif``), ``shops`` (the case's shopping areas) or ``kern``.
- ``ancpop``: ``--ancillary`` = the population raster ``POP.tif`` (as geozones combines it:
  since stop 40 the factor of ``ancx`` with b = 3; before, the layer as the prior).
- ``tile:m``: tiles of m metres; ``soft:db``: softness of the best-server choice.
- ``akernc:f,m``: as ``akern`` but each site's mass is its number of cells (capacity is
  added where demand is); ``akerng:f,m,g``: ``akern`` to the power g (mean 1), then the floor.
- ``akernn:f,m``: as ``akern`` but each site's mass is the people its cells counted (the
  run's counts; the prior is built in ``estimate_density``).
- ``ple:x``: path-loss exponent of the footprints; ``reach:x``: reach factor.
"""

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import crowds  # noqa: E402

import geozones.footprint as F  # noqa: E402

if __name__ != "__main__":
    raise ImportError("benchmarks/crowd_levers.py is a script")
variant = sys.argv[1]
argv = sys.argv[2:]
crowds.METHODS = ("footprint",)          # only the method under study (others unchanged by patches)

def plan_prior(P, gamma=1.0, mix=0.0):
    """prior[t] ∝ sum_c P[c,t] / area_c (area_c = sum_t P[c,t], the cell's footprint size in tiles)."""
    area = np.asarray(P.sum(axis=1)).ravel()
    inv = np.divide(1.0, area, out=np.zeros_like(area), where=area > 0)
    d = np.asarray(P.T @ inv).ravel()
    reached = d > 0
    d = np.where(reached, d / d[reached].mean(), 0.0) ** gamma
    d = np.where(reached, d / d[reached].mean(), 0.0)
    return np.where(reached, (1 - mix) * d + mix, 1.0)

def with_prior(fn):
    """Footprints (as patched so far) whose prior is ``fn(P)``."""
    inner = F.footprints

    def footprints(*a, **k):
        fp = inner(*a, **k)
        return dataclasses.replace(fp, prior=fn(fp.matrix), meta=dict(fp.meta, prior=variant))
    F.footprints = footprints


def with_defaults(**given):
    """Footprints (as patched so far) with other defaults (``tile_m``, ``softness``)."""
    inner = F.footprints

    def footprints(*a, **k):
        return inner(*a, **(given | k))
    F.footprints = footprints

def em(steps=100, beta=1.0, sparsity=0.0):
    """EM of ``steps`` steps; ``beta`` > 1 over-relaxed; ``sparsity`` > 0 a MAP step."""
    def estimate_density(P, counts, prior, iterations=None):
        counts = np.asarray(counts, dtype=float)
        reached = np.asarray(P.sum(axis=0)).ravel() > 0
        lam = np.where(reached, np.asarray(prior, dtype=float), 0.0)
        q = P @ lam
        if lam.sum() <= 0:
            return lam
        total = counts[q > 0].sum()
        lam = lam * (total / lam.sum())
        PT = sparse.csr_array(P.T)
        for _ in range(steps):
            q = P @ lam
            ratio = np.divide(counts, q, out=np.zeros_like(counts), where=q > 0)
            g = PT @ ratio
            if beta != 1.0:
                lam = lam * np.power(np.maximum(g, 0), beta)
                lam *= total / lam.sum()
            else:
                lam = lam * g
            if sparsity:
                # MAP-EM (one step late) with a Gamma(a<1) prior per tile: subtract a constant, clip at 0, keep the total
                lam = np.maximum(lam - sparsity * total / reached.sum(), 0.0)
                lam *= total / lam.sum()
        return lam
    F.estimate_density = estimate_density


V = variant.split("+")
for v in V:
    name, _, arg = v.partition(":")
    if name == "base":
        pass
    elif name == "plan":        # plan:gamma,mix
        g, m = (list(map(float, arg.split(","))) + [1.0, 0.0])[:2] if arg else (1.0, 0.0)
        with_prior(lambda P, g=g, m=m: plan_prior(P, g, m))
    elif name == "em":          # em:iterations,beta,sparsity
        p = list(map(float, arg.split(","))) + [1.0, 0.0]
        em(int(p[0]), p[1], p[2])
    elif name == "soft":        # fixed softness
        with_defaults(softness=float(arg))
    elif name in ("kern", "kernc"):  # kern:h,mix  prior = mix + (1-mix) * normalised sum over the 8 nearest sites (kernc: cells) of exp(-d²/2h²)
        h, m = (list(map(float, arg.split(","))) + [0.0])[:2]
        per_cell = name == "kernc"
        from scipy.spatial import cKDTree
        _f0 = F.footprints
        def _fk(cells, zones, _f0=_f0, h=h, m=m, per_cell=per_cell, **k):
            fp = _f0(cells, zones, **k)
            c = cells.to_crs(fp.meta["crs"])
            sites = np.round(np.c_[c.geometry.x, c.geometry.y], 1)
            if not per_cell:
                sites = np.unique(sites, axis=0)
            d, _ = cKDTree(sites).query(np.c_[fp.x, fp.y], k=min(24 if per_cell else 8, len(sites)))
            kk = np.exp(-d ** 2 / (2 * h * h)).sum(axis=1)
            return dataclasses.replace(fp, prior=(1 - m) * kk / kk.mean() + m)
        F.footprints = _fk
    elif name == "akern":  # akern:f,mix  adaptive: each site's kernel f x the distance to its 3rd nearest other site, mass 1 per site
        f, m = (list(map(float, arg.split(","))) + [0.0])[:2]
        from scipy.spatial import cKDTree
        _f1 = F.footprints
        def _fa(cells, zones, _f1=_f1, f=f, m=m, **k):
            fp = _f1(cells, zones, **k)
            c = cells.to_crs(fp.meta["crs"])
            sites = np.unique(np.round(np.c_[c.geometry.x, c.geometry.y], 1), axis=0)
            tree = cKDTree(sites)
            gap = tree.query(sites, k=min(4, len(sites)))[0][:, -1]
            h = np.maximum(f * gap, 100.0)
            d, i = tree.query(np.c_[fp.x, fp.y], k=min(32, len(sites)))
            kk = (np.exp(-d ** 2 / (2 * h[i] ** 2)) / h[i] ** 2).sum(axis=1)
            return dataclasses.replace(fp, prior=(1 - m) * kk / kk.mean() + m)
        F.footprints = _fa
    elif name in ("akernc", "akerng"):  # akernc:f,m  akern with each site's mass = its number of cells; akerng:f,m,g  akern to the power g
        p = list(map(float, arg.split(","))) if arg else []
        f, m, g = (p + [1.0, 0.05, 1.0][len(p):])[:3]
        per_cell = name == "akernc"
        from scipy.spatial import cKDTree
        _f6 = F.footprints
        def _fac(cells, zones, _f6=_f6, f=f, m=m, g=g, per_cell=per_cell, **k):
            fp = _f6(cells, zones, **k)
            c = cells.to_crs(fp.meta["crs"])
            sites, n = np.unique(np.round(np.c_[c.geometry.x, c.geometry.y], 1), axis=0, return_counts=True)
            mass = n.astype(float) if per_cell else np.ones(len(sites))
            tree = cKDTree(sites)
            gap = tree.query(sites, k=min(4, len(sites)))[0][:, -1]
            h = np.maximum(f * gap, 100.0)
            d, i = tree.query(np.c_[fp.x, fp.y], k=min(32, len(sites)))
            kk = (mass[i] * np.exp(-d ** 2 / (2 * h[i] ** 2)) / h[i] ** 2).sum(axis=1)
            kk = (kk / kk.mean()) ** g
            return dataclasses.replace(fp, prior=(1 - m) * kk / kk.mean() + m)
        F.footprints = _fac
    elif name == "akernn":  # akernn:f,m  akern with each site's mass = the people its cells counted (the run's counts)
        p = list(map(float, arg.split(","))) if arg else []
        f, m = (p + [1.0, 0.05][len(p):])[:2]
        from scipy.spatial import cKDTree
        _f7, _est = F.footprints, F.estimate_density
        _store = {}
        def _fan(cells, zones, _f7=_f7, f=f, **k):
            fp = _f7(cells, zones, **k)
            c = cells.to_crs(fp.meta["crs"])
            sites, site_of = np.unique(np.round(np.c_[c.geometry.x, c.geometry.y], 1), axis=0, return_inverse=True)
            tree = cKDTree(sites)
            gap = tree.query(sites, k=min(4, len(sites)))[0][:, -1]
            h = np.maximum(f * gap, 100.0)
            d, i = tree.query(np.c_[fp.x, fp.y], k=min(32, len(sites)))
            w = np.exp(-d ** 2 / (2 * h[i] ** 2)) / h[i] ** 2
            K = sparse.csr_array((w.ravel(), (np.repeat(np.arange(len(fp.x)), i.shape[1]), i.ravel())), shape=(len(fp.x), len(sites)))
            # (cells of fp are in the order of `cells`)
            _store[id(fp.matrix)] = (K, site_of.ravel())
            return fp
        def _estn(P, counts, prior, iterations=F.ITERATIONS, _est=_est, m=m):
            if id(P) in _store:
                K, site_of = _store[id(P)]
                sc = np.bincount(site_of, weights=np.asarray(counts, dtype=float), minlength=K.shape[1])
                kk = K @ sc
                if kk.mean() > 0:
                    prior = (1 - m) * kk / kk.mean() + m
            return _est(P, counts, prior, iterations=iterations)
        F.footprints, F.estimate_density = _fan, _estn
    elif name == "ple":  # ple:x  path-loss exponent of the footprints
        with_defaults(exponent=float(arg))
    elif name == "reach":  # reach:x  reach factor (times range_m)
        with_defaults(reach_factor=float(arg))
    elif name == "anc":  # anc:shops (the case's shopping-area zones) or anc:kern (Flanders' core shopping areas) as --ancillary
        import geopandas as gpd
        _f2 = F.footprints
        kern = None
        if arg == "kern":
            kern = gpd.read_file(ROOT.parent / "shared" / "data" / "flanders" / "kernwinkelgebied.shp")[["geometry"]]
        elif arg != "shops":
            raise SystemExit("anc:shops or anc:kern")
        def _fanc(cells, zones, _f2=_f2, kern=kern, **k):
            layer = kern if kern is not None else zones[zones["zone_id"].astype(str).str.startswith("shop-")][["geometry"]]
            return _f2(cells, zones, ancillary=layer.reset_index(drop=True), **k)
        F.footprints = _fanc
    elif name == "shopx":  # shopx:b  the default prior times (1 + b x the tile's share in the case's shopping areas)
        b = float(arg)
        _f3 = F.footprints
        def _fsx(cells, zones, _f3=_f3, b=b, **k):
            fp = _f3(cells, zones, **k)
            shop = np.flatnonzero(np.char.startswith(fp.zone_ids.astype(str), "shop-"))
            inside = np.minimum(np.asarray(fp.zone_shares[:, shop].sum(axis=1)).ravel(), 1.0)
            return dataclasses.replace(fp, prior=fp.prior * (1 + b * inside))
        F.footprints = _fsx
    elif name == "ancx":  # ancx:src,b  the default prior x (1 + b x min(layer / its 99th percentile, 1)); src pop|shops|kern
        import geopandas as gpd
        src, b = arg.split(",")
        b = float(b)
        _f4 = F.footprints
        def _fax(cells, zones, _f4=_f4, src=src, b=b, **k):
            fp = _f4(cells, zones, **k)
            if src == "pop":
                layer = ROOT.parent / "shared" / "data" / "population" / "POP.tif"
            elif src == "kern":
                layer = gpd.read_file(ROOT.parent / "shared" / "data" / "flanders" / "kernwinkelgebied.shp")[["geometry"]]
            else:
                layer = zones[zones["zone_id"].astype(str).str.startswith("shop-")][["geometry"]].reset_index(drop=True)
            f, _ = F._prior(fp.x, fp.y, fp.meta["tile_m"], fp.meta["crs"], layer, None, "uniform", None, None)
            u = (f - 1.0) / F.ANCILLARY_WEIGHT  # (min(layer / its 99th percentile, 1), as geozones reads it)
            return dataclasses.replace(fp, prior=fp.prior * (1 + b * u))
        F.footprints = _fax
    elif name == "ancpop":  # ancpop:  --ancillary = the population raster POP.tif (replaces the prior)
        _f5 = F.footprints
        def _fap(cells, zones, _f5=_f5, **k):
            return _f5(cells, zones, ancillary=ROOT.parent / "shared" / "data" / "population" / "POP.tif", **k)
        F.footprints = _fap
    elif name == "tile":
        with_defaults(tile_m=float(arg))
    else:
        raise SystemExit(f"unknown variant {v}")

# extra table: per case x size class
_tables = crowds.tables
def tables(raw):
    """crowds.py's tables and one per case and size class (the raw figures kept beside --out)."""
    out = _tables(raw)
    if "--out" in argv:
        raw.to_pickle(argv[argv.index("--out") + 1].replace(".json", ".pkl"))
    a = raw.assign(abs_error=raw["rel_error"].abs())
    out["case x size class"] = a.groupby(["case", "size_class"], sort=False).agg(
        median_abs=("abs_error", "median"), p90_abs=("abs_error", lambda v: v.quantile(0.9)), bias=("rel_error", "mean"), coverage=("inside", "mean"))
    del out["calibration"]
    return out
crowds.tables = tables
t0 = time.time()
if "--day" in argv:  # the day simulations (benchmarks/accuracy.py, every method) instead of the crowds
    import accuracy

    argv.remove("--day")
    accuracy.main(argv)
elif "--week" in argv:  # the week with an event day (benchmarks/event_days.py)
    import event_days

    argv.remove("--week")
    event_days.main(argv)
else:
    crowds.main(argv)
print(f"VARIANT {variant} wall {time.time()-t0:.0f} s")
