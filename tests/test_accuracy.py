"""Accuracy: the zone fit indicator, and the simulation with ground truth (geozones.simulate)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geozones as gz
from geozones.intervals import APPORTIONING

from .conftest import X0, Y0, metric_gdf


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


# ------------------------------------------------------------------ zone fit
def test_zone_fit_on_hand_made_geometry():
    # cells: c0 = [0,100]², c1 = [100,200]x[0,100], c2 = [0,400]x[100,200] (400 m wide)
    cov = [box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 400, 200)]
    # z0 (an L) holds c0 whole, 3/4 of c1 and 1/8 of c2 (50 of its 400 m): weights 1, 0.75, 0.125
    # z1 holds 1/4 of c1 and 1/4 of c2 (100 m): weights 0.25 and 0.25
    # z2 is reached by no cell
    z0 = shapely.union(box(0, 0, 175, 100), box(0, 100, 50, 200))
    zones = [z0, box(175, 0, 275, 200), box(5000, 5000, 5100, 5100)]
    w = gz.compute_weights(
        metric_gdf(cov, ["c0", "c1", "c2"], "cell_id"), metric_gdf(zones, ["z0", "z1", "z2"], "zone_id"), crs="EPSG:3812"
    )
    np.testing.assert_allclose(w.matrix.toarray(), [[1, 0, 0], [0.75, 0.25, 0], [0.125, 0.25, 0]], atol=1e-12)
    f = gz.zone_fit(w, pd.Series({"z2": 0.01, "z0": 0.02625, "z1": 0.02}))
    assert f.index.tolist() == ["z0", "z1", "z2"]
    assert f["n_cells"].tolist() == [3, 2, 0]
    assert f["cells_inside"].tolist() == [2, 0, 0]
    assert f.loc["z0", "cell_share"] == pytest.approx(1.875, abs=1e-12)
    assert f.loc["z0", "fit"] == pytest.approx(1.75 / 1.875, abs=1e-12)
    assert f.loc["z1", "fit"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(f.loc["z2", "fit"]) and np.isnan(f.loc["z2", "cell_share"])
    assert f["area_km2"].tolist() == pytest.approx([0.02625, 0.02, 0.01])
    assert f["usable"].tolist() == [False, False, False]  # all under 0.25 km²
    big = gz.zone_fit(w, pd.Series({"z0": 1.0, "z1": 1.0, "z2": 1.0}))
    assert big["usable"].tolist() == [True, False, False]  # z1: fit 0; z2: no cell
    assert big.loc["z0", "error_90"] == pytest.approx(np.expm1(APPORTIONING["voronoi"][(">= 1", "good")]))  # area weights: the Voronoi measurement
    w.meta["model"] = "footprint"
    big = gz.zone_fit(w, pd.Series({"z0": 1.0, "z1": 1.0, "z2": 1.0}))
    assert big["usable"].tolist() == [True, False, False]
    assert big.loc["z0", "error_90"] == pytest.approx(np.expm1(APPORTIONING["footprint"][(">= 1", "good")]))
    assert np.isnan(big.loc["z2", "error_90"]) and big.loc["z1", "error_90"] > big.loc["z0", "error_90"]


def test_fit_text_in_tooltips():
    from geozones.maps import _fit_text

    assert _fit_text(3, 0.8) == "3 cells, fit 0.80"
    assert _fit_text(1, 0.42) == "1 cell, fit 0.42 (low: figures unreliable)"
    assert _fit_text(0, float("nan")) == "no cell reaches this zone"


def test_zone_fit_is_one_when_cells_and_zones_coincide_and_half_is_inside():
    # a cell exactly half in a zone counts as inside (fit = 1): "mostly outside" is strictly more than half
    cov = [box(0, 0, 100, 100), box(100, 0, 200, 100)]
    zones = [box(0, 0, 100, 100), box(100, 0, 150, 100)]
    w = gz.compute_weights(metric_gdf(cov, ["a", "b"], "cell_id"), metric_gdf(zones, ["za", "zb"], "zone_id"), crs="EPSG:3812")
    f = gz.zone_fit(w)
    assert f["fit"].tolist() == pytest.approx([1.0, 1.0])
    assert f["n_cells"].tolist() == [1, 1]
    assert "area_km2" not in f.columns


# ---------------------------------------------------------------- simulation
def _raster(path, x0, y0, nx, ny, size, rng):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    data = rng.gamma(1.0, 30.0, (ny, nx)).astype("float32")
    with rasterio.open(
        path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32", crs="EPSG:3812",
        transform=Affine(size, 0, x0, 0, -size, y0 + ny * size),
    ) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture
def voronoi_case(tmp_path):
    """Nine omnidirectional sites; the zones are their Voronoi cells (the coverage itself)."""
    import pyproj

    from geozones import simworld as W

    rng = np.random.default_rng(4)
    gx, gy = np.meshgrid(np.arange(3) * 1000.0, np.arange(3) * 1000.0)
    x = X0 + gx.ravel() + rng.uniform(-200, 200, 9)
    y = Y0 + gy.ravel() + rng.uniform(-200, 200, 9)
    lon, lat = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True).transform(x, y)
    plan = tmp_path / "cells.csv"
    pd.DataFrame({"cell_id": [f"c{i}" for i in range(9)], "lon": lon, "lat": lat, "range_m": 1200.0}).to_csv(plan, index=False)
    cells = gz.read_cellplan(plan)
    cov = gz.voronoi_coverage(cells, crs="EPSG:3812")
    zones = metric_gdf(cov.geometry.values, ["z-" + c for c in cov["cell_id"]], "zone_id")
    zones["name"] = zones["zone_id"]
    zones["zone_set"] = "voronoi"
    zones["area_km2"] = zones.area / 1e6
    area = shapely.union_all(zones.geometry.values)
    x0, y0, x1, y1 = area.bounds
    pop = _raster(tmp_path / "pop.tif", x0 - 100, y0 - 100, int((x1 - x0) // 100) + 3, int((y1 - y0) // 100) + 3, 100.0, rng)
    return W.Case(
        "test", cells, zones, area, pyproj.CRS("EPSG:3812"), pop, pop, box(800, 800, 1200, 1200),
        {"square": shapely.Point(X0 + 1500, Y0 + 500)}, visitors=3000, event_people=800,
    )


def test_simulation_is_deterministic_for_a_seed(voronoi_case):
    from geozones import simulate as S
    from geozones import simworld as W

    a = S.simulate(voronoi_case, seed=5, residents=4000)
    b = S.simulate(voronoi_case, seed=5, residents=4000)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.people, b.people)
    c = S.simulate(voronoi_case, seed=6, residents=4000)
    assert not a.people[["x", "y"]].equals(c.people[["x", "y"]])
    # the counts are in the format geozones reads, and every phone is counted once
    assert a.counts.columns.tolist() == ["cell_id", "period_start", "period", "count"]
    assert str(a.counts["period_start"].dt.tz) == "UTC"
    per_step = a.people.groupby("step").size().to_numpy()
    np.testing.assert_array_equal(a.counts.groupby("period_start")["count"].sum().to_numpy(), per_step)
    # events draw people only at the steps they are on
    on = [i for i, s in enumerate(W.STEPS) if s[4]]
    assert set(a.people.loc[a.people["kind"] == "event", "step"]) == set(on)


def test_counts_round_trip_through_read_counts(voronoi_case, tmp_path):
    from geozones import simulate as S

    sim = S.simulate(voronoi_case, seed=1, residents=1000)
    path = tmp_path / "counts.csv"
    sim.counts.to_csv(path, index=False)
    back = gz.read_counts(path)
    assert back["count"].sum() == sim.counts["count"].sum()


@pytest.mark.parametrize("method", ["voronoi", "tower"])
def test_truth_recovered_exactly_when_cells_and_zones_coincide(voronoi_case, method):
    """Zones = the sites' Voronoi cells and phones attach to the nearest site: no error at all."""
    from geozones import simulate as S

    sim = S.simulate(voronoi_case, seed=2, attach="sector", residents=5000)
    est = S.estimate_counts(sim, S.method_weights(voronoi_case, method))
    both = sim.truth.merge(est, on=["zone_id", "period_start"])
    assert len(both) == len(sim.truth) and both["count"].sum() > 5000
    np.testing.assert_allclose(both["estimate"], both["count"], rtol=1e-9, atol=1e-9)
    err = S.zone_errors(est, sim.truth, voronoi_case.zones.set_index("zone_id")["area_km2"])
    assert len(err) > 0 and err["rel_error"].abs().max() < 1e-9
    # the wedge model (discs for omnidirectional cells) does not coincide: it errs
    wedge = S.zone_errors(S.estimate_counts(sim, S.method_weights(voronoi_case, "wedge")), sim.truth, voronoi_case.zones.set_index("zone_id")["area_km2"])
    assert wedge["rel_error"].abs().max() > 0.05


def test_signal_model_without_shadowing_is_the_nearest_site(voronoi_case, monkeypatch):
    from geozones import simworld as W

    rng = np.random.default_rng(0)
    x, y = X0 + rng.uniform(0, 2000, 3000), Y0 + rng.uniform(0, 2000, 3000)
    monkeypatch.setattr(W, "SHADOWING_DB", 0.0)
    monkeypatch.setattr(W, "SHADOWING_IID_DB", 0.0)
    signal = W.attach_cells(x, y, voronoi_case.cells, voronoi_case.crs, model="signal")
    sector = W.attach_cells(x, y, voronoi_case.cells, voronoi_case.crs, model="sector")
    np.testing.assert_array_equal(signal, sector)
    monkeypatch.setattr(W, "SHADOWING_DB", 8.0)
    assert (W.attach_cells(x, y, voronoi_case.cells, voronoi_case.crs, model="signal") != sector).mean() > 0.05


def test_sector_model_picks_the_sector_that_faces_the_phone(tmp_path):
    import pyproj

    from geozones import simulate as S

    lon, lat = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True).transform(X0, Y0)
    plan = tmp_path / "cells.csv"
    plan.write_text("cell_id,site_id,lon,lat,azimuth,beamwidth\n" + "".join(f"s{a},S,{lon},{lat},{a},65\n" for a in (0, 120, 240)))
    cells = gz.read_cellplan(plan)
    # bearings 10, 100, 170, 250, 350 degrees from the site, 300 m away
    b = np.radians([10, 100, 170, 250, 350])
    x, y = X0 + 300 * np.sin(b), Y0 + 300 * np.cos(b)
    got = S.attach_cells(x, y, cells, pyproj.CRS("EPSG:3812"), model="sector")
    assert cells["cell_id"].to_numpy()[got].tolist() == ["s0", "s120", "s120", "s240", "s0"]


def test_the_registers_powers_and_tilts_move_the_simulated_phones_only_where_the_plan_gives_them(monkeypatch):
    """The register study (docs/accuracy.md, stop 42): phones attach with the antennas'
    powers and vertical pattern where the plan has the columns, as before where not."""
    import pyproj

    from geozones import simworld as W

    monkeypatch.setattr(W, "SHADOWING_DB", 0.0)
    monkeypatch.setattr(W, "SHADOWING_IID_DB", 0.0)
    crs = pyproj.CRS("EPSG:3812")
    lon, lat = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True).transform([X0, X0 + 1000], [Y0, Y0])
    cells = gpd.GeoDataFrame({"cell_id": ["a", "b"], "azimuth": [np.nan, np.nan], "beamwidth": [360.0, 360.0]},
                             geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    x, y = np.linspace(X0 + 100, X0 + 900, 81), np.full(81, Y0)
    plain = W.attach_cells(x, y, cells, crs)
    assert 40 <= (plain == 0).sum() <= 41  # (the nearer site; the half way point a tie)
    strong = W.attach_cells(x, y, cells.assign(height_m=30.0, tilt=0.0, power_dbm=[49.0, 39.0]), crs)
    assert (strong == 0).sum() > 55  # 10 dB more at a: it reaches past the half way
    tilted = W.attach_cells(x, y, cells.assign(height_m=30.0, tilt=[20.0, 0.0], power_dbm=45.0), crs)
    assert 0 < (tilted == 0).sum() < 40  # a's beam points at its foot: b takes the ground between


def test_errors_are_measured_against_the_truth(voronoi_case):
    """A method whose weights are known to be off gives the error computed by hand."""
    from geozones import simulate as S

    sim = S.simulate(voronoi_case, seed=3, attach="sector", residents=5000)
    exact = S.method_weights(voronoi_case, "voronoi")
    areas = voronoi_case.zones.set_index("zone_id")["area_km2"]
    # every weight 10% too high: every figure is 10% too high
    high = gz.Weights(exact.matrix * 1.1, exact.cell_ids, exact.zone_ids, exact.outside)
    err = S.zone_errors(S.estimate_counts(sim, high), sim.truth, areas)
    np.testing.assert_allclose(err["rel_error"], 0.1, atol=1e-9)
    table = S.accuracy_table(err)
    np.testing.assert_allclose(table[["median_abs", "p90_abs", "bias"]].to_numpy(), 0.1, atol=1e-9)
    # cell c0 sends half its count to its zone and half to z-c1
    m = exact.matrix.toarray()
    i0, i1 = list(exact.zone_ids).index("z-c0"), list(exact.zone_ids).index("z-c1")
    r0 = list(exact.cell_ids).index("c0")
    m[r0, i0], m[r0, i1] = 0.5, 0.5
    from scipy import sparse

    moved = gz.Weights(sparse.csr_array(m), exact.cell_ids, exact.zone_ids, exact.outside)
    err = S.zone_errors(S.estimate_counts(sim, moved), sim.truth, areas).set_index(["zone_id", "period_start"])
    truth = sim.truth.set_index(["zone_id", "period_start"])["count"]
    for t in sim.truth["period_start"].unique():
        t0, t1 = truth[("z-c0", t)], truth[("z-c1", t)]
        if t0 >= S.MIN_TRUE:
            assert err.loc[("z-c0", t), "rel_error"] == pytest.approx(-0.5, abs=1e-9)
        if t1 >= S.MIN_TRUE:
            assert err.loc[("z-c1", t), "rel_error"] == pytest.approx(0.5 * t0 / t1, abs=1e-9)
    others = err.drop(index=["z-c0", "z-c1"], level=0)
    assert others["rel_error"].abs().max() < 1e-9


def test_zone_errors_skip_small_truths_and_class_sizes():
    from geozones import simulate as S

    t = pd.Timestamp("2026-07-04T08:00Z")
    truth = pd.DataFrame({"zone_id": ["a", "b", "c", "d", "e"], "period_start": t, "count": [100, 40, 200, 29, 50]})
    est = pd.DataFrame({"zone_id": ["a", "b", "c", "d"], "period_start": t, "estimate": [150.0, 30.0, 200.0, 0.0]})
    areas = pd.Series({"a": 0.1, "b": 0.25, "c": 1.0, "d": 3.0, "e": 7.0})
    err = S.zone_errors(est, truth, areas).set_index("zone_id")
    assert err.index.tolist() == ["a", "b", "c", "e"]  # d: truth below 30
    assert err["rel_error"].tolist() == pytest.approx([0.5, -0.25, 0.0, -1.0])  # e: no estimate at all is -100%
    assert err["size_class"].tolist() == ["< 0.25 km²", "0.25-1 km²", "1-5 km²", "> 5 km²"]
    table = S.accuracy_table(err.reset_index().assign(all="all"), "all")
    assert table.loc["all", "median_abs"] == pytest.approx(0.375)
    assert table.loc["all", "bias"] == pytest.approx((0.5 - 0.25 + 0 - 1) / 4)
    assert table.loc["all", "n_zones"] == 4


def test_real_cases_load_and_every_method_scores():
    from geozones import simulate as S

    from .conftest import shared_path

    shared_path("sites", "leuven_basestations_pxs.json")
    case = S.load_case("leuven")
    assert len(case.cells) == 64 and case.cells["site_id"].nunique() == 21
    inside = shapely.area(shapely.intersection(case.zones.geometry.values, case.area)) / case.zones.area.to_numpy()
    assert (inside >= 0.99).all()
    assert {"neighbourhood", "shopping-area", "grid250"} <= set(case.zones["zone_set"])
    assert set(case.events) == {"Grote Markt", "Ladeuzeplein"}
    sim = S.simulate(case, seed=0)
    err = S.evaluate(case, sim)
    assert set(err["method"]) == set(S.METHODS)
    assert np.isfinite(err["rel_error"]).all() and (err["true"] >= S.MIN_TRUE).all()
    # residents follow the population grid: the study area's grid sum, within rounding of the clusters
    assert sim.people.groupby("step")["kind"].apply(lambda k: (k == "resident").sum()).nunique() == 1


# ------------------------------------------------------- fit in the outputs
def _run(case, out, counts):
    cfg = gz.RunConfig(
        zones=[str(case["zones"])], cells=str(case["cells"]), counts=str(counts), out=str(out),
        market_share=str(case["shares"]), period="1d", heat_grid_m=None, self_contained=True,
    )
    return gz.run(cfg)


def test_fit_columns_in_every_output_and_independent_of_counts(small_case):
    import json

    from geozones.pipeline import ZONE_COUNT_COLUMNS

    c = small_case
    _run(c, c["tmp"] / "a", c["counts"])
    a = pd.read_csv(c["tmp"] / "a" / "zone_counts.csv", dtype={"origin": str})
    assert ZONE_COUNT_COLUMNS[:10] == ["zone_id", "zone_name", "period_start", "period", "origin", "observed", "estimate",
                                       "estimate_low", "estimate_high", "status"]
    assert list(a.columns) == ZONE_COUNT_COLUMNS and ZONE_COUNT_COLUMNS[10:] == ["n_cells", "fit"]
    assert list(pd.read_parquet(c["tmp"] / "a" / "zone_counts.parquet").columns) == ZONE_COUNT_COLUMNS
    # the columns are zone_fit of the weights the run used, on every row of the zone (suppressed ones too)
    want = gz.zone_fit(gz.read_weights(c["tmp"] / "a" / "weights.parquet"))
    for zid, g in a.groupby("zone_id"):
        assert (g["n_cells"] == want.loc[zid, "n_cells"]).all()
        np.testing.assert_allclose(g["fit"], round(want.loc[zid, "fit"], 3))
    assert (a["status"] == "suppressed").any() and a.loc[a["status"] == "suppressed", "fit"].notna().all()
    assert a.loc[a["status"] == "suppressed", ["observed", "estimate"]].isna().all().all()
    # (the default footprint model: cell B's footprint reaches into the west zone too; area weights: east 2, west 1)
    assert a.groupby("zone_id")["n_cells"].first().to_dict() == {"east": 2, "west": 2}
    gj = json.loads((c["tmp"] / "a" / "zones.geojson").read_text())
    props = {f["properties"]["zone_id"]: f["properties"] for f in gj["features"]}
    assert props["east"]["n_cells"] == 2 and props["west"]["n_cells"] == 2
    assert props["east"]["fit"] == pytest.approx(round(want.loc["east", "fit"], 3))
    page = (c["tmp"] / "a" / "map.html").read_text()
    assert "Cells (fit)" in page and "2 cells, fit" in page
    # other counts, the same indicators: they carry nothing of the people behind a figure
    other = c["tmp"] / "counts2.csv"
    rows = pd.read_csv(c["counts"], dtype=str)
    rows["count"] = (pd.to_numeric(rows["count"]) // 7).astype(str)
    rows.to_csv(other, index=False)
    _run(c, c["tmp"] / "b", other)
    b = pd.read_csv(c["tmp"] / "b" / "zone_counts.csv", dtype={"origin": str})
    assert not a["observed"].equals(b["observed"])
    pd.testing.assert_frame_equal(a.groupby("zone_id")[["n_cells", "fit"]].first(), b.groupby("zone_id")[["n_cells", "fit"]].first())


def test_in_a_crowd_the_footprint_model_places_visitors_better_and_its_intervals_hold(monkeypatch):
    """One hour of the crowd study (Kortrijk, 260 synthetic sites, visitors on the shopping
    streets, a signal model unlike the estimator's): the footprint model's zones under 1 km²
    are nearer the truth than Voronoi's, its large zones within a few percent, and most true
    figures inside its 90% intervals (benchmarks/crowds.py measures the whole study)."""
    import sys
    from pathlib import Path

    from .conftest import shared_path

    shared_path("population", "POP.tif")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import crowds

    monkeypatch.setattr(crowds, "METHODS", ("voronoi", "footprint"))
    raw = crowds.run_case("kortrijk", [0], ["shopping"], ["flat"], 0.4)
    med = raw.assign(a=raw["rel_error"].abs()).groupby(["method", "size_class"])["a"].median()
    assert med[("footprint", "< 0.25 km²")] < med[("voronoi", "< 0.25 km²")]
    assert med[("footprint", ">= 1 km²")] < 0.07
    fp = raw[raw["method"] == "footprint"]
    assert fp["inside"].mean() >= 0.85
