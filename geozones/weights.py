"""Apportioning weights: how much of each cell's count belongs to each zone.

For a cell ``c`` with coverage area ``C`` and a zone ``Z``::

    weight(c, Z) = m(C ∩ Z) / m(C)

where ``m`` is area measured in a metric CRS or, with an ancillary layer (dasymetric
weighting), the ancillary quantity (population, floor area...) inside the area, taken
as spread evenly over each ancillary polygon or raster pixel. The share of the cell
in no zone is kept as ``outside``::

    outside(c) = 1 - m(C ∩ (Z_1 ∪ ... ∪ Z_n)) / m(C)

so that for zones that do not overlap the weights of a cell plus its outside share
sum to 1 and apportioning loses nothing. Counts are *extensive* (people add up), in
tobler's sense: this is tobler's ``area_interpolate`` for extensive variables, with
the cell as source and the zone as target.

Candidate pairs come from an R-tree (shapely's STRtree, sort-tile-recursive) over the
coverage bounding boxes, queried with all zones at once. Where either side of a pair is
a convex polygon (wedges, Voronoi cells, grid squares) a compiled clipper (numba, on
several threads) measures the piece without building it; the other pairs go to GEOS,
with shapely's vectorised functions on several threads. On both paths, a pair where one
side holds the other skips the intersection: the piece is the held side. Dasymetric
weights need the pieces themselves, and take the GEOS path for every pair.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import numpy as np
import pandas as pd
from scipy import sparse

from ._io import file_format, row_label
from .ancillary import read_ancillary
from .crs import WGS84, metric_crs, suits
from .errors import CoverageError, WeightsError
from .overlay import Measure, candidate_pairs, geoms_of, no_overlap, overlapping_pairs, pair_pieces, union_areas

if TYPE_CHECKING:  # geopandas and shapely are imported by the functions that use them:
    import geopandas as gpd  # reading and writing weights (the stream engine) needs neither
    import pyproj

#: The zone id of the share of a cell outside every zone (the weights' last column in
#: tables; reserved in zone files).
OUTSIDE = "outside"

__all__ = [
    "compute_weights_dask",
    "Weights",
    "compute_weights",
    "zone_fit",
    "check_weight_range",
]

log = logging.getLogger("geozones")

#: Weights smaller than this are noise from boundaries that touch, and are dropped.
_EPS = 1e-12


@dataclass(frozen=True)
class Weights:
    """A sparse cell x zone weights matrix with its labels.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        Shape ``(len(cell_ids), len(zone_ids))``; entry ``(i, j)`` is the share of cell
        ``i``'s count that belongs to zone ``j``.
    cell_ids, zone_ids : numpy.ndarray of str
        Row and column labels.
    outside : numpy.ndarray of float
        Per cell, the share that falls in no zone.
    meta : dict
        How the weights were made: ``crs``, ``model``, ``measure`` ("area" or the
        ancillary layer) and anything else worth keeping with them.
    """

    matrix: sparse.csr_array
    cell_ids: np.ndarray
    zone_ids: np.ndarray
    outside: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, m = self.matrix.shape
        if n != len(self.cell_ids) or m != len(self.zone_ids) or len(self.outside) != n:
            raise WeightsError(
                f"weights matrix {self.matrix.shape} does not match {len(self.cell_ids)} cells, "
                f"{len(self.zone_ids)} zones and {len(self.outside)} outside shares"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """``(cells, zones)``."""
        return self.matrix.shape

    @property
    def zone_labels(self) -> np.ndarray:
        """The zone ids and ``"outside"`` last: the zone axis of every zone table."""
        return np.append(np.asarray(self.zone_ids, dtype=object), OUTSIDE)

    def to_frame(self) -> pd.DataFrame:
        """The weights as a long table: ``cell_id``, ``zone_id``, ``weight``.

        Every non-zero weight is a row, and every cell has one more row with ``zone_id``
        ``"outside"`` holding its outside share (0 when the cell lies wholly in zones),
        so that the table names every cell. A zone that no cell reaches has one row of
        weight 0 (with the smallest ``cell_id``), so that the table names every zone too.
        Rows are in cell order, zones in zone order, ``outside`` last.
        """
        coo = self.matrix.tocoo()
        rows, cols, data = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        unreached = np.flatnonzero(np.diff(self.matrix.tocsc().indptr) == 0) if self.shape[0] else np.empty(0, np.int64)
        if len(unreached):
            first = int(np.argmin(np.asarray(self.cell_ids).astype(str)))
            rows, cols = np.concatenate([rows, np.full(len(unreached), first, np.int64)]), np.concatenate([cols, unreached])
            data = np.concatenate([data, np.zeros(len(unreached))])
        inside = pd.DataFrame({"row": rows, "col": cols, "weight": data})
        inside = inside.sort_values(["row", "col"], kind="stable")
        out = pd.DataFrame({"row": np.arange(self.shape[0]), "col": np.full(self.shape[0], self.shape[1]), "weight": self.outside})
        both = pd.concat([inside, out], ignore_index=True).sort_values(["row", "col"], kind="stable")
        zone_labels = self.zone_labels
        return pd.DataFrame(
            {
                "cell_id": pd.array(self.cell_ids[both["row"].to_numpy()], dtype="string"),
                "zone_id": pd.array(zone_labels[both["col"].to_numpy()], dtype="string"),
                "weight": both["weight"].to_numpy(dtype=float),
            }
        )

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, source: str | None = None, meta: dict | None = None) -> Weights:
        """Build weights from a long ``cell_id, zone_id, weight`` table (see :meth:`to_frame`).

        Cells with no ``outside`` row get ``max(0, 1 - sum of their weights)``.

        Raises
        ------
        WeightsError
            Missing columns, weights that are not numbers in [0, 1], a pair given twice.
        """
        missing = {"cell_id", "zone_id", "weight"} - set(df.columns)
        if missing:
            raise WeightsError(
                f"has no {', '.join(sorted(missing))} column", path=source, hint="a weights table has cell_id, zone_id, weight"
            )
        w = pd.to_numeric(df["weight"], errors="coerce").to_numpy(dtype=float)
        check_weight_range(w, source, shown=lambda i: df["weight"].iloc[i])
        cells = df["cell_id"].astype(str).to_numpy()
        zones = df["zone_id"].astype(str).to_numpy()
        # ids as codes into their sorted distinct values (hashing: sorting 10^5 strings is slow)
        ci, cell_ids = pd.factorize(cells, sort=True)
        zc, zone_all = pd.factorize(zones, sort=True)
        return cls._from_codes(ci, np.asarray(cell_ids, dtype=object), zc, np.asarray(zone_all, dtype=object), w, source=source, meta=meta)

    @classmethod
    def _from_codes(cls, ci: np.ndarray, cell_ids: np.ndarray, zc: np.ndarray, zone_all: np.ndarray, w: np.ndarray, *,
                    source: str | None, meta: dict | None) -> Weights:
        """:meth:`from_frame` once the weights are checked and the ids are codes into their
        sorted distinct values.
        """
        dup = pd.Series(ci.astype(np.int64) * max(len(zone_all), 1) + zc).duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise WeightsError(f"cell {cell_ids[ci[i]]!r} and zone {zone_all[zc[i]]!r} appear twice", path=source, where=row_label(i, file_format(source) if source else ""))
        inside = zone_all != OUTSIDE
        is_out = ~inside[zc]
        zone_ids = zone_all[inside]
        zi = (np.cumsum(inside) - 1)[zc[~is_out]]
        matrix = sparse.csr_array(
            (np.clip(w[~is_out], 0, 1), (ci[~is_out], zi)), shape=(len(cell_ids), len(zone_ids))
        )
        matrix.eliminate_zeros()  # (the rows of weight 0 that name zones no cell reaches)
        outside = np.full(len(cell_ids), np.nan)
        outside[ci[is_out]] = np.clip(w[is_out], 0, 1)
        fill = np.isnan(outside)
        if fill.any():
            outside[fill] = np.clip(1 - np.asarray(matrix.sum(axis=1)).ravel()[fill], 0, 1)
        return cls(matrix, cell_ids.astype(object), zone_ids.astype(object), outside, dict(meta or {}))

    def with_zones(self, zone_ids: Iterable[str]) -> Weights:
        """These weights with a column of zeros for each of ``zone_ids`` they do not have
        (zones no cell reaches, left out of a weights table), after their own.
        """
        have = set(map(str, self.zone_ids))
        new = [z for z in dict.fromkeys(map(str, zone_ids)) if z not in have]
        if not new:
            return self
        matrix = sparse.hstack([self.matrix, sparse.csr_array((self.shape[0], len(new)))], format="csr")
        ids = np.concatenate([np.asarray(self.zone_ids, dtype=object), np.array(new, dtype=object)])
        return Weights(sparse.csr_array(matrix), self.cell_ids, ids, self.outside, dict(self.meta))

    def summary(self) -> dict:
        """Figures worth printing: counts of cells, zones, non-zero weights and outside shares."""
        in_none = int((np.diff(self.matrix.indptr) == 0).sum())
        return {
            "cells": int(self.shape[0]),
            "zones": int(self.shape[1]),
            "nonzero": int(self.matrix.nnz),
            "cells_in_no_zone": in_none,
            "mean_outside": float(self.outside.mean()) if len(self.outside) else 0.0,
            "zones_without_cells": int((np.diff(self.matrix.tocsc().indptr) == 0).sum()),
        }


def compute_weights(
    coverage: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    crs: str | pyproj.CRS | None = None,
    ancillary: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    ancillary_column: str | None = None,
    workers: int | None = None,
    allow_empty: bool = False,
) -> Weights:
    """Apportioning weights of coverage areas over zones.

    Parameters
    ----------
    coverage : geopandas.GeoDataFrame
        One polygon per cell with a ``cell_id`` column (see :mod:`geozones.coverage`).
    zones : geopandas.GeoDataFrame
        The zone set, with ``zone_id`` (see :func:`geozones.read_zones`). Zones may overlap.
    crs : str or pyproj.CRS, optional
        Metric CRS to measure in; by default EPSG:3812 inside Belgium, else the local UTM zone.
    ancillary : GeoDataFrame or path, optional
        Dasymetric layer (see :func:`read_ancillary`): a population raster or polygons.
        A cell whose coverage holds none of the ancillary quantity falls back to area.
    ancillary_column : str, optional
        Value column of a polygon ancillary layer.
    workers : int, optional
        Threads for the intersections; default: the number of CPUs.
    allow_empty : bool, default False
        Where no coverage area overlaps any zone, return weights with every cell wholly
        outside instead of raising (for one part of a cell plan, see
        :func:`compute_weights_dask`).

    Returns
    -------
    Weights
        Rows in the order of ``coverage``, columns in the order of ``zones``.

    Raises
    ------
    CoverageError
        Coverage areas that are empty, invalid or have duplicate ``cell_id``.
    WeightsError
        If no coverage area overlaps any zone (the hint says when the zones' latitude
        and longitude look swapped).
    """
    import geopandas as gpd
    import shapely

    for name, gdf, key in (("coverage", coverage, "cell_id"), ("zones", zones, "zone_id")):
        if key not in gdf.columns or gdf[key].isna().any():  # (a probe's NaN zone_id made a zone named 'nan')
            raise WeightsError(f"{name} has no {key} column" if key not in gdf.columns else f"{name} has a {key} that is empty (NaN)")
        if gdf.crs is None:
            raise WeightsError(f"{name} has no CRS", hint="set it with GeoDataFrame.set_crs")
    cell_ids = coverage["cell_id"].astype(str).to_numpy()
    zone_ids = zones["zone_id"].astype(str).to_numpy()
    for name, ids in (("cell_id", cell_ids), ("zone_id", zone_ids)):
        index = pd.Index(ids, dtype=object)
        if index.has_duplicates:
            raise WeightsError(f"{name} {ids[index.duplicated()][0]!r} appears more than once", hint=f"each {name} must be unique")
    if (zone_ids == OUTSIDE).any():
        raise WeightsError(f"zone_id {OUTSIDE!r} is reserved for the outside share", hint="rename that zone")
    workers = workers or os.cpu_count() or 1
    zb = None if crs is not None else _wgs84_bounds(zones)  # a CRS given needs no bounds
    if crs is None and suits(coverage.crs, zb) and suits(coverage.crs, _wgs84_bounds(coverage)):
        metric = coverage.crs  # coverage built by a model is already metric: do not reproject it
    else:
        metric = metric_crs(zb, crs)
    # an equivalent CRS (e.g. EPSG:3812 as a file's PROJJSON) needs no reprojection; to_crs
    # skips only the exact same CRS object, and reprojects the rest point by point
    cov = geoms_of(coverage if coverage.crs == metric else coverage.to_crs(metric))
    zg = geoms_of(zones if zones.crs == metric else zones.to_crs(metric))
    area = shapely.area(cov)
    bad = shapely.is_empty(cov) | ~(area > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CoverageError(
            f"coverage area of cell {cell_ids[i]!r} is empty ({int(bad.sum())} cells in all)",
            hint="check its range_m and beamwidth, or its given polygon",
        )
    # coverage built by a model, or read by read_coverage, is valid by construction
    invalid = np.zeros(len(cov), bool) if coverage.attrs.get("valid") else ~shapely.is_valid(cov)
    if invalid.any():
        cov = cov.copy()
        cov[invalid] = shapely.make_valid(cov[invalid])
        log.warning("%d coverage areas were invalid and were repaired with make_valid", int(invalid.sum()))

    measure = Measure()
    measure_name = "area"
    if ancillary is not None:
        anc = read_ancillary(ancillary, column=ancillary_column, bounds=_wgs84_bounds(coverage), bounds_crs=WGS84).to_crs(metric)
        measure = Measure(geoms_of(anc), anc["value"].to_numpy())
        measure_name = "ancillary:" + (str(ancillary) if not isinstance(ancillary, gpd.GeoDataFrame) else "layer")

    ci, zi = candidate_pairs(cov, zg)
    near = np.unique(zi)  # only zones that some coverage may reach need to be valid here
    zinvalid = near[~shapely.is_valid(zg[near])]
    if len(zinvalid):
        raise WeightsError(
            f"zone {zone_ids[zinvalid[0]]!r} has an invalid geometry: {shapely.is_valid_reason(zg[zinvalid[0]])}",
            hint="run 'geozones zones check --repair'",
        )
    inter_area, pieces, intersected, clipped = pair_pieces(cov, zg, ci, zi, workers, measure.dasymetric, area)
    keep = inter_area > _EPS * area[ci]
    ci, zi, inter_area = ci[keep], zi[keep], inter_area[keep]
    if measure.dasymetric:
        pieces = pieces[keep]
    if not len(ci) and not allow_empty:
        raise no_overlap(coverage, zones)

    total = measure(cov) if measure.dasymetric else area
    if measure.dasymetric:
        part = measure(pieces)
        empty = total[ci] <= 0
        # cells whose coverage holds none of the ancillary quantity: fall back to area
        num = np.where(empty, inter_area, part)
        den = np.where(total > 0, total, area)
        n_empty = int((total <= 0).sum())
        if n_empty:
            log.info("%d cells cover none of the ancillary quantity; their weights use area", n_empty)
    else:
        num, den = inter_area, area
    w = np.clip(num / den[ci], 0.0, 1.0)
    nz = w > _EPS
    matrix = sparse.csr_array((w[nz], (ci[nz], zi[nz])), shape=(len(cov), len(zg)))
    matrix.sum_duplicates()

    outside = np.clip(1.0 - np.asarray(matrix.sum(axis=1)).ravel(), 0.0, 1.0)
    # where a cell reaches two zones that overlap each other, the sum of its weights
    # counts the overlap twice: correct it by inclusion-exclusion over the overlaps
    # (by area), or measure the union of its pieces (dasymetric, or overlaps too tangled)
    # a generated grid cannot overlap itself
    oa, ob = (np.array([], dtype=np.int64),) * 2 if zones.attrs.get("tiling") else _overlap_pairs(zg, np.unique(zi), workers)
    shared = _cells_in_overlaps(oa, ob, ci, zi, len(cov), len(zg))
    inside = union_areas(cov, zg, ci, zi, inter_area, shared, oa, ob, area, workers) if len(shared) and not measure.dasymetric else None
    if inside is not None:
        outside[shared] = np.clip(1.0 - inside / area[shared], 0.0, 1.0)
    elif len(shared):
        sel = np.isin(ci, shared)
        pc, pz = ci[sel], zi[sel]
        geoms = shapely.intersection(cov[pc], zg[pz])
        rank = np.arange(len(pc)) - np.searchsorted(pc, pc)  # position of each piece within its cell
        grid = np.full((len(shared), int(rank.max()) + 1), None, dtype=object)
        grid[np.searchsorted(shared, pc), rank] = geoms
        inside = shapely.union_all(grid, axis=1)
        m_in = measure(inside) if measure.dasymetric else shapely.area(inside)
        den_shared = np.where(total[shared] > 0, total[shared], area[shared])
        if measure.dasymetric:
            m_in = np.where(total[shared] > 0, m_in, shapely.area(inside))
        outside[shared] = np.clip(1.0 - m_in / den_shared, 0.0, 1.0)
    outside[outside < 1e-9] = 0.0
    meta = {
        "crs": metric.to_string(),
        "measure": measure_name,
        "pairs": int(len(keep)),
        "intersected": int(intersected),
        "clipped": int(clipped),
        "zones_overlap": bool(len(oa)),
    }
    meta.update({"model": coverage.attrs["model"]} if coverage.attrs.get("model") else {})  # (build_coverage's model: its errors apply)
    return Weights(matrix, cell_ids.astype(object), zone_ids.astype(object), outside, meta)


def compute_weights_dask(
    coverage: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    npartitions: int | None = None,
    scheduler: str | None = None,
    crs: str | pyproj.CRS | None = None,
    ancillary: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    ancillary_column: str | None = None,
) -> Weights:
    """:func:`compute_weights` on Dask, the coverage partitioned by cells (dask-geopandas).

    A cell's weights depend on its own coverage area and the zones only, so every part of
    the cell plan is weighted on its own (each against all zones, in one metric CRS chosen
    for the zones) and the rows are stacked: the result equals :func:`compute_weights`.

    Parameters
    ----------
    coverage, zones, crs, ancillary, ancillary_column
        As for :func:`compute_weights`.
    npartitions : int, optional
        Parts of the cell plan (default: two per CPU).
    scheduler : str, optional
        Address of a ``distributed`` scheduler (``tcp://host:8786``); without it Dask's
        threads run in this process.

    Returns
    -------
    Weights
    """
    try:
        import dask
        import dask_geopandas
    except ImportError as exc:  # pragma: no cover - an install without the extra
        raise WeightsError("weights on Dask need dask-geopandas", hint="pip install 'geozones[dask]'") from exc
    metric = metric_crs(_wgs84_bounds(zones), crs)
    parts = dask_geopandas.from_geopandas(coverage.to_crs(metric), npartitions=npartitions or 2 * (os.cpu_count() or 1))
    tasks = [dask.delayed(compute_weights)(p, zones, crs=metric, ancillary=ancillary, ancillary_column=ancillary_column, workers=1,
                                           allow_empty=True) for p in parts.to_delayed()]
    if scheduler:
        from ._cluster import cluster

        with cluster(scheduler) as client:
            done = dask.compute(*tasks, scheduler=client)
    else:
        done = dask.compute(*tasks, scheduler="threads")
    done = [w for w in done if len(w.cell_ids)]
    if not any(w.matrix.nnz for w in done):  # nothing overlaps: the whole plan raises the error that says why
        compute_weights(coverage, zones, crs=metric, ancillary=ancillary, ancillary_column=ancillary_column)
    meta = dict(done[0].meta)
    meta.update(pairs=sum(w.meta["pairs"] for w in done), intersected=sum(w.meta["intersected"] for w in done),
                clipped=sum(w.meta["clipped"] for w in done), zones_overlap=any(w.meta["zones_overlap"] for w in done), engine="dask")
    return Weights(sparse.csr_array(sparse.vstack([w.matrix for w in done])), np.concatenate([w.cell_ids for w in done]),
                   done[0].zone_ids, np.concatenate([w.outside for w in done]), meta)


#: A cell whose weight for a zone is below this lies mostly (more than half) outside it.
FIT_INSIDE = 0.5
#: Below this fit, or under :data:`MIN_ZONE_KM2`, a zone's figures should not be used
#: (docs/accuracy.md: a median error of about 40% and one figure in ten off by 100%).
LOW_FIT = 0.5
MIN_ZONE_KM2 = 0.25


def usable_zones(area_km2, fit) -> np.ndarray:
    """The usability rule: at least :data:`MIN_ZONE_KM2`, a fit of at least :data:`LOW_FIT` (NaN: no)."""
    return (np.asarray(fit, dtype=float) >= LOW_FIT) & (np.asarray(area_km2, dtype=float) >= MIN_ZONE_KM2)


def zone_fit(weights: Weights, zone_areas: pd.Series | None = None) -> pd.DataFrame:
    """How well the cells fit each zone: quality indicators that hold no people counts.

    A cell whose coverage lies mostly inside a zone brings the zone people who are
    really there; a cell that only grazes a zone brings a slice of its count that is
    right only if its people are spread evenly (by area, or by the ancillary layer).
    With ``w`` the zone's column of weights (the share of each cell's coverage, as the
    weights measure it, that lies in the zone)::

        n_cells      = #{c : w_c > 0}
        cells_inside = #{c : w_c >= 0.5}                  (cells mostly inside the zone)
        cell_share   = sum_c w_c                          (the zone's size in cells)
        fit          = sum_{c : w_c >= 0.5} w_c / sum_c w_c

    ``fit`` is the share of the zone's figure that comes from cells whose coverage
    lies at least half inside the zone, when every cell carries the same count (networks
    are dimensioned so that cells carry similar loads); ``1 - fit`` is the share from
    cells mostly (more than half) outside it. 1 is a zone made of whole cells, 0 a zone
    that only gets slices of cells centred elsewhere. A zone that no cell reaches has
    ``n_cells`` 0 and ``fit`` and ``cell_share`` NaN.

    The indicators are computed from the weights alone, never from counts, so they
    reveal nothing about the people behind a suppressed figure.

    Parameters
    ----------
    weights : Weights
        From :func:`compute_weights` or :func:`read_weights`.
    zone_areas : pandas.Series, optional
        Zone areas in km² indexed by ``zone_id``; copied to an ``area_km2`` column, and
        ``error_90`` is the error the accuracy studies measured for zones of its size and fit
        under the weights' model (90% of figures within it, crowd scenarios included:
        :data:`geozones.intervals.APPORTIONING`), and ``usable`` the rule of :func:`usable_zones`:
        the zones whose figures stay within -35% / +54% under the footprint model, the
        default (docs/accuracy.md; area models measured wider for the same zones).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``zone_id`` in the order of ``weights.zone_ids``, with columns
        ``n_cells``, ``cells_inside``, ``cell_share``, ``fit`` (and ``area_km2``, ``usable``).
    """
    csc = sparse.csc_array(weights.matrix)
    csc.sum_duplicates()
    w = csc.data
    col = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
    pos = w > 0
    inside = w >= FIT_INSIDE
    m = csc.shape[1]
    n_cells = np.bincount(col[pos], minlength=m)
    total = np.bincount(col, weights=w, minlength=m)
    good = np.bincount(col[inside], weights=w[inside], minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = np.where(n_cells > 0, good / total, np.nan)
    out = pd.DataFrame(
        {
            "n_cells": n_cells.astype(np.int64),
            "cells_inside": np.bincount(col[inside], minlength=m).astype(np.int64),
            "cell_share": np.where(n_cells > 0, total, np.nan),
            "fit": fit,
        },
        index=pd.Index(weights.zone_ids.astype(str), name="zone_id"),
    )
    if zone_areas is not None:
        from .intervals import apportioning_halfwidth

        areas = pd.Series(zone_areas)
        areas.index = areas.index.astype(str)
        out["area_km2"] = areas.reindex(out.index).to_numpy(dtype=float)
        h = apportioning_halfwidth(out["area_km2"].to_numpy(), out["fit"].to_numpy(), weights.meta.get("model"))
        out["error_90"] = np.where(n_cells > 0, np.expm1(h), np.nan)
        out["usable"] = usable_zones(out["area_km2"], out["fit"])
    return out


def _wgs84_bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """Longitude/latitude bounds of a layer, without reprojecting every geometry."""
    import pyproj

    b = gdf.total_bounds
    if gdf.crs is None or gdf.crs.equals(pyproj.CRS(WGS84)):
        return tuple(b)
    t = pyproj.Transformer.from_crs(gdf.crs, WGS84, always_xy=True)
    return tuple(t.transform_bounds(*b, densify_pts=21))


def _overlap_pairs(zg: np.ndarray, among: np.ndarray, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (zone index, zone index) among ``among`` whose interiors overlap by an area."""
    a, b, _ = overlapping_pairs(zg[among], workers)
    return among[a], among[b]


def _cells_in_overlaps(oa, ob, ci: np.ndarray, zi: np.ndarray, n_cells: int, n_zones: int) -> np.ndarray:
    """Sorted indices of the cells that reach both zones of some overlapping pair (oa[i], ob[i])."""
    if not len(oa):
        return np.array([], dtype=np.int64)
    reach = sparse.csc_array((np.ones(len(ci)), (ci, zi)), shape=(n_cells, n_zones))
    both = reach[:, oa].multiply(reach[:, ob]).tocsr()
    return np.flatnonzero(np.diff(both.indptr) > 0).astype(np.int64)


def check_weight_range(w: np.ndarray, source: str | None, shown) -> None:
    """Refuse weights that are not numbers in [0, 1] (from a file: ``shown(i)`` gives the value as written).

    Parameters
    ----------
    w : numpy.ndarray
        The weights.
    source, shown
        The file, to name it (a CSV's place is its line, the header line 1); ``shown(i)``:
        the i-th weight as the file has it.
    """
    bad = ~np.isfinite(w) | (w < -1e-9) | (w > 1 + 1e-9)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        v = repr(shown(i)) if isinstance(shown(i), str) else format(float(shown(i)), "g")  # (not "np.float64(1.5)")
        raise WeightsError(f"weight {v} is not a number between 0 and 1", path=source, where=row_label(i, file_format(source) if source else ""),
                           hint="rebuild the weights with 'geozones weights'")
