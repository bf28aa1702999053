"""``geozones coverage`` and ``geozones weights``: cell coverage areas and cell x zone weights."""

from __future__ import annotations

import logging

import click

from .._io import write_text_atomic
from .._words import plural
from ..cellplan import read_cellplan
from ..config import footprint_only
from ..coverage import build_coverage
from ..inputs import build_footprint_weights, build_weights, coverage_model
from ..weights_io import footprints_path, write_footprints, write_weights
from ..zones import read_zones
from .options import cell_crs, metric_crs, model_option, out_file, prior_option, say, step, tile_option, zone_files

log = logging.getLogger("geozones")


@click.command("coverage")
@click.argument("cellplan", type=click.Path())
@model_option
@cell_crs
@metric_crs("Metric CRS to build in (default: EPSG:3812 in Belgium, else the local UTM zone).")
@out_file("The coverage areas to write (GeoJSON).")
def coverage_cmd(cellplan: str, model: str | None, cell_crs: str | None, metric_crs: str | None, out: str) -> int:
    """Build the coverage area of every cell of CELLPLAN and write them as GeoJSON."""
    model = coverage_model(cellplan, model)
    with step(f"building {model} coverage"):
        source = cellplan if model == "given" else read_cellplan(cellplan, crs=cell_crs)
        cov = build_coverage(source, model, crs=metric_crs).copy()
    if cov.crs is not None and cov.crs.is_projected:
        cov["area_km2"] = cov.area.to_numpy() / 1e6
    write_text_atomic(out, cov.to_crs("EPSG:4326").to_json(drop_id=True, na="drop"))
    say(f"wrote {len(cov)} coverage areas to {out}")
    return 0


@click.command("weights")
@zone_files()
@click.option("--cells", required=True, type=click.Path(), help="Cell plan (CSV, Parquet, GeoJSON, sites JSON) or coverage polygons.")
@model_option
@cell_crs
@metric_crs()
@click.option("--ancillary", type=click.Path(), help="Where people are: a population raster (GeoTIFF) or polygons (dasymetric weights; --model footprint: a factor on the prior).")
@click.option("--ancillary-column", help="Value column of a polygon ancillary layer (default: polygon area).")
@prior_option("plan")
@tile_option()
@click.option("--repair", is_flag=True, help="Repair zone geometries instead of refusing them.")
@out_file("Weights to write: .parquet (or .csv).")
def weights_cmd(
    zone_paths: tuple[str, ...],
    cells: str,
    model: str | None,
    cell_crs: str | None,
    metric_crs: str | None,
    ancillary: str | None,
    ancillary_column: str | None,
    prior: str,
    tile_m: float,
    repair: bool,
    out: str,
) -> int:
    """Build cell x zone apportioning weights and write them (cell_id, zone_id, weight).

    Each cell's row holds the share of its coverage area in each zone, and a row with
    zone_id 'outside' for the share in no zone. With --model footprint the rows are the
    weights under the prior density, and the footprints go beside them (OUT with
    .footprints.parquet): a run with --weights reads both and lets its counts set the density.
    """
    zs = read_zones(list(zone_paths), repair=repair)
    model = coverage_model(cells, model)
    fp = None
    with step(f"building {model} coverage and apportioning it over {len(zs)} zones"):
        if model == "footprint":
            w, _, fp = build_footprint_weights(zs, list(zone_paths), cells, cell_crs=cell_crs, metric_crs=metric_crs, ancillary=ancillary,
                                               ancillary_column=ancillary_column, prior=prior, tile_m=tile_m)
        else:
            w, _, _ = build_weights(zs, list(zone_paths), cells, model=model, cell_crs=cell_crs, metric_crs=metric_crs, ancillary=ancillary,
                                    ancillary_column=ancillary_column)
    w.meta["cells"] = str(cells)
    if fp is not None:  # the footprints beside, so that runs with --weights let the counts place people too
        w.meta["footprints"] = footprints_path(out).name
        write_footprints(fp, footprints_path(out))
    write_weights(w, out)
    s = w.summary()
    say(
        f"wrote {out}: {plural(s['cells'], 'cell')} x {plural(s['zones'], 'zone')}, {plural(s['nonzero'], 'non-zero weight')}; "
        f"{plural(s['cells_in_no_zone'], 'cell')} in no zone; mean outside share {s['mean_outside']:.1%}; "
        f"{plural(s['zones_without_cells'], 'zone')} that no cell reaches"
    )
    for said in footprint_only(prior, tile_m, model) if model != "footprint" else ():  # (said once written, as a run's advice)
        log.warning(said)
    return 0
