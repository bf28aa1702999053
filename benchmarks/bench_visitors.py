"""Benchmark ``geozones visitors`` on a city quarter of subscriber-level events, as whole processes.

Usage
-----
From the repository root::

    python3.11 benchmarks/bench_visitors.py [--data /tmp/visitors200k] [--devices 200000] [--repeat 2]

The case is the demo's Kortrijk (60 sites, the bundled zones, 92 days from 1 July 2026)
with ``--devices`` devices in ``device_events.parquet`` (:func:`geozones.synth.demo_scenario`);
it is made once into ``--data``. Each round runs, taking turns, each as its own process:

``scan``
    An Arrow scan of the events file (``pyarrow.parquet.read_table`` and a count of its
    distinct subscribers): the floor.
``visitors``
    ``geozones -q visitors --zones Z --cells C --events E --market-share M --out D`` at
    default flags, every output written.

Time and peak memory (the child's own ``ru_maxrss``) go to stdout and to
``benchmarks/results/visitors.json``; ratios are against ``scan`` in the same run. Not a
test (pytest collects ``tests/`` only).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geozones._io import write_text_atomic  # noqa: E402

SCAN = ("import sys, pyarrow.parquet as pq, pyarrow.compute as pc; t = pq.read_table(sys.argv[1]); "
        "print(t.num_rows, len(pc.unique(t.column('subscriber_id'))))")


def run(cmd: list[str]) -> dict:
    """One whole process: wall time and the child's peak resident memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{cmd[:4]} failed: {p.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": round(wall, 2), "peak_mb": round(max(peak, before) / 1024), "peak_grew": peak > before}


def main(argv: list[str] | None = None) -> int:
    """Make the case if needed, then time the methods in turns."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/visitors200k"))
    ap.add_argument("--devices", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/visitors.json"))
    args = ap.parse_args(argv)
    inputs = args.data / "inputs"
    if not (inputs / "device_events.parquet").exists():
        from geozones.synth import demo_scenario

        t = time.perf_counter()
        demo_scenario(inputs, devices=args.devices)
        print(f"made the case in {time.perf_counter() - t:.0f} s", flush=True)
    import pyarrow.parquet as pq

    events = inputs / "device_events.parquet"
    rows = pq.ParquetFile(events).metadata.num_rows
    methods = {
        "scan": [sys.executable, "-c", SCAN, str(events)],
        "visitors": [sys.executable, "-m", "geozones", "-q", "visitors", "--zones", str(inputs / "zones"), "--cells", str(inputs / "cellplan.csv"),
                     "--events", str(events), "--market-share", str(inputs / "market_share.csv"), "--out", str(args.data / "out")],
    }
    runs = {m: [] for m in methods}
    for _ in range(args.repeat):
        for name, cmd in methods.items():
            runs[name].append(run(cmd))
            print(name, runs[name][-1], flush=True)
    best = {m: min(r["seconds"] for r in rs) for m, rs in runs.items()}
    # peak per method: each child is measured on its own only when it raised the children's peak,
    # so run each once more, alone, for memory (ru_maxrss of children is a running maximum)
    peaks = {}
    for name, cmd in methods.items():
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        peaks[name] = round(int(p.stderr.strip().splitlines()[-1]) / 1024)
    record = {"command": " ".join(["python3.11", "benchmarks/bench_visitors.py", *(argv or sys.argv[1:])]), "events": rows, "devices": args.devices,
              "best_seconds": best, "peak_mb": peaks, "time_ratio_to_scan": round(best["visitors"] / best["scan"], 1), "runs": runs}
    print(json.dumps({k: v for k, v in record.items() if k != "runs"}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
