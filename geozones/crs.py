"""Choosing the metric coordinate reference system in which areas are measured.

Areas are never measured in degrees. Inside Belgium geozones uses EPSG:3812 (Belgian
Lambert 2008); elsewhere the UTM zone of the data, as pyproj finds it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyproj
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from .errors import CRSError

__all__ = ["metric_crs", "BELGIUM_CRS", "WGS84"]

#: Belgian Lambert 2008, the metric CRS used for data inside Belgium.
BELGIUM_CRS = "EPSG:3812"
#: Longitude/latitude on WGS84, the CRS of GeoJSON (RFC 7946).
WGS84 = "EPSG:4326"


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
    belgium = pyproj.CRS.from_user_input(BELGIUM_CRS).area_of_use
    if (
        belgium is not None
        and minx >= belgium.west
        and maxx <= belgium.east
        and miny >= belgium.south
        and maxy <= belgium.north
    ):
        return pyproj.CRS.from_user_input(BELGIUM_CRS)
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
