"""Accuracy: a simulation with ground truth, and the apportioning methods measured on it.

Synthetic people are placed on real geography, each phone attaches to a cell by a stated
model, and the per-cell counts that a network would report are apportioned to zones by
each method; the true count of every zone is known (the people inside its polygon), so
the error of every zone figure is measured.

The world (cases, people, how phones attach to cells, the truth) is
:mod:`geozones.simworld`; :func:`load_case`, :func:`simulate_people` and
:func:`attach_cells` are re-exported here.

**Methods** (:data:`METHODS`): ``tower`` (a cell counts wholly for every zone that holds
its site: point in polygon, as FlowKit does), ``voronoi`` and ``wedge`` (area weights over
that coverage model) and ``voronoi-dasymetric`` / ``wedge-dasymetric`` (weights by the
population grid inside the coverage, :func:`geozones.compute_weights` with ``ancillary``).

``benchmarks/accuracy.py`` runs the cases and writes the tables in ``docs/accuracy.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .errors import InputError
from .origins import ALL
from .simworld import STEPS, Case, attach_cells, load_case, period_starts, simulate_people, true_counts
from .weights import OUTSIDE, Weights, compute_weights, zone_fit

__all__ = [
    "METHODS",
    "SIZE_CLASSES",
    "Simulation",
    "simulate",
    "tower_weights",
    "method_weights",
    "estimate_counts",
    "zone_errors",
    "accuracy_table",
    "evaluate",
    # the world's, re-exported (docs/accuracy.md names them here)
    "load_case",
    "simulate_people",
    "attach_cells",
]

#: Apportioning methods compared.
METHODS = ("tower", "voronoi", "wedge", "voronoi-dasymetric", "wedge-dasymetric", "footprint")
#: Zone size classes (km²): lower bound, upper bound, label.
SIZE_CLASSES = ((0.0, 0.25, "< 0.25 km²"), (0.25, 1.0, "0.25-1 km²"), (1.0, 5.0, "1-5 km²"), (5.0, np.inf, "> 5 km²"))
#: Figures whose truth is below this are not scored: they would be suppressed at k = 30.
MIN_TRUE = 30


@dataclass
class Simulation:
    """A simulated day: what the network reports and what is true.

    Attributes
    ----------
    counts : pandas.DataFrame
        ``cell_id``, ``period_start`` (UTC), ``period`` (``"1h"``), ``count``: the format
        :func:`geozones.read_counts` reads (``origin`` left out: one total).
    truth : pandas.DataFrame
        ``zone_id``, ``period_start``, ``count``: people inside each zone at each step.
    people : pandas.DataFrame
        ``step``, ``x``, ``y`` (metric CRS), ``kind`` (resident, visitor, event), ``cell``
        (row of the cell plan the phone attached to).
    """

    counts: pd.DataFrame
    truth: pd.DataFrame
    people: pd.DataFrame


def simulate(case: Case, *, seed: int = 0, attach: str = "signal", steps=STEPS, residents: int | None = None) -> Simulation:
    """Simulate a day on a case: people, their cells, per-cell counts and true zone counts.

    Parameters
    ----------
    case : Case
        From :func:`load_case`, or built by hand.
    seed : int
        The same seed gives the same people, cells and counts.
    attach : {"signal", "sector"}
        How a phone picks its cell (:func:`attach_cells`).
    steps : sequence
        Time steps as in :data:`STEPS`.
    residents : int, optional
        How many residents; default: the population grid's sum over the study area.

    Returns
    -------
    Simulation
    """
    people = simulate_people(case, seed=seed, steps=steps, residents=residents)
    people["cell"] = attach_cells(people["x"].to_numpy(), people["y"].to_numpy(), case.cells, case.crs, model=attach, seed=seed + 1)
    starts = period_starts(steps)
    n_cells = len(case.cells)
    c = np.bincount(people["step"].to_numpy() * n_cells + people["cell"].to_numpy(), minlength=len(steps) * n_cells)
    s, ci = np.divmod(np.arange(len(c)), n_cells)
    nz = c > 0
    counts = pd.DataFrame(
        {
            "cell_id": case.cells["cell_id"].astype(str).to_numpy()[ci[nz]],
            "period_start": starts[s[nz]],
            "period": "1h",
            "count": c[nz].astype(np.int64),
        }
    )
    t = true_counts(people, case.zones, len(steps))
    truth = pd.DataFrame(
        {
            "zone_id": np.tile(case.zones["zone_id"].astype(str).to_numpy(), len(steps)),
            "period_start": np.repeat(starts, len(case.zones)),
            "count": t.ravel(),
        }
    )
    return Simulation(counts, truth, people)


# ---------------------------------------------------------------------------- methods
def tower_weights(cells: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> Weights:
    """Point in polygon: a cell counts wholly for every zone that holds its site (as FlowKit does).

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        A cell plan.
    zones : geopandas.GeoDataFrame
        Zones with ``zone_id``, in a metric CRS.

    Returns
    -------
    Weights
        Weight 1 for every (cell, zone holding its site); outside 1 for a cell in no zone.
    """
    m = cells.to_crs(zones.crs)
    zg = np.asarray(zones.geometry.values, dtype=object)
    ci, zi = shapely.STRtree(zg).query(np.asarray(m.geometry.values, dtype=object), predicate="intersects")
    matrix = sparse.csr_array((np.ones(len(ci)), (ci, zi)), shape=(len(m), len(zg)))
    outside = np.where(np.diff(matrix.indptr) > 0, 0.0, 1.0)
    return Weights(matrix, m["cell_id"].astype(str).to_numpy(dtype=object), zones["zone_id"].astype(str).to_numpy(dtype=object), outside, {"model": "tower"})


def method_weights(case: Case, method: str):
    """The weights of one of :data:`METHODS` for a case's cells and zones (``footprint``:
    the :class:`~geozones.footprint.Footprints`, which a simulation's counts turn into weights).
    """
    from .coverage import build_coverage

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", hint=f"choose one of {', '.join(METHODS)}")
    if method == "tower":
        return tower_weights(case.cells, case.zones)
    if method == "footprint":  # weights follow from each simulation's counts (estimate_counts)
        from .footprint import footprints

        return footprints(case.cells, case.zones[["zone_id", "geometry"]], crs=case.crs)
    model = method.split("-")[0]
    cov = build_coverage(case.cells, model, crs=case.crs)
    anc = case.ancillary if method.endswith("dasymetric") else None
    w = compute_weights(cov, case.zones[["zone_id", "geometry"]], crs=case.crs, ancillary=anc)
    w.meta["model"] = method
    return w


def estimate_counts(sim: Simulation, weights) -> pd.DataFrame:
    """The zone figures a method gives: ``zone_id``, ``period_start``, ``estimate``.

    The counts go through :func:`geozones.apportion`, as in a real run. ``weights`` may be
    :class:`~geozones.footprint.Footprints`: the density comes from the simulation's counts
    summed over its periods, as in a run.
    """
    from .aggregate import apportion
    from .footprint import Footprints, footprint_weights

    if isinstance(weights, Footprints):  # the density from the counts summed over the day, as a run does
        totals = sim.counts.groupby("cell_id")["count"].sum().reindex(pd.Index(weights.cell_ids)).fillna(0.0)
        weights = footprint_weights(weights, totals.to_numpy(dtype=float))
    counts = sim.counts.assign(origin=ALL)
    table, _ = apportion(counts, weights)
    table = table[table["zone_id"] != OUTSIDE]
    return table[["zone_id", "period_start", "observed"]].rename(columns={"observed": "estimate"}).reset_index(drop=True)


def _size_class(area_km2: np.ndarray) -> np.ndarray:
    labels = np.array([c[2] for c in SIZE_CLASSES], dtype=object)
    edges = np.array([c[1] for c in SIZE_CLASSES[:-1]])
    return labels[np.searchsorted(edges, area_km2, side="right")]


def zone_errors(estimates: pd.DataFrame, truth: pd.DataFrame, areas: pd.Series, *, min_true: int = MIN_TRUE) -> pd.DataFrame:
    """Relative error of each zone figure against the truth.

    ``rel_error = (estimate - true) / true``, for every zone and period whose true count is
    at least ``min_true`` (smaller figures would be suppressed).

    Parameters
    ----------
    estimates : pandas.DataFrame
        ``zone_id``, ``period_start``, ``estimate`` (from :func:`estimate_counts`).
    truth : pandas.DataFrame
        ``zone_id``, ``period_start``, ``count`` (from :func:`simulate`).
    areas : pandas.Series
        Zone areas in km² by ``zone_id``.

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``period_start``, ``true``, ``estimate``, ``rel_error``, ``area_km2``, ``size_class``.
    """
    t = truth.rename(columns={"count": "true"})
    df = t.merge(estimates, on=["zone_id", "period_start"], how="left", validate="one_to_one")
    df["estimate"] = df["estimate"].fillna(0.0)
    df = df[df["true"] >= min_true].copy()
    df["rel_error"] = (df["estimate"] - df["true"]) / df["true"]
    a = pd.Series(areas)
    a.index = a.index.astype(str)
    df["area_km2"] = df["zone_id"].map(a).to_numpy(dtype=float)
    df["size_class"] = _size_class(df["area_km2"].to_numpy())
    return df.reset_index(drop=True)


def accuracy_table(errors: pd.DataFrame, by: str | list[str] = "size_class") -> pd.DataFrame:
    """Median and 90th-percentile absolute relative error and bias, per group.

    Parameters
    ----------
    errors : pandas.DataFrame
        From :func:`zone_errors`, with any extra grouping columns (``method``...).
    by : str or list of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        ``n_zones`` (distinct zones), ``n`` (zone figures), ``median_abs``, ``p90_abs``,
        ``bias`` (mean signed relative error) per group.
    """
    by = [by] if isinstance(by, str) else list(by)
    e = errors.assign(abs_error=errors["rel_error"].abs())
    g = e.groupby(by, observed=True, sort=True)
    return pd.DataFrame(
        {
            "n_zones": g["zone_id"].nunique(),
            "n": g.size(),
            "median_abs": g["abs_error"].median(),
            "p90_abs": g["abs_error"].quantile(0.9),
            "bias": g["rel_error"].mean(),
        }
    )


def evaluate(case: Case, sim: Simulation, methods=METHODS, weights: dict | None = None) -> pd.DataFrame:
    """Errors of every method on one simulation, with each zone's fit under that method.

    Parameters
    ----------
    case : Case
    sim : Simulation
        From :func:`simulate` on ``case``.
    methods : sequence of str
        Some of :data:`METHODS`.
    weights : dict, optional
        Weights already built, by method (they do not depend on the seed).

    Returns
    -------
    pandas.DataFrame
        :func:`zone_errors` with ``method``, ``zone_set``, ``fit`` and ``n_cells`` added.
    """
    from .footprint import Footprints, footprint_weights

    areas = case.zones.set_index("zone_id")["area_km2"]
    sets = case.zones.set_index("zone_id")["zone_set"]
    frames = []
    for method in methods:
        w = (weights or {}).get(method) or method_weights(case, method)
        err = zone_errors(estimate_counts(sim, w), sim.truth, areas)
        fit = zone_fit(footprint_weights(w) if isinstance(w, Footprints) else w)
        err["method"] = method
        err["zone_set"] = err["zone_id"].map(sets).to_numpy()
        err["fit"] = err["zone_id"].map(fit["fit"]).to_numpy()
        err["n_cells"] = err["zone_id"].map(fit["n_cells"]).to_numpy()
        frames.append(err)
    return pd.concat(frames, ignore_index=True)
