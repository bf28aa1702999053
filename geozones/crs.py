"""Choosing the metric coordinate reference system in which areas are measured.

Areas are never measured in degrees. Inside Belgium geozones uses EPSG:3812 (Belgian
Lambert 2008); elsewhere the UTM zone of the data, as pyproj finds it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyproj
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from .errors import CRSError

__all__ = ["metric_crs", "suits", "pixel_to_map", "belgian_grid_hint", "is_wgs84", "BELGIUM_CRS", "WGS84"]

#: Belgian Lambert 2008, the metric CRS used for data inside Belgium.
BELGIUM_CRS = "EPSG:3812"
#: Longitude/latitude on WGS84, the CRS of GeoJSON (RFC 7946).
WGS84 = "EPSG:4326"


#: How far (degrees) data may reach beyond a CRS's area of use and still be measured in it.
_MARGIN = 0.1


def suits(crs: pyproj.CRS | None, bounds: Sequence[float]) -> bool:
    """True if ``crs`` is projected in metres and its area of use holds ``bounds`` (lon/lat).

    A margin of 0.1 degree is allowed, so that a grid reaching a little beyond a
    national border is still measured in that country's CRS.
    """
    if crs is None or not crs.is_projected or not crs.axis_info or crs.axis_info[0].unit_name not in ("metre", "meter"):
        return False
    aou = crs.area_of_use
    if aou is None:
        return False
    minx, miny, maxx, maxy = bounds
    return (
        minx >= aou.west - _MARGIN
        and maxx <= aou.east + _MARGIN
        and miny >= aou.south - _MARGIN
        and maxy <= aou.north + _MARGIN
    )


def metric_crs(bounds: Sequence[float], crs: str | pyproj.CRS | None = None) -> pyproj.CRS:
    """Pick a metric CRS for data within ``bounds``.

    Parameters
    ----------
    bounds : sequence of 4 floats
        ``(min_lon, min_lat, max_lon, max_lat)`` of the data, in WGS84 degrees.
    crs : str or pyproj.CRS, optional
        A CRS chosen by the user. It is checked to be projected in metres and returned.

    Returns
    -------
    pyproj.CRS
        EPSG:3812 when the bounds lie within its area of use (Belgium), otherwise the
        WGS84 UTM zone that covers the centre of the bounds.

    Raises
    ------
    CRSError
        If ``crs`` is unknown or not in metres, or the bounds are not finite degrees.
    """
    if crs is not None:
        try:
            chosen = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise CRSError(f"unknown CRS {crs!r}", hint="give an EPSG code such as EPSG:3812") from exc
        unit = chosen.axis_info[0].unit_name if chosen.axis_info else ""
        if not chosen.is_projected or unit not in ("metre", "meter"):
            raise CRSError(
                f"CRS {crs!r} is not a projected CRS in metres",
                hint="areas must be measured in metres: use e.g. EPSG:3812 or a UTM zone",
            )
        return chosen
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    if not all(abs(v) < 1e300 for v in (minx, miny, maxx, maxy)) or minx > maxx or miny > maxy:
        raise CRSError(f"cannot choose a metric CRS for empty or invalid bounds {tuple(bounds)}")
    belgian = pyproj.CRS.from_user_input(BELGIUM_CRS)
    if suits(belgian, (minx, miny, maxx, maxy)):
        return belgian
    lon = (minx + maxx) / 2
    lat = (miny + maxy) / 2
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not infos:
        raise CRSError(
            f"no UTM zone found for longitude {lon:.4f}, latitude {lat:.4f}",
            hint="give a metric CRS explicitly with --metric-crs",
        )
    return pyproj.CRS.from_epsg(int(infos[0].code))


def pixel_to_map(t, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel corners (col, row) to map coordinates through an affine transform.

    Parameters
    ----------
    t : affine.Affine
        A raster's transform.
    cols, rows : numpy.ndarray
        Pixel corner columns and rows (may be fractional).

    Returns
    -------
    tuple of numpy.ndarray
        x and y in the raster's CRS.
    """
    return t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f


def belgian_grid_hint(x: np.ndarray, y: np.ndarray) -> str:
    """Which Belgian grid projected coordinates look like, as words for a hint ("" if none)."""
    if ((x > 10_000) & (x < 300_000) & (y > 10_000) & (y < 300_000)).all():
        return "; these look like Belgian Lambert 72 (EPSG:31370): ogr2ogr -s_srs EPSG:31370 -t_srs EPSG:4326 out.geojson in.geojson"
    if ((x > 500_000) & (x < 800_000) & (y > 500_000) & (y < 800_000)).all():
        return "; these look like Belgian Lambert 2008 (EPSG:3812): ogr2ogr -s_srs EPSG:3812 -t_srs EPSG:4326 out.geojson in.geojson"
    return ""


#: Names of WGS84 longitude/latitude in a GeoJSON ``crs`` member (lower case).
_WGS84_NAMES = {
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "urn:ogc:def:crs:ogc::crs84",
    "urn:ogc:def:crs:epsg::4326",
    "urn:ogc:def:crs:epsg:6.6:4326",
    "epsg:4326",
    "crs84",
    "ogc:crs84",
}


def is_wgs84(name: str) -> bool:
    """Whether a GeoJSON ``crs`` member's name is WGS84 longitude/latitude, in any of its
    spellings (a probe's OGC web address of CRS84 and a plain 'WGS84' were refused).
    """
    if name.lower() in _WGS84_NAMES:
        return True
    try:
        return pyproj.CRS.from_user_input(name).to_authority() in (("EPSG", "4326"), ("OGC", "CRS84"))
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        return False
