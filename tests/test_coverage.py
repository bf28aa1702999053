"""Cell plans and the three coverage models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import geozones as gz
from geozones.errors import CellPlanError, CoverageError, CRSError

from .conftest import shared_path

LON, LAT = 3.2650, 50.8280  # Kortrijk centre


def plan_csv(tmp_path, rows, header="cell_id,site_id,lon,lat,azimuth,beamwidth,range_m", sep=",", name="cells.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_text(header.replace(",", sep) + "\n" + "\n".join(sep.join(map(str, r)) for r in rows) + "\n", encoding=encoding)
    return p


def offset(lon, lat, dx, dy):
    """lon/lat of a point dx, dy metres from (lon, lat), in EPSG:3812."""
    to_m = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True)
    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    x, y = to_m.transform(lon, lat)
    return to_ll.transform(x + dx, y + dy)


# -------------------------------------------------------------------- reading
def test_read_csv_with_semicolons_bom_and_decimal_commas(tmp_path):
    p = tmp_path / "cells.csv"
    p.write_bytes("\ufeffcell_id;site_id;lon;lat;azimuth;beamwidth;range_m\nA;S1;3,265;50,828;90;65;1000\nB;S1;3,265;50,828;;;800\n".encode())
    cells = gz.read_cellplan(p)
    assert cells["cell_id"].tolist() == ["A", "B"]
    assert cells.geometry.x.tolist() == pytest.approx([3.265, 3.265])
    assert cells["azimuth"].iloc[0] == 90 and math.isnan(cells["azimuth"].iloc[1])
    assert cells["beamwidth"].tolist() == [65.0, 360.0]  # omnidirectional: a full circle
    assert cells.crs.to_epsg() == 4326


def test_the_registers_columns_read_decimal_commas_and_an_empty_power_takes_the_others(tmp_path):
    """A probe's ; plan had '45,5' refused in height_m (without a line), and an empty
    power_dbm read as 0 dBm took its cells 45 dB under their neighbours, silently."""
    p = tmp_path / "cells.csv"
    p.write_bytes(("\ufeffcell_id;site_id;lon;lat;azimuth;beamwidth;height_m;tilt;power_dbm\r\n"
                   "A;S1;3,265;50,828;90;65;45,5;4,5;46,2\r\nB;S1;3,265;50,828;210;65;30;;\r\nC;S2;3,275;50,828;90;65;;6;48\r\n").encode())
    cells = gz.read_cellplan(p)
    assert cells["height_m"].tolist()[:2] == [45.5, 30.0] and math.isnan(cells["height_m"].iloc[2])
    assert cells["tilt"].iloc[0] == 4.5 and cells["power_dbm"].tolist() == [46.2, 47.1, 48.0]  # B: the others' median
    notes = " ".join(cells.attrs["defaults"])
    assert "1 cells had no power_dbm: used the others' median, 47.1 dBm" in notes and "no tilt" in notes
    p.write_text("cell_id;lon;lat;azimuth;tilt\nA;3,265;50,828;90;4x\n")
    with pytest.raises(CellPlanError, match="tilt '4x' is not a number") as e:
        gz.read_cellplan(p)
    assert "line 2" in str(e.value)


def test_defaults_are_applied_and_reported(tmp_path):
    lon2, lat2 = offset(LON, LAT, 1000, 0)
    p = plan_csv(tmp_path, [["A", "S1", LON, LAT, 0, "", ""], ["B", "S2", lon2, lat2, 180, "", ""]])
    cells = gz.read_cellplan(p)
    assert cells["beamwidth"].tolist() == [gz.cellplan.DEFAULT_BEAMWIDTH] * 2
    assert cells["range_m"].tolist() == pytest.approx([1500.0, 1500.0], rel=1e-3)  # 1.5 x 1 km spacing
    notes = " ".join(cells.attrs["defaults"])
    assert "beamwidth" in notes and "range_m" in notes and "azimuth" not in notes
    # (a site register without sectors, as a probe's Gent plan: every cell a disc, said)
    p = plan_csv(tmp_path, [["A", "S1", LON, LAT, "", "", ""], ["B", "S2", lon2, lat2, 180, "", ""]])
    assert "1 of the 2 cells had no azimuth: taken as omnidirectional" in " ".join(gz.read_cellplan(p).attrs["defaults"])


def test_sites_are_positions_when_no_site_id(tmp_path):
    lon2, lat2 = offset(LON, LAT, 500, 0)
    p = plan_csv(tmp_path, [["A", LON, LAT, 0], ["B", LON, LAT, 120], ["C", lon2, lat2, 0]], header="cell_id,lon,lat,azimuth")
    cells = gz.read_cellplan(p)
    assert cells["site_id"].nunique() == 2
    assert cells["site_id"].iloc[0] == cells["site_id"].iloc[1] != cells["site_id"].iloc[2]


def test_empty_site_ids_are_positions(tmp_path):
    """Rows with an empty ``site_id`` take their site from their position (the site
    another row names there, else one of their own), as a plan without the column does (pandas 3 reads the empty ones as
    missing values, which earlier became one site of every such cell)."""
    lon2, lat2 = offset(LON, LAT, 3000, 0)
    p = plan_csv(tmp_path, [["A", "S1", LON, LAT, 0, "", 500], ["B", "", LON, LAT, 120, "", 500],
                            ["C", "", lon2, lat2, 0, "", ""], ["D", "", lon2, lat2, 120, "", ""]])
    cells = gz.read_cellplan(p)
    s = cells["site_id"].tolist()
    assert s[0] == s[1] == "S1" and s[2] == s[3] != s[0]  # (B stands at S1)
    notes = " ".join(cells.attrs["defaults"])
    assert "3 cells had no site_id" in notes
    assert cells["range_m"].iloc[2] == pytest.approx(4500.0, rel=1e-3)  # 1.5 x the 3 km to the nearest other site


def test_x_y_with_crs(tmp_path):
    p = plan_csv(tmp_path, [["A", 173821.0366, 174419.5041, 30]], header="cell_id,x,y,azimuth")
    cells = gz.read_cellplan(p, crs="EPSG:31370")
    assert cells.geometry.x.iloc[0] == pytest.approx(4.7072, abs=1e-3)
    assert cells.geometry.y.iloc[0] == pytest.approx(50.8797, abs=1e-3)
    with pytest.raises(CellPlanError, match="--crs"):
        gz.read_cellplan(p)


@pytest.mark.parametrize(
    "rows, header, match, where",
    [
        ([["A", "S", LON, LAT, "north", 65, 1000]], None, "azimuth 'north' is not a number", "line 2"),
        ([["A", "S", LON, LAT, 0, 65, 1000], ["A", "S", LON, LAT, 120, 65, 1000]], None, "more than once", "line 3"),
        ([["A", "S", LON, LAT, 0, 400, 1000]], None, "beamwidth 400 is out of range", "line 2"),
        ([["A", "S", LON, LAT, 0, 65, -5]], None, "range_m -5 is out of range", "line 2"),
        ([["A", "S", LAT, 120.5, 0, 65, 100]], None, "swapped", "line 2"),
        ([["A", "S", 173821, 174419, 0, 65, 100]], None, "projected", "line 2"),
        ([["A", "S", "", LAT, 0, 65, 100]], None, "lon is missing", "line 2"),
        ([["A", LON, LAT]], "site,longitude,latitude", "no cell_id column", ""),
        ([["A", 1, 2]], "cell_id,east,north", "no position columns", ""),
    ],
)
def test_bad_cell_plans_name_the_row(tmp_path, rows, header, match, where):
    p = plan_csv(tmp_path, rows, **({"header": header} if header else {}))
    with pytest.raises(CellPlanError, match=match) as exc:
        gz.read_cellplan(p)
    assert str(p) in str(exc.value)
    assert where in str(exc.value)
    assert exc.value.hint


def test_empty_and_unknown_files(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(CellPlanError, match="empty"):
        gz.read_cellplan(tmp_path / "e.csv")
    (tmp_path / "c.xlsx").write_text("x")
    with pytest.raises(CellPlanError, match="unknown file type"):
        gz.read_cellplan(tmp_path / "c.xlsx")
    with pytest.raises(CellPlanError, match="no such file"):
        gz.read_cellplan(tmp_path / "missing.csv")


def test_latin1_csv_is_read(tmp_path):
    p = plan_csv(tmp_path, [["A", "Gentsesteenweg-Hôtel", LON, LAT, 0, 65, 100]], encoding="cp1252")
    assert gz.read_cellplan(p)["site_id"].iloc[0] == "Gentsesteenweg-Hôtel"


def test_parquet_and_geojson_plans(tmp_path):
    df = pd.DataFrame({"cell_id": ["A", "B"], "site_id": ["S", "S"], "lon": [LON, LON], "lat": [LAT, LAT], "azimuth": [0.0, np.nan], "beamwidth": [65.0, np.nan], "range_m": [500.0, 300.0]})
    df.to_parquet(tmp_path / "c.parquet")
    a = gz.read_cellplan(tmp_path / "c.parquet")
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
    gdf.to_file(tmp_path / "c.geojson")
    b = gz.read_cellplan(tmp_path / "c.geojson")
    gdf.to_crs(3812).to_parquet(tmp_path / "g.parquet")  # (GeoParquet, in metres: a probe's was refused for want of lon and lat)
    g = gz.read_cellplan(tmp_path / "g.parquet")
    np.testing.assert_allclose(np.c_[g.geometry.x, g.geometry.y], np.c_[a.geometry.x, a.geometry.y], atol=1e-9)
    for cells in (a, b, g):
        assert cells["cell_id"].tolist() == ["A", "B"]
        assert cells["range_m"].tolist() == [500.0, 300.0]
        assert math.isnan(cells["azimuth"].iloc[1])


def test_regulator_sites_file():
    path = shared_path("sites", "leuven_basestations_pxs.json")
    import json

    raw = json.loads(path.read_text())
    cells = gz.read_sites(path)
    assert len(cells) == sum(max(1, len(s["sectors"])) for s in raw)
    assert cells["cell_id"].is_unique
    site = cells[cells["site_id"] == "pxs-21540"]
    assert sorted(site["azimuth"]) == [30, 150, 270]
    assert (site["beamwidth"] == 69.0).all()
    # what the footprint model reads: AGL as height (not the antenna's 2.3 m length), the
    # register's ETilt (negative down; a range at its middle) as downtilt, Power in dBm
    assert (site["height_m"] == 21.7).all() and sorted(site["tilt"]) == [5.0, 5.0, 6.0]
    assert site["power_dbm"].round(1).tolist() == [42.0, 44.0, 39.0]
    ranged = [s for s in raw if any(str(sec.get("ETilt")) == "0 - -10" for sec in s["sectors"])][0]
    k = [str(sec.get("ETilt")) for sec in ranged["sectors"]].index("0 - -10")
    assert cells.loc[cells["cell_id"] == f"pxs-{ranged['bipt_id']}-{k}", "tilt"].iloc[0] == 5.0
    assert cells["tilt"].between(0, 20).all()
    # the BIPT register puts this site at 4.70722 E, 50.87972 N: within a few tens of metres
    geod = pyproj.Geod(ellps="WGS84")
    _, _, d = geod.inv(site.geometry.x.iloc[0], site.geometry.y.iloc[0], 4.70721755, 50.87972258)
    assert d < 30
    # read_cellplan recognises the format from its content
    assert gz.read_cellplan(path)["cell_id"].tolist() == cells["cell_id"].tolist()


def test_bad_sites_file(tmp_path):
    p = tmp_path / "x_pxs.json"
    p.write_text('[{"bipt_id": 1, "sectors": []}]')
    with pytest.raises(CellPlanError, match="site 0"):
        gz.read_sites(p)
    p.write_text('[{"bipt_id": 1, "location": {"x": 1')
    with pytest.raises(CellPlanError, match="line 1"):
        gz.read_sites(p)


# ---------------------------------------------------------------------- models
def one_cell(tmp_path, azimuth, beamwidth, range_m):
    return gz.read_cellplan(plan_csv(tmp_path, [["A", "S", LON, LAT, azimuth, beamwidth, range_m]]))


def test_wedge_area_and_direction(tmp_path):
    cells = one_cell(tmp_path, 90, 90, 1000)
    cov = gz.wedge_coverage(cells, crs="EPSG:3812")
    wedge = cov.geometry.iloc[0]
    assert wedge.area == pytest.approx(math.pi * 1000**2 / 4, rel=2e-3)
    site = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True).transform(LON, LAT)
    c = wedge.centroid
    assert c.x - site[0] > 300 and abs(c.y - site[1]) < 1  # points east
    assert wedge.is_valid


def test_omnidirectional_cell_is_a_disc(tmp_path):
    cov = gz.wedge_coverage(one_cell(tmp_path, "", "", 800), crs="EPSG:3812")
    assert cov.geometry.iloc[0].area == pytest.approx(math.pi * 800**2, rel=2e-3)


def test_voronoi_splits_sites_between_sectors(tmp_path):
    lon2, lat2 = offset(LON, LAT, 1000, 0)
    rows = [["A0", "S1", LON, LAT, 0, 65, 2000], ["A1", "S1", LON, LAT, 120, 65, 2000], ["A2", "S1", LON, LAT, 240, 65, 2000],
            ["A3", "S1", LON, LAT, 240, 65, 2000],  # another band on the same antenna
            ["B0", "S2", lon2, lat2, "", "", 2000]]
    cells = gz.read_cellplan(plan_csv(tmp_path, rows))
    cov = gz.voronoi_coverage(cells, crs="EPSG:3812").set_index("cell_id")
    g = cov.geometry
    assert all(g.is_valid)
    # the two sites' areas meet at the bisector 500 m east of site S1
    site1 = shapely.union_all([g["A0"], g["A1"], g["A2"]])
    assert site1.bounds[2] == pytest.approx(g["B0"].bounds[0], abs=1e-6)
    # sectors do not overlap and together make the site's area
    assert shapely.area(shapely.intersection(g["A0"], g["A1"])) < 1e-6
    assert g["A0"].area + g["A1"].area + g["A2"].area == pytest.approx(site1.area, rel=1e-9)
    assert g["A3"].equals(g["A2"])
    # the site on its own reaches its range of 2 km to the west
    x1 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True).transform(LON, LAT)[0]
    assert site1.bounds[0] == pytest.approx(x1 - 2000, abs=5)


def test_given_coverage(tmp_path):
    import geopandas as gpd

    polys = gpd.GeoDataFrame({"cell_id": ["A", "B"]}, geometry=[shapely.box(3.25, 50.82, 3.26, 50.83), shapely.box(3.26, 50.82, 3.27, 50.83)], crs="EPSG:4326")
    polys.to_file(tmp_path / "cov.geojson")
    cov = gz.build_coverage(tmp_path / "cov.geojson", "given")
    assert cov["cell_id"].tolist() == ["A", "B"]
    polys.iloc[[0, 0]].to_file(tmp_path / "dup.geojson")
    with pytest.raises(CoverageError, match="more than once"):
        gz.read_coverage(tmp_path / "dup.geojson")
    gpd.GeoDataFrame({"cell_id": ["A"]}, geometry=[shapely.Point(3.25, 50.82)], crs="EPSG:4326").to_file(tmp_path / "pt.geojson")
    with pytest.raises(CoverageError, match="not a polygon"):
        gz.read_coverage(tmp_path / "pt.geojson")
    with pytest.raises(CoverageError, match="unknown coverage model"):
        gz.build_coverage(tmp_path / "cov.geojson", "hexagon")


# ------------------------------------------------------------------------- crs
def test_metric_crs_choice():
    assert gz.metric_crs((3.25, 50.82, 3.28, 50.84)).to_epsg() == 3812  # Kortrijk
    assert gz.metric_crs((9.0, 45.3, 9.3, 45.6)).to_epsg() == 32632  # Milan: UTM 32N
    assert gz.metric_crs((-58.5, -34.7, -58.3, -34.5)).to_epsg() == 32721  # Buenos Aires: UTM 21S
    assert gz.metric_crs((0, 0, 0, 0), "EPSG:31370").to_epsg() == 31370
    with pytest.raises(CRSError, match="not a projected CRS in metres"):
        gz.metric_crs((0, 0, 0, 0), "EPSG:4326")
    with pytest.raises(CRSError, match="unknown CRS"):
        gz.metric_crs((0, 0, 0, 0), "EPSG:999999")


def test_model_coverage_is_valid_as_marked():
    """Weights skip the validity check for model-built coverage: it must really be valid."""
    import shapely as sh

    rng = np.random.default_rng(3)
    n = 300
    lon, lat = LON + rng.normal(0, 0.02, n), LAT + rng.normal(0, 0.01, n)
    az = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 360, n))
    df = pd.DataFrame({"cell_id": [f"c{i}" for i in range(n)], "site_id": [f"s{i // 3}" for i in range(n)], "lon": lon, "lat": lat,
                       "azimuth": az, "beamwidth": rng.uniform(1, 360, n), "range_m": rng.uniform(50, 3000, n)})
    import geopandas as gpd

    cells = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
    for build in (gz.wedge_coverage, gz.voronoi_coverage):
        cov = build(cells)
        assert cov.attrs["valid"] is True
        assert sh.is_valid(cov.geometry.values).all() and (cov.area > 0).all()


def test_a_default_range_stops_at_10_km_as_documented_and_a_given_one_may_reach_100(tmp_path):
    """A probe's two sites 35 km apart took a default range of 52.9 km: the given range's
    ceiling (100 km) had taken the default's name."""
    p = tmp_path / "cells.csv"
    p.write_text("cell_id,lon,lat\nA,3.0,50.8\nB,3.5,50.8\n")
    cells = gz.read_cellplan(p)
    assert cells["range_m"].tolist() == [10_000.0, 10_000.0]
    assert "between 500 and 10000 m" in " ".join(cells.attrs["defaults"])
    p.write_text("cell_id,lon,lat,range_m\nA,3.0,50.8,60000\nB,3.5,50.8,500\n")
    assert gz.read_cellplan(p)["range_m"].tolist() == [60_000.0, 500.0]
