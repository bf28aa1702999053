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
        frame = frame[(frame.zone_id != gz.OUTSIDE) & (frame.weight > 0)]  # (not the rows of weight 0 naming zones no cell reaches)
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


def test_a_zone_no_cell_reaches_survives_the_round_trip(tmp_path):
    """The long table names every zone: one that no cell reaches has a row of weight 0."""
    w = weights_of([box(0, 0, 100, 100)], [box(50, 0, 200, 100), box(9000, 9000, 9100, 9100), box(0, 0, 50, 50)])
    assert w.summary()["zones_without_cells"] == 1
    for name in ("w.parquet", "w.csv"):
        r = gz.read_weights(gz.write_weights(w, tmp_path / name))
        assert sorted(r.zone_ids) == sorted(w.zone_ids) and r.matrix.nnz == w.matrix.nnz
        order = [list(r.zone_ids).index(z) for z in w.zone_ids]
        np.testing.assert_allclose(dense(r)[:, order], dense(w), atol=1e-15)
    # a table without that row (from elsewhere, or an older geozones) gets the zone back from the zone files
    old = gz.Weights.from_frame(w.to_frame().query("weight > 0"))
    assert len(old.zone_ids) == 2
    back = old.with_zones(["z1", "z0", "z2"])
    assert list(back.zone_ids)[:2] == list(old.zone_ids) and set(back.zone_ids) == {"z0", "z1", "z2"}
    assert back.matrix.shape == (1, 3) and back.matrix.nnz == old.matrix.nnz and back.with_zones(["z0"]) is back


def test_a_table_without_outside_rows_keeps_what_its_rows_leave_outside():
    """A hand-made weights table that lists only zone rows: a cell's outside share is what
    its rows leave (a mutation probe set it to 0, so half of c1's people vanished from the
    conservation check without a word, and no test noticed)."""
    w = gz.Weights.from_frame(pd.DataFrame({"cell_id": ["c1", "c1", "c2"], "zone_id": ["a", "b", "a"], "weight": [0.3, 0.2, 1.0]}))
    order = [list(w.cell_ids).index(c) for c in ("c1", "c2")]
    assert np.asarray(w.outside)[order].tolist() == pytest.approx([0.5, 0.0])
    assert np.asarray(w.matrix.sum(axis=1)).ravel() + np.asarray(w.outside) == pytest.approx([1.0, 1.0])


def test_bad_weights_tables_are_refused(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("cell_id,zone_id,weight\na,z,1.5\n")
    with pytest.raises(WeightsError, match="line 2: weight 1.5 is not"):
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
    assert_outside_is_the_union(cov, zones)


def assert_outside_is_the_union(cov, zones, may_miss: bool = True):
    """Each cell's outside share equals 1 - its area inside GEOS's union of the zones / its area
    (``may_miss``: cells that reach no zone at all are refused, and nothing is checked)."""
    try:
        w = weights_of(cov, zones)
    except WeightsError:
        if may_miss:
            return
        raise
    union = shapely.union_all(zones)
    want = [1 - shapely.intersection(c, union).area / c.area for c in cov]
    np.testing.assert_allclose(w.outside, want, atol=1e-9)


# non-convex zones (two rectangles joined, or one with a hole) and convex wedges: every
# kind of pair, and cliques of three or more zones (inclusion-exclusion past the pairs)
ells = st.tuples(rects, rects).map(lambda t: shapely.union_all(t)).filter(lambda g: g.geom_type == "Polygon")
holed = rects.map(lambda r: r.difference(shapely.affinity.scale(r, 0.4, 0.4)))
wedges = st.tuples(st.floats(0, 900), st.floats(0, 900), st.floats(50, 500), st.floats(0, 360), st.floats(30, 120)).map(
    lambda t: shapely.Polygon([(X0 + t[0], Y0 + t[1])] + [(X0 + t[0] + t[2] * np.sin(a), Y0 + t[1] + t[2] * np.cos(a))
                                                          for a in np.radians(np.linspace(t[3] - t[4] / 2, t[3] + t[4] / 2, 12))]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(wedges, rects), min_size=1, max_size=10), st.lists(st.one_of(ells, holed, rects), min_size=2, max_size=9))
def test_outside_share_is_exact_with_overlapping_nonconvex_zones(cov, zones):
    """The inclusion-exclusion over overlap pieces equals GEOS's union, for any overlaps of any zones."""
    assert_outside_is_the_union(cov, zones)


def test_overlap_pieces_of_three_stacked_zones():
    """Three copies of a square and a fourth overlapping all: cliques up to four zones, signs alternating."""
    sq = box(0, 0, 10, 10)
    zones = np.array([sq, sq, sq, box(5, 0, 15, 10)], dtype=object)
    a, b, area = gw.overlapping_pairs(zones)
    assert sorted(zip(a.tolist(), b.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    pieces, sign = gw.overlap_pieces(zones, a, b)
    # pairs: 3 x 100 + 3 x 50; triples: 1 x 100 + 3 x 50; the quadruple: 50
    assert np.isclose(np.sum(sign * shapely.area(pieces)), -450 + 250 - 50)
    cell = np.array([box(-5, 0, 20, 10)], dtype=object)
    ci, zi = np.repeat(0, 4), np.arange(4)
    inter = shapely.area(shapely.intersection(cell[ci], zones[zi]))
    got = gw.union_areas(cell, zones, ci, zi, inter, np.array([0]), a, b, shapely.area(cell))
    assert np.isclose(got[0], 150.0)


def test_nested_bands_fall_back_to_the_union():
    """Twenty discs around one place all overlap: 2^20 cliques. The pieces give up past their
    budget and the cell's outside share is measured on the union of its pieces, still exact."""
    discs = [shapely.Point(X0 + 500, Y0 + 500).buffer(30.0 * (i + 1), 16) for i in range(20)]
    zones = np.array(discs, dtype=object)
    a, b, _ = gw.overlapping_pairs(zones)
    assert len(a) == 190 and gw.overlap_pieces(zones, a, b) is None
    assert_outside_is_the_union([box(300, 300, 1400, 700), box(480, 480, 520, 520)], discs, may_miss=False)


# ------------------------------------------------- the compiled convex clipper
from fractions import Fraction  # noqa: E402

from geozones import overlay as gw  # noqa: E402


def wedge(x, y, r, azimuth, beam, n=24):
    """A sector of a disc (convex while ``beam`` <= 180 degrees), as the wedge model draws it."""
    a = np.radians(np.linspace(azimuth - beam / 2, azimuth + beam / 2, n))
    return shapely.Polygon([(X0 + x, Y0 + y)] + list(zip(X0 + x + r * np.sin(a), Y0 + y + r * np.cos(a))))


def poly(*xy):
    return shapely.Polygon([(X0 + x, Y0 + y) for x, y in xy])


def clipper_areas(cov, zones):
    """Per candidate pair: (cell, zone, the clipper's area or NaN where it leaves the pair to GEOS, GEOS's area)."""
    cov, zones = np.array(cov, dtype=object), np.array(zones, dtype=object)
    ci, zi = gw.candidate_pairs(cov, zones)
    area, _ = gw._convex_areas(cov, zones, ci, zi, shapely.area(cov), 1, gw._clipper())
    return ci, zi, area, shapely.area(shapely.intersection(cov[ci], zones[zi]))


def test_convex_polygons_are_told_from_the_others():
    star = shapely.Polygon([(np.cos(a), np.sin(a)) for a in np.arange(5) * 4 * np.pi / 5])  # winds twice
    cases = {
        "square": (box(0, 0, 10, 10), True),
        "square, clockwise": (shapely.box(X0, Y0, X0 + 10, Y0 + 10, ccw=False), True),
        "wedge of 65 degrees": (wedge(0, 0, 500, 30, 65), True),
        "wedge of 270 degrees": (wedge(0, 0, 500, 30, 270), False),
        "disc": (shapely.Point(X0, Y0).buffer(100), True),
        "L": (poly((0, 0), (20, 0), (20, 10), (10, 10), (10, 20), (0, 20)), False),
        "pentagram": (star, False),
        "square with a hole": (box(0, 0, 10, 10).difference(box(2, 2, 4, 4)), False),
        "two squares": (shapely.MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]), False),
        "repeated vertex": (poly((0, 0), (10, 0), (10, 0), (10, 10), (0, 10)), True),
        "collinear vertex": (poly((0, 0), (5, 0), (10, 0), (10, 10), (0, 10)), True),
        "notch of a micrometre": (poly((0, 0), (5, 1e-6), (10, 0), (10, 10), (0, 10)), False),
    }
    geoms = np.array([g for g, _ in cases.values()], dtype=object)
    got = gw._clipper()[0](*gw._rings(geoms))
    assert dict(zip(cases, got.tolist())) == {k: want for k, (_, want) in cases.items()}


def test_clipper_equals_geos_on_hand_made_pairs():
    cov = [
        wedge(0, 0, 800, 45, 65),  # convex: clips the zones
        box(5000, 5000, 5100, 5100),  # inside the square zone: its own area, exactly
        poly((9000, 0), (9400, 0), (9400, 100), (9100, 100), (9100, 400), (9000, 400)),  # an L, over a square
        poly((20000, 0), (20400, 0), (20400, 400), (20300, 400), (20300, 100), (20100, 100), (20100, 400), (20000, 400)),  # a U
    ]
    zones = [
        # a concave zone with a hole, crossed by the wedge
        shapely.Polygon(
            [(X0 - 200, Y0 - 200), (X0 + 900, Y0 - 200), (X0 + 900, Y0 + 300), (X0 + 300, Y0 + 300), (X0 + 300, Y0 + 900), (X0 - 200, Y0 + 900)],
            [[(X0 + 50, Y0 + 50), (X0 + 200, Y0 + 50), (X0 + 200, Y0 + 200), (X0 + 50, Y0 + 200)]],
        ),
        # two parts, one beside the wedge's bounding box
        shapely.MultiPolygon([box(400, 100, 700, 400), box(-600, 700, -500, 800)]),
        box(4900, 4900, 5200, 5200),
        box(9050, 50, 9300, 300),  # the L clipped by a square: the clipped ring runs back along the square's edge
        box(20050, 200, 20350, 300),  # the U's notch crossed: two pieces from one ring
        box(20390, -10, 20500, 500),  # a sliver of the U
        shapely.Point(X0 + 20200, Y0 + 250).buffer(40),  # a disc in the U's notch: no area at all
    ]
    ci, zi, area, geos = clipper_areas(cov, zones)
    assert not np.isnan(area).any()  # every pair has a convex side
    np.testing.assert_allclose(area, geos, rtol=1e-9, atol=1e-9 * shapely.area(np.array(cov))[ci].max())
    inside = (ci == 1) & (zi == 2)
    assert area[inside] == shapely.area(cov[1])  # a cell inside a zone: no clipping, its own area
    assert (area > 0).sum() >= 6


def test_pairs_with_no_convex_side_go_to_geos():
    l_cell = poly((0, 0), (400, 0), (400, 100), (100, 100), (100, 400), (0, 400))
    l_zone = poly((50, 50), (500, 50), (500, 500), (300, 500), (300, 200), (50, 200))
    _, _, area, geos = clipper_areas([l_cell], [l_zone])
    assert np.isnan(area).all() and geos[0] > 0


def exact_area(subject_rings, clip_ring) -> Fraction:
    """Area of polygon ∩ convex polygon in rational arithmetic: the true area of the float inputs."""
    pts = [(Fraction(x), Fraction(y)) for x, y in clip_ring[:-1]]
    twice = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1]))
    sign = 1 if twice > 0 else -1
    total = Fraction(0)
    for k, ring in enumerate(subject_rings):
        cur = [(Fraction(x), Fraction(y)) for x, y in ring[:-1]]
        for (ex, ey), (fx, fy) in zip(pts, pts[1:] + pts[:1]):
            side = [sign * ((fx - ex) * (y - ey) - (fy - ey) * (x - ex)) for x, y in cur]
            nxt = []
            for i in range(len(cur)):
                (px, py), (qx, qy), sp, sq = cur[i - 1], cur[i], side[i - 1], side[i]
                if (sq >= 0) != (sp >= 0):
                    t = sp / (sp - sq)
                    nxt.append((px + t * (qx - px), py + t * (qy - py)))
                if sq >= 0:
                    nxt.append((qx, qy))
            cur = nxt
        a = abs(sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(cur, cur[1:] + cur[:1]))) / 2
        total += a if k == 0 else -a
    return total


star_rings = st.tuples(
    st.floats(-300, 300), st.floats(-300, 300), st.lists(st.floats(20, 400), min_size=5, max_size=14), st.floats(0, 6.28)
).map(lambda t: poly(*[(t[0] + r * np.cos(t[3] + 2 * np.pi * i / len(t[2])), t[1] + r * np.sin(t[3] + 2 * np.pi * i / len(t[2])))
                      for i, r in enumerate(t[2])]))
convex_shapes = st.one_of(
    st.tuples(st.floats(-400, 400), st.floats(-400, 400), st.floats(50, 1500), st.floats(0, 360), st.floats(10, 180)).map(
        lambda t: wedge(*t)
    ),
    rects,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(convex_shapes, star_rings, st.booleans(), st.booleans())
def test_clipper_equals_exact_arithmetic_and_geos(clip, subject, hole, swap):
    """A convex side against a star-shaped polygon (with a hole, or not), either way round:
    the clipper agrees with rational arithmetic to 1e-12 and with GEOS to 1e-9 of the cell's area."""
    if hole:
        subject = subject.difference(shapely.Point(*subject.centroid.coords[0]).buffer(15, 4))
    if subject.geom_type != "Polygon" or not subject.is_valid:
        return
    cov, zone = (subject, clip) if swap else (clip, subject)
    ci, _, area, geos = clipper_areas([cov], [zone])
    if not len(ci):
        return  # bounding boxes apart: not a candidate pair
    if np.isnan(area[0]):
        assert not shapely.is_valid(clip) or shapely.get_num_coordinates(clip) > shapely.get_num_coordinates(subject)
        return
    rings = [np.asarray(subject.exterior.coords)] + [np.asarray(r.coords) for r in subject.interiors]
    want = float(exact_area(rings, np.asarray(clip.exterior.coords)))
    assert area[0] == pytest.approx(want, rel=1e-12, abs=1e-12 * cov.area)
    assert area[0] == pytest.approx(geos[0], rel=1e-9, abs=1e-9 * cov.area)


def test_compute_weights_fast_path_equals_the_geos_path(monkeypatch):
    """The same weights with the clipper and with GEOS for every pair (numba unavailable)."""
    rng = np.random.default_rng(7)
    cov = [wedge(x, y, r, az, bw) for x, y, r, az, bw in zip(
        rng.uniform(0, 4000, 60), rng.uniform(0, 4000, 60), rng.uniform(200, 900, 60), rng.uniform(0, 360, 60), rng.uniform(30, 120, 60))]
    cov += [poly((x, y), (x + 400, y), (x + 400, y + 100), (x + 100, y + 100), (x + 100, y + 400), (x, y + 400))
            for x, y in rng.uniform(0, 4000, (20, 2))]  # L-shaped cells
    squares = grid_zones(6, 4200)
    blob = box(1000, 1000, 3000, 3000).difference(box(1500, 1500, 2500, 2500)).union(box(2900, 0, 3600, 3800))
    fast = weights_of(cov, squares + [blob])
    assert fast.meta["clipped"] > 0 and fast.meta["intersected"] > fast.meta["clipped"]  # the L cells x the blob: GEOS
    monkeypatch.setattr(gw, "_clipper", lambda: None)
    slow = weights_of(cov, squares + [blob])
    assert slow.meta["clipped"] == 0
    np.testing.assert_allclose(dense(fast), dense(slow), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.outside, slow.outside, rtol=0, atol=1e-12)
    whole = dense(slow) == 1.0
    assert whole.any() and (dense(fast)[whole] == 1.0).all()  # a cell inside a square: exactly 1


def test_parquet_weights_read_by_arrow_equal_those_read_through_pandas(tmp_path, monkeypatch):
    """read_weights encodes the ids of a Parquet table with Arrow; the same weights, the same errors."""
    w = weights_of([box(0, 0, 100, 100), box(80, 0, 180, 100), box(5000, 0, 5010, 10)], [box(50, 0, 200, 100), box(0, 0, 50, 50)])
    path = gz.write_weights(w, tmp_path / "w.parquet")
    fast = gz.read_weights(path)
    monkeypatch.setattr(gz.weights_io, "_from_arrow", lambda *a: None)
    slow = gz.read_weights(path)
    assert list(fast.cell_ids) == list(slow.cell_ids) and list(fast.zone_ids) == list(slow.zone_ids)
    assert (fast.matrix != slow.matrix).nnz == 0 and np.array_equal(fast.outside, slow.outside) and fast.meta == slow.meta
    monkeypatch.undo()
    import pyarrow as pa
    import pyarrow.parquet as pq

    for rows, match in (({"cell_id": ["a", "b"], "zone_id": ["z", "z"], "weight": [0.5, 1.5]}, "weight 1.5 is not a number between 0 and 1"),
                        ({"cell_id": ["a", "a"], "zone_id": ["z", "z"], "weight": [0.5, 0.5]}, "cell 'a' and zone 'z' appear twice")):
        pq.write_table(pa.table(rows), tmp_path / "bad.parquet")
        with pytest.raises(WeightsError, match=match) as err:
            gz.read_weights(tmp_path / "bad.parquet")
        assert err.value.where == "row 1"


def test_zones_no_cell_reaches_are_counted_and_a_cut_list_says_so(caplog):
    """A probe's '6 zones reached by no cell' named five and no '...': the sixth seemed not to exist."""
    from geozones.inputs import check_unreached

    cov = metric_gdf([box(0, 0, 1000, 1000)], ["c0"], "cell_id")
    for n, tail in ((6, ", ..."), (5, "z5")):
        zones = metric_gdf([box(500, 0, 1500, 900)] + [box(5000 + 2000 * i, 0, 5500 + 2000 * i, 500) for i in range(n)],
                           ["z0"] + [f"z{i + 1}" for i in range(n)], "zone_id")
        caplog.clear()
        with caplog.at_level("WARNING", logger="geozones"):
            check_unreached(zones, gz.compute_weights(cov, zones), cov, ["zones.geojson"])
        said = [r.getMessage() for r in caplog.records if "reached by no cell" in r.getMessage()]
        assert len(said) == 1 and said[0].startswith(f"{n} zones reached by no cell") and said[0].endswith(tail), said
