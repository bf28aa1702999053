"""Crowd scenarios for the accuracy study: where visitors crowd, not where they spread.

Area weights are right where people are spread as the weights assume; the figure a city
buys must also hold where visitors crowd the shopping streets or fill one square. These
scenarios put a crowd on real geography (:func:`geozones.simulate.load_case`), attach every
phone to a cell with a signal model that differs from the estimator's (path-loss exponent,
shadowing), and keep the truth:

``shopping``
    :data:`VISITORS` visitors, :data:`SHOPPING_SHARE` of them spread uniformly over the
    city's shopping areas, the rest over the centre (the issue 18 set-up).
``event``
    The same, plus :data:`EVENT_PEOPLE` people on one square (scattered 60 m).

Residents come from the population grid times log-normal noise (a raster is not the
truth), half of them at work. Used by ``benchmarks/accuracy.py --crowds``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .simulate import Simulation
from .simworld import (
    Case,
    attach_cells,
    cluster_points,
    load_case,
    package_data,
    period_starts,
    raster_points,
    true_counts,
    uniform_in,
)

__all__ = ["SCENARIOS", "VISITORS", "SHOPPING_SHARE", "EVENT_PEOPLE", "MISMATCH", "crowd_case", "simulate_crowd"]

SCENARIOS = ("shopping", "event")
VISITORS = 25_000
SHOPPING_SHARE = 0.7
EVENT_PEOPLE = 8_000
#: Signal models unlike the estimator's (exponent 3.5, 6 dB softness): path-loss exponent,
#: spatially correlated shadowing (dB, 50 m) and independent shadowing per phone and site (dB).
MISMATCH = {"matched": (3.5, 8.0, 3.0), "flat": (3.0, 6.0, 3.0), "steep": (4.0, 10.0, 3.0), "iid": (3.5, 0.0, 6.0)}
_STEP = (("peak", "15:00", 0.5, 1.0, False),)


def crowd_case(name: str = "kortrijk", *, sites: int | None = 260, seed: int = 0, shared=None, free_azimuths: bool = False,
               small_cells: float = 0.1, register: bool = False) -> Case:
    """A case for crowd scenarios: only the named zones (no squares).

    Parameters
    ----------
    name : str
        One of :data:`geozones.simworld.CASES`.
    sites : int, optional
        For ``kortrijk``: a synthetic network of this many irregular sites (three 65°
        sectors each, random orientations, 10% small cells) following the population,
        without ``range_m`` (the plan's default applies). ``None``: the case's own plan.
        Leuven and Antwerpen keep their real plans.
    seed : int
        Seeds the synthetic network.
    free_azimuths : bool, default False
        For the synthetic network: each sector points its own random way (real sites are
        often not three sectors 120° apart), instead of a random orientation per site.
    small_cells : float, default 0.1
        For the synthetic network: the share of sites that are omnidirectional small cells
        in the densest pixels (0: macro sites only, sparser in the centre).
    register : bool, default False
        Leuven's and Antwerpen's real plans keep the register's heights, tilts and powers
        (:func:`geozones.simworld.load_case`).

    Returns
    -------
    Case
    """
    case = load_case(name, shared=shared, grids=(), register=register)
    if name != "kortrijk" or sites is None:
        return case
    from .cellplan import cells_from_frame
    from .synth import synthetic_cellplan

    muni = gpd.read_file(str(package_data("kortrijk", "municipality.geojson")))
    plan = synthetic_cellplan(str(package_data("kortrijk", "population_100m.tif")), muni, sites, seed=seed, prefix="crowd",
                              small_cell_share=small_cells)
    plan = plan.drop(columns=["range_m"])
    if free_azimuths:
        rng = np.random.default_rng(seed + 1000)
        directional = plan["azimuth"].notna().to_numpy()
        plan.loc[directional, "azimuth"] = np.round(rng.uniform(0, 360, int(directional.sum())), 1)
    cells = cells_from_frame(plan, Path(f"synthetic Kortrijk plan, {sites} sites"), "csv", None)
    return replace(case, cells=cells)


def _shopping(case: Case) -> shapely.Geometry:
    shops = case.zones.loc[case.zones["zone_set"] == "shopping-area", "geometry"].values
    if not len(shops):
        raise InputError(f"case {case.name!r} has no shopping areas")
    return shapely.intersection(shapely.union_all(shops), case.area)


def _centre_zone(case: Case) -> shapely.Geometry:
    """The centre neighbourhood (the one holding most of the centre), else the centre."""
    nb = case.zones[case.zones["zone_set"] == "neighbourhood"]
    if not len(nb):
        return case.centre
    share = shapely.area(shapely.intersection(np.asarray(nb.geometry.values), case.centre))
    return nb.geometry.values[int(np.argmax(share))]


def simulate_crowd(case: Case, scenario: str = "shopping", *, seed: int = 0, mismatch: str = "flat",
                   visitors: int = VISITORS, event_people: int = EVENT_PEOPLE, share: float = 1.0) -> Simulation:
    """One hour with a crowd: per-cell counts and the true zone counts.

    Parameters
    ----------
    case : Case
        From :func:`crowd_case`.
    scenario : {"shopping", "event"}
    seed : int
        The same seed gives the same people, cells and counts.
    mismatch : str
        A key of :data:`MISMATCH`: the simulation's path-loss exponent and shadowing.
    visitors, event_people : int
    share : float, default 1
        The operator's market share: each person is its subscriber with this probability,
        and the counts are its subscribers (the truth counts everybody).

    Returns
    -------
    Simulation
    """
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {scenario!r}", hint=f"choose one of {', '.join(SCENARIOS)}")
    if mismatch not in MISMATCH:
        raise InputError(f"unknown signal model {mismatch!r}", hint=f"choose one of {', '.join(MISMATCH)}")
    rng = np.random.default_rng(seed)
    pixels = raster_points(case.population, case.area, case.crs)
    x0, y0, x1, y1, pop = pixels
    noisy = pop * rng.lognormal(0.0, 0.8, len(pop))  # the grid is not the truth
    inside = shapely.contains_xy(case.area, (x0 + x1) / 2, (y0 + y1) / 2)
    n_res = int(round(pop[inside].sum()))
    home = cluster_points(n_res, (x0, y0, x1, y1, noisy), case.area, rng)
    work = cluster_points(n_res, (x0, y0, x1, y1, noisy ** 1.5), case.area, rng)
    res = np.where((rng.random(n_res) < 0.5)[:, None], work, home)
    n_shop = int(round(SHOPPING_SHARE * visitors))
    parts = [res, uniform_in(_shopping(case), n_shop, rng), uniform_in(shapely.intersection(_centre_zone(case), case.area), visitors - n_shop, rng)]
    if scenario == "event":
        square = next(iter(case.events.values()), shapely.centroid(case.centre))
        pts = rng.normal(0.0, 60.0, (event_people * 2, 2)) + [square.x, square.y]
        pts = pts[shapely.contains_xy(case.area, pts[:, 0], pts[:, 1])][:event_people]
        parts.append(pts)
    xy = np.concatenate(parts)
    people = pd.DataFrame({"step": 0, "x": xy[:, 0], "y": xy[:, 1]})
    exponent, shadow, iid = MISMATCH[mismatch]
    people["cell"] = attach_cells(xy[:, 0], xy[:, 1], case.cells, case.crs, seed=seed + 1, exponent=exponent, shadowing_db=shadow, iid_db=iid)
    start = period_starts(_STEP)
    subscriber = rng.random(len(people)) < share
    c = np.bincount(people["cell"].to_numpy()[subscriber], minlength=len(case.cells))
    nz = np.flatnonzero(c)
    counts = pd.DataFrame({"cell_id": case.cells["cell_id"].astype(str).to_numpy()[nz], "period_start": start[0], "period": "1h",
                           "count": c[nz].astype(np.int64)})
    t = true_counts(people, case.zones, 1)[0]
    truth = pd.DataFrame({"zone_id": case.zones["zone_id"].astype(str).to_numpy(), "period_start": start[0], "count": t})
    return Simulation(counts, truth, people)
