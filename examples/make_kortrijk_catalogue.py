"""Build the Kortrijk zone catalogue in ``zones/`` from the public data in ``../shared/data``.

It also refreshes the package data in ``geozones/data/`` (the catalogue, a population grid
around Kortrijk, origin and country tables) that ``geozones demo`` uses.

Run from the repository root::

    python examples/make_kortrijk_catalogue.py [--shared ../shared/data]

Source: provinciesincijfers/gebiedsniveaus (Data & Analyse van de Vlaamse provincies),
built from Statbel statistical sectors, under the Modellicentie Gratis Hergebruik
(free reuse with attribution). The files written carry that attribution in ``zones/README.md``.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from pathlib import Path

import geopandas as gpd

import geozones as gz


def slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data", type=Path)
    ap.add_argument("--out", default="zones", type=Path)
    args = ap.parse_args()
    k = args.shared / "kortrijk"

    centre = gpd.read_file(k / "kortrijk_city_centre_candidates.geojson")
    ids = {
        "Kortrijk Centrum (Kortrijk)": ("centre-wijk", "Kortrijk Centrum (neighbourhood 34022W08)"),
        "KWG_Kortrijk_Binnenstad Kortrijk": ("centre-core-shopping", "Binnenstad Kortrijk (core shopping area)"),
        "Centrum Kortrijk": ("centre-shopping", "Centrum Kortrijk (shopping area)"),
    }
    centre["zone_id"] = centre["name"].map(lambda n: ids[n][0])
    centre["name"] = centre["name"].map(lambda n: ids[n][1])
    centre["kind"] = "city-centre"
    centre["municipality"] = "34022"  # NIS code: people living here are residents, not visitors
    gz.write_zones(centre[["zone_id", "name", "kind", "municipality", "source", "geometry"]], args.out / "kortrijk_centre.geojson")

    wijken = gpd.read_file(k / "kortrijk_wijken_ggw7.geojson")
    wijken = wijken.assign(
        zone_id=wijken["geoitem"],
        name=wijken["naam"].str.replace(r" \(Kortrijk\)$", "", regex=True),
        kind="neighbourhood",
        municipality="34022",
        source="ggw7 (statistical-sector neighbourhoods)",
    )
    gz.write_zones(wijken[["zone_id", "name", "kind", "municipality", "source", "geometry"]], args.out / "kortrijk_neighbourhoods.geojson")

    shops = gpd.read_file(k / "kortrijk_winkelgebieden.geojson")
    # "Centrum Kortrijk" is already in the centre file as centre-shopping
    shops = shops[shops["WINKELGE_1"] != "Centrum Kortrijk"]
    shops = shops.assign(
        zone_id="shop-" + shops["WINKELGEBI"].astype(str),
        name=shops["WINKELGE_1"],
        kind="shopping-area",
        shop_type=shops["WINKELGE_2"] + " / " + shops["WINKELGE_3"],
        municipality=shops["gemeente"].astype(str),
        source="winkelgebied (shopping areas)",
    )
    gz.write_zones(
        shops[["zone_id", "name", "kind", "shop_type", "municipality", "source", "geometry"]], args.out / "kortrijk_shopping_areas.geojson"
    )
    report = gz.check_zones(args.out)
    print(f"{len(report.zones)} zones, {len(report.overlaps)} overlapping pairs, {len(report.problems)} problems")
    package_data(args.shared, args.out, Path(__file__).resolve().parents[1] / "geozones" / "data")



# --------------------------------------------------------------------------------------
# Package data: what `geozones demo` and the origin tables need at run time, copied from
# ../shared/data under the licences named in geozones/data/ATTRIBUTION.md.
PROVINCES = {
    "10000": "Antwerpen",
    "04000": "Brussels Hoofdstedelijk Gewest",
    "20001": "Vlaams-Brabant",
    "20002": "Brabant wallon",
    "30000": "West-Vlaanderen",
    "40000": "Oost-Vlaanderen",
    "50000": "Hainaut",
    "60000": "Liège",
    "70000": "Limburg",
    "80000": "Luxembourg",
    "90000": "Namur",
}


def package_data(shared: Path, zones_dir: Path, out: Path) -> None:
    import shutil

    import numpy as np
    import pandas as pd
    import rasterio
    from rasterio.windows import from_bounds

    from geozones.origins import province_of

    out.mkdir(parents=True, exist_ok=True)
    (out / "kortrijk" / "zones").mkdir(parents=True, exist_ok=True)
    for f in sorted(zones_dir.glob("*.geojson")):
        shutil.copyfile(f, out / "kortrijk" / "zones" / f.name)
    k = shared / "kortrijk"
    muni = gpd.read_file(k / "kortrijk_municipality.geojson")
    gz.write_zones(muni.assign(zone_id="34022", name="Kortrijk")[["zone_id", "name", "geometry"]], out / "kortrijk" / "municipality.geojson")

    # population grid over Kortrijk and 2 km around it (GHSL, CC-BY-4.0)
    src_path = shared / "population" / "westflanders_pop_100m.tif"
    with rasterio.open(src_path) as src:
        b = muni.to_crs(src.crs).total_bounds + np.array([-2000, -2000, 2000, 2000])
        window = from_bounds(*b, transform=src.transform).round_offsets().round_lengths()
        data = src.read(1, window=window)
        profile = src.profile | {
            "width": data.shape[1], "height": data.shape[0], "transform": src.window_transform(window),
            "blockxsize": 256, "blockysize": 256, "tiled": True, "compress": "deflate",
        }
    with rasterio.open(out / "kortrijk" / "population_100m.tif", "w", **profile) as dst:
        dst.write(data, 1)

    # where visitors come from: the other municipalities of West Flanders, by population and distance
    wv = gpd.read_file(k / "westvlaanderen_municipalities.geojson")
    with rasterio.open(src_path) as src:
        from rasterio.mask import mask

        pops = []
        for geom in wv.to_crs(src.crs).geometry:
            arr, _ = mask(src, [geom], crop=True, filled=True, nodata=0)
            pops.append(float(np.nansum(arr)))
    centre = muni.to_crs(3812).geometry.iloc[0].centroid
    dist = wv.to_crs(3812).geometry.centroid.distance(centre) / 1000
    pd.DataFrame(
        {"code": wv["gemeente"].astype(str), "name": wv["naam"], "population": np.round(pops), "distance_km": dist.round(2)}
    ).sort_values("code").to_csv(out / "kortrijk" / "westvlaanderen_municipalities.csv", index=False)

    # reference outlines for self-contained maps: municipalities and neighbourhoods, simplified
    import shapely

    for src, name, idc, tol in (("gemeente2024", "be_municipalities", "gemeente", 40), ("ggw7", "be_neighbourhoods", "geoitem", 30)):
        g = gpd.read_file(shared / "flanders" / f"{src}.shp").to_crs(3812)
        g["geometry"] = shapely.simplify(g.geometry.values, tol, preserve_topology=True)
        g = g.to_crs(4326)
        g["geometry"] = shapely.set_precision(g.geometry.values, 1e-5)
        ref = gpd.GeoDataFrame({"code": g[idc].astype(str), "name": g["naam"]}, geometry=g.geometry.values, crs=4326)
        (out / f"{name}.geojson").write_text(ref.to_json(drop_id=True), encoding="utf-8")

    # Belgian origins: municipalities (Flanders and Brussels, with names) and provinces
    gem = gpd.read_file(shared / "flanders" / "gemeente2024.shp")
    codes = gem["gemeente"].astype(int).map(lambda c: f"{c:05d}")
    rows = [{"code": c, "name": n, "level": "municipality", "parent": province_of(c)} for c, n in zip(codes, gem["naam"])]
    rows += [{"code": c, "name": n, "level": "province", "parent": "BE"} for c, n in PROVINCES.items()]
    pd.DataFrame(rows).sort_values(["level", "code"]).to_csv(out / "be_origins.csv", index=False)

    # mobile country codes to countries (musalbas/mcc-mnc-table, MIT)
    mcc = pd.read_csv(shared / "mcc" / "mcc-mnc-table.csv", dtype=str)
    mcc = mcc.dropna(subset=["MCC", "ISO", "Country"])
    top = mcc.groupby(["MCC", "ISO", "Country"]).size().reset_index(name="n").sort_values(["MCC", "n"], ascending=[True, False])
    top = top.drop_duplicates("MCC")
    top.assign(iso=top["ISO"].str.upper()).rename(columns={"MCC": "mcc", "Country": "name"})[["mcc", "iso", "name"]].to_csv(
        out / "countries.csv", index=False
    )
    print(f"wrote package data to {out}")



if __name__ == "__main__":
    main()
