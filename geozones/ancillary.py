"""Ancillary layers for dasymetric weights and the footprint model's prior: where people
are, as polygons with a ``value`` (a population raster's pixels, buildings, shops).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyproj

from ._words import plural
from .crs import WGS84, metric_crs, pixel_to_map
from .errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["read_ancillary"]


def read_ancillary(
    source: str | os.PathLike[str] | gpd.GeoDataFrame,
    *,
    column: str | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    bounds_crs: str | pyproj.CRS = WGS84,
) -> gpd.GeoDataFrame:
    """An ancillary layer for dasymetric weighting, as polygons with a ``value``.

    Parameters
    ----------
    source : path or geopandas.GeoDataFrame
        A raster (GeoTIFF: each pixel a square holding its value, e.g. a population
        grid) or a polygon layer (e.g. buildings), or a GeoDataFrame of polygons.
    column : str, optional
        The polygon layer's value column; without it, each polygon's area is its value
        (buildings weigh by footprint).
    bounds : tuple, optional
        Only the part within these bounds (in ``bounds_crs``) is read.

    Returns
    -------
    geopandas.GeoDataFrame
        Polygons with a ``value`` column (non-negative), in the source's CRS.
    """
    import geopandas as gpd

    if isinstance(source, gpd.GeoDataFrame):
        gdf = source
    else:
        path = Path(source)
        if not path.exists():
            raise InputError("no such file", path=path, hint="check the ancillary layer's path")
        if path.suffix.lower() in (".tif", ".tiff", ".vrt", ".img"):
            return _raster_polygons(path, bounds, bounds_crs)
        what = "give a population raster (GeoTIFF) or a polygon layer (GeoJSON, GeoPackage, Shapefile, GeoParquet) of where people are"
        if path.is_file() and path.stat().st_size == 0:
            raise InputError("the ancillary layer is empty (0 bytes)", path=path, hint=what)
        try:
            gdf = gpd.read_parquet(path) if path.suffix.lower() in (".parquet", ".geoparquet") else gpd.read_file(path)
        except Exception as exc:  # noqa: BLE001 - GDAL, pyogrio and Arrow raise many classes for a file they cannot read
            raise InputError(f"cannot read the ancillary layer ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})",
                             path=path, hint=what) from exc
        source = str(path)
        if not isinstance(gdf, gpd.GeoDataFrame) or gdf.active_geometry_name is None:  # (a CSV or table without geometry)
            raise InputError("the ancillary layer has no geometry", path=path, hint=what)
    named = None if isinstance(source, gpd.GeoDataFrame) else source
    if gdf.crs is None:
        raise InputError("the ancillary layer has no CRS", path=named)
    polys = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if len(gdf) and not polys.any():
        kinds = ", ".join(sorted(set(map(str, gdf.geometry.geom_type.dropna()))))
        raise InputError(f"the ancillary layer holds no polygons ({plural(len(gdf), 'feature')}: {kinds or 'empty geometries'})", path=named,
                         hint="give polygons (buildings, shops' outlines) or a raster; points say where, not over what area")
    gdf = gdf[polys]
    if column is None:
        values = gdf.geometry.area.to_numpy() if gdf.crs.is_projected or not len(gdf) else gdf.to_crs(metric_crs(gdf.to_crs(WGS84).total_bounds)).area.to_numpy()
    else:
        if column not in gdf.columns:
            raise InputError(f"the ancillary layer has no column {column!r}", path=named, hint=f"columns: {', '.join(map(str, gdf.columns))}")
        values = pd.to_numeric(gdf[column], errors="coerce").fillna(0).clip(lower=0).to_numpy(dtype=float)
    return gpd.GeoDataFrame({"value": values}, geometry=gdf.geometry.values, crs=gdf.crs)


def _raster_polygons(path: Path, bounds, bounds_crs) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pyproj
    import rasterio
    import shapely
    from rasterio.windows import from_bounds

    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read the raster: {exc}", path=path) from exc
    with src:
        if src.crs is None:
            raise InputError("the raster has no CRS", path=path)
        window = None
        if bounds is not None:
            tb = pyproj.Transformer.from_crs(bounds_crs, src.crs, always_xy=True).transform_bounds(*bounds, densify_pts=21)
            window = from_bounds(*tb, transform=src.transform).round_offsets().round_lengths()
            try:
                window = window.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
            except rasterio.errors.WindowError:
                raise InputError("the raster does not cover the cells and zones", path=path,
                                 hint="give a raster of the same place (check its CRS)") from None
        data = src.read(1, window=window, masked=True)
        transform = src.window_transform(window) if window is not None else src.transform
        crs = src.crs
    vals = np.ma.filled(data.astype(float), 0.0)
    vals[~np.isfinite(vals)] = 0.0
    rows, cols = np.nonzero(vals > 0)
    x0, y0 = pixel_to_map(transform, cols, rows)
    x1, y1 = pixel_to_map(transform, cols + 1, rows + 1)
    boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
    return gpd.GeoDataFrame({"value": vals[rows, cols]}, geometry=boxes, crs=crs.to_wkt())
