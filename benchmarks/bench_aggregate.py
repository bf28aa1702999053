"""Benchmark the aggregation of counts through the weights at national scale.

Usage
-----
From the repository root (``pip install '.[bench]'`` first)::

    python benchmarks/bench_aggregate.py --data /tmp/national [--make] [--rows 100M]
        [--sizes 10M,30M,all] [--pandas-rows 10M] [--repeat 1]

``--make`` writes the seeded national case into ``--data`` first
(:func:`geozones.national_case`: 50,000 cells following ``population/POP.tif``, the 2,767
neighbourhoods of ``flanders/ggw7.shp`` plus a 500 m grid, hourly presence counts x 19
origins for a quarter, ``--rows`` rows). The weights are built once and kept in
``--data``; their build time is measured too. The table goes to stdout, every figure to
``benchmarks/results/aggregate.json``. Not a test (pytest collects ``tests/`` only).

What is measured
----------------
The job: hourly presence counts per cell and origin -> the mean per day of every zone
and origin, ``outside`` included (what ``geozones apportion --period 1d`` computes
before disclosure control).

``scan``
    The floor: read the five columns of the counts (``cell_id``, ``period_start``,
    ``period``, ``count``, ``origin``) from the same Parquet file in Arrow batches, as the
    stream engine reads them (``pyarrow.dataset``, threads on, 2^20 rows a batch, two
    batches of read-ahead, no pre-buffering: the fastest and leanest settings measured
    here), and sum the counts. Nothing that reads the data can be faster.
``scan4``
    The same without the ``period`` column: what geozones decodes when the Parquet
    statistics prove that every row has one period (as here), so that column is not read.
``geozones``
    :func:`geozones.stream_zone_sums`: the counts read once, validated, summed per day,
    origin and cell, and each day's product with the weights computed as soon as its last
    row has been read: the zone table as a dense matrix (days, origins, zones + outside).
``2-step``
    The same in two steps: :func:`geozones.stream_counts` (the sums of every day kept,
    in bounded memory), then :func:`geozones.zone_sums`.
``geozones+write``, ``2-step+write`` (whole processes only)
    The zone table written to Parquet instead (``zone_table.parquet`` in ``--data``):
    :func:`geozones.stream_zone_table` in one read, or :func:`geozones.stream_counts`
    then :func:`geozones.write_zone_table`.
``pandas``
    ``read_parquet``, local day of each row, ``merge`` with the long weights table
    (``cell_id, zone_id, weight``), then ``groupby([zone_id, day, origin]).sum() / 24``:
    what a user would write. Run on ``--pandas-rows`` rows only (it needs about 40 bytes
    per merged row: a full quarter does not fit in this machine's memory).
``duckdb``
    The same join and group-by in SQL on the Parquet file (if duckdb is installed).

All methods run in this one process on each size, taking turns (``--repeat`` rounds of
scan, scan4, geozones, 2-step; best of each); ratios are taken within a size. Then each method runs once more as a whole process (``python -c``;
the scans import pyarrow only, from ``benchmarks/floor.py``, the others geozones)
on the largest size, for wall time and peak memory (the child's ``VmHWM``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import geozones as gz

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import SCAN4, run_scan  # noqa: E402 - the scan, in a module of its own (see floor.py)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "aggregate.json"


def size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 10**3, "M": 10**6, "G": 10**9}
    return int(float(text[:-1]) * mult[text[-1]]) if text[-1] in mult else int(text)


def make(data: Path, shared: Path, rows: int, cells: int, seed: int) -> dict:
    t = time.perf_counter()
    info = gz.national_case(data, shared, rows=rows, cells=cells, seed=seed, progress=True)
    info["seconds"] = time.perf_counter() - t
    return info


def weights(data: Path) -> tuple[gz.Weights, dict]:
    path = data / "weights.parquet"
    meta = data / "weights.json"
    if path.exists() and meta.exists():
        return gz.read_weights(path), json.loads(meta.read_text())
    t0 = time.perf_counter()
    zones = gz.read_zones([str(p) for p in sorted((data / "zones").glob("*.geojson"))])
    cells = gz.read_cellplan(data / "cellplan.csv")
    t1 = time.perf_counter()
    cov = gz.build_coverage(cells, "wedge")
    t2 = time.perf_counter()
    w = gz.compute_weights(cov, zones)
    t3 = time.perf_counter()
    gz.write_weights(w, path)
    info = {"cells": len(cells), "zones": len(zones), "nonzeros": int(w.matrix.nnz), "read_s": t1 - t0, "coverage_s": t2 - t1,
            "weights_s": t3 - t2}
    meta.write_text(json.dumps(info))
    return w, info


def subset(data: Path, rows: int | None) -> Path:
    """The first whole days of the counts holding at least ``rows`` rows (the file itself for None)."""
    src = data / "counts.parquet"
    if rows is None:
        return src
    out = data / f"counts_{rows}.parquet"
    if out.exists():
        return out
    f = pq.ParquetFile(src)
    n, groups = 0, []
    for i in range(f.num_row_groups):
        groups.append(i)
        n += f.metadata.row_group(i).num_rows
        if n >= rows:
            break
    with pq.ParquetWriter(out, f.schema_arrow) as w:
        for i in groups:
            w.write_table(f.read_row_group(i))
    return out


# --- the methods -----------------------------------------------------------------------


def run_geozones(path: Path, w: gz.Weights) -> tuple:
    """The zone table as numbers, (days, origins, zones + outside), and its labels."""
    return gz.stream_zone_sums(path, w, period="1d", kind="presence", progress=False)[:4]


def run_two_steps(path: Path, w: gz.Weights, write: Path | None = None) -> tuple[tuple | None, dict]:
    t0 = time.perf_counter()
    bins = gz.stream_counts(path, w, period="1d", kind="presence", progress=False)
    t1 = time.perf_counter()
    if write is not None:
        gz.write_zone_table(bins, w, write)
        out = None
    else:
        out = gz.zone_sums(bins, w)
    t2 = time.perf_counter()
    return out, {"stream_s": t1 - t0, "zone_sums_s": t2 - t1}


def run_pandas(path: Path, w: gz.Weights) -> pd.Series:
    df = pd.read_parquet(path, columns=["cell_id", "period_start", "count", "origin"])
    df["day"] = df["period_start"].dt.tz_convert("Europe/Brussels").dt.floor("D")
    long = w.to_frame()
    m = df.merge(long, on="cell_id")
    m["value"] = m["count"] * m["weight"]
    return m.groupby(["zone_id", "day", "origin"], observed=True)["value"].sum() / 24.0


def run_duckdb(path: Path, w: gz.Weights):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='Europe/Brussels'")
    long = w.to_frame()  # noqa: F841 - read by name in the SQL
    return con.execute(
        f"""SELECT zone_id, date_trunc('day', period_start) AS day, origin, sum("count" * weight) / 24.0 AS value
            FROM read_parquet('{path}') c JOIN long USING (cell_id) GROUP BY ALL"""
    ).fetch_df()


def timed(fn, *args, repeat: int = 1):
    """(best time, every time, the result of the best call)."""
    return interleaved({"": lambda: fn(*args)}, repeat)[""]


def interleaved(methods: dict, repeat: int, keep=lambda res: res) -> dict:
    """Each method once per round, ``repeat`` rounds (on this machine, runs drift from one
    minute to the next: taking turns keeps that drift out of the ratios): per method, (best
    time, every time, ``keep`` of the result of the best call)."""
    out = {name: [None, [], None] for name in methods}
    for _ in range(repeat):
        for name, fn in methods.items():
            t = time.perf_counter()
            res = fn()
            took = time.perf_counter() - t
            best = out[name]
            best[1].append(took)
            if best[0] is None or took < best[0]:
                best[0], best[2] = took, keep(res)
            del res
    return {name: tuple(v) for name, v in out.items()}


def digest(res):
    """A result's arrays as SHA-256 digests (equal digests: equal figures, to the bit), so
    that the rounds do not hold several 827 MB results while the next run allocates its
    own: that made runs of the same method vary from 2.9 to 9.5 s here."""
    import hashlib

    def one(x):
        if isinstance(x, np.ndarray):
            x = np.ascontiguousarray(x)
            return (x.shape, str(x.dtype), hashlib.sha256(x.view(np.uint8).reshape(-1) if x.dtype != object else x.astype(str).tobytes()).hexdigest())
        return x

    if not isinstance(res, tuple):  # (the scans' sums)
        return res
    if len(res) == 2 and isinstance(res[1], dict):  # (run_two_steps)
        return tuple(one(x) for x in res[0]), res[1]
    return tuple(one(x) for x in res)


def compare(result: tuple, pandas_result: pd.Series) -> float:
    """Largest relative difference between geozones' and pandas' figures (figures > 1)."""
    matrix, starts, origins, zones = result
    zones = zones.astype(str)
    days = pd.to_datetime(starts, utc=True).tz_convert("Europe/Brussels")
    idx = pandas_result.index
    zi = pd.Index(zones).get_indexer(idx.get_level_values(0).astype(str))
    di = pd.Index(days).get_indexer(idx.get_level_values(1))
    # geozones reads mobile country codes as countries (208 -> FR), as read_counts does
    codes, _ = gz.origins.normalize_origins(pd.Series(idx.get_level_values(2).astype(str)))
    oi = pd.Index(origins.astype(str)).get_indexer(codes.astype(str))
    ok = (zi >= 0) & (di >= 0) & (oi >= 0)
    assert ok.all(), "pandas has figures that geozones does not"
    ours = matrix[di, oi, zi]
    theirs = pandas_result.to_numpy()
    big = np.abs(theirs) > 1
    assert np.isclose(matrix.sum(), theirs.sum(), rtol=1e-9), "totals differ"
    return float(np.max(np.abs(ours[big] - theirs[big]) / np.abs(theirs[big]))) if big.any() else 0.0


# --- whole processes ---------------------------------------------------------------------

CHILD = {  # (the scans import pyarrow only: benchmarks/floor.py)
    "scan": "import sys; sys.path.insert(0, 'benchmarks'); from floor import run_scan; run_scan(P)",
    "scan4": "import sys; sys.path.insert(0, 'benchmarks'); from floor import run_scan, SCAN4; run_scan(P, SCAN4)",
    "geozones": "from benchmarks.bench_aggregate import run_geozones; import geozones as gz; run_geozones(P, gz.read_weights(W))",
    "2-step": "from benchmarks.bench_aggregate import run_two_steps; import geozones as gz; run_two_steps(P, gz.read_weights(W))",
    "geozones+write": "import geozones as gz; gz.stream_zone_table(P, gz.read_weights(W), O, period='1d', kind='presence', progress=False)",
    "2-step+write": "from benchmarks.bench_aggregate import run_two_steps; import geozones as gz; "
                    "run_two_steps(P, gz.read_weights(W), write=__import__('pathlib').Path(O))",
    "pandas": "from benchmarks.bench_aggregate import run_pandas; import geozones as gz; run_pandas(P, gz.read_weights(W))",
}


def whole_process(method: str, path: Path, data: Path) -> dict:
    code = "from pathlib import Path; P = Path(%r); W = %r; O = %r; " % (str(path), str(data / "weights.parquet"), str(data / "zone_table.parquet"))
    # the child reports its own peak (VmHWM starts afresh at exec; a forked child's
    # ru_maxrss would carry this process's own peak)
    report = "; print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code + CHILD[method] + report], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    peak = int(r.stdout.split()[-1]) / 1024 if r.returncode == 0 else float("nan")
    return {"method": method, "wall_s": wall, "peak_rss_mb": peak, "exit": r.returncode, "stderr": r.stderr[-2000:]}


def environment() -> dict:
    import scipy
    import shapely

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = None
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(), "numpy": np.__version__,
            "pandas": pd.__version__, "pyarrow": pa.__version__, "scipy": scipy.__version__, "shapely": shapely.__version__,
            "geozones": gz.__version__, "commit": commit}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of the national case")
    ap.add_argument("--make", action="store_true", help="write the national case into --data first")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--rows", type=size, default=100_500_000, help="rows of the case to make (default 100.5M)")
    ap.add_argument("--cells", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="10M,30M,all", help="comma-separated row counts to time in process ('all' = the whole file)")
    ap.add_argument("--pandas-rows", type=size, default=10_000_000, help="largest size pandas and duckdb are run on")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-processes", action="store_true", help="skip the whole-process runs")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    record: dict = {"environment": environment(), "args": {k: str(v) for k, v in vars(args).items()}}
    if args.make or not (args.data / "counts.parquet").exists():
        record["make"] = make(args.data, args.shared, args.rows, args.cells, args.seed)
    w, record["weights"] = weights(args.data)
    print(f"weights: {record['weights']['cells']} cells x {record['weights']['zones']} zones, {record['weights']['nonzeros']} non-zeros, "
          f"built in {record['weights']['weights_s']:.1f} s")
    try:
        import duckdb  # noqa: F401

        have_duckdb = True
    except ImportError:
        have_duckdb = False

    record["sizes"] = []
    print(f"{'rows':>12} {'scan':>8} {'scan4':>8} {'geozones':>9} {'2-step':>8} {'(stream':>8} {'sums)':>8} {'pandas':>8} {'duckdb':>8}  "
          f"{'gz/scan':>7} {'gz/scan4':>8} {'2st/scan':>8} {'pandas/gz':>9} {'duck/gz':>7}  max rel diff")
    for label in args.sizes.split(","):
        path = subset(args.data, None if label == "all" else size(label))
        rows = pq.ParquetFile(path).metadata.num_rows
        entry: dict = {"rows": rows, "file_mb": path.stat().st_size / 1e6}
        runs = interleaved({"scan": lambda: run_scan(path), "scan4": lambda: run_scan(path, SCAN4), "geozones": lambda: run_geozones(path, w), "two_step": lambda: run_two_steps(path, w)}, args.repeat,
                           keep=digest)
        for name, (best, every, _) in runs.items():
            entry[f"{name}_s"], entry[f"{name}_all"] = best, every
        result, (two, split) = runs["geozones"][2], runs["two_step"][2]
        del runs
        entry.update(split)
        assert result == two, "the one-pass and two-step figures differ"
        del two
        if label != "all" and size(label) <= args.pandas_rows:
            entry["pandas_s"], entry["pandas_all"], res = timed(run_pandas, path, w, repeat=args.repeat)
            entry["max_rel_diff_pandas"] = compare(run_geozones(path, w), res)  # (again, untimed: the rounds kept digests)
            del res
            if have_duckdb:
                entry["duckdb_s"], entry["duckdb_all"], _ = timed(run_duckdb, path, w, repeat=args.repeat)
        del result
        entry["geozones_over_scan"] = entry["geozones_s"] / entry["scan_s"]
        entry["geozones_over_scan4"] = entry["geozones_s"] / entry["scan4_s"]
        entry["two_step_over_scan"] = entry["two_step_s"] / entry["scan_s"]
        if "pandas_s" in entry:
            entry["pandas_over_geozones"] = entry["pandas_s"] / entry["geozones_s"]
        if "duckdb_s" in entry:
            entry["duckdb_over_geozones"] = entry["duckdb_s"] / entry["geozones_s"]
        record["sizes"].append(entry)
        f = lambda k, fmt="{:8.2f}": fmt.format(entry[k]) if k in entry else " " * 8  # noqa: E731
        print(f"{rows:>12,} {f('scan_s')} {f('scan4_s')} {f('geozones_s', '{:9.2f}')} {f('two_step_s')} {f('stream_s')} {f('zone_sums_s')} {f('pandas_s')} "
              f"{f('duckdb_s')}  {f('geozones_over_scan', '{:7.2f}')} {f('geozones_over_scan4', '{:8.2f}')} {f('two_step_over_scan')} "
              f"{f('pandas_over_geozones', '{:9.1f}')} "
              f"{f('duckdb_over_geozones', '{:7.1f}')}  {entry.get('max_rel_diff_pandas', '')}")

    if not args.no_processes:
        path = subset(args.data, None)
        record["processes"] = [whole_process(m, path, args.data) for m in ("scan", "scan4", "geozones", "2-step", "geozones+write", "2-step+write")]
        small = subset(args.data, args.pandas_rows)  # the same file as the in-process size of that label
        record["processes_small"] = [whole_process(m, small, args.data) for m in ("scan", "geozones", "pandas")]
        for group in ("processes", "processes_small"):
            for p in record[group]:
                print(f"{group:16} {p['method']:15} {p['wall_s']:7.2f} s  peak {p['peak_rss_mb']:7.0f} MB  exit {p['exit']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, default=float) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
