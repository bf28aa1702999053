"""Zone authoring: fit figures on hand-made geometry, thin differences, the preview and drawing pages.

The pages are opened in Debian's Chromium, headless, with the network cut (as in
tests/test_browser.py); the drawing page is driven through its own controls and its
download is checked with 'geozones zones check'.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

import geozones as gz
from geozones.authoring_checks import MAX_CELL_ZONE_RATIO, MIN_CELL_SHARE
from geozones.intervals import APPORTIONING

from .conftest import X0, Y0

M = "EPSG:3812"
TO_LL = pyproj.Transformer.from_crs(M, "EPSG:4326", always_xy=True)
TO_M = pyproj.Transformer.from_crs("EPSG:4326", M, always_xy=True)


def ll(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(TO_LL.transform(xy[:, 0], xy[:, 1])))


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


from .conftest import run_cli  # noqa: E402


def cli_here(capsys, *args):
    """The command line in this process (as main() runs it): (exit code, stdout, stderr)."""
    from geozones.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


# ----------------------------------------------------------------------------- fit figures
@pytest.fixture
def hand_made():
    """Given coverage in metres: A and B side by side (1 km² each), C a 4 km² cell further east."""
    cov = gpd.GeoDataFrame(
        {"cell_id": ["A", "B", "C"]},
        geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(5000, 0, 7000, 2000)],
        crs=M,
    )
    zones = gpd.GeoDataFrame(
        {"zone_id": ["equal", "tiny", "straddle", "nowhere"], "name": ["Equal to A", "Tiny in C", "Straddles", "No cell"]},
        geometry=[
            box(0, 0, 1000, 1000),  # exactly cell A's coverage
            box(6000, 1000, 6050, 1050),  # 50 m x 50 m inside C
            box(750, 0, 1750, 1000),  # a quarter of A, three quarters of B
            box(20000, 0, 21000, 1000),  # no cell reaches it
        ],
        crs=M,
    )
    return cov, zones


def test_fit_exact_on_hand_made_geometry(hand_made):
    cov, zones = hand_made
    w = gz.compute_weights(cov, zones)
    fit = gz.zone_resolution(w, zones, cov, k=30, share=0.4).set_index("zone_id")

    eq = fit.loc["equal"]
    assert eq.n_cells == 1
    assert eq.cell_share == pytest.approx(1.0)
    assert eq.fit == pytest.approx(1.0) and eq.outside_share == pytest.approx(0.0)
    assert eq.area_km2 == pytest.approx(1.0) and eq.cell_km2_min == pytest.approx(1.0)
    assert eq.min_population == pytest.approx(75.0)  # 30 subscribers at 40%
    assert eq.people_per_cell == pytest.approx(75.0)
    assert eq.status == "ok" and not eq.flagged

    tiny = fit.loc["tiny"]
    share_of_c = 50 * 50 / 4e6
    assert tiny.n_cells == 1
    assert tiny.cell_share == pytest.approx(share_of_c)
    assert tiny.fit == pytest.approx(0.0)  # all of its figure comes from a cell lying mostly outside it
    assert tiny.cell_km2_min / tiny.area_km2 == pytest.approx(4 / 0.0025)
    assert tiny.people_per_cell == pytest.approx(30 / (0.4 * share_of_c))
    assert tiny.status == "too small, coarse, unreliable" and tiny.flagged  # and under 0.25 km² with fit 0

    st = fit.loc["straddle"]
    assert st.n_cells == 2
    assert st.cell_share == pytest.approx(1.0)
    assert st.outside_share == pytest.approx(0.25)  # A gives a quarter of it and lies mostly outside
    assert st.fit == pytest.approx(0.75)
    assert st.cell_km2 == pytest.approx(1.0)
    assert st.status == "ok"

    no = fit.loc["nowhere"]
    assert no.n_cells == 0 and no.status == "no cell" and no.flagged and math.isinf(no.people_per_cell)

    c = gz.zone_contributions(w)
    s = c[c["zone_id"] == "straddle"]
    assert s["cell_id"].tolist() == ["B", "A"]
    assert s["share_of_figure"].to_numpy() == pytest.approx([0.75, 0.25])
    assert s["mostly_outside"].tolist() == [False, True]


def test_fit_thresholds_are_the_documented_ones(hand_made):
    cov, _ = hand_made
    # a zone of exactly MIN_CELL_SHARE of cell A is not too small; a little less is
    edge = MIN_CELL_SHARE * 1000
    zones = gpd.GeoDataFrame(
        {"zone_id": ["at", "below", "coarse", "spread"], "name": ["at", "below", "coarse", "spread"]},
        geometry=[box(0, 0, edge, 1000), box(1000, 0, 1000 + edge - 10, 1000), box(5000, 0, 7000, 2000 / (MAX_CELL_ZONE_RATIO + 1)),
                  box(600, 0, 1400, 1000)],  # 0.4 of A and 0.4 of B: enough of the cells, but both lie mostly outside it
        crs=M,
    )
    w = gz.compute_weights(cov, zones)
    assert gz.zone_resolution(w, zones, cov).set_index("zone_id").loc["at", "error_90"] == pytest.approx(np.expm1(APPORTIONING["voronoi"][("0.25-1", "good")]))  # (Voronoi's)
    w.meta["model"] = "footprint"  # the default model's measurement for this size and fit
    fit = gz.zone_resolution(w, zones, cov).set_index("zone_id")
    assert fit.loc["at", "status"] == "ok"  # half of A, which counts as inside: fit 1, 0.5 km²
    assert fit.loc["at", "error_90"] == pytest.approx(np.expm1(APPORTIONING["footprint"][("0.25-1", "good")]))
    # half a cell less 10 m, which lies mostly outside: fit 0, so unreliable too (docs/accuracy.md)
    assert fit.loc["below", "status"] == "too small, unreliable"
    # 4 km² against 4/11 km²: the cell is 11 times the zone, but the zone gets 1/11 of it: too small too
    assert fit.loc["coarse", "status"] == "too small, coarse, unreliable"
    # the accuracy rule alone: 0.8 of a cell and no coarse cell, but fit 0
    assert fit.loc["spread", "cell_share"] == pytest.approx(0.8) and fit.loc["spread", "fit"] == pytest.approx(0.0)
    assert fit.loc["spread", "status"] == "unreliable"


def test_fit_refuses_zones_missing_from_the_weights(hand_made):
    cov, zones = hand_made
    w = gz.compute_weights(cov, zones.iloc[:2])
    with pytest.raises(gz.WeightsError, match="straddle"):
        gz.zone_resolution(w, zones, cov)


# ------------------------------------------------------------------- thin differences
def _grid_cells(tmp_path, step=250, reach=200):
    """Omnidirectional cells every ``step`` metres over a 2 x 2 km square around the zones."""
    rows = ["cell_id,site_id,lon,lat,azimuth,beamwidth,range_m"]
    for i, x in enumerate(range(-500, 1501, step)):
        for j, y in enumerate(range(-500, 1501, step)):
            lon, lat = TO_LL.transform(X0 + x, Y0 + y)
            rows.append(f"c{i}_{j},s{i}_{j},{lon:.7f},{lat:.7f},,,{reach}")
    p = tmp_path / "cells.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def _zone_file(tmp_path, name, zones):
    gdf = gpd.GeoDataFrame(
        {"zone_id": [z for z, _ in zones], "name": [z.title() for z, _ in zones]},
        geometry=[ll(g) for _, g in zones],
        crs="EPSG:4326",
    )
    p = tmp_path / name
    gz.write_zones(gdf, p)
    return p


def test_check_warns_about_a_zone_whose_inner_zones_leave_only_slivers(tmp_path, capsys):
    """A probe's municipality beside its neighbourhoods, drawn from another map: the rest
    outside them is slivers of 0.1% of its area, whose few people the audit protects by
    hiding the municipality's figures; zones check --cells said nothing of it."""
    cells = _grid_cells(tmp_path)
    halves = [("west", box(0, 0, 495, 1000)), ("east", box(505, 0, 1000, 1000))]
    sliver = _zone_file(tmp_path, "sliver.geojson", [("all", box(0, 0, 1000, 1000)), *halves])
    exact = _zone_file(tmp_path, "exact.geojson", [("all", box(0, 0, 1000, 1000)), ("west", box(0, 0, 500, 1000)), ("east", box(500, 0, 1000, 1000))])
    r = run_cli("zones", "check", sliver, "--cells", cells, "--json")
    assert r.returncode == 0, r.stderr
    found = [p for p in json.loads(r.stdout)["problems"] if p["code"] == "thin-rest"]
    assert len(found) == 1 and "'all' minus the 2 zones inside it" in found[0]["message"] and "0.010 km²" in found[0]["message"], found
    r = run_cli("zones", "check", exact, "--cells", cells, "--json")
    assert r.returncode == 0 and "thin-rest" not in r.stdout, r.stdout


def test_check_warns_about_a_zone_and_the_same_zone_plus_a_thin_strip(tmp_path, capsys):
    cells = _grid_cells(tmp_path)
    square = box(0, 0, 1000, 1000)
    thin = _zone_file(tmp_path, "thin.geojson", [("core", square), ("core-plus", box(0, 0, 1000, 1010))])
    wide = _zone_file(tmp_path, "wide.geojson", [("core", square), ("core-plus", box(0, 0, 1000, 1500))])
    alone = _zone_file(tmp_path, "alone.geojson", [("core", square)])

    code, _, err = cli_here(capsys, "zones", "check", thin, "--cells", cells)
    assert code == 0, err  # a warning, not an error
    lines = [ln for ln in err.splitlines() if "could reveal fewer than k=30 people" in ln]
    assert len(lines) == 1, err
    assert str(thin) in lines[0] and "features[0] (zone_id 'core')" in lines[0]
    assert "'core-plus' minus 'core'" in lines[0] and "0.010 km²" in lines[0]
    assert "merge 'core' into 'core-plus'" in lines[0] and "drop 'core'" in lines[0]
    assert "cannot resolve" not in err  # both zones are large enough

    assert cli_here(capsys, "zones", "check", thin, "--cells", cells, "--strict")[0] == 1
    code, _, err = cli_here(capsys, "zones", "check", thin)
    assert code == 0 and "could reveal" not in err  # without --cells, no such warning
    for ok in (wide, alone):
        code, _, err = cli_here(capsys, "zones", "check", ok, "--cells", cells, "--strict")
        assert code == 0 and "could reveal" not in err, err

    # JSON output carries the warning with its code; the subprocess shows the real exit code
    r = run_cli("zones", "check", thin, "--cells", cells, "--json")
    assert r.returncode == 0, r.stderr
    codes = [p["code"] for p in json.loads(r.stdout)["problems"]]
    assert codes == ["thin-difference"]


def test_check_with_cells_that_reach_no_zone_warns_once(tmp_path, capsys):
    cells = _grid_cells(tmp_path)
    far = _zone_file(tmp_path, "far.geojson", [("far", box(50_000, 0, 51_000, 1000))])
    code, _, err = cli_here(capsys, "zones", "check", far, "--cells", cells)
    assert code == 0, err
    assert err.count("warning:") == 1 and "no cell of the cell plan reaches any zone" in err, err
    assert cli_here(capsys, "zones", "check", far, "--cells", cells, "--strict")[0] == 1


def test_check_warns_once_when_zones_outnumber_the_cells_feeding_them(tmp_path, capsys):
    """A fine grid over a sparse plan (Milan's 10,000 squares over 1,650 cells): the zones'
    weights are dependent, so most figures will be suppressed; said once, up front."""
    cells = _grid_cells(tmp_path, step=500, reach=400)  # (25 cells)
    squares = [(f"g{i}_{j}", box(i * 100, j * 100, i * 100 + 100, j * 100 + 100)) for i in range(10) for j in range(10)]
    grid = _zone_file(tmp_path, "grid.geojson", squares)
    r = run_cli("zones", "check", grid, "--cells", cells, "--json")
    assert r.returncode == 0, r.stderr
    found = [p for p in json.loads(r.stdout)["problems"] if p["code"] == "more-zones-than-cells"]
    assert len(found) == 1, r.stdout[:2000]
    n_z, n_c = (int(x.replace(",", "")) for x in found[0]["message"].split(" zones are fed by only ")[0:1]
                + [found[0]["message"].split(" zones are fed by only ")[1].split(" cells")[0]])
    assert n_z == 100 and 0 < n_c < 100, found[0]["message"]
    coarse = _zone_file(tmp_path, "coarse.geojson", [("west", box(0, 0, 500, 1000)), ("east", box(500, 0, 1000, 1000))])
    r = run_cli("zones", "check", coarse, "--cells", cells, "--json")
    assert "more-zones-than-cells" not in [p["code"] for p in json.loads(r.stdout)["problems"]]


def test_thin_differences_api_nested_partial_and_same(tmp_path):
    cov = gz.build_coverage(gz.read_cellplan(_grid_cells(tmp_path)), "wedge")
    zones = gpd.GeoDataFrame(
        {"zone_id": ["a", "a-strip", "b", "b-shifted", "c", "c-again"], "name": list("123456")},
        geometry=[ll(g) for g in (
            box(0, 0, 600, 600), box(-8, 0, 600, 600),  # nested: a inside a-strip, differ by an 8 m strip
            box(700, 0, 1300, 600), box(720, 0, 1320, 600),  # partial (97% inside each other): 20 m strips
            box(0, 700, 600, 1300), box(0, 700, 600, 1300),  # the same area twice
        )],
        crs="EPSG:4326",
    )
    d = gz.thin_differences(zones, cov, k=30, share=0.4).set_index(["zone_a", "zone_b"])
    assert set(d.index) == {("a-strip", "a"), ("b", "b-shifted"), ("c", "c-again")}
    assert d.loc[("a-strip", "a"), "relation"] == "nested"
    assert d.loc[("a-strip", "a"), "diff_km2"] == pytest.approx(8 * 600 / 1e6, rel=0.02)
    eq = d.loc[("a-strip", "a"), "diff_cell_share"]
    assert 0 < eq < MIN_CELL_SHARE
    assert d.loc[("a-strip", "a"), "people_per_cell"] == pytest.approx(30 / (0.4 * eq))
    assert d.loc[("b", "b-shifted"), "relation"] == "partial"
    assert d.loc[("c", "c-again"), "relation"] == "same"


def test_a_reprojections_drift_is_the_same_zone_and_a_half_metre_strip_is_not(tmp_path):
    """A GIS probe's zone saved through Lambert 72 and back (0.5 mm of drift) was called a
    risky nested pair "unless the cells around it each see 35,210,349 people"."""
    cov = gz.build_coverage(gz.read_cellplan(_grid_cells(tmp_path)), "wedge")
    zones = gpd.GeoDataFrame(
        {"zone_id": ["a", "a-drift", "b", "b-strip"], "name": list("1234")},
        geometry=[ll(g) for g in (box(0, 0, 600, 600), box(-0.0005, 0, 600.0005, 600.0005),
                                  box(700, 0, 1300, 600), box(699.5, 0, 1300, 600))],
        crs="EPSG:4326",
    )
    d = gz.thin_differences(zones, cov, k=30, share=0.4).set_index(["zone_a", "zone_b"])
    rel = {tuple(sorted(i)): r for i, r in d["relation"].items()}
    assert rel[("a", "a-drift")] == "same", rel
    assert rel[("b", "b-strip")] == "nested", rel


# ------------------------------------------------------------------------- the pages
from .browser import Page  # noqa: E402 - (the browser fixture is in conftest.py)


def _preview_case(small_case):
    """small_case's two zones, and a 30 m zone inside cell B's disc: flagged."""
    c = small_case
    z = gpd.read_file(c["zones"])
    tiny = gpd.GeoDataFrame({"zone_id": ["kiosk"], "name": ["Kiosk"]}, geometry=[ll(box(1150, 50, 1180, 80))], crs="EPSG:4326")
    zp = c["tmp"] / "zones_preview.geojson"
    gz.write_zones(gpd.GeoDataFrame(__import__("pandas").concat([z, tiny], ignore_index=True), crs="EPSG:4326"), zp)
    return zp


def test_preview_cli_lists_flagged_zones_and_strict_fails(small_case):
    c = small_case
    zp = _preview_case(small_case)
    out = c["tmp"] / "p.html"
    r = run_cli("zones", "preview", "--zones", zp, "--cells", c["cells"], "--out", out)
    assert r.returncode == 0, r.stderr
    flagged = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: zone")]
    assert len(flagged) == 1 and "'kiosk'" in flagged[0] and "too small" in flagged[0], r.stderr
    assert out.is_file()
    assert run_cli("zones", "preview", "--zones", zp, "--cells", c["cells"], "--out", out, "--strict").returncode == 1
    assert run_cli("zones", "preview", "--zones", c["zones"], "--cells", c["cells"], "--out", out, "--strict").returncode == 0


def test_the_preview_judges_zones_by_the_runs_default_model(small_case):
    """The preview's fit figures are the footprint model's by default (a run's weights under
    the prior), not the drawn areas'; the measured error bound quoted is that model's."""
    from geozones.authoring import preview_map
    from geozones.authoring_checks import zone_resolution

    c = small_case
    zs, plan = gz.read_zones(_preview_case(small_case)), gz.read_cellplan(c["cells"])
    m, fit = preview_map(zs, plan)
    z = zs.to_crs("EPSG:4326").reset_index(drop=True)
    cov = gz.build_coverage(plan, "voronoi")
    want = zone_resolution(gz.footprint_weights(gz.footprints(plan, z, crs=cov.crs)), z, cov)
    for col in ("fit", "n_cells", "error_90", "status"):
        assert fit[col].tolist() == want[col].tolist(), col
    _, fit_v = preview_map(zs, plan, model="voronoi")
    assert not np.allclose(fit["fit"], fit_v["fit"])  # (so the comparison above can fail)
    assert "Zones against the footprint model" in m.get_root().render()


def test_preview_page_offline_layers_and_popup(browser, small_case):
    from geozones.offline import external_references

    c = small_case
    zp = _preview_case(small_case)
    out = c["tmp"] / "preview.html"
    r = run_cli("zones", "preview", "--zones", zp, "--cells", c["cells"], "--out", out, "--self-contained", "--model", "wedge")
    assert r.returncode == 0, r.stderr
    assert external_references(out.read_text()) == []
    p = Page(browser, out, accept_downloads=True)
    try:
        assert p.errors == [] and p.outside == []
        labels = p.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        labels = [t.strip() for t in labels]
        for name in ("Coverage: wedges", "Coverage: Voronoi", "Zones", "Sites"):
            assert name in labels, labels
        # wedges shown (the model of the figures), Voronoi hidden until switched on
        checked = p.page.evaluate(
            "() => [...document.querySelectorAll('.leaflet-control-layers-overlays label')]"
            ".map(l => [l.innerText.trim(), l.querySelector('input').checked])"
        )
        assert dict(checked)["Coverage: wedges"] and not dict(checked)["Coverage: Voronoi"]
        # click each zone in the middle of its drawn shape, as a person would, and read the popup
        points = p.page.evaluate(
            """() => {
              const out = {};
              for (const k of Object.keys(window)) {
                const g = window[k];
                if (!k.startsWith('geo_json_') || !g || !g.eachLayer) continue;
                g.eachLayer(l => { if (l.feature && l.feature.properties.popup) {
                  const pt = g._map.latLngToContainerPoint(l.getBounds().getCenter());
                  out[l.feature.properties.zone_id] = [pt.x, pt.y, l.options.fillColor]; } });
              }
              return out;
            }"""
        )
        assert set(points) == {"west", "east", "kiosk"}
        assert points["kiosk"][2] != points["west"][2]  # flagged in another colour
        x, y, _ = points["west"]
        p.page.mouse.click(x, y)
        p.page.wait_for_timeout(300)
        text = p.page.locator(".leaflet-popup-content").inner_text()
        assert "West <b>side</b>" in text  # the name as text, not markup
        assert "Area: 8.000 km²" in text
        assert "Fit: 1.00" in text and "Cells: 1," in text
        assert "Smallest population it can publish: 75 people" in text
        assert "A\t0.500" in text or "A 0.500" in text, text  # cell A feeds it with half its coverage
        p.page.keyboard.press("Escape")
        p.page.locator(".leaflet-popup-close-button").click()
        x, y, _ = points["kiosk"]
        p.page.mouse.click(x, y)
        p.page.wait_for_timeout(300)
        text = p.page.locator(".leaflet-popup-content").inner_text()
        assert "Kiosk" in text and "Not resolvable: too small" in text
        assert p.errors == []
    finally:
        p.close()


def test_draw_page_round_trip(browser, small_case, tmp_path):
    c = small_case
    out = tmp_path / "draw.html"
    r = run_cli("zones", "draw", "--cells", c["cells"], "--zones", c["zones"], "--out", out)
    assert r.returncode == 0, r.stderr
    p = Page(browser, out, accept_downloads=True)
    try:
        assert p.errors == [] and p.outside == []
        assert p.page.locator("#gz-count").inner_text() == "2 zones"  # the zones to edit are loaded
        p.page.locator(".leaflet-draw-draw-polygon").click()
        corners = [(300, 250), (520, 250), (520, 420), (300, 420)]
        for x, y in corners:
            p.page.mouse.click(x, y)
            p.page.wait_for_timeout(120)
        p.page.mouse.click(*corners[0])  # close the ring on its first point
        p.page.wait_for_timeout(300)
        assert p.page.locator("#gz-form").is_visible()
        # where the clicked points are on the ground, to check the area of the file
        lonlat = p.page.evaluate(
            "(pts) => pts.map(([x, y]) => { const q = window.gzDrawn._map.containerPointToLatLng([x, y]); return [q.lng, q.lat]; })",
            corners,
        )
        # exporting a zone without a zone_id is refused, and says so
        p.page.locator("#gz-close").click()
        p.page.locator("#gz-export").click()
        assert "no zone_id" in p.page.locator("#gz-export-msg").inner_text()
        p.page.fill("#gz-zone-id", "station")
        p.page.fill("#gz-zone-name", "Station <area>")
        p.page.locator("#gz-save").click()
        assert p.page.locator("#gz-count").inner_text() == "3 zones"
        with p.page.expect_download() as dl:
            p.page.locator("#gz-export").click()
        target = tmp_path / "drawn.geojson"
        assert dl.value.suggested_filename == "zones.geojson"
        dl.value.save_as(target)
        assert p.errors == [] and p.outside == []
    finally:
        p.close()

    r = run_cli("zones", "check", target, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    areas = {z["zone_id"]: z for z in report["zones"]}
    assert set(areas) == {"west", "east", "station"}
    assert areas["station"]["name"] == "Station <area>"
    assert areas["west"]["name"] == "West <b>side</b>"  # edited zones keep their names as they were
    xy = np.column_stack(TO_M.transform(*np.array(lonlat).T))
    expected = shapely.Polygon(xy).area / 1e6
    assert areas["station"]["area_km2"] == pytest.approx(expected, rel=0.01)
    assert areas["west"]["area_km2"] == pytest.approx(8.0, rel=1e-3)
    data = json.loads(target.read_text())
    assert data["type"] == "FeatureCollection" and "crs" not in data
    station = next(f for f in data["features"] if f["properties"]["zone_id"] == "station")
    assert station["geometry"]["type"] == "Polygon"
    assert station["properties"] == {"zone_id": "station", "name": "Station <area>"}
    west = next(f for f in data["features"] if f["properties"]["zone_id"] == "west")
    assert west["properties"]["municipality"] == "34022"  # other properties of edited zones are kept


def test_draw_page_keeps_multipolygons_and_renames_them(browser, small_case, tmp_path):
    c = small_case
    parts = shapely.MultiPolygon([ll(box(-1500, -500, -1000, 0)), ll(box(-800, -500, -300, 0))])
    z = gpd.GeoDataFrame({"zone_id": ["two-parts"], "name": ["Two parts"], "kind": ["test"]}, geometry=[parts], crs="EPSG:4326")
    zp = tmp_path / "multi.geojson"
    gz.write_zones(z, zp)
    out = tmp_path / "draw.html"
    assert run_cli("zones", "draw", "--cells", c["cells"], "--zones", zp, "--out", out).returncode == 0
    p = Page(browser, out, accept_downloads=True)
    try:
        assert p.page.locator("#gz-count").inner_text() == "1 zones"
        lon, lat = TO_LL.transform(X0 - 1250, Y0 - 250)  # inside the first part
        x, y = p.page.evaluate(f"() => {{ const q = window.gzDrawn._map.latLngToContainerPoint([{lat}, {lon}]); return [q.x, q.y]; }}")
        p.page.mouse.click(x, y)
        assert p.page.locator("#gz-zone-id").input_value() == "two-parts"
        shown = float(p.page.locator("#gz-zone-area").inner_text().split()[1])
        assert shown == pytest.approx(0.5, rel=0.01)  # both parts, 0.25 km² each (geodesic area)
        p.page.fill("#gz-zone-name", "Renamed")
        p.page.locator("#gz-save").click()
        with p.page.expect_download() as dl:
            p.page.locator("#gz-export").click()
        target = tmp_path / "out.geojson"
        dl.value.save_as(target)
        assert p.errors == [] and p.outside == []
    finally:
        p.close()
    f = json.loads(target.read_text())["features"][0]
    assert f["properties"] == {"zone_id": "two-parts", "name": "Renamed", "kind": "test"}
    assert f["geometry"]["type"] == "MultiPolygon" and len(f["geometry"]["coordinates"]) == 2
    assert run_cli("zones", "check", target).returncode == 0


def test_with_k_1_a_zone_needs_at_least_one_person_per_cell_not_0(tmp_path, capsys):
    """A probe's `zones check --k 1` read "published only when its cells each see at least 0 people"."""
    cells = _grid_cells(tmp_path)
    thin = _zone_file(tmp_path, "thin.geojson", [("core", box(0, 0, 1000, 1000)), ("core-plus", box(0, 0, 1000, 1010)),
                                                 ("small", box(0, 1000, 400, 1500))])
    code, _, err = cli_here(capsys, "zones", "check", thin, "--cells", cells, "--k", "1", "--share", "1")
    assert code == 0, err
    assert "features[2] (zone_id 'small')" in err and "each see at least 1 people" in err, err
    assert " 0 people" not in err
