"""Folium maps of published figures: zones coloured by visitors, and a heat layer.

Only published figures reach a map. A suppressed zone is drawn grey with the word
"suppressed" in its tooltip; a suppressed grid square is left out of the heat layer.
Every user string (zone names, origins) is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.colormap import LinearColormap
from folium.plugins import HeatMap

from ._io import write_text_atomic
from .crs import WGS84

__all__ = ["visitor_map", "save_map"]

_SUPPRESSED_FILL = "#bdbdbd"


def _fmt(v: float) -> str:
    return f"{v:,.0f}".replace(",", " ")


def visitor_map(
    zones: gpd.GeoDataFrame,
    *,
    value: str = "visitors",
    heat: pd.DataFrame | None = None,
    title: str = "Visitors per day",
    tiles: str | None = "OpenStreetMap",
) -> folium.Map:
    """A Folium map of zones coloured by a published figure, with an optional heat layer.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        Zones with ``zone_id``, ``name``, the column ``value`` (NaN where suppressed),
        ``status`` and optionally ``top_origins`` (text).
    value : str, default "visitors"
        The column that colours the zones.
    heat : pandas.DataFrame, optional
        ``lat``, ``lon``, ``weight`` of published grid figures: the heat layer.
    title : str
        Legend caption.
    tiles : str or None
        Basemap tiles; None for none.

    Returns
    -------
    folium.Map
    """
    z = zones.to_crs(WGS84).copy()
    vals = z[value].to_numpy(dtype=float)
    finite = vals[np.isfinite(vals)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    cmap = LinearColormap(["#ffffcc", "#fd8d3c", "#bd0026"], vmin=lo, vmax=hi, caption=html.escape(title))
    minx, miny, maxx, maxy = z.total_bounds
    m = folium.Map(tiles=tiles, control_scale=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    label = np.where(np.isfinite(vals), [_fmt(v) if np.isfinite(v) else "" for v in vals], "suppressed (fewer than k people)")
    props = pd.DataFrame(
        {
            "zone_id": z["zone_id"].astype(str).map(html.escape),
            "name": z["name"].astype(str).map(html.escape),
            "figure": label,
            "fill": [cmap(v) if np.isfinite(v) else _SUPPRESSED_FILL for v in vals],
        }
    )
    fields, aliases = ["name", "zone_id", "figure"], ["Zone", "Id", html.escape(title)]
    if "top_origins" in z.columns:
        props["top_origins"] = z["top_origins"].fillna("").astype(str).map(html.escape)
        fields.append("top_origins")
        aliases.append("Top origins")
    layer = gpd.GeoDataFrame(props, geometry=z.geometry.values, crs=WGS84)
    # larger zones first, so that small zones inside them stay clickable
    layer = layer.iloc[np.argsort(-z.to_crs(z.estimate_utm_crs()).area.to_numpy(), kind="stable")]
    folium.GeoJson(
        layer.to_json(drop_id=True),
        name="Zones",
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#333333", "weight": 1, "fillOpacity": 0.6},
        highlight_function=lambda f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
    ).add_to(m)
    cmap.add_to(m)
    if heat is not None and len(heat):
        w = heat["weight"].to_numpy(dtype=float)
        norm = w / w.max() if w.max() > 0 else w
        HeatMap(np.column_stack([heat["lat"], heat["lon"], norm]).tolist(), name="Heat (published grid figures)", radius=18, blur=15).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def save_map(m: folium.Map, path: str | os.PathLike[str]) -> Path:
    """Render a map to a standalone HTML file, atomically."""
    return write_text_atomic(path, m.get_root().render())
