"""A fine grid of zones under footprints: Milan's 10,000 squares of 235 m, 1,026 sectors on
342 random sites (1.5 km range), a week of hourly counts in 4 origins (523,712 rows). The
case of docs/scale.md, "A fine grid of zones under footprints" (stop 55).

Usage
-----
From the repository root (``../shared/data`` beside it)::

    python3.11 benchmarks/milan_case.py OUT
    cd OUT && geozones -q apportion --zones zones.geojson --cells cells.csv --counts counts.parquet --out run

Writes ``zones.geojson``, ``cells.csv``, ``counts.parquet`` and ``counts.csv`` into OUT (seeded).
"""

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main(out: Path) -> None:
    """Write the case into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    g = gpd.read_file(ROOT.parent / "shared" / "data" / "milan" / "milano-grid.geojson")
    g["zone_id"] = "sq" + g["cellId"].astype(str)
    g["name"] = "Square " + g["cellId"].astype(str)
    g[["zone_id", "name", "geometry"]].to_file(out / "zones.geojson", driver="GeoJSON")
    x0, y0, x1, y1 = g.total_bounds
    n = 342
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    cells = pd.DataFrame([{"cell_id": f"m{i:03d}-{s}", "lon": lon[i], "lat": lat[i], "azimuth": (rng.uniform(0, 120) + 120 * s) % 360,
                           "beamwidth": 65, "range_m": 1500} for i in range(n) for s in range(3)])
    cells.to_csv(out / "cells.csv", index=False)
    base = rng.lognormal(3.5, 1.0, len(cells))
    parts = []
    for h in pd.date_range("2026-03-02", periods=7 * 24, freq="h", tz="UTC"):
        f = 0.4 + 0.6 * np.sin(np.pi * ((h.hour + 1) % 24) / 24)
        for origin, share in zip(["222", "208", "262", "228"], [0.85, 0.06, 0.05, 0.04]):
            count = rng.poisson(base * f * share)
            keep = count > 0
            parts.append(pd.DataFrame({"cell_id": cells["cell_id"][keep].to_numpy(), "period_start": h, "period": "1h", "origin": origin,
                                       "count": count[keep]}))
    counts = pd.concat(parts)
    counts["period_start"] = counts["period_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    counts.to_csv(out / "counts.csv", index=False)
    counts.to_parquet(out / "counts.parquet", index=False)
    print(f"wrote {len(g)} zones, {len(cells)} cells and {len(counts)} count rows to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
