"""A run's geometry inputs: zones and cells to weights, the same way for every command.

``geozones weights`` and :func:`geozones.run` build their weights with :func:`build_weights`:
the coverage model picked from the cell file, the coverage areas, and the cell x zone
weights, with errors that name both the zone files and the cell plan.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._words import plural, some
from .cellplan import read_cellplan
from .coverage import DEFAULT_MODEL, build_coverage
from .errors import CoverageError, WeightsError, ZoneError
from .footprint import REACH_FACTOR, TILE_M, Footprints, footprint_weights, footprints
from .overlay import no_overlap
from .weights import Weights, compute_weights, compute_weights_dask

__all__ = ["holds_polygons", "coverage_model", "build_weights", "build_footprint_weights", "prior_footprint_weights", "naming_inputs",
           "check_unreached", "prebuilt_footprints", "beyond_reach", "warn_partly_unreached"]

log = logging.getLogger("geozones")


def holds_polygons(path: str | Path) -> bool:
    """Whether a cell file holds coverage polygons (GeoJSON, GeoPackage, Shapefile) rather than cells.

    Parameters
    ----------
    path : str or Path
        The cell plan or coverage file.

    Returns
    -------
    bool
        True for a GeoPackage or Shapefile, or a GeoJSON whose first 64 kB name a polygon.
    """
    p = Path(path)
    if p.suffix.lower() not in (".geojson", ".json", ".gpkg", ".shp") or not p.exists():
        return False
    with open(p, "rb") as fh:
        head = fh.read(65536)
    return b'"Polygon"' in head or b'"MultiPolygon"' in head or p.suffix.lower() in (".gpkg", ".shp")


def coverage_model(cells: str | Path, model: str | None = None) -> str:
    """The coverage model of a run: ``model`` if given, else ``given`` for a file of polygons, else the default.

    Parameters
    ----------
    cells : str or Path
        The cell plan or coverage file.
    model : str, optional
        The model asked for (``wedge``, ``voronoi``, ``given``).

    Returns
    -------
    str
        The model to use.
    """
    if model is not None:
        return model
    return "given" if holds_polygons(cells) else DEFAULT_MODEL


def build_weights(
    zones: gpd.GeoDataFrame,
    zone_paths: list[str],
    cells: str | Path,
    *,
    model: str | None = None,
    cell_crs: str | None = None,
    metric_crs: str | None = None,
    ancillary: str | None = None,
    ancillary_column: str | None = None,
    on_dask: bool = False,
    scheduler: str | None = None,
) -> tuple[Weights, gpd.GeoDataFrame, str]:
    """Weights of the cells in ``cells`` over ``zones``: model, coverage, weights.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        The zones, as :func:`geozones.read_zones` returns them.
    zone_paths : list of str
        The zone files, to name them in errors.
    cells : str or Path
        The cell plan, or a file of coverage polygons (model ``given``).
    model : str, optional
        Coverage model; default: :func:`coverage_model`.
    cell_crs : str, optional
        CRS of x, y columns in the cell plan.
    metric_crs : str, optional
        Metric CRS for areas.
    ancillary, ancillary_column : str, optional
        Dasymetric layer (raster or polygons) and its value column.
    on_dask : bool
        Compute the weights on Dask (:func:`geozones.compute_weights_dask`).
    scheduler : str, optional
        With ``on_dask``: a distributed scheduler's address.

    Returns
    -------
    tuple
        (:class:`~geozones.Weights` with ``meta["model"]`` set, the coverage areas, the model).

    Raises
    ------
    WeightsError, CoverageError
        Named by both the zone files and the cell file.
    """
    model = coverage_model(cells, model)
    if model == "footprint":
        weights, coverage, _ = build_footprint_weights(zones, zone_paths, cells, cell_crs=cell_crs, metric_crs=metric_crs,
                                                       ancillary=ancillary, ancillary_column=ancillary_column)
        return weights, coverage, model
    plan = None if model == "given" else read_cellplan(cells, crs=cell_crs)
    coverage = build_coverage(cells if plan is None else plan, model, crs=metric_crs)
    try:
        if on_dask:  # the cell plan partitioned on Dask too (the same weights)
            weights = compute_weights_dask(coverage, zones, scheduler=scheduler, crs=metric_crs, ancillary=ancillary, ancillary_column=ancillary_column)
        else:
            weights = compute_weights(coverage, zones, crs=metric_crs, ancillary=ancillary, ancillary_column=ancillary_column)
    except (WeightsError, CoverageError) as exc:
        raise naming_inputs(exc, zone_paths, str(cells), cell_crs) from None
    weights.meta["model"] = model
    return weights, coverage, model


def build_footprint_weights(
    zones: gpd.GeoDataFrame,
    zone_paths: list[str],
    cells: str | Path,
    *,
    cell_crs: str | None = None,
    metric_crs: str | None = None,
    ancillary: str | None = None,
    ancillary_column: str | None = None,
    prior: str = "plan",
    tile_m: float = TILE_M,
) -> tuple[Weights, gpd.GeoDataFrame, Footprints]:
    """The footprint model's inputs: weights under the prior, best-server areas, footprints.

    Parameters
    ----------
    zones, zone_paths, cells, cell_crs, metric_crs, ancillary, ancillary_column
        As for :func:`build_weights` (the ancillary layer is the density's prior).
    prior : {"plan", "uniform"}, default "plan"
        The prior without an ancillary layer (:func:`geozones.footprint.footprints`).
    tile_m : float, default :data:`geozones.footprint.TILE_M`
        The grid's tile side in metres.

    Returns
    -------
    tuple
        (:class:`~geozones.Weights` of the prior density, the best-server (Voronoi) areas
        for checks, the :class:`~geozones.footprint.Footprints` a run refines with its counts).
    """
    plan = read_cellplan(cells, crs=cell_crs)
    try:
        return prior_footprint_weights(plan, zones, crs=metric_crs, ancillary=ancillary, ancillary_column=ancillary_column, prior=prior,
                                       tile_m=tile_m)
    except (WeightsError, CoverageError) as exc:
        raise naming_inputs(exc, zone_paths, str(cells), cell_crs) from None


def prior_footprint_weights(
    plan: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    crs: str | None = None,
    ancillary: str | None = None,
    ancillary_column: str | None = None,
    prior: str = "plan",
    tile_m: float = TILE_M,
) -> tuple[Weights, gpd.GeoDataFrame, Footprints]:
    """:func:`build_footprint_weights` of a cell plan already read (the errors name no file).

    Parameters
    ----------
    plan : geopandas.GeoDataFrame
        The cell plan (:func:`geozones.read_cellplan`).
    zones : geopandas.GeoDataFrame
        The zone set.
    crs, ancillary, ancillary_column, prior, tile_m
        The metric CRS (default: the best-server areas'), the density's prior and the grid's tile side.

    Returns
    -------
    tuple
        As :func:`build_footprint_weights`.

    Raises
    ------
    WeightsError
        If no cell's footprint reaches any zone.
    """
    coverage = build_coverage(plan, "voronoi", crs=crs)
    fp = footprints(plan, zones, crs=crs or coverage.crs, ancillary=ancillary, ancillary_column=ancillary_column, prior=prior, tile_m=tile_m)
    if not fp.zone_shares.nnz:
        raise no_overlap(coverage, zones)
    return footprint_weights(fp), coverage, fp


def run_weights(
    zones: gpd.GeoDataFrame,
    zone_paths: list[str],
    cells: str | Path,
    *,
    model: str | None = None,
    cell_crs: str | None = None,
    metric_crs: str | None = None,
    ancillary: str | None = None,
    ancillary_column: str | None = None,
    on_dask: bool = False,
    scheduler: str | None = None,
    prior: str = "plan",
    tile_m: float = TILE_M,
) -> tuple[Weights, str, Footprints | None]:
    """The weights a run starts from, with a zone that only swapped coordinates leave unreached refused.

    Parameters
    ----------
    zones, zone_paths, cells, model, cell_crs, metric_crs, ancillary, ancillary_column, on_dask, scheduler
        As for :func:`build_weights`.
    prior : {"plan", "uniform"}, default "plan"
        The footprint model's prior without an ancillary layer.
    tile_m : float, default :data:`geozones.footprint.TILE_M`
        The footprint model's tile side in metres.

    Returns
    -------
    tuple
        (:class:`~geozones.Weights`, the model, the footprints: for the footprint model the
        weights are its prior's and the run refines them with its counts; else None).
    """
    if coverage_model(cells, model) == "footprint":
        weights, coverage, fp = build_footprint_weights(zones, zone_paths, cells, cell_crs=cell_crs, metric_crs=metric_crs,
                                                        ancillary=ancillary, ancillary_column=ancillary_column, prior=prior, tile_m=tile_m)
        model = "footprint"
    else:
        weights, coverage, model = build_weights(zones, zone_paths, cells, model=model, cell_crs=cell_crs, metric_crs=metric_crs,
                                                 ancillary=ancillary, ancillary_column=ancillary_column, on_dask=on_dask, scheduler=scheduler)
        fp = None
    check_unreached(zones, weights, coverage, zone_paths)
    return weights, model, fp


def naming_inputs(exc: WeightsError | CoverageError, zones: list[str], cells: str | None, cell_crs: str | None) -> WeightsError | CoverageError:
    """An error about zones and cells together, named by both files (compute_weights sees only geometries)."""
    if exc.path is not None:
        return exc
    hint = exc.hint
    if hint and "swapped" in hint:  # either layer may be the swapped one
        hint = (
            "latitude and longitude look swapped in the zones or in the cell plan: GeoJSON positions are "
            "[longitude, latitude]; check the cell plan's lon and lat columns"
        )
    if cell_crs and hint and "swapped" not in hint:
        hint = f"{hint}; is {cell_crs} the CRS of the cell plan's x, y?"
    return type(exc)(exc.message, path=f"{', '.join(map(str, zones))} and {cells}", hint=hint)


def check_unreached(zones: gpd.GeoDataFrame, weights: Weights, coverage: gpd.GeoDataFrame, zone_paths: list[str]) -> None:
    """Refuse a zone that no cell reaches but that would lie among the cells with latitude and longitude swapped.

    Other zones that no cell reaches are allowed (their figures are zero) and reported.
    """
    reached = pd.Index(weights.zone_ids)[np.diff(weights.matrix.tocsc().indptr) > 0]
    lonely = zones[~zones["zone_id"].isin(reached)]
    if not len(lonely):
        return
    swapped = shapely.transform(lonely.geometry.to_crs("EPSG:4326").values, lambda xy: xy[:, ::-1])
    tree = shapely.STRtree(np.asarray(coverage.to_crs("EPSG:4326").geometry.values, dtype=object))
    hit = np.unique(tree.query(swapped, predicate="intersects")[0])
    if len(hit):
        raise ZoneError(
            f"zone_id {lonely['zone_id'].iloc[hit[0]]!r} is reached by no cell, but would lie among the cells "
            "if its latitude and longitude were swapped",
            path=", ".join(map(str, zone_paths)),
            hint="GeoJSON positions are [longitude, latitude]: swap the two numbers of every position of that zone",
        )
    log.warning("%s reached by no cell (their figures are zero): %s", plural(len(lonely), "zone"), some(lonely["zone_id"]))


#: A zone with more than this share of its area beyond every cell's reach is named in a warning.
UNREACHED_SHARE = 0.1


def beyond_reach(zones: gpd.GeoDataFrame, fp: Footprints) -> np.ndarray:
    """Per zone (in ``zones``' order), the share of its area beyond every cell's reach
    under the footprint model (1 for a zone the footprints do not know).
    """
    reached = np.asarray(fp.matrix.sum(axis=0)).ravel() > 0
    size = float(fp.meta.get("tile_m", TILE_M))  # (a prebuilt footprints file's meta may lack it)
    inside = np.asarray(fp.zone_shares.T @ reached.astype(float)).ravel() * size * size
    area = zones.to_crs(fp.meta["crs"]).geometry.area.to_numpy()
    order = pd.Index(fp.zone_ids).get_indexer(zones["zone_id"].astype(str))
    got = np.where(order >= 0, inside[np.maximum(order, 0)], 0.0)
    return np.clip(1.0 - got / np.where(area > 0, area, 1.0), 0.0, 1.0)


def warn_partly_unreached(zones: gpd.GeoDataFrame, beyond: np.ndarray | None, reach_factor: float = REACH_FACTOR) -> None:
    """Name the zones that lie partly beyond every cell's reach (the footprint model;
    ``beyond`` from :func:`beyond_reach`).

    Their figures count the people of the part the cells reach, as if nobody were in the
    rest: a zone drawn past the end of the cell plan (a probe's Gent zone, 10% beyond)
    read low without a word. Zones no cell reaches at all are said by
    :func:`check_unreached`. Said once a run has written (an error stops a run with its
    one line alone).
    """
    if beyond is None:
        return
    part = np.flatnonzero((beyond > UNREACHED_SHARE) & (beyond < 1.0 - 1e-9))
    if not len(part):
        return
    part = part[np.argsort(-beyond[part], kind="stable")]
    named = some(part, fmt=lambda i: f"{zones['zone_id'].iloc[i]!r} ({beyond[i]:.0%} beyond)")
    log.warning("%s partly beyond the reach of every cell of the plan (a cell reaches %g times its range_m, "
                "given or by default): %s; the footprint model places nobody there, so their figures count the people of "
                "the part the cells reach only (is the cell plan whole there? give the cells that cover the rest or their "
                "range_m, or clip the zones to the plan's area)", plural(len(part), "zone"), reach_factor, named)


def prebuilt_footprints(path: str, weights: Weights) -> Footprints | None:
    """The footprints written beside a prebuilt footprint weights file.

    Parameters
    ----------
    path : str
        The weights file (``geozones weights --model footprint``).
    weights : Weights
        Its weights, read.

    Returns
    -------
    Footprints or None
        None, with a warning, when there are none beside it: the prior's weights are then
        used as they are.

    Raises
    ------
    WeightsError
        When the footprints name other cells or zones than the weights.
    """
    from .weights_io import footprints_path, read_footprints

    side = Path(path).with_name(weights.meta.get("footprints") or footprints_path(path).name)
    if not side.is_file():
        log.warning("%s: no footprints beside these footprint weights (%s): the prior's weights are used as they are, "
                    "without the density of this run's counts", path, side.name)
        return None
    fp = read_footprints(side)
    if set(map(str, fp.cell_ids)) != set(map(str, weights.cell_ids)) or not set(map(str, fp.zone_ids)) <= set(map(str, weights.zone_ids)):
        raise WeightsError("the footprints beside the weights name other cells or zones", path=side,
                           hint="write both again with 'geozones weights --model footprint'")
    return fp
