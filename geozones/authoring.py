"""Zone authoring pages: the preview page that judges zones against the cell layout, and
the page to draw and edit zones over it.

The figures the pages show (each zone's fit, the smallest population it can publish, the
zones the cells cannot resolve) are computed in :mod:`geozones.authoring_checks`, whose
public functions are re-exported here. No count is read: the pages hold only geometry,
weights and thresholds.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template

from ._html import html_text, script_json
from .authoring_checks import authoring_problems, thin_differences, zone_contributions, zone_resolution
from .coverage import build_coverage
from .crs import WGS84
from .errors import InputError
from .extrapolate import DEFAULT_SHARE
from .inputs import prior_footprint_weights
from .intervals import error_words
from .privacy import DEFAULT_K
from .weights import compute_weights

__all__ = [
    "DEFAULT_SHARE",
    "zone_resolution",
    "zone_contributions",
    "thin_differences",
    "authoring_problems",
    "preview_map",
    "draw_map",
]

_OK, _FLAG, _NONE = "#2b8cbe", "#e31a1c", "#969696"


_esc = html_text


def _popup_html(row, cells: pd.DataFrame, k: int, share: float, top: int = 15) -> str:
    status = "" if row.status == "ok" else f"<p style='color:{_FLAG}'><b>Not resolvable: {_esc(row.status)}</b></p>"
    if row.n_cells:
        lines = "".join(
            f"<tr><td>{_esc(c.cell_id)}</td><td style='text-align:right'>{c.weight:.3f}</td>"
            f"<td style='text-align:right'>{c.share_of_figure:.0%}</td><td>{'mostly outside' if c.mostly_outside else ''}</td></tr>"
            for c in cells.head(top).itertuples(index=False)
        )
        more = f"<tr><td colspan=4>and {len(cells) - top} more cells</td></tr>" if len(cells) > top else ""
        table = (
            "<table class='gz-cells'><tr><th>cell</th><th title='share of the cell in the zone'>weight</th><th title='share of the zone figure'>of figure</th><th></th></tr>" + lines + more + "</table>"
        )
        fit = (
            f"Fit: <b>{row.fit:.2f}</b> ({row.outside_share:.0%} of its expected figure comes from cells lying mostly outside it)<br>"
            f"Cells: {row.n_cells}, together {row.cell_share:.2f} of a cell's count; smallest cell {row.cell_km2_min:.3f} km²<br>"
            + (f"Zones of its size and fit were within <b>{error_words(row.error_90)}</b> of the truth in 9 figures of 10 in the accuracy study<br>"
               if np.isfinite(getattr(row, "error_90", np.nan)) else "")
        )
    else:
        table, fit = "", "No cell reaches this zone.<br>"
    people = (
        f"Smallest population it can publish: <b>{row.min_population:,.0f}</b> people "
        f"(k = {k} subscribers at market share {share:.0%}); its cells must each see "
        f"{row.people_per_cell:,.0f} {'person' if round(row.people_per_cell) == 1 else 'people'} for that" if np.isfinite(row.people_per_cell) else "It can publish nothing."
    )
    return (
        f"<div class='gz-popup'><b>{_esc(row.name)}</b> ({_esc(row.zone_id)})<br>Area: {row.area_km2:.3f} km²<br>"
        f"{status}{fit}{people}{table}</div>"
    )


def _legend(items: list[tuple[str, str]], title: str) -> Element:
    rows = "".join(
        f"<div><span style='display:inline-block;width:12px;height:12px;background:{c};margin-right:4px'></span>{_esc(t)}</div>"
        for c, t in items
    )
    return Element(
        "<div id='gz-legend' style='position:absolute;bottom:24px;right:10px;z-index:1000;background:white;padding:6px 8px;"
        f"font:12px sans-serif;border-radius:4px;box-shadow:0 0 4px #888'><b>{_esc(title)}</b>{rows}</div>"
    )


def _base_map(bounds, self_contained: bool, tiles: str | None) -> folium.Map:
    if tiles == "default":
        tiles = None if self_contained else "OpenStreetMap"
    m = folium.Map(tiles=tiles, control_scale=True)
    minx, miny, maxx, maxy = bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _add_reference(m: folium.Map, bounds, reference) -> None:
    from .maps import add_reference_layer, reference_outlines

    add_reference_layer(m, reference_outlines(bounds) if reference is None else reference)


def _add_coverage(m: folium.Map, cov: gpd.GeoDataFrame, name: str, color: str, show: bool) -> None:
    g = gpd.GeoDataFrame({"cell_id": cov["cell_id"].astype(str).map(html_text).to_numpy()}, geometry=cov.geometry.values, crs=cov.crs)
    g = g.to_crs(WGS84)
    g["geometry"] = g.geometry.set_precision(1e-6)
    folium.GeoJson(
        g.to_json(drop_id=True),
        name=name,
        show=show,
        interactive=False,
        style_function=lambda f, c=color: {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.04},
    ).add_to(m)


def _add_sites(m: folium.Map, cells: gpd.GeoDataFrame) -> None:
    c = cells.to_crs(WGS84)
    site = c["site_id"].astype(str) if "site_id" in c.columns else c["cell_id"].astype(str)
    per_site = c.assign(_site=site.to_numpy()).groupby("_site", sort=True)
    first = per_site.geometry.first()
    n = per_site.size()
    ids = per_site["cell_id"].apply(lambda s: ", ".join(map(str, s)))
    sites = gpd.GeoDataFrame(
        {"site": [html_text(s) for s in first.index], "cells": [html_text(t) for t in ids.to_numpy()], "n": n.to_numpy()},
        geometry=first.to_numpy(),
        crs=WGS84,
    )
    folium.GeoJson(
        sites.to_json(drop_id=True),
        name="Sites",
        marker=folium.CircleMarker(radius=4, fill=True, fill_opacity=1),
        style_function=lambda f: {"color": "#111111", "fillColor": "#ffffff", "weight": 2},
        tooltip=folium.GeoJsonTooltip(fields=["site", "cells"], aliases=["Site", "Cells"]),
    ).add_to(m)


def preview_map(
    zones: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    model: str = "footprint",
    k: int = DEFAULT_K,
    share: float = DEFAULT_SHARE,
    crs: str | pyproj.CRS | None = None,
    self_contained: bool = False,
    tiles: str | None = "default",
    reference: gpd.GeoDataFrame | None = None,
) -> tuple[folium.Map, pd.DataFrame]:
    """A page to judge zones against the cell layout, and the fit table behind it.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        The zone set (:func:`geozones.read_zones`).
    cells : geopandas.GeoDataFrame
        The cell plan (:func:`geozones.read_cellplan`), or with ``model="given"`` the
        operator's coverage polygons (:func:`geozones.read_coverage`).
    model : {"wedge", "voronoi", "footprint", "given"}
        The model the fit figures use. Wedges and Voronoi areas are both drawn, each as its
        own layer; the model's is shown, the other starts hidden. ``footprint`` (a run's
        default) weighs by the footprints under the prior (the plan's sites) and shows the Voronoi
        (best-server) areas, which also give the cells' sizes. ``given``: the coverage
        polygons are the cells' areas, drawn as they are (no sites).
    k, share : int, float
        Threshold and market share (see :func:`zone_resolution`).
    crs : str or pyproj.CRS, optional
        Metric CRS for the coverage and areas.
    self_contained : bool
        No basemap tiles, reference outlines instead; save with
        ``geozones.maps.save_map(m, path, self_contained=True)``.
    tiles : str or None
        Basemap tiles (``"default"``: OpenStreetMap, none when self-contained).
    reference : geopandas.GeoDataFrame, optional
        Outlines to draw (default: the bundled outlines near the zones, when self-contained).

    Returns
    -------
    (folium.Map, pandas.DataFrame)
        The page, with layers "Zones", "Coverage: wedges", "Coverage: Voronoi", "Sites"
        (and "Reference outlines"), a popup per zone with its area, fit, feeding cells with
        their weights and the smallest population it can publish; and :func:`zone_resolution`.
    """
    if model not in ("footprint", "wedge", "voronoi", "given"):
        raise InputError(f"the preview weighs by the footprint, wedge, voronoi or given model, not {model!r}",
                         hint="choose --model footprint, wedge, voronoi, or given for coverage polygons")
    z = zones.to_crs(WGS84).reset_index(drop=True)
    if not len(z):
        raise InputError("there are no zones to preview")
    shown = "voronoi" if model == "footprint" else model
    if model == "given":  # (the operator's coverage polygons: weighed and drawn as a run reads them)
        covs = {"given": cells}
        w = compute_weights(cells, z, crs=crs)
    elif model == "footprint":  # (weighed as a run weighs by default, before its counts; its best-server areas drawn)
        w, voronoi, _ = prior_footprint_weights(cells, z, crs=crs)
        covs = {"wedge": build_coverage(cells, "wedge", crs=crs), "voronoi": voronoi}
    else:
        covs = {mod: build_coverage(cells, mod, crs=crs) for mod in ("wedge", "voronoi")}
        w = compute_weights(covs[model], z, crs=crs)
    cov = covs[shown]
    fit = zone_resolution(w, z, cov, k=k, share=share, crs=crs)
    contrib = zone_contributions(w)
    by_zone = dict(tuple(contrib.groupby("zone_id", sort=False)))
    empty = contrib.iloc[:0]

    bounds = np.array(z.total_bounds)
    m = _base_map(bounds, self_contained, tiles)
    if reference is not None or self_contained:
        _add_reference(m, bounds, reference)
    for mod, name, color in (("wedge", "Coverage: wedges", "#6a51a3"), ("voronoi", "Coverage: Voronoi", "#238b45"),
                             ("given", "Coverage: given polygons", "#238b45")):
        if mod in covs:
            _add_coverage(m, covs[mod], name, color, shown == mod)

    from .maps import display_outlines

    fill = np.where(fit["status"] == "ok", _OK, np.where(fit["status"] == "no cell", _NONE, _FLAG))
    layer = gpd.GeoDataFrame(
        {
            "zone_id": fit["zone_id"].map(html_text).to_numpy(),
            "name": fit["name"].map(html_text).to_numpy(),
            "status": fit["status"].to_numpy(),
            "fill": fill,
            "popup": [_popup_html(r, by_zone.get(r.zone_id, empty), k, share) for r in fit.itertuples(index=False)],
        },
        geometry=display_outlines(z).values,
        crs=WGS84,
    )
    layer = layer.iloc[np.argsort(-fit["area_km2"].to_numpy(), kind="stable")]  # small zones on top, clickable
    folium.GeoJson(
        layer.to_json(drop_id=True),
        name="Zones",
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": f["properties"]["fill"], "weight": 2, "fillOpacity": 0.3},
        highlight_function=lambda _f: {"weight": 4},
        tooltip=folium.GeoJsonTooltip(fields=["name", "zone_id", "status"], aliases=["Zone", "Id", "Cells"], sticky=True),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=460),
    ).add_to(m)
    if model != "given":
        _add_sites(m, cells)
    m.get_root().html.add_child(
        _legend(
            [(_OK, "zone the cells resolve"), (_FLAG, "not resolvable (too small or coarse)"), (_NONE, "no cell reaches it")],
            f"Zones against {model} coverage" if model != "footprint" else "Zones against the footprint model",
        )
    )
    folium.LayerControl(collapsed=False).add_to(m)
    return m, fit


class _ZoneEditor(JSCSSMixin, MacroElement):
    """leaflet.draw with a form for zone_id and name, and export as a zone file (a Blob download)."""

    # the URLs folium's Draw plugin uses; geozones.offline inlines the vendored copies
    default_js = [("leaflet_draw_js", "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.js")]
    default_css = [("leaflet_draw_css", "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.css")]

    _template = Template(
        """
{% macro header(this, kwargs) %}
<style>
.gz-panel { position: absolute; z-index: 1000; background: white; padding: 8px 10px; font: 13px sans-serif;
            border-radius: 4px; box-shadow: 0 0 5px #777; }
#gz-tools { top: 10px; right: 10px; }
#gz-form { top: 60px; right: 10px; width: 250px; }
.gz-panel label { display: block; margin: 4px 0; }
.gz-panel input { width: 100%; box-sizing: border-box; }
#gz-msg, #gz-export-msg { color: #b00; margin-top: 4px; }
</style>
{% endmacro %}
{% macro html(this, kwargs) %}
<div id="gz-tools" class="gz-panel"><span id="gz-count">0 zones</span>
  <button id="gz-export" type="button">Export zone file</button>
  <div id="gz-export-msg"></div></div>
<div id="gz-form" class="gz-panel" style="display:none">
  <b>Zone</b>
  <label>zone_id <input id="gz-zone-id" autocomplete="off"></label>
  <label>name <input id="gz-zone-name" autocomplete="off"></label>
  <div id="gz-zone-area"></div>
  <button id="gz-save" type="button">Save</button> <button id="gz-close" type="button">Close</button>
  <div id="gz-msg"></div></div>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var filename = {{ this.filename_json }};
  var drawn = new L.FeatureGroup().addTo(map);
  // leaflet.draw cannot edit multi-part polygons: they keep their shape (id and name can change)
  var fixed = new L.FeatureGroup().addTo(map);
  window.gzDrawn = drawn;
  function all() { return drawn.getLayers().concat(fixed.getLayers()); }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]; }); }
  var style = {color: "#d95f0e", weight: 2, fillOpacity: 0.25};
  function label(layer) {
    var p = layer.feature.properties;
    layer.unbindTooltip();
    layer.bindTooltip(esc(p.name || p.zone_id || "(no zone_id yet)"), {sticky: true});
  }
  function count() { document.getElementById("gz-count").textContent = all().length + " zones"; }
  function add(layer, props, multi) {
    layer.feature = {type: "Feature", properties: Object.assign({}, props || {})};
    if (layer.setStyle) layer.setStyle(style);
    (multi ? fixed : drawn).addLayer(layer);
    label(layer);
    layer.on("click", function () { open(layer); });
    count();
  }
  var initial = {{ this.zones_json }};
  if (initial) {
    L.geoJSON(initial).eachLayer(function (l) { add(l, l.feature.properties, l.feature.geometry.type === "MultiPolygon"); });
  }
  map.addControl(new L.Control.Draw({
    position: "topleft",
    draw: {polygon: {allowIntersection: false, showArea: false, shapeOptions: style},
           rectangle: {showArea: false, shapeOptions: style},
           polyline: false, circle: false, marker: false, circlemarker: false},
    edit: {featureGroup: drawn, poly: {allowIntersection: false}}
  }));
  var form = document.getElementById("gz-form"), current = null;
  [form, document.getElementById("gz-tools")].forEach(function (el) {
    L.DomEvent.disableClickPropagation(el); L.DomEvent.disableScrollPropagation(el);
  });
  function open(layer) {
    current = layer;
    var p = layer.feature.properties;
    document.getElementById("gz-zone-id").value = p.zone_id || "";
    document.getElementById("gz-zone-name").value = p.name || "";
    var ll = layer.getLatLngs(), rings = (ll.length && Array.isArray(ll[0]) && Array.isArray(ll[0][0])) ? ll.map(function (q) { return q[0]; }) : [ll[0]];
    var a = rings.reduce(function (s, r) { return s + L.GeometryUtil.geodesicArea(r); }, 0);
    document.getElementById("gz-zone-area").textContent = "about " + (a / 1e6).toFixed(3) + " km²";
    document.getElementById("gz-msg").textContent = "";
    form.style.display = "block";
    document.getElementById("gz-zone-id").focus();
  }
  function save() {
    var id = document.getElementById("gz-zone-id").value.trim();
    var name = document.getElementById("gz-zone-name").value.trim();
    var msg = document.getElementById("gz-msg");
    if (!id) { msg.textContent = "give the zone a zone_id"; return false; }
    if (id === "outside") { msg.textContent = "zone_id 'outside' is reserved"; return false; }
    var clash = all().some(function (l) { return l !== current && l.feature.properties.zone_id === id; });
    if (clash) { msg.textContent = "another zone has zone_id '" + id + "'"; return false; }
    current.feature.properties.zone_id = id;
    current.feature.properties.name = name || id;
    label(current);
    form.style.display = "none";
    current = null;
    return true;
  }
  document.getElementById("gz-save").onclick = save;
  document.getElementById("gz-close").onclick = function () { form.style.display = "none"; current = null; };
  map.on(L.Draw.Event.CREATED, function (e) { add(e.layer, {}); open(e.layer); });
  map.on(L.Draw.Event.DELETED, count);
  document.getElementById("gz-export").onclick = function () {
    var out = document.getElementById("gz-export-msg"), features = [], missing = null;
    all().forEach(function (l) {
      var f = l.toGeoJSON(6);
      f.properties = Object.assign({}, l.feature.properties);
      if (!f.properties.zone_id && !missing) missing = l;
      features.push(f);
    });
    if (!features.length) { out.textContent = "draw a zone first"; return; }
    if (missing) { out.textContent = "a zone has no zone_id yet"; open(missing); return; }
    var text = '{"type": "FeatureCollection", "features": [\\n' + features.map(function (f) { return JSON.stringify(f); }).join(",\\n") + "\\n]}\\n";
    var blob = new Blob([text], {type: "application/geo+json"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    out.textContent = "";
  };
})();
{% endmacro %}
"""
    )

    def __init__(self, zones_json: str, filename: str) -> None:
        super().__init__()
        self._name = "ZoneEditor"
        self.zones_json = zones_json
        self.filename_json = script_json(filename)


def draw_map(
    cells: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame | None = None,
    *,
    model: str = "wedge",
    crs: str | pyproj.CRS | None = None,
    filename: str = "zones.geojson",
    reference: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """A page to draw and edit zones over the cell layout and export them as a zone file.

    The page has leaflet.draw's polygon and rectangle tools, edit and delete; a form asks
    for each new zone's ``zone_id`` and ``name`` (click a zone to change them), and
    *Export zone file* downloads a FeatureCollection in WGS84 longitude/latitude with
    ``zone_id`` and ``name`` (and the other properties of edited zones), which
    ``geozones zones check`` reads. Multi-part zones of an edited file keep their shape
    (leaflet.draw cannot edit them; their id and name can change). It is meant to be saved self-contained
    (``geozones.maps.save_map(m, path, self_contained=True)``): no basemap tiles; the
    coverage areas, the sites and the bundled municipality and neighbourhood outlines
    show where things are.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        The cell plan (:func:`geozones.read_cellplan`), or with ``model="given"`` the
        operator's coverage polygons (:func:`geozones.read_coverage`).
    zones : geopandas.GeoDataFrame, optional
        Zones to edit; they are loaded as editable polygons.
    model : {"wedge", "voronoi", "given"}
        The coverage model drawn under the zones (``given``: the polygons as they are).
    crs : str or pyproj.CRS, optional
        Metric CRS for the coverage.
    filename : str
        The name the export is saved under.
    reference : geopandas.GeoDataFrame, optional
        Outlines to draw (default: the bundled ones near the cells).

    Returns
    -------
    folium.Map
        The page, without basemap tiles: layers for the reference outlines, the coverage
        and the sites, and the zone editor; write it with :func:`geozones.save_map`
        (``self_contained=True``).
    """
    if model not in ("wedge", "voronoi", "given"):
        raise InputError(f"the drawing page draws the wedge, voronoi or given model, not {model!r}",
                         hint="choose --model wedge or voronoi, or given for coverage polygons")
    cov = cells if model == "given" else build_coverage(cells, model, crs=crs)
    bounds = np.array((zones if zones is not None and len(zones) else cells).to_crs(WGS84).total_bounds)
    m = _base_map(bounds, True, None)
    _add_reference(m, bounds, reference)
    _add_coverage(m, cov, f"Coverage: {({'wedge': 'wedges', 'voronoi': 'Voronoi'}).get(model, 'given polygons')}", "#6a51a3", True)
    if model != "given":
        _add_sites(m, cells)
    data = "null"
    if zones is not None and len(zones):
        z = zones.to_crs(WGS84).drop(columns=["area_km2"], errors="ignore")
        data = z.to_json(drop_id=True, na="drop")
    _ZoneEditor(script_json(text=data), filename).add_to(m)
    folium.LayerControl(collapsed=False, position="bottomright").add_to(m)
    return m
