"""Zones: reading, validating and generating the zone sets that counts are apportioned to.

A zone file is GeoJSON (RFC 7946): a FeatureCollection in WGS84 longitude/latitude whose
features are Polygons or MultiPolygons with the properties ``zone_id`` (unique) and
``name``. Other properties are kept. Zones may overlap.

A zone set is a :class:`geopandas.GeoDataFrame` in EPSG:4326 with the columns
``zone_id`` (str), ``name`` (str), the other properties, and ``geometry``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ._io import write_text_atomic
from ._zonefile import MAX_SPAN_DEG, clean_features
from ._zonefile import POLYGONAL as _POLYGONAL
from .crs import WGS84, belgian_grid_hint, is_wgs84, metric_crs
from .errors import InputError, Problem, ZoneError
from .weights import OUTSIDE  # (defined with the weights, whose outside share it names)
from .zonegeo import MIN_AREA_M2, h3_grid, nested_pairs, nested_zones, square_grid, to_metric, zone_families, zone_overlaps  # (here too: the zone API)

__all__ = [
    "OUTSIDE",
    "ZoneReport",
    "zone_paths",
    "check_zones",
    "read_zones",
    "zone_overlaps",
    "nested_pairs",
    "zone_families",
    "nested_zones",
    "square_grid",
    "h3_grid",
    "write_zones",
    "to_metric",
    "MIN_AREA_M2",
]


@dataclass
class ZoneReport:
    """What :func:`check_zones` found.

    Attributes
    ----------
    zones : geopandas.GeoDataFrame
        The zones that could be read (EPSG:4326), with an ``area_km2`` column measured
        in ``crs``. Zones with errors are left out.
    problems : list of Problem
        Every problem found, errors and warnings, in file and feature order.
    overlaps : pandas.DataFrame
        Pairs of overlapping zones (see :func:`zone_overlaps`).
    repairs : pandas.DataFrame
        With ``repair=True``: ``zone_id``, ``area_before_m2``, ``area_after_m2``,
        ``change_pct`` for every zone that was repaired (NaN where the invalid shape's area
        was under 1% of the repaired one's, as a self-crossing ring's whose parts cancel out).
    crs : pyproj.CRS or None
        The metric CRS the areas were measured in.
    """

    zones: gpd.GeoDataFrame
    problems: list[Problem] = field(default_factory=list)
    overlaps: pd.DataFrame = field(default_factory=pd.DataFrame)
    repairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    crs: pyproj.CRS | None = None

    @property
    def errors(self) -> list[Problem]:
        """The problems that make the zone set unusable."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when no problem is an error."""
        return not self.errors


def zone_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders into the list of zone files they name.

    A folder stands for the ``*.geojson`` and ``*.json`` files directly inside it,
    in name order, and for any zone file of another format there (a GeoPackage, a
    Shapefile, KML...), which is then refused as it is when named alone: left out, its
    zones would be missing from every run without a word.

    Raises
    ------
    InputError
        If a path does not exist, or a folder holds no GeoJSON file.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in (".geojson", ".json", *_OTHER_ZONE_FILES) and q.is_file())
            if not found:
                raise InputError("folder holds no zone file (.geojson or .json)", path=p, hint="put zone files (*.geojson) in it")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("no such file or folder", path=p, hint="check the path")
    if not out:
        raise InputError("no zone file given", hint="name one or more GeoJSON files or folders")
    return out


def _where(i: int, zone_id: Any = None) -> str:
    return f"features[{i}] (zone_id {zone_id!r})" if zone_id not in (None, "") else f"features[{i}]"


_FORMATS = (  # (leading bytes, what a GIS user gave instead of GeoJSON)
    (b"\x00\x00\x27\x0a", "a Shapefile"), (b"SQLite format 3\x00", "a GeoPackage (SQLite)"), (b"PK\x03\x04", "a zip archive"),
)
_SUFFIXES = {".shp": "a Shapefile", ".shx": "a Shapefile's index", ".dbf": "a Shapefile's table", ".gpkg": "a GeoPackage",
             ".kml": "KML", ".kmz": "KMZ", ".gml": "GML", ".zip": "a zip archive", ".csv": "a CSV table", ".xlsx": "an Excel workbook"}


#: Zone files of other formats that a folder of zones may hold by mistake (a Shapefile by its .shp).
_OTHER_ZONE_FILES = (".shp", ".gpkg", ".kml", ".kmz", ".gml", ".fgb", ".topojson")


def _source_name(path: Path) -> str:
    """The file to convert: a Shapefile's ``.shp`` for its ``.dbf`` or ``.shx``."""
    return path.with_suffix(".shp").name if path.suffix.lower() in (".dbf", ".shx") else path.name


def _other_format(path: Path, raw: bytes) -> str:
    """What a file is when it is plainly another format than GeoJSON (empty: it may be GeoJSON)."""
    for magic, kind in _FORMATS:
        if raw.startswith(magic):
            return kind
    head = raw[:200].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<kml", b"<gml")):
        return "XML (KML or GML)"
    if not head.startswith((b"{", b"[")):
        return _SUFFIXES.get(path.suffix.lower(), "")
    return ""


def _load_json(path: Path) -> tuple[Any, list[Problem]]:
    """Parse a JSON file, turning every failure into a Problem with a position."""
    p = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(p, "", "unreadable", f"cannot read the file: {exc.strerror}", "check the path and permissions")]
    if not raw.strip():
        return None, [Problem(p, "", "empty-file", "the file is empty", "export the zones again as GeoJSON")]
    kind = _other_format(path, raw)
    if kind:
        return None, [Problem(p, "", "not-geojson", f"is {kind}, not GeoJSON",
                              "export it as GeoJSON in WGS84 (QGIS: Export > Save Features As..., format GeoJSON, CRS EPSG:4326; "
                              f"or ogr2ogr -f GeoJSON -t_srs EPSG:4326 zones.geojson {_source_name(path)})")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [
            Problem(
                p,
                f"byte {exc.start}",
                "not-utf8",
                f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x})",
                "save it as UTF-8, as GeoJSON requires",
            )
        ]
    try:
        return json.loads(text), []
    except RecursionError:  # (arrays nested thousands deep: no GeoJSON geometry is)
        return None, [Problem(p, "", "not-json", "its JSON is nested too deeply to be GeoJSON",
                              "the file is damaged or not a zone file; export it again as GeoJSON")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                p,
                f"line {exc.lineno}, column {exc.colno}",
                "not-json",
                f"not valid JSON: {exc.msg}",
                "the file may be truncated or hand-edited; export it again as GeoJSON",
            )
        ]


def _rings(gtype: str, coords: Any) -> list[list[Any]] | None:
    """The list of polygons (each a list of rings) of a Polygon or MultiPolygon, or None."""
    if not isinstance(coords, list):
        return None
    polys = [coords] if gtype == "Polygon" else coords
    if not all(isinstance(poly, list) and all(isinstance(r, list) for r in poly) for poly in polys):
        return None
    return polys


def _ring_array(ring: list[Any]) -> np.ndarray | None:
    try:
        arr = np.asarray(ring, dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 2 or arr.shape[1] < 2:
        return None
    return arr[:, :2]


def _check_feature(
    path: str, i: int, feat: Any, repair: bool
) -> tuple[dict[str, Any] | None, list[Problem], dict[str, Any] | None]:
    """Check one feature; return (record, problems, repair)."""
    problems: list[Problem] = []

    def err(code: str, msg: str, hint: str, zid: Any = None, severity: str = "error") -> None:
        problems.append(Problem(path, _where(i, zid), code, msg, hint, severity))

    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        err("not-a-feature", "is not a GeoJSON Feature", 'each entry of "features" must be {"type": "Feature", ...}')
        return None, problems, None
    props = feat.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        err("bad-properties", '"properties" is not an object', "give the properties as a JSON object")
        props = {}
    zid = props.get("zone_id")
    bad_id = isinstance(zid, bool) or isinstance(zid, (dict, list))
    if bad_id:  # (said once: not also "has no zone_id")
        err("bad-zone-id", f"zone_id {zid!r} is not a text or a number", "give each zone a short text id", None)
        zid = None
    elif isinstance(zid, float) and zid.is_integer():
        zid = str(int(zid))
    elif zid is not None:
        zid = str(zid).strip()
    if bad_id:
        pass
    elif zid in (None, ""):
        others = [str(k) for k in props if k not in ("zone_id", "name")][:4]  # (a probe's raw shapefile columns, geoitem and naam)
        err("missing-zone-id", "has no zone_id", 'add a property "zone_id" with a unique text id'
            + (f" (its properties: {', '.join(others)}: rename one of them zone_id)" if others else ""))
        zid = None
    elif zid == OUTSIDE:
        err("reserved-zone-id", f"zone_id {OUTSIDE!r} is reserved for the share of cells outside every zone", "rename the zone", zid)
    name = props.get("name")
    if name in (None, "") and zid is not None:  # (no zone_id: said once, not also "the zone_id is used as its name")
        err("missing-name", "has no name; the zone_id is used as its name", 'add a property "name"', zid, "warning")
        name = zid
    geom = feat.get("geometry")
    if geom is None:
        err("empty-geometry", "has no geometry (null)", "draw the zone's polygon or remove the feature", zid)
        return None, problems, None
    if not isinstance(geom, dict) or "type" not in geom:
        err("bad-geometry", "geometry is not a GeoJSON geometry object", "export the file again from your GIS", zid)
        return None, problems, None
    gtype = geom.get("type")
    if gtype not in _POLYGONAL:
        err(
            "not-polygon",
            f"geometry is a {gtype}, not a Polygon or MultiPolygon",
            "zones must be areas: draw a polygon (a point or line cannot hold visitors)",
            zid,
        )
        return None, problems, None
    polys = _rings(gtype, geom.get("coordinates"))
    if polys is None:
        err("bad-coordinates", f"{gtype} coordinates are not nested lists of positions", "export the file again", zid)
        return None, problems, None
    if not polys or all(len(poly) == 0 for poly in polys):
        err("empty-geometry", f"{gtype} has no coordinates", "draw the zone's polygon or remove the feature", zid)
        return None, problems, None
    shapes = []
    all_xy = []
    for pi, poly in enumerate(polys):
        if not poly:
            err("empty-geometry", f"polygon {pi} of the {gtype} has no rings", "remove the empty part or draw it again", zid)
            return None, problems, None
        rings = []
        for ri, ring in enumerate(poly):
            arr = _ring_array(ring)
            label = f"ring {ri}" + (f" of polygon {pi}" if gtype == "MultiPolygon" else "")
            if arr is None or not np.isfinite(arr).all():
                err("bad-coordinates", f"{label} has positions that are not pairs of numbers", "export the file again", zid)
                return None, problems, None
            if len(arr) and not np.array_equal(arr[0], arr[-1]):
                if repair:
                    arr = np.vstack([arr, arr[:1]])
                else:
                    err(
                        "unclosed-ring",
                        f"{label} is not closed: it starts at ({arr[0, 0]:g} {arr[0, 1]:g}) and ends at ({arr[-1, 0]:g} {arr[-1, 1]:g})",
                        "repeat the first position at the end of the ring, or repair the file with 'geozones zones check --repair --out FILE'",
                        zid,
                    )
                    return None, problems, None
            if len(arr) < 4:
                err("degenerate-ring", f"{label} has {len(arr)} positions; a ring needs at least 4", "draw the polygon again", zid)
                return None, problems, None
            rings.append(arr)
            all_xy.append(arr)
        shapes.append(shapely.Polygon(rings[0], rings[1:]))
    xy = np.vstack(all_xy)
    lon, lat = xy[:, 0], xy[:, 1]
    if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        if (np.abs(lon) <= 90).all() and (np.abs(lat) <= 180).all():
            err(
                "swapped-lat-lon",
                f"latitude {lat[np.abs(lat) > 90][0]:g} is out of range; latitude and longitude look swapped",
                "GeoJSON positions are [longitude, latitude]: swap the two numbers of every position",
                zid,
            )
        elif (np.abs(xy) < 1000).all():  # (a probe's longitude 200 was "projected ... like Belgian Lambert 72"; j, not i: err's)
            j = int(np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))[0])
            err("out-of-range", f"position ({lon[j]:g} {lat[j]:g}) is out of range: longitude lies within -180 to 180 and latitude "
                "within -90 to 90", "correct the position (a typing error?) in your GIS", zid)
        else:
            err(
                "projected-coordinates",
                f"coordinates such as ({lon[0]:g} {lat[0]:g}) are not longitude/latitude degrees; they look projected (metres)",
                "GeoJSON must be WGS84 longitude/latitude: reproject to EPSG:4326 (QGIS: Export > Save Features As, CRS EPSG:4326)"
                + belgian_grid_hint(lon, lat),
                zid,
            )
        return None, problems, None
    span = (float(np.ptp(lon)), float(np.ptp(lat)))
    if max(span) > MAX_SPAN_DEG:  # (a probe's box round the world was "reached by no cell ... swap latitude and longitude")
        err("too-large", f"spans {span[0]:.0f} degrees of longitude and {span[1]:.0f} of latitude: zones are measured in one metric CRS, "
            f"which cannot hold a zone over {MAX_SPAN_DEG} degrees across", "draw the zones of a city, region or country", zid)
        return None, problems, None
    shape = shapes[0] if gtype == "Polygon" else shapely.MultiPolygon(shapes)
    fixed: dict[str, Any] | None = None
    if not shape.is_empty and shapely.convex_hull(shape).area == 0:  # (a ring on one line read "self-intersection", then "empty")
        err("zero-area", "has zero area: its points lie on one line", "draw the zone as a polygon with an inside, or remove the feature", zid)
        return None, problems, None
    if not shapely.is_valid(shape):
        reason = shapely.is_valid_reason(shape)
        if repair:
            repaired = _polygonal(shapely.make_valid(shape))
            fixed = {"zone_id": zid, "reason": reason, "before": shape, "after": repaired}
            shape = repaired
        else:
            err(
                "invalid-geometry",
                f"invalid geometry: {_describe_reason(reason)}",
                "fix it in your GIS (QGIS: Vector > Geometry Tools > Fix Geometries) or with 'geozones zones check --repair --out FILE'",
                zid,
            )
            return None, problems, None
    if shape.is_empty:
        err("empty-geometry", "geometry is empty", "draw the zone's polygon or remove the feature", zid)
        return None, problems, None
    record = {k: v for k, v in props.items() if k not in ("zone_id", "name")}
    record.update(zone_id=zid, name=str(name) if name is not None else None, geometry=shape)
    return (record if zid is not None else None), problems, fixed


def _describe_reason(reason: str) -> str:
    """Make GEOS' ``'Self-intersection[3.25 50.8]'`` readable."""
    if "[" in reason and reason.endswith("]"):
        what, at = reason[:-1].split("[", 1)
        return f"{what.lower()} at ({at})"
    return reason


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygonal parts of ``geom`` (the result of ``make_valid``)."""
    if shapely.get_type_id(geom) in (3, 6):  # Polygon, MultiPolygon
        return geom
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(polys)


def _check_file(path: Path, repair: bool) -> tuple[list[dict[str, Any]], list[Problem], list[dict[str, Any]]]:
    p = str(path)
    data, problems = _load_json(path)
    if problems:
        return [], problems, []
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        return [], [
            Problem(
                p,
                "",
                "not-feature-collection",
                f"is not a GeoJSON FeatureCollection (found {kind!r})",
                'a zone file is {"type": "FeatureCollection", "features": [...]}',
            )
        ], []
    crs = data.get("crs")
    if crs is not None:
        name = ""
        if isinstance(crs, dict):
            name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs.get("properties"), dict) else ""
        if not is_wgs84(name):
            return [], [
                Problem(
                    p,
                    "crs",
                    "foreign-crs",
                    f"the file declares the coordinate system {name or crs!r}; GeoJSON must be WGS84 longitude/latitude",
                    "reproject to EPSG:4326 (QGIS: Export > Save Features As, CRS EPSG:4326) and drop the crs member",
                )
            ], []
    features = data.get("features")
    if not isinstance(features, list):
        return [], [Problem(p, "features", "no-features", '"features" is missing or not a list', "export the file again")], []
    if not features:
        return [], [Problem(p, "features", "no-features", "the FeatureCollection has no features", "draw at least one zone")], []
    clean = clean_features(features)
    if clean is not None:
        for i, rec in enumerate(clean):
            rec["_path"], rec["_index"] = p, i
        return clean, problems, []
    records, repairs = [], []
    for i, feat in enumerate(features):
        rec, probs, fixed = _check_feature(p, i, feat, repair)
        problems.extend(probs)
        if rec is not None:
            rec["_path"], rec["_index"] = p, i
            records.append(rec)
        if fixed is not None:
            fixed["path"], fixed["index"] = p, i
            repairs.append(fixed)
    return records, problems, repairs


def _swap_suspects(zones: gpd.GeoDataFrame) -> np.ndarray:
    """Zones far from the others whose lat/lon-swapped position lies among them."""
    if len(zones) < 3:
        return np.zeros(len(zones), dtype=bool)
    c = shapely.centroid(zones.geometry.values)
    x, y = shapely.get_x(c), shapely.get_y(c)
    mx, my = np.median(x), np.median(y)
    far = np.hypot(x - mx, y - my) > 2.0  # degrees: a few hundred km
    near_if_swapped = np.hypot(y - mx, x - my) < 0.5
    return far & near_if_swapped


def check_zones(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    repair: bool = False,
    crs: str | pyproj.CRS | None = None,
) -> ZoneReport:
    """Read and check zone files, collecting every problem instead of stopping at the first.

    Parameters
    ----------
    paths : path or iterable of paths
        GeoJSON files, or folders of them (see :func:`zone_paths`).
    repair : bool, default False
        Close unclosed rings and apply ``shapely.make_valid`` (keeping the polygonal
        parts) to invalid geometries; the area change of each repair is reported.
    crs : str or pyproj.CRS, optional
        The metric CRS for areas; chosen automatically when not given.

    Returns
    -------
    ZoneReport
        The zones that could be read, the problems, overlaps and repairs.
    """
    files = zone_paths(paths)
    records: list[dict[str, Any]] = []
    problems: list[Problem] = []
    repairs_raw: list[dict[str, Any]] = []
    for f in files:
        recs, probs, reps = _check_file(f, repair)
        records.extend(recs)
        problems.extend(probs)
        repairs_raw.extend(reps)

    seen: dict[str, tuple[str, int]] = {}
    keep = []
    for rec in records:
        zid = rec["zone_id"]
        if zid in seen:
            first = seen[zid]
            where = "this file" if first[0] == rec["_path"] else first[0]
            problems.append(
                Problem(
                    rec["_path"],
                    _where(rec["_index"], zid),
                    "duplicate-zone-id",
                    f"zone_id {zid!r} is used again (first at features[{first[1]}] of {where})",
                    "give each zone a unique zone_id",
                )
            )
            continue
        seen[zid] = (rec["_path"], rec["_index"])
        keep.append(rec)

    zones = gpd.GeoDataFrame(keep, geometry="geometry", crs=WGS84) if keep else _empty_zones()
    metric = None
    repairs = pd.DataFrame(columns=["zone_id", "reason", "area_before_m2", "area_after_m2", "change_pct"])
    if len(zones):
        suspects = _swap_suspects(zones)
        for rec_path, idx, zid in zones.loc[suspects, ["_path", "_index", "zone_id"]].itertuples(index=False):
            problems.append(
                Problem(
                    rec_path,
                    _where(idx, zid),
                    "swapped-lat-lon",
                    "lies far from the other zones, where they would be if latitude and longitude were swapped",
                    "GeoJSON positions are [longitude, latitude]: swap the two numbers of every position",
                )
            )
        zones = zones.loc[~suspects].reset_index(drop=True)
    if len(zones):
        metric = metric_crs(zones.total_bounds, crs)
        area = zones.geometry.to_crs(metric).area.to_numpy()
        zero = area <= MIN_AREA_M2
        for rec_path, idx, zid in zones.loc[zero, ["_path", "_index", "zone_id"]].itertuples(index=False):
            problems.append(
                Problem(rec_path, _where(idx, zid), "zero-area", "has zero area", "draw the zone as a polygon with an inside")
            )
        zones = zones.loc[~zero].reset_index(drop=True)
        zones["area_km2"] = area[~zero] / 1e6
        if repairs_raw:
            before = gpd.GeoSeries([r["before"] for r in repairs_raw], crs=WGS84).to_crs(metric).area.to_numpy()
            after = gpd.GeoSeries([r["after"] for r in repairs_raw], crs=WGS84).to_crs(metric).area.to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                # (a self-crossing ring's parts cancel out: its area says nothing, nor a change from it)
                change = np.where(before > 0.01 * after, (after - before) / before * 100, np.nan)
            repairs = pd.DataFrame(
                {
                    "zone_id": [r["zone_id"] for r in repairs_raw],
                    "reason": [_describe_reason(r["reason"]) for r in repairs_raw],
                    "area_before_m2": before,
                    "area_after_m2": after,
                    "change_pct": change,
                }
            )
            for r, ch, a in zip(repairs_raw, change, after):
                what = f"area changed by {ch:+.2f}%" if np.isfinite(ch) else f"area now {a / 1e6:.3f} km² (the invalid shape had no meaningful area)"
                problems.append(
                    Problem(
                        r["path"],
                        _where(r["index"], r["zone_id"]),
                        "repaired",
                        f"repaired ({_describe_reason(r['reason'])}); {what}",
                        "check the repaired shape and save it back",
                        "warning",
                    )
                )
    problems.sort(key=lambda pr: (files.index(Path(pr.path)) if Path(pr.path) in files else 0, _feature_index(pr.where)))
    zones = zones.drop(columns=["_path", "_index"], errors="ignore")
    overlaps = zone_overlaps(zones, metric)
    return ZoneReport(zones=zones, problems=problems, overlaps=overlaps, repairs=repairs, crs=metric)


def _feature_index(where: str) -> int:
    if where.startswith("features["):
        return int(where[9 : where.index("]")])
    return -1


def _empty_zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"zone_id": pd.Series(dtype=str), "name": pd.Series(dtype=str), "_path": [], "_index": []},
        geometry=gpd.GeoSeries([], crs=WGS84),
        crs=WGS84,
    )


def read_zones(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    repair: bool = False,
) -> gpd.GeoDataFrame:
    """Read zone files into a zone set, refusing files with problems.

    Parameters
    ----------
    paths : path or iterable of paths
        GeoJSON files, or folders of them.
    repair : bool, default False
        Repair unclosed rings and invalid geometries instead of refusing them.

    Returns
    -------
    geopandas.GeoDataFrame
        ``zone_id``, ``name``, the other properties, ``area_km2`` and ``geometry``, in EPSG:4326.

    Raises
    ------
    ZoneError
        If any file has an error; ``.problems`` lists them all and the message names the first.
    """
    if isinstance(paths, pd.DataFrame):  # (its columns were taken for paths: "kind: no such file or folder")
        raise ZoneError("read_zones reads zone files; this is already a table of zones", hint="use it as it is, or write it with write_zones")
    report = check_zones(paths, repair=repair)
    errors = report.errors
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}: run 'geozones zones check')" if len(errors) > 1 else ""
        raise ZoneError(
            first.message + more, problems=report.problems, path=first.path, where=first.where or None, hint=first.hint
        )
    return report.zones


def write_zones(zones: gpd.GeoDataFrame, path: str | os.PathLike[str], *, precision: int = 7, na: str = "drop") -> Path:
    """Write a zone set as RFC 7946 GeoJSON (WGS84, no ``crs`` member), atomically.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        The zone set (any CRS; it is reprojected to WGS84).
    path : str or os.PathLike
        The output file.
    precision : int, default 7
        Decimals kept in coordinates (7 decimals is about 1 cm).
    na : {"drop", "null"}, default "drop"
        Missing (NaN) properties left out of their feature, or written as ``null`` (every
        feature then has the same properties: one attribute table in a GIS).

    Returns
    -------
    pathlib.Path
        ``path``, holding a FeatureCollection with one feature a line: ``zone_id`` and
        ``name`` first among the properties.
    """
    missing = [c for c in ("zone_id", "name") if c not in zones.columns]
    twice = zones["zone_id"].astype(str)[zones["zone_id"].astype(str).duplicated()] if not missing else []
    if missing or len(twice):  # (a probe wrote a file that read_zones then refused)
        raise ZoneError(f"the zones have no {' and '.join(missing)} column" if missing else f"zone_id {twice.iloc[0]!r} is given twice",
                        path=path, hint="every zone needs a zone_id of its own and a name")
    out = zones.to_crs(WGS84) if zones.crs is not None else zones.set_crs(WGS84)
    out = out.copy()
    out["geometry"] = shapely.set_precision(out.geometry.values, 10.0**-precision)
    cols = ["zone_id", "name"] + [c for c in out.columns if c not in ("zone_id", "name", "geometry")]
    text = out[cols + ["geometry"]].to_json(drop_id=True, na="null" if na == "null" else "drop")
    # to_json gives one long line; keep one feature a line so that diffs stay readable
    data = json.loads(text)
    data.pop("crs", None)
    data.pop("bbox", None)
    body = ",\n".join(json.dumps(f, ensure_ascii=False) for f in data["features"])
    return write_text_atomic(path, '{"type": "FeatureCollection", "features": [\n' + body + "\n]}\n")

