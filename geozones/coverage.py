"""Coverage areas: the polygon that each cell is taken to serve.

Three models build one from a cell plan (:mod:`geozones.cellplan`, whose readers are
re-exported here):

``given``
    The operator's own polygons, read from a file with a ``cell_id`` per polygon.
``wedge``
    A circular sector from the site, centred on the azimuth, ``beamwidth`` wide and
    ``range_m`` deep; a full disc for an omnidirectional cell.
``voronoi``
    The best-server area: a Voronoi tessellation of the site positions, clipped to the
    site's range and split between the site's sectors at the bisectors of their azimuths.

The default model, ``footprint``, apportions by footprints over a grid
(:mod:`geozones.footprint`); :func:`build_coverage` gives it the best-server (Voronoi)
areas, for checks and drawing.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ._io import file_format
from .cellplan import read_cellplan, read_sites
from .crs import WGS84, metric_crs
from .errors import CellPlanError, CoverageError

__all__ = [
    "MODELS",
    "DEFAULT_MODEL",
    "read_cellplan",
    "read_sites",
    "read_coverage",
    "wedge_coverage",
    "voronoi_coverage",
    "build_coverage",
]

#: The coverage models.
MODELS = ("wedge", "voronoi", "given", "footprint")
#: The model used when none is named: the most accurate in docs/accuracy.md across the
#: crowd scenarios (zones of 0.25-1 km²: a median error of 10-11% against Voronoi's 14-15%;
#: under 0.25 km² 36-40% against 41-42%; above 1 km² within a point of Voronoi).
DEFAULT_MODEL = "footprint"
#: Segments used to draw a wedge's arc, and a full disc.
_ARC_SEGMENTS = 32
_DISC_SEGMENTS = 64


def read_coverage(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Read given coverage polygons (GeoJSON, GeoPackage, GeoParquet...) with a ``cell_id`` each.

    Parameters
    ----------
    path : str or os.PathLike
        A file of polygons or multipolygons, one per cell: GeoParquet for a ``.parquet``
        or ``.pq`` name, else any format geopandas reads (GeoJSON, GeoPackage, Shapefile).

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` and the other columns, polygon geometry in the file's CRS
        (EPSG:4326 when the file states none), in ``cell_id`` order.

    Raises
    ------
    CoverageError
        No ``cell_id``, duplicate ids, non-polygon or empty geometries, invalid polygons.
    """
    path = Path(path)
    try:
        if file_format(path) == "parquet":
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path)
    except FileNotFoundError as exc:
        raise CoverageError("no such file", path=path, hint="check the path") from exc
    except Exception as exc:
        raise CoverageError(f"cannot read coverage areas: {exc}", path=path, hint="give a GeoJSON of polygons with cell_id") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:  # (a CSV cell plan: a table, no shapes)
        raise CoverageError("holds no coverage polygons (a table without geometry: is it a cell plan of positions?)", path=path,
                            hint="--model given takes a polygon per cell (GeoJSON, GeoPackage, Shapefile or GeoParquet, with cell_id); "
                                 "for a cell plan choose --model footprint, voronoi or wedge")
    if "cell_id" not in gdf.columns:
        raise CoverageError("has no cell_id property", path=path, hint="each coverage polygon needs the cell_id it belongs to")
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    gdf["cell_id"] = gdf["cell_id"].astype(str)
    dup = gdf["cell_id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise CoverageError(f"cell_id {gdf['cell_id'].iloc[i]!r} appears more than once", path=path, where=f"feature {i}", hint="merge the polygons of a cell into one MultiPolygon")
    types = gdf.geometry.geom_type
    bad = ~types.isin(["Polygon", "MultiPolygon"]).to_numpy() | gdf.geometry.is_empty.to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CoverageError(
            f"geometry of cell {gdf['cell_id'].iloc[i]!r} is {types.iloc[i] or 'empty'}, not a polygon",
            path=path,
            where=f"feature {i}",
            hint="a given coverage area must be a Polygon or MultiPolygon",
        )
    invalid = ~gdf.geometry.is_valid.to_numpy()
    if invalid.any():
        i = int(np.flatnonzero(invalid)[0])
        raise CoverageError(
            f"coverage of cell {gdf['cell_id'].iloc[i]!r} is invalid: {shapely.is_valid_reason(gdf.geometry.iloc[i])}",
            path=path,
            where=f"feature {i}",
            hint="fix the polygon (QGIS: Fix Geometries)",
        )
    gdf = gdf.iloc[np.argsort(gdf["cell_id"].astype(str).to_numpy(), kind="stable")].reset_index(drop=True)  # (id order, as the plan's)
    gdf.attrs["valid"] = True
    return gdf


def _sector_polygons(x, y, azimuth, beamwidth, radius, segments: int = _ARC_SEGMENTS) -> np.ndarray:
    """Vectorised circular sectors: site, arc from azimuth - bw/2 to azimuth + bw/2, site."""
    t = np.linspace(-0.5, 0.5, segments + 1)
    theta = np.deg2rad(azimuth[:, None] + beamwidth[:, None] * t[None, :])
    ax = x[:, None] + radius[:, None] * np.sin(theta)
    ay = y[:, None] + radius[:, None] * np.cos(theta)
    n = len(x)
    coords = np.empty((n, segments + 3, 2))
    coords[:, 0, 0], coords[:, 0, 1] = x, y
    coords[:, 1:-1, 0], coords[:, 1:-1, 1] = ax, ay
    coords[:, -1, 0], coords[:, -1, 1] = x, y
    return shapely.polygons(coords)


def _disc_polygons(x, y, radius, segments: int = _DISC_SEGMENTS) -> np.ndarray:
    theta = np.linspace(0, 2 * np.pi, segments + 1)
    coords = np.empty((len(x), segments + 1, 2))
    coords[:, :, 0] = x[:, None] + radius[:, None] * np.sin(theta)[None, :]
    coords[:, :, 1] = y[:, None] + radius[:, None] * np.cos(theta)[None, :]
    coords[:, -1] = coords[:, 0]
    return shapely.polygons(coords)


def _metric_cells(cells: gpd.GeoDataFrame, crs: str | pyproj.CRS | None) -> gpd.GeoDataFrame:
    missing = {"cell_id", "azimuth", "beamwidth", "range_m"} - set(cells.columns)
    if missing:
        raise CellPlanError(f"cell plan lacks {', '.join(sorted(missing))}", hint="read it with read_cellplan")
    if cells.crs is None:
        raise CellPlanError("cell plan has no CRS", hint="read it with read_cellplan")
    bounds = cells.to_crs(WGS84).total_bounds
    return cells.to_crs(metric_crs(bounds, crs))


def wedge_coverage(cells: gpd.GeoDataFrame, *, crs: str | pyproj.CRS | None = None) -> gpd.GeoDataFrame:
    """Sector wedges: one circular sector per cell, a disc for omnidirectional cells.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        A cell plan from :func:`read_cellplan`.
    crs : str or pyproj.CRS, optional
        Metric CRS to build in; chosen automatically when not given.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id``, ``site_id`` and the polygon, in the metric CRS.
    """
    m = _metric_cells(cells, crs)
    x, y = m.geometry.x.to_numpy(), m.geometry.y.to_numpy()
    az, bw, r = (m[c].to_numpy(dtype=float) for c in ("azimuth", "beamwidth", "range_m"))
    if not (np.isfinite(r) & (r > 0)).all():  # (a probe's negative range made a polygon, NaN a GEOS error)
        i = int(np.flatnonzero(~(np.isfinite(r) & (r > 0)))[0])
        raise CoverageError(f"cell {m['cell_id'].iloc[i]!r}: range_m {r[i]:g} is not a positive number of metres", hint="read the plan with geozones.read_cellplan")
    disc = np.isnan(az) | (bw >= 360)
    geoms = np.empty(len(m), dtype=object)
    if disc.any():
        geoms[disc] = _disc_polygons(x[disc], y[disc], r[disc])
    if (~disc).any():
        d = ~disc
        geoms[d] = _sector_polygons(x[d], y[d], az[d], bw[d], r[d])
    return _valid(gpd.GeoDataFrame({"cell_id": m["cell_id"].to_numpy(), "site_id": m["site_id"].to_numpy()}, geometry=geoms, crs=m.crs))


def _valid(cov: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Mark model-built coverage as valid (simple wedges and discs, GEOS intersections),
    so that :func:`geozones.compute_weights` need not check every polygon again.
    """
    cov.attrs["valid"] = True
    return cov


def voronoi_coverage(cells: gpd.GeoDataFrame, *, crs: str | pyproj.CRS | None = None) -> gpd.GeoDataFrame:
    """Best-server areas: Voronoi cells of the sites, clipped to range, split by sector.

    Each site position gets the part of the plane closer to it than to any other site,
    clipped to a disc of the site's largest ``range_m``. A site's directional cells
    share that area at the bisectors between neighbouring azimuths; omnidirectional
    cells, and cells sharing an azimuth (other bands on the same antenna), get the
    same area.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        A cell plan from :func:`read_cellplan`.
    crs : str or pyproj.CRS, optional
        Metric CRS to build in; chosen automatically when not given.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id``, ``site_id`` and the polygon, in the metric CRS.
    """
    m = _metric_cells(cells, crs)
    xy = np.c_[m.geometry.x.to_numpy(), m.geometry.y.to_numpy()]
    pos, site = np.unique(np.round(xy, 1), axis=0, return_inverse=True)
    site = site.ravel()
    r = m["range_m"].to_numpy(dtype=float)
    site_r = np.zeros(len(pos))
    np.maximum.at(site_r, site, r)
    pts = shapely.points(pos)
    if len(pos) == 1:
        site_polys = shapely.buffer(pts, site_r, quad_segs=16)
    else:
        extent = shapely.box(*(pos.min(0) - site_r.max() * 2), *(pos.max(0) + site_r.max() * 2))
        vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=extent, ordered=True)
        site_polys = shapely.get_parts(vor)
        if len(site_polys) != len(pos):  # pragma: no cover - GEOS guarantees one cell per distinct point
            raise CoverageError("the Voronoi tessellation lost sites", hint="report this with the cell plan")
        site_polys = shapely.intersection(site_polys, shapely.buffer(pts, site_r, quad_segs=16))
    # split each site's area between its directional cells at the bisectors of their azimuths
    az = m["azimuth"].to_numpy(dtype=float)
    geoms = site_polys[site].copy()
    directional = ~np.isnan(az)
    if directional.any():
        d = pd.DataFrame({"site": site[directional], "az": az[directional]}).drop_duplicates().sort_values(["site", "az"])
        g = d.groupby("site")["az"]
        prev = g.shift(1).fillna(g.transform("last") - 360.0)
        nxt = g.shift(-1).fillna(g.transform("first") + 360.0)
        d["lo"], d["hi"] = (prev + d["az"]) / 2, (d["az"] + nxt) / 2
        split = d[g.transform("size") > 1]
        if len(split):
            s = split["site"].to_numpy()
            span = (split["hi"] - split["lo"]).to_numpy()
            # a wedge whose chords lie outside the clipping disc
            big = site_r[s] * 1.2 / np.cos(np.pi / _ARC_SEGMENTS)
            wedges = _sector_polygons(pos[s, 0], pos[s, 1], ((split["lo"] + split["hi"]) / 2).to_numpy(), span, big)
            pieces = shapely.intersection(site_polys[s], wedges)
            lookup = pd.Series(np.arange(len(split)), index=pd.MultiIndex.from_arrays([s, split["az"].to_numpy()]))
            idx = np.flatnonzero(directional)
            key = pd.MultiIndex.from_arrays([site[idx], az[idx]])
            hit = lookup.reindex(key).to_numpy()
            ok = ~np.isnan(hit)
            geoms[idx[ok]] = pieces[hit[ok].astype(int)]
    return _valid(gpd.GeoDataFrame({"cell_id": m["cell_id"].to_numpy(), "site_id": m["site_id"].to_numpy()}, geometry=geoms, crs=m.crs))


def build_coverage(
    cells: gpd.GeoDataFrame | str | os.PathLike[str],
    model: str = DEFAULT_MODEL,
    *,
    crs: str | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Coverage areas of a cell plan by one of :data:`MODELS`.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame or path
        A cell plan (for ``wedge`` and ``voronoi``) or, for ``given``, the coverage
        polygons or the file that holds them.
    model : {"footprint", "voronoi", "wedge", "given"}, default "footprint"
        The coverage model. ``footprint`` apportions by probabilistic footprints over a
        grid (:mod:`geozones.footprint`); its areas here are the best-server (Voronoi)
        areas, used for checks and drawing.
    crs : str or pyproj.CRS, optional
        The metric CRS for ``wedge`` and ``voronoi``; chosen automatically when not given.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` (and ``site_id`` when known) with a coverage polygon per cell.
    """
    if model not in MODELS:
        raise CoverageError(f"unknown coverage model {model!r}", hint=f"choose one of {', '.join(MODELS)}")
    if model == "given":
        return read_coverage(cells) if isinstance(cells, (str, os.PathLike)) else cells
    if isinstance(cells, (str, os.PathLike)):
        cells = read_cellplan(cells)
    cov = wedge_coverage(cells, crs=crs) if model == "wedge" else voronoi_coverage(cells, crs=crs)  # (footprint: best-server areas)
    cov.attrs["model"] = "wedge" if model == "wedge" else "voronoi"
    return cov
