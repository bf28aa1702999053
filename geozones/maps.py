"""Folium maps of published figures: zone choropleth, heat layer, heat over time.

Only published figures reach a map. A suppressed zone is drawn grey with the word
"suppressed" in its tooltip; a grid square under no published zone is left out of the
heat layers (the grid is drawn from published zone figures: :mod:`geozones.heat`). Every user string
(zone names, ids, origins) is HTML-escaped before it reaches the page, because folium
puts tooltip values into the page as HTML.

With ``self_contained=True`` the page makes no request to any other host: scripts and
stylesheets are inlined from copies bundled with geozones (see ``geozones/vendor``),
basemap tiles are off, and a light reference layer of municipality and neighbourhood
outlines (bundled for Flanders and Brussels) shows where things are.
"""

from __future__ import annotations

import contextvars
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.colormap import LinearColormap
from branca.element import Element, MacroElement
from folium.plugins import HeatMap, HeatMapWithTime
from jinja2 import Template

from ._html import html_text
from ._io import people_text, read_run_json, read_run_zones, write_text_atomic
from .crs import WGS84, metric_crs
from .errors import InputError
from .weights import LOW_FIT

__all__ = ["visitor_map", "save_map", "map_from_run", "reference_outlines", "display_outlines"]

_SUPPRESSED_FILL = "#bdbdbd"
#: A suppressed figure's label. One text for every reason: a figure under k and one hidden to
#: protect another look alike (telling them apart would say which zones hold fewer than k).
SUPPRESSED_TEXT = "suppressed (disclosure control)"
#: Display simplification of outlines (the figures are not affected): a tolerance of this
#: share of a zone's size (the side of a square of its area), kept between these metres.
#: See docs/benchmarks.md, "Maps at scale".
SIMPLIFY_SHARE = 0.01
SIMPLIFY_M = (0.0, 25.0)
#: Coordinates of outlines on the page are snapped to this grid, in degrees (1e-5: about 1 m).
DISPLAY_PRECISION = 1e-5
#: Decimals of a heat point's latitude and longitude (5: about 1 m), and of its weight
#: relative to the largest (a published weight never rounds to nothing).
HEAT_DECIMALS = (5, 3)


def _fit_text(n_cells, fit) -> str:
    """How well the cells fit a zone, for its tooltip (see :func:`geozones.zone_fit`)."""
    n = int(n_cells) if pd.notna(n_cells) else 0
    if n == 0 or pd.isna(fit):
        return "no cell reaches this zone"
    low = " (low: figures unreliable)" if float(fit) < LOW_FIT else ""
    return f"{n} cell{'s' if n != 1 else ''}, fit {float(fit):.2f}{low}"


@lru_cache(maxsize=1)
def bundled_outlines() -> gpd.GeoDataFrame | None:
    """The bundled municipality and neighbourhood outlines (Flanders and Brussels): ``code``,
    ``name``, ``kind`` (``municipality`` or ``neighbourhood``), in WGS84; None without them.
    """
    parts = []
    for name, kind in (("be_municipalities.geojson", "municipality"), ("be_neighbourhoods.geojson", "neighbourhood")):
        f = resources.files("geozones").joinpath("data", name)
        if f.is_file():
            g = gpd.read_file(str(f))
            parts.append(g.assign(kind=kind))
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=WGS84)


def reference_outlines(bounds, margin: float = 0.02) -> gpd.GeoDataFrame | None:
    """Bundled municipality and neighbourhood outlines near ``bounds`` (lon/lat), or None."""
    ref = bundled_outlines()
    if ref is None:
        return None
    minx, miny, maxx, maxy = bounds
    box = shapely.box(minx - margin, miny - margin, maxx + margin, maxy + margin)
    near = ref[shapely.intersects(ref.geometry.values, box)]
    return near if len(near) else None


def add_reference_layer(m: folium.Map, reference: gpd.GeoDataFrame | None) -> None:
    """Draw reference outlines (municipalities, neighbourhoods) on ``m``: grey dashes, no popups."""
    if reference is None or not len(reference):
        return
    ref = gpd.GeoDataFrame(
        {"label": reference.get("name", pd.Series([""] * len(reference))).astype(str).map(html_text).to_numpy()},
        geometry=display_outlines(reference.to_crs(WGS84)).values,
        crs=WGS84,
    )
    folium.GeoJson(
        ref.to_json(drop_id=True),
        name="Reference outlines",
        style_function=lambda f: {"fill": False, "color": "#7a7a7a", "weight": 1, "dashArray": "4 3"},
        interactive=False,
    ).add_to(m)


def display_outlines(geo: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Zone outlines simplified for display in a metric CRS, back in lon/lat.

    Each outline is simplified (topology preserved) with a tolerance tied to its size
    (:data:`SIMPLIFY_SHARE`, :data:`SIMPLIFY_M`), then snapped to :data:`DISPLAY_PRECISION`;
    an outline that snapping would empty keeps its unsnapped coordinates.
    """
    m = geo.geometry.to_crs(metric_crs(geo.total_bounds))
    tol = np.clip(SIMPLIFY_SHARE * np.sqrt(m.area.to_numpy()), *SIMPLIFY_M)
    simple = shapely.simplify(m.values, tol, preserve_topology=True) if tol.any() else m.values
    out = gpd.GeoSeries(simple, crs=m.crs).to_crs(WGS84)
    if not DISPLAY_PRECISION:
        return out
    snapped = out.set_precision(DISPLAY_PRECISION)
    lost = snapped.is_empty.to_numpy() & ~out.is_empty.to_numpy()
    return snapped.where(~lost, out) if lost.any() else snapped


def visitor_map(
    zones: gpd.GeoDataFrame,
    *,
    value: str = "visitors",
    grid: pd.DataFrame | None = None,
    title: str = "Visitors per day",
    self_contained: bool = False,
    tiles: str | None = "default",
    reference: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """A Folium map of zones coloured by a published figure, with heat layers.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        Zones with ``zone_id``, ``name``, the column ``value`` (NaN where suppressed; a
        ``status`` of ``"suppressed"`` hides it too) and
        optionally ``top_origins`` (text), ``period`` and, for ``visitors``, its 90% interval
        ``estimate_low`` and ``estimate_high`` (shown in the tooltip).
    value : str, default "visitors"
        The column that colours the zones.
    grid : pandas.DataFrame, optional
        Published grid figures (``grid_counts.csv`` of a run: ``lon``, ``lat``,
        ``period_start``, ``period``, ``estimate``, ``status``). The longest period
        makes the heat layer; a shorter one, the heat layer over time with a slider.
    title : str
        What the figure is: the legend caption and the tooltip's label take it up to its
        first bracket; the whole of it stands in a box at the map's top left.
    self_contained : bool, default False
        Draw no basemap tiles (unless ``tiles`` names some) and add the reference outlines;
        :func:`save_map` then inlines every script and stylesheet.
    tiles : str or None, default "default"
        Basemap tiles: ``"default"`` is OpenStreetMap, or none when self-contained.
    reference : geopandas.GeoDataFrame, optional
        Outlines to draw as a light reference layer (default: the bundled outlines near
        the zones, when self-contained).

    Returns
    -------
    folium.Map
    """
    z = zones.to_crs(WGS84).reset_index(drop=True)
    if not len(z):
        raise InputError("there are no zones to map")
    if tiles == "default":
        tiles = None if self_contained else "OpenStreetMap"
    vals = z[value].to_numpy(dtype=float)
    if "status" in z.columns:  # (as the grid's rows: a zone marked suppressed shows no figure, whatever its value says)
        vals = np.where(z["status"].astype(str).to_numpy() == "suppressed", np.nan, vals)
    finite = vals[np.isfinite(vals)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    # (a probe's partial quarter had a label of 1,105 px: its tooltip's figure lay off the screen and the
    # legend cut its caption where it said that the quarter was partial; the whole title is in a box)
    short = title.split(" (")[0]
    cmap = LinearColormap(["#ffffcc", "#fd8d3c", "#bd0026"], vmin=lo, vmax=hi, caption=html_text(short))
    minx, miny, maxx, maxy = z.total_bounds
    try:
        m = folium.Map(tiles=tiles, control_scale=True, prefer_canvas=False)
    except ValueError as exc:  # (folium's words for a name it does not know; a probe's '--tiles bogus' was an internal error)
        raise InputError(f"basemap tiles {tiles!r}: {exc}", hint="give a tiles name folium knows ('OpenStreetMap', 'CartoDB positron'), "
                         "or 'none' for no basemap") from exc
    m.get_root().title = html_text(f"geozones: {title}")  # (the browser tab: a probe's maps had an empty <title>)
    m.fit_bounds([[miny, minx], [maxy, maxx]])

    if reference is None and self_contained:
        reference = reference_outlines(z.total_bounds)
    add_reference_layer(m, reference)

    label = [SUPPRESSED_TEXT if not np.isfinite(v) else people_text(v) for v in vals]
    with_interval = value == "visitors" and {"estimate_low", "estimate_high"} <= set(z.columns)
    if with_interval:  # the 90% interval
        lows, highs = z["estimate_low"].to_numpy(dtype=float), z["estimate_high"].to_numpy(dtype=float)
        label = [t if not (np.isfinite(v) and np.isfinite(a) and np.isfinite(b)) else f"{t} ({people_text(a)}-{people_text(b)})"
                 for t, v, a, b in zip(label, vals, lows, highs)]
    props = pd.DataFrame(
        {
            "zone_id": z["zone_id"].astype(str).map(html_text),
            "name": z["name"].astype(str).map(html_text),
            "figure": label,
            "fill": [cmap(v) if np.isfinite(v) else _SUPPRESSED_FILL for v in vals],
        }
    )
    fields, aliases = ["name", "zone_id", "figure"], ["Zone", "Id", html_text(short)]
    if "top_origins" in z.columns and z["top_origins"].notna().any():
        props["top_origins"] = z["top_origins"].fillna("none published").astype(str).map(html_text)
        fields.append("top_origins")
        aliases.append("Top origins (share of people in all)")
    if "n_cells" in z.columns and "fit" in z.columns:
        props["cells"] = [_fit_text(n, f) for n, f in zip(z["n_cells"], z["fit"])]
        fields.append("cells")
        aliases.append("Cells (fit)")
    layer = gpd.GeoDataFrame(props, geometry=display_outlines(z).values, crs=WGS84)
    # larger zones first, so that small zones drawn over them stay clickable
    area = z.geometry.to_crs(metric_crs(z.total_bounds)).area.to_numpy()
    layer = layer.iloc[np.argsort(-area, kind="stable")]
    folium.GeoJson(
        layer.to_json(drop_id=True),
        name="Zones",
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#333333", "weight": 1, "fillOpacity": 0.6},
        highlight_function=lambda _f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
    ).add_to(m)
    cmap.add_to(m)
    m.get_root().html.add_child(Element(
        "<div style='position:absolute;top:10px;left:54px;z-index:1000;max-width:min(420px,60vw);background:white;"
        "padding:4px 8px;font:13px sans-serif;border-radius:4px;box-shadow:0 0 4px #888'>"
        f"{html_text(title)}{'; in brackets, a 90% interval' if with_interval else ''}</div>"))

    if grid is not None and len(grid):
        _add_heat(m, grid)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _relative(values: np.ndarray, top: float, decimals: int) -> np.ndarray:
    """Heat weights: published figures over the largest, rounded, and never rounded to zero."""
    return np.maximum(np.round(np.asarray(values, dtype=float) / top, decimals), 10.0**-decimals)


def _add_heat(m: folium.Map, grid: pd.DataFrame) -> None:
    from .counts import period_seconds

    ok = grid[(grid["status"] == "published") & (grid["estimate"] > 0)]
    if not len(ok):
        return
    pos, dec = HEAT_DECIMALS
    ok = ok.assign(lat=ok["lat"].round(pos), lon=ok["lon"].round(pos))
    periods = sorted(pd.unique(grid["period"]), key=period_seconds)
    longest = ok[ok["period"] == periods[-1]]
    if longest["period_start"].nunique() > 1:  # (the last: by time, not text; read back from a folder the column is categorical)
        when = pd.to_datetime(longest["period_start"].astype(str), utc=True, format="ISO8601")
        longest = longest[(when == when.max()).to_numpy()]
    if len(longest):
        w = longest["estimate"].to_numpy(dtype=float)
        pts = np.column_stack([longest["lat"], longest["lon"], _relative(w, w.max(), dec)])
        # (folium's min_opacity 0.5 drew a square of weight 0.001 as bright as the busiest; 0 hid all but the centre)
        HeatMap(pts.tolist(), name=f"Heat ({html_text(periods[-1])}, drawn from published zone figures)", radius=18, blur=15,
                min_opacity=0.2).add_to(m)
    if len(periods) > 1:
        frames = ok[ok["period"] == periods[0]]
        codes, starts = pd.factorize(frames["period_start"])  # (one pass, not one per frame)
        starts = pd.Index(starts).astype(str)
        if len(starts) > 1:
            when = np.argsort(pd.to_datetime(starts, utc=True, format="ISO8601").to_numpy(), kind="stable")  # in time order
            codes, starts = np.argsort(when)[codes], starts[when]
            top = float(frames["estimate"].max())
            rows = np.argsort(codes, kind="stable")
            cuts = np.searchsorted(codes[rows], np.arange(1, len(starts)))
            data = _Frames(frames["lat"].to_numpy(dtype=float)[rows], frames["lon"].to_numpy(dtype=float)[rows],
                           _relative(frames["estimate"].to_numpy(dtype=float), top, dec)[rows], cuts)
            cut = 10 if period_seconds(periods[0]) >= 86_400 else 16  # (a day or longer: its date)
            short = [str(s)[:cut].replace("T", " ") for s in starts]
            # (the hour repeated at the autumn clock change: two frames of one local time keep their offsets)
            twice = pd.Index(short).duplicated(keep=False)
            labels = [html_text(str(s).replace("T", " ") if d else t) for s, t, d in zip(starts, short, twice)]
            slider = HeatMapWithTime(data, index=labels, name=f"Heat per {html_text(periods[0])} (slider)", radius=18,
                                     auto_play=False, max_opacity=0.8, show=False).add_to(m)
            _SliderWithItsLayer(slider).add_to(m)


class _SliderWithItsLayer(MacroElement):
    """The time slider shown only while its heat layer is on (a probe read the slider's
    date as the day every quarterly layer showed).
    """

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this.map_name }}, layer = {{ this.layer_name }}, control = {{ this.control_name }};
  function sync() { control.getContainer().style.display = map.hasLayer(layer) ? "" : "none"; }
  map.on("layeradd layerremove", sync);
  sync();
})();
{% endmacro %}
""")

    def __init__(self, slider: HeatMapWithTime) -> None:
        super().__init__()
        self._name = "SliderWithItsLayer"
        self.map_name, self.layer_name, self.control_name = slider._parent.get_name(), slider.get_name(), slider._control_name


class _Frames:
    """The slider's frames: arrays of points, made text only as the page is written.

    ``str()`` gives what folium's template wants, the same text as ``str()`` of the frames as
    lists of ``[lat, lon, weight]``. While :func:`save_map` renders, it gives a placeholder
    instead, and the page is written around it a frame at a time: the slider of an hourly
    quarter (thousands of frames, tens of MB of text) is never held as Python lists nor as
    one string (docs/scale.md).
    """

    def __init__(self, lat: np.ndarray, lon: np.ndarray, weight: np.ndarray, cuts: np.ndarray) -> None:
        # a point's text is its square's "[lat, lon, " and its weight's "w]": made once per
        # distinct square and weight (Python's repr, as str() of a list of floats writes them)
        self._square, squares = pd.MultiIndex.from_arrays([lat, lon]).factorize()
        self._weight, weights = pd.factorize(weight)
        self._square_text = np.array([f"[{a!r}, {b!r}, " for a, b in squares.tolist()], dtype=object)
        self._weight_text = np.array([f"{w!r}]" for w in np.asarray(weights, dtype=float).tolist()], dtype=object)
        self._bounds = np.concatenate([[0], np.asarray(cuts, dtype=np.int64), [len(lat)]])

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def __str__(self) -> str:
        deferred = _DEFERRED.get()
        if deferred is None:
            return "".join(self.chunks())
        token = f"@@geozones-frames-{len(deferred)}@@"
        deferred[token] = self
        return token

    def chunks(self):
        """The text, a frame at a time."""
        yield "["
        for i, (a, b) in enumerate(zip(self._bounds[:-1], self._bounds[1:])):
            points = self._square_text[self._square[a:b]] + self._weight_text[self._weight[a:b]]
            yield ("[" if i == 0 else ", [") + ", ".join(points.tolist()) + "]"
        yield "]"


#: While :func:`save_map` renders: placeholder -> :class:`_Frames` written in its place.
_DEFERRED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("geozones_deferred_frames", default=None)
_TOKEN = re.compile(r"@@geozones-frames-[0-9]+@@")


_FOLIUM_ID = re.compile(r"\b([a-z]+(?:_[a-z]+)*)_([0-9a-f]{32})(?![0-9a-f])")


def _stable_ids(page: str) -> str:
    """Replace folium's random element ids by ids numbered in order of appearance.

    The same map then renders to the same bytes on every run.
    """
    seen: dict[str, str] = {}

    def sub(m: re.Match) -> str:
        new = seen.setdefault(m.group(2), f"{len(seen) + 1:032x}")
        return f"{m.group(1)}_{new}"

    return _FOLIUM_ID.sub(sub, page)


def save_map(m: folium.Map, path: str | os.PathLike[str], *, self_contained: bool = False) -> Path:
    """Render a map to one HTML file, atomically; with ``self_contained`` every asset is inlined.

    Parameters
    ----------
    m : folium.Map
        The map (:func:`visitor_map`, :func:`map_from_run`, :func:`geozones.preview_map`,
        :func:`geozones.draw_map`).
    path : str or os.PathLike
        The HTML file to write (UTF-8).
    self_contained : bool, default False
        Inline every script and stylesheet (:func:`geozones.offline.inline_assets`), so
        that the page opens without a network; for a map drawn without basemap tiles.
        Without it, the scripts folium links to on its GitHub branch rather than a release
        are inlined all the same (:func:`geozones.offline.inline_unpinned`).

    Returns
    -------
    pathlib.Path
        ``path``. Folium's random element ids are numbered in order, so that the same map
        writes the same bytes.

    Raises
    ------
    OutputError
        If a self-contained page would still need an asset from another host.
    """
    deferred: dict[str, _Frames] = {}
    token = _DEFERRED.set(deferred)
    try:
        page = _stable_ids(m.get_root().render())
    finally:
        _DEFERRED.reset(token)
    from .offline import inline_assets, inline_unpinned

    page = inline_assets(page) if self_contained else inline_unpinned(page)
    return write_text_atomic(path, _with_frames(page, deferred) if deferred else page)


def _with_frames(page: str, deferred: dict[str, _Frames]):
    """The page's text with each placeholder's frames in its place, a piece at a time."""
    at = 0
    for hit in _TOKEN.finditer(page):
        yield page[at:hit.start()]
        yield from deferred[hit.group()].chunks()
        at = hit.end()
    yield page[at:]


def map_from_run(run_dir: str | os.PathLike[str], *, self_contained: bool = False, tiles: str | None = "default") -> folium.Map:
    """The map of a run's output folder (``zones.geojson``, ``grid_counts.csv``, ``manifest.json``).

    Parameters
    ----------
    run_dir : str or os.PathLike
        The output folder: ``zones.geojson`` (with ``zone_id``, ``name`` and ``visitors``)
        is needed; ``grid_counts.csv``, when there, makes the heat layers and
        ``manifest.json`` gives the title.
    self_contained : bool, default False
        As for :func:`visitor_map`: no basemap tiles, and the reference outlines; for
        :func:`save_map` with ``self_contained=True``.
    tiles : str or None, default "default"
        Basemap tiles: ``"default"`` is OpenStreetMap, or none when self-contained.

    Returns
    -------
    folium.Map
        :func:`visitor_map` of the zones coloured by ``visitors``, with the manifest's
        ``title`` (default "Visitors per day") as legend caption.

    Raises
    ------
    InputError
        If the folder is not the output of ``geozones run``, ``apportion`` or ``demo``.
    """
    run_dir = Path(run_dir)
    zones_path = run_dir / "zones.geojson"
    if not zones_path.is_file():
        raise InputError("no zones.geojson here", path=run_dir, hint="give the output folder of 'geozones apportion', 'run' or 'demo'")
    zones = read_run_zones(zones_path)
    for col in ("zone_id", "name", "visitors"):
        if col not in zones.columns:
            raise InputError(f"zones.geojson has no {col!r} property", path=zones_path, hint="make it again with this version of geozones")
    grid = _read_grid(run_dir / "grid_counts.csv") if (run_dir / "grid_counts.csv").is_file() else None
    title = read_run_json(run_dir / "manifest.json", missing={}).get("title", "Visitors per day")
    return visitor_map(zones, grid=grid, title=title, self_contained=self_contained, tiles=tiles)


def _read_grid(path: Path) -> pd.DataFrame:
    """``grid_counts.csv`` read by Arrow, its text columns categorical (an hourly quarter's
    grid has millions of rows and a few distinct texts).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    text = ("zone_id", "period_start", "period", "status")
    numbers = ("lon", "lat", "observed", "estimate")
    try:
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in text} | {c: pa.float64() for c in numbers}, include_columns=[*text, *numbers]))
    except (pa.ArrowInvalid, pa.ArrowKeyError) as e:
        raise InputError(f"grid_counts.csv cannot be read: {str(e).splitlines()[0]}", path=path,
                         hint="make the run again, or remove the file to draw the map without heat layers") from None
    return pa.table({c: t[c].dictionary_encode() if c in text else t[c] for c in t.column_names}).to_pandas()
