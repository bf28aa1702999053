"""Build the Kortrijk zone catalogue in ``zones/`` from the public data in ``../shared/data``.

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
    gz.write_zones(centre[["zone_id", "name", "kind", "source", "geometry"]], args.out / "kortrijk_centre.geojson")

    wijken = gpd.read_file(k / "kortrijk_wijken_ggw7.geojson")
    wijken = wijken.assign(
        zone_id=wijken["geoitem"],
        name=wijken["naam"].str.replace(r" \(Kortrijk\)$", "", regex=True),
        kind="neighbourhood",
        source="ggw7 (statistical-sector neighbourhoods)",
    )
    gz.write_zones(wijken[["zone_id", "name", "kind", "source", "geometry"]], args.out / "kortrijk_neighbourhoods.geojson")

    shops = gpd.read_file(k / "kortrijk_winkelgebieden.geojson")
    # "Centrum Kortrijk" is already in the centre file as centre-shopping
    shops = shops[shops["WINKELGE_1"] != "Centrum Kortrijk"]
    shops = shops.assign(
        zone_id="shop-" + shops["WINKELGEBI"].astype(str),
        name=shops["WINKELGE_1"],
        kind="shopping-area",
        shop_type=shops["WINKELGE_2"] + " / " + shops["WINKELGE_3"],
        source="winkelgebied (shopping areas)",
    )
    gz.write_zones(
        shops[["zone_id", "name", "kind", "shop_type", "source", "geometry"]], args.out / "kortrijk_shopping_areas.geojson"
    )
    report = gz.check_zones(args.out)
    print(f"{len(report.zones)} zones, {len(report.overlaps)} overlapping pairs, {len(report.problems)} problems")


if __name__ == "__main__":
    main()
