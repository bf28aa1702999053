"""Apportioning weights: exact answers on hand-made geometry, invariants, real data, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geozones as gz
from geozones.errors import WeightsError

from .conftest import X0, Y0, metric_gdf, shared_path


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def weights_of(cov_geoms, zone_geoms, **kw):
    cov = metric_gdf(cov_geoms, [f"c{i}" for i in range(len(cov_geoms))], "cell_id")
    zones = metric_gdf(zone_geoms, [f"z{i}" for i in range(len(zone_geoms))], "zone_id")
    return gz.compute_weights(cov, zones, crs="EPSG:3812", **kw)


def dense(w):
    return w.matrix.toarray()


def test_square_half_inside_a_zone_gets_half():
    w = weights_of([box(0, 0, 100, 100)], [box(50, -10, 200, 110)])
    assert dense(w)[0, 0] == pytest.approx(0.5, abs=1e-12)
    assert w.outside[0] == pytest.approx(0.5, abs=1e-12)


def test_coverage_inside_zone_and_zone_inside_coverage():
    # c0 lies wholly inside z0 (the containment shortcut); z1 lies wholly inside c1
    w = weights_of([box(10, 10, 20, 20), box(1000, 0, 1100, 100)], [box(0, 0, 100, 100), box(1025, 25, 1075, 75)])
    d = dense(w)
    assert d[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert d[1, 1] == pytest.approx(0.25, abs=1e-12)
    assert w.outside.tolist() == pytest.approx([0.0, 0.75], abs=1e-12)
    assert d[0, 1] == 0 and d[1, 0] == 0


def test_overlapping_zones_keep_the_true_outside_share():
    # z0 = left half, z1 = left three quarters: weights 0.5 and 0.75, yet only 0.25 lies outside
    w = weights_of([box(0, 0, 100, 100)], [box(0, 0, 50, 100), box(0, 0, 75, 100)])
    assert dense(w)[0].tolist() == pytest.approx([0.5, 0.75], abs=1e-12)
    assert w.outside[0] == pytest.approx(0.25, abs=1e-12)
    assert w.meta["zones_overlap"] is True


def test_cell_far_from_every_zone_is_all_outside():
    w = weights_of([box(0, 0, 10, 10), box(5000, 5000, 5010, 5010)], [box(0, 0, 10, 10)])
    assert w.outside.tolist() == pytest.approx([0.0, 1.0])
    frame = w.to_frame()
    assert set(frame["cell_id"]) == {"c0", "c1"}  # every cell named, nothing lost
    assert frame.loc[frame.cell_id == "c1", "zone_id"].tolist() == [gz.OUTSIDE]


def test_no_overlap_at_all_is_an_error():
    with pytest.raises(WeightsError, match="no coverage area overlaps any zone"):
        weights_of([box(0, 0, 10, 10)], [box(500, 500, 600, 600)])


def test_swapped_zone_coordinates_are_named(to_ll):
    cov = metric_gdf([box(0, 0, 1000, 1000)], ["c0"], "cell_id")
    zone = to_ll(box(100, 100, 900, 900))
    swapped = shapely.transform(zone, lambda xy: xy[:, ::-1])
    zones = metric_gdf([swapped], ["z0"], "zone_id", crs="EPSG:4326")
    with pytest.raises(WeightsError, match="swapped"):
        gz.compute_weights(cov, zones)


def test_duplicate_ids_and_reserved_outside_are_refused():
    with pytest.raises(WeightsError, match="more than once"):
        gz.compute_weights(
            metric_gdf([box(0, 0, 1, 1), box(0, 0, 2, 2)], ["a", "a"], "cell_id"),
            metric_gdf([box(0, 0, 1, 1)], ["z"], "zone_id"),
        )
    with pytest.raises(WeightsError, match="reserved"):
        gz.compute_weights(
            metric_gdf([box(0, 0, 1, 1)], ["a"], "cell_id"),
            metric_gdf([box(0, 0, 1, 1)], [gz.OUTSIDE], "zone_id"),
        )


def test_dasymetric_weights_follow_the_ancillary_layer():
    # the cell straddles two zones, but everybody lives in the left one
    people = metric_gdf([box(0, 0, 50, 100)], [1], "id")
    people["pop"] = [120.0]
    w = weights_of([box(0, 0, 100, 100)], [box(0, 0, 50, 100), box(50, 0, 100, 100)], ancillary=people, ancillary_column="pop")
    assert dense(w)[0].tolist() == pytest.approx([1.0, 0.0], abs=1e-12)
    assert w.outside[0] == pytest.approx(0.0, abs=1e-12)


def test_dasymetric_uneven_density_and_fallback_to_area():
    # ancillary squares: 30 people in the left quarter, 10 in the right three quarters
    people = metric_gdf([box(0, 0, 25, 100), box(25, 0, 100, 100)], [1, 2], "id")
    people["pop"] = [30.0, 10.0]
    cov = [box(0, 0, 100, 100), box(1000, 0, 1100, 100)]  # the second cell covers nobody
    zones = [box(0, 0, 50, 100), box(1000, 0, 1050, 100)]
    w = weights_of(cov, zones, ancillary=people, ancillary_column="pop")
    # zone 0 holds 30 + 10 * 25/75 people of the cell's 40
    assert dense(w)[0, 0] == pytest.approx((30 + 10 / 3) / 40, abs=1e-12)
    assert dense(w)[1, 1] == pytest.approx(0.5, abs=1e-12)  # area fallback


def test_dasymetric_from_a_raster(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    # 2 x 2 pixels of 50 m over the cell; all population in the top-left pixel
    data = np.array([[8.0, 0.0], [0.0, 0.0]], dtype="float32")
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32", crs="EPSG:3812",
        transform=Affine(50, 0, X0, 0, -50, Y0 + 100),
    ) as dst:
        dst.write(data, 1)
    w = weights_of([box(0, 0, 100, 100)], [box(0, 50, 50, 100), box(50, 0, 100, 50)], ancillary=path)
    assert dense(w)[0].tolist() == pytest.approx([1.0, 0.0], abs=1e-9)


# ----------------------------------------------------------------- invariants
rects = st.tuples(
    st.floats(0, 900), st.floats(0, 900), st.floats(5, 300), st.floats(5, 300)
).map(lambda t: box(t[0], t[1], t[0] + t[2], t[1] + t[3]))


def grid_zones(n: int, size: float = 1300.0):
    step = size / n
    return [box(i * step - 100, j * step - 100, (i + 1) * step - 100, (j + 1) * step - 100) for i in range(n) for j in range(n)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rects, min_size=1, max_size=25), st.integers(1, 6))
def test_tiling_zones_conserve_every_cell(cov, n):
    """Over zones that tile the coverage, each cell's weights sum to 1 and nothing is outside."""
    w = weights_of(cov, grid_zones(n))
    d = dense(w)
    assert (d >= 0).all() and (d <= 1).all()
    np.testing.assert_allclose(d.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(w.outside, 0.0, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rects, min_size=1, max_size=20), st.lists(rects, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_weights_in_unit_interval_and_independent_of_order(cov, zones, rnd):
    try:
        w = weights_of(cov, zones)
    except WeightsError:
        return  # no overlap at all: refused, checked elsewhere
    d = dense(w)
    assert (d >= 0).all() and (d <= 1 + 1e-12).all()
    assert ((w.outside >= 0) & (w.outside <= 1)).all()
    # each cell: share inside some zone + outside = 1, and the inside share is at most the sum of weights
    assert (w.outside + d.sum(axis=1) >= 1 - 1e-9).all()
    ci = list(range(len(cov)))
    zi = list(range(len(zones)))
    rnd.shuffle(ci)
    rnd.shuffle(zi)
    cov2 = metric_gdf([cov[i] for i in ci], [f"c{i}" for i in ci], "cell_id")
    z2 = metric_gdf([zones[i] for i in zi], [f"z{i}" for i in zi], "zone_id")
    w2 = gz.compute_weights(cov2, z2, crs="EPSG:3812")
    a = w.to_frame().sort_values(["cell_id", "zone_id"]).reset_index(drop=True)
    b = w2.to_frame().sort_values(["cell_id", "zone_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[["cell_id", "zone_id"]], b[["cell_id", "zone_id"]])
    np.testing.assert_allclose(a["weight"], b["weight"], atol=1e-12)


def test_threads_give_the_same_weights():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 5000, (3000, 2))
    cov = [box(x, y, x + 300, y + 200) for x, y in xy]
    zones = grid_zones(20, 5600)
    one = weights_of(cov, zones, workers=1)
    two = weights_of(cov, zones, workers=2)
    assert (one.matrix != two.matrix).nnz == 0
    np.testing.assert_array_equal(one.outside, two.outside)


# ------------------------------------------------------------------ real data
def test_leuven_cell_plan_against_leuven_neighbourhoods():
    """The real Leuven Proximus plan over Leuven's neighbourhoods, checked against an overlay."""
    import geopandas as gpd

    cells = gz.read_sites(shared_path("sites", "leuven_basestations_pxs.json"))
    nb = gpd.read_file(shared_path("flanders", "ggw7.shp"))
    nb = nb[nb["geoitem"].str.startswith("24062")].rename(columns={"geoitem": "zone_id", "naam": "name"})
    assert len(nb) > 10
    for model in ("wedge", "voronoi"):
        cov = gz.build_coverage(cells, model)
        w = gz.compute_weights(cov, nb)
        assert w.shape == (len(cells), len(nb))
        np.testing.assert_allclose(np.asarray(w.matrix.sum(axis=1)).ravel() + w.outside, 1.0, atol=1e-9)
        # the same pairs and weights as a plain geopandas overlay
        m = nb.to_crs(cov.crs)
        ov = gpd.overlay(cov[["cell_id", "geometry"]], m[["zone_id", "geometry"]], how="intersection", keep_geom_type=True)
        ov["w"] = ov.area.to_numpy() / ov["cell_id"].map(cov.set_index("cell_id").area).to_numpy()
        ov = ov[ov["w"] > 1e-12]
        frame = w.to_frame()
        frame = frame[frame.zone_id != gz.OUTSIDE]
        merged = frame.merge(ov[["cell_id", "zone_id", "w"]], on=["cell_id", "zone_id"], how="outer")
        assert not merged[["weight", "w"]].isna().any().any()
        np.testing.assert_allclose(merged["weight"], merged["w"], atol=1e-9)


# ---------------------------------------------------------------------- files
def test_parquet_round_trip(tmp_path):
    w = weights_of([box(0, 0, 100, 100), box(5000, 0, 5010, 10)], [box(50, 0, 200, 100), box(0, 0, 50, 50)])
    path = gz.write_weights(w, tmp_path / "w.parquet")
    r = gz.read_weights(path)
    import pyarrow.parquet as pq

    assert pq.read_schema(path).names == ["cell_id", "zone_id", "weight"]
    assert list(r.cell_ids) == list(w.cell_ids)
    order = [list(r.zone_ids).index(z) for z in w.zone_ids]
    np.testing.assert_allclose(dense(r)[:, order], dense(w), atol=0)
    np.testing.assert_allclose(r.outside, w.outside, atol=0)
    assert r.meta["crs"] == "EPSG:3812"
    csv = gz.read_weights(gz.write_weights(w, tmp_path / "w.csv"))
    np.testing.assert_allclose(csv.outside, w.outside, atol=1e-15)


def test_bad_weights_tables_are_refused(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("cell_id,zone_id,weight\na,z,1.5\n")
    with pytest.raises(WeightsError, match="row 0"):
        gz.read_weights(p)
    p.write_text("cell_id,zone\na,z\n")
    with pytest.raises(WeightsError, match="weight"):
        gz.read_weights(p)
    p.write_text("cell_id,zone_id,weight\na,z,0.5\na,z,0.5\n")
    with pytest.raises(WeightsError, match="twice"):
        gz.read_weights(p)
    with pytest.raises(WeightsError, match="no such file"):
        gz.read_weights(tmp_path / "missing.parquet")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    w = weights_of([box(0, 0, 100, 100)], [box(50, 0, 200, 100)])
    import pyarrow.parquet as pq

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(RuntimeError):
        gz.write_weights(w, tmp_path / "w.parquet")
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rects, min_size=1, max_size=12), st.lists(rects, min_size=2, max_size=8))
def test_outside_share_is_exact_with_overlapping_zones(cov, zones):
    """outside = 1 - area(coverage ∩ union of zones) / area(coverage), whatever the overlaps."""
    try:
        w = weights_of(cov, zones)
    except WeightsError:
        return
    union = shapely.union_all(zones)
    want = [1 - shapely.intersection(c, union).area / c.area for c in cov]
    np.testing.assert_allclose(w.outside, want, atol=1e-9)
