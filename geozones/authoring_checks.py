"""Zone authoring checks: judge zones against the cell layout before any count exists.

GIS staff draw zones; the network measures cells. A zone is only as sharp as the cells
that feed it: its figure is ``sum_i weight(i, zone) * count_i`` (see
:mod:`geozones.weights`), so a zone much smaller than its cells gets a figure that mostly
comes from around it. This module says, from the zones and the coverage areas alone,
how well each zone fits the cells, and which zones or pairs of zones the network cannot
resolve.

No count is read here, so no figure that disclosure control could suppress reaches any
output of this module or of the pages built on it (:mod:`geozones.authoring`: tables,
pages, popups): only geometry, weights and thresholds.

**Assumption.** Without counts, every cell is assumed to carry the same count ``n``
(operators dimension cells to carry similar loads: cells are small where people are
dense). A zone's expected figure is then ``n * W`` with ``W = sum_i weight(i, zone)``,
its ``cell_share``: how many whole cells' counts the zone receives.

Figures per zone (:func:`zone_resolution`, built on :func:`geozones.weights.zone_fit`):

* ``n_cells``: the cells with a non-zero weight in the zone (its *feeding* cells);
* ``outside_share``: the share of the zone's expected figure that comes from cells lying
  mostly outside it, i.e. with less than half (:data:`geozones.weights.FIT_INSIDE`) of
  their coverage in the zone; ``fit = 1 - outside_share`` (1: every contributing cell
  lies mostly in the zone; 0: all of the figure comes from cells that lie mostly elsewhere);
* ``min_population``: the smallest population the zone can publish at threshold k. A
  figure is published when at least ``k`` subscribers lie behind it; with market share
  ``s`` that is about ``k / s`` people (30 / 0.4 = 75);
* ``people_per_cell``: how many people each feeding cell must see in a period for the
  zone's figure to reach ``k`` subscribers: ``k / (s * W)``. A zone equal to one cell's
  coverage needs ``k / s``; a zone that receives a hundredth of one cell needs a hundred
  times more.

A zone is flagged as one the network cannot resolve when

* ``too small``: ``W`` < :data:`MIN_CELL_SHARE` (0.5): the zone receives less than
  half of one cell's count, so its figure is mostly a slice of people who are elsewhere;
* ``coarse``: even the smallest feeding cell's coverage is more than
  :data:`MAX_CELL_ZONE_RATIO` (10) times the zone's area;
* ``unreliable``: the zone is under :data:`geozones.weights.MIN_ZONE_KM2` (0.25 km²) or
  its fit is below :data:`geozones.weights.LOW_FIT` (0.5): the zones whose figures the
  accuracy studies found beyond -35% / +54% (90% of figures) under the footprint model,
  crowd scenarios included; ``error_90`` gives the measured bound for the zone's size, fit
  and model (:data:`geozones.intervals.APPORTIONING`, docs/accuracy.md);
* ``no cell``: no coverage area reaches the zone.

A zone may have several of these; its ``status`` lists them (``"too small, unreliable"``).

Pairs of overlapping zones (:func:`thin_differences`): publishing a zone A and a zone B
inside it publishes ``A - B``, the people in the difference. The pair is flagged when
that difference is below the cells' resolution in the same sense (its cell share
below :data:`MIN_CELL_SHARE`): the difference then holds fewer than k subscribers
unless the cells around it each see more than ``k / (s * W_diff)`` people, at least twice
what a cell needs to publish anything. For a partial overlap (neither inside the other)
the pair is flagged when both one-sided differences are that small (the two zones are
nearly the same). At run time :func:`geozones.disclosure_control` suppresses nested
pairs whose difference is small; this warns before, so that staff merge or drop a zone
instead of losing figures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse

from .crs import WGS84, metric_crs
from .errors import InputError, Problem, WeightsError
from .extrapolate import DEFAULT_SHARE
from .intervals import apportioning_halfwidth, error_words
from .privacy import DEFAULT_K
from .weights import FIT_INSIDE, Weights, compute_weights, usable_zones, zone_fit
from .zones import MIN_AREA_M2, zone_overlaps, zone_paths

__all__ = [
    "MIN_CELL_SHARE",
    "MAX_CELL_ZONE_RATIO",
    "zone_resolution",
    "zone_contributions",
    "thin_differences",
    "authoring_problems",
]

#: A zone (or a difference of zones) receiving less than this many cells' counts is too small.
MIN_CELL_SHARE = 0.5
#: A zone whose smallest feeding cell is more than this many times its area is coarse.
MAX_CELL_ZONE_RATIO = 10.0
#: A zone counts as inside another when this share of its area is (as zones.nested_pairs).
_INSIDE = 0.99
#: Mean width (m) under which two outlines' difference is drift, not a strip (see zone_pairs).
_DRIFT_M = 0.01


def _check_k_share(k: int, share: float) -> None:
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise InputError(f"threshold k {k!r} is not a whole number of at least 1")
    if not (0 < share <= 1):
        raise InputError(f"market share {share!r} is not a fraction in (0, 1]", hint="give e.g. 0.4 for 40%")


def _cell_areas(weights: Weights, coverage: gpd.GeoDataFrame | None, crs) -> np.ndarray:
    """Coverage area (km²) per cell of ``weights``, NaN where unknown."""
    if coverage is None:
        return np.full(len(weights.cell_ids), np.nan)
    cov = coverage
    if crs is not None:
        cov = cov.to_crs(crs)
    elif cov.crs is None or not cov.crs.is_projected:
        cov = cov.to_crs(metric_crs(cov.to_crs(WGS84).total_bounds))
    area = pd.Series(shapely.area(np.asarray(cov.geometry.values, dtype=object)) / 1e6, index=cov["cell_id"].astype(str).to_numpy())
    return area.reindex(weights.cell_ids.astype(str)).to_numpy(dtype=float)


def zone_resolution(
    weights: Weights,
    zones: gpd.GeoDataFrame,
    coverage: gpd.GeoDataFrame | None = None,
    *,
    k: int = DEFAULT_K,
    share: float = DEFAULT_SHARE,
    crs: str | pyproj.CRS | None = None,
) -> pd.DataFrame:
    """Whether the cells can resolve each zone, and the smallest population it can publish.

    Adds to :func:`geozones.weights.zone_fit` (``n_cells``, ``cells_inside``,
    ``cell_share``, ``fit``) the zone's area, the size of its cells, the people behind
    threshold k, and a flag (see the module's docstring for the definitions).

    Parameters
    ----------
    weights : Weights
        Cell x zone weights of ``zones`` (:func:`geozones.compute_weights`).
    zones : geopandas.GeoDataFrame
        The zone set, with ``zone_id`` and ``name``.
    coverage : geopandas.GeoDataFrame, optional
        The coverage areas the weights were built from; needed for the cell sizes
        (``cell_km2_min``, ``cell_km2``, the ``coarse`` flag). Without it those are NaN.
    k : int, default 30
        Disclosure threshold: the fewest subscribers behind a published figure.
    share : float, default 0.4
        The operator's market share, to turn ``k`` subscribers into people.
    crs : str or pyproj.CRS, optional
        Metric CRS for areas; by default the coverage's (when metric) or an automatic one.

    Returns
    -------
    pandas.DataFrame
        One row per zone in the order of ``zones``: ``zone_id``, ``name``, ``area_km2``,
        ``n_cells``, ``cells_inside``, ``cell_share``, ``fit``, ``outside_share``, ``cell_km2_min``
        (smallest feeding cell), ``cell_km2`` (feeding cells' mean area, weighted by
        their contribution), ``min_population`` (k / share), ``people_per_cell``
        (k / (share x cell_share); inf for a zone no cell reaches), ``status``
        (``"ok"``, ``"too small"``, ``"coarse"``, ``"too small, coarse"``, ``"no cell"``)
        and ``flagged``.
    """
    _check_k_share(k, share)
    zid = zones["zone_id"].astype(str).to_numpy()
    col = pd.Series(np.arange(len(weights.zone_ids)), index=weights.zone_ids.astype(str))
    missing = ~np.isin(zid, col.index)
    if missing.any():
        raise WeightsError(f"zone {zid[missing][0]!r} is not in the weights", hint="compute the weights of these zones")
    base = zone_fit(weights).reindex(zid)
    m = sparse.csc_array(weights.matrix)[:, col.reindex(zid).to_numpy()]
    m.sort_indices()
    n_cells = base["n_cells"].to_numpy()
    w_sum = base["cell_share"].fillna(0.0).to_numpy()
    if crs is None and coverage is not None and coverage.crs is not None and coverage.crs.is_projected:
        crs = coverage.crs
    if crs is None:
        crs = metric_crs(zones.to_crs(WGS84).total_bounds)
    area = shapely.area(np.asarray(zones.to_crs(crs).geometry.values, dtype=object)) / 1e6
    cell_area = _cell_areas(weights, coverage, crs)
    ca = cell_area[m.indices] if len(m.indices) else np.array([])
    has = n_cells > 0
    cell_min = np.full(len(zid), np.nan)
    if has.any() and np.isfinite(ca).any():
        cell_min[has] = np.minimum.reduceat(np.where(np.isfinite(ca), ca, np.inf), m.indptr[:-1][has])
        cell_min[~np.isfinite(cell_min)] = np.nan
    weighted = sparse.csc_array((m.data * ca, m.indices, m.indptr), shape=m.shape) if len(ca) else m
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_mean = np.where(w_sum > 0, np.asarray(weighted.sum(axis=0)).ravel() / w_sum, np.nan)
        people = np.where(w_sum > 0, k / (share * w_sum), np.inf)
        ratio = cell_min / area
    small = has & (w_sum < MIN_CELL_SHARE)
    coarse = has & (ratio > MAX_CELL_ZONE_RATIO)
    error = apportioning_halfwidth(area, base["fit"].to_numpy(), weights.meta.get("model"))
    unreliable = has & ~usable_zones(area, base["fit"])
    reasons = pd.DataFrame({"too small": small, "coarse": coarse, "unreliable": unreliable})
    status = reasons.apply(lambda r: ", ".join(r.index[r.to_numpy()]) or "ok", axis=1).to_numpy(dtype=object) if len(reasons) else np.array([], dtype=object)
    status = np.where(has, status, "no cell")
    return pd.DataFrame(
        {
            "zone_id": zid,
            "name": zones["name"].astype(str).to_numpy() if "name" in zones.columns else zid,
            "area_km2": area,
            "n_cells": n_cells.astype(int),
            "cells_inside": base["cells_inside"].to_numpy().astype(int),
            "cell_share": w_sum,
            "fit": base["fit"].to_numpy(),
            "outside_share": 1 - base["fit"].to_numpy(),
            "error_90": np.where(has, np.expm1(error), np.nan),
            "cell_km2_min": cell_min,
            "cell_km2": cell_mean,
            "min_population": np.full(len(zid), k / share),
            "people_per_cell": people,
            "status": status,
            "flagged": status != "ok",
        }
    )


def zone_contributions(weights: Weights) -> pd.DataFrame:
    """The cells that feed each zone: ``zone_id``, ``cell_id``, ``weight``, ``share_of_figure``, ``mostly_outside``.

    ``share_of_figure`` is the cell's part of the zone's expected figure when every cell
    carries the same count (``weight / sum of the zone's weights``). Rows are grouped by
    zone, largest share first.

    Parameters
    ----------
    weights : Weights
        Cell x zone weights (:func:`geozones.compute_weights` or :func:`geozones.read_weights`).

    Returns
    -------
    pandas.DataFrame
        One row per entry of ``weights.matrix`` (a cell that reaches a zone): ``zone_id``
        and ``cell_id`` (str), ``weight`` (float, the share of the cell's count that falls
        in the zone), ``share_of_figure`` (float; a zone's rows sum to 1) and
        ``mostly_outside`` (bool: ``weight`` below 0.5, most of the cell's count falls
        outside the zone). Zones in the order of ``weights.zone_ids``; a zone that no cell
        reaches has no row, and the cells' ``outside`` shares have none.
    """
    coo = weights.matrix.tocoo()
    col_sum = np.asarray(weights.matrix.sum(axis=0)).ravel()
    out = pd.DataFrame(
        {
            "zone_id": weights.zone_ids.astype(str)[coo.col],
            "cell_id": weights.cell_ids.astype(str)[coo.row],
            "weight": coo.data,
            "share_of_figure": coo.data / col_sum[coo.col],
            "mostly_outside": coo.data < FIT_INSIDE,
            "_col": coo.col,
        }
    )
    out = out.sort_values(["_col", "share_of_figure"], ascending=[True, False], kind="stable")
    return out.drop(columns="_col").reset_index(drop=True)


def thin_differences(
    zones: gpd.GeoDataFrame,
    coverage: gpd.GeoDataFrame,
    *,
    k: int = DEFAULT_K,
    share: float = DEFAULT_SHARE,
    crs: str | pyproj.CRS | None = None,
    overlaps: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pairs of overlapping zones whose difference the cells cannot resolve.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        The zone set.
    coverage : geopandas.GeoDataFrame
        Coverage areas with ``cell_id`` (:func:`geozones.build_coverage`).
    k, share : int, float
        Threshold and market share, for ``people_per_cell``.
    crs : str or pyproj.CRS, optional
        Metric CRS; by default the coverage's.
    overlaps : pandas.DataFrame, optional
        :func:`geozones.zone_overlaps` of ``zones``, when already computed.

    Returns
    -------
    pandas.DataFrame
        One row per flagged pair: ``zone_a``, ``zone_b``, ``relation`` (``"nested"``: b
        inside a; ``"same"``: the same area twice; ``"partial"``), ``diff_km2`` (area of
        a minus b; for a partial overlap, the larger of the two one-sided differences),
        ``diff_cell_share``, ``people_per_cell`` (k / (share x that); the people
        each surrounding cell must see for the difference to hold k subscribers) and
        ``advice``.
    """
    _check_k_share(k, share)
    cols = ["zone_a", "zone_b", "relation", "diff_km2", "diff_cell_share", "people_per_cell", "advice"]
    if crs is None:
        crs = coverage.crs if coverage.crs is not None and coverage.crs.is_projected else metric_crs(zones.to_crs(WGS84).total_bounds)
    if overlaps is None:
        overlaps = zone_overlaps(zones, crs)
    if not len(overlaps):
        return pd.DataFrame({c: [] for c in cols})
    ov = overlaps.copy()
    # orient nested pairs as (outer, inner): b is the zone with more of its area inside the other
    flip = (ov["share_of_a"] >= _INSIDE) & (ov["share_of_a"] > ov["share_of_b"])
    ov.loc[flip, ["zone_a", "zone_b", "share_of_a", "share_of_b"]] = ov.loc[flip, ["zone_b", "zone_a", "share_of_b", "share_of_a"]].to_numpy()
    geo = pd.Series(np.asarray(zones.to_crs(crs).geometry.values, dtype=object), index=zones["zone_id"].astype(str).to_numpy())
    ga = geo.reindex(ov["zone_a"].astype(str)).to_numpy()
    gb = geo.reindex(ov["zone_b"].astype(str)).to_numpy()
    a_b, b_a = shapely.difference(ga, gb), shapely.difference(gb, ga)
    area_ab, area_ba = shapely.area(a_b), shapely.area(b_a)
    n = len(ov)
    diffs = np.concatenate([a_b, b_a])
    keep = shapely.area(diffs) > MIN_AREA_M2
    equiv = np.zeros(2 * n)
    if keep.any():
        dz = gpd.GeoDataFrame({"zone_id": np.flatnonzero(keep).astype(str)}, geometry=diffs[keep], crs=crs)
        try:
            w = compute_weights(coverage, dz, crs=crs)
            equiv[keep] = pd.Series(np.asarray(w.matrix.sum(axis=0)).ravel(), index=w.zone_ids.astype(str)).reindex(dz["zone_id"]).to_numpy()
        except WeightsError:  # no cell reaches any difference: they hold nothing the network sees
            pass
    e_ab, e_ba = equiv[:n], equiv[n:]
    inner = ov["share_of_b"].to_numpy() >= _INSIDE
    # (a difference thinner than a centimetre along the outline is a reprojection's drift: a zone
    # saved through Lambert 72 and back differed by 0.5 mm and was called a risky nested pair)
    tiny_ab = area_ab <= np.maximum(MIN_AREA_M2, _DRIFT_M * shapely.length(ga))
    tiny_ba = area_ba <= np.maximum(MIN_AREA_M2, _DRIFT_M * shapely.length(gb))
    same = inner & (ov["share_of_a"].to_numpy() >= _INSIDE) & tiny_ab & tiny_ba
    nested = inner & ~same & ~tiny_ab & (e_ab < MIN_CELL_SHARE)
    partial = ~inner & (np.maximum(e_ab, e_ba) < MIN_CELL_SHARE)
    rows = []
    for i in np.flatnonzero(same | nested | partial):
        a, b = str(ov["zone_a"].iloc[i]), str(ov["zone_b"].iloc[i])
        if same[i]:
            rel, d_km2, d_eq = "same", 0.0, 0.0
            advice = f"{a!r} and {b!r} cover the same area and will get the same figures: drop one of them"
        elif nested[i]:
            rel, d_km2, d_eq = "nested", area_ab[i] / 1e6, e_ab[i]
            advice = (
                f"{b!r} lies inside {a!r} and differs from it by {d_km2:.3f} km² ({d_eq:.2f} of a cell): "
                f"merge {b!r} into {a!r} (publish only {a!r}), drop {b!r}, or make the difference larger"
            )
        else:
            j = int(np.argmax([e_ab[i], e_ba[i]]))
            rel, d_eq = "partial", max(e_ab[i], e_ba[i])
            d_km2 = (area_ab[i] if j == 0 else area_ba[i]) / 1e6
            advice = f"{a!r} and {b!r} are nearly the same zone (each differs from the other by at most {d_eq:.2f} of a cell): merge them or drop one"
        rows.append((a, b, rel, d_km2, d_eq, k / (share * d_eq) if d_eq > 0 else np.inf, advice))
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame({c: [] for c in cols})


def thin_rests(zones: gpd.GeoDataFrame, coverage: gpd.GeoDataFrame, *, crs, overlaps: pd.DataFrame) -> list[tuple]:
    """Zones holding several others whose rest outside them the cells cannot resolve: a
    municipality drawn beside its neighbourhoods from another map leaves slivers, whose few
    people the audit must protect by hiding the municipality's figure (a probe's Poperinge).

    Returns
    -------
    list of tuple
        ``(outer, inners, rest_km2, rest_cell_share)`` per such zone.
    """
    from .zonegeo import zone_families

    z = zones.to_crs(crs)
    if "area_km2" not in z.columns:
        z = z.assign(area_km2=z.geometry.area / 1e6)
    fams = [f for f in zone_families(z, overlaps) if f[2]]
    if not fams:
        return []
    geo = pd.Series(np.asarray(z.geometry.values, dtype=object), index=z["zone_id"].astype(str).to_numpy())
    rests = np.array([shapely.difference(geo[str(o)], shapely.union_all(geo.reindex([str(b) for b in inner]).to_numpy())) for o, inner, _ in fams],
                     dtype=object)
    areas = shapely.area(rests)
    outer_area = shapely.area(geo.reindex([str(o) for o, _, _ in fams]).to_numpy())
    keep = areas > np.maximum(MIN_AREA_M2, 1e-5 * outer_area)  # (not the residue of reprojected edges that match)
    equiv = np.zeros(len(fams))
    if keep.any():
        dz = gpd.GeoDataFrame({"zone_id": np.flatnonzero(keep).astype(str)}, geometry=rests[keep], crs=crs)
        try:
            w = compute_weights(coverage, dz, crs=crs)
            equiv[keep] = pd.Series(np.asarray(w.matrix.sum(axis=0)).ravel(), index=w.zone_ids.astype(str)).reindex(dz["zone_id"]).fillna(0.0).to_numpy()
        except WeightsError:
            pass
    return [(str(o), [str(b) for b in inner], areas[i] / 1e6, equiv[i]) for i, (o, inner, _) in enumerate(fams)
            if keep[i] and equiv[i] < MIN_CELL_SHARE]


def _whole(people: float) -> str:
    """People as a whole number of at least one (``--k 1`` read "at least 0 people")."""
    return f"{max(1, int(np.ceil(people))):,}" if np.isfinite(people) else "infinitely many"


def _locate(paths) -> dict[str, tuple[str, int]]:
    """zone_id -> (file, feature index), for naming the feature in a warning."""
    out: dict[str, tuple[str, int]] = {}
    for p in zone_paths(paths):
        try:
            feats = json.loads(p.read_text(encoding="utf-8-sig")).get("features") or []
        except (OSError, ValueError, AttributeError):
            continue
        for i, f in enumerate(feats):
            zid = ((f or {}).get("properties") or {}).get("zone_id") if isinstance(f, dict) else None
            if zid is not None:
                out.setdefault(str(zid).strip(), (str(p), i))
    return out


def _holders(overlaps: pd.DataFrame, ids) -> dict:
    """Per zone of ``ids``, the other zones holding half of it or more (``overlaps``:
    :func:`geozones.zone_overlaps`), the smallest first.
    """
    ids = set(map(str, ids))
    out: dict[str, list] = {}
    for inner, outer, share, size in (("zone_a", "zone_b", "share_of_a", "share_of_b"), ("zone_b", "zone_a", "share_of_b", "share_of_a")):
        o = overlaps[overlaps[inner].astype(str).isin(ids) & (overlaps[share] >= 0.5)]
        for z, h, frac in zip(o[inner].astype(str), o[outer].astype(str), o[size], strict=True):
            out.setdefault(z, []).append((frac, h))  # (the holder's share in the overlap: high for the smallest holder)
    return {z: [h for _, h in sorted(v, reverse=True)] for z, v in out.items()}


def authoring_problems(
    zones: gpd.GeoDataFrame,
    coverage: gpd.GeoDataFrame,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    k: int = DEFAULT_K,
    share: float = DEFAULT_SHARE,
    crs: str | pyproj.CRS | None = None,
    overlaps: pd.DataFrame | None = None,
    weights: Weights | None = None,
) -> list[Problem]:
    """Warnings for ``geozones zones check --cells``: unresolvable zones and thin differences.

    Each warning names the file and feature of the zone (for a pair, the inner or first
    zone) and says what to do. Codes: ``"unresolvable-zone"``, ``"thin-difference"``, ``"thin-rest"``,
    ``"same-zone"``, ``"more-zones-than-cells"``.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        The zone set (:func:`geozones.read_zones`), with ``zone_id`` and ``name``.
    coverage : geopandas.GeoDataFrame
        Coverage areas with ``cell_id`` (:func:`geozones.build_coverage`).
    paths : path or iterable of paths
        The zone files, or folders of them, that ``zones`` was read from: each warning
        names the file and feature of its zone (the first file when a zone is not found).
    k : int, default 30
        Disclosure threshold: the fewest subscribers behind a published figure.
    share : float, default 0.4
        The operator's market share, to turn ``k`` subscribers into people.
    crs : str or pyproj.CRS, optional
        Metric CRS for the weights and areas; by default the coverage's (when metric) or
        one chosen for the zones' location.
    overlaps : pandas.DataFrame, optional
        :func:`geozones.zone_overlaps` of ``zones``, when already computed.
    weights : Weights, optional
        The zones' weights (for example the footprint model's, :func:`geozones.inputs.build_footprint_weights`);
        default: area weights over ``coverage``. Thin differences are judged on ``coverage``.

    Returns
    -------
    list of Problem
        Each of severity ``"warning"``: more zones than cells feeding them (one, on
        the first zone file), the unresolvable zones (in the order of
        ``zones``), then the pairs of :func:`thin_differences`; empty when there is nothing
        to say. When no cell reaches any zone, only one warning, ``"no-cell-reaches"``, on
        the first zone file.
    """
    where = _locate(paths)
    first = str(zone_paths(paths)[0])

    def place(zid: str) -> tuple[str, str]:
        path, i = where.get(zid, (first, -1))
        return path, (f"features[{i}] (zone_id {zid!r})" if i >= 0 else f"zone_id {zid!r}")

    problems = []
    try:
        w = weights if weights is not None else compute_weights(coverage, zones, crs=crs)
    except WeightsError as exc:  # no cell reaches any zone: say so, as a warning on the file
        return [Problem(first, "", "no-cell-reaches", f"no cell of the cell plan reaches any zone ({exc.message})", exc.hint if "swapped" in (
            exc.hint or "") else "is it the cell plan of this area? (check the cell plan's coordinates)", "warning")]  # (a probe's swapped zones: said as a run says)
    fit = zone_resolution(w, zones, coverage, k=k, share=share, crs=crs)
    m = sparse.csc_array(w.matrix)
    n_z, n_c = int((np.diff(m.indptr) > 0).sum()), int(len(np.unique(m.indices)))
    if n_z > n_c:  # (their weights are then dependent: figures combine into single cells)
        problems.append(Problem(
            first, "", "more-zones-than-cells",
            f"{n_z:,} zones are fed by only {n_c:,} cells: with more zones than cells, zones' figures "
            "together give away what single cells count, so the disclosure audit will suppress most of them",
            "use fewer, larger zones: with 'geozones zones grid', a larger --size", "warning"))
    if crs is None:
        crs = coverage.crs if coverage.crs is not None and coverage.crs.is_projected else metric_crs(zones.to_crs(WGS84).total_bounds)
    if overlaps is None:  # (once, for the holders, the thin differences and the thin rests)
        overlaps = zone_overlaps(zones, crs)
    holders = _holders(overlaps, fit.loc[fit["flagged"], "zone_id"])
    for r in fit[fit["flagged"]].itertuples(index=False):
        path, at = place(r.zone_id)
        if r.status == "no cell":
            problems.append(Problem(path, at, "unresolvable-zone", "no cell's coverage reaches this zone: its figure would always be 0",
                                    "is the zone where the cell plan is? move it, or give the plan of the cells that cover it", "warning"))
            continue
        msg = (
            f"the cells cannot resolve this zone ({r.status}): "
            f"{f'{r.area_km2:.3f} km²' if r.area_km2 >= 0.001 else f'{r.area_km2 * 1e6:.0f} m²'} fed by {r.n_cells} cell(s) "
            f"of at least {r.cell_km2_min:.3f} km², {r.cell_share:.2f} of a cell's count, fit {r.fit:.2f}; "
            f"published only when its cells each see at least {_whole(r.people_per_cell)} people"
            + (f"; zones like it were within {error_words(r.error_90)} of the truth in 9 figures of 10 in the accuracy study"
               if np.isfinite(r.error_90) else "")
            + (f"; while it is under k, figures of the zones that hold it ({', '.join(map(repr, holders[r.zone_id][:3]))}) bound "
               "it, and disclosure control may hide them to protect it (a probe's 100 m² zone cost its neighbourhood every figure)"
               if holders.get(r.zone_id) else "")
        )
        problems.append(Problem(path, at, "unresolvable-zone", msg, "enlarge the zone or merge it with a neighbour; 'geozones zones preview' shows its cells", "warning"))
    for r in thin_differences(zones, coverage, k=k, share=share, crs=crs, overlaps=overlaps).itertuples(index=False):
        path, at = place(r.zone_b)
        if r.relation == "same":
            problems.append(Problem(path, at, "same-zone", f"covers the same area as {r.zone_a!r}", r.advice, "warning"))
            continue
        what = f"{r.zone_a!r} minus {r.zone_b!r}" if r.relation == "nested" else f"the difference of {r.zone_a!r} and {r.zone_b!r}"
        msg = (
            f"publishing both {r.zone_a!r} and {r.zone_b!r} could reveal fewer than k={k} people: {what} is "
            f"{r.diff_km2:.3f} km², {r.diff_cell_share:.2f} of a cell's count, below k unless the cells around it "
            f"each see {_whole(r.people_per_cell)} people"
        )
        problems.append(Problem(path, at, "thin-difference", msg, r.advice, "warning"))
    for outer, inner, km2, eq in thin_rests(zones, coverage, crs=crs, overlaps=overlaps):
        path, at = place(outer)
        msg = (f"{outer!r} minus the {len(inner)} zones inside it ({', '.join(repr(b) for b in inner[:4])}{', ...' if len(inner) > 4 else ''}) "
               f"is {km2:.3f} km², {eq:.2f} of a cell's count: slivers with too few people, so the audit will hide "
               f"the figures of {outer!r} (or theirs) to protect them")
        problems.append(Problem(path, at, "thin-rest", msg, f"draw {outer!r} as exactly the union of its zones (or leave it out: "
                                f"its figure is theirs summed)", "warning"))
    return problems


#: A zone with more than this share of its area outside its ``municipality`` is warned about.
OUTSIDE_HOME = 0.10


def outside_home(zones: gpd.GeoDataFrame, homes: dict[str, str] | None, *, crs: str | pyproj.CRS | None = None) -> pd.DataFrame:
    """Zones lying partly outside the municipality their ``municipality`` property names.

    A run sets apart as ``resident`` the people of a zone's one home municipality: in the
    part of a zone beyond its border, that municipality's people are counted as residents
    and the neighbour's as visitors (a Gent probe's zone lay 42% in Merelbeke). Judged
    against the bundled outlines (Flanders and Brussels); other codes are not judged.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        ``zone_id`` and geometry.
    homes : dict of str to str, or None
        Zone id -> NIS code (:func:`geozones.origins.home_municipalities`).
    crs : str or pyproj.CRS, optional
        Metric CRS for the areas (default: one for the zones' bounds).

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``municipality``, ``outside_share`` for the zones above
        :data:`OUTSIDE_HOME`, and ``swapped``: the zone lies wholly outside, and mostly
        inside with latitude and longitude swapped (a probe's swapped file passed the check).
    """
    from .maps import bundled_outlines

    out = pd.DataFrame({"zone_id": pd.Series(dtype=str), "municipality": pd.Series(dtype=str), "outside_share": pd.Series(dtype=float),
                        "swapped": pd.Series(dtype=bool)})
    if not homes or not len(zones):
        return out
    ref = bundled_outlines()  # (read once a process, only for zones that name a municipality)
    if ref is None:
        return out
    muni = ref[ref["kind"] == "municipality"]
    muni = muni.assign(code=muni["code"].astype(str)).drop_duplicates("code").set_index("code")
    ids = zones["zone_id"].astype(str)
    code = ids.map(homes)
    on = code.notna().to_numpy() & code.isin(muni.index).to_numpy()
    if not on.any():
        return out
    z = zones[on].to_crs(WGS84)
    target = metric_crs(z.total_bounds, crs)
    zg = z.geometry.to_crs(target).values
    mg = gpd.GeoSeries(muni.loc[code[on].to_numpy()].geometry.values, crs=WGS84).to_crs(target).values
    area = shapely.area(zg)
    share = 1.0 - shapely.area(shapely.intersection(zg, mg)) / np.maximum(area, 1e-9)
    far = share > OUTSIDE_HOME
    flip = shapely.transform(z.geometry.values, lambda xy: xy[:, ::-1])  # (in degrees: enough to tell most from none)
    mw = muni.loc[code[on].to_numpy()].geometry.values
    swapped = (share > 0.999) & (shapely.area(shapely.intersection(flip, mw)) > 0.5 * np.maximum(shapely.area(flip), 1e-18))
    return pd.DataFrame({"zone_id": ids[on].to_numpy()[far], "municipality": code[on].to_numpy()[far], "outside_share": share[far],
                         "swapped": swapped[far]})


def _swapped_into_the_outlines(zones: gpd.GeoDataFrame, judged: set) -> list[str]:
    """Zones (without a municipality: those are judged against it) wholly outside the bundled
    outlines' bounds and wholly inside them with latitude and longitude swapped: valid
    positions both ways, so no range tells (a probe's Leuven zones, swapped, passed).
    """
    from .maps import bundled_outlines

    ref = bundled_outlines()
    if ref is None or not len(zones):
        return []
    x0, y0, x1, y1 = ref.total_bounds
    b = zones.to_crs(WGS84).geometry.bounds.to_numpy()
    inside = lambda a, c, d, e: (a >= x0) & (c >= y0) & (d <= x1) & (e <= y1)  # noqa: E731
    out = (b[:, 2] < x0) | (b[:, 0] > x1) | (b[:, 3] < y0) | (b[:, 1] > y1)
    hit = out & inside(b[:, 1], b[:, 0], b[:, 3], b[:, 2]) & ~zones["zone_id"].astype(str).isin(judged).to_numpy()
    return zones["zone_id"].astype(str).to_numpy()[hit].tolist()


def municipality_problems(zones: gpd.GeoDataFrame, paths, *, crs: str | pyproj.CRS | None = None) -> list[Problem]:
    """``zones check``'s warnings for zones lying partly outside their ``municipality``
    (:func:`outside_home`), each on its file and feature.
    """
    from .origins import home_municipalities, unknown_municipalities

    homes = home_municipalities(zones)
    far = outside_home(zones, homes, crs=crs)
    unknown = unknown_municipalities(homes)
    flipped = _swapped_into_the_outlines(zones, set(homes or ()))
    if not len(far) and not unknown and not flipped:
        return []
    where, first = _locate(paths), str(zone_paths(paths)[0])
    problems = []
    for z in flipped:
        path, i = where.get(z, (first, -1))
        problems.append(Problem(
            path, f"features[{i}] (zone_id {z!r})" if i >= 0 else f"zone_id {z!r}", "swapped-lat-lon",
            "the zone lies outside Flanders and Brussels, and inside them with latitude and longitude swapped",
            "GeoJSON positions are [longitude, latitude]: swap the two numbers of every position of the zone"))
    for z, code in unknown.items():
        path, i = where.get(z, (first, -1))
        problems.append(Problem(
            path, f"features[{i}] (zone_id {z!r})" if i >= 0 else f"zone_id {z!r}", "unknown-municipality",
            f"municipality {code} is not a Belgian municipality's code: a run sets no resident of this zone apart",
            "give the municipality's 5-digit NIS code (34022 for Kortrijk), or no municipality", "warning"))
    for r in far.itertuples(index=False):
        path, i = where.get(r.zone_id, (first, -1))
        if r.swapped:
            problems.append(Problem(
                path, f"features[{i}] (zone_id {r.zone_id!r})" if i >= 0 else f"zone_id {r.zone_id!r}", "swapped-lat-lon",
                f"the zone lies wholly outside its municipality {r.municipality}, and inside it with latitude and longitude swapped",
                "GeoJSON positions are [longitude, latitude]: swap the two numbers of every position of the zone"))
            continue
        problems.append(Problem(
            path, f"features[{i}] (zone_id {r.zone_id!r})" if i >= 0 else f"zone_id {r.zone_id!r}", "outside-municipality",
            f"{r.outside_share:.0%} of the zone lies outside its municipality {r.municipality}: a run counts that "
            "municipality's people there as residents and the neighbour's as visitors",
            "split the zone at the municipality border, or give it no municipality", "warning"))
    return problems
