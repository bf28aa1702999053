"""Probabilistic footprints and the density estimator behind ``--model footprint``.

Area weights share a cell's count evenly over its coverage area: where a crowd stands in
the middle of a cell, most of it lands in the neighbours' zones. The footprint model
places people on a grid of square tiles instead:

1. **Footprints.** For every tile ``t`` (100 m by default) and every cell ``c`` that can
   reach it, the probability ``P[c, t]`` that a phone in ``t`` is counted by ``c``: a
   received-signal score from the cell plan, softened into a best-server probability::

       S[c, t] = power_c - 10 * PATH_LOSS_EXPONENT * log10(d)
                 - min(12 (dθ / beamwidth)² + 12 ((φ - tilt) / 10°)², 25)
       P[c, t] = exp(S[c, t] / softness) / sum_c' exp(S[c', t] / softness)

   with ``d`` the distance (at least 10 m), ``dθ`` the angle between the azimuth and the
   bearing to the tile, ``φ`` the elevation angle seen from the antenna's height (the 3GPP
   antenna pattern; the vertical term only for cells whose plan gives ``height_m``). The softness stands for shadowing and everything the plan does not
   say: the phone is not always on the strongest cell. Every tile's probabilities add up
   to 1 over the cells that reach it.
2. **Density.** From all cells' counts ``n``, the density ``λ`` over the tiles that
   explains them: the EM (Richardson-Lucy) iteration of the ESSnet / MultiMNO
   present-population method, started from a prior (by default the density of the plan's
   sites: operators put sites where people are, or uniform; times an ancillary layer's
   factor when one is given)::

       λ <- λ * Pᵀ (n / (P λ))

   Each step keeps the total (``sum λ = sum n``); stopping after :data:`ITERATIONS`
   steps keeps the prior's smoothness where the counts say little.
3. **Weights.** Each cell's count is shared over tiles in proportion to ``P[c, t] λ[t]``
   (the posterior of where its people are) and each tile over zones by the share of its
   area inside them. The result is an ordinary :class:`~geozones.weights.Weights`
   matrix, so counts still add up, every engine and the privacy audit work unchanged,
   and the run's figures are linear in the counts once the density is set.

The parameters the plan cannot give were chosen by the accuracy study (docs/accuracy.md)
on simulations whose signal model differs from this one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from itertools import chain

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse

from ._io import shown_value
from .crs import metric_crs
from .errors import CellPlanError, WeightsError
from .overlay import pair_pieces
from .weights import Weights

__all__ = [
    "TILE_M",
    "PATH_LOSS_EXPONENT",
    "SOFTNESS_DB",
    "REACH_FACTOR",
    "ITERATIONS",
    "DEFAULT_TILT",
    "PRIORS",
    "PRIOR_SPREAD",
    "PRIOR_FLOOR",
    "Footprints",
    "footprints",
    "estimate_density",
    "footprint_weights",
    "refined_weights",
]

log = logging.getLogger("geozones")

#: Tile side in metres.
TILE_M = 100.0
#: The tile sides a run may ask for (metres): finer than the plan can say, or too coarse to place anyone in a zone, refused.
TILE_RANGE_M = (10.0, 1000.0)
#: Log-distance path-loss exponent (urban macro cells).
PATH_LOSS_EXPONENT = 3.5
#: Softness of the best-server choice in dB (the scale of a Gumbel perturbation of every
#: cell's score). 4 dB was the most accurate across the accuracy study's signal models
#: (shadowing of 6 to 10 dB, path-loss exponents 3 to 4; docs/accuracy.md).
SOFTNESS_DB = 4.0
#: A cell reaches tiles up to this many times its ``range_m`` (plan or default).
REACH_FACTOR = 2.0
#: EM steps (100 and 300 were within a point of each other in the study; 30 blurred crowds).
ITERATIONS = 100
#: Downtilt (degrees) of a cell whose plan row gives ``height_m`` but no ``tilt``. Without a
#: height the vertical pattern is left out (it made figures worse in the study when guessed).
DEFAULT_TILT = 4.0
#: The default prior is the density of the plan's sites: operators put sites where people
#: are. Each site is a Gaussian of equal mass whose width is this many times the distance
#: to its third nearest other site (dense sites, narrow; sparse ones, wide), at least
#: :data:`PRIOR_MIN_M` (docs/accuracy.md, "The prior").
PRIOR_SPREAD = 1.0
#: The narrowest site kernel, in metres.
PRIOR_MIN_M = 100.0
#: The share of the default prior spread evenly, so that people can be placed anywhere.
PRIOR_FLOOR = 0.05
#: The priors a run may start from (``--prior``); an ancillary layer multiplies either.
PRIORS = ("plan", "uniform")
#: An ancillary layer (``--ancillary``: a population raster, shops, buildings) multiplies the
#: prior by ``1 + ANCILLARY_WEIGHT x`` its density over its 99th percentile (capped at 1): at
#: most 4 times where the layer is densest, unchanged where it holds nothing. As a factor on
#: the plan's site density it beat the layer alone in both studies (docs/accuracy.md, stop 40).
ANCILLARY_WEIGHT = 3.0
#: Sites summed per tile (the nearest), and tiles a time (memory).
_PRIOR_SITES, _PRIOR_CHUNK = 32, 1 << 17
#: Probabilities below this are dropped (and the tile's others scaled back to 1).
_MIN_P = 1e-4
_MAX_LOSS_DB = 25.0
_VERTICAL_BEAM = 10.0
#: Tile x cell pairs handled at once.
_CHUNK = 2_000_000


@dataclass(frozen=True)
class Footprints:
    """Cells' footprints over a grid of tiles, and the tiles' shares of the zones.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        ``P``, shape (cells, tiles): the probability that a phone in the tile is counted
        by the cell; every column adds up to 1.
    cell_ids : numpy.ndarray of str
    x, y : numpy.ndarray
        Tile centres in ``crs``.
    zone_shares : scipy.sparse.csr_array
        Shape (tiles, zones): the share of each tile's area inside each zone.
    in_zones : numpy.ndarray
        Per tile, the share of its area inside any zone (zones may overlap).
    zone_ids : numpy.ndarray of str
    prior : numpy.ndarray
        The density the estimator starts from, per tile (any scale).
    meta : dict
        The parameters and the CRS.
    """

    matrix: sparse.csr_array
    cell_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    zone_shares: sparse.csr_array
    in_zones: np.ndarray
    zone_ids: np.ndarray
    prior: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return len(self.x)


def _column(cells: pd.DataFrame, names: tuple[str, ...], default: float, lo: float, hi: float) -> np.ndarray:
    """A numeric optional column of the cell plan, checked, with ``default`` where empty."""
    lower = {str(c).lower(): c for c in cells.columns}
    name = next((lower[n] for n in names if n in lower), None)
    if name is None:
        return np.full(len(cells), default)
    vals = pd.to_numeric(cells[name], errors="coerce").to_numpy(dtype=float)
    raw = cells[name].astype(str).str.strip()
    empty = cells[name].isna().to_numpy() | raw.isin(["", "nan", "None", "NaN", "<NA>"]).fillna(True).to_numpy(dtype=bool)
    bad = np.isnan(vals) & ~empty
    bad |= ~np.isnan(vals) & ((vals < lo) | (vals > hi))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CellPlanError(
            f"{name} {shown_value(cells[name].iloc[i])} is not a number between {lo:g} and {hi:g}",
            path=cells.attrs.get("source"),
            where=f"cell_id {cells['cell_id'].iloc[i]!r}",
            hint=f"give {name} in its unit, or leave it empty" + ("" if np.isnan(default) else f" for the default {default:g}"),
        )
    return np.where(np.isnan(vals), default, vals)


def _tiles(x: np.ndarray, y: np.ndarray, reach: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the grid's tiles within some site's reach (a grid aligned on multiples of ``size``)."""
    from scipy.spatial import cKDTree

    x0 = np.floor((x - reach).min() / size) * size
    y0 = np.floor((y - reach).min() / size) * size
    nx = int(np.ceil(((x + reach).max() - x0) / size))
    ny = int(np.ceil(((y + reach).max() - y0) / size))
    if nx * ny > 200_000_000:
        raise WeightsError(f"the footprint grid would have {nx * ny:,} tiles", hint="give a coarser tile or a smaller cell plan")
    tree = cKDTree(np.c_[x, y])
    keep_x, keep_y = [], []
    rmax = float(reach.max())
    for r0 in range(0, ny, max(1, 2_000_000 // max(nx, 1))):  # a band of rows at a time
        rows = np.arange(r0, min(ny, r0 + max(1, 2_000_000 // max(nx, 1))))
        gx, gy = np.meshgrid(x0 + (np.arange(nx) + 0.5) * size, y0 + (rows + 0.5) * size)
        gx, gy = gx.ravel(), gy.ravel()
        k = min(8, len(x))
        d, i = tree.query(np.c_[gx, gy], k=k, distance_upper_bound=rmax)
        d, i = d.reshape(len(gx), k), i.reshape(len(gx), k)
        found = np.isfinite(d)
        ok = (found & (d <= np.where(found, reach[np.where(found, i, 0)], -1.0))).any(axis=1)
        keep_x.append(gx[ok])
        keep_y.append(gy[ok])
    return np.concatenate(keep_x), np.concatenate(keep_y)


def _probabilities(cx, cy, az, bw, height, tilt, power, reach, tx, ty, size: float, *, exponent: float, softness: float) -> sparse.csr_array:
    """``P`` (cells x tiles) from the cells' parameters and the tiles' centres."""
    from scipy.spatial import cKDTree

    sites, site_of = np.unique(np.round(np.c_[cx, cy], 1), axis=0, return_inverse=True)
    site_of = site_of.ravel()
    site_reach = np.zeros(len(sites))
    np.maximum.at(site_reach, site_of, reach)
    order = np.argsort(site_of, kind="stable")
    start = np.searchsorted(site_of[order], np.arange(len(sites) + 1))
    per_site = np.diff(start)
    rows, cols, vals = [], [], []
    # tiles in bands (rows of the grid), so that one band's tile x cell pairs fit in memory
    per_tile = max(1.0, float((np.pi * reach ** 2).sum()) / (max(len(tx), 1) * size * size))
    band = max(1, int(_CHUNK / per_tile))
    for a in range(0, len(tx), band):
        b = min(len(tx), a + band)
        y0, y1 = ty[a:b].min(), ty[a:b].max()
        near_band = np.flatnonzero((sites[:, 1] + site_reach >= y0) & (sites[:, 1] - site_reach <= y1))
        if not len(near_band):
            continue
        hits = cKDTree(np.c_[tx[a:b], ty[a:b]]).query_ball_point(sites[near_band], r=site_reach[near_band])
        lengths = np.fromiter(map(len, hits), np.int64, len(hits))
        if not lengths.sum():
            continue
        si = np.repeat(near_band, lengths)
        ti = np.fromiter(chain.from_iterable(hits), np.int64, int(lengths.sum()))
        # every cell of each site
        reps = per_site[si]
        ci = order[np.repeat(start[si], reps) + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))]
        ti = np.repeat(ti, reps) + a
        del si
        dx, dy = tx[ti] - cx[ci], ty[ti] - cy[ci]
        d = np.maximum(np.hypot(dx, dy), 10.0)
        near = d <= reach[ci]
        ci, ti, dx, dy, d = ci[near], ti[near], dx[near], dy[near], d[near]
        bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
        off = np.abs((bearing - az[ci] + 180.0) % 360.0 - 180.0)
        horizontal = np.where(np.isnan(az[ci]), 0.0, 12.0 * (off / bw[ci]) ** 2)
        elevation = np.degrees(np.arctan2(height[ci], d))
        vertical = np.where(np.isnan(height[ci]), 0.0, 12.0 * ((elevation - tilt[ci]) / _VERTICAL_BEAM) ** 2)
        score = power[ci] - 10.0 * exponent * np.log10(d) - np.minimum(horizontal + vertical, _MAX_LOSS_DB)
        # a softmax per tile: sort by tile, subtract the tile's best
        o = np.lexsort((ci, ti))
        ci, ti, score = ci[o], ti[o], score[o]
        first = np.flatnonzero(np.r_[True, ti[1:] != ti[:-1]])
        best = np.maximum.reduceat(score, first) if len(first) else np.empty(0)
        counts = np.diff(np.r_[first, len(ti)])
        e = np.exp((score - np.repeat(best, counts)) / softness)
        p = e / np.repeat(np.add.reduceat(e, first), counts)
        keep = p >= _MIN_P
        ci, ti, p = ci[keep], ti[keep], p[keep]
        rows.append(ci)
        cols.append(ti)
        vals.append(p)
    P = sparse.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(cx), len(tx)))
    colsum = np.asarray(P.sum(axis=0)).ravel()
    P = P @ sparse.diags_array(np.where(colsum > 0, 1.0 / np.where(colsum > 0, colsum, 1.0), 0.0))
    return sparse.csr_array(P)


def _zone_shares(tx, ty, size: float, zones: gpd.GeoDataFrame) -> tuple[sparse.csr_array, np.ndarray, bool]:
    """Shares of each tile's area in each zone, and in any zone; whether zones overlap (on some tile)."""
    half = size / 2.0
    boxes = shapely.box(tx - half, ty - half, tx + half, ty + half)
    geoms = np.asarray(zones.geometry.values, dtype=object)
    tree = shapely.STRtree(boxes)
    zi, ti = tree.query(geoms, predicate="intersects")
    shapely.prepare(geoms)
    whole = shapely.contains_properly(geoms[zi], boxes[ti])
    share = np.ones(len(ti))
    part = np.flatnonzero(~whole)
    if len(part):  # tiles are convex: the compiled clipper measures them (GEOS for what it cannot)
        area, *_ = pair_pieces(boxes, geoms, ti[part], zi[part], os.cpu_count() or 1, False, np.full(len(boxes), size * size))
        share[part] = area / (size * size)
    keep = share > 1e-9
    A = sparse.csr_array((np.clip(share[keep], 0, 1), (ti[keep], zi[keep])), shape=(len(tx), len(geoms)))
    in_zones = np.asarray(A.sum(axis=1)).ravel()
    overlap = bool((in_zones > 1 + 1e-9).any())
    if overlap:  # overlapping zones: the union's share
        union = shapely.union_all(geoms)
        hit = np.flatnonzero(in_zones > 0)
        in_zones = np.zeros(len(tx))
        in_zones[hit] = shapely.area(shapely.intersection(boxes[hit], union)) / (size * size)
    return A, np.clip(in_zones, 0, 1), overlap


def _plan_prior(sx, sy, tx, ty) -> np.ndarray:
    """The density of the plan's sites per tile, mean 1, :data:`PRIOR_FLOOR` of it even.

    Each site (cells at one position are one site) is a Gaussian of mass 1 whose width is
    :data:`PRIOR_SPREAD` times the distance to its third nearest other site (at least
    :data:`PRIOR_MIN_M`); a tile sums its 32 nearest sites.
    """
    from scipy.spatial import cKDTree

    sites = np.unique(np.round(np.c_[sx, sy], 1), axis=0)
    if len(sites) < 2 or not len(tx):
        return np.ones(len(tx))
    tree = cKDTree(sites)
    gap = np.reshape(tree.query(sites, k=min(4, len(sites)))[0], (len(sites), -1))[:, -1]
    h2 = np.maximum(PRIOR_SPREAD * gap, PRIOR_MIN_M) ** 2
    kernel = np.empty(len(tx))
    for lo in range(0, len(tx), _PRIOR_CHUNK):  # (a national grid: a million tiles and more)
        d, i = tree.query(np.c_[tx[lo:lo + _PRIOR_CHUNK], ty[lo:lo + _PRIOR_CHUNK]], k=min(_PRIOR_SITES, len(sites)))
        d, i = np.reshape(d, (len(d), -1)), np.reshape(i, (len(i), -1))
        kernel[lo:lo + _PRIOR_CHUNK] = (np.exp(-d ** 2 / (2 * h2[i])) / h2[i]).sum(axis=1)
    mean = kernel.mean()
    return (1 - PRIOR_FLOOR) * kernel / mean + PRIOR_FLOOR if mean > 0 else np.ones(len(tx))


def _prior(tx, ty, size: float, crs, ancillary, ancillary_column, prior: str, sx, sy) -> tuple[np.ndarray, str]:
    """The estimator's starting density per tile: the plan's sites (``plan``) or uniform,
    times an ancillary layer's factor when one is given (:data:`ANCILLARY_WEIGHT`).
    """
    if prior == "uniform":
        base, name = np.ones(len(tx)), "uniform"
    else:
        base, name = _plan_prior(sx, sy, tx, ty), f"cell plan (site density, {PRIOR_FLOOR:.0%} uniform)"
    if ancillary is None:
        return base, name
    from .ancillary import read_ancillary

    half = size / 2.0
    bounds = (tx.min() - half, ty.min() - half, tx.max() + half, ty.max() + half)
    layer = read_ancillary(ancillary, column=ancillary_column, bounds=bounds, bounds_crs=crs)
    layer = layer.to_crs(crs)
    area = shapely.area(np.asarray(layer.geometry.values))
    density = np.where(area > 0, layer["value"].to_numpy(dtype=float) / np.where(area > 0, area, 1.0), 0.0)
    pts = shapely.points(tx, ty)
    tree = shapely.STRtree(np.asarray(layer.geometry.values))
    pi, li = tree.query(pts, predicate="within")
    d = np.zeros(len(tx))
    np.maximum.at(d, pi, density[li])
    # the layer as a mild factor on the base: at most 1 + ANCILLARY_WEIGHT where it is
    # densest (its 99th percentile), 1 where it holds nothing (visitors may be there)
    top = np.quantile(d[d > 0], 0.99) if (d > 0).any() else 0.0
    factor = 1.0 + ANCILLARY_WEIGHT * (np.minimum(d / top, 1.0) if top > 0 else d)
    label = getattr(ancillary, "name", ancillary) if isinstance(ancillary, (str, os.PathLike)) else f"{len(layer)} polygons given"
    return base * factor, f"{name} x (1 + {ANCILLARY_WEIGHT:g} x ancillary ({label}))"


def footprints(
    cells: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    crs: str | pyproj.CRS | None = None,
    tile_m: float = TILE_M,
    exponent: float = PATH_LOSS_EXPONENT,
    softness: float = SOFTNESS_DB,
    reach_factor: float = REACH_FACTOR,
    ancillary=None,
    ancillary_column: str | None = None,
    prior: str = "plan",
) -> Footprints:
    """The footprints of a cell plan over a grid, and the grid's shares of the zones.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        A cell plan (:func:`geozones.read_cellplan`): positions, ``azimuth`` (NaN: omni),
        ``beamwidth``, ``range_m``; optional ``height_m`` (with it, the vertical pattern
        counts: ``tilt`` in degrees of downtilt, default :data:`DEFAULT_TILT`) and
        ``power_dbm`` (transmit power; default equal for every cell).
    zones : geopandas.GeoDataFrame
        The zones, with ``zone_id``.
    crs : str or pyproj.CRS, optional
        Metric CRS of the grid; by default EPSG:3812 inside Belgium, else the local UTM zone.
    tile_m : float, default :data:`TILE_M`
        Tile side in metres.
    exponent, softness, reach_factor : float
        Path-loss exponent, best-server softness (dB) and reach (times ``range_m``).
    ancillary : path or GeoDataFrame, optional
        A raster or polygon layer of where people are (population, shops, buildings):
        the prior is multiplied by ``1 +`` :data:`ANCILLARY_WEIGHT` ``x`` its density per
        tile over its 99th percentile (capped at 1).
    ancillary_column : str, optional
        The polygon layer's value column.
    prior : {"plan", "uniform"}, default "plan"
        The estimator's prior (times ``ancillary``'s factor): ``plan``, the density of the plan's
        sites (operators put sites where people are; :data:`PRIOR_SPREAD`,
        :data:`PRIOR_FLOOR`), or ``uniform``.

    Returns
    -------
    Footprints
    """
    if tile_m <= 0 or softness <= 0 or exponent <= 0 or reach_factor <= 0:
        raise WeightsError("footprint parameters must be positive", hint="check the tile size, softness, exponent and reach")
    if prior not in PRIORS:
        raise WeightsError(f"unknown prior {prior!r}", hint="use 'plan' or 'uniform', or give an ancillary layer")
    if crs is None:
        crs = metric_crs(cells.to_crs("EPSG:4326").total_bounds)
    crs = pyproj.CRS.from_user_input(crs)
    m = cells.to_crs(crs)
    cx, cy = m.geometry.x.to_numpy(), m.geometry.y.to_numpy()
    az = m["azimuth"].to_numpy(dtype=float) if "azimuth" in m.columns else np.full(len(m), np.nan)
    bw = m["beamwidth"].to_numpy(dtype=float) if "beamwidth" in m.columns else np.full(len(m), 360.0)
    bw = np.where(np.isnan(bw), 360.0, bw)
    reach = reach_factor * m["range_m"].to_numpy(dtype=float)
    height = _column(m, ("height_m", "height"), np.nan, 0.0, 1000.0)
    tilt = _column(m, ("tilt", "downtilt"), DEFAULT_TILT, -20.0, 90.0)
    if (tilt < 0).any():  # (an uptilt is rare: a register's downtilt written negative, more likely)
        log.warning("%d of %d cells of the plan have a negative tilt, read as an uptilt (tilt is degrees of downtilt, positive "
                    "down); if the plan writes downtilt as negative numbers, as some registers do, give it with the sign changed",
                    int((tilt < 0).sum()), len(tilt))
    power = _column(m, ("power_dbm", "power"), 0.0, -50.0, 100.0)
    tx, ty = _tiles(cx, cy, reach, tile_m)
    P = _probabilities(cx, cy, az, bw, height, tilt, power, reach, tx, ty, tile_m, exponent=exponent, softness=softness)
    zm = zones.to_crs(crs)
    A, in_zones, overlap = _zone_shares(tx, ty, tile_m, zm)
    prior, prior_name = _prior(tx, ty, tile_m, crs, ancillary, ancillary_column, prior, cx, cy)
    meta = {
        "crs": crs.to_string(),
        "tile_m": tile_m,
        "path_loss_exponent": exponent,
        "softness_db": softness,
        "reach_factor": reach_factor,
        "prior": prior_name,
        "tiles": int(len(tx)),
        "zones_overlap": overlap,
    }
    return Footprints(P, m["cell_id"].astype(str).to_numpy(dtype=object), tx, ty, A, in_zones,
                      zones["zone_id"].astype(str).to_numpy(dtype=object), prior, meta)


def estimate_density(P: sparse.csr_array, counts: np.ndarray, prior: np.ndarray, *, iterations: int = ITERATIONS) -> np.ndarray:
    """The density over tiles that explains the cells' counts (EM, Richardson-Lucy).

    Parameters
    ----------
    P : scipy.sparse.csr_array
        Footprints, shape (cells, tiles), columns adding up to 1 (or 0 for a tile no cell reaches).
    counts : numpy.ndarray
        Per cell, the people it counted (any non-negative numbers).
    prior : numpy.ndarray
        Per tile, the starting density (any positive scale).
    iterations : int, default :data:`ITERATIONS`

    Returns
    -------
    numpy.ndarray
        Per tile, people; they add up to the counts of the cells whose footprint holds
        some prior.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (P.shape[0],) or (counts < 0).any() or not np.isfinite(counts).all():
        raise WeightsError("counts for the density must be one finite, non-negative number per cell")
    prior = np.asarray(prior, dtype=float)
    if prior.shape != (P.shape[1],) or (prior < 0).any() or not np.isfinite(prior).all() or int(iterations) < 0:
        # (a probe's negative prior gave a density adding to -24,752, a NaN one all NaN, a wrong length a broadcasting error)
        raise WeightsError("the prior must be one finite, non-negative number per tile, and iterations at least 0")
    reached = np.asarray(P.sum(axis=0)).ravel() > 0
    lam = np.where(reached, prior, 0.0)
    q = P @ lam
    if lam.sum() <= 0:
        return lam
    lam = lam * (counts[q > 0].sum() / lam.sum())
    PT = sparse.csr_array(P.T)
    for _ in range(iterations):
        q = P @ lam
        ratio = np.divide(counts, q, out=np.zeros_like(counts), where=q > 0)
        lam = lam * (PT @ ratio)
    return lam


def footprint_weights(fp: Footprints, cell_counts: np.ndarray | None = None, *, iterations: int = ITERATIONS,
                      density: np.ndarray | None = None) -> Weights:
    """Cell x zone weights from footprints and, given counts, the density they imply.

    Parameters
    ----------
    fp : Footprints
    cell_counts : numpy.ndarray, optional
        Per cell of ``fp.cell_ids``, the people counted (for example a run's counts summed
        over periods and origins). Without them the prior stands for the density.
    iterations : int, default :data:`ITERATIONS`
    density : numpy.ndarray, optional
        Per tile, the density to share the counts by, instead of the one ``cell_counts``
        imply (which are then only used to say that the weights carry counts).

    Returns
    -------
    Weights
        ``W[c, z] = sum_t P[c, t] λ[t] A[t, z] / sum_t P[c, t] λ[t]``; a cell whose
        footprint holds no density keeps the prior's weights.
    """
    P = fp.matrix
    prior = np.where(np.asarray(P.sum(axis=0)).ravel() > 0, fp.prior, 0.0)
    if density is not None:
        lam = np.asarray(density, dtype=float)
        if lam.shape != (fp.matrix.shape[1],) or (lam < 0).any() or not np.isfinite(lam).all():
            raise WeightsError(f"density must be one finite, non-negative number per tile ({fp.matrix.shape[1]:,})")
    else:
        lam = prior if cell_counts is None else estimate_density(P, cell_counts, fp.prior, iterations=iterations)

    A = sparse.csr_array(fp.zone_shares)
    entry_tile = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))

    def shares(density: np.ndarray) -> tuple[sparse.csr_array, np.ndarray, np.ndarray]:
        # (the density on the tiles' zone shares, then one product with the footprints: the
        # footprints scaled by the density first took a second product as large, 1.4 s of
        # 1.9 s a period on the national plan)
        q = P @ density
        # (a cell that expects next to nobody, 1e-310, has no density-made weights: 1 / q
        # overflowed to inf, and inf x 0 made NaN weights the empty cells' prior did not mend)
        inv = np.divide(1.0, q, out=np.zeros_like(q), where=q > 1.0 / np.finfo(float).max)
        scaled = sparse.csr_array((A.data * density[entry_tile], A.indices, A.indptr), shape=A.shape)
        W = sparse.csr_array(sparse.diags_array(inv) @ (P @ scaled))
        inside = inv * (P @ (density * fp.in_zones))
        return W, np.clip(1.0 - inside, 0.0, 1.0), q

    W, outside, q = shares(lam)
    if cell_counts is not None:
        empty = q <= 1e-12 * max(q.max(initial=0.0), 1.0)
        if empty.any():
            W0, out0, _ = shares(prior)
            W = sparse.csr_array(sparse.diags_array((~empty).astype(float)) @ W + sparse.diags_array(empty.astype(float)) @ W0)
            outside = np.where(empty, out0, outside)
    W.data = np.clip(W.data, 0.0, 1.0)
    W.data[W.data < 1e-12] = 0.0
    W.eliminate_zeros()
    meta = dict(fp.meta, model="footprint", measure="footprint", density="counts" if cell_counts is not None else "prior",
                iterations=iterations if cell_counts is not None else 0)
    return Weights(W, fp.cell_ids, fp.zone_ids, outside, meta)


def refined_weights(fp: Footprints, weights: Weights, totals: np.ndarray, *, density: np.ndarray | None = None) -> Weights:
    """:func:`footprint_weights` of the density ``totals`` imply, in the cell and zone order of ``weights``.

    Parameters
    ----------
    fp : Footprints
        The footprints of the cells of ``weights`` (any order).
    weights : Weights
        The run's weights so far (the prior's, from :func:`footprint_weights` or a file):
        their cells, zones and order are kept; zones the footprints do not know get zeros.
    totals : numpy.ndarray
        Per cell of ``weights``, its count (summed over the run's periods and origins).
    density : numpy.ndarray, optional
        Per tile of ``fp``, a density to use instead of the one ``totals`` imply
        (:func:`geozones.density.period_weights`).

    Returns
    -------
    Weights
    """
    at = pd.Index(fp.cell_ids.astype(str)).get_indexer(np.asarray(weights.cell_ids).astype(str))
    if (at < 0).any():
        raise WeightsError("the footprints lack some of the weights' cells", hint="build the weights and footprints together")
    counts = np.zeros(len(fp.cell_ids))
    counts[at] = totals
    w = footprint_weights(fp, counts, density=density)
    cols = pd.Index(w.zone_ids.astype(str)).get_indexer(np.asarray(weights.zone_ids).astype(str))
    m = sparse.csc_array(sparse.csr_array(w.matrix[at]))
    pick = np.flatnonzero(cols >= 0)
    place = sparse.csr_array((np.ones(len(pick)), (np.arange(len(pick)), pick)), shape=(len(pick), len(weights.zone_ids)))
    full = sparse.csr_array(m[:, cols[pick]] @ place)
    return Weights(full, weights.cell_ids, weights.zone_ids, w.outside[at], w.meta)

