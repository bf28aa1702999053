"""The ``geozones`` command line: verbs over the library, in the manner of rasterio's ``rio``.

Every command calls the same public functions as a notebook user would. Errors that a
user can cause come out as one line on stderr and a non-zero exit code:

* 0: success (``zones check``: no problem that makes a zone unusable);
* 1: a problem with an input (``zones check``: a zone file has a problem);
* 2: a usage error (unknown option, missing argument);
* 3: an internal error (a bug: set ``GEOZONES_DEBUG=1`` for the traceback, and report it).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import click

from . import __version__
from .coverage import DEFAULT_MODEL, MODELS, build_coverage, read_cellplan
from .errors import CoverageError, GeozonesError, InputError, WeightsError
from .weights import compute_weights, write_weights
from .zones import check_zones, h3_grid, read_zones, square_grid, write_zones

log = logging.getLogger("geozones")


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "note"
        click.echo(f"{level}: {record.getMessage()}", err=True)


def _setup_logging(verbosity: int) -> None:
    log.handlers[:] = [_StderrHandler()]
    log.propagate = False
    log.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


def _say(message: str) -> None:
    """A status line on stderr, silenced by -q."""
    if log.isEnabledFor(logging.INFO):
        click.echo(message, err=True)


def _progress(message: str) -> _Step:
    return _Step(message)


class _Step:
    """Say what is being done and, at the end, how long it took (on stderr, not with -q)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __enter__(self) -> _Step:
        self.t0 = time.perf_counter()
        if log.isEnabledFor(logging.INFO):
            click.echo(f"{self.message}...", err=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and log.isEnabledFor(logging.INFO):
            click.echo(f"  done in {time.perf_counter() - self.t0:.2f} s", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="geozones")
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="Print debugging notes on stderr.")
def cli(quiet: bool, verbose: bool) -> None:
    """Turn mobile-network counts per cell into visitor counts for zones.

    Zones are GeoJSON polygons drawn by GIS staff; cells come from the operator's cell
    plan. See 'geozones COMMAND --help'.
    """
    _setup_logging(-1 if quiet else (1 if verbose else 0))


# --------------------------------------------------------------------------- zones
@cli.group()
def zones() -> None:
    """Check, preview and draw zone files; generate zone grids."""


@zones.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--repair", is_flag=True, help="Close unclosed rings and fix invalid geometries (make_valid); report the area change.")
@click.option("--out", type=click.Path(dir_okay=False), help="With --repair: write the checked (repaired) zones to this GeoJSON file.")
@click.option("--metric-crs", help="Metric CRS for areas (default: EPSG:3812 in Belgium, else the local UTM zone).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--cells", type=click.Path(), help="Cell plan: also warn about zones and zone differences the cells cannot resolve.")
@click.option("--model", type=click.Choice(["wedge", "voronoi"]), default="voronoi", show_default=True, help="With --cells: the coverage model.")
@click.option("--k", type=click.IntRange(1), default=30, show_default=True, help="With --cells: the disclosure threshold (subscribers).")
@click.option("--share", type=click.FloatRange(0, 1, min_open=True), default=0.4, show_default=True, help="With --cells: the operator's market share.")
@click.option("--strict", is_flag=True, help="Exit with 1 when there is any warning too.")
def zones_check(
    paths: tuple[str, ...], repair: bool, out: str | None, metric_crs: str | None, as_json: bool,
    cells: str | None, model: str, k: int, share: float, strict: bool,
) -> int:
    """Check zone files (GeoJSON files or folders of them) and list their zones.

    Lists every zone with its area in km² and every pair of overlapping zones (allowed),
    and reports every problem with its file, feature and what to do. Exits with 0 when
    the zones are usable, 1 when a zone file has a problem. With --cells, also warns
    about zones the cells cannot resolve and about pairs of overlapping zones whose
    difference is so small that publishing both could reveal fewer than k people
    (warnings: exit 0 unless --strict).
    """
    report = check_zones(list(paths), repair=repair, crs=metric_crs)
    if cells and len(report.zones):
        from .authoring import authoring_problems

        cov = build_coverage(read_cellplan(cells), model, crs=metric_crs)
        report.problems.extend(
            authoring_problems(report.zones, cov, list(paths), k=k, share=share, crs=metric_crs, overlaps=report.overlaps)
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "crs": report.crs.to_string() if report.crs else None,
                    "zones": report.zones[["zone_id", "name", "area_km2"]].to_dict(orient="records") if len(report.zones) else [],
                    "overlaps": report.overlaps.to_dict(orient="records"),
                    "problems": [p.__dict__ for p in report.problems],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        z = report.zones
        if len(z):
            wid = max(7, int(z["zone_id"].str.len().max()))
            wname = min(40, max(4, int(z["name"].astype(str).str.len().max())))
            click.echo(f"{'zone_id':<{wid}}  {'name':<{wname}}  {'area_km2':>9}")
            for zid, name, area in z[["zone_id", "name", "area_km2"]].itertuples(index=False):
                click.echo(f"{zid:<{wid}}  {str(name)[:wname]:<{wname}}  {area:>9.3f}")
            click.echo(f"{len(z)} zones, {z['area_km2'].sum():.3f} km² in all (areas in {report.crs.to_string()})")
        else:
            click.echo("no usable zone")
        if len(report.overlaps):
            click.echo(f"overlaps (allowed): {len(report.overlaps)} pairs")
            for r in report.overlaps.itertuples(index=False):
                click.echo(
                    f"  {r.zone_a} and {r.zone_b}: {r.overlap_km2:.3f} km² "
                    f"({r.share_of_a:.0%} of {r.zone_a}, {r.share_of_b:.0%} of {r.zone_b})"
                )
        else:
            click.echo("overlaps: none")
        n_err = len(report.errors)
        n_warn = len(report.problems) - n_err
        click.echo(f"problems: {n_err} error{'s' if n_err != 1 else ''}, {n_warn} warning{'s' if n_warn != 1 else ''}")
    for p in report.problems:
        click.echo(f"{p.severity}: {p}", err=True)
    if out:
        if not repair:
            raise click.UsageError("--out is for writing repaired zones: add --repair")
        if not report.ok:
            raise InputError("zones still have problems; nothing was written", path=out, hint="fix the errors listed above")
        write_zones(report.zones.drop(columns=["area_km2"]), out)
        _say(f"wrote {out}")
    if strict and report.problems:
        return 1
    return 0 if report.ok else 1


@zones.command("preview")
@click.option("--zones", "zone_paths", required=True, multiple=True, type=click.Path(), help="Zone file or folder (repeatable).")
@click.option("--cells", required=True, type=click.Path(), help="Cell plan (CSV, Parquet, GeoJSON points, sites JSON).")
@click.option("--model", type=click.Choice(["wedge", "voronoi"]), default="voronoi", show_default=True, help="Coverage model of the fit figures (both are drawn).")
@click.option("--k", type=click.IntRange(1), default=30, show_default=True, help="Disclosure threshold (subscribers).")
@click.option("--share", type=click.FloatRange(0, 1, min_open=True), default=0.4, show_default=True, help="The operator's market share.")
@click.option("--crs", "cell_crs", help="CRS of x, y columns in the cell plan, e.g. EPSG:31370.")
@click.option("--metric-crs", help="Metric CRS for areas (default: EPSG:3812 in Belgium, else the local UTM zone).")
@click.option("--self-contained", is_flag=True, help="One HTML file that requests nothing from other hosts (no basemap tiles).")
@click.option("--strict", is_flag=True, help="Exit with 1 when a zone is flagged.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The page to write (HTML).")
def zones_preview(
    zone_paths: tuple[str, ...], cells: str, model: str, k: int, share: float, cell_crs: str | None,
    metric_crs: str | None, self_contained: bool, strict: bool, out: str,
) -> int:
    """A map page of the zones over the cell layout, with each zone's fit to the cells.

    Click a zone for its area, the cells that feed it with their weights, its fit (the
    share of its expected figure from cells lying mostly outside it) and the smallest
    population it can publish at threshold k. Zones the cells cannot resolve are drawn
    red and listed on stderr.
    """
    from .authoring import preview_map
    from .maps import save_map

    zs = read_zones(list(zone_paths))
    plan = read_cellplan(cells, crs=cell_crs)
    m, fit = preview_map(zs, plan, model=model, k=k, share=share, crs=metric_crs, self_contained=self_contained)
    save_map(m, out, self_contained=self_contained)
    bad = fit[fit["flagged"]]
    for r in bad.itertuples(index=False):
        click.echo(
            f"warning: zone {r.zone_id!r} ({r.name}): {r.status}: {r.area_km2:.3f} km², {r.n_cells} cells, "
            f"{r.cell_share:.2f} of a cell's count, fit {r.fit:.2f}",
            err=True,
        )
    _say(f"wrote {out}: {len(fit)} zones, {len(bad)} the cells cannot resolve (model {model}, k {k}, share {share:g})")
    return 1 if strict and len(bad) else 0


@zones.command("draw")
@click.option("--cells", required=True, type=click.Path(), help="Cell plan (CSV, Parquet, GeoJSON points, sites JSON).")
@click.option("--zones", "zone_paths", multiple=True, type=click.Path(), help="Zone file or folder to edit (repeatable).")
@click.option("--model", type=click.Choice(["wedge", "voronoi"]), default="voronoi", show_default=True, help="Coverage model drawn under the zones.")
@click.option("--crs", "cell_crs", help="CRS of x, y columns in the cell plan, e.g. EPSG:31370.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The page to write (HTML).")
def zones_draw(cells: str, zone_paths: tuple[str, ...], model: str, cell_crs: str | None, out: str) -> int:
    """A self-contained page to draw or edit zones over the cell layout and export a zone file.

    Draw with the polygon or rectangle tool, give each zone a zone_id and a name in the
    form, and press 'Export zone file'; check the download with 'geozones zones check'.
    """
    from .authoring import draw_map
    from .maps import save_map

    plan = read_cellplan(cells, crs=cell_crs)
    zs = read_zones(list(zone_paths)) if zone_paths else None
    m = draw_map(plan, zs, model=model)
    save_map(m, out, self_contained=True)
    _say(f"wrote {out}" + (f" with {len(zs)} zones to edit" if zs is not None else ""))
    return 0


@zones.command("grid")
@click.option("--area", required=True, type=click.Path(), help="The area to cover: any polygon file (GeoJSON, Shapefile...).")
@click.option("--size", type=float, help="Square grid: the side of a square in metres.")
@click.option("--h3", "h3_res", type=click.IntRange(0, 15), help="H3 grid: the resolution (0-15).")
@click.option("--clip", is_flag=True, help="Square grid: clip the squares to the area.")
@click.option("--metric-crs", help="Metric CRS the square grid is aligned to.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The zone file to write (GeoJSON).")
def zones_grid(area: str, size: float | None, h3_res: int | None, clip: bool, metric_crs: str | None, out: str) -> int:
    """Generate a zone set of squares (--size) or H3 cells (--h3) over an area."""
    if (size is None) == (h3_res is None):
        raise click.UsageError("give exactly one of --size METRES or --h3 RESOLUTION")
    shape = _read_area(area)
    grid = square_grid(shape, size, crs=metric_crs, clip=clip) if size is not None else h3_grid(shape, h3_res)
    write_zones(grid.drop(columns=["area_km2"]), out)
    _say(f"wrote {len(grid)} zones to {out}")
    return 0


def _read_area(path: str):
    import geopandas as gpd

    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p, hint="check the path")
    try:
        gdf = gpd.read_file(p)
    except Exception as exc:
        raise InputError(f"cannot read the area: {exc}", path=p, hint="give a GeoJSON or Shapefile of polygons") from exc
    gdf = gdf[gdf.geometry.notna() & gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if not len(gdf):
        raise InputError("holds no polygon", path=p, hint="the area must be a polygon layer")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    return gdf


# ------------------------------------------------------------------------ coverage
def _load_cells(cells: str, model: str | None, cell_crs: str | None):
    """Pick the model and read the cell plan; return (model, cell plan), the plan None for given coverage."""
    if model is None:
        model = "given" if _holds_polygons(cells) else DEFAULT_MODEL
    if model == "given":
        return model, None
    return model, read_cellplan(cells, crs=cell_crs)


def _holds_polygons(path: str) -> bool:
    p = Path(path)
    if p.suffix.lower() not in (".geojson", ".json", ".gpkg", ".shp") or not p.exists():
        return False
    with open(p, "rb") as fh:
        head = fh.read(65536)
    return b'"Polygon"' in head or b'"MultiPolygon"' in head or p.suffix.lower() in (".gpkg", ".shp")


_MODEL_HELP = (
    "Coverage model: wedge (sector wedges), voronoi (best-server areas split by sector) or "
    "given (CELLPLAN is a file of coverage polygons with cell_id). "
    "Default: given when the file holds polygons, else voronoi (the most accurate: docs/accuracy.md)."
)


@cli.command("coverage")
@click.argument("cellplan", type=click.Path())
@click.option("--model", type=click.Choice(MODELS), help=_MODEL_HELP)
@click.option("--crs", "cell_crs", help="CRS of x, y columns in the cell plan, e.g. EPSG:31370.")
@click.option("--metric-crs", help="Metric CRS to build in (default: EPSG:3812 in Belgium, else the local UTM zone).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The coverage areas to write (GeoJSON).")
def coverage_cmd(cellplan: str, model: str | None, cell_crs: str | None, metric_crs: str | None, out: str) -> int:
    """Build the coverage area of every cell of CELLPLAN and write them as GeoJSON."""
    model, cells = _load_cells(cellplan, model, cell_crs)
    with _progress(f"building {model} coverage"):
        cov = build_coverage(cellplan if cells is None else cells, model, crs=metric_crs)
    cov = cov.copy()
    metric = cov if cov.crs is not None and cov.crs.is_projected else None
    if metric is not None:
        cov["area_km2"] = metric.area.to_numpy() / 1e6
    from ._io import write_text_atomic

    write_text_atomic(out, cov.to_crs("EPSG:4326").to_json(drop_id=True, na="drop"))
    _say(f"wrote {len(cov)} coverage areas to {out}")
    return 0


# ------------------------------------------------------------------------- weights
@cli.command("weights")
@click.option("--zones", "zone_paths", required=True, multiple=True, type=click.Path(), help="Zone file or folder (repeatable).")
@click.option("--cells", required=True, type=click.Path(), help="Cell plan (CSV, Parquet, GeoJSON, sites JSON) or coverage polygons.")
@click.option("--model", type=click.Choice(MODELS), help=_MODEL_HELP)
@click.option("--crs", "cell_crs", help="CRS of x, y columns in the cell plan, e.g. EPSG:31370.")
@click.option("--metric-crs", help="Metric CRS for areas (default: EPSG:3812 in Belgium, else the local UTM zone).")
@click.option("--ancillary", type=click.Path(), help="Dasymetric layer: a population raster (GeoTIFF) or polygons.")
@click.option("--ancillary-column", help="Value column of a polygon ancillary layer (default: polygon area).")
@click.option("--repair", is_flag=True, help="Repair zone geometries instead of refusing them.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Weights to write: .parquet (or .csv).")
def weights_cmd(
    zone_paths: tuple[str, ...],
    cells: str,
    model: str | None,
    cell_crs: str | None,
    metric_crs: str | None,
    ancillary: str | None,
    ancillary_column: str | None,
    repair: bool,
    out: str,
) -> int:
    """Build cell x zone apportioning weights and write them (cell_id, zone_id, weight).

    Each cell's row holds the share of its coverage area in each zone, and a row with
    zone_id 'outside' for the share in no zone.
    """
    zs = read_zones(list(zone_paths), repair=repair)
    model, plan = _load_cells(cells, model, cell_crs)
    with _progress(f"building {model} coverage"):
        cov = build_coverage(cells if plan is None else plan, model, crs=metric_crs)
    with _progress(f"apportioning {len(cov)} cells over {len(zs)} zones"):
        try:
            w = compute_weights(cov, zs, crs=metric_crs, ancillary=ancillary, ancillary_column=ancillary_column)
        except (WeightsError, CoverageError) as exc:
            from .pipeline import _naming_inputs

            raise _naming_inputs(exc, list(zone_paths), cells, cell_crs) from None
    w.meta["model"] = model
    w.meta["cells"] = str(cells)
    write_weights(w, out)
    s = w.summary()
    from .pipeline import _n

    _say(
        f"wrote {out}: {_n(s['cells'], 'cell')} x {_n(s['zones'], 'zone')}, {_n(s['nonzero'], 'non-zero weight')}; "
        f"{_n(s['cells_in_no_zone'], 'cell')} in no zone; mean outside share {s['mean_outside']:.1%}; "
        f"{_n(s['zones_without_cells'], 'zone')} that no cell reaches"
    )
    return 0


# --------------------------------------------------------------------- the pipeline
def _report_run(result, out: str) -> None:
    m = result.manifest
    dc = m["disclosure_control"]
    _say(f"wrote {len(m['outputs'])} files to {out}: {dc['published']} figures published, {dc['suppressed']} suppressed (k = {dc['k']:g})")


def _pipeline_options(f):
    """The options shared by 'apportion' and 'run' overrides."""
    opts = [
        click.option("--model", type=click.Choice(MODELS), help=_MODEL_HELP),
        click.option("--kind", type=click.Choice(["presence", "unique", "events"]), default="presence", show_default=True,
                     help="What the counts count: presence (devices attached), unique (distinct devices), events."),
        click.option("--stat", type=click.Choice(["mean", "max"]), default="mean", show_default=True,
                     help="Presence counts: a longer period is the mean or the maximum of the shorter ones."),
        click.option("--dedup-factor", type=float, help="Unique counts: share of the per-cell sum that is distinct people (0-1)."),
        click.option("--k", "k", type=float, default=30, show_default=True, help="Disclosure threshold: least observed people behind a published figure."),
        click.option("--market-share", type=click.Path(), help="CSV with columns origin, share: the operator's share per origin (for the estimate)."),
        click.option("--period", default="1d", show_default=True, help="Period of the published figures: 1h, 1d, 1w..."),
        click.option("--summary-period", default="1q", show_default=True, help="Also publish this longer period (the zones' summary); 'none' for none."),
        click.option("--origin-level", type=click.Choice(["municipality", "province", "country", "none"]), default="province", show_default=True,
                     help="Origins are rolled up to this level."),
        click.option("--residents/--no-residents", default=True, show_default=True,
                     help="Set apart people whose home is the zone's own municipality (zone property 'municipality')."),
        click.option("--unknown-cells", type=click.Choice(["error", "drop"]), default="error", show_default=True,
                     help="Counts for cells that are not in the cell plan: refuse them, or drop them and report it."),
        click.option("--heat-grid", "heat_grid_m", type=float, default=250, show_default=True, help="Side in metres of the grid behind the heat layer; 0 for none."),
        click.option("--heat-h3", type=click.IntRange(0, 15), help="Draw the heat layer from H3 cells of this resolution instead of squares."),
        click.option("--map/--no-map", "make_map", default=True, show_default=True, help="Write map.html."),
        click.option("--self-contained", is_flag=True, help="Make map.html one file that loads nothing from other hosts (no basemap tiles)."),
        click.option("--crs", "cell_crs", help="CRS of x, y columns in the cell plan, e.g. EPSG:31370."),
        click.option("--metric-crs", help="Metric CRS for areas (default: EPSG:3812 in Belgium, else the local UTM zone)."),
        click.option("--ancillary", type=click.Path(), help="Dasymetric layer: a population raster (GeoTIFF) or polygons."),
        click.option("--ancillary-column", help="Value column of a polygon ancillary layer."),
        click.option("--engine", type=click.Choice(["memory", "stream", "dask"]), default="memory", show_default=True,
                     help="How counts are read: in memory; streamed from Parquet in bounded memory; or on Dask."),
        click.option("--memory-budget", default="2GB", show_default=True,
                     help="stream/dask engines: most memory for the sums per period, origin and cell (e.g. 500MB, 4GB); a zone table "
                          "too large for it is published in parts (not with a heat grid)."),
        click.option("--scheduler", help="dask engine: address of a distributed scheduler (tcp://host:8786); default: threads in process."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@cli.command("apportion")
@click.option("--zones", "zone_paths", required=True, multiple=True, type=click.Path(), help="Zone file or folder (repeatable).")
@click.option("--cells", type=click.Path(), help="Cell plan, or coverage polygons (with --model given).")
@click.option("--weights", "weights_path", type=click.Path(), help="Prebuilt weights (from 'geozones weights') instead of --cells.")
@click.option("--counts", type=click.Path(), help="Counts per cell: CSV or Parquet with cell_id, period_start, period, count[, origin].")
@click.option("--events", type=click.Path(), help="Subscriber-level events (subscriber_id, cell_id, timestamp, origin) instead of --counts.")
@click.option("--optout", type=click.Path(), help="Opt-out list of subscriber ids, removed from --events before counting.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--start", help="First time of the run (ISO 8601 date or time, Europe/Brussels): earlier counts are an error.")
@click.option("--end", help="End of the run, excluded (ISO 8601): counts at or after it are an error.")
@_pipeline_options
def apportion_cmd(zone_paths, cells, weights_path, counts, events, optout, out, start, end, model, kind, stat, dedup_factor, k, market_share,
                  period, summary_period, origin_level, residents, unknown_cells, heat_grid_m, heat_h3, make_map, self_contained,
                  cell_crs, metric_crs, ancillary, ancillary_column, engine, memory_budget, scheduler) -> int:
    """Apportion counts per cell to zones and publish privacy-safe figures into a folder.

    Writes zone_counts.csv and .parquet, zones.geojson, weights.parquet, map.html and
    manifest.json. Only figures resting on at least k observed people are published.
    """
    from .pipeline import RunConfig, run

    if cells is None and weights_path is None:
        raise click.UsageError("give --cells CELLPLAN or --weights WEIGHTS")
    if (counts is None) == (events is None):
        raise click.UsageError("give --counts COUNTS or --events EVENTS (one of them)")
    cfg = RunConfig(
        zones=list(zone_paths), out=out, cells=cells, weights=weights_path, counts=counts, events=events, optout=optout, start=start, end=end,
        model=model, kind=kind, stat=stat, dedup_factor=dedup_factor, k=k, market_share=market_share, period=period,
        summary_period=None if summary_period.lower() == "none" else summary_period, origin_level=origin_level,
        residents=residents, unknown_cells=unknown_cells, heat_grid_m=heat_grid_m or None, heat_h3=heat_h3, map=make_map, self_contained=self_contained,
        cell_crs=cell_crs, metric_crs=metric_crs, ancillary=ancillary, ancillary_column=ancillary_column,
        engine=engine, memory_budget=memory_budget, scheduler=scheduler,
    )
    with _progress("running the pipeline"):
        result = run(cfg)
    _report_run(result, out)
    return 0


@cli.command("run")
@click.argument("config", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (overrides the config's 'out').")
def run_cmd(config: str, out: str | None) -> int:
    """Run the pipeline as CONFIG.toml describes: zones -> weights -> counts -> figures -> outputs.

    The TOML file has the keys of 'geozones apportion' at its top level, e.g.

    \b
        zones = ["zones/"]
        cells = "cells.csv"
        counts = "counts.parquet"
        market_share = "market_share.csv"
        out = "out"
        model = "voronoi"
        period = "1d"
        k = 30

    Paths are relative to the config file's folder.
    """
    from .pipeline import load_config, run

    cfg = load_config(config)
    if out:
        cfg.out = out
    with _progress("running the pipeline"):
        result = run(cfg)
    _report_run(result, cfg.out)
    return 0


@cli.command("demo")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed of the scenario.")
@click.option("--days", type=click.IntRange(1, 366), default=92, show_default=True, help="Days from 1 July 2026.")
@click.option("--self-contained", is_flag=True, help="Make map.html one file that loads nothing from other hosts (no basemap tiles).")
def demo_cmd(out: str, seed: int, days: int, self_contained: bool) -> int:
    """Make a seeded Kortrijk scenario and run the pipeline on it.

    A synthetic cell plan whose sites follow the population grid, hourly counts for a
    summer quarter (about 20,000 visitors a day in the centre, a braderie and a festival
    weekend), the operator's market shares, event days and card spending are written to
    OUT/inputs/, with a run.toml that repeats the run; the published figures, the map and
    the visitor report (report.html) go to OUT/.
    """
    from .pipeline import load_config, run
    from .synth import demo_scenario

    inputs = Path(out) / "inputs"
    with _progress(f"making the Kortrijk scenario ({days} days, seed {seed})"):
        made = demo_scenario(inputs, seed=seed, days=days)
    toml = (
        "# geozones demo: repeat with 'geozones run " + str(inputs / "run.toml") + "'\n"
        'zones = ["zones"]\n'
        'cells = "cellplan.csv"\ncounts = "counts.parquet"\nmarket_share = "market_share.csv"\n'
        'out = ".."\nmodel = "voronoi"\nkind = "presence"\nperiod = "1d"\nk = 30\norigin_level = "province"\n'
        f"self_contained = {'true' if self_contained else 'false'}\n"
    )
    from ._io import write_text_atomic

    write_text_atomic(inputs / "run.toml", toml)
    cfg = load_config(inputs / "run.toml")
    with _progress("running the pipeline"):
        result = run(cfg)
    _report_run(result, out)
    from .report import build_report, write_report

    write_report(build_report(out, spend=made["spend"], events=made["events"]), Path(out) / "report.html")
    _say(f"wrote {Path(out) / 'report.html'}")
    t = result.table
    q = t[(t["period"] == t["period"].iloc[-1]) & t["zone_id"].str.startswith("centre-")]
    for zid, g in q.groupby("zone_id", sort=False):
        g = g.set_index("origin")
        if "all" in g.index and g.loc["all", "status"] == "published":
            vis = g.loc["all", "estimate"] - (g.loc["resident", "estimate"] if "resident" in g.index and g.loc["resident", "status"] == "published" else 0)
            click.echo(f"{zid}: {vis:,.0f} visitors and {g.loc['all', 'estimate']:,.0f} people in all per day (mean over the quarter)")
    return 0


@cli.command("map")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="The HTML file to write (default: RUN_DIR/map.html).")
@click.option("--self-contained", is_flag=True, help="One file that loads nothing from other hosts; basemap tiles off, reference outlines on.")
@click.option("--tiles", default="default", show_default=True, help="Basemap tiles (a folium tiles name), or 'none'.")
def map_cmd(run_dir: str, out: str | None, self_contained: bool, tiles: str) -> int:
    """Draw the map of a run's output folder: zones coloured by visitors, heat layers, legend.

    Only published figures are drawn; suppressed zones are grey and say so.
    """
    from .maps import map_from_run, save_map

    m = map_from_run(run_dir, self_contained=self_contained, tiles=None if tiles.lower() == "none" else tiles)
    target = out or str(Path(run_dir) / "map.html")
    save_map(m, target, self_contained=self_contained)
    _say(f"wrote {target}")
    return 0


@cli.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="The HTML file to write (default: RUN_DIR/report.html).")
@click.option("--zone", help="The zone the report is about (default: the zone with the most visitors).")
@click.option("--spend", type=click.Path(), help="Payment-terminal aggregates: zone_id, date, origin, transactions, amount.")
@click.option("--events", "events_path", type=click.Path(), help="Event days: CSV with name, date (one row per day).")
@click.option("--period-start", help="Which summary period to report on, as in zone_counts (default: the last).")
def report_cmd(run_dir: str, out: str | None, zone: str | None, spend: str | None, events_path: str | None, period_start: str | None) -> int:
    """Write the visitor report of a run's output folder: a self-contained HTML page per period.

    Average daily visitors, a daily chart, peak days, origin shares, event days against
    ordinary days, all zones, spending per visitor, and how the figures were made. Only
    published figures are used. When the run covers several summary periods (quarters),
    each gets its own page, report-YYYY-MM-DD.html, unless --period-start picks one.
    """
    from .report import build_report, report_periods, write_report

    starts = [period_start] if period_start else report_periods(run_dir)
    for start in starts:
        page = build_report(run_dir, zone=zone, spend=spend, events=events_path, period_start=start)
        if out and len(starts) == 1:
            target = out
        elif len(starts) == 1:
            target = str(Path(run_dir) / "report.html")
        else:
            base = Path(out) if out else Path(run_dir) / "report.html"
            target = str(base.with_name(f"{base.stem}-{start[:10]}{base.suffix}"))
        write_report(page, target)
        _say(f"wrote {target}")
    return 0


# -------------------------------------------------------------------------- entry
def main(argv: list[str] | None = None) -> None:
    """Run the command line; exit with 0, 1 (input problem), 2 (usage) or 3 (internal error)."""
    try:
        rv = cli.main(args=argv, prog_name="geozones", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("geozones: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "geozones"
        click.echo(f"{cmd}: usage error: {exc.format_message()} (see '{cmd} --help')", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"geozones: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except GeozonesError as exc:
        click.echo("geozones: error: " + " ".join(str(exc).split()), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("geozones: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:  # a file we could not read or write: the user's to fix, not a bug
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        click.echo(f"geozones: error: {where}{exc.strerror or exc} (check the path and its permissions)", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug: one line, unless asked for the traceback
        if os.environ.get("GEOZONES_DEBUG"):
            raise
        click.echo(
            f"geozones: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(set GEOZONES_DEBUG=1 for the traceback, and please report it)",
            err=True,
        )
        sys.exit(3)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
