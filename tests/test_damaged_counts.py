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


def _variants(good: Path, tmp: Path) -> dict:
    """Parquet counts a probe found read wrong (each: path, the row named, words of the error)."""
    df = pq.read_table(good).to_pandas()
    out = {}

    def put(name, d, row, words):
        p = tmp / f"{name}.parquet"
        d.to_parquet(p, index=False)
        out[name] = (p, row, words)

    for at in (0, 700, len(df) - 1):  # (the compiled pass lost a NaN that a later count replaced in its extremes)
        d = df.assign(count=df["count"].astype(float))
        d.loc[at, "count"] = np.nan
        put(f"nan-{at}", d, at, "is NaN")
    for dtype in ("int64", "uint64"):
        d = df.assign(count=df["count"].astype(dtype))
        d.loc[500, "count"] = np.iinfo(dtype).max
        put(f"max-{dtype}", d, 500, "is more than 1,000,000,000")
    for name, shift in (("half-past", pd.Timedelta(minutes=30)), ("a-second-late", pd.Timedelta(seconds=1))):
        d = df.copy()
        d.loc[300, "period_start"] = d.loc[300, "period_start"] + shift
        put(name, d, 300, "is not the start of a 1h period")
    return out


@pytest.mark.parametrize("engine", ["memory", "stream", "dask"])
def test_implausible_counts_and_times_are_one_line_naming_the_row_on_every_engine(case, engine, tmp_path, cli):
    """A stop-48 probe: a NaN count in a float column was published by the stream engine as
    an empty 'published' figure; a count of 9.2e18 was published and 1.8e19 an internal
    error; an hourly row at 10:30 or 08:00:01 was read as a 25th hour of its day."""
    for name, (path, row, words) in _variants(case["good"], tmp_path).items():
        out = tmp_path / f"out-{name}"
        r = cli("-q", "apportion", "--zones", case["zones"], "--weights", case["weights"], "--counts", path, "--engine", engine, "--k", 5,
                "--no-map", "--heat-grid", 0, "--out", out)
        assert r.returncode == 1, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{path.name}: row {row}" in lines[0] and words in lines[0], (name, r.stderr)
        assert not out.exists(), name


@pytest.mark.parametrize("engine", ["memory", "stream", "dask"])
def test_an_empty_origin_in_parquet_is_unknown_on_every_engine(case, engine, tmp_path, cli):
    """A null origin crashed the stream engine (an internal error); the memory engine and a
    CSV's empty field read it as 'unknown'."""
    df = pq.read_table(case["good"]).to_pandas()
    df.loc[df["origin"] == "FR", "origin"] = None
    nulls = tmp_path / "nulls.parquet"
    df.to_parquet(nulls, index=False)
    named = tmp_path / "named.parquet"
    df.assign(origin=df["origin"].fillna("unknown")).to_parquet(named, index=False)
    tables = []
    for path in (nulls, named):
        out = tmp_path / f"out-{path.stem}"
        r = cli("-q", "apportion", "--zones", case["zones"], "--weights", case["weights"], "--counts", path, "--engine", engine, "--k", 5,
                "--no-map", "--heat-grid", 0, "--out", out)
        assert r.returncode == 0, r.stderr
        tables.append(pd.read_csv(out / "zone_counts.csv", dtype={"origin": str}))
    assert "unknown" in set(tables[0]["origin"])
    pd.testing.assert_frame_equal(tables[0], tables[1])


@pytest.mark.parametrize("engine", ["memory", "stream", "dask"])
@pytest.mark.parametrize("blank", [None, "", " NULL"])
def test_rows_that_give_no_origin_are_said_on_every_engine(case, engine, blank, tmp_path, cli):
    """A stray empty origin adds an origin 'unknown' to every zone and period it reaches, and
    cuts what is published beside it: the run says how many rows gave none, on stderr and in
    the manifest (it said nothing). An empty text takes the stream engine's compiled path, a
    null its general path; rows named 'unknown' are not counted."""
    df = pq.read_table(case["good"]).to_pandas()
    fr = df["origin"] == "FR"
    df["origin"] = df["origin"].astype(object)
    said = f"{int(fr.sum()):,} rows of the counts give no origin"
    for name, value in (("blank", blank), ("named", "unknown")):
        df.loc[fr, "origin"] = value
        path = tmp_path / f"{name}.parquet"
        df.to_parquet(path, index=False)
        out = tmp_path / f"out-{name}"
        r = cli("apportion", "--zones", case["zones"], "--weights", case["weights"], "--counts", path, "--engine", engine, "--k", 5,
                "--no-map", "--heat-grid", 0, "--out", out)
        assert r.returncode == 0, r.stderr
        notes = json.loads((out / "manifest.json").read_text())["counts"]["notes"]
        if name == "blank":
            assert said in r.stderr
            assert any(said in n for n in notes), notes
        else:
            assert "no origin" not in r.stderr and not any("no origin" in n for n in notes), (r.stderr, notes)


def test_a_budget_under_what_the_run_held_before_the_counts_is_said(caplog):
    """The memory budget bounds what the counts add (the sums, the zone table), not the weights,
    footprints and libraries: a probe's national runs under budgets of 650 MB to 1.3 GB all
    peaked at 1.34 GB without a word. A run that held more than its budget before any counts
    says so, with the size held, once it has published (a run the budget stops says that
    alone: its error names what the run holds)."""
    from types import SimpleNamespace

    from geozones.runfiles import note_held

    with caplog.at_level("WARNING", logger="geozones"):
        note_held(SimpleNamespace(info={"held_before": 1_200_000_000}), "650MB")
        note_held(SimpleNamespace(info={"held_before": 400_000_000}), "2GB")
        note_held(None, "1MB")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "held 1.20 GB before reading any counts" in said[0] and "budget of 650.0 MB" in said[0], said
