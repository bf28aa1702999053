"""Zone files: every problem reported with its file, feature and a hint; grids; the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import geozones as gz
from geozones.errors import ZoneError

TO_M = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True)


def square(x, y, d=0.01):
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def feature(zid, coords, gtype="Polygon", name="zone", **props):
    p = {"zone_id": zid, "name": name, **props}
    if zid is None:
        del p["zone_id"]
    return {"type": "Feature", "properties": p, "geometry": None if coords is None else {"type": gtype, "coordinates": coords}}


def write(tmp_path, features, name="zones.geojson", **extra):
    p = tmp_path / name
    p.write_text(json.dumps({"type": "FeatureCollection", **extra, "features": features}))
    return p


def codes(report):
    return [p.code for p in report.problems]


def test_clean_file_with_other_properties(tmp_path):
    p = write(tmp_path, [feature("a", square(3.25, 50.82), kind="centre"), feature("b", square(3.27, 50.82))])
    r = gz.check_zones(p)
    assert r.ok and r.problems == []
    assert r.zones["zone_id"].tolist() == ["a", "b"] and r.zones["kind"].tolist()[0] == "centre"
    # a 0.01 x 0.01 degree square near Kortrijk, measured in Lambert 2008
    x, y = TO_M.transform([3.25, 3.26, 3.26, 3.25], [50.82, 50.82, 50.83, 50.83])
    assert r.zones["area_km2"].iloc[0] == pytest.approx(shapely.Polygon(list(zip(x, y))).area / 1e6, rel=1e-3)
    assert r.crs.to_epsg() == 3812


@pytest.mark.parametrize(
    "feat, code",
    [
        (feature(None, square(3.25, 50.82)), "missing-zone-id"),
        (feature("outside", square(3.25, 50.82)), "reserved-zone-id"),
        (feature("p", [3.25, 50.82], "Point"), "not-polygon"),
        (feature("e", None), "empty-geometry"),
        (feature("e2", []), "empty-geometry"),
        (feature("mp", [[], square(3.25, 50.82)], "MultiPolygon"), "empty-geometry"),  # found by tests/test_fuzz.py
        (feature("u", [[[3.25, 50.82], [3.26, 50.82], [3.26, 50.83], [3.25, 50.83]]]), "unclosed-ring"),
        (feature("deg", [[[3.25, 50.82], [3.26, 50.82], [3.25, 50.82]]]), "degenerate-ring"),  # (a mutation probe's: fuzz only)
        (feature("deg2", [[[3.25, 50.82], [3.25, 50.82]]]), "degenerate-ring"),
        (feature("bow", [[[3.25, 50.82], [3.26, 50.83], [3.26, 50.82], [3.25, 50.83], [3.25, 50.82]]]), "invalid-geometry"),
        (feature("proj", square(173000, 174000, 500)), "projected-coordinates"),
        (feature("swap", square(50.82, 93.25)), "swapped-lat-lon"),
        (feature("speck", square(3.25, 50.82, 1e-9)), "zero-area"),  # a valid polygon of about 1e-8 m²
        (feature("line", [[[4.70, 50.88], [4.71, 50.88], [4.72, 50.88], [4.70, 50.88]]]), "zero-area"),  # (was "self-intersection")
        (feature("lon200", square(200.0, 50.88)), "out-of-range"),  # (was "projected ... Belgian Lambert 72")
        (feature("world", [[[-179, -89], [179, -89], [179, 89], [-179, 89], [-179, -89]]]), "too-large"),  # (was "swap lat and lon")
    ],
)
def test_each_problem_names_file_feature_and_what_to_do(tmp_path, feat, code):
    p = write(tmp_path, [feature("ok", square(3.27, 50.82)), feat])
    r = gz.check_zones(p)
    assert code in codes(r)
    prob = next(x for x in r.problems if x.code == code)
    assert prob.path == str(p) and prob.where.startswith("features[1]") and prob.hint
    assert str(p) in str(prob) and "features[1]" in str(prob)
    assert not r.ok
    with pytest.raises(ZoneError) as exc:
        gz.read_zones(p)
    assert exc.value.problems and str(p) in str(exc.value)


def test_self_intersection_says_where_and_repair_reports_area_change(tmp_path):
    bow = [[[3.25, 50.82], [3.26, 50.83], [3.26, 50.82], [3.25, 50.83], [3.25, 50.82]]]
    p = write(tmp_path, [feature("bow", bow)])
    msg = str(gz.check_zones(p).problems[0])
    assert "self-intersection at (3.255 50.825)" in msg
    r = gz.check_zones(p, repair=True)
    assert r.ok and r.zones["geometry"].iloc[0].is_valid
    assert len(r.repairs) == 1 and np.isnan(r.repairs["change_pct"].iloc[0])  # (a bow tie's signed area is 0: no change from it)
    assert any(x.code == "repaired" and x.severity == "warning" for x in r.problems)
    said = next(x.message for x in r.problems if x.code == "repaired")
    assert "area now 0.39" in said and "no meaningful area" in said and "%" not in said


def test_repair_never_overwrites_the_zone_file_it_checks(tmp_path):
    """A probe's `zones check bow.geojson --repair --out bow.geojson` replaced its input."""
    bow = [[[3.25, 50.82], [3.26, 50.83], [3.26, 50.82], [3.25, 50.83], [3.25, 50.82]]]
    p = write(tmp_path, [feature("bow", bow)])
    before = p.read_bytes()
    r = run_cli("zones", "check", p, "--repair", "--out", p)
    assert r.returncode == 1 and "--out is one of the zone files checked" in r.stderr, r.stderr
    assert p.read_bytes() == before
    r = run_cli("zones", "check", p, "--repair", "--out", tmp_path / "fixed.geojson")
    assert r.returncode == 0 and (tmp_path / "fixed.geojson").is_file(), r.stderr


def test_unclosed_ring_is_closed_by_repair(tmp_path):
    p = write(tmp_path, [feature("u", [[[3.25, 50.82], [3.26, 50.82], [3.26, 50.83], [3.25, 50.83]]])])
    assert gz.check_zones(p, repair=True).ok


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    p = write(tmp_path, [feature(None, square(3.25, 50.82)), feature("p", [3.0, 50.0], "Point"), feature("a", square(3.27, 50.82)),
                         feature("a", square(3.29, 50.82))])
    assert codes(gz.check_zones(p)) == ["missing-zone-id", "not-polygon", "duplicate-zone-id"]


def test_duplicates_across_files_and_folders(tmp_path):
    d = tmp_path / "cat"
    d.mkdir()
    write(d, [feature("a", square(3.25, 50.82))], "1.geojson")
    write(d, [feature("a", square(3.27, 50.82))], "2.geojson")
    (d / "README.md").write_text("not a zone file")
    r = gz.check_zones(d)
    dup = [x for x in r.problems if x.code == "duplicate-zone-id"]
    assert len(dup) == 1 and dup[0].path.endswith("2.geojson") and "1.geojson" in dup[0].message


@pytest.mark.parametrize(
    "text, code, where",
    [
        ('{"type": "FeatureCollection", "features": [\n{"type": "Feature",', "not-json", "line 2"),
        ("", "empty-file", ""),
        ('{"type": "Feature", "properties": {}, "geometry": null}', "not-feature-collection", ""),
        ('{"type": "FeatureCollection", "features": []}', "no-features", "features"),
    ],
)
def test_file_level_problems(tmp_path, text, code, where):
    p = tmp_path / "z.geojson"
    p.write_text(text)
    r = gz.check_zones(p)
    assert codes(r) == [code] and where in r.problems[0].where


def test_foreign_crs_member_is_refused_but_crs84_accepted(tmp_path):
    f = [feature("a", square(3.25, 50.82))]
    bad = write(tmp_path, f, "l72.geojson", crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::31370"}})
    assert codes(gz.check_zones(bad)) == ["foreign-crs"]
    for i, name in enumerate(["urn:ogc:def:crs:OGC:1.3:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84",  # (a probe's last two: refused)
                              "http://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4326", "WGS84"]):
        ok = write(tmp_path, f, f"crs84_{i}.geojson", crs={"type": "name", "properties": {"name": name}})
        assert gz.check_zones(ok).ok, name
    for i, name in enumerate(["http://www.opengis.net/def/crs/EPSG/0/3812", "EPSG:4258", "", "not a crs"]):
        bad = write(tmp_path, f, f"other_{i}.geojson", crs={"type": "name", "properties": {"name": name}})
        assert codes(gz.check_zones(bad)) == ["foreign-crs"], name


@pytest.mark.parametrize("municipality", [None, "34022"])
def test_a_file_swapped_whole_is_caught_where_the_outlines_tell(tmp_path, municipality):
    """Every zone of a file swapped: the positions are valid both ways and no zone lies far
    from the others, so a probe's swapped Leuven and Kortrijk files passed 'zones check'.
    Against the bundled outlines (a zone's municipality, or Flanders and Brussels) they are
    caught; the same squares over Milan, swapped, are not called swapped (nothing tells)."""
    props = {"municipality": municipality} if municipality else {}
    swapped = [feature(f"z{i}", [[[y, x] for x, y in square(3.25 + 0.01 * i, 50.82)[0]]], **props) for i in range(3)]
    r = run_cli("zones", "check", write(tmp_path, swapped, "swapped.geojson"))
    assert r.returncode == 1 and r.stderr.count("latitude and longitude swapped") == 3, r.stderr
    milan = [feature(f"m{i}", [[[y, x] for x, y in square(9.18 + 0.01 * i, 45.46)[0]]]) for i in range(3)]
    r = run_cli("zones", "check", write(tmp_path, milan, "milan.geojson"))
    assert "swapped" not in r.stderr, r.stderr


def test_a_swapped_zone_far_from_the_others_is_caught(tmp_path):
    """Swapped positions that stay within the valid ranges are caught only against other zones."""
    fs = [feature(f"z{i}", square(3.25 + 0.02 * i, 50.82)) for i in range(4)]
    fs.append(feature("swapped", [[[y, x] for x, y in square(3.25, 50.84)[0]]]))
    r = gz.check_zones(write(tmp_path, fs))
    assert codes(r) == ["swapped-lat-lon"] and "features[4]" in r.problems[0].where


def test_overlaps_are_listed_with_their_areas(tmp_path):
    p = write(tmp_path, [feature("big", square(3.25, 50.82, 0.02)), feature("small", square(3.255, 50.825, 0.01)),
                         feature("apart", square(3.30, 50.82))])
    r = gz.check_zones(p)
    assert r.ok
    ov = r.overlaps
    assert ov[["zone_a", "zone_b"]].values.tolist() == [["big", "small"]]
    assert ov["share_of_b"].iloc[0] == pytest.approx(1.0, abs=1e-9)  # small lies inside big
    assert ov["overlap_km2"].iloc[0] == pytest.approx(r.zones.set_index("zone_id").loc["small", "area_km2"], rel=1e-9)


def test_write_zones_round_trip_is_rfc7946(tmp_path):
    p = write(tmp_path, [feature("a", square(3.25, 50.82), kind="x")])
    z = gz.read_zones(p)
    out = gz.write_zones(z, tmp_path / "out.geojson")
    data = json.loads(out.read_text())
    assert "crs" not in data and data["features"][0]["properties"]["zone_id"] == "a"
    assert gz.check_zones(out).ok


def test_square_and_h3_grids_cover_the_area():
    area = shapely.box(3.25, 50.82, 3.28, 50.84)
    sq = gz.square_grid(area, 500)
    assert sq["zone_id"].is_unique
    m = sq.to_crs(3812)
    np.testing.assert_allclose(m.area, 250_000, rtol=1e-6)
    a = shapely.transform(area, lambda xy: np.column_stack(TO_M.transform(xy[:, 0], xy[:, 1])))
    assert shapely.union_all(m.geometry.values).contains(a)
    import h3

    hx = gz.h3_grid(area, 9)
    assert hx["zone_id"].is_unique and all(h3.get_resolution(c) == 9 for c in hx["zone_id"])
    assert shapely.union_all(hx.geometry.values).buffer(1e-9).contains(area)
    # odd resolutions near Gent: cells an icosahedron edge crosses have 7 or 8 vertices
    # (an array of polygons all of 6 was an internal error there, stop 40's probe)
    gent = shapely.box(3.79, 51.14, 3.83, 51.18)  # (north of Gent)
    for res in (7, 9):
        hx = gz.h3_grid(gent, res)
        n = np.array([len(h3.cell_to_boundary(c)) for c in hx["zone_id"]])
        assert hx.geometry.is_valid.all() and (shapely.get_num_coordinates(hx.geometry.values) == n + 1).all()
        assert shapely.union_all(hx.geometry.values).buffer(1e-9).contains(gent)
    assert (n > 6).any()  # (the case is in the test)


from .conftest import run_cli  # noqa: E402


def geozones(*args):
    return run_cli(*args)


def test_cli_exit_codes_and_one_line_errors(tmp_path):
    good = write(tmp_path, [feature("a", square(3.25, 50.82))], "good.geojson")
    bad = write(tmp_path, [feature(None, square(3.25, 50.82))], "bad.geojson")
    r = geozones("zones", "check", good)
    assert r.returncode == 0 and "a " in r.stdout and "km²" in r.stdout
    r = geozones("zones", "check", bad)
    assert r.returncode == 1 and "Traceback" not in r.stderr and f"{bad}: features[0]" in r.stderr
    r = geozones("zones", "check")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = geozones("zones", "check", tmp_path / "missing.geojson")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    r = geozones("zones", "check", good, "--json")
    assert json.loads(r.stdout)["ok"] is True


def test_cli_grid_writes_a_zone_file_that_checks(tmp_path):
    area = write(tmp_path, [feature("a", square(3.25, 50.82, 0.02))], "area.geojson")
    out = tmp_path / "grid.geojson"
    assert geozones("zones", "grid", "--area", area, "--size", 250, "--out", out).returncode == 0
    assert geozones("zones", "check", out).returncode == 0
    out_h3 = tmp_path / "h3.geojson"
    assert geozones("zones", "grid", "--area", area, "--h3", 9, "--out", out_h3).returncode == 0
    assert gz.check_zones(out_h3).ok
    r = geozones("zones", "grid", "--area", area, "--out", tmp_path / "none.geojson")
    assert r.returncode == 2 and not (tmp_path / "none.geojson").exists()
    # a folder of zone files, as --zones takes it (a probe's was an internal error)
    folder = tmp_path / "zones"
    folder.mkdir()
    write(folder, [feature("a", square(3.25, 50.82, 0.02))], "a.geojson")
    write(folder, [feature("b", square(3.30, 50.82, 0.02))], "b.geojson")
    r = geozones("zones", "grid", "--area", folder, "--size", 1000, "--out", tmp_path / "both.geojson")
    assert r.returncode == 0, r.stderr
    both = gz.read_zones(tmp_path / "both.geojson")
    assert both.total_bounds[0] < 3.25 and both.total_bounds[2] > 3.32  # (both files' areas covered)
    # an H3 grid of more than a million cells is refused at once (a probe's resolution 13 over Gent ran for ten minutes and more)
    big = write(tmp_path, [feature("c", square(3.2, 50.8, 0.1))], "big.geojson")  # (about 80 km2: 1.8 million cells of resolution 13)
    r = geozones("zones", "grid", "--area", big, "--h3", 13, "--out", tmp_path / "h3big.geojson")
    assert r.returncode == 1 and "choose a lower resolution" in r.stderr and not (tmp_path / "h3big.geojson").exists(), r.stderr


def test_clean_files_are_read_in_bulk_as_feature_by_feature():
    """A clean file takes the bulk path; its records equal the checker's, feature by feature."""
    from geozones import _zonefile as Z
    from geozones import zones as ZZ

    sq = [[4.0, 50.0], [4.01, 50.0], [4.01, 50.01], [4.0, 50.01], [4.0, 50.0]]
    hole = [[4.002, 50.002], [4.004, 50.002], [4.004, 50.004], [4.002, 50.002]]
    far = [[[4.1, 50.1], [4.11, 50.1], [4.11, 50.11], [4.1, 50.1]]]
    feats = [
        {"type": "Feature", "properties": {"zone_id": " a ", "name": "A", "x": 1}, "geometry": {"type": "Polygon", "coordinates": [sq, hole]}},
        {"type": "Feature", "properties": {"name": 7, "zone_id": 12}, "geometry": {"type": "MultiPolygon", "coordinates": [[sq, hole], far]}},
        {"type": "Feature", "properties": {"zone_id": "c", "name": "C"}, "geometry": {"type": "MultiPolygon", "coordinates": [far]}},
        {"type": "Feature", "properties": {"zone_id": "d", "name": "D"}, "geometry": {"type": "Polygon", "coordinates": [["4.2", 50.2], [4.21, 50.2], [4.21, 50.21], ["4.2", 50.2]]}},
    ]
    feats[3]["geometry"]["coordinates"] = [feats[3]["geometry"]["coordinates"]]
    bulk = Z.clean_features(feats)
    assert bulk is not None
    for i, (feat, rec) in enumerate(zip(feats, bulk)):
        one, problems, _ = ZZ._check_feature("f", i, feat, False)
        assert problems == []
        assert list(rec) == list(one) and {k: v for k, v in rec.items() if k != "geometry"} == {k: v for k, v in one.items() if k != "geometry"}
        assert shapely.to_wkb(rec["geometry"]) == shapely.to_wkb(one["geometry"])
    assert [shapely.get_type_id(r["geometry"]) for r in bulk] == [3, 6, 6, 3]
    # anything the checker would say something about leaves the bulk path
    for bad in ({"zone_id": "a"}, {"zone_id": 1.0, "name": "x"}, {"zone_id": True, "name": "x"}, {"zone_id": "outside", "name": "x"}):
        assert Z.clean_features([dict(feats[0], properties=bad)]) is None
    open_ring = dict(feats[2], geometry={"type": "Polygon", "coordinates": [sq[:-1]]})
    bow = dict(feats[2], geometry={"type": "Polygon", "coordinates": [[[4, 50], [4.01, 50.01], [4.01, 50], [4, 50.01], [4, 50]]]})
    z3 = dict(feats[2], geometry={"type": "Polygon", "coordinates": [[p + [0.0] for p in sq]]})
    for bad in (open_ring, bow, z3, dict(feats[2], geometry=None), dict(feats[2], geometry={"type": "Point", "coordinates": [4, 50]})):
        assert Z.clean_features([feats[0], bad]) is None


_JUNK = [None, True, 0, 1.5, "x", "", [], {}, [1], [[1, 2]], [[[1, 2, 3]]], float("nan"), "outside", 1e300, [[[4.0, 50.0]] * 5]]


def test_the_bulk_path_never_accepts_what_the_checker_would_not():
    """Seeded damage anywhere in a clean file's features (any key or position set to junk):
    the bulk path either steps aside (None) or gives exactly the checker's records, and the
    checker finds nothing to say about them."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from geozones import _zonefile as Z
    from geozones import zones as ZZ

    sq = [[4.0, 50.0], [4.01, 50.0], [4.01, 50.01], [4.0, 50.01], [4.0, 50.0]]
    hole = [[4.002, 50.002], [4.004, 50.002], [4.004, 50.004], [4.002, 50.002]]
    base = [
        {"type": "Feature", "properties": {"zone_id": "a", "name": "A", "x": 1}, "geometry": {"type": "Polygon", "coordinates": [sq, hole]}},
        {"type": "Feature", "properties": {"zone_id": 7, "name": "B"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[sq], [[[p[0] + 0.1, p[1]] for p in sq]]]}},
    ]

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.integers(0, 7), min_size=1, max_size=7), st.sampled_from(_JUNK))
    def check(path, junk):
        import copy

        feats = copy.deepcopy(base)
        node = feats
        for step in path[:-1]:
            if isinstance(node, dict) and node:
                node = node[sorted(node)[step % len(node)]]
            elif isinstance(node, list) and node:
                node = node[step % len(node)]
            else:
                break
        else:
            if isinstance(node, dict) and node:
                node[sorted(node)[path[-1] % len(node)]] = copy.deepcopy(junk)
            elif isinstance(node, list) and node:
                node[path[-1] % len(node)] = copy.deepcopy(junk)
        bulk = Z.clean_features(feats)
        if bulk is None:
            return
        for i, (feat, rec) in enumerate(zip(feats, bulk)):
            one, problems, _ = ZZ._check_feature("f", i, feat, False)
            assert problems == [] and one is not None
            assert {k: v for k, v in rec.items() if k != "geometry"} == {k: v for k, v in one.items() if k != "geometry"}
            assert shapely.to_wkb(rec["geometry"]) == shapely.to_wkb(one["geometry"])

    check()


def test_check_with_cells_reads_an_x_y_plan_with_its_crs(small_case):
    """``zones check --cells`` takes ``--crs`` for a plan of x, y columns, as ``preview``,
    ``weights`` and ``apportion`` do (it was refused as an unknown option)."""
    import pandas as pd

    c = small_case
    plan = pd.read_csv(c["cells"])
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True).transform(plan["lon"], plan["lat"])
    xy = c["tmp"] / "cells_xy.csv"
    plan.drop(columns=["lon", "lat"]).assign(x=x, y=y).to_csv(xy, index=False)
    r = run_cli("zones", "check", c["zones"], "--cells", xy, "--json")
    assert r.returncode == 1 and "--crs" in r.stderr
    r = run_cli("zones", "check", c["zones"], "--cells", xy, "--crs", "EPSG:31370", "--json")
    assert r.returncode == 0, r.stderr
    same = run_cli("zones", "check", c["zones"], "--cells", c["cells"], "--json")
    assert json.loads(r.stdout)["zones"] == json.loads(same.stdout)["zones"]


def test_a_zone_id_of_true_is_one_problem_not_two(tmp_path):
    """``"zone_id": true`` is not a text: said once, not also "has no zone_id" (stop 40's probe)."""
    r = gz.check_zones(write(tmp_path, [feature(True, square(3.25, 50.82)), feature("b", square(3.27, 50.82))]))
    assert codes(r) == ["bad-zone-id"], codes(r)


def test_zones_check_judges_zones_against_coverage_polygons(tmp_path):
    """A Milan probe had only the operator's coverage polygons (the Telecom Italia grid):
    'zones check --cells' said "use --model given" and then refused --model given."""
    import geopandas as gpd
    import shapely

    from .conftest import run_cli

    squares = gpd.GeoDataFrame({"cell_id": [f"q{i}" for i in range(16)]},
                               geometry=[shapely.box(9.18 + 0.003 * (i % 4), 45.46 + 0.002 * (i // 4), 9.183 + 0.003 * (i % 4), 45.462 + 0.002 * (i // 4))
                                         for i in range(16)], crs="EPSG:4326")
    cov = tmp_path / "grid.geojson"
    squares.to_file(cov, driver="GeoJSON")
    zones = gpd.GeoDataFrame({"zone_id": ["big", "tiny"], "name": ["Big", "Tiny"]},
                             geometry=[shapely.box(9.1801, 45.4601, 9.1919, 45.4679), shapely.box(9.1851, 45.4641, 9.1856, 45.4644)], crs="EPSG:4326")
    zpath = tmp_path / "zones.geojson"
    zones.to_file(zpath, driver="GeoJSON")
    for extra in ([], ["--model", "given"]):
        r = run_cli("zones", "check", zpath, "--cells", cov, *extra)
        assert r.returncode == 0, r.stderr
        assert "zone_id 'tiny'" in r.stderr and "cannot resolve" in r.stderr and "zone_id 'big'" not in r.stderr, r.stderr
    # the preview and the drawing page take them too (they had asked for a cell plan)
    out, page = tmp_path / "preview.html", tmp_path / "draw.html"
    for extra in ([], ["--model", "given"]):
        r = run_cli("zones", "preview", "--zones", zpath, "--cells", cov, "--out", out, *extra)
        assert r.returncode == 0, r.stderr
        assert "warning: zone 'tiny'" in r.stderr and "warning: zone 'big'" not in r.stderr and "(model given" in r.stderr, r.stderr
        html = out.read_text()
        assert "Coverage: given polygons" in html and "q15" in html and "Coverage: Voronoi" not in html
        r = run_cli("zones", "draw", "--cells", cov, "--zones", zpath, "--out", page, *extra)
        assert r.returncode == 0, r.stderr
        assert "Coverage: given polygons" in page.read_text()


def test_a_zone_file_of_another_format_in_a_folder_is_refused_not_skipped(tmp_path):
    """A Gent probe's zones folder held a GeoJSON and a GeoPackage: 'zones check' passed
    and never named the GeoPackage, whose zones would have been missing from every run."""
    import geopandas as gpd
    import shapely

    folder = tmp_path / "zones"
    folder.mkdir()
    write(folder, [feature("a", square(3.26, 50.82))], name="a.geojson")
    gpd.GeoDataFrame({"zone_id": ["b"]}, geometry=[shapely.box(3.27, 50.82, 3.28, 50.83)], crs="EPSG:4326").to_file(
        folder / "b.gpkg", driver="GPKG")
    (folder / "notes.txt").write_text("drawn by the GIS team")
    report = gz.check_zones([folder])
    assert not report.ok and [(p.code, p.path.endswith("b.gpkg")) for p in report.errors] == [("not-geojson", True)]
    with pytest.raises(ZoneError, match=r"b\.gpkg.*GeoPackage"):
        gz.read_zones([folder])


def test_a_zone_across_its_municipalitys_border_is_warned_about(tmp_path):
    """A Gent probe's zone lay 42% in Merelbeke with municipality 44021: its Merelbeke part's
    people of Gent were counted as residents and Merelbeke's as visitors, with no word."""
    import geopandas as gpd
    import shapely

    from geozones.maps import bundled_outlines

    from .conftest import run_cli

    ref = bundled_outlines()
    ref = ref[ref["kind"] == "municipality"].set_index(ref["code"].astype(str)[ref["kind"] == "municipality"])
    kortrijk, harelbeke = ref.loc["34022"].geometry, ref.loc["34013"].geometry
    on_border = shapely.intersection(kortrijk.boundary, harelbeke.boundary).representative_point()
    inside = kortrijk.representative_point()
    zones = gpd.GeoDataFrame({"zone_id": ["across", "inside", "no_home"], "municipality": ["34022", "34022", None]},
                             geometry=[on_border.buffer(0.004), inside.buffer(0.002), on_border.buffer(0.004)], crs="EPSG:4326")
    zpath = tmp_path / "zones.geojson"
    zones.to_file(zpath, driver="GeoJSON")
    r = run_cli("zones", "check", zpath)
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if "outside its municipality" in line]
    assert len(said) == 1 and "features[0] (zone_id 'across')" in said[0] and "34022" in said[0], r.stderr
    share = float(re.search(r"(\d+)% of the zone", said[0]).group(1)) / 100
    truth = 1 - zones.to_crs("EPSG:3812").geometry.iloc[0].intersection(
        gpd.GeoSeries([kortrijk], crs="EPSG:4326").to_crs("EPSG:3812").iloc[0]).area / zones.to_crs("EPSG:3812").geometry.iloc[0].area
    assert 0.2 < share < 0.8 and abs(share - truth) < 0.01
    # a run notes it too (-v; its residents are set apart by the same property)
    import logging

    from geozones.runfiles import warn_outside_home

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("geozones")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        warn_outside_home(zones, {"across": "34022", "inside": "34022"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [r.getMessage().split(":")[0] for r in records] == ["zone 'across'"]


def test_a_zone_naming_no_belgian_municipality_is_warned_about_in_the_check_and_the_run(tmp_path, small_case, caplog):
    """A probe's zone with `municipality: "99999"` passed `zones check` and a run without a
    word, and lost its residents among the visitors."""
    import geopandas as gpd

    zones = gpd.read_file(small_case["zones"])
    zones["municipality"] = ["34022", "99999"][: len(zones)] + ["34022"] * max(len(zones) - 2, 0)
    zpath = tmp_path / "zones.geojson"
    zones.to_file(zpath, driver="GeoJSON")
    r = run_cli("zones", "check", zpath)
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if "99999" in line]
    assert len(said) == 1 and "not a Belgian municipality's code" in said[0] and f"(zone_id {zones.zone_id.iloc[1]!r})" in said[0], r.stderr
    counts = tmp_path / "counts.csv"
    counts.write_text(small_case["counts"].read_text())
    with caplog.at_level("WARNING", logger="geozones"):
        r = run_cli("apportion", "--zones", zpath, "--cells", small_case["cells"], "--counts", counts, "--out", tmp_path / "o", "--no-map")
    assert r.returncode == 0, r.stderr
    assert "not a Belgian municipality code (e.g. zone" in r.stderr + caplog.text, r.stderr
    # a Belgian municipality that no count has, beside one that is counted: said for that zone
    zones["municipality"] = ["34013", "34022"][: len(zones)] + ["34022"] * max(len(zones) - 2, 0)
    zones.to_file(zpath, driver="GeoJSON")
    caplog.clear()
    with caplog.at_level("WARNING", logger="geozones"):
        r = run_cli("apportion", "--zones", zpath, "--cells", small_case["cells"], "--counts", counts, "--out", tmp_path / "o2", "--no-map")
    assert r.returncode == 0, r.stderr
    assert f"1 zone naming a municipality that no count has (e.g. zone {zones.zone_id.iloc[0]!r}: 34013)" in r.stderr + caplog.text, r.stderr


def _speck_case(tmp, with_speck: bool = True):
    """Two 2 x 4 km zones, four omnidirectional cells, three days; ``speck``, a 10 m square
    inside ``east``, is under k every day."""
    import geopandas as gpd

    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    x0, y0 = 668_000.0, 667_000.0

    def ll(g):
        return shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))

    boxes = {"west": (x0 - 2000, y0 - 2000, x0, y0 + 2000), "east": (x0, y0 - 2000, x0 + 2000, y0 + 2000),
             "speck": (x0 + 1500, y0 + 500, x0 + 1510, y0 + 510)}
    if not with_speck:
        del boxes["speck"]
    zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes)}, geometry=[ll(shapely.box(*b)) for b in boxes.values()], crs=4326)
    gz.write_zones(zones, tmp / "zones.geojson")
    sites = [to_ll.transform(x, y) for x, y in [(x0 - 1000, y0), (x0 + 1000, y0), (x0 + 1000, y0 + 1200), (x0 - 1000, y0 + 1200)]]
    (tmp / "cells.csv").write_text("cell_id,site_id,lon,lat,azimuth,beamwidth,range_m\n"
                                   + "".join(f"C{i},S{i},{lon},{lat},,,900\n" for i, (lon, lat) in enumerate(sites)))
    (tmp / "counts.csv").write_text("cell_id,period_start,period,count,origin\n"
                                    + "".join(f"C{i},2026-07-0{d + 1}T00:00,1d,{300 + 10 * i + d},30000\n" for d in range(3) for i in range(4)))


def test_a_speck_inside_a_zone_is_named_as_what_hides_it(tmp_path):
    """A probe's 100 m² square inside Gent's centre neighbourhood cost the neighbourhood all
    96 of its figures; `zones check --cells` spoke of the square alone and the run named
    neither. Here ``east`` (about 600 people a day) is hidden every day while ``speck``
    is in it, and published without it; the check and the run both name the pair."""
    from .conftest import run_cli

    _speck_case(tmp_path)
    r = run_cli("zones", "check", tmp_path / "zones.geojson", "--cells", tmp_path / "cells.csv", "--model", "voronoi")
    line = next(x for x in r.stdout.splitlines() + r.stderr.splitlines() if "'speck'" in x and "cannot resolve" in x)
    assert "100 m²" in line and "zones that hold it ('east')" in line, line
    r = run_cli("apportion", "--zones", tmp_path / "zones.geojson", "--cells", tmp_path / "cells.csv", "--counts", tmp_path / "counts.csv",
                "--out", tmp_path / "out", "--model", "voronoi", "--period", "1d", "--heat-grid", 0, "--no-map")
    assert r.returncode == 0, r.stderr
    assert "'east' (its 'all' published in 0 of 4 periods) holds 'speck', published nowhere" in r.stderr, r.stderr
    # (zones.geojson: one set of properties for every feature, as a GIS's attribute table wants; figures as whole numbers)
    feats = {f["properties"]["zone_id"]: f["properties"] for f in json.loads((tmp_path / "out" / "zones.geojson").read_text())["features"]}
    assert len({tuple(p) for p in feats.values()}) == 1
    assert feats["east"]["visitors"] is None and feats["east"]["estimate_low"] is None
    assert isinstance(feats["west"]["visitors"], int) and isinstance(feats["west"]["estimate_high"], int)
    (tmp_path / "b").mkdir()
    _speck_case(tmp_path / "b", with_speck=False)
    b = tmp_path / "b"
    r = run_cli("apportion", "--zones", b / "zones.geojson", "--cells", b / "cells.csv", "--counts", b / "counts.csv", "--out", b / "out",
                "--model", "voronoi", "--period", "1d", "--heat-grid", 0, "--no-map")
    assert r.returncode == 0 and "published nowhere" not in r.stderr, r.stderr
    import pandas as pd

    t = pd.read_csv(b / "out" / "zone_counts.csv")
    assert (t.loc[t["zone_id"] == "east", "status"] == "published").all()


def test_a_zone_no_cell_reaches_is_told_to_move_or_bring_its_cells(tmp_path):
    """A probe's zone at De Panne, far from Gent's plan, was told to "enlarge the zone or
    merge it with a neighbour"; the advice is the plan's area."""
    from .conftest import run_cli

    _speck_case(tmp_path)
    import geopandas as gpd

    z = gpd.read_file(tmp_path / "zones.geojson")
    far = z.iloc[[0]].copy()
    far["zone_id"], far["name"] = "far", "far"
    far["geometry"] = far.geometry.translate(0.5, 0.0)
    gz.write_zones(gpd.GeoDataFrame(pd.concat([z, far], ignore_index=True), crs=z.crs), tmp_path / "zones.geojson")
    r = run_cli("zones", "check", tmp_path / "zones.geojson", "--cells", tmp_path / "cells.csv", "--model", "voronoi")
    line = next(x for x in (r.stdout + r.stderr).splitlines() if "'far'" in x)
    assert "no cell's coverage reaches this zone" in line and "is the zone where the cell plan is?" in line, line


def test_a_feature_without_zone_id_names_its_properties_once(tmp_path):
    """A probe's raw shapefile columns (geoitem, naam): every feature had "has no zone_id"
    and "has no name; the zone_id is used as its name" (which it had not)."""
    bare = {"type": "Feature", "properties": {"geoitem": "44021W01", "naam": "Binnenstad"},
            "geometry": {"type": "Polygon", "coordinates": square(3.25, 50.82)}}
    r = gz.check_zones(write(tmp_path, [bare]))
    assert codes(r) == ["missing-zone-id"]
    assert "its properties: geoitem, naam" in r.problems[0].hint


def test_a_municipality_of_the_2025_mergers_is_a_belgian_municipality(tmp_path, small_case, caplog):
    """A probe's Hasselt zones (71072, the 2025 merger's code, which counts accept) were
    warned about as 'not a Belgian municipality code: residents counted among the visitors'
    by the check and the run, while the run set their residents apart."""
    import geopandas as gpd

    zones = gpd.read_file(small_case["zones"])
    zones["municipality"] = "71072"
    zpath = tmp_path / "zones.geojson"
    zones.to_file(zpath, driver="GeoJSON")
    r = run_cli("zones", "check", zpath)
    assert r.returncode == 0 and "not a Belgian municipality" not in r.stderr, r.stderr
    counts = tmp_path / "counts.csv"
    counts.write_text(small_case["counts"].read_text().replace(",34022", ",71072"))
    with caplog.at_level("WARNING", logger="geozones"):
        r = run_cli("apportion", "--zones", zpath, "--cells", small_case["cells"], "--counts", counts, "--out", tmp_path / "o", "--no-map")
    assert r.returncode == 0, r.stderr
    assert "not a Belgian municipality" not in r.stderr + caplog.text, r.stderr
    t = pd.read_csv(tmp_path / "o" / "zone_counts.csv", dtype={"origin": str})
    assert "resident" in set(t["origin"]) and "71072" not in set(t["origin"])


def test_zones_on_an_outline_of_2024_beside_counts_under_2025_codes_are_told_which_code(tmp_path, small_case):
    """Stop 55 left it: zones drawn on Hasselt's outline of 2024 (71022) beside counts of 2026
    (71072, the merger's code) set nobody apart with a warning that the counts lack the code,
    and the report named 71072 by its code. Both codes stay valid origins (operators use both
    for a while); the warning now says which code to give, and the 2025 codes have names."""
    import geopandas as gpd

    from geozones.origins import normalize_origins, origin_names

    norm, levels = normalize_origins(pd.Series(["71022", "73040", "71072", "46030"]))
    assert list(norm) == ["71022", "73040", "71072", "46030"] and set(levels) == {"municipality"}
    assert origin_names(["71072", "46030", "37022", "71022"]) == {
        "71072": "Hasselt", "46030": "Beveren-Kruibeke-Zwijndrecht", "37022": "Tielt", "71022": "Hasselt"}
    zones = gpd.read_file(small_case["zones"])
    zones["municipality"] = "71022"
    zpath = tmp_path / "zones.geojson"
    zones.to_file(zpath, driver="GeoJSON")
    text = small_case["counts"].read_text()
    assert ",34022" in text
    counts = tmp_path / "counts.csv"
    counts.write_text(text.replace(",34022", ",71072"))
    r = run_cli("apportion", "--zones", zpath, "--cells", small_case["cells"], "--counts", counts, "--out", tmp_path / "o", "--no-map")
    assert r.returncode == 0, r.stderr
    assert "the zones' 71022 is part of 71072 (Hasselt) since the 2025 mergers" in r.stderr, r.stderr
    assert "give the zones the code the counts use (municipality 71072)" in r.stderr


def test_zones_check_with_cells_says_swapped_coordinates_anywhere(tmp_path):
    """A probe's French zone file with every position [lat, lon] passed `zones check`, and with
    --cells read 'is it the cell plan of this area?', while a run said 'latitude and longitude
    look swapped' (the check's own swap test knows Flanders and Brussels only)."""
    cells = tmp_path / "cells.csv"
    cells.write_text("cell_id,lon,lat,range_m\nA,2.35,48.85,2000\nB,2.37,48.85,2000\n")
    zones = write(tmp_path, [feature("paris", [[[y, x] for x, y in ring] for ring in square(2.34, 48.84, 0.03)])], "swapped.geojson")
    r = geozones("zones", "check", zones, "--cells", cells)
    assert "swapped" in r.stderr and "is it the cell plan of this area" not in r.stderr, r.stderr
