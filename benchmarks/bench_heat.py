"""The heat layer of a long hourly run: memory and time of its grid table and its map layers.

Usage
-----
From the repository root, after a run with a heat grid and hourly periods (its output
folder ``RUN``, its zones ``ZONES``)::

    python3.11 benchmarks/bench_heat.py RUN --zones ZONES [--repeat 13] [--against CHECKOUT]

The run's published ``all`` figures are repeated ``--repeat`` times, one run length after
another (13 weeks of hours: the size of an hourly quarter), then drawn as the heat grid's
table (:func:`geozones.runfiles.heat_table`) and as the map's heat layers. Each
measurement is a process of its own (peak memory from the kernel); ``--against`` runs
the same in a checkout of other code (``git worktree add DIR COMMIT``), taking turns, and
says whether the two gave the same table and page bytes. Not a test (pytest collects
``tests/`` only).

The figures of stop 33 (docs/scale.md): the demo's inputs over 7 days with ``period =
"1h"`` and the footprint model (``geozones demo --out D``, then ``geozones run`` on
``D/inputs/run.toml`` with ``counts`` the week and ``period = "1h"``), ``--repeat 13``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path


def measure(run: str, zones: str, repeat: int) -> dict:
    """In this process: the heat table and map layers of ``run``'s figures repeated."""
    import resource
    import time

    import folium
    import pandas as pd
    import pyarrow.parquet as pq

    from geozones.maps import _add_heat, _stable_ids
    from geozones.runfiles import RunConfig, heat_table, published_all_rows
    from geozones.zones import read_zones

    z = read_zones([zones])
    pub = published_all_rows(pq.read_table(Path(run) / "zone_counts.parquet"))
    pub = pub.assign(**{c: pub[c].astype(str) for c in ("zone_id", "period", "status")})
    step = pub["period_start"].max() - pub["period_start"].min() + pd.Timedelta("1h")
    pub = pd.concat([pub.assign(period_start=pub["period_start"] + i * step) for i in range(repeat)], ignore_index=True)
    cfg = RunConfig(zones=[zones], cells="-", counts="-", out="-")
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731
    p0, t0 = peak(), time.perf_counter()
    grid = heat_table(z, pub, cfg, "EPSG:3812")
    t1, p1 = time.perf_counter(), peak()
    m = folium.Map(location=[50.8, 3.26], tiles=None)
    _add_heat(m, grid)
    page = _stable_ids(m.get_root().render())
    t2, p2 = time.perf_counter(), peak()
    return {"rows": len(grid), "table_s": t1 - t0, "table_bytes": p1 - p0, "map_s": t2 - t1, "map_bytes": p2 - p1,
            "page_mb": len(page) / 1e6, "table_md5": hashlib.md5(grid.to_csv(index=False).encode()).hexdigest(),
            "page_md5": hashlib.md5(page.encode()).hexdigest()}


def main() -> None:
    """Measure this code (and ``--against``'s) in processes of their own, taking turns."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--zones", required=True)
    ap.add_argument("--repeat", type=int, default=13)
    ap.add_argument("--against", help="a checkout of the code to compare with")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.run, a.zones, a.repeat)))
        return
    here = str(Path(__file__).resolve().parents[1])
    codes = [("this", here)] + ([("against", str(Path(a.against).resolve()))] if a.against else [])
    results = {}
    for name, path in codes + codes[::-1]:  # taking turns: A B B A
        env = dict(os.environ, PYTHONPATH=path)
        out = subprocess.run([sys.executable, __file__, a.run, "--zones", a.zones, "--repeat", str(a.repeat), "--one"],
                             env=env, capture_output=True, text=True, check=True, cwd="/")
        results.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    for name, rs in results.items():
        r = rs[0]
        print(f"{name:8} {r['rows']:,} grid rows: table {min(x['table_s'] for x in rs):.2f} s, +{r['table_bytes'] / 1e6:,.0f} MB; "
              f"map layers {min(x['map_s'] for x in rs):.2f} s, +{r['map_bytes'] / 1e6:,.0f} MB, page {r['page_mb']:.1f} MB (best of {len(rs)})")
    if a.against:
        same = {k: results["this"][0][k] == results["against"][0][k] for k in ("table_md5", "page_md5")}
        print("same table bytes:", same["table_md5"], "| same page bytes:", same["page_md5"])


if __name__ == "__main__":
    main()
