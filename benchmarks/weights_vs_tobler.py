"""Weights on given polygons against tobler's area table, as whole processes (issue 16, point 4).

Usage
-----
From the repository root::

    python benchmarks/weights_vs_tobler.py [--case job20k|national|all] [--repeat 2] [--make]

Cases
-----
``job20k``
    The 20,000 wedges of ``bench_job.py``'s case (``coverage.geojson``, made by
    ``bench_job.py --make`` into ``--job20k``, default ``/tmp/job20k``) against the 2,767
    neighbourhoods of ``flanders/ggw7.shp``.
``national``
    The 50,000 wedges of :func:`geozones.synth.national_case` (seed 0) against its 59,108
    zones, the neighbourhoods and a 500 m grid over the same area, in one file
    (``zones_all.geojson``): two zone sets that overlap each other everywhere, so every
    cell's outside share is measured across overlaps. Made into ``--national`` (default
    ``/tmp/weights50k``) when missing or with ``--make``: the case with a token counts
    file, the wedges from ``geozones coverage``, the zone files merged.

Methods, taking turns in each round
-----------------------------------
``weights given``
    ``geozones weights --model given --cells coverage.geojson --zones Z --out W``: read and
    check both files, the weights and each cell's outside share, written atomically.
``tobler``
    ``bench_job.tobler_job``: ``gpd.read_file`` of both, ``to_crs(EPSG:3812)``,
    ``tobler.area_weighted._area_tables_binning`` (tobler 0.13, the intersection areas
    only: no checks, no outside share), saved with ``scipy.sparse.save_npz``.

Then one process compares the two (``bench_job.check_weights_job``: tobler's areas / cell
areas against geozones' weights). Best wall time per method; ratio = tobler / geozones.
Results go to ``benchmarks/results/weights_tobler.json``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_job as bj  # noqa: E402


def make_national(data: Path, shared: Path) -> None:
    """The national case's cells and zones (a token counts file), its wedges and one zone file."""
    steps = [
        bj.job("national_job", data, shared),
        bj.GEOZONES + ["coverage", str(data / "cellplan.csv"), "--model", "wedge", "--out", str(data / "coverage.geojson")],
    ]
    for argv in steps:
        print("make:", " ".join(argv[-4:]), flush=True)
        subprocess.run(argv, check=True, env=bj.child_env(), cwd=bj.REPO)


def cases(args) -> dict[str, tuple[Path, Path]]:
    """The cases asked for: name -> (folder, zone file), the national one made when missing."""
    out = {}
    if args.case in ("job20k", "all"):
        if not (args.job20k / "coverage.geojson").exists():
            raise SystemExit(f"no {args.job20k / 'coverage.geojson'}: run python benchmarks/bench_job.py --make first")
        out["job20k"] = (args.job20k, args.job20k / "zones" / "neighbourhoods.geojson")
    if args.case in ("national", "all"):
        d = args.national
        if args.make or not (d / "coverage.geojson").exists() or not (d / "zones_all.geojson").exists():
            d.mkdir(parents=True, exist_ok=True)
            make_national(d, args.shared)
        out["national"] = (d, d / "zones_all.geojson")
    return out


def main(argv=None) -> int:
    """Time both methods on each case, taking turns, then compare their weights."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=["job20k", "national", "all"], default="all")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--make", action="store_true", help="write the national case again")
    ap.add_argument("--job20k", type=Path, default=Path("/tmp/job20k"))
    ap.add_argument("--national", type=Path, default=Path("/tmp/weights50k"))
    ap.add_argument("--shared", type=Path, default=bj.DEFAULT_SHARED)
    ap.add_argument("--out", type=Path, default=bj.REPO / "benchmarks" / "results" / "weights_tobler.json")
    args = ap.parse_args(argv)
    args.data = args.national if args.case == "national" else args.job20k
    args.data.mkdir(parents=True, exist_ok=True)
    record: dict = {"environment": bj.environment(args), "cases": {}}
    for name, (d, zones) in cases(args).items():
        cov = d / "coverage.geojson"
        cmds = {"weights given": bj.GEOZONES + ["weights", "--model", "given", "--cells", str(cov), "--zones", str(zones),
                                           "--out", str(d / "weights_given.parquet")],
                "tobler": bj.job("tobler_job", cov, zones, d / "tobler_table.npz")}
        runs = bj.rounds(cmds, args.repeat, d, {})
        summ = bj.summary(runs, "weights given")
        bj.print_table(f"{name}: weights on given polygons, whole processes", summ, "weights given")
        check = d / "weights_check.json"
        check.unlink(missing_ok=True)
        done = subprocess.run(bj.job("check_weights_job", cov, zones, d / "weights_given.parquet", d / "tobler_table.npz", check),
                              check=False, env=bj.child_env(), cwd=bj.REPO, capture_output=True, text=True)
        checked = json.loads(check.read_text()) if check.exists() else {"error": done.stderr[-1500:]}
        print("check:", checked)
        record["cases"][name] = {"runs": runs, "summary": summ, "check": checked}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
