"""Benchmark the whole job a user runs, as whole processes: counts file -> published zone figures.

Usage
-----
From the repository root::

    python benchmarks/bench_job.py [--data /tmp/job20k] [--make] [--repeat 1]
        [--skip-memory] [--skip-pandas] [--weights-bench] [--profile] [--also CHECKOUT]

``--make`` writes the case into ``--data`` (also done when the folder lacks it); later runs
reuse it. Every child process gets ``PYTHONPATH`` = this checkout, so the ``geozones`` timed
is the one beside this script. The table goes to stdout, every figure to
``benchmarks/results/job.json``. Not a test (pytest collects ``tests/`` only).

The case (issue 16)
-------------------
* ``cellplan.csv``: 20,000 wedge cells (6,667 three-sector sites, the last one cut to two
  sectors, no small cells), drawn by :func:`geozones.synth.synthetic_cellplan` following
  ``population/POP.tif`` over ``flanders/provincie2024.shp`` (5 provinces + Brussels);
* ``zones/neighbourhoods.geojson``: the 2,767 neighbourhoods of ``flanders/ggw7.shp``
  (``geoitem`` as ``zone_id``, ``naam`` as ``name``), checked with ``geozones zones check``;
* ``counts.parquet``: 20 M hourly presence rows over 92 days from 1 July 2026, in time
  order, each (cell, hour, origin) once, by :func:`geozones.synth.national_counts`;
* ``weights.parquet``: ``geozones weights --model wedge`` of the cells against the zones;
* ``coverage.geojson`` (for ``--weights-bench``): the wedges from ``geozones coverage``.

The first three come from :func:`geozones.synth.national_case` (``cells=20_000``,
``rows=20_000_000``, ``grid_m=None``). Its counts have 19 origins (11 Belgian provinces
with Brussels, 7 roaming countries, ``unknown``) and ``national_counts`` has no parameter
for that, so ``--origins N`` (default 12, the issue's case) runs it with its origin table
cut to its first N entries (``unittest.mock.patch.dict`` on
``geozones.synth._NATIONAL_ORIGINS``, nothing under ``geozones/`` edited): 12 keeps the 11
provinces and France (MCC 208). ``--origins 19`` is the generator unchanged.

Methods (each one whole process, started from this lean driver)
----------------------------------------------------------------
``scan``
    The floor, ``benchmarks/floor.py``: the five columns of the counts read in Arrow
    batches as geozones' stream engine reads them, and the counts summed (pyarrow only).
``read_table``
    ``pyarrow.parquet.read_table`` of the whole file, and ``pyarrow.compute.sum`` of
    ``count``: the plainest whole-file read.
``geozones``
    ``geozones apportion --zones Z --weights W --counts C --kind presence --k 30 --period 1d
    --out D`` at default flags (the engine geozones picks: ``stream`` for Parquet since issue 16): every
    output written; the files and their sizes are recorded.
``gz at NAME`` (``--also CHECKOUT``, repeatable)
    The default job with another checkout's ``geozones`` first on ``sys.path`` (e.g. ``git
    worktree add /tmp/old COMMIT``): a before/after in the same rounds.
``gz stream``, ``gz memory``
    The same command with ``--engine stream`` / ``--engine memory`` (skip the latter with
    ``--skip-memory``; it reads the counts whole).
``pandas``
    The naive comparison: ``read_parquet`` of the counts (four columns) and of the weights
    (long table ``cell_id, zone_id, weight``), local day, ``merge`` on ``cell_id``,
    ``groupby([zone_id, day, origin]).sum() / 24``, written to Parquet. No disclosure
    control, no checks. ``--skip-pandas`` skips it; ``--pandas-limit-gb`` (default 20)
    kills it when its resident memory passes the limit (recorded as ``killed``).

``--weights-bench`` adds the weights on given polygons: ``geozones weights --model given``
of ``coverage.geojson`` against the zone file, vs a process that reads the same two files
with geopandas, projects both to EPSG:3812 (geozones' metric CRS in Belgium) and runs
``tobler.area_weighted._area_tables_binning(coverage, zones, "auto")`` (tobler 0.13: the
cell x zone intersection areas, what geozones computes before dividing by the cell area),
then saves that table (``scipy.sparse.save_npz``). After the timed rounds, one more process
compares the two (tobler's areas / cell areas vs geozones' weights).

Timing
------
``--repeat`` rounds; in each, every method runs once, in the order above (taking turns
keeps drift on this shared machine out of the ratios). Wall time is ``perf_counter`` around
``Popen`` .. ``os.wait4``; peak memory is the child's ``ru_maxrss`` from ``os.wait4`` (the
driver imports the standard library only, so the child inherits no large peak through
``exec``). Best wall time per method; ratio = that / the best ``scan``. The load average
before each run is kept, since other work on the machine slows runs down. ``--profile``
also runs the default apportion once under ``cProfile`` (not timed in the table) and keeps
its top 15 by cumulative time (all functions, then geozones' own) and by own time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
DEFAULT_OUT = BENCH / "results" / "job.json"
DEFAULT_SHARED = REPO.parent / "shared" / "data"
PY = sys.executable
GEOZONES = [PY, "-c", "import sys; from geozones.cli import main; sys.exit(main())"]
#: A child that imports this module (standard library only) and calls one of its jobs.
JOB = "import sys; sys.path.insert(0, {bench!r}); import bench_job; bench_job.{fn}(*sys.argv[1:])"


def child_env() -> dict:
    """The environment of every child: this checkout's geozones first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def job(fn: str, *args) -> list[str]:
    return [PY, "-c", JOB.format(bench=str(BENCH), fn=fn), *map(str, args)]


# --- jobs run in child processes ---------------------------------------------------------


def make_case(data: str, shared: str, cells: str, rows: str, origins: str, seed: str) -> None:
    """Write cellplan.csv, zones/neighbourhoods.geojson, counts.parquet and case.json into ``data``."""
    from unittest import mock

    from geozones import synth

    n = int(origins)
    table = dict(list(synth._NATIONAL_ORIGINS.items())[:n])
    t = time.perf_counter()
    with mock.patch.dict(synth._NATIONAL_ORIGINS, table, clear=True):
        info = synth.national_case(data, shared, rows=int(rows), cells=int(cells), grid_m=None, seed=int(seed), progress=False)
    info["seconds"] = time.perf_counter() - t
    info["origin_codes"] = list(table)
    Path(data, "case.json").write_text(json.dumps(info, indent=1) + "\n")


def pandas_job(counts: str, weights: str, out: str) -> None:
    """The naive job in pandas: merge the counts with the long weights table, sum per zone, day and origin."""
    import pandas as pd

    df = pd.read_parquet(counts, columns=["cell_id", "period_start", "count", "origin"])
    df["day"] = df["period_start"].dt.tz_convert("Europe/Brussels").dt.floor("D")
    w = pd.read_parquet(weights, columns=["cell_id", "zone_id", "weight"])
    m = df.merge(w, on="cell_id")
    m["value"] = m["count"] * m["weight"]
    res = m.groupby(["zone_id", "day", "origin"], observed=True)["value"].sum() / 24.0
    res.reset_index().to_parquet(out, index=False)
    print(len(res), float(res.sum()))


def tobler_job(coverage: str, zones: str, out: str, crs: str = "EPSG:3812") -> None:
    """tobler's area table of the coverage polygons against the zones, in a metric CRS."""
    import geopandas as gpd
    from scipy import sparse
    from tobler.area_weighted import _area_tables_binning

    cov = gpd.read_file(coverage).to_crs(crs)
    zon = gpd.read_file(zones).to_crs(crs)
    table = _area_tables_binning(cov, zon, "auto")
    sparse.save_npz(out, table)
    print(table.nnz, float(table.sum()))


def check_weights_job(coverage: str, zones: str, gz_weights: str, tobler_npz: str, out: str, crs: str = "EPSG:3812") -> None:
    """Compare tobler's areas / cell areas with geozones' weights; write a JSON summary."""
    import geopandas as gpd
    import pandas as pd
    from scipy import sparse

    cov = gpd.read_file(coverage).to_crs(crs)
    zon = gpd.read_file(zones)
    t = sparse.load_npz(tobler_npz).tocoo()
    tw = pd.DataFrame({"cell_id": cov["cell_id"].astype(str).to_numpy()[t.row], "zone_id": zon["zone_id"].astype(str).to_numpy()[t.col],
                       "tobler": t.data.astype(float) / cov.area.to_numpy()[t.row]})
    g = pd.read_parquet(gz_weights)
    g = g[g["zone_id"] != "outside"]
    both = g.merge(tw, on=["cell_id", "zone_id"], how="outer").fillna(0.0)
    diff = (both["weight"] - both["tobler"]).abs()
    res = {"pairs_geozones": len(g), "pairs_tobler": int(t.nnz), "pairs_tobler_over_1e-9": int((tw["tobler"] > 1e-9).sum()),
           "max_abs_weight_diff": float(diff.max()), "pairs_diff_over_1e-6": int((diff > 1e-6).sum()),
           "note": "tobler 0.13 keeps areas as float32: differences of ~1e-7 are its rounding"}
    Path(out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))


def profile_job(prof: str, n: str = "15") -> None:
    """Print the top ``n`` functions of a cProfile file by cumulative time, below the
    command line's own wrappers (runpy, click, the CLI: anything over 97% of the run),
    then geozones' own functions alone, then the top ``n`` by own time."""
    import pstats

    st = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = max(v[3] for v in st.values())

    def name(k):
        f, line, fn = k
        return f"{fn} ({Path(f).parent.name}/{Path(f).name}:{line})" if f != "~" else fn

    rows = sorted(st.items(), key=lambda kv: -kv[1][3])
    print(f"total {total:.1f} s; by cumulative time (below the wrappers):")
    for k, v in [kv for kv in rows if kv[1][3] < 0.97 * total][: int(n)]:
        print(f"  {v[3]:8.2f} s {100 * v[3] / total:5.1f}%  calls {v[1]:>8}  {name(k)}")
    print("geozones' functions by cumulative time (below the wrappers):")
    for k, v in [kv for kv in rows if kv[1][3] < 0.97 * total and f"{os.sep}geozones{os.sep}" in kv[0][0]][: int(n)]:
        print(f"  {v[3]:8.2f} s {100 * v[3] / total:5.1f}%  calls {v[1]:>8}  {name(k)}")
    print("by own time:")
    for k, v in sorted(st.items(), key=lambda kv: -kv[1][2])[: int(n)]:
        print(f"  {v[2]:8.2f} s {100 * v[2] / total:5.1f}%  calls {v[1]:>8}  {name(k)}")


def national_job(data: str, shared: str) -> None:
    """The national case's 50,000 cells and 59,108 zones (neighbourhoods and a 500 m grid) in ``data``,
    with a token counts file, and its zones in one file ``zones_all.geojson`` (for weights_vs_tobler.py)."""
    import pandas as pd

    import geozones as gz

    info = gz.national_case(data, shared, rows=20_000, days=1, progress=False)
    zones = pd.concat([gz.read_zones(p) for p in info["zones"]], ignore_index=True)
    gz.write_zones(zones, Path(data) / "zones_all.geojson")


def environment_job(out: str) -> None:
    """Versions of the packages the job uses, as this checkout's children import them."""
    import importlib.metadata as md

    import geozones

    pkgs = {}
    for name in ("numpy", "pandas", "pyarrow", "geopandas", "shapely", "pyproj", "scipy", "numba", "click", "tobler"):
        try:
            pkgs[name] = md.version(name)
        except md.PackageNotFoundError:
            pkgs[name] = None
    Path(out).write_text(json.dumps({"geozones_file": geozones.__file__, "geozones": geozones.__version__, "packages": pkgs}))


# --- the driver (standard library only) --------------------------------------------------


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_process(name: str, argv: list[str], log: Path, limit_mb: float | None = None) -> dict:
    """Run one child; wall time, peak RSS (``os.wait4``), CPU times, exit code."""
    load = os.getloadavg()[0]
    with open(log, "w") as out:
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=child_env(), cwd=REPO)
        done, killed = threading.Event(), []

        def watch() -> None:  # kill the child when its resident memory passes the limit
            while not done.wait(0.2):
                if rss_mb(p.pid) > limit_mb:
                    killed.append(rss_mb(p.pid))
                    p.kill()
                    return

        if limit_mb:
            threading.Thread(target=watch, daemon=True).start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        done.set()
    p.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    return {"method": name, "argv": argv[3:] if argv[:3] == GEOZONES else argv[2:], "wall_s": wall, "peak_rss_mb": ru.ru_maxrss / 1024,
            "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "exit": p.returncode, "killed_over_mb": killed[0] if killed else None,
            "load_before": load, "output_tail": text[-1500:]}


def files_in(folder: Path) -> dict:
    return {f.name: f.stat().st_size for f in sorted(folder.iterdir()) if f.is_file()} if folder.exists() else {}


def make(args, record: dict) -> None:
    data = args.data
    data.mkdir(parents=True, exist_ok=True)
    steps = record.setdefault("make", {})
    z, w = data / "zones" / "neighbourhoods.geojson", data / "weights.parquet"
    todo = [("case", job("make_case", data, args.shared, args.cells, args.rows, args.origins, args.seed)),
            ("zones check", GEOZONES + ["zones", "check", str(z)]),
            ("weights", GEOZONES + ["weights", "--zones", str(z), "--cells", str(data / "cellplan.csv"), "--model", "wedge", "--out", str(w)]),
            ("coverage", GEOZONES + ["coverage", str(data / "cellplan.csv"), "--model", "wedge", "--out", str(data / "coverage.geojson")])]
    for name, argv in todo:
        print(f"make: {name}...", flush=True)
        r = run_process(name, argv, data / f"make_{name.replace(' ', '_')}.log")
        steps[name] = {k: r[k] for k in ("argv", "wall_s", "peak_rss_mb", "exit")}
        steps[name]["last_line"] = r["output_tail"].strip().splitlines()[-1] if r["output_tail"].strip() else ""
        if r["exit"] != 0:
            raise SystemExit(f"make: {name} failed (exit {r['exit']}):\n{r['output_tail']}")
    steps["case"]["info"] = json.loads((data / "case.json").read_text())


def methods(args) -> dict[str, list[str]]:
    d = args.data
    counts, w, z = d / "counts.parquet", d / "weights.parquet", d / "zones" / "neighbourhoods.geojson"
    apportion = GEOZONES + ["apportion", "--zones", str(z), "--weights", str(w), "--counts", str(counts), "--kind", "presence",
                            "--k", "30", "--period", "1d", "--out"]
    out = {
        "scan": [PY, "-c", f"import sys; sys.path.insert(0, {str(BENCH)!r}); from floor import run_scan; print(run_scan({str(counts)!r}))"],
        "read_table": [PY, "-c", f"import pyarrow.parquet as pq, pyarrow.compute as pc; print(pc.sum(pq.read_table({str(counts)!r})['count']).as_py())"],
        "geozones": apportion + [str(d / "out_default")],
        "gz stream": apportion + [str(d / "out_stream"), "--engine", "stream"],
    }
    for other in args.also:  # the same command with another checkout's geozones first on the path
        gz_other = [PY, "-c", f"import sys; sys.path.insert(0, {str(Path(other).resolve())!r}); from geozones.cli import main; sys.exit(main())"]
        out[f"gz at {Path(other).name}"] = gz_other + apportion[len(GEOZONES):] + [str(d / f"out_{Path(other).name}")]
    if not args.skip_memory:
        out["gz memory"] = apportion + [str(d / "out_memory"), "--engine", "memory"]
    if not args.skip_pandas:
        out["pandas"] = job("pandas_job", counts, w, d / "out_pandas.parquet")
    return out


def weights_methods(args) -> dict[str, list[str]]:
    d = args.data
    z = d / "zones" / "neighbourhoods.geojson"
    return {"weights given": GEOZONES + ["weights", "--model", "given", "--cells", str(d / "coverage.geojson"), "--zones", str(z),
                                         "--out", str(d / "weights_given.parquet")],
            "tobler": job("tobler_job", d / "coverage.geojson", z, d / "tobler_table.npz")}


def rounds(cmds: dict[str, list[str]], repeat: int, data: Path, limits: dict) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {name: [] for name in cmds}
    for i in range(repeat):
        for name, argv in cmds.items():
            if "--out" in argv:  # a fresh output folder every run
                shutil.rmtree(argv[argv.index("--out") + 1], ignore_errors=True)
            print(f"round {i + 1}/{repeat}: {name}...", end=" ", flush=True)
            r = run_process(name, argv, data / f"log_{name.replace(' ', '_')}.txt", limits.get(name))
            if name.startswith(("geozones", "gz ")):
                r["outputs"] = files_in(Path(argv[argv.index("--out") + 1]))
            print(f"{r['wall_s']:.1f} s, {r['peak_rss_mb']:.0f} MB, exit {r['exit']}", flush=True)
            runs[name].append(r)
    return runs


def summary(runs: dict[str, list[dict]], base: str) -> dict[str, dict]:
    out = {}
    for name, rs in runs.items():
        ok = [r for r in rs if r["exit"] == 0]
        best = min(ok, key=lambda r: r["wall_s"]) if ok else None
        out[name] = {"best_s": best["wall_s"] if best else None, "all_s": [r["wall_s"] for r in rs],
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "ok": len(ok), "runs": len(rs)}
    b = out.get(base, {}).get("best_s")
    bm = out.get(base, {}).get("peak_rss_mb")
    for s in out.values():
        s["time_ratio"] = s["best_s"] / b if b and s["best_s"] else None
        s["peak_ratio"] = s["peak_rss_mb"] / bm if bm else None
    return out


def print_table(title: str, summ: dict, base: str) -> None:
    print(f"\n{title} (ratios to {base})")
    print(f"{'method':14} {'seconds':>9} {'peak MB':>9} {'x time':>7} {'x peak':>7}  runs")
    for name, s in summ.items():
        sec = f"{s['best_s']:9.2f}" if s["best_s"] else f"{'failed':>9}"
        tr = f"{s['time_ratio']:7.2f}" if s["time_ratio"] else " " * 7
        pr = f"{s['peak_ratio']:7.2f}" if s["peak_ratio"] else " " * 7
        print(f"{name:14} {sec} {s['peak_rss_mb']:9.0f} {tr} {pr}  {s['ok']}/{s['runs']} ok")


def profile(args, cmd: list[str], record: dict) -> None:
    """The default apportion once under cProfile: top 15 by cumulative time."""
    prof = args.data / "apportion.prof"
    out = args.data / "out_profile"
    shutil.rmtree(out, ignore_errors=True)
    argv = [PY, "-m", "cProfile", "-o", str(prof), "-m", "geozones.cli", *cmd[3:]]
    argv[argv.index("--out") + 1] = str(out)
    r = run_process("profile", argv, args.data / "log_profile.txt")
    text = subprocess.run(job("profile_job", prof, 15), check=False, capture_output=True, text=True).stdout
    record["profile"] = {"wall_s": r["wall_s"], "exit": r["exit"], "file": str(prof), "top15": text}
    print("\nprofile of the default apportion (cProfile, top 15):\n" + text)


def environment(args) -> dict:
    env_file = args.data / "environment.json"
    subprocess.run(job("environment_job", env_file), env=child_env(), cwd=REPO, check=True)
    env = json.loads(env_file.read_text())
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.processor())

    def git(*a):
        return subprocess.run(["git", *a], check=False, cwd=REPO, capture_output=True, text=True).stdout.strip()

    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 2**20
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gb": round(mem, 1), "python": platform.python_version(),
            "platform": platform.platform(), "commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "geozones")), **env}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/job20k"), help="folder of the case (default /tmp/job20k)")
    ap.add_argument("--make", action="store_true", help="write the case into --data first (done anyway when it is missing)")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--origins", type=int, default=12, help="origins of the counts: the first N of national_counts' 19 (default 12)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the methods, taking turns (default 1)")
    ap.add_argument("--skip-memory", action="store_true", help="skip 'apportion --engine memory'")
    ap.add_argument("--skip-pandas", action="store_true", help="skip the pandas job")
    ap.add_argument("--pandas-limit-gb", type=float, default=20.0, help="kill the pandas job above this resident memory (default 20)")
    ap.add_argument("--weights-bench", action="store_true", help="also time geozones weights --model given vs tobler")
    ap.add_argument("--also", action="append", default=[], metavar="CHECKOUT",
                    help="also time the default job with the geozones of another checkout (a git worktree of an older commit), in the same rounds")
    ap.add_argument("--profile", action="store_true", help="also profile the default apportion once (cProfile)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    args.data = args.data.resolve()
    args.data.mkdir(parents=True, exist_ok=True)

    record: dict = {"environment": environment(args), "args": {k: str(v) for k, v in vars(args).items()}}
    print(f"geozones from {record['environment']['geozones_file']} at {record['environment']['commit'][:10]}")
    needed = ["counts.parquet", "weights.parquet", "cellplan.csv", "zones/neighbourhoods.geojson", "coverage.geojson", "case.json"]
    if args.make or not all((args.data / f).exists() for f in needed):
        make(args, record)
    record["case"] = json.loads((args.data / "case.json").read_text())
    record["case"]["counts_mb"] = (args.data / "counts.parquet").stat().st_size / 1e6

    cmds = methods(args)
    runs = rounds(cmds, args.repeat, args.data, {"pandas": args.pandas_limit_gb * 1024})
    record["runs"], record["summary"] = runs, summary(runs, "scan")
    print_table("the job, whole processes", record["summary"], "scan")
    for name in cmds:
        outs = [r.get("outputs") for r in runs[name] if r.get("outputs")]
        if outs:
            print(f"{name} wrote: " + ", ".join(f"{f} {n / 1e6:.2f} MB" for f, n in outs[-1].items()))
    if args.weights_bench:
        wr = rounds(weights_methods(args), args.repeat, args.data, {})
        record["weights_runs"], record["weights_summary"] = wr, summary(wr, "weights given")
        print_table("weights on given polygons, whole processes", record["weights_summary"], "weights given")
        check = args.data / "weights_check.json"
        check.unlink(missing_ok=True)
        done = subprocess.run(job("check_weights_job", args.data / "coverage.geojson", args.data / "zones" / "neighbourhoods.geojson",
                                  args.data / "weights_given.parquet", args.data / "tobler_table.npz", check), check=False,
                              env=child_env(), cwd=REPO, capture_output=True, text=True)
        record["weights_check"] = json.loads(check.read_text()) if check.exists() else {"error": done.stderr[-1500:]}
        print("check:", record["weights_check"])
    if args.profile:
        profile(args, cmds["geozones"], record)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
