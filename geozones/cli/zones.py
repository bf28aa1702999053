"""``geozones zones``: check, preview and draw zone files; generate zone grids."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .._words import plural
from ..cellplan import read_cellplan
from ..coverage import build_coverage
from ..errors import CoverageError, InputError, WeightsError
from ..inputs import build_footprint_weights, naming_inputs
from ..zones import check_zones, h3_grid, read_zones, square_grid, write_zones, zone_paths
from .options import authoring_k, cell_crs, check_model, drawn_model, judged_model, market_share, metric_crs, out_file, say, self_contained, strict, zone_files


@click.group()
def zones() -> None:
    """Check, preview and draw zone files; generate zone grids."""


@zones.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--repair", is_flag=True, help="Close unclosed rings and fix invalid geometries (make_valid); report the area change.")
@out_file("With --repair: write the checked (repaired) zones to this GeoJSON file.", required=False)
@metric_crs()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--cells", type=click.Path(), help="Cell plan: also warn about zones and zone differences the cells cannot resolve.")
@cell_crs
@check_model
@authoring_k("With --cells: the disclosure threshold (subscribers).")
@market_share("With --cells: the operator's market share.")
@strict("Exit with 1 when there is any warning too.")
def zones_check(
    paths: tuple[str, ...], repair: bool, out: str | None, metric_crs: str | None, as_json: bool,
    cells: str | None, cell_crs: str | None, model: str, k: int, share: float, strict: bool,
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
    if len(report.zones):  # (a zone beyond its municipality's border: residents and visitors mixed up)
        from ..authoring_checks import municipality_problems

        said = {(p.where, p.code) for p in report.problems}  # (a zone far from the others is said swapped already)
        report.problems.extend(p for p in municipality_problems(report.zones, list(paths), crs=metric_crs) if (p.where, p.code) not in said)
    if cells and len(report.zones):
        from ..authoring_checks import authoring_problems
        from ..inputs import coverage_model

        weights, model = None, coverage_model(cells, model)
        if model == "given":  # (the operator's coverage polygons, as a run reads them)
            from ..coverage import read_coverage

            cov = read_coverage(cells)
        elif model == "footprint":  # the run's default: judged by its weights, thin differences by the best-server areas
            try:
                weights, cov, _ = build_footprint_weights(report.zones, list(paths), cells, cell_crs=cell_crs, metric_crs=metric_crs)
            except WeightsError:  # (no cell reaches any zone: the area check below says so, as a warning)
                weights = None
        if weights is None and model != "given":
            cov = build_coverage(read_cellplan(cells, crs=cell_crs), "voronoi" if model == "footprint" else model, crs=metric_crs)
        report.problems.extend(
            authoring_problems(report.zones, cov, list(paths), k=k, share=share, crs=metric_crs, overlaps=report.overlaps,
                               weights=weights)
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
            summed = ", summed: the zones overlap" if len(report.overlaps) else ""  # (a probe read the sum as the area covered)
            click.echo(f"{plural(len(z), 'zone')}, {z['area_km2'].sum():.3f} km² in all (areas in {report.crs.to_string()}{summed})")
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
        if Path(out).resolve() in {f.resolve() for f in zone_paths(list(paths))}:  # (inputs are never modified: the original stays to compare with)
            raise InputError("--out is one of the zone files checked; the repair would overwrite it", path=out,
                             hint="write the repaired zones to another file, and replace the original yourself once checked")
        if not report.ok:
            raise InputError("zones still have problems; nothing was written", path=out, hint="fix the errors listed above")
        write_zones(report.zones.drop(columns=["area_km2"]), out)
        say(f"wrote {out}")
    if strict and report.problems:
        return 1
    return 0 if report.ok else 1


@zones.command("preview")
@zone_files()
@click.option("--cells", required=True, type=click.Path(),
              help="Cell plan (CSV, Parquet, GeoJSON points, sites JSON), or the operator's coverage polygons.")
@judged_model("The model of the fit figures (the run's default: footprint); wedges and Voronoi areas are drawn.")
@authoring_k()
@market_share()
@cell_crs
@metric_crs()
@self_contained("One HTML file that requests nothing from other hosts (no basemap tiles).")
@strict("Exit with 1 when a zone is flagged.")
@out_file("The page to write (HTML).")
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
    from ..authoring import preview_map
    from ..maps import save_map

    zs = read_zones(list(zone_paths))
    plan, model = _cells_as(cells, model, "footprint", cell_crs)
    try:
        m, fit = preview_map(zs, plan, model=model, k=k, share=share, crs=metric_crs, self_contained=self_contained)
    except (WeightsError, CoverageError) as exc:  # (named by both files, as a run names them: a probe's named none)
        raise naming_inputs(exc, list(zone_paths), cells, cell_crs) from None
    save_map(m, out, self_contained=self_contained)
    bad = fit[fit["flagged"]]
    for r in bad.itertuples(index=False):
        click.echo(
            f"warning: zone {r.zone_id!r} ({r.name}): {r.status}: {r.area_km2:.3f} km², {r.n_cells} cells, "
            f"{r.cell_share:.2f} of a cell's count, fit {r.fit:.2f}",
            err=True,
        )
    say(f"wrote {out}: {len(fit)} zones, {len(bad)} the cells cannot resolve (model {model}, k {k}, share {share:g})")
    return 1 if strict and len(bad) else 0


@zones.command("draw")
@click.option("--cells", required=True, type=click.Path(),
              help="Cell plan (CSV, Parquet, GeoJSON points, sites JSON), or the operator's coverage polygons.")
@zone_files(required=False, help="Zone file or folder to edit (repeatable).")
@drawn_model("Coverage model drawn under the zones.")
@cell_crs
@out_file("The page to write (HTML).")
def zones_draw(cells: str, zone_paths: tuple[str, ...], model: str, cell_crs: str | None, out: str) -> int:
    """A self-contained page to draw or edit zones over the cell layout and export a zone file.

    Draw with the polygon or rectangle tool, give each zone a zone_id and a name in the
    form, and press 'Export zone file'; check the download with 'geozones zones check'.
    """
    from ..authoring import draw_map
    from ..maps import save_map

    plan, model = _cells_as(cells, model, "voronoi", cell_crs)
    zs = read_zones(list(zone_paths)) if zone_paths else None
    m = draw_map(plan, zs, model=model)
    save_map(m, out, self_contained=True)
    say(f"wrote {out}" + (f" with {len(zs)} zones to edit" if zs is not None else ""))
    return 0


@zones.command("grid")
@click.option("--area", required=True, type=click.Path(), help="The area to cover: any polygon file (GeoJSON, Shapefile...).")
@click.option("--size", type=float, help="Square grid: the side of a square in metres.")
@click.option("--h3", "h3_res", type=click.IntRange(0, 15), help="H3 grid: the resolution (0-15).")
@click.option("--clip", is_flag=True, help="Square grid: clip the squares to the area.")
@metric_crs("Metric CRS the square grid is aligned to.")
@out_file("The zone file to write (GeoJSON).")
def zones_grid(area: str, size: float | None, h3_res: int | None, clip: bool, metric_crs: str | None, out: str) -> int:
    """Generate a zone set of squares (--size) or H3 cells (--h3) over an area."""
    if (size is None) == (h3_res is None):
        raise click.UsageError("give exactly one of --size METRES or --h3 RESOLUTION")
    shape = _read_area(area)
    grid = square_grid(shape, size, crs=metric_crs, clip=clip) if size is not None else h3_grid(shape, h3_res)
    write_zones(grid.drop(columns=["area_km2"]), out)
    say(f"wrote {len(grid)} zones to {out}")
    return 0


def _cells_as(cells: str, model: str | None, default: str, cell_crs: str | None):
    """The cells of an authoring page and its model: a file of coverage polygons is read as
    they are (``given``, as a run reads it), a cell plan with ``default`` unless asked.
    """
    from ..inputs import holds_polygons

    if model is None:
        model = "given" if holds_polygons(cells) else default
    if model == "given":
        from ..coverage import read_coverage

        return read_coverage(cells), model
    return read_cellplan(cells, crs=cell_crs), model


def _read_area(path: str):
    import geopandas as gpd
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p, hint="check the path")
    files = zone_paths([p]) if p.is_dir() else [p]  # (a folder of zone files, as --zones takes: a probe's was an internal error)
    try:
        parts = [gpd.read_file(f) for f in files]
    except Exception as exc:  # noqa: BLE001 - GDAL and pyogrio raise many classes for a file they cannot read
        raise InputError(f"cannot read the area: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", path=p,
                         hint="give a GeoJSON or Shapefile of polygons, or a folder of GeoJSON zone files") from exc
    parts = [g if isinstance(g, gpd.GeoDataFrame) else gpd.GeoDataFrame(g, geometry=[None] * len(g)) for g in parts]  # (a table: no polygon)
    gdf = gpd.GeoDataFrame(pd.concat([g.to_crs("EPSG:4326") if g.crs is not None else g for g in parts], ignore_index=True),
                           geometry="geometry", crs="EPSG:4326")  # (a layer without a CRS: longitude/latitude)
    gdf = gdf[gdf.geometry.notna() & gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if not len(gdf):
        raise InputError("holds no polygon", path=p, hint="the area must be a polygon layer")
    return gdf
