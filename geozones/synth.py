"""Seeded synthetic inputs: cell plans whose sites follow a population grid.

Real cell plans are operators' secrets; the sample data, the demo and the benchmarks use
synthetic ones made here. Sites are drawn at random with a probability proportional to
the population of each grid pixel (networks are densest where people are), each with
three sectors (azimuths 120 degrees apart, a random orientation per site) and, in the
densest places, some omnidirectional small cells.
"""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import WGS84, metric_crs
from .errors import InputError
from .weights import _apply

__all__ = ["synthetic_cellplan"]


def synthetic_cellplan(
    population: str | os.PathLike[str],
    area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    n_sites: int,
    *,
    seed: int = 0,
    sectors: int = 3,
    beamwidth: float = 65.0,
    small_cell_share: float = 0.1,
    prefix: str = "syn",
) -> pd.DataFrame:
    """A synthetic cell plan whose sites follow a population raster.

    Parameters
    ----------
    population : path
        A population raster (GeoTIFF, any CRS), e.g. the GHSL grid.
    area : GeoDataFrame, GeoSeries or shapely geometry
        Where to place sites (a bare geometry is WGS84 longitude/latitude).
    n_sites : int
        Number of sites.
    seed : int, default 0
        Random seed; the same seed gives the same plan.
    sectors : int, default 3
        Sectors of a macro site.
    beamwidth : float, default 65
        Horizontal beamwidth of a sector, in degrees (a typical antenna's 3 dB aperture).
    small_cell_share : float, default 0.1
        Share of sites that are omnidirectional small cells, placed in the densest pixels.
    prefix : str, default "syn"
        Prefix of site and cell ids.

    Returns
    -------
    pandas.DataFrame
        A cell plan: ``cell_id``, ``site_id``, ``lon``, ``lat``, ``azimuth`` (NaN for small
        cells), ``beamwidth``, ``range_m`` (1.5 x the distance to the nearest other site,
        300 m to 5 km; 300 m for small cells).
    """
    import rasterio
    from rasterio.windows import from_bounds
    from scipy.spatial import cKDTree

    if n_sites < 1:
        raise InputError(f"n_sites must be at least 1, not {n_sites}")
    rng = np.random.default_rng(seed)
    if isinstance(area, shapely.Geometry):
        area = gpd.GeoSeries([area], crs=WGS84)
    geo = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
    with rasterio.open(population) as src:
        shape = shapely.union_all(geo.to_crs(src.crs).values)
        window = from_bounds(*shape.bounds, transform=src.transform).round_offsets().round_lengths()
        data = np.ma.filled(src.read(1, window=window, masked=True).astype(float), 0.0)
        transform = src.window_transform(window)
        crs = src.crs
    rows, cols = np.nonzero(np.isfinite(data) & (data > 0))
    cx, cy = _apply(transform, cols + 0.5, rows + 0.5)
    inside = shapely.contains_xy(shape, cx, cy)
    rows, cols, cx, cy = rows[inside], cols[inside], cx[inside], cy[inside]
    if not len(rows):
        raise InputError("the population raster holds nobody inside the area", path=str(population))
    pop = data[rows, cols]
    n_small = int(round(n_sites * small_cell_share))
    n_macro = n_sites - n_small
    # probability rising with population (square root, so that villages get coverage too)
    weight = np.sqrt(pop)
    pick = rng.choice(len(pop), size=n_macro, p=weight / weight.sum())
    px, py = abs(transform.a), abs(transform.e)
    mx = cx[pick] + rng.uniform(-0.5, 0.5, n_macro) * px
    my = cy[pick] + rng.uniform(-0.5, 0.5, n_macro) * py
    dense = np.argsort(pop)[::-1][: max(n_small * 3, 1)]
    spick = rng.choice(dense, size=n_small, replace=True) if n_small else np.array([], dtype=int)
    sx = cx[spick] + rng.uniform(-0.5, 0.5, n_small) * px
    sy = cy[spick] + rng.uniform(-0.5, 0.5, n_small) * py
    to_ll = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    lon, lat = to_ll.transform(np.r_[mx, sx], np.r_[my, sy])
    metric = pyproj.Transformer.from_crs(WGS84, metric_crs((lon.min(), lat.min(), lon.max(), lat.max())), always_xy=True)
    x, y = metric.transform(lon, lat)
    if n_sites > 1:
        d, _ = cKDTree(np.c_[x, y]).query(np.c_[x, y], k=2)
        site_range = np.clip(1.5 * d[:, 1], 300.0, 5000.0)
    else:
        site_range = np.array([2000.0])
    site_range[n_macro:] = 300.0
    width = len(str(n_sites))
    site_ids = np.array([f"{prefix}{i:0{width}d}" for i in range(n_sites)])
    orient = rng.uniform(0, 360 / sectors, n_macro)
    macro_az = (orient[:, None] + np.arange(sectors)[None, :] * (360 / sectors)) % 360
    macro = pd.DataFrame(
        {
            "site_id": np.repeat(site_ids[:n_macro], sectors),
            "sector": np.tile(np.arange(sectors), n_macro),
            "lon": np.repeat(lon[:n_macro], sectors),
            "lat": np.repeat(lat[:n_macro], sectors),
            "azimuth": np.round(macro_az.ravel(), 1),
            "beamwidth": beamwidth,
            "range_m": np.round(np.repeat(site_range[:n_macro], sectors)),
        }
    )
    small = pd.DataFrame(
        {
            "site_id": site_ids[n_macro:],
            "sector": 0,
            "lon": lon[n_macro:],
            "lat": lat[n_macro:],
            "azimuth": np.nan,
            "beamwidth": np.nan,
            "range_m": site_range[n_macro:],
        }
    )
    plan = pd.concat([macro, small], ignore_index=True)
    plan.insert(0, "cell_id", plan["site_id"] + "-" + plan["sector"].astype(str))
    plan["lon"], plan["lat"] = plan["lon"].round(6), plan["lat"].round(6)
    return plan.drop(columns="sector")
