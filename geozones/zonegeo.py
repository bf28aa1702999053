"""Geometry over a set of zones: the metric CRS of a layer, which zones overlap and which
lie inside others (nesting, for disclosure control), and square and H3 grids over an area
(:mod:`geozones.zones` reads and checks the zone files; it gives these names too).
"""

from __future__ import annotations

import math
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import WGS84, metric_crs
from .errors import InputError
from .overlay import overlapping_pairs

__all__ = ["MIN_AREA_M2", "to_metric", "zone_overlaps", "nested_pairs", "zone_families", "nested_zones", "square_grid", "h3_grid"]

#: A zone smaller than this (in m²) is treated as having zero area.
MIN_AREA_M2 = 0.01


def to_metric(gdf: gpd.GeoDataFrame, crs: str | pyproj.CRS | None = None) -> gpd.GeoDataFrame:
    """Return ``gdf`` reprojected to ``crs``, or to the metric CRS chosen by :func:`metric_crs`."""
    if gdf.crs is None:
        raise InputError("the layer has no CRS", hint="set one with GeoDataFrame.set_crs")
    if crs is None:
        b = gdf.to_crs(WGS84).total_bounds if not gdf.crs.equals(pyproj.CRS(WGS84)) else gdf.total_bounds
        crs = metric_crs(b)
    else:
        crs = metric_crs((0, 0, 0, 0), crs)
    return gdf.to_crs(crs)


def _empty_overlaps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "zone_a": pd.Series(dtype=str),
            "zone_b": pd.Series(dtype=str),
            "overlap_km2": pd.Series(dtype=float),
            "share_of_a": pd.Series(dtype=float),
            "share_of_b": pd.Series(dtype=float),
        }
    )


def zone_overlaps(zones: gpd.GeoDataFrame, crs: str | pyproj.CRS | None = None) -> pd.DataFrame:
    """List the pairs of zones whose interiors overlap.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        A zone set.
    crs : str or pyproj.CRS, optional
        Metric CRS for the areas; chosen automatically when not given.

    Returns
    -------
    pandas.DataFrame
        ``zone_a``, ``zone_b``, ``overlap_km2``, ``share_of_a`` and ``share_of_b`` (the
        overlap as a fraction of each zone's area), one row per pair, largest overlap first.
    """
    if len(zones) < 2:
        return _empty_overlaps()
    m = to_metric(zones[["zone_id", "geometry"]], crs)
    geoms = m.geometry.values._data if hasattr(m.geometry.values, "_data") else np.asarray(m.geometry.values)
    a, b, inter = overlapping_pairs(geoms, os.cpu_count() or 1)
    areas = shapely.area(geoms)
    keep = inter > MIN_AREA_M2
    a, b, inter = a[keep], b[keep], inter[keep]
    if not len(a):
        return _empty_overlaps()
    ids = m["zone_id"].to_numpy()
    out = pd.DataFrame(
        {
            "zone_a": ids[a],
            "zone_b": ids[b],
            "overlap_km2": inter / 1e6,
            "share_of_a": inter / areas[a],
            "share_of_b": inter / areas[b],
        }
    )
    return out.sort_values("overlap_km2", ascending=False, kind="stable").reset_index(drop=True)


def nested_pairs(overlaps: pd.DataFrame, *, inside: float = 0.99, remainder: float = 1e-6) -> list[tuple[str, str]]:
    """Pairs (outer, inner) of zones where the inner lies inside the outer, from :func:`zone_overlaps`.

    A zone counts as inside another when at least ``inside`` of its area is; pairs whose
    difference is less than ``remainder`` of the outer zone's area are the same zone twice
    (their figures are equal and reveal nothing) and are left out. Any larger difference
    is kept: even a strip of 0.1% of a zone of 20,000 people holds about 20.
    """
    out = []
    for r in overlaps.itertuples(index=False):
        if r.share_of_b >= inside and 1 - r.share_of_a >= remainder:
            out.append((r.zone_a, r.zone_b))
        elif r.share_of_a >= inside and 1 - r.share_of_b >= remainder:
            out.append((r.zone_b, r.zone_a))
    return out


def zone_families(zones: gpd.GeoDataFrame, overlaps: pd.DataFrame, *, inside: float = 0.99, remainder: float = 1e-6) -> list:
    """Zones that hold several others: ``(outer, [inner, ...], rest)`` for :func:`geozones.disclosure_control`.

    The inner zones lie inside the outer one (``inside`` of their area) and do not overlap
    each other (chosen largest first); ``rest`` says whether they leave more than
    ``remainder`` of the outer zone uncovered. Only outer zones with two or more inner
    zones are listed (one inner zone is a pair: :func:`nested_pairs`).
    """
    pairs = nested_pairs(overlaps, inside=inside, remainder=0.0)
    area = dict(zip(zones["zone_id"], zones["area_km2"])) if "area_km2" in zones.columns else {}
    touching = {(r.zone_a, r.zone_b) for r in overlaps.itertuples(index=False) if r.overlap_km2 > 1e-6}
    touching |= {(b, a) for a, b in touching}
    inter = {(r.zone_a, r.zone_b): r.overlap_km2 for r in overlaps.itertuples(index=False)}
    by_outer: dict[str, list[str]] = {}
    for a, b in pairs:
        by_outer.setdefault(a, []).append(b)
    families = []
    for outer, inside_it in by_outer.items():
        inners = sorted(inside_it, key=lambda b: -area.get(b, 0.0))
        chosen: list[str] = []
        for b in inners:
            if all((b, c) not in touching for c in chosen):
                chosen.append(b)
        if len(chosen) < 2:
            continue
        covered = sum(inter.get((outer, b), inter.get((b, outer), 0.0)) for b in chosen)
        rest = (1 - covered / area[outer]) >= remainder if area.get(outer) else True
        families.append((outer, chosen, bool(rest)))
    return families


def _area_geometry(area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry) -> gpd.GeoSeries:
    if isinstance(area, shapely.Geometry):
        return gpd.GeoSeries([area], crs=WGS84)
    if isinstance(area, gpd.GeoDataFrame):
        area = area.geometry
    if area.crs is None:
        raise InputError("the area has no CRS", hint="give the area as GeoJSON in longitude/latitude")
    return area


def nested_zones(zones: gpd.GeoDataFrame, crs: str | pyproj.CRS | None = None) -> list:
    """Every zone inside another, as :func:`geozones.disclosure_control` takes them (``nested``).

    The pairs of :func:`nested_pairs` and the families of :func:`zone_families`, as a run
    finds them: without them, subtracting a zone from one around it may give fewer than
    ``k`` people.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        A zone set (:func:`geozones.read_zones`).
    crs : str or pyproj.CRS, optional
        Metric CRS for the areas; chosen automatically when not given.

    Returns
    -------
    list
        ``(outer, inner)`` pairs and ``(outer, [inner, ...], rest)`` families.
    """
    shapes = zones[[c for c in ("zone_id", "area_km2", "geometry") if c in zones.columns]]
    overlaps = zone_overlaps(shapes, crs)
    return nested_pairs(overlaps) + zone_families(shapes, overlaps)


def square_grid(
    area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    size_m: float,
    *,
    crs: str | pyproj.CRS | None = None,
    clip: bool = False,
) -> gpd.GeoDataFrame:
    """A square grid of ``size_m`` metres over an area, as a zone set.

    Parameters
    ----------
    area : GeoDataFrame, GeoSeries or shapely geometry
        The area to cover (a bare geometry is taken as WGS84 longitude/latitude).
    size_m : float
        The side of a square, in metres of the metric CRS.
    crs : str or pyproj.CRS, optional
        The metric CRS the grid is aligned to; chosen automatically when not given.
    clip : bool, default False
        Clip the squares to the area (by default whole squares that touch it are kept).

    Returns
    -------
    geopandas.GeoDataFrame
        Zones with ``zone_id`` ``"sq{size}_{col}_{row}"`` (column and row counted from the
        grid origin at the CRS's whole multiples of ``size_m``), ``name``, ``area_km2``, in EPSG:4326.
    """
    if not size_m > 0 or not math.isfinite(size_m):
        raise InputError(f"grid size {size_m!r} is not a positive number of metres")
    geo = _area_geometry(area)
    metric = to_metric(gpd.GeoDataFrame(geometry=geo), crs)
    shape = shapely.union_all(metric.geometry.values)
    minx, miny, maxx, maxy = shape.bounds
    c0, c1 = math.floor(minx / size_m), math.ceil(maxx / size_m)
    r0, r1 = math.floor(miny / size_m), math.ceil(maxy / size_m)
    n = (c1 - c0) * (r1 - r0)
    if n > 5_000_000:
        raise InputError(f"a {size_m:g} m grid over this area has {n:,} squares; choose a larger size")
    cols, rows = np.meshgrid(np.arange(c0, c1), np.arange(r0, r1))
    cols, rows = cols.ravel(), rows.ravel()
    boxes = shapely.box(cols * size_m, rows * size_m, (cols + 1) * size_m, (rows + 1) * size_m)
    shapely.prepare(shape)
    hit = shapely.intersects(shape, boxes)
    boxes, cols, rows = boxes[hit], cols[hit], rows[hit]
    if clip:
        boxes = shapely.intersection(boxes, shape)
        ok = shapely.area(boxes) > MIN_AREA_M2
        boxes, cols, rows = boxes[ok], cols[ok], rows[ok]
    size_txt = f"{size_m:g}"
    ids = [f"sq{size_txt}_{c}_{r}" for c, r in zip(cols.tolist(), rows.tolist())]
    grid = gpd.GeoDataFrame(
        {"zone_id": ids, "name": ids, "area_km2": shapely.area(boxes) / 1e6},
        geometry=boxes,
        crs=metric.crs,
    )
    grid = grid.to_crs(WGS84)
    grid.attrs["tiling"] = True  # squares never overlap: weights skip the overlap check
    return grid


def h3_grid(area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry, resolution: int) -> gpd.GeoDataFrame:
    """The H3 cells of ``resolution`` that cover an area, as a zone set.

    Parameters
    ----------
    area : GeoDataFrame, GeoSeries or shapely geometry
        The area to cover (a bare geometry is taken as WGS84 longitude/latitude).
    resolution : int
        H3 resolution, 0 to 15 (resolution 9 cells are about 0.1 km²).

    Returns
    -------
    geopandas.GeoDataFrame
        Zones with the H3 index as ``zone_id`` and ``name``, ``area_km2``, in EPSG:4326.
        Every cell that overlaps the area is included.
    """
    import h3

    if not isinstance(resolution, (int, np.integer)) or not 0 <= int(resolution) <= 15:
        raise InputError(f"H3 resolution {resolution!r} is not a whole number from 0 to 15")
    geo = _area_geometry(area).to_crs(WGS84)
    shape = shapely.union_all(geo.values)
    cells: set[str] = set()
    # buffer by one cell edge so that cells overlapping the boundary are kept
    edge_m = h3.average_hexagon_edge_length(int(resolution), unit="m")
    metric = metric_crs(geo.total_bounds)
    grown_m = gpd.GeoSeries([shape], crs=WGS84).to_crs(metric).buffer(edge_m * 1.1)
    n = float(grown_m.area.iloc[0]) / h3.average_hexagon_area(int(resolution), unit="m^2")
    if n > 1_000_000:  # (a probe's resolution 13 over Gent, 3.4 million cells, ran for more than ten minutes)
        raise InputError(f"an H3 grid of resolution {int(resolution)} over this area has about {n:,.0f} cells; choose a lower resolution")
    grown = grown_m.to_crs(WGS84).iloc[0]
    for poly in shapely.get_parts(grown):
        cells.update(h3.geo_to_cells(shapely.geometry.mapping(poly), int(resolution)))
    ids = sorted(cells)
    # (a cell has 6 vertices, or 7-10 where an icosahedron edge crosses it: odd resolutions)
    boundaries = [np.asarray(h3.cell_to_boundary(c), float)[:, ::-1] for c in ids]
    sizes = np.array([len(b) for b in boundaries], np.int64)
    rings = shapely.linearrings(np.concatenate(boundaries), indices=np.repeat(np.arange(len(ids)), sizes)) if ids else []
    polys = shapely.polygons(rings) if ids else np.array([], dtype=object)
    grid = gpd.GeoDataFrame({"zone_id": ids, "name": ids}, geometry=polys, crs=WGS84)
    shapely.prepare(shape)
    grid = grid[shapely.intersects(shape, grid.geometry.values)].reset_index(drop=True)
    grid["area_km2"] = grid.to_crs(metric).area.to_numpy() / 1e6
    grid.attrs["tiling"] = True  # H3 cells never overlap
    return grid


