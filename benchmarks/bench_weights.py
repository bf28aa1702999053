"""Benchmark geozones' weights builder against tobler and geopandas ``overlay``.

Usage
-----
From the repository root::

    python benchmarks/bench_weights.py [--case a|b|all] [--repeat 3] [--shared ../shared/data]

The script prints a table and writes every measurement to
``benchmarks/results/weights.json``. It is not a test (pytest collects ``tests/`` only).

Cases
-----
a
    The real Antwerpen cell plan (the regulator's sites of the three operators,
    ``sites/antwerpen_basestations_{pxs,org,tnt}.json``, as wedges) against all 2,767
    neighbourhoods of Flanders and Brussels (``flanders/ggw7.shp``, ``geoitem`` as
    ``zone_id``). Few cells, many detailed zones, most of them far from any cell.
b
    50,000 synthetic wedges (:func:`geozones.synth.synthetic_cellplan`: 16,667 three-sector
    sites, no small cells, drawn following ``population/POP.tif`` over the union of
    ``flanders/provincie2024.shp``) against a square grid over the same area
    (:func:`geozones.square_grid`, 2,750 m: 2,014 squares).

Both layers of a case are projected beforehand to the metric CRS that geozones picks for
those zones, and that CRS is passed to :func:`geozones.compute_weights`, so no method pays
for a reprojection and all three measure the same coordinates.

Methods (each timed call is one complete computation)
-----------------------------------------------------
``geozones w=N``
    ``geozones.compute_weights(coverage, zones, workers=N)`` for N = 1 and 2.
``tobler n=N``
    ``tobler.area_weighted.area_interpolate(coverage, zones, extensive_variables=["count"],
    allocate_total=False, n_jobs=N)``: with ``allocate_total=False`` tobler divides by the
    source (coverage) area, like geozones; its default (``True``) divides by the sum of
    the intersections instead. ``n_jobs=2`` is tobler's own parallel path (joblib/loky
    processes).
``overlay``
    ``geopandas.overlay(coverage, zones, how="intersection", keep_geom_type=True)``, then
    the area of every piece divided by the area of its cell.

Timing
------
All methods run in this one process, one after the other: ``--repeat`` calls each, the
best (minimum) reported and every time kept in the JSON. Every timed call gets fresh
copies of the geometries (a WKB round trip, outside the timer), so nothing prepared or
indexed by an earlier call is reused. tobler's worker pool is started by its first
``n_jobs=2`` call and reused by the next ones (so its best time is with a warm pool); it is
shut down after each case.

``--fork`` runs geozones' ``workers=2`` calls in forked children, timed inside the child
(after PROJ is initialised there, as it is in the parent), and retries a call whose child
dies. Use it on revisions whose threads can crash the process: before commit 3d51c3d
geozones shared prepared geometries between threads, which GEOS does not allow, and about
one call in two crashed on case b. A ``geozones w=1 fk`` row then shows what the fork
itself costs.

First call
----------
The timed calls above run in a process that has already imported everything and, after
the first repetition, loaded geozones' compiled clipper. Each case therefore also runs
geozones (``workers=2``) and tobler (``n_jobs=1``) in a new Python process, on the same
layers read from GeoParquet, and reports the import, the first call and the second call
apart; ``geozones, cold cache`` does it with an empty ``NUMBA_CACHE_DIR``, so that the
clipper is compiled as on the first run after installing or changing geozones.

Checks
------
* geozones ``workers=1`` and ``workers=2`` give the same matrix;
* zone totals ``w.matrix.T @ counts`` (``counts``: seeded integers 1..999 per cell) equal
  tobler's extensive estimates. tobler 0.13 stores its area table as float32, so its output
  carries float32 rounding (~1e-7 relative); the same check is also made against tobler's
  arithmetic on a float64 table (tobler's ``_area_tables_binning`` without the float32 cast,
  passed as ``table=``), which must agree to 1e-9;
* every (cell, zone) weight from ``overlay`` equals geozones' weight.

Relative errors are ``|a - b| / max(|a|, |b|, floor)``: totals below one person and weights
below 1e-6 are compared absolutely (a sliver's weight is GEOS noise, not a disagreement).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

import geozones as gz
from geozones.synth import synthetic_cellplan

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "weights.json"

#: Tolerance of the equality checks (relative).
RTOL = 1e-9
#: What float32 storage of an area table allows: four float32 epsilons (~4.8e-7).
F32_TOL = 4 * float(np.finfo(np.float32).eps)
#: Below these, totals (people) and weights are compared absolutely.
TOTAL_FLOOR = 1.0
WEIGHT_FLOOR = 1e-6


# --------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One benchmark case: coverage polygons and zones in the same metric CRS."""

    name: str
    description: str
    coverage: gpd.GeoDataFrame  # cell_id, count, geometry
    zones: gpd.GeoDataFrame  # zone_id, geometry
    crs: str
    setup: dict = field(default_factory=dict)


def _metric_for(zones: gpd.GeoDataFrame):
    """The metric CRS geozones picks for a zone set."""
    return gz.metric_crs(zones.to_crs("EPSG:4326").total_bounds)


def _finish(name, description, cov, zones, seed, setup) -> Case:
    metric = _metric_for(zones)
    cov = cov.to_crs(metric)
    zones = zones.to_crs(metric)
    counts = np.random.default_rng(seed).integers(1, 1000, len(cov)).astype(float)
    cov = gpd.GeoDataFrame(
        {"cell_id": cov["cell_id"].astype(str).to_numpy(), "count": counts}, geometry=cov.geometry.values, crs=metric
    )
    zones = gpd.GeoDataFrame(
        {"zone_id": zones["zone_id"].astype(str).to_numpy()}, geometry=zones.geometry.values, crs=metric
    )
    setup.update(
        cells=len(cov),
        zones=len(zones),
        crs=metric.to_string(),
        coverage_vertices=int(shapely.get_num_coordinates(cov.geometry.values).sum()),
        zone_vertices=int(shapely.get_num_coordinates(zones.geometry.values).sum()),
    )
    return Case(name, description, cov, zones, metric.to_string(), setup)


def case_a(shared: Path, seed: int) -> Case:
    """The Antwerpen cell plan (three operators) x all Flemish and Brussels neighbourhoods."""
    t0 = time.perf_counter()
    files = [shared / "sites" / f"antwerpen_basestations_{op}.json" for op in ("pxs", "org", "tnt")]
    cells = gz.read_sites(files)
    cov = gz.build_coverage(cells, "wedge")
    zones = gpd.read_file(shared / "flanders" / "ggw7.shp").rename(columns={"geoitem": "zone_id"})
    return _finish(
        "a",
        "Antwerpen cell plan (pxs+org+tnt wedges) x 2,767 neighbourhoods (ggw7)",
        cov,
        zones,
        seed,
        {
            "sites_files": [f.name for f in files],
            "zones_file": "flanders/ggw7.shp",
            "setup_s": time.perf_counter() - t0,
        },
    )


def case_b(shared: Path, seed: int, n_cells: int, grid_m: float) -> Case:
    """Synthetic wedges following population over Flanders x a square grid."""
    t0 = time.perf_counter()
    area = gpd.read_file(shared / "flanders" / "provincie2024.shp")
    n_sites = -(-n_cells // 3)
    plan = synthetic_cellplan(shared / "population" / "POP.tif", area, n_sites, seed=seed, small_cell_share=0.0)
    plan = plan.iloc[:n_cells]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cellplan.csv"
        plan.to_csv(path, index=False)
        cells = gz.read_cellplan(path)
    cov = gz.build_coverage(cells, "wedge")
    zones = gz.square_grid(area, grid_m)
    return _finish(
        "b",
        f"{len(cov):,} synthetic wedges over Flanders+Brussels x {len(zones):,} squares of {grid_m:g} m",
        cov,
        zones,
        seed,
        {
            "sites": n_sites,
            "population": "population/POP.tif",
            "area": "union of flanders/provincie2024.shp (5 provinces + Brussels)",
            "grid_m": grid_m,
            "range_m_median": float(np.median(plan["range_m"])),
            "setup_s": time.perf_counter() - t0,
        },
    )


# ------------------------------------------------------------------------- methods
def run_geozones(cov: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, crs: str, workers: int) -> gz.Weights:
    """geozones' weights: the matrix, labels, outside shares."""
    return gz.compute_weights(cov, zones, crs=crs, workers=workers)


def run_tobler(cov: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, n_jobs: int) -> np.ndarray:
    """tobler's extensive interpolation of ``count``, one total per zone."""
    from tobler.area_weighted import area_interpolate

    est = area_interpolate(
        source_df=cov, target_df=zones, extensive_variables=["count"], allocate_total=False, n_jobs=n_jobs
    )
    return est["count"].to_numpy(dtype=float)


def run_overlay(cov: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """Weights from a geopandas overlay: area of each piece over the area of its cell."""
    pieces = gpd.overlay(cov[["cell_id", "geometry"]], zones, how="intersection", keep_geom_type=True)
    cell_area = pd.Series(cov.area.to_numpy(), index=cov["cell_id"].to_numpy())
    weight = pieces.area.to_numpy() / cell_area.reindex(pieces["cell_id"].to_numpy()).to_numpy()
    return pd.DataFrame(
        {"cell_id": pieces["cell_id"].to_numpy(), "zone_id": pieces["zone_id"].to_numpy(), "weight": weight}
    )


def tobler_float64(cov: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> np.ndarray:
    """tobler's interpolation on a float64 area table (not timed).

    The table is built as ``tobler.area_weighted.area_interpolate._area_tables_binning``
    builds it (tree on the larger layer, ``intersects`` pairs, intersection areas) but kept
    in float64, and handed to ``area_interpolate(table=...)``.
    """
    from tobler.area_weighted import area_interpolate

    if len(cov) > len(zones):
        ids_tgt, ids_src = cov.sindex.query(zones.geometry, predicate="intersects")
    else:
        ids_src, ids_tgt = zones.sindex.query(cov.geometry, predicate="intersects")
    areas = cov.geometry.values[ids_src].intersection(zones.geometry.values[ids_tgt]).area
    table = sparse.coo_matrix((areas, (ids_src, ids_tgt)), shape=(len(cov), len(zones)), dtype=np.float64).tocsr()
    est = area_interpolate(
        source_df=cov, target_df=zones, extensive_variables=["count"], allocate_total=False, table=table
    )
    return est["count"].to_numpy(dtype=float)


# -------------------------------------------------------------------------- timing
def _fresh(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy with new geometry objects: nothing prepared, no spatial index."""
    geoms = shapely.from_wkb(shapely.to_wkb(np.asarray(gdf.geometry.values)))
    return gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name), geometry=geoms, crs=gdf.crs)


def _timed(fn, args):
    """(seconds, result, warnings) of one call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t0
    return dt, out, sorted({f"{w.category.__name__}: {w.message}" for w in caught})


def _warm_proj(crs: str) -> None:
    """Open PROJ's database in this process: pyproj starts afresh in a forked child."""
    import pyproj

    pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform_bounds(0, 0, 1, 1)
    gz.metric_crs((4.0, 51.0, 4.1, 51.1))


def _child(conn, fn, make_args, crs) -> None:
    try:
        _warm_proj(crs)
        conn.send(("ok",) + _timed(fn, make_args()))
    except Exception as exc:  # noqa: BLE001 - any failure goes back to the parent, which raises it
        conn.send(("error", repr(exc), None, []))
    finally:
        conn.close()


def _timed_in_fork(fn, make_args, crs):
    """Like :func:`_timed`, in a forked child; ``None`` when the child died (e.g. SIGSEGV).

    The arguments are made in the child, so that the call works on the child's own memory
    rather than on pages shared with the parent (copy-on-write would slow it down), and
    PROJ is initialised before the timer, as it is in the parent.
    """
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, make_args, crs))
    proc.start()
    send.close()
    try:
        msg = recv.recv()
    except EOFError:
        msg = None
    proc.join()
    if msg is None:
        return None, proc.exitcode
    if msg[0] == "error":
        raise RuntimeError(f"{fn.__name__} failed in the child process: {msg[1]}")
    return msg[1:], proc.exitcode


@dataclass
class Timing:
    method: str
    times: list = field(default_factory=list)
    crashes: list = field(default_factory=list)  # exit codes of children that died
    warnings: list = field(default_factory=list)
    result: object = None

    @property
    def best(self):
        return min(self.times) if self.times else None

    def as_dict(self) -> dict:
        return {
            "best_s": self.best,
            "median_s": float(np.median(self.times)) if self.times else None,
            "times_s": self.times,
            "crashes": len(self.crashes),
            "crash_exit_codes": self.crashes,
            "warnings": self.warnings,
        }


def measure(method: str, fn, make_args, repeat: int, fork: bool, max_attempts: int, crs: str) -> Timing:
    """Best of ``repeat`` timed calls; forked calls that crash are retried."""
    timing = Timing(method)
    for _ in range(repeat):
        for _attempt in range(max_attempts):
            if fork:
                got, code = _timed_in_fork(fn, make_args, crs)
                if got is None:
                    timing.crashes.append(code)
                    print(f"    {method}: child process died (exit code {code}); retrying", flush=True)
                    continue
            else:
                got = _timed(fn, make_args())
            dt, out, warns = got
            timing.times.append(dt)
            timing.result = out
            timing.warnings = sorted(set(timing.warnings) | set(warns))
            break
        else:
            print(f"    {method}: gave up after {max_attempts} crashes", flush=True)
    return timing


def _shutdown_loky() -> None:
    try:
        from joblib.externals.loky import get_reusable_executor
    except ImportError:  # pragma: no cover - tobler runs without a pool then
        return
    get_reusable_executor().shutdown(wait=True)


# -------------------------------------------------------------------------- checks
def _rel(a: np.ndarray, b: np.ndarray, floor: float) -> np.ndarray:
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


def _check(name: str, err: np.ndarray, tol: float, note: str = "") -> dict:
    worst = float(err.max()) if len(err) else 0.0
    return {
        "check": name,
        "max_rel_error": worst,
        "tolerance": tol,
        "passed": bool(worst <= tol),
        "failing": int((err > tol).sum()),
        "compared": len(err),
        "note": note,
    }


def check_results(case: Case, results: dict[str, Timing]) -> list[dict]:
    """Equality checks between the methods' outputs (see the module docstring)."""
    checks = []
    counts = case.coverage["count"].to_numpy()
    w1 = results["geozones w=1"].result
    base = w1.matrix.T @ counts
    if "geozones w=2" in results and results["geozones w=2"].result is not None:
        w2 = results["geozones w=2"].result
        d = abs(w1.matrix - w2.matrix)
        diff = np.array([d.max() if d.nnz else 0.0])
        checks.append(_check("weights: geozones w=1 == w=2 (absolute)", diff, 0.0))
    for key in ("tobler n=1", "tobler n=2"):
        if key in results and results[key].result is not None:
            err = _rel(base, results[key].result, TOTAL_FLOOR)
            checks.append(
                _check(
                    f"zone totals: geozones == {key}",
                    err,
                    RTOL,
                    "expected: tobler 0.13 keeps its area table in float32",
                )
            )
            checks.append(_check(f"zone totals: geozones == {key}, to float32 rounding", err, F32_TOL))
    t64 = tobler_float64(case.coverage, case.zones)
    checks.append(
        _check(
            "zone totals: geozones == tobler arithmetic on a float64 table",
            _rel(base, t64, TOTAL_FLOOR),
            RTOL,
        )
    )
    if "overlay" in results and results["overlay"].result is not None:
        ov = results["overlay"].result.groupby(["cell_id", "zone_id"], as_index=False)["weight"].sum()
        mine = w1.to_frame()
        mine = mine[(mine["zone_id"] != gz.OUTSIDE) & (mine["weight"] > 0)]
        both = mine.astype({"cell_id": str, "zone_id": str}).merge(
            ov.astype({"cell_id": str, "zone_id": str}), on=["cell_id", "zone_id"], how="outer", suffixes=("_gz", "_ov")
        )
        a = both["weight_gz"].fillna(0.0).to_numpy()
        b = both["weight_ov"].fillna(0.0).to_numpy()
        c = _check("per-pair weights: geozones == overlay", _rel(a, b, WEIGHT_FLOOR), RTOL)
        c["pairs_geozones"], c["pairs_overlay"] = (
            int(both["weight_gz"].notna().sum()),
            int(both["weight_ov"].notna().sum()),
        )
        checks.append(c)
    return checks


# ------------------------------------------------------------------------- profile
def profile_geozones(case: Case, top: int = 20) -> list[dict]:
    """cProfile of one ``workers=1`` call: the functions with the most own time."""
    cov, zones = _fresh(case.coverage), _fresh(case.zones)
    prof = cProfile.Profile()
    prof.enable()
    run_geozones(cov, zones, case.crs, 1)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        rows.append({"function": f"{Path(file).name}:{line}({func})", "ncalls": nc, "tottime_s": tt, "cumtime_s": ct})
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:top]


# ---------------------------------------------------------------- first call
_FIRST_CALL = """
import json, sys, time
t0 = time.perf_counter()
import geopandas as gpd
cov, zones = gpd.read_parquet(sys.argv[1]), gpd.read_parquet(sys.argv[2])
out = {"read_s": time.perf_counter() - t0}
if sys.argv[3] == "geozones":
    t0 = time.perf_counter()
    import geozones
    out["import_s"] = time.perf_counter() - t0
    call = lambda: geozones.compute_weights(cov, zones, crs=sys.argv[4], workers=2)
else:
    t0 = time.perf_counter()
    from tobler.area_weighted import area_interpolate
    out["import_s"] = time.perf_counter() - t0
    call = lambda: area_interpolate(source_df=cov, target_df=zones, extensive_variables=["count"], allocate_total=False, n_jobs=1)
for key in ("first_s", "second_s"):
    t0 = time.perf_counter()
    call()
    out[key] = time.perf_counter() - t0
print(json.dumps(out))
"""


def first_calls(case: Case) -> dict:
    """The first and second call in a new process (imports timed apart), geozones and tobler.

    geozones' first call loads its compiled clipper (numba) from numba's cache;
    ``geozones, cold cache`` points ``NUMBA_CACHE_DIR`` at an empty folder, so that the
    clipper is compiled, as on the first run after installing or changing geozones.
    """
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        cov, zones = Path(tmp) / "cov.parquet", Path(tmp) / "zones.parquet"
        case.coverage.to_parquet(cov)
        case.zones.to_parquet(zones)
        for label, tool, env in (
            ("geozones", "geozones", {}),
            ("geozones, cold cache", "geozones", {"NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}),
            ("tobler n=1", "tobler", {}),
        ):
            run = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL, str(cov), str(zones), tool, case.crs],
                capture_output=True, text=True, check=True, env={**os.environ, **env},
            )
            out[label] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------- report
def environment() -> dict:
    """Machine, library versions and the geozones revision measured."""
    import geopandas
    import pyproj
    import scipy
    import tobler

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = None

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    try:
        import joblib

        joblib_version = joblib.__version__
    except ImportError:  # pragma: no cover
        joblib_version = None
    return {
        "nproc": nproc,
        "os_cpu_count": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "geopandas": geopandas.__version__,
        "tobler": tobler.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "pyproj": pyproj.__version__,
        "joblib": joblib_version,
        "geozones": gz.__version__,
        "geozones_commit": git("rev-parse", "HEAD"),
        "geozones_dirty": bool(git("status", "--porcelain", "--", "geozones")),
        # identifies uncommitted edits of geozones/ that were measured
        "geozones_diff_sha1": hashlib.sha1((git("diff", "HEAD", "--", "geozones") or "").encode()).hexdigest(),
    }


def ratios(t: dict[str, Timing]) -> dict:
    """Time of the other tool / time of geozones, from the best times of this run."""

    def r(num, den):
        a, b = t.get(num), t.get(den)
        return a.best / b.best if a and b and a.best and b.best else None

    best_tobler = min((t[k].best for k in ("tobler n=1", "tobler n=2") if k in t and t[k].best), default=None)
    gz2 = t.get("geozones w=2")
    return {
        "tobler n=1 / geozones w=1": r("tobler n=1", "geozones w=1"),
        "tobler n=2 / geozones w=2": r("tobler n=2", "geozones w=2"),
        "best tobler / geozones w=2": best_tobler / gz2.best if best_tobler and gz2 and gz2.best else None,
        "overlay / geozones w=1": r("overlay", "geozones w=1"),
        "overlay / geozones w=2": r("overlay", "geozones w=2"),
        "geozones w=1 / geozones w=2": r(
            "geozones w=1 fk" if "geozones w=1 fk" in t else "geozones w=1", "geozones w=2"
        ),
    }


def print_case(case: Case, t: dict[str, Timing], rat: dict, checks: list[dict], meta: dict) -> None:
    print(f"\ncase {case.name}: {case.description}")
    print(
        f"  {case.setup['cells']:,} cells x {case.setup['zones']:,} zones in {case.crs}; "
        f"geozones: {meta.get('pairs', '?'):,} candidate pairs, {meta.get('intersected', '?'):,} intersected"
    )
    g1 = t["geozones w=1"].best
    print(f"  {'method':<16}{'best s':>9}{'median s':>10}{'x geozones w=1':>16}  reps  crashes")
    for name, tm in t.items():
        d = tm.as_dict()
        best = f"{d['best_s']:.3f}" if d["best_s"] is not None else "-"
        med = f"{d['median_s']:.3f}" if d["median_s"] is not None else "-"
        rel = f"{d['best_s'] / g1:.2f}" if d["best_s"] and g1 else "-"
        print(f"  {name:<16}{best:>9}{med:>10}{rel:>16}  {len(tm.times):>4}  {d['crashes']:>7}")
    print("  ratios (other / geozones, best times):")
    for k, v in rat.items():
        print(f"    {k:<30} {v:.2f}" if v is not None else f"    {k:<30} -")
    print("  checks:")
    for c in checks:
        status = "ok  " if c["passed"] else "FAIL"
        print(
            f"    [{status}] {c['check']}: max error {c['max_rel_error']:.2e} (tol {c['tolerance']:.2g}"
            + (f", {c['failing']} of {c['compared']} over" if not c["passed"] else "")
            + ")"
            + (f" - {c['note']}" if c["note"] and not c["passed"] else "")
        )


def run_case(case: Case, repeat: int, fork: bool, max_attempts: int, profile: bool) -> dict:
    cov, zones, crs = case.coverage, case.zones, case.crs

    def fresh():
        return _fresh(cov), _fresh(zones)

    plan = [("geozones w=1", run_geozones, lambda: (*fresh(), crs, 1), False)]
    if fork:  # the same call in a child: how much the fork itself costs (should be ~0)
        plan.append(("geozones w=1 fk", run_geozones, lambda: (*fresh(), crs, 1), True))
    plan += [
        ("geozones w=2", run_geozones, lambda: (*fresh(), crs, 2), fork),
        ("tobler n=1", run_tobler, lambda: (*fresh(), 1), False),
        ("tobler n=2", run_tobler, lambda: (*fresh(), 2), False),
        ("overlay", run_overlay, fresh, False),
    ]
    t: dict[str, Timing] = {}
    for name, fn, make_args, in_fork in plan:
        print(f"  case {case.name}: {name} x {repeat} ...", flush=True)
        t[name] = measure(name, fn, make_args, repeat, in_fork, max_attempts, crs)
    _shutdown_loky()
    meta = t["geozones w=1"].result.meta if t["geozones w=1"].result is not None else {}
    checks = check_results(case, t)
    rat = ratios(t)
    print_case(case, t, rat, checks, meta)
    out = {
        "description": case.description,
        "setup": case.setup,
        "geozones_meta": meta,
        "geozones_summary": t["geozones w=1"].result.summary() if t["geozones w=1"].result is not None else None,
        "timings": {k: v.as_dict() for k, v in t.items()},
        "ratios": rat,
        "checks": checks,
    }
    out["first_calls"] = firsts = first_calls(case)
    print("  in a new process (s): import, first call, second call")
    for label, f in firsts.items():
        print(f"    {label:<22} {f['import_s']:7.3f} {f['first_s']:7.3f} {f['second_s']:7.3f}")
    if profile:
        out["profile_geozones_w1"] = prof = profile_geozones(case)
        print("  geozones w=1, functions with the most own time (cProfile):")
        for row in prof[:12]:
            print(f"    {row['tottime_s']:7.3f} s  {row['ncalls']:>6}  {row['function']}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", choices=["a", "b", "all"], default="all")
    p.add_argument("--repeat", type=int, default=3, help="timed calls per method; the best is reported")
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON")
    p.add_argument("--cells", type=int, default=50_000, help="synthetic cells of case b")
    p.add_argument("--grid-m", type=float, default=2750.0, help="grid square side of case b, metres")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fork", action="store_true", help="run geozones' threaded calls in forked children (crash guard)")
    p.add_argument(
        "--max-attempts", type=int, default=5, help="with --fork: tries per timed call when the child crashes"
    )
    p.add_argument("--profile", action="store_true", help="also cProfile one geozones workers=1 call per case")
    args = p.parse_args(argv)
    if not (args.shared / "README.md").exists():
        p.error(f"no shared data at {args.shared} (give --shared)")

    env = environment()
    print(
        f"geozones {env['geozones']} ({(env['geozones_commit'] or '?')[:10]}{', modified' if env['geozones_dirty'] else ''}); "
        f"nproc {env['nproc']}; Python {env['python']}; shapely {env['shapely']}; GEOS {env['geos']}; "
        f"geopandas {env['geopandas']}; tobler {env['tobler']}"
    )
    started = time.perf_counter()
    results = {}
    for name in ["a", "b"] if args.case == "all" else [args.case]:
        print(f"\nsetting up case {name} ...", flush=True)
        case = (
            case_a(args.shared, args.seed) if name == "a" else case_b(args.shared, args.seed, args.cells, args.grid_m)
        )
        results[name] = run_case(case, args.repeat, args.fork, args.max_attempts, args.profile)
    elapsed = time.perf_counter() - started
    doc = {
        "command": "python "
        + " ".join([os.path.relpath(__file__, Path.cwd())] + (argv if argv is not None else sys.argv[1:])),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": elapsed,
        "environment": env,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print(f"\n{elapsed:.0f} s in all; results in {os.path.relpath(args.out, Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
