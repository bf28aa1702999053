"""The heat layer, drawn from the published zone figures alone.

A grid of squares apportioned from the cells like any zone set is a second set of
equations over the cells' counts: against the zones, an attacker who knows the cell plan
recovers cells and strips under k (issue 17). The heat layer therefore adds no figure of
its own: each square takes the density of the smallest zone under its centre whose figure
is published for that period (people in the zone spread evenly over it), times the
square's area. Anything computed from published figures alone reveals nothing they do not,
and the grid's squares (250 m) are finer than the cells can resolve anyway.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from .origins import ALL
from .privacy import PUBLISHED, SUPPRESSED

__all__ = ["heat_from_zones"]


def heat_from_zones(grid: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, published: pd.DataFrame, *, crs: str = "EPSG:3812") -> pd.DataFrame:
    """Figures of a heat grid drawn from published zone figures only.

    Parameters
    ----------
    grid : geopandas.GeoDataFrame
        The squares (or H3 cells), with ``zone_id``.
    zones : geopandas.GeoDataFrame
        The zones, with ``zone_id``.
    published : pandas.DataFrame
        The published zone table (:func:`geozones.publish`): ``zone_id``,
        ``period_start``, ``period``, ``origin``, ``observed``, ``estimate``, ``status``.
        Only rows of origin ``all`` are used.
    crs : str, default "EPSG:3812"
        A metric CRS for the areas.

    Returns
    -------
    pandas.DataFrame
        One row per period of the published table and square under a zone, by period then
        square in grid order: ``zone_id`` (the square), ``period_start``, ``period``,
        ``origin`` (``all``), ``observed``, ``estimate`` (the zone's figure times the
        square's share of the zone's area; empty where no zone under the square is
        published) and ``status``. The text columns are categorical (an hourly quarter of
        a city has millions of rows, and a few distinct texts).
    """
    g = grid.to_crs(crs)
    z = zones[["zone_id", "geometry"]].to_crs(crs).reset_index(drop=True)
    z_area = z.geometry.area.to_numpy()
    centre = gpd.GeoDataFrame({"square": np.arange(len(g))}, geometry=g.geometry.representative_point().to_numpy(), crs=crs)
    hit = gpd.sjoin(centre, z.assign(zone=np.arange(len(z)))[["zone", "geometry"]], predicate="within", how="inner")
    sq, zc = hit["square"].to_numpy(), hit["zone"].to_numpy()
    by_id = np.argsort(np.argsort(z["zone_id"].astype(str).to_numpy(), kind="stable"), kind="stable")
    # per square, the smallest zone first; zones of one area by id, not by the files' order (a probe's two
    # files of one same polygon, given the other way round, moved 40 squares' figures by 1.6%)
    order = np.lexsort((by_id[zc], z_area[zc], sq))
    sq, zc = sq[order], zc[order]
    rank = np.arange(len(sq)) - np.searchsorted(sq, sq)
    t = published[published["origin"] == ALL]
    ids = pd.Index(z["zone_id"].astype(str))
    t = t.assign(_z=ids.get_indexer(t["zone_id"].astype(str)))
    t = t[t["_z"] >= 0]
    slices = t[["period_start", "period"]].drop_duplicates().reset_index(drop=True)
    s_code = pd.MultiIndex.from_frame(slices).get_indexer(pd.MultiIndex.from_frame(t[["period_start", "period"]]))
    n_s, n_z = len(slices), len(z)
    obs = np.full((n_s, n_z), np.nan)
    est = np.full((n_s, n_z), np.nan)
    ok = (t["status"] == PUBLISHED).to_numpy()
    obs[s_code[ok], t["_z"].to_numpy()[ok]] = t["observed"].to_numpy(dtype=float)[ok]
    est[s_code[ok], t["_z"].to_numpy()[ok]] = t["estimate"].to_numpy(dtype=float)[ok]
    share = g.geometry.area.to_numpy()[sq] / z_area[zc]
    covered = np.unique(sq)  # the squares under a zone, in grid order: the frame's columns
    col = np.searchsorted(covered, sq)
    out_obs = np.full((n_s, len(covered)), np.nan)
    out_est = np.full((n_s, len(covered)), np.nan)
    for r in range(int(rank.max()) + 1 if len(rank) else 0):  # (a few ranks: zones nested under a square)
        at = rank == r
        s_col, s_z, s_share = col[at], zc[at], share[at]
        free = np.isnan(out_obs[:, s_col])
        out_obs[:, s_col] = np.where(free, obs[:, s_z] * s_share, out_obs[:, s_col])
        out_est[:, s_col] = np.where(free, est[:, s_z] * s_share, out_est[:, s_col])
    # a row per period and square: codes into the few distinct values, not a text per row
    # (an hourly quarter of a city has millions of rows)
    ids = pd.Categorical.from_codes(np.tile(np.arange(len(covered), dtype=np.int32), n_s),
                                    categories=pd.Index(g["zone_id"].astype(str).to_numpy()[covered]))
    periods = pd.Categorical(slices["period"].astype(str))
    return pd.DataFrame({
        "zone_id": ids,
        "period_start": np.repeat(slices["period_start"].to_numpy(), len(covered)),
        "period": pd.Categorical.from_codes(np.repeat(periods.codes, len(covered)), categories=periods.categories),
        "origin": pd.Categorical.from_codes(np.zeros(out_obs.size, np.int8), categories=[ALL]),
        "observed": out_obs.reshape(-1),
        "estimate": out_est.reshape(-1),
        "status": pd.Categorical.from_codes(np.isnan(out_obs.reshape(-1)).astype(np.int8), categories=[PUBLISHED, SUPPRESSED]),
    })
