"""Damaged Parquet counts, through every engine: one line naming the file, exit 1, nothing written.

At least 200 seeded mutations of a good counts file (bit flips, random bytes, zeroed runs;
in the data pages and in the footer) are run through ``geozones apportion`` with each
engine. Each engine's runs share one process (``damaged_worker.py``), so a crash (a
signal) shows as that process dying and names the file it was reading; a run that hangs
ends it with an alarm. Never a signal, a traceback, an internal error or a hang; a run
that reads the file (a flipped bit may give other valid counts) writes its outputs whole.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import geozones as gz

from .conftest import X0, Y0

N_MUTATIONS = 210
WORKER = Path(__file__).with_name("damaged_worker.py")


@pytest.fixture(scope="module")
def case(tmp_path_factory, ):
    """A small network (9 cells, 2 zones), prebuilt weights, a good counts file and its mutants."""
    import pyproj
    import shapely

    tmp = tmp_path_factory.mktemp("damaged")
    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    ll = lambda g: shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))  # noqa: E731
    import geopandas as gpd

    zones = gpd.GeoDataFrame({"zone_id": ["w", "e"], "name": ["West", "East"]},
                             geometry=[ll(shapely.box(X0 - 1500, Y0 - 1500, X0, Y0 + 1500)), ll(shapely.box(X0, Y0 - 1500, X0 + 1500, Y0 + 1500))],
                             crs="EPSG:4326")
    gz.write_zones(zones, tmp / "zones.geojson")
    rows = []
    for i in range(9):
        lon, lat = to_ll.transform(X0 - 1200 + 300 * i, Y0 + 100 * (i % 3))
        rows.append(f"c{i},s{i},{lon},{lat},,,400")
    (tmp / "cells.csv").write_text("cell_id,site_id,lon,lat,azimuth,beamwidth,range_m\n" + "\n".join(rows) + "\n")
    w = gz.compute_weights(gz.build_coverage(gz.read_cellplan(tmp / "cells.csv"), "wedge"), gz.read_zones([tmp / "zones.geojson"]))
    gz.write_weights(w, tmp / "weights.parquet")

    rng = np.random.default_rng(16)
    times = pd.date_range("2026-07-01", periods=72, freq="1h", tz="UTC")
    idx = pd.MultiIndex.from_product([times, [f"c{i}" for i in range(9)], ["30000", "34022", "FR"]], names=["period_start", "cell_id", "origin"])
    df = idx.to_frame(index=False).assign(period="1h", count=rng.integers(0, 90, len(idx)).astype("int32"))
    table = pa.Table.from_pandas(df[["cell_id", "period_start", "period", "count", "origin"]], preserve_index=False)
    good = tmp / "good.parquet"
    pq.write_table(table, good, row_group_size=500, compression="snappy", data_page_size=2048)
    data = good.read_bytes()
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")

    mutants = tmp / "mutants"
    mutants.mkdir()
    for m in range(N_MUTATIONS):
        b = bytearray(data)
        where = "footer" if m % 3 == 2 else "pages"
        lo, hi = (footer, len(b)) if where == "footer" else (4, footer)
        kind = ("flip", "random", "zeros")[m % 4 % 3]
        at = int(rng.integers(lo, hi))
        if kind == "flip":
            for _ in range(int(rng.integers(1, 9))):
                j = int(rng.integers(lo, hi))
                b[j] ^= 1 << int(rng.integers(0, 8))
        else:
            n = min(int(rng.integers(1, 65)), hi - at)
            b[at : at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes() if kind == "random" else bytes(n)
        if bytes(b) == data:
            b[at] ^= 0xFF
        (mutants / f"m{m:03d}-{where}-{kind}.parquet").write_bytes(bytes(b))
    return {"tmp": tmp, "good": good, "mutants": sorted(mutants.glob("*.parquet")), "weights": tmp / "weights.parquet",
            "zones": tmp / "zones.geojson"}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["memory", "stream", "dask"])
def test_damaged_counts_give_one_line_and_no_output(case, engine):
    files = [case["good"], *case["mutants"]]
    assert len(case["mutants"]) >= 200
    results = case["tmp"] / f"results-{engine}.jsonl"
    results.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, str(WORKER), engine, str(case["weights"]), str(case["zones"]), str(results), *map(str, files)],
                          capture_output=True, text=True, timeout=1800)
    current = results.with_suffix(".current")
    culprit = current.read_text() if current.exists() else None
    assert proc.returncode == 0, f"the {engine} engine's process ended with {proc.returncode} on {culprit}: {proc.stderr[-2000:]}"
    runs = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(runs) == len(files)
    assert runs[0]["code"] == 0, runs[0]  # the good file reads
    outputs = set(runs[0]["left"])
    assert {"zone_counts.csv", "zone_counts.parquet", "zones.geojson", "manifest.json"} <= outputs
    refused = 0
    for r in runs[1:]:
        name = Path(r["file"]).name
        assert r["code"] in (0, 1), (name, r)
        assert "Traceback" not in r["stderr"] and "internal error" not in r["stderr"], (name, r["stderr"])
        if r["code"] == 1:
            refused += 1
            lines = r["stderr"].strip().splitlines()
            assert len(lines) == 1, (name, r["stderr"])
            assert name in lines[0], (name, lines[0])  # names the file
            assert r["left"] == [], (name, r["left"])  # nothing written
        else:
            assert set(r["left"]) == outputs, (name, r["left"])  # all or nothing
    assert refused >= len(runs) // 2, f"only {refused} of {len(runs) - 1} mutants were refused"
