"""How a run's time grows with cells, zones and rows, so a user can predict theirs.

Usage (after ``bench_aggregate.py --make`` has written the national case)::

    python benchmarks/bench_scaling.py --data /tmp/national [--rows 10M]

For cell plans of 12,500, 25,000 and 50,000 cells (the first cells of the national plan,
whose order is random) and two zone sets (the 2,767 neighbourhoods; the neighbourhoods
plus the 500 m grid), it times building the weights (:func:`geozones.compute_weights`,
wedges) and adding up the first ``--rows`` count rows through them
(:func:`geozones.stream_counts` then :func:`geozones.zone_sums`; counts of cells outside
the plan dropped). One process, one run each; results in
``benchmarks/results/scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

import geozones as gz

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_aggregate import DEFAULT_OUT, size, subset  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--rows", type=size, default=10_000_000)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT.with_name("scaling.json"))
    args = ap.parse_args(argv)
    plan = gz.read_cellplan(args.data / "cellplan.csv")
    hoods = gz.read_zones(args.data / "zones" / "neighbourhoods.geojson")
    both = gz.read_zones([str(args.data / "zones" / "neighbourhoods.geojson"), str(args.data / "zones" / "grid.geojson")])
    counts = subset(args.data, args.rows)
    rows = pq.ParquetFile(counts).metadata.num_rows
    results = []
    print(f"{'cells':>7} {'zones':>7} {'non-zeros':>10} {'weights s':>10} {'rows':>12} {'stream s':>9} {'zone sums s':>12}")
    for n_cells in (12_500, 25_000, 50_000):
        cov = gz.build_coverage(plan.iloc[:n_cells].reset_index(drop=True), "wedge")
        for zones in (hoods, both):
            t0 = time.perf_counter()
            w = gz.compute_weights(cov, zones)
            t1 = time.perf_counter()
            bins = gz.stream_counts(counts, w, period="1d", unknown_cells="drop", progress=False)
            t2 = time.perf_counter()
            gz.zone_sums(bins, w)
            t3 = time.perf_counter()
            r = {"cells": n_cells, "zones": len(zones), "nonzeros": int(w.matrix.nnz), "weights_s": t1 - t0, "rows": rows,
                 "rows_kept": rows - bins.info["dropped_rows"], "stream_s": t2 - t1, "zone_sums_s": t3 - t2}
            results.append(r)
            print(f"{n_cells:>7,} {len(zones):>7,} {r['nonzeros']:>10,} {r['weights_s']:>10.1f} {r['rows_kept']:>12,} "
                  f"{r['stream_s']:>9.2f} {r['zone_sums_s']:>12.2f}", flush=True)
    args.out.write_text(json.dumps({"rows_file": rows, "results": results}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
