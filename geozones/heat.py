"""The heat layer, drawn from the published zone figures alone.

A grid of squares apportioned from the cells like any zone set is a second set of
equations over the cells' counts: against the zones, an attacker who knows the cell plan
recovers cells and strips under k (issue 17). The heat layer therefore adds no figure of
its own. The zones cut the map into pieces (the faces of their outlines); each piece takes
its people from the smallest zone over it whose figure is published for the period: that
zone's figure less the people of the smaller published zones inside it, spread evenly over
the rest of it. A square holds the people of the pieces under it, in proportion to the
area it covers of each. Where zones nest (shopping streets in a neighbourhood), the
squares add up to the published figures: a square outside the streets does not count the
streets' crowd again, and a square larger than a street holds the street's people, not
its density times the square. Anything computed from published figures alone reveals
nothing they do not, and the grid's squares (250 m) are finer than the cells can resolve
anyway.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .origins import ALL
from .privacy import PUBLISHED, SUPPRESSED

__all__ = ["heat_from_zones"]

#: Pieces of the zones' outlines smaller than this (m²) are slivers of their noding and are left out.
MIN_PIECE_M2 = 1e-3


def _pieces(zones: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The faces of the zones' outlines: geometries, and (face, zone) pairs of the zones over each."""
    lines = shapely.union_all(shapely.boundary(zones.to_numpy()))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    faces = faces[shapely.area(faces) > MIN_PIECE_M2]
    tree = shapely.STRtree(zones.to_numpy())
    face, zone = tree.query(shapely.point_on_surface(faces), predicate="within")
    return faces, face, zone


def _rates(value: np.ndarray, owned: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], own_area: np.ndarray,
           member: sparse.csr_matrix, rounds: int) -> np.ndarray:
    """People per m² of each zone's own pieces, per period: the zone's figure less the people
    of the pieces that smaller published zones inside it own, over the area it owns.

    ``value`` (periods x zones) is NaN where not published; ``owned`` is, for each owned
    (period, face), the period, the face, the owner's place in ``value`` flattened and the
    face's area; ``own_area`` (periods x zones) the area each zone owns; ``member`` (faces x
    zones) says which zones lie over a face. Ownership goes to smaller zones only, so
    ``rounds`` (the most zones over one face) passes settle every chain of nested zones.
    """
    period, face, flat, area = owned
    n_p, n_z = value.shape
    owns = own_area > 0
    rate = np.where(owns, value, np.nan) / np.where(owns, own_area, 1.0)
    for _ in range(rounds):
        mass = np.zeros((n_p, member.shape[0]))
        mass[period, face] = rate.reshape(-1)[flat] * area
        inside = np.asarray((member.T @ mass.T).T)  # people of every piece under each zone
        own = np.bincount(flat, weights=mass[period, face], minlength=n_p * n_z).reshape(n_p, n_z)
        rate = np.where(owns, np.clip(value - (inside - own), 0.0, None), np.nan) / np.where(owns, own_area, 1.0)
    return rate


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
        One row per period of the published table and square over a zone, by period then
        square in grid order: ``zone_id`` (the square), ``period_start``, ``period``,
        ``origin`` (``all``), ``observed``, ``estimate`` (the people of the zones' pieces
        under the square, each piece's people from the smallest published zone over it
        less the smaller published zones inside that one; empty where no published zone
        lies under the square) and ``status``. Where the zones nest, the squares add up to
        the published figures of the outermost ones. The text columns are categorical (an
        hourly quarter of a city has millions of rows, and a few distinct texts).
    """
    g = grid.to_crs(crs)
    z = zones[["zone_id", "geometry"]].to_crs(crs).reset_index(drop=True)
    z_area = z.geometry.area.to_numpy()
    faces, f_of, z_of = _pieces(z.geometry)
    n_f, n_z = len(faces), len(z)
    f_area = shapely.area(faces)
    by_id = np.argsort(np.argsort(z["zone_id"].astype(str).to_numpy(), kind="stable"), kind="stable")
    # per face, the smallest zone first; zones of one area by id, not by the files' order (a probe's two
    # files of one same polygon, given the other way round, moved 40 squares' figures by 1.6%)
    order = np.lexsort((by_id[z_of], z_area[z_of], f_of))
    f_of, z_of = f_of[order], z_of[order]
    rank = np.arange(len(f_of)) - np.searchsorted(f_of, f_of)
    member = sparse.csr_matrix((np.ones(len(f_of)), (f_of, z_of)), shape=(n_f, n_z))

    t = published[published["origin"] == ALL]
    ids = pd.Index(z["zone_id"].astype(str))
    t = t.assign(_z=ids.get_indexer(t["zone_id"].astype(str)))
    t = t[t["_z"] >= 0]
    slices = t[["period_start", "period"]].drop_duplicates().reset_index(drop=True)
    s_code = pd.MultiIndex.from_frame(slices).get_indexer(pd.MultiIndex.from_frame(t[["period_start", "period"]]))
    n_s = len(slices)
    obs = np.full((n_s, n_z), np.nan)
    est = np.full((n_s, n_z), np.nan)
    ok = (t["status"] == PUBLISHED).to_numpy()
    obs[s_code[ok], t["_z"].to_numpy()[ok]] = t["observed"].to_numpy(dtype=float)[ok]
    est[s_code[ok], t["_z"].to_numpy()[ok]] = t["estimate"].to_numpy(dtype=float)[ok]

    # each face's owner per period: the first zone over it, smallest first, that is published
    owner = np.full((n_s, n_f), -1, dtype=np.int64)
    rounds = int(rank.max()) + 1 if len(rank) else 0  # (a few ranks: zones nested over a face)
    for r in range(rounds):
        at = rank == r
        a_f, a_z = f_of[at], z_of[at]
        take = (owner[:, a_f] < 0) & ~np.isnan(obs[:, a_z])
        owner[:, a_f] = np.where(take, a_z, owner[:, a_f])
    held = owner >= 0
    period, face = np.nonzero(held)
    owned = (period, face, period * n_z + owner[period, face], f_area[face])
    own_area = np.bincount(owned[2], weights=owned[3], minlength=n_s * n_z).reshape(n_s, n_z)

    # the squares over the faces, and the area of each they cover
    sq, fc = shapely.STRtree(faces).query(g.geometry.to_numpy(), predicate="intersects")
    cover = shapely.area(shapely.intersection(g.geometry.to_numpy()[sq], faces[fc]))
    keep = cover > MIN_PIECE_M2
    sq, fc, cover = sq[keep], fc[keep], cover[keep]
    covered = np.unique(sq)  # the squares over a zone, in grid order: the frame's columns
    overlap = sparse.csr_matrix((cover, (fc, np.searchsorted(covered, sq))), shape=(n_f, len(covered)))
    any_held = np.asarray((overlap.T @ held.T.astype(float)).T) > 0

    def squares(value: np.ndarray) -> np.ndarray:
        rate = _rates(value, owned, own_area, member, rounds)
        per_face = np.zeros(owner.shape)
        per_face[period, face] = rate.reshape(-1)[owned[2]]
        out = np.asarray((overlap.T @ per_face.T).T)
        return np.where(any_held, out, np.nan)

    out_obs, out_est = squares(obs), squares(est)
    # a row per period and square: codes into the few distinct values, not a text per row
    # (an hourly quarter of a city has millions of rows)
    ids = pd.Categorical.from_codes(np.tile(np.arange(len(covered), dtype=np.int32), n_s),
                                    categories=pd.Index(g["zone_id"].astype(str).to_numpy()[covered]))
    periods = pd.Categorical(slices["period"].astype(str))
    return pd.DataFrame({
        "zone_id": ids,
        # (taken, not repeated through NumPy: times with a zone are objects there, which pandas parses again)
        "period_start": slices["period_start"].take(np.repeat(np.arange(n_s), len(covered))).array,
        "period": pd.Categorical.from_codes(np.repeat(periods.codes, len(covered)), categories=periods.categories),
        "origin": pd.Categorical.from_codes(np.zeros(out_obs.size, np.int8), categories=[ALL]),
        "observed": out_obs.reshape(-1),
        "estimate": out_est.reshape(-1),
        "status": pd.Categorical.from_codes(np.isnan(out_obs.reshape(-1)).astype(np.int8), categories=[PUBLISHED, SUPPRESSED]),
    })
