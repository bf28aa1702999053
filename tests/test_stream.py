"""The stream and dask engines give the in-memory path's figures, in bounded memory.

Observed figures must be equal to the last bit for whole-number counts (sums of integers
in float64 do not depend on their order); estimates to rounding. Errors name the row of
the whole file, whichever batch it falls in.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import geozones as gz
from geozones.aggregate import apportion, rollup_counts
from geozones.engine import _dask, _passes, _reading, _seen, _spread, apportion_bins, format_size, parse_size, stream_counts
from geozones.engine import parts as parts_module
from geozones.errors import BudgetError, CountsError
from geozones.extrapolate import market_share_factors
from geozones.origins import rollup_codes
from geozones.pipeline import RunConfig, run

from .conftest import run_cli


def toy_weights(n_cells: int, n_zones: int, seed: int = 0) -> gz.Weights:
    """Random weights whose rows sum to at most 1, the rest outside."""
    rng = np.random.default_rng(seed)
    w = rng.random((n_cells, n_zones)) * (rng.random((n_cells, n_zones)) < 0.5)
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9) * rng.uniform(0.5, 1.0, (n_cells, 1))
    return gz.Weights(sparse.csr_array(w), np.array([f"c{i}" for i in range(n_cells)]), np.array([f"z{j}" for j in range(n_zones)]),
                      1 - w.sum(axis=1))


def toy_counts(n_cells: int, hours: int, origins: list[str], seed: int = 0, start: str = "2026-03-28T00:00") -> pd.DataFrame:
    """Hourly counts in Europe/Brussels local time (across the spring clock change by default)."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=hours, freq="1h", tz="Europe/Brussels").tz_convert("UTC")
    idx = pd.MultiIndex.from_product([[f"c{i}" for i in range(n_cells)], times, origins], names=["cell_id", "period_start", "origin"])
    df = idx.to_frame(index=False)
    df["period"] = "1h"
    df["count"] = rng.integers(0, 200, len(df)).astype("int64")
    keep = rng.random(len(df)) < 0.7  # missing rows are zeros
    return df[keep].reset_index(drop=True)[["cell_id", "period_start", "period", "count", "origin"]]


def write_parquet(df: pd.DataFrame, path, row_group_size: int | None = None) -> str:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, row_group_size=row_group_size)
    return str(path)


def memory_path(source, weights: gz.Weights, period: str, kind: str = "presence", shares=None, level="province") -> pd.DataFrame:
    """What the pipeline does in memory: read_counts, then as geozones.pipeline._figures before apportioning."""
    counts = gz.read_counts(source)
    factors = market_share_factors(counts["origin"], shares)
    values = counts.assign(
        estimate=counts["count"].to_numpy(dtype=float) / counts["origin"].map(factors).to_numpy(dtype=float),
        origin=rollup_codes(counts["origin"], level).to_numpy(),
    )
    values = values.groupby(["cell_id", "period_start", "period", "origin"], sort=True, observed=True)[["count", "estimate"]].sum().reset_index()
    table, _ = apportion(rollup_counts(values, period, kind=kind), weights, kind=kind)
    return table


def assert_same(mem: pd.DataFrame, got: pd.DataFrame) -> None:
    assert mem.shape == got.shape
    for c in ("zone_id", "period", "origin"):
        assert (mem[c].to_numpy() == got[c].to_numpy()).all(), c
    assert (mem["period_start"].to_numpy() == got["period_start"].to_numpy()).all()
    assert np.array_equal(mem["observed"].to_numpy(), got["observed"].to_numpy())  # to the last bit
    np.testing.assert_allclose(got["estimate"].to_numpy(), mem["estimate"].to_numpy(), rtol=1e-13, atol=1e-9)


@pytest.mark.parametrize("period, kind", [("1d", "presence"), ("1h", "presence"), ("1w", "presence"), ("1d", "events")])
def test_stream_equals_memory(tmp_path, period, kind):
    w = toy_weights(40, 7)
    counts = toy_counts(40, 72, ["30000", "34022", "10000", "262", "FR", "NL"])
    shares = pd.DataFrame({"origin": ["30000", "10000", "FR", "*"], "share": [0.42, 0.38, 0.3, 0.4]})
    src = write_parquet(counts, tmp_path / "c.parquet", row_group_size=999)
    bins = stream_counts(src, w, period=period, kind=kind, shares=shares, batch_rows=1234, progress=False)
    assert bins.info["rows"] == len(counts) and bins.info["input_total"] == counts["count"].sum()
    assert_same(memory_path(src, w, period, kind, shares), apportion_bins(bins, w))


def test_any_row_order_gives_the_same_figures(tmp_path):
    w = toy_weights(30, 5, seed=1)
    counts = toy_counts(30, 50, ["30000", "208", "unknown"], seed=1)
    shuffled = counts.sample(frac=1.0, random_state=3).reset_index(drop=True)
    a = apportion_bins(stream_counts(write_parquet(counts, tmp_path / "a.parquet"), w, progress=False), w)
    b = apportion_bins(stream_counts(write_parquet(shuffled, tmp_path / "b.parquet", 500), w, batch_rows=777, progress=False), w)
    assert_same(a, b)


def test_text_times_and_plain_strings_are_read_like_the_reader(tmp_path):
    """ISO text without an offset is local time (as read_counts has it), across the autumn change."""
    w = toy_weights(6, 3, seed=2)
    counts = toy_counts(6, 30, ["30000", "FR"], seed=2, start="2026-10-24T12:00")
    local = counts["period_start"].dt.tz_convert("Europe/Brussels").dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)$", r":\1", regex=True)
    text = counts.assign(period_start=local, cell_id=counts["cell_id"].astype(str))
    path = tmp_path / "text.parquet"
    pq.write_table(pa.Table.from_pandas(text, preserve_index=False), path, use_dictionary=False)
    got = apportion_bins(stream_counts(path, w, period="1d", progress=False), w)
    assert_same(memory_path(path, w, "1d"), got)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_cells=st.integers(1, 12),
    hours=st.integers(1, 60),
    n_origins=st.integers(1, 4),
    batch=st.integers(1, 400),
    seed=st.integers(0, 10_000),
    period=st.sampled_from(["1h", "3h", "1d", "1w"]),
)
def test_property_stream_equals_memory(tmp_path_factory, n_cells, hours, n_origins, batch, seed, period):
    origins = ["30000", "10000", "208", "NL"][:n_origins]
    counts = toy_counts(n_cells, hours, origins, seed=seed, start="2026-10-23T05:00")
    if not len(counts):
        return
    w = toy_weights(n_cells, 3, seed=seed)
    src = write_parquet(counts, tmp_path_factory.mktemp("p") / "c.parquet", row_group_size=max(batch // 2, 1))
    assert_same(memory_path(src, w, period), apportion_bins(stream_counts(src, w, period=period, batch_rows=batch, progress=False), w))


@pytest.mark.parametrize("protection", ["suppress", "perturb"])
def test_the_whole_run_publishes_the_same_files(small_case, tmp_path, protection):
    """apportion --engine stream and --engine dask write what --engine memory writes (the counts as Parquet);
    with the cell key method's noise too (the same key for a figure on every path)."""
    counts = gz.read_counts(small_case["counts"])
    src = write_parquet(counts.assign(count=counts["count"].astype("int64")), tmp_path / "counts.parquet")
    secret = tmp_path / "secret"
    secret.write_text("5" * 64)
    base = RunConfig(zones=[str(small_case["zones"])], cells=str(small_case["cells"]), counts=src, out="",
                     market_share=str(small_case["shares"]), k=5, protection=protection, secret_file=str(secret))
    out = {}
    for engine in ("memory", "stream", "dask"):
        out[engine] = tmp_path / engine
        run(dataclasses.replace(base, out=str(out[engine]), engine=engine))
    for engine in ("stream", "dask"):
        for name in ("zone_counts.csv", "grid_counts.csv", "zones.geojson"):
            assert (out["memory"] / name).read_bytes() == (out[engine] / name).read_bytes(), (engine, name)


def test_errors_name_the_row_in_the_whole_file(tmp_path):
    w = toy_weights(5, 2)
    counts = toy_counts(5, 40, ["30000"])
    bad = counts.copy()
    bad.loc[len(bad) - 3, "count"] = -4  # in the last batch
    src = write_parquet(bad, tmp_path / "neg.parquet", 50)
    with pytest.raises(CountsError, match=rf"row {len(bad) - 3} \(cell_id 'c4'\): count -4 is negative"):
        stream_counts(src, w, batch_rows=64, progress=False)
    unknown = counts.copy()
    unknown.loc[100, "cell_id"] = "nope"
    with pytest.raises(CountsError, match=r"row 100: cell id 'nope' is not in the cell plan"):
        stream_counts(write_parquet(unknown, tmp_path / "unk.parquet"), w, batch_rows=64, progress=False)
    bins = stream_counts(write_parquet(unknown, tmp_path / "unk2.parquet"), w, unknown_cells="drop", progress=False)
    assert bins.info["dropped_rows"] == 1 and bins.info["unknown_cells"] == 1
    origin = counts.copy()
    origin.loc[77, "origin"] = "Atlantis"
    with pytest.raises(CountsError, match=r"row 77: origin 'Atlantis' is not"):
        stream_counts(write_parquet(origin, tmp_path / "o.parquet"), w, batch_rows=64, progress=False)
    mixed = counts.copy()
    mixed.loc[110:, "period"] = "15min"
    with pytest.raises(CountsError, match=r"row 110: period '15min' differs from '1h'"):
        stream_counts(write_parquet(mixed, tmp_path / "m.parquet"), w, batch_rows=64, progress=False)


def test_a_local_time_that_does_not_exist_is_refused(tmp_path):
    w = toy_weights(2, 1)
    df = pd.DataFrame({"cell_id": ["c0", "c1"], "period_start": pd.to_datetime(["2026-03-29T01:00", "2026-03-29T02:00"]),
                       "period": "1h", "count": [3, 4], "origin": ["30000", "30000"]})
    with pytest.raises(CountsError, match=r"row 1: period_start .* does not exist \(clocks go forward\)"):
        stream_counts(write_parquet(df, tmp_path / "dst.parquet"), w, progress=False)


def test_the_memory_budget_is_kept(tmp_path):
    w = toy_weights(50, 2)
    counts = toy_counts(50, 72, ["30000", "208"]).sort_values("period_start", kind="stable")
    src = write_parquet(counts, tmp_path / "c.parquet")
    # 3 days x 2 origins x 50 cells x 8 bytes = 2,400 bytes of sums
    with pytest.raises(BudgetError, match=r"needs 1\.6 kB \(4 periods x 2 origins x 50 cells\), more than the memory budget of 1\.0 kB"):
        stream_counts(src, w, memory_budget=1000, progress=False)
    stream_counts(src, w, memory_budget=4000, progress=False)
    # rows out of time order: finding duplicates keeps a bit per hour, cell and origin
    # (72 x 50 x 1 byte) besides the sums
    shuffled = write_parquet(counts.sample(frac=1, random_state=1), tmp_path / "shuffled.parquet")
    with pytest.raises(BudgetError, match=r"duplicate rows in counts that are not in time order needs \d+\.\d kB \(72 periods x 50 cells\)"):
        stream_counts(shuffled, w, memory_budget=4000, progress=False)
    stream_counts(shuffled, w, memory_budget=7000, progress=False)
    assert parse_size("2GB") == 2 * 10**9 and parse_size("500 MB") == 5 * 10**8 and parse_size(1024) == 1024
    assert [format_size(n) for n in (512, 4600, 2.5e6, 2e9)] == ["512 bytes", "4.6 kB", "2.5 MB", "2.00 GB"]
    # a need just over the budget does not read as the budget (a probe: "5.0 MB, more than 5.0 MB")
    with pytest.raises(BudgetError, match=r"needs 1\.60 kB .* more than the memory budget of 1\.59 kB"):
        stream_counts(src, w, memory_budget=1590, progress=False)
    assert (format_size(5.04e6, 5e6), format_size(5e6, 5.04e6), format_size(5e6, 5e6)) == ("5.04 MB", "5.00 MB", "5.0 MB")


def test_a_scheduler_that_cannot_be_reached_is_named_with_what_to_do(tmp_path, monkeypatch):
    """A probe's unreachable --scheduler was told to 'check the path, its permissions and
    the disk'; it is named, with how to start one or run on threads."""
    distributed = pytest.importorskip("distributed")

    def unreachable(address, *a, **k):
        raise OSError(f"Timed out trying to connect to {address} after 30 s")

    monkeypatch.setattr(distributed, "Client", unreachable)
    w = toy_weights(5, 2, seed=1)
    write_parquet(toy_counts(5, 4, ["30000"], seed=1), tmp_path / "c.parquet")
    with pytest.raises(gz.ConfigError, match=r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'.*dask scheduler"):
        stream_counts(tmp_path / "c.parquet", w, engine="dask", scheduler="tcp://127.0.0.1:1", progress=False)


def test_dask_engine_on_a_local_cluster_equals_the_stream_engine(tmp_path):
    distributed = pytest.importorskip("distributed")
    w = toy_weights(25, 4, seed=5)
    counts = toy_counts(25, 96, ["30000", "10000", "208"], seed=5)
    folder = tmp_path / "parts"
    folder.mkdir()
    cut = np.linspace(0, len(counts), 5).astype(int)
    for i in range(4):  # a dataset of four files
        write_parquet(counts.iloc[cut[i] : cut[i + 1]], folder / f"part-{i}.parquet")
    want = apportion_bins(stream_counts(folder, w, progress=False), w)
    threads = apportion_bins(stream_counts(folder, w, engine="dask", progress=False), w)
    assert_same(want, threads)
    # a fifth file repeating rows of the first: duplicates across partitions, found on the
    # cluster's worker processes as on threads
    write_parquet(counts.iloc[cut[0] : cut[0] + 40], folder / "part-4.parquet")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        got = stream_counts(folder, w, engine="dask", scheduler=cluster.scheduler_address, progress=False)
    assert got.info["engine"] == "dask" and got.info["rows"] == len(counts) and got.info["duplicate_rows"] == 40
    assert_same(want, apportion_bins(got, w))
    (folder / "part-4.parquet").unlink()
    bad = counts.copy()
    bad.loc[len(bad) - 1, "count"] = np.nan
    write_parquet(bad.iloc[cut[3] :], folder / "part-3.parquet")
    with pytest.raises(CountsError, match="is NaN"):
        stream_counts(folder, w, engine="dask", progress=False)


def test_cli_engine_flag_and_one_line_errors(small_case, tmp_path):
    counts = gz.read_counts(small_case["counts"])
    src = write_parquet(counts.assign(count=counts["count"].astype("int64")), tmp_path / "counts.parquet")
    cmd = ["-q", "apportion", "--zones", str(small_case["zones"]), "--cells", str(small_case["cells"]),
           "--counts", src, "--k", "5", "--no-map"]
    ok = run_cli(*cmd, "--out", str(tmp_path / "out"), "--engine", "stream")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "zone_counts.csv").exists()
    small = run_cli(*cmd, "--out", str(tmp_path / "out2"), "--engine", "stream", "--memory-budget", "10")
    assert small.returncode == 1 and len(small.stderr.strip().splitlines()) == 1 and "memory budget" in small.stderr
    assert "Traceback" not in small.stderr and not (tmp_path / "out2" / "zone_counts.csv").exists()
    # the sums fit in 5 kB, the published zone table (about 1 kB a figure) does not: refused before it is built
    table = run_cli(*cmd, "--out", str(tmp_path / "out4"), "--engine", "stream", "--memory-budget", "5kB")
    assert table.returncode == 1 and len(table.stderr.strip().splitlines()) == 1, table.stderr
    assert "publishing the zone table needs about" in table.stderr and not (tmp_path / "out4" / "zone_counts.csv").exists()
    assert "raise --memory-budget" in table.stderr  # (too small even for one zone of a table in parts)
    # without a heat grid: parts, but 5 kB leaves no room for one zone beside the process
    parts = run_cli(*cmd, "--out", str(tmp_path / "out5"), "--engine", "stream", "--memory-budget", "5kB", "--heat-grid", "0")
    assert parts.returncode == 1 and len(parts.stderr.strip().splitlines()) == 1, parts.stderr
    assert "a zone" in parts.stderr and "beside the" in parts.stderr and "Traceback" not in parts.stderr
    assert not (tmp_path / "out5").exists()  # (nothing left: the folder was made for the run)
    csv = run_cli(*cmd[:-3], "--counts", str(small_case["counts"]), "--out", str(tmp_path / "out3"), "--engine", "stream")
    assert csv.returncode == 1 and "reads Parquet" in csv.stderr


def test_write_zone_table_equals_apportion_bins(tmp_path):
    w = toy_weights(20, 6, seed=7)
    bins = stream_counts(write_parquet(toy_counts(20, 80, ["30000", "FR", "NL"], seed=7), tmp_path / "c.parquet"), w, progress=False)
    info = gz.write_zone_table(bins, w, tmp_path / "zones.parquet")
    got = pd.read_parquet(tmp_path / "zones.parquet")
    got = got.assign(zone_id=got["zone_id"].astype(str), origin=got["origin"].astype(str))
    want = apportion_bins(bins, w)
    assert info["rows"] == len(want) == len(got) and not list(tmp_path.glob("*.tmp*"))
    got = got.sort_values(["period_start", "origin", "zone_id"], kind="stable").reset_index(drop=True)
    want = want.sort_values(["period_start", "origin", "zone_id"], kind="stable").reset_index(drop=True)
    for c in ("zone_id", "origin", "period"):
        assert (got[c].astype(str).to_numpy() == want[c].to_numpy()).all()
    assert (got["period_start"].to_numpy() == want["period_start"].to_numpy()).all()
    # a sparse x dense product here, sparse x sparse in the table: equal to the last bit or two
    np.testing.assert_allclose(got["observed"].to_numpy(), want["observed"].to_numpy(), rtol=1e-14, atol=0)


def test_national_case_small_is_seeded_and_sized(tmp_path):
    from .conftest import shared_path

    shared = shared_path("population", "POP.tif").parents[1]
    a = gz.national_case(tmp_path / "a", shared, rows=20_000, cells=300, days=3, grid_m=5000, seed=4, progress=False)
    b = gz.national_case(tmp_path / "b", shared, rows=20_000, cells=300, days=3, grid_m=5000, seed=4, progress=False)
    assert a["cells"] == 300 and a["neighbourhoods"] == 2767 and abs(a["counts"]["rows"] - 20_000) < 2_000
    ca, cb = pd.read_parquet(a["counts"]["path"]), pd.read_parquet(b["counts"]["path"])
    assert ca.equals(cb)
    assert ca["period_start"].is_monotonic_increasing and ca["period"].astype(str).eq("1h").all()
    # people come mostly from the province their cell lies in: the five Flemish provinces lead
    top = set(ca.groupby("origin", observed=True)["count"].sum().nlargest(5).index.astype(str))
    assert top <= {"10000", "20001", "30000", "40000", "70000", "04000"}


@pytest.mark.parametrize("policy", ["error", "drop"])
def test_compiled_loop_equals_numpy_path(tmp_path, policy):
    """The numba loop and the NumPy path give the same sums, unknown cells dropped alike."""
    w = toy_weights(60, 5, seed=11)
    counts = toy_counts(60, 120, ["30000", "10000", "FR", "NL"], seed=11).sample(frac=1.0, random_state=2).reset_index(drop=True)
    if policy == "drop":
        counts.loc[counts.index[::97], "cell_id"] = "gone"
    src = write_parquet(counts, tmp_path / "c.parquet", 1000)
    shares = pd.DataFrame({"origin": ["30000", "*"], "share": [0.42, 0.3]})
    a = stream_counts(src, w, shares=shares, unknown_cells=policy, batch_rows=700, progress=False, compiled=True)
    b = stream_counts(src, w, shares=shares, unknown_cells=policy, batch_rows=700, progress=False, compiled=False)
    assert a.info["rows"] == b.info["rows"] == len(counts)
    for key in ("input_total", "dropped_rows", "dropped_count", "unknown_cells", "first", "last"):
        assert a.info[key] == b.info[key], key
    assert_same(apportion_bins(b, w), apportion_bins(a, w))


def test_weights_on_dask_equal_compute_weights():
    """dask-geopandas partitions of the cells give the same weights, overlapping zones included."""
    distributed = pytest.importorskip("distributed")
    from .conftest import ROOT

    zones = gz.read_zones(ROOT / "zones")
    cov = gz.build_coverage(gz.read_cellplan(ROOT / "examples/data/kortrijk_cellplan.csv"), "voronoi")
    want = gz.compute_weights(cov, zones)
    assert want.meta["zones_overlap"]
    for scheduler in (None, "cluster"):
        if scheduler:
            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                got = gz.compute_weights_dask(cov, zones, npartitions=5, scheduler=cluster.scheduler_address)
        else:
            got = gz.compute_weights_dask(cov, zones, npartitions=7)
        assert list(got.cell_ids) == list(want.cell_ids) and list(got.zone_ids) == list(want.zone_ids)
        assert (got.matrix != want.matrix).nnz == 0 and np.array_equal(got.outside, want.outside)
        assert got.meta["zones_overlap"] and got.meta["engine"] == "dask"


def test_zone_sums_in_a_memory_map_equal_those_in_an_array(monkeypatch):
    """A large result is an anonymous memory map (ordinary pages): the same figures."""
    w = toy_weights(30, 6, seed=9)
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        bins = stream_counts(write_parquet(toy_counts(30, 100, ["30000", "FR", "NL"], seed=9), pathlib.Path(d) / "c.parquet"), w, progress=False)
    want = gz.zone_sums(bins, w)[0]
    monkeypatch.setattr(_spread, "_SMALL_RESULT", 0)
    got = gz.zone_sums(bins, w)[0]
    def memory(a):  # what holds an array's memory
        while isinstance(a, np.ndarray) and a.base is not None:
            a = a.base
        return a.obj if isinstance(a, memoryview) else a

    import mmap

    assert isinstance(memory(got), mmap.mmap) and not isinstance(memory(want), mmap.mmap)
    assert np.array_equal(got, want) and got.flags.writeable


def test_zone_sums_equal_the_zone_table():
    w = toy_weights(30, 6, seed=9)
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        bins = stream_counts(write_parquet(toy_counts(30, 100, ["30000", "FR", "NL"], seed=9), pathlib.Path(d) / "c.parquet"), w,
                             shares=pd.DataFrame({"origin": ["*"], "share": [0.4]}), progress=False)
    table = apportion_bins(bins, w)
    for col, est in (("observed", False), ("estimate", True)):
        values, starts, origins, zones = gz.zone_sums(bins, w, estimate=est)
        assert values.shape == (len(starts), len(origins), len(zones))
        # the table's rows are periods, then origins, then zones (outside last)
        np.testing.assert_allclose(values.ravel(), table[col].to_numpy(), rtol=1e-14, atol=0)


def test_whole_counts_sum_in_int32_until_they_could_overflow(tmp_path):
    """Sums are int32 for whole counts, and turn float64 (exactly) before any could pass 2**31."""
    w = toy_weights(4, 2, seed=3)
    small = toy_counts(4, 48, ["30000"], seed=3)
    bins = stream_counts(write_parquet(small, tmp_path / "small.parquet"), w, progress=False)
    assert bins.sums.dtype == np.int32
    assert_same(memory_path(tmp_path / "small.parquet", w, "1d"), apportion_bins(bins, w))
    # three hours of 1e9 (counts.MAX_COUNT, the most a row may hold) in the same cell and day: their sum (3e9) does not fit in int32
    big = small.copy()
    big.loc[big.index[:3], "count"] = 1_000_000_000
    big.loc[big.index[:3], "cell_id"] = "c0"
    big.loc[big.index[:3], "period_start"] = big["period_start"].iloc[0] + pd.to_timedelta([0, 1, 2], unit="h")
    big = big.drop_duplicates(["cell_id", "period_start", "origin"]).reset_index(drop=True)
    last = pd.concat([big.iloc[3:], big.iloc[:3]], ignore_index=True)  # the int32 sums already hold the rest
    for compiled, frame in ((True, big), (False, big), (True, last), (False, last)):
        src = write_parquet(frame, tmp_path / f"big-{compiled}-{frame is last}.parquet", 10)
        got = stream_counts(src, w, batch_rows=10, progress=False, compiled=compiled)
        assert got.sums.dtype == np.float64
        assert_same(memory_path(src, w, "1d"), apportion_bins(got, w))


def with_duplicates(counts: pd.DataFrame, n: int, seed: int, *, conflict: bool = False, in_time_order: bool = False) -> tuple[pd.DataFrame, int, int]:
    """``counts`` with copies of ``n`` of its rows put back at random places (one copy with
    another count if ``conflict``; among the rows of their hour if ``in_time_order``): the
    frame, and the file rows of the first original and its copy."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(counts), n, replace=False)
    copies = counts.iloc[picks].copy()
    if conflict:
        copies.iloc[0, copies.columns.get_loc("count")] += 1
    out = counts.copy()
    out["_k"] = np.arange(len(out), dtype=float)
    copies["_k"] = rng.uniform(-0.5, len(counts) - 0.5, n)
    out = pd.concat([out, copies]).sort_values("_k", kind="stable")
    if in_time_order:
        out = out.sort_values("period_start", kind="stable")
    out = out.reset_index()
    rows = np.flatnonzero(out["index"].to_numpy() == picks[0])
    return out.drop(columns=["_k", "index"]), int(rows.min()), int(rows.max())


def as_read_by(counts: pd.DataFrame, compiled: bool) -> pd.DataFrame:
    """Dictionary-encoded cell and origin columns (as operators' Parquet has them) for the
    compiled loop, which reads them; plain strings for the NumPy path."""
    return counts.astype({"cell_id": "category", "origin": "category"}) if compiled else counts


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("order", ["time", "shuffled"])
def test_exact_duplicate_rows_are_dropped_as_the_memory_engine_drops_them(tmp_path, monkeypatch, compiled, order):
    w = toy_weights(20, 4, seed=11)
    counts = toy_counts(20, 48, ["30000", "10000", "208"], seed=11)
    counts = counts.sample(frac=1.0, random_state=2) if order == "shuffled" else counts.sort_values("period_start", kind="stable")
    counts = counts.reset_index(drop=True)
    dup, _, _ = with_duplicates(counts, 25, seed=4, in_time_order=order == "time")
    src = write_parquet(as_read_by(dup, compiled), tmp_path / "dup.parquet", row_group_size=300)
    passes = []
    real = _passes._stream_pass
    monkeypatch.setattr(_passes, "_stream_pass", lambda *a, **k: passes.append(k["ordered"]) or real(*a, **k))
    bins = stream_counts(src, w, batch_rows=257, progress=False, compiled=compiled)
    # rows in time order are read once, keeping the keys of the newest hour only
    assert passes == ([True] if order == "time" else [True, False])
    assert bins.info["duplicate_rows"] == 25 and bins.info["rows"] == len(counts)
    assert bins.info["input_total"] == counts["count"].sum()
    assert bins.info["notes"] == ["25 exact duplicate rows were dropped"]
    assert_same(memory_path(src, w, "1d"), apportion_bins(bins, w))
    # and the same figures as without the duplicates
    assert_same(apportion_bins(stream_counts(write_parquet(counts, tmp_path / "c.parquet"), w, progress=False), w), apportion_bins(bins, w))


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("order", ["time", "shuffled"])
def test_duplicate_rows_with_different_counts_are_an_error_naming_both_rows(tmp_path, compiled, order):
    w = toy_weights(20, 4, seed=12)
    counts = toy_counts(20, 48, ["30000", "208"], seed=12)
    counts = counts.sample(frac=1.0, random_state=5) if order == "shuffled" else counts.sort_values("period_start", kind="stable")
    counts = counts.reset_index(drop=True)
    bad, first, second = with_duplicates(counts, 3, seed=6, conflict=True, in_time_order=order == "time")
    src = write_parquet(as_read_by(bad, compiled), tmp_path / "bad.parquet", row_group_size=300)
    with pytest.raises(CountsError) as mem:
        gz.read_counts(src)
    with pytest.raises(CountsError) as got:
        stream_counts(src, w, batch_rows=211, progress=False, compiled=compiled)
    assert f"row {first}, row {second}" in got.value.message and "has different counts on" in got.value.message
    assert f"row {first}, row {second}" in mem.value.message and str(got.value.path) == str(mem.value.path)


def test_dask_drops_exact_duplicates_within_a_partition(tmp_path):
    w = toy_weights(15, 3, seed=13)
    counts = toy_counts(15, 30, ["30000", "NL"], seed=13)
    dup, _, _ = with_duplicates(counts, 10, seed=7)
    src = write_parquet(dup, tmp_path / "dup.parquet")
    got = stream_counts(src, w, engine="dask", progress=False)
    assert got.info["duplicate_rows"] == 10 and got.info["rows"] == len(counts)
    assert_same(memory_path(src, w, "1d"), apportion_bins(got, w))
    bad, first, second = with_duplicates(counts, 2, seed=8, conflict=True)
    with pytest.raises(CountsError, match=f"has different counts on row {first}, row {second}"):
        stream_counts(write_parquet(bad, tmp_path / "bad.parquet"), w, engine="dask", progress=False)


def test_dask_finds_duplicates_across_files_where_their_times_overlap(tmp_path, monkeypatch):
    """Files that share hours: their rows at those hours are checked against each other
    (exact duplicates dropped, other counts an error naming both rows, as the stream engine
    names them); a file whose hours no other file holds is not checked."""
    w = toy_weights(15, 3, seed=21)
    counts = toy_counts(15, 48, ["30000", "208", "NL"], seed=21).sort_values(["period_start", "cell_id"], kind="stable")
    hours = (counts["period_start"] - counts["period_start"].min()) // pd.Timedelta("1h")
    parts = [counts[hours < 18], counts[(hours >= 16) & (hours < 34)], counts[hours >= 34]]  # hours 16 and 17 twice
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, part in enumerate(parts):
        write_parquet(part, folder / f"part-{i}.parquet")
    windows = []
    real = _dask._dask_partition
    monkeypatch.setattr(_dask, "_dask_partition", lambda batch, ctx, off, win: windows.append(win) or real(batch, ctx, off, win))
    got = stream_counts(folder, w, engine="dask", progress=False)
    repeated = int(((hours >= 16) & (hours < 18)).sum())
    assert got.info["duplicate_rows"] == repeated and got.info["rows"] == len(counts)
    assert got.info["notes"] == [f"{repeated} exact duplicate rows were dropped"]
    want = stream_counts(folder, w, progress=False)
    assert want.info["duplicate_rows"] == repeated
    assert_same(apportion_bins(want, w), apportion_bins(got, w))
    assert_same(apportion_bins(stream_counts(write_parquet(counts, tmp_path / "once.parquet"), w, progress=False), w), apportion_bins(got, w))
    t16, t17 = (counts["period_start"].min() + pd.Timedelta(h, "h") for h in (16, 17))
    assert sorted(windows, key=str) == sorted([(t16.value, t17.value)] * 2 + [None], key=str)
    # the same key with another count in the second file: the error of the stream engine
    bad = parts[1].copy()
    bad.iloc[0, bad.columns.get_loc("count")] += 1
    write_parquet(bad, folder / "part-1.parquet")
    with pytest.raises(CountsError, match=r"has different counts on part-0.parquet row \d+, part-1.parquet row 0") as dask_error:
        stream_counts(folder, w, engine="dask", progress=False)
    with pytest.raises(CountsError) as stream_error:
        stream_counts(folder, w, progress=False)
    assert dask_error.value.message == stream_error.value.message
    # the rows held for the check count against the memory budget (the sums need 1 kB)
    write_parquet(parts[1], folder / "part-1.parquet")
    with pytest.raises(BudgetError, match="finding duplicate rows across the files of the counts needs"):
        stream_counts(folder, w, engine="dask", memory_budget=5000, progress=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_cells=st.integers(1, 8), hours=st.integers(1, 40), n_dup=st.integers(1, 20), batch=st.integers(1, 300),
       seed=st.integers(0, 10_000), order=st.sampled_from(["time", "cell", "shuffled"]), compiled=st.booleans())
def test_property_duplicates_anywhere_give_the_memory_engines_figures(tmp_path_factory, n_cells, hours, n_dup, batch, seed, order, compiled):
    counts = toy_counts(n_cells, hours, ["30000", "208", "NL"], seed=seed)  # (in cell order)
    if len(counts) < n_dup:
        return
    if order != "cell":
        counts = counts.sample(frac=1.0, random_state=seed) if order == "shuffled" else counts.sort_values("period_start", kind="stable")
        counts = counts.reset_index(drop=True)
    dup, _, _ = with_duplicates(counts, n_dup, seed=seed, in_time_order=order == "time")
    w = toy_weights(n_cells, 3, seed=seed)
    src = write_parquet(as_read_by(dup, compiled), tmp_path_factory.mktemp("d") / "c.parquet", row_group_size=max(batch // 2, 1))
    bins = stream_counts(src, w, batch_rows=batch, progress=False, compiled=compiled)
    assert bins.info["duplicate_rows"] == n_dup
    assert_same(memory_path(src, w, "1d"), apportion_bins(bins, w))


@pytest.mark.parametrize("hold", [None, 5])
def test_a_duplicate_of_a_row_batches_before_in_a_long_period_is_found(tmp_path, monkeypatch, hold):
    """Rows in time, cell and origin order: the keys of a period are held while they rise,
    across batches (or as bits past ``_Seen.HOLD`` rows), and a copy of the period's first
    row many batches later is still found."""
    if hold:
        monkeypatch.setattr(_seen._Seen, "HOLD", hold)
    w = toy_weights(40, 3, seed=14)
    counts = toy_counts(40, 3, ["30000", "208"], seed=14).sort_values(["period_start", "cell_id"], kind="stable")
    counts["cell_id"] = pd.Categorical(counts["cell_id"], categories=[f"c{i}" for i in range(40)])
    counts = counts.sort_values(["period_start", "cell_id"], kind="stable").reset_index(drop=True)
    counts["origin"] = pd.Categorical(counts["origin"], categories=["30000", "208"])  # (dictionary columns: the compiled loop)
    hour = counts[counts["period_start"] == counts["period_start"].iloc[0]]
    copy = hour.iloc[[0]]
    dup = pd.concat([hour, copy, counts.iloc[len(hour):]], ignore_index=True)  # the copy closes the first hour
    src = write_parquet(dup, tmp_path / "d.parquet", row_group_size=7)
    for compiled in (True, False):
        bins = stream_counts(src, w, batch_rows=7, progress=False, compiled=compiled)
        assert bins.info["duplicate_rows"] == 1
        assert_same(memory_path(src, w, "1d"), apportion_bins(bins, w))


def test_reading_threads_end_after_a_run_and_after_an_error(tmp_path):
    """The threads that decode the counts are gone when a run ends or fails."""
    import threading

    w = toy_weights(5, 2)
    counts = toy_counts(5, 10, ["30000"]).astype({"cell_id": "category", "origin": "category"})
    src = write_parquet(counts, tmp_path / "c.parquet", row_group_size=7)
    reading = lambda: [t for t in threading.enumerate() if t.name.startswith("geozones-read")]  # noqa: E731
    stream_counts(src, w, batch_rows=5, progress=False)
    assert reading() == []
    bad = counts.copy()
    bad.loc[bad.index[3], "count"] = -1
    with pytest.raises(CountsError, match="is negative"):
        stream_counts(write_parquet(bad, tmp_path / "bad.parquet", row_group_size=7), w, batch_rows=5, progress=False)
    assert reading() == []


def test_read_ahead_holds_a_few_batches_however_slow_the_loop(tmp_path):
    """Decoded batches waiting for a slow loop are bounded by the threads' read-ahead, not
    by the size of the file (Arrow's dataset scanner held 11 MB for 1 M rows here, 50 MB
    for 4 M); the batches come in the file's order."""
    import time

    def peak_mb(n: int) -> float:
        df = pd.DataFrame({"cell_id": pd.Categorical(np.arange(n) % 97), "count": np.arange(n, dtype=np.int64)})
        dataset = pa.dataset.dataset(write_parquet(df, tmp_path / f"c{n}.parquet", row_group_size=50_000), format="parquet")
        pieces = [rg for f in dataset.get_fragments() for rg in f.split_by_row_group()]
        got, peak, before = [], 0, pa.total_allocated_bytes()
        for b in _reading._read_ahead(pieces, ["cell_id", "count"], ["cell_id", "count"], 50_000, workers=2):
            peak = max(peak, pa.total_allocated_bytes() - before)
            got.append(b.column(1).to_numpy().copy())  # (a view would keep Arrow's buffer)
            time.sleep(0.01)  # a loop slower than decoding
        assert np.array_equal(np.concatenate(got), df["count"].to_numpy())
        return peak / 1e6

    small, large = peak_mb(1_000_000), peak_mb(4_000_000)
    assert large < 1.5 * small + 1 and large < 10, (small, large)  # 2.4 and 2.4 MB when written


# --- stream_zone_sums: stream_counts and zone_sums in one pass ----------------------------


def two_steps(src, w, *, estimate: bool = False, **kw):
    bins = stream_counts(src, w, progress=False, **kw)
    return (*gz.zone_sums(bins, w, estimate=estimate), bins.info)


def assert_same_sums(want: tuple, got: tuple, exact: bool = True, info: bool = True) -> None:
    for a, b in zip(want[1:4], got[1:4]):  # periods, origins, zones
        assert np.array_equal(np.asarray(a).astype(str), np.asarray(b).astype(str))
    assert want[0].shape == got[0].shape
    if exact:
        assert np.array_equal(want[0], got[0])
    else:
        np.testing.assert_allclose(got[0], want[0], rtol=1e-13, atol=1e-9)
    for key in ("rows", "input_total", "dropped_rows", "dropped_count", "unknown_cells", "duplicate_rows", "first", "last", "factors",
                "base_period") if info else ():
        assert want[4][key] == got[4][key], key


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_cells=st.integers(1, 10),
    hours=st.integers(1, 80),
    n_origins=st.integers(1, 5),
    batch=st.integers(1, 300),
    seed=st.integers(0, 10_000),
    period=st.sampled_from([None, "1h", "3h", "1d", "1w"]),
    kind=st.sampled_from(["presence", "events"]),
    order=st.sampled_from(["time", "shuffled"]),
    compiled=st.booleans(),
    estimate=st.booleans(),
)
def test_property_stream_zone_sums_equal_the_two_steps(tmp_path_factory, n_cells, hours, n_origins, batch, seed, period, kind, order,
                                                        compiled, estimate):
    # 34022 rolls up to 30000 with another share: that province's estimates are summed row by row
    origins = ["30000", "34022", "10000", "208", "NL"][:n_origins]
    counts = toy_counts(n_cells, hours, origins, seed=seed, start="2026-10-23T05:00")
    if not len(counts):
        return
    counts = counts.sample(frac=1.0, random_state=seed) if order == "shuffled" else counts.sort_values("period_start", kind="stable")
    w = toy_weights(n_cells, 3, seed=seed)
    src = write_parquet(as_read_by(counts.reset_index(drop=True), compiled), tmp_path_factory.mktemp("z") / "c.parquet",
                        row_group_size=max(batch // 2, 1))
    shares = pd.DataFrame({"origin": ["30000", "34022", "FR", "*"], "share": [0.42, 0.35, 0.3, 0.4]})
    kw = dict(period=period, kind=kind, shares=shares, batch_rows=batch, compiled=compiled)
    got = gz.stream_zone_sums(src, w, estimate=estimate, progress=False, **kw)
    assert_same_sums(two_steps(src, w, estimate=estimate, **kw), got, exact=not estimate)


def test_stream_zone_sums_keep_a_few_periods_of_sums_when_rows_are_in_time_order(tmp_path, monkeypatch):
    """Rows in time order: one read, and sums for a few days at a time however many days
    there are; rows out of order: a second read keeping every day, the same figures."""
    w = toy_weights(25, 4, seed=21)
    counts = toy_counts(25, 24 * 20, ["30000", "10000", "FR"], seed=21).sort_values("period_start", kind="stable").reset_index(drop=True)
    src = write_parquet(as_read_by(counts, True), tmp_path / "c.parquet", row_group_size=500)
    passes, slots = [], []
    real_pass, real_release = _passes._stream_pass, _seen._Accumulator.release
    monkeypatch.setattr(_passes, "_stream_pass", lambda *a, **k: passes.append(k["ordered"]) or real_pass(*a, **k))
    monkeypatch.setattr(_seen._Accumulator, "release", lambda self, s: slots.append(self.obs.shape[0]) or real_release(self, s))
    got = gz.stream_zone_sums(src, w, batch_rows=700, progress=False)
    assert passes == [True] and len(got[1]) == 21  # 20 days from 00:00 local, across the clock change: 21 local days
    assert len(slots) == 21 and max(slots) <= 4
    want = two_steps(src, w, batch_rows=700)
    assert_same_sums(want, got)
    passes.clear()
    shuffled = write_parquet(as_read_by(counts.sample(frac=1.0, random_state=1).reset_index(drop=True), True), tmp_path / "s.parquet", 500)
    assert_same_sums(want, gz.stream_zone_sums(shuffled, w, batch_rows=700, progress=False))
    assert passes == [True, False]


def test_stream_zone_sums_errors_are_those_of_stream_counts(tmp_path):
    w = toy_weights(10, 3, seed=22)
    counts = toy_counts(10, 48, ["30000", "208"], seed=22).sort_values("period_start", kind="stable").reset_index(drop=True)
    bad, first, second = with_duplicates(counts, 3, seed=6, conflict=True, in_time_order=True)
    src = write_parquet(as_read_by(bad, True), tmp_path / "bad.parquet", 100)
    with pytest.raises(CountsError, match=f"row {first}, row {second}"):
        gz.stream_zone_sums(src, w, batch_rows=97, progress=False)
    dup, _, _ = with_duplicates(counts, 4, seed=7, in_time_order=True)
    got = gz.stream_zone_sums(write_parquet(as_read_by(dup, True), tmp_path / "dup.parquet", 100), w, batch_rows=97, progress=False)
    assert got[4]["duplicate_rows"] == 4 and got[4]["rows"] == len(counts)
    assert_same_sums(two_steps(write_parquet(counts, tmp_path / "c.parquet"), w), got, info=False)
    src = write_parquet(counts, tmp_path / "c.parquet")
    with pytest.raises(gz.errors.InputError, match="cannot be split into periods of 15min"):
        gz.stream_zone_sums(src, w, period="15min", progress=False)
    with pytest.raises(CountsError, match="cannot be rolled up to 1d"):
        gz.stream_zone_sums(src, w, kind="unique", progress=False)
    gone = counts.assign(cell_id="elsewhere")
    with pytest.raises(CountsError, match="no row is left"):
        gz.stream_zone_sums(write_parquet(gone, tmp_path / "g.parquet"), w, unknown_cells="drop", progress=False)


def test_stream_zone_sums_without_statistics_and_with_origins_met_late(tmp_path):
    """No Parquet statistics (the result grows as periods come), an origin met in the last
    days only and another one in the dictionary with no rows: the two steps' figures."""
    w = toy_weights(12, 3, seed=23)
    counts = toy_counts(12, 24 * 9, ["30000", "10000", "NL"], seed=23).sort_values("period_start", kind="stable").reset_index(drop=True)
    late = counts["period_start"] >= counts["period_start"].iloc[-1] - pd.Timedelta("2D")
    counts = counts[late | (counts["origin"] != "NL")].reset_index(drop=True)
    counts["origin"] = pd.Categorical(counts["origin"], categories=["NL", "30000", "FR", "10000"])  # FR: no rows
    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pandas(counts, preserve_index=False), path, row_group_size=300, write_statistics=False)
    got = gz.stream_zone_sums(path, w, batch_rows=250, progress=False)
    assert list(got[2]) == ["10000", "30000", "NL"]
    assert_same_sums(two_steps(path, w, batch_rows=250), got)


def read_table(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas().astype({"zone_id": str, "origin": str})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_cells=st.integers(1, 8), hours=st.integers(1, 80), batch=st.integers(1, 300), seed=st.integers(0, 10_000),
       period=st.sampled_from([None, "3h", "1d"]), order=st.sampled_from(["time", "shuffled"]), late=st.booleans(), unused=st.booleans())
def test_property_stream_zone_table_writes_the_rows_of_write_zone_table(tmp_path_factory, n_cells, hours, batch, seed, period, order, late,
                                                                        unused):
    counts = toy_counts(n_cells, hours, ["30000", "208", "NL"], seed=seed).sort_values("period_start", kind="stable").reset_index(drop=True)
    if not len(counts):  # (toy counts may hold no row)
        return
    if late:  # NL only in the last hours: met after periods were written
        counts = counts[(counts["origin"] != "NL") | (counts["period_start"] >= counts["period_start"].iloc[-1] - pd.Timedelta("5h"))]
    if not len(counts):
        return
    if order == "shuffled":
        counts = counts.sample(frac=1.0, random_state=seed)
    counts = counts.reset_index(drop=True)
    if unused:  # a dictionary of every origin, FR without rows; else each batch's own (NL new in the last ones)
        counts["origin"] = pd.Categorical(counts["origin"], categories=["NL", "208", "30000", "FR"])
    d = tmp_path_factory.mktemp("t")
    w = toy_weights(n_cells, 3, seed=seed)
    src = write_parquet(counts, d / "c.parquet", row_group_size=max(batch // 2, 1))
    shares = pd.DataFrame({"origin": ["30000", "*"], "share": [0.42, 0.35]})
    kw = dict(period=period, shares=shares, batch_rows=batch, progress=False)
    got = gz.stream_zone_table(src, w, d / "one.parquet", **kw)
    want = gz.write_zone_table(stream_counts(src, w, **kw), w, d / "two.parquet")
    assert (got["rows"], got["periods"]) == (want["rows"], want["periods"])
    a, b = read_table(d / "two.parquet"), read_table(d / "one.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert sorted(p.name for p in d.iterdir()) == ["c.parquet", "one.parquet", "two.parquet"]  # no temporary file left


def test_stream_zone_table_is_bounded_by_a_few_periods_whatever_the_span(tmp_path):
    """Hourly figures of 30 days: the sums of every hour do not fit the budget, those of a
    few hours do. A run that fails leaves no file."""
    w = toy_weights(30, 4, seed=24)
    counts = toy_counts(30, 24 * 30, ["30000", "10000", "FR"], seed=24).sort_values("period_start", kind="stable").reset_index(drop=True)
    src = write_parquet(as_read_by(counts, True), tmp_path / "c.parquet", row_group_size=2000)
    budget = 30 * 3 * 4 * 24  # bytes: the int32 sums of 24 hours
    with pytest.raises(BudgetError):
        stream_counts(src, w, period=None, memory_budget=budget, progress=False)
    got = gz.stream_zone_table(src, w, tmp_path / "hourly.parquet", period=None, memory_budget=budget, batch_rows=400, progress=False)
    assert got["periods"] == 24 * 30 and got["rows"] == 24 * 30 * 3 * 5
    want = gz.write_zone_table(stream_counts(src, w, period=None, progress=False), w, tmp_path / "want.parquet")
    assert want["rows"] == got["rows"]
    pd.testing.assert_frame_equal(read_table(tmp_path / "want.parquet"), read_table(tmp_path / "hourly.parquet"))
    bad, _, _ = with_duplicates(counts, 2, seed=3, conflict=True, in_time_order=True)
    with pytest.raises(CountsError, match="has different counts"):
        gz.stream_zone_table(write_parquet(as_read_by(bad, True), tmp_path / "bad.parquet", 2000), w, tmp_path / "out.parquet", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet", "c.parquet", "hourly.parquet", "want.parquet"]
    import threading

    assert not [t.name for t in threading.enumerate() if t.name.startswith(("geozones-write", "geozones-read"))]


@pytest.mark.parametrize(("protection", "model"), [("suppress", "voronoi"), ("perturb", "voronoi"), ("suppress", "footprint")])
def test_a_zone_table_too_large_for_the_budget_is_published_in_parts_with_the_same_figures(tmp_path, monkeypatch, protection, model):
    """Kortrijk's zones (nested: shopping areas inside the centre, the centre inside its
    neighbourhoods) with a budget that holds only part of the zone table: disclosure control
    runs part by part and every output says what the whole table says, nested zones kept
    together; with the cell key method's noise, the same noise whichever part holds a figure;
    with the footprint model, each day's weights from its own density in every part."""
    import geopandas as gpd

    import geozones.audit as audit_module
    from geozones.pipeline import ZONE_COUNT_COLUMNS
    from geozones.synth import demo_scenario

    case = demo_scenario(tmp_path / "in", days=6, sites=30)
    (tmp_path / "secret").write_text("7" * 64)
    base = dict(zones=[case["zones"]], cells=case["cells"], counts=case["counts"], market_share=case["market_share"], model=model,
                engine="stream", heat_grid_m=None, map=False, summary_period="1w", protection=protection, secret_file=str(tmp_path / "secret"))
    # the audit's bounds (cap test, programmes) bound a zone through the published zones that
    # share its cells: a part sees only its own zones (docs/privacy.md), so the parts are
    # compared without them
    monkeypatch.setattr(audit_module, "capped_figures", lambda a, sup, k: iter(()))
    monkeypatch.setattr(audit_module, "programme_bounded_figures", lambda a, sup, k, **kw: iter(()))
    monkeypatch.setattr(audit_module, "origin_bounded_figures", lambda a, sup, k, **kw: iter(()))
    monkeypatch.setattr(audit_module, "chain_bounded_figures", lambda a, sup, k, **kw: iter(()))
    whole = run(RunConfig(out=str(tmp_path / "whole"), **base))
    figures = whole.manifest["disclosure_control"]["figures"]
    # a figure made to take 1 MB: the table (GBs) then dwarfs what the process holds (< 2 GB)
    monkeypatch.setattr(parts_module, "BYTES_PER_FIGURE", 10**6)
    monkeypatch.setattr(parts_module, "MERGE_ROWS", 1500)  # row groups and batches smaller than a part: merged across them
    monkeypatch.setattr(parts_module, "FLUSH_ROWS", 2000)  # and written in several pieces
    budget = 2 * 10**9 + figures * 10**6 // 3
    parts = run(RunConfig(out=str(tmp_path / "parts"), memory_budget=str(budget), **base))
    assert whole.manifest["disclosure_control"]["parts"] == 1 and parts.manifest["disclosure_control"]["parts"] >= 2
    assert parts.table is None and whole.table is not None
    a, b = whole.manifest["disclosure_control"], parts.manifest["disclosure_control"]
    assert {k: v for k, v in a.items() if k != "parts"} == {k: v for k, v in b.items() if k != "parts"}
    assert len(a["nested_zones"]) >= 3  # (the shopping areas in the centre: relations across zone files)
    # the same files: rows in the whole table's order (each part's rows merged back in),
    # and those of the memory engine
    run(RunConfig(out=str(tmp_path / "memory"), **(base | {"engine": "memory"})))
    csv = (tmp_path / "parts" / "zone_counts.csv").read_bytes()
    assert (tmp_path / "whole" / "zone_counts.csv").read_bytes() == csv == (tmp_path / "memory" / "zone_counts.csv").read_bytes()
    for name, read in (("zone_counts.csv", pd.read_csv), ("zone_counts.parquet", pd.read_parquet)):
        x, y = read(tmp_path / "whole" / name), read(tmp_path / "parts" / name)
        assert list(y.columns) == ZONE_COUNT_COLUMNS
        pd.testing.assert_frame_equal(x, y)
        assert y[y["status"] == "suppressed"][["observed", "estimate"]].isna().all().all()  # nothing suppressed leaves
    g, h = gpd.read_file(tmp_path / "whole" / "zones.geojson"), gpd.read_file(tmp_path / "parts" / "zones.geojson")
    pd.testing.assert_frame_equal(g.drop(columns="geometry"), h.drop(columns="geometry"))
    assert not list((tmp_path / "parts").glob(".geozones-staging-*")) and not list((tmp_path / "parts").glob(".parts*"))


def test_zone_parts_keep_nested_zones_together_and_stay_within_the_room():

    w = toy_weights(10, 8, seed=3)
    ids = list(map(str, w.zone_ids))
    nested = [(ids[0], ids[5]), (ids[2], [ids[3], ids[7]], True)]
    parts = parts_module.zone_parts(w, nested, per_zone=10, room=3 * 10 * parts_module.BYTES_PER_FIGURE)
    assert sorted(np.concatenate(parts).tolist()) == list(range(8)) and max(map(len, parts)) <= 3
    where = {int(z): i for i, p in enumerate(parts) for z in p}
    assert where[0] == where[5] and where[2] == where[3] == where[7]
    assert [int(p.min()) for p in parts] == sorted(int(p.min()) for p in parts)  # in the order of their first zone
    with pytest.raises(BudgetError, match=r"zone '.+' and the 2 zones nested with it must go through disclosure control together"):
        parts_module.zone_parts(w, nested, per_zone=10, room=2 * 10 * parts_module.BYTES_PER_FIGURE)


def test_parts_are_cut_so_that_each_fits_with_the_zones_audited_beside_it(caplog):
    """A part is audited with its halo (the zones of other parts sharing its cells): the
    parts are cut so that a part and its halo fit in the room together, and where no cut
    can (a cell every zone shares) the run goes on with the narrowest and says so."""
    n = 20
    chain = np.zeros((n + 1, n))
    chain[np.arange(n), np.arange(n)] = chain[np.arange(1, n + 1), np.arange(n)] = 0.5  # zone j: cells j and j + 1
    w = gz.Weights(sparse.csr_array(chain), np.array([f"c{i}" for i in range(n + 1)]), np.array([f"z{j}" for j in range(n)]),
                   1 - chain.sum(axis=1))
    room = 6 * 10 * parts_module.BYTES_PER_FIGURE  # six zones' figures
    naive = parts_module.zone_parts(w, [], per_zone=10, room=room)
    widest = lambda parts, halos: max(len(c) + len(b) + len(a) for c, (b, a) in zip(parts, halos))  # noqa: E731
    assert widest(naive, parts_module.part_halos(w, naive)) > 6  # (the room alone: a part of six and its neighbours)
    parts, halos = parts_module.fitted_parts(w, w, [], 10, room)
    assert sorted(np.concatenate(parts).tolist()) == list(range(n)) and widest(parts, halos) <= 6
    hub = chain.copy()
    hub[0] = 0.01  # one cell in every zone: any part's halo is every other zone
    w2 = gz.Weights(sparse.csr_array(hub), w.cell_ids, w.zone_ids, 1 - np.minimum(hub.sum(axis=1), 1))
    with caplog.at_level("WARNING", logger="geozones"):
        parts, halos = parts_module.fitted_parts(w2, w2, [], 10, room)
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))
    assert "more than the" in caplog.text and "raise --memory-budget" in caplog.text


def test_a_figure_takes_more_memory_the_more_weights_its_zone_has_in_any_period():
    """Parts are sized with what a figure takes: more for zones that many cells reach
    (footprint weights), and with weights per period, as in their widest period."""
    base = parts_module.BYTES_PER_FIGURE
    narrow = toy_weights(40, 8, seed=1)  # (about 20 cells a zone)
    wide = gz.Weights(sparse.csr_array(np.full((40, 8), 1 / 8)), narrow.cell_ids, narrow.zone_ids, np.zeros(40))  # 40 a zone
    assert parts_module.figure_bytes(wide) == base + parts_module.BYTES_PER_WEIGHT * (40 - parts_module.WEIGHTS_COUNTED)
    assert base <= parts_module.figure_bytes(narrow) < parts_module.figure_bytes(wide)
    days = gz.PeriodWeights("1d", np.array([0, 86_400 * 10**9], dtype=np.int64), (narrow, wide), (0, 1))
    assert parts_module.figure_bytes(days) == parts_module.figure_bytes(wide)


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory):
    from geozones.synth import demo_scenario

    return demo_scenario(tmp_path_factory.mktemp("dense") / "in", days=5, sites=30)


@pytest.mark.parametrize("kind, stat, period, summary, level", [
    ("presence", "mean", "1d", "1w", "province"),
    ("presence", "max", "1d", "1w", "municipality"),  # (the arrays hold hours: each day is their maximum)
    ("presence", "mean", "1h", "1d", "country"),
    ("events", "mean", "1d", "1q", "none"),
])
def test_publishing_from_arrays_writes_the_memory_engines_files(demo_inputs, tmp_path, kind, stat, period, summary, level):
    """The stream engine publishes from arrays (engine/publish.py), the memory engine through
    pandas: nested zones, residents, every kind and roll-up give the same files, byte for byte."""
    case = demo_inputs
    base = RunConfig(zones=[case["zones"]], cells=case["cells"], counts=case["counts"], market_share=case["market_share"], model="voronoi",
                     heat_grid_m=None, map=False, out="", kind=kind, stat=stat, period=period, summary_period=summary, origin_level=level)
    for engine in ("memory", "stream"):
        run(dataclasses.replace(base, out=str(tmp_path / engine), engine=engine))
    for name in ("zone_counts.csv", "zones.geojson"):
        assert (tmp_path / "memory" / name).read_bytes() == (tmp_path / "stream" / name).read_bytes(), name
    m = json.loads((tmp_path / "stream" / "manifest.json").read_text())
    assert m["disclosure_control"]["published"] > 0 and m["disclosure_control"]["suppressed"] > 0


def test_the_footprint_default_publishes_the_same_files_on_every_engine(demo_inputs, tmp_path):
    """A probe's 3 demo days at the default (footprint, a density per day): the memory engine
    (a CSV export) and the stream engine (Parquet) published 24 figures with other statuses.
    Their densities were 4e-15 apart (the counts added in another order), and that chose
    other figures to suppress; the weights are now rounded to a billionth."""
    case = demo_inputs
    counts = pd.read_parquet(case["counts"])
    two = counts[counts["period_start"] < counts["period_start"].min() + pd.Timedelta(days=2)]
    assert _unlike_on_engines(case, two, tmp_path / "two_days.parquet", ("zone_counts.csv", "zones.geojson")) == []


def _unlike_on_engines(case: dict, counts: pd.DataFrame, src, names: tuple) -> list:
    """Run the default pipeline over ``counts`` (written to ``src``) on the memory and the
    stream engine, beside ``src``: the files of ``names`` they did not write alike, byte for byte."""
    counts.to_parquet(src, index=False)
    base = RunConfig(zones=[case["zones"]], cells=case["cells"], counts=str(src), market_share=case["market_share"],
                     heat_grid_m=None, map=False, out="")
    for engine in ("memory", "stream"):
        run(dataclasses.replace(base, out=str(src.parent / engine), engine=engine))
    return [n for n in names if (src.parent / "memory" / n).read_bytes() != (src.parent / "stream" / n).read_bytes()]


@pytest.mark.parametrize("compiled", [True, False])
def test_the_out_of_order_note_names_the_row_that_is_out_of_order(tmp_path, caplog, compiled):
    """One early row moved later in a time-ordered file: the note names that row (it named
    the first row of its batch, 'row 0' on a new user's file)."""
    import logging

    w = toy_weights(10, 3, seed=5)
    counts = toy_counts(10, 24, ["30000"], seed=5).sort_values("period_start", kind="stable").reset_index(drop=True)
    at = len(counts) // 2
    moved = pd.concat([counts.iloc[1:at + 1], counts.iloc[[0]], counts.iloc[at + 1:]], ignore_index=True)  # row `at`: the early one
    t = pd.DatetimeIndex(moved["period_start"]).asi8
    assert (t[at] < t[:at]).any() and (np.diff(t[:at]) >= 0).all()
    src = write_parquet(as_read_by(moved, compiled), tmp_path / "late.parquet", row_group_size=1000)
    with caplog.at_level(logging.INFO, logger="geozones"):
        stream_counts(src, w, batch_rows=5000, progress=False, compiled=compiled)
    assert f"row {at} is earlier than the rows before it" in caplog.text


@pytest.mark.parametrize("engine,compiled", [("stream", True), ("stream", False), ("dask", False)])
@pytest.mark.parametrize("order", ["time", "shuffled"])
def test_two_codes_of_one_origin_with_equal_counts_are_the_memory_engines_error_not_a_dropped_row(tmp_path, engine, compiled, order):
    """'208' and 'FR' for one cell and hour are the same origin given twice: the memory
    reader refuses them whatever their counts; the stream engine had dropped the second
    as an exact duplicate when the counts were equal, losing those people silently."""
    w = toy_weights(12, 3, seed=31)
    counts = toy_counts(12, 24, ["30000", "208"], seed=31)
    twin = counts[counts["origin"] == "208"].iloc[[5]].assign(origin="FR")
    both = pd.concat([counts, twin], ignore_index=True)
    both = both.sample(frac=1.0, random_state=3) if order == "shuffled" else both.sort_values("period_start", kind="stable")
    src = write_parquet(as_read_by(both.reset_index(drop=True), compiled), tmp_path / "twins.parquet", row_group_size=100)
    with pytest.raises(CountsError, match="are the same origin") as mem:
        gz.read_counts(src)
    with pytest.raises(CountsError) as got:
        stream_counts(src, w, engine=engine, batch_rows=97, progress=False, compiled=compiled)
    said = mem.value.message.split(": origins ")[1]  # (the memory reader names the period as written, the engines in UTC)
    assert said.startswith("'208' and 'FR' on row") and said.endswith("are the same origin (FR)")
    assert got.value.message.split(": origins ")[1] == said and str(got.value.path) == str(mem.value.path)
    assert got.value.hint == mem.value.hint


def test_two_codes_of_one_origin_in_two_files_are_found_across_them(tmp_path):
    """'FR' in a second file for a cell and hour that the first holds as '208' (equal
    counts): the dask engine's check across files and the stream engine's both refuse it."""
    w = toy_weights(12, 3, seed=32)
    counts = toy_counts(12, 24, ["30000", "208"], seed=32).sort_values(["period_start", "cell_id"], kind="stable")
    twin = counts[counts["origin"] == "208"].iloc[[40]].assign(origin="FR")
    folder = tmp_path / "parts"
    folder.mkdir()
    write_parquet(counts, folder / "part-0.parquet")
    write_parquet(twin, folder / "part-1.parquet")
    errors = []
    for engine in ("dask", "stream"):
        with pytest.raises(CountsError, match=r"origins '208' and 'FR' on part-0.parquet row \d+, part-1.parquet row 0 are the same origin \(FR\)") as got:
            stream_counts(folder, w, engine=engine, progress=False)
        errors.append(got.value.message)
    assert errors[0] == errors[1]


@pytest.mark.parametrize("engine", ["stream", "dask"])
def test_a_folder_of_counts_names_the_file_that_is_damaged_or_unlike_the_others(tmp_path, engine):
    """A folder as an operator's export leaves it: one file cut short, one without the
    origin column, one with integer cell ids. Each is one error naming that file (a cut
    file had been an internal error, a missing column an IndexError on the stream engine),
    and the integer ids are looked up as text on both engines."""
    w = toy_weights(12, 3, seed=41)
    counts = toy_counts(12, 48, ["30000", "208"], seed=41).sort_values("period_start", kind="stable")
    hours = (counts["period_start"] - counts["period_start"].min()) // pd.Timedelta("1h")
    first, second = counts[hours < 24], counts[hours >= 24].copy()

    def folder(name, second_part, first_part=first):
        d = tmp_path / name
        (d / "date=2").mkdir(parents=True)  # (hive-style subfolders, as Spark writes them)
        write_parquet(first_part, d / "part-1.parquet")
        write_parquet(second_part, d / "date=2" / "part-2.parquet")
        return d

    cut = folder("cut", second)
    data = (cut / "date=2" / "part-2.parquet").read_bytes()
    (cut / "date=2" / "part-2.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(CountsError, match="cannot read the file") as got:
        stream_counts(cut, w, engine=engine, progress=False)
    assert Path(got.value.path).name == "part-2.parquet" and "damaged" in got.value.hint

    with pytest.raises(CountsError, match="has no origin column, unlike part-1.parquet") as got:
        stream_counts(folder("no_origin", second.drop(columns="origin")), w, engine=engine, progress=False)
    assert Path(got.value.path).name == "part-2.parquet"

    numbered = second.assign(cell_id=second["cell_id"].str.slice(1).astype("int64"))  # (c3 -> 3)
    renamed = dataclasses.replace(w, cell_ids=np.array([c[1:] for c in w.cell_ids], dtype=object))
    texts = first.assign(cell_id=first["cell_id"].str.slice(1))
    whole = folder("whole", second.assign(cell_id=second["cell_id"].str.slice(1)), texts)
    got = stream_counts(folder("ints", numbered, texts), renamed, engine=engine, progress=False)
    want = stream_counts(whole, renamed, engine=engine, progress=False)
    assert got.info["rows"] == len(counts) and got.info["input_total"] == counts["count"].sum()
    assert_same(apportion_bins(want, renamed), apportion_bins(got, renamed))


@pytest.mark.parametrize("order", ["time", "shuffled"])
def test_the_compiled_loop_keeps_the_network_totals_that_find_a_missing_day(tmp_path, order):
    """An operator's day missing from hourly Parquet counts: the dask engine and the
    stream engine's general path said so, the stream engine's compiled loop (dictionary
    columns, the usual Parquet) kept no totals per hour and said nothing."""
    from geozones.quality import quality_of_bins

    w = toy_weights(12, 3, seed=51)
    counts = toy_counts(12, 96, ["30000", "208"], seed=51)
    hours = (counts["period_start"] - counts["period_start"].min()) // pd.Timedelta("1h")
    counts = counts[(hours < 24) | (hours >= 48)]
    counts = counts.sample(frac=1.0, random_state=1) if order == "shuffled" else counts.sort_values("period_start", kind="stable")
    counts = counts.reset_index(drop=True)
    dup, _, _ = with_duplicates(counts, 5, seed=3, in_time_order=order == "time")
    stray = dup.iloc[[7]].assign(cell_id="nowhere")  # (a cell the plan does not know, dropped)
    dup = pd.concat([dup, stray], ignore_index=True).sort_values("period_start", kind="stable") if order == "time" else pd.concat([dup, stray], ignore_index=True)
    totals = {}
    for compiled in (True, False):
        src = write_parquet(as_read_by(dup.reset_index(drop=True), compiled), tmp_path / f"gap_{compiled}.parquet", row_group_size=200)
        b = stream_counts(src, w, batch_rows=150, progress=False, compiled=compiled, unknown_cells="drop")
        totals[compiled] = b.info["raw_totals"]
        q = quality_of_bins(b, w)
        assert q["missing_periods"]["count"] == 1 and q["missing_periods"]["listed"][0]["periods"] == 24, (compiled, q["missing_periods"])
    assert totals[True] == totals[False] and len(totals[True]) == 72
    assert sum(totals[True].values()) == counts["count"].sum()


@pytest.mark.parametrize("engine,compiled", [("stream", True), ("stream", False), ("dask", False)])
def test_an_error_in_a_folder_names_the_file_and_its_own_row(tmp_path, engine, compiled):
    """An operator's 90 daily files: a negative count was 'row 876345' of the folder;
    it is now the file's own row, which the operator can open."""
    w = toy_weights(12, 3, seed=61)
    counts = toy_counts(12, 48, ["30000", "208"], seed=61).sort_values("period_start", kind="stable")
    hours = (counts["period_start"] - counts["period_start"].min()) // pd.Timedelta("1h")
    first, second = counts[hours < 24], counts[hours >= 24].copy()
    second.iloc[10, second.columns.get_loc("count")] = -5
    folder = tmp_path / "daily"
    (folder / "day=2").mkdir(parents=True)
    write_parquet(as_read_by(first, compiled), folder / "day-1.parquet")
    write_parquet(as_read_by(second, compiled), folder / "day=2" / "day-2.parquet")
    with pytest.raises(CountsError, match="count -5 is negative") as got:
        stream_counts(folder, w, engine=engine, progress=False, compiled=compiled)
    assert got.value.where.startswith("day=2/day-2.parquet row 10 ")


def test_a_file_of_no_rows_leaves_the_other_files_unchecked_for_duplicates_across_them(tmp_path):
    """A probe's folder of 19.5 M rows with one empty file: dask took the empty file's times
    as unknown, so every row of the others might repeat one of its rows, and refused (2.11 GB
    of rows to check, over the budget). A file of no rows meets no other."""
    from geozones.engine._dask import _overlap_windows
    from geozones.engine._reading import _time_ranges

    counts = toy_counts(4, 48, ["30000"], seed=5)
    full = write_parquet(counts, tmp_path / "a.parquet")
    empty = write_parquet(counts.iloc[:0], tmp_path / "b.parquet")
    ranges = _time_ranges([full, empty])
    assert ranges[1] == (1, 0) and ranges[0][0] <= ranges[0][1]
    assert _overlap_windows(ranges) == [None, None]


def test_a_25_hour_day_keeps_the_runs_density_on_every_engine(demo_inputs, tmp_path):
    """A probe's hourly counts, the same every hour over the clock change of 25 October: the
    stream engine (Parquet) moved the 25-hour day's density, its days summed from 25 hours,
    and published other figures than the memory engine for that day."""
    counts = pd.read_parquet(demo_inputs["counts"])
    t0 = counts["period_start"].min() + pd.Timedelta(hours=12)
    hour = counts[counts["period_start"] == t0]
    starts = pd.date_range("2026-10-23T22:00Z", "2026-10-26T23:00Z", freq="1h", inclusive="left")  # (24 + 25 + 24 hours)
    assert len(starts) == 73
    same = pd.concat([hour.assign(period_start=s) for s in starts], ignore_index=True)
    assert _unlike_on_engines(demo_inputs, same, tmp_path / "clock_change.parquet", ("zone_counts.csv",)) == []
    t = pd.read_csv(tmp_path / "stream" / "zone_counts.csv")
    days = t[(t["period"] == "1d") & (t["origin"] == "all")].pivot(index="zone_id", columns="period_start", values="estimate")
    assert days.shape[1] == 3 and (days.nunique(axis=1, dropna=False) == 1).all()  # (every day alike, the 25-hour one too)
