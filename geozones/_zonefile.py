"""The bulk path of the zone-file checker (:mod:`geozones.zones`): a clean file's features
become zone records at once, with shapely's array functions; anything to report sends the
file back to the feature-by-feature checker, which names each problem.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
import shapely

from .weights import OUTSIDE

POLYGONAL = ("Polygon", "MultiPolygon")


#: Degrees of longitude or latitude a zone may span: one metric CRS measures every zone.
MAX_SPAN_DEG = 30


def clean_features(features: list[Any]) -> list[dict[str, Any]] | None:
    """The records of a file whose features have nothing to report, or None.

    The common case, checked in bulk: every feature a Polygon or MultiPolygon of closed 2D
    rings of four or more finite longitude/latitude positions, with a zone_id and a name,
    valid and not empty. The geometries are built at once (``shapely.linearrings`` and
    ``polygons`` with indices) and validated at once. Anything else returns None and the
    file goes through :func:`_check_feature`, feature by feature, which names each problem;
    for a clean file both give the same records.
    """
    rings: list[Any] = []
    ring_poly: list[int] = []
    poly_feat: list[int] = []
    multi: list[bool] = []
    heads: list[tuple[dict[str, Any], str, str]] = []
    for i, feat in enumerate(features):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            return None
        props = feat.get("properties")
        geom = feat.get("geometry")
        if not isinstance(props, dict) or not isinstance(geom, dict):
            return None
        zid, name = props.get("zone_id"), props.get("name")
        if isinstance(zid, str):
            zid = zid.strip()
        elif isinstance(zid, int) and not isinstance(zid, bool):
            zid = str(zid)
        else:
            return None
        if zid in ("", OUTSIDE) or name in (None, ""):
            return None
        gtype, coords = geom.get("type"), geom.get("coordinates")
        if gtype not in POLYGONAL or not isinstance(coords, list) or not coords:
            return None
        polys = [coords] if gtype == "Polygon" else coords
        for poly in polys:
            if not isinstance(poly, list) or not poly:
                return None
            ring_poly.extend([len(poly_feat)] * len(poly))
            rings.extend(poly)
            poly_feat.append(i)
        multi.append(gtype == "MultiPolygon")
        heads.append((props, zid, str(name)))
    try:
        lens = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
        xy = np.asarray(list(chain.from_iterable(rings)), dtype=float)
    except (TypeError, ValueError):
        return None
    if xy.ndim != 2 or xy.shape[1] != 2 or (lens < 4).any() or not np.isfinite(xy).all():
        return None
    if (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        return None
    end = np.cumsum(lens)
    if not (xy[end - lens] == xy[end - 1]).all():
        return None
    try:  # (anything GEOS refuses goes to the checker, which says what)
        linear = shapely.linearrings(xy, indices=np.repeat(np.arange(len(rings)), lens))
        polygons = shapely.polygons(linear, indices=np.asarray(ring_poly, dtype=np.int64))
        feat_of = np.asarray(poly_feat, dtype=np.int64)
        multi_arr = np.asarray(multi, dtype=bool)
        shapes = np.empty(len(heads), dtype=object)
        first = np.searchsorted(feat_of, np.arange(len(heads)))
        single = ~multi_arr
        shapes[single] = polygons[first[single]]
        if multi_arr.any():
            in_multi = multi_arr[feat_of]
            shapes[multi_arr] = shapely.multipolygons(polygons[in_multi], indices=np.searchsorted(np.flatnonzero(multi_arr), feat_of[in_multi]))
    except (shapely.errors.GEOSException, ValueError):
        return None
    if not shapely.is_valid(shapes).all() or shapely.is_empty(shapes).any():
        return None
    b = shapely.bounds(shapes)
    if (np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) > MAX_SPAN_DEG).any():
        return None
    records = []
    for (props, zid, name), shape in zip(heads, shapes):
        record = {k: v for k, v in props.items() if k not in ("zone_id", "name")}
        record.update(zone_id=zid, name=name, geometry=shape)
        records.append(record)
    return records
