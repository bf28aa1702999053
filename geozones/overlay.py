"""The areas of cell x zone intersections, for the weights (:mod:`geozones.weights`).

Candidate pairs come from an R-tree (shapely's STRtree) over the coverage bounding boxes,
queried with all zones at once. Where either side of a pair is a convex polygon (wedges,
Voronoi cells, grid squares) a compiled clipper (numba, on several threads) measures the
piece without building it; the other pairs go to GEOS, with shapely's vectorised functions
on several threads. On both paths, a pair where one side holds the other skips the
intersection: the piece is the held side. Dasymetric weights need the pieces themselves,
and take the GEOS path for every pair.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from ._arrays import ranges
from .errors import WeightsError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["geoms_of", "candidate_pairs", "pair_pieces", "overlapping_pairs", "overlap_pieces", "union_areas", "Measure", "no_overlap"]


def geoms_of(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """The geometries of a GeoDataFrame as an object array."""
    return np.asarray(gdf.geometry.values, dtype=object)


def candidate_pairs(cov: np.ndarray, zones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cell index, zone index) of every pair whose bounding boxes intersect, sorted by cell.

    The coverage bounding boxes go into shapely's STRtree (a sort-tile-recursive R-tree),
    queried with all zones at once.
    """
    import shapely

    if not len(cov) or not len(zones):
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    zone_idx, cell_idx = shapely.STRtree(cov).query(zones)
    order = np.lexsort((zone_idx, cell_idx))
    return cell_idx.astype(np.int64)[order], zone_idx.astype(np.int64)[order]


def _chunks(n: int, workers: int) -> list[slice]:
    """Slices of the candidate pairs for the worker threads: a few per thread, none tiny."""
    if n == 0:
        return []
    k = max(1, min(workers * 4, n // 250))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _on_threads(work, n: int, workers: int) -> list:
    """``work(slice)`` over :func:`_chunks` of ``range(n)``, on ``workers`` threads, in order."""
    parts = _chunks(n, workers)
    if workers > 1 and len(parts) > 1:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(work, parts))
    return [work(sl) for sl in parts]


@functools.cache
def _clipper():
    """The compiled convex clipper (numba): ``(convex, clip_areas)``.

    ``convex(xy, ring, part, geom)`` says which geometries of a :func:`_rings` layout are
    convex polygons (one part, no hole, every turn the same way). ``clip_areas(subject...,
    clip..., si, ki, cap)`` gives, for each pair ``j``, the area of subject ``si[j]`` (any
    polygon or multipolygon, with holes) inside convex clip polygon ``ki[j]``: each ring
    is clipped by the clip polygon's half-planes one after the other (Sutherland-Hodgman)
    and measured by the shoelace formula, holes subtracted. Against a convex polygon the
    clipped ring may run back and forth along the clip boundary, but such runs enclose no
    area, so the area is exact for any simple subject ring. Coordinates are taken relative
    to the clip polygon's first vertex, so that no precision is lost to the large
    coordinates of a projected CRS. Also returned, per pair: ``state`` 1 where every
    subject vertex lies inside the clip polygon (the subject is wholly inside it), -1 where
    the work buffers (``cap`` vertices) were too small, else 0.
    """
    from ._numba import numba  # (its cache in the user's folder, never in the package)

    @numba.njit(nogil=True, cache=True)
    def convex(xy, ring, part, geom):
        n_geoms = len(geom) - 1
        out = np.zeros(n_geoms, np.bool_)
        for g in range(n_geoms):
            if geom[g + 1] - geom[g] != 1 or part[geom[g] + 1] - part[geom[g]] != 1:
                continue
            r = part[geom[g]]
            a, n = ring[r], ring[r + 1] - ring[r] - 1  # the last vertex closes the ring
            if n < 3:
                continue
            turn = 0
            ok = True
            half = first = changes = -1  # edge direction in [0, pi) (0) or [pi, 2 pi) (1)
            for i in range(n):
                i0, i1, i2 = a + (i - 1) % n, a + i, a + (i + 1) % n
                ux, uy = xy[i1, 0] - xy[i0, 0], xy[i1, 1] - xy[i0, 1]
                vx, vy = xy[i2, 0] - xy[i1, 0], xy[i2, 1] - xy[i1, 1]
                if vx != 0 or vy != 0:
                    h = 0 if vy > 0 or (vy == 0 and vx > 0) else 1
                    changes += h != half
                    half = h
                    first = h if first < 0 else first
                cross = ux * vy - uy * vx
                # collinear within rounding: a straight run, unless the ring turns back
                tol = 1e-12 * np.sqrt((ux * ux + uy * uy) * (vx * vx + vy * vy))
                if cross > tol:
                    ok = turn >= 0
                    turn = 1
                elif cross < -tol:
                    ok = turn <= 0
                    turn = -1
                elif ux * vx + uy * vy < 0:
                    ok = False
                if not ok:
                    break
            # turning one way, a ring that winds once (its edges' direction goes round once,
            # changing half twice) is convex and simple; a pentagram winds twice
            out[g] = ok and turn != 0 and changes + (first != half) == 2
        return out

    @numba.njit(nogil=True, cache=True)
    def clip_areas(s_xy, s_ring, s_part, s_geom, k_xy, k_ring, k_part, k_geom, si, ki, cap):
        n_pairs = len(si)
        area = np.zeros(n_pairs)
        state = np.zeros(n_pairs, np.int8)
        buf = np.empty((2, cap, 2))
        for j in range(n_pairs):
            r = k_part[k_geom[ki[j]]]
            ka, m = k_ring[r], k_ring[r + 1] - k_ring[r] - 1
            ox, oy = k_xy[ka, 0], k_xy[ka, 1]
            twice, xmin, ymin, xmax, ymax = 0.0, np.inf, np.inf, -np.inf, -np.inf
            for i in range(m):
                x0, y0 = k_xy[ka + i, 0] - ox, k_xy[ka + i, 1] - oy
                x1, y1 = k_xy[ka + (i + 1) % m, 0] - ox, k_xy[ka + (i + 1) % m, 1] - oy
                twice += x0 * y1 - x1 * y0
                xmin, xmax, ymin, ymax = min(xmin, x0), max(xmax, x0), min(ymin, y0), max(ymax, y0)
            orient = 1.0 if twice > 0 else -1.0  # inside is on the left of a counter-clockwise ring
            bx = (xmin, xmax, xmax, xmin, xmin)  # the bounding box, counter-clockwise
            by = (ymin, ymin, ymax, ymax, ymin)
            total = 0.0
            inside = True
            g = si[j]
            for p in range(s_geom[g], s_geom[g + 1]):
                for rr in range(s_part[p], s_part[p + 1]):
                    a, n = s_ring[rr], s_ring[rr + 1] - s_ring[rr] - 1
                    if n + 2 > cap:
                        state[j] = -1
                        break
                    cur = 0
                    rx0, ry0, rx1, ry1 = np.inf, np.inf, -np.inf, -np.inf
                    for i in range(n):
                        x, y = s_xy[a + i, 0] - ox, s_xy[a + i, 1] - oy
                        buf[0, i, 0], buf[0, i, 1] = x, y
                        rx0, rx1, ry0, ry1 = min(rx0, x), max(rx1, x), min(ry0, y), max(ry1, y)
                    if rx1 < xmin or rx0 > xmax or ry1 < ymin or ry0 > ymax:
                        inside = False  # a ring beside the clip polygon holds none of it
                        continue
                    for e in range(-4 if m > 4 else 0, m):
                        if e < 0:  # first the clip polygon's bounding box: cheap cuts of a large ring
                            ex, ey = bx[e + 4], by[e + 4]
                            dx, dy = orient * (bx[e + 5] - ex), orient * (by[e + 5] - ey)
                        else:
                            ex, ey = k_xy[ka + e, 0] - ox, k_xy[ka + e, 1] - oy
                            dx, dy = k_xy[ka + (e + 1) % m, 0] - ox - ex, k_xy[ka + (e + 1) % m, 1] - oy - ey
                        src, dst = buf[cur], buf[1 - cur]
                        out = 0
                        lx, ly = src[n - 1, 0], src[n - 1, 1]
                        sl = orient * (dx * (ly - ey) - dy * (lx - ex))
                        for i in range(n):
                            if out + 2 > cap:
                                state[j] = -1
                                break
                            tx, ty = src[i, 0], src[i, 1]
                            st = orient * (dx * (ty - ey) - dy * (tx - ex))
                            if (st >= 0) != (sl >= 0):  # the edge crosses the clip line
                                f = sl / (sl - st)
                                dst[out, 0], dst[out, 1] = lx + f * (tx - lx), ly + f * (ty - ly)
                                out += 1
                            if st >= 0:
                                dst[out, 0], dst[out, 1] = tx, ty
                                out += 1
                            else:
                                inside = False
                            lx, ly, sl = tx, ty, st
                        if state[j] < 0:
                            break
                        cur, n = 1 - cur, out
                        if n == 0:
                            break
                    if state[j] < 0:
                        break
                    # shoelace about the piece's first vertex: terms the size of the piece, not of
                    # the clip polygon, so that a sliver keeps its relative precision
                    twice = 0.0
                    v = buf[cur]
                    for i in range(1, n - 1):
                        twice += (v[i, 0] - v[0, 0]) * (v[i + 1, 1] - v[0, 1]) - (v[i + 1, 0] - v[0, 0]) * (v[i, 1] - v[0, 1])
                    total += abs(twice) / 2 if rr == s_part[p] else -abs(twice) / 2  # holes subtract
                if state[j] < 0:
                    break
            if state[j] == 0:
                area[j] = max(total, 0.0)
                state[j] = 1 if inside else 0
        return area, state

    return convex, clip_areas


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Polygons and multipolygons as flat arrays, GeoArrow's layout: ``(xy, ring, part, geom)``.

    Ring ``r`` is ``xy[ring[r]:ring[r + 1]]`` (closed), polygon ``p`` has rings
    ``part[p]:part[p + 1]`` (the exterior first), geometry ``g`` polygons ``geom[g]:geom[g + 1]``.
    """
    import shapely

    every = np.arange(len(geoms) + 1, dtype=np.int64)
    if (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON).all() and not shapely.get_num_interior_rings(geoms).any():
        return shapely.get_coordinates(geoms), _offsets(shapely.get_num_coordinates(geoms)), every, every
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    return (
        shapely.get_coordinates(rings),
        _offsets(shapely.get_num_coordinates(rings)),
        _offsets(np.bincount(ring_of, minlength=len(parts))),
        _offsets(np.bincount(part_of, minlength=len(geoms))),
    )


def _convex_areas(cov, zones, ci, zi, cov_area, workers, clipper) -> tuple[np.ndarray, int]:
    """Area of coverage ∩ zone for the pairs where either is a convex polygon, by the clipper.

    Wedges and Voronoi cells are convex, and so are grid squares and hexagons. The convex
    side clips the other (the one with fewer vertices where both are convex). Where one
    side holds the other, the held side's own shapely area is the answer, as on the GEOS
    path: the clipper tells when the subject lies inside the clip polygon; GEOS
    (``contains_properly``, in this thread) is asked the other way round only for the
    few pairs whose piece is as large as the clip polygon to 1e-9. Returns the areas, NaN
    for the pairs left to GEOS (neither side convex, a side that is not polygonal, a ring
    too long for the buffers), and how many pairs were clipped.
    """
    import shapely

    convex, clip_areas = clipper
    sides = []
    for geoms, idx in ((cov, ci), (zones, zi)):
        sel, local = np.unique(idx, return_inverse=True)  # the geometries the pairs use, and each pair's among them
        g = geoms[sel]
        poly = np.isin(shapely.get_type_id(g), [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
        if not poly.all():
            g = np.where(poly, g, shapely.Polygon())
        layout = _rings(g)
        vertices = np.diff(layout[1][layout[2][layout[3]]])
        sides.append((layout, local, poly[local], convex(*layout) & poly, vertices))
    (lc, pc, poly_c, cvx_c, nc), (lz, pz, poly_z, cvx_z, nz) = sides
    by_zone = cvx_z[pz] & poly_c & (~cvx_c[pc] | (nz[pz] <= nc[pc]))
    by_cell = cvx_c[pc] & poly_z & ~by_zone
    cells = (cov, ci, lambda i: cov_area[i])
    zone_side = (zones, zi, lambda i: shapely.area(zones[i]))
    area = np.full(len(ci), np.nan)
    clipped = 0
    for pick, subject, clip, si, ki, (s_geoms, s_of, s_area), (k_geoms, k_of, k_area) in (
        (by_zone, lc, lz, pc, pz, cells, zone_side),
        (by_cell, lz, lc, pz, pc, zone_side, cells),
    ):
        at = np.flatnonzero(pick)
        if not len(at):
            continue
        cap = 4 * int(np.diff(subject[1]).max()) + 2 * int(np.diff(clip[1]).max()) + 16
        s, k = si[at], ki[at]
        done = _on_threads(lambda sl: clip_areas(*subject, *clip, s[sl], k[sl], cap), len(at), workers)
        a = np.concatenate([d[0] for d in done])
        state = np.concatenate([d[1] for d in done])
        a[state < 0] = np.nan
        inside = state == 1
        a[inside] = s_area(s_of[at[inside]])
        near = np.flatnonzero(state == 0)
        whole = k_area(k_of[at[near]])
        full = a[near] >= (1 - 1e-9) * whole
        near, whole = near[full], whole[full]
        held = shapely.contains_properly(s_geoms[s_of[at[near]]], k_geoms[k_of[at[near]]])
        a[near[held]] = whole[held]
        area[at] = a
        clipped += int((state == 0).sum()) - int(held.sum())
    return area, clipped


def _geos_pieces(cov: np.ndarray, zones: np.ndarray, ci: np.ndarray, zi: np.ndarray, workers: int):
    """Geometry of coverage ∩ zone for every pair, and how many pairs were intersected.

    Containment is tested first, on prepared geometries, in this thread: GEOS builds a
    prepared geometry's index lazily and is not safe to share between threads. Only the
    intersections of the remaining pairs, which need no prepared geometry, run on
    ``workers`` threads (shapely releases the GIL).
    """
    import shapely

    c, z = cov[ci], zones[zi]
    shapely.prepare(c)
    shapely.prepare(z)
    z_holds_c = shapely.contains_properly(z, c)
    c_holds_z = ~z_holds_c & shapely.contains_properly(c, z)
    shapely.destroy_prepared(c)
    shapely.destroy_prepared(z)
    rest = np.flatnonzero(~(z_holds_c | c_holds_z))
    pieces = np.empty(len(ci), dtype=object)
    pieces[z_holds_c] = c[z_holds_c]
    pieces[c_holds_z] = z[c_holds_z]
    done = _on_threads(lambda sl: shapely.intersection(c[rest[sl]], z[rest[sl]]), len(rest), workers)
    if done:
        pieces[rest] = np.concatenate(done)
    return pieces, int(len(rest))


def pair_pieces(cov: np.ndarray, zones: np.ndarray, ci: np.ndarray, zi: np.ndarray, workers: int, want_geoms: bool,
                 cov_area: np.ndarray):
    """Area (and, if asked, geometry) of coverage ∩ zone for every candidate pair.

    Without ``want_geoms``, the pairs where either side is convex are measured by the
    compiled clipper (:func:`_convex_areas`) and only the others are intersected by GEOS
    (:func:`_geos_pieces`); with it, GEOS makes every piece.

    Returns
    -------
    area : numpy.ndarray
        Per pair.
    pieces : numpy.ndarray of geometries or None
        Per pair, with ``want_geoms``.
    intersected : int
        Pairs whose intersection was computed (by either), the others being skipped
        because one side holds the other.
    clipped : int
        Of those, the pairs done by the clipper.
    """
    import shapely

    clipper = None if want_geoms or not len(ci) else _clipper()
    if clipper is None:
        pieces, intersected = _geos_pieces(cov, zones, ci, zi, workers)
        return shapely.area(pieces), (pieces if want_geoms else None), intersected, 0
    area, clipped = _convex_areas(cov, zones, ci, zi, cov_area, workers, clipper)
    rest = np.flatnonzero(np.isnan(area))
    pieces, intersected = _geos_pieces(cov, zones, ci[rest], zi[rest], workers)
    area[rest] = shapely.area(pieces)
    return area, None, intersected + clipped, clipped


class Measure:
    """Area, or the amount of an ancillary quantity, inside geometries."""

    def __init__(self, anc_geoms: np.ndarray | None = None, anc_values: np.ndarray | None = None) -> None:
        import shapely

        self.dasymetric = anc_geoms is not None
        if self.dasymetric:
            keep = np.asarray(anc_values, dtype=float) > 0
            self.geoms = anc_geoms[keep]
            self.density = np.asarray(anc_values, dtype=float)[keep] / shapely.area(self.geoms)
            self.tree = shapely.STRtree(self.geoms)
            shapely.prepare(self.geoms)

    def __call__(self, geoms: np.ndarray) -> np.ndarray:
        """The area (or ancillary amount) inside each of ``geoms``."""
        import shapely

        if not self.dasymetric:
            return shapely.area(geoms)
        gi, ai = self.tree.query(geoms, predicate="intersects")
        if not len(gi):
            return np.zeros(len(geoms))
        amount = shapely.area(shapely.intersection(geoms[gi], self.geoms[ai])) * self.density[ai]
        return np.bincount(gi, weights=amount, minlength=len(geoms))


def no_overlap(coverage: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> WeightsError:
    """The error for zones that no coverage area overlaps: swapped coordinates, or elsewhere.

    Parameters
    ----------
    coverage, zones : geopandas.GeoDataFrame
        The coverage areas and the zones, in any CRS.

    Returns
    -------
    WeightsError
    """
    import shapely

    from .crs import WGS84

    hint = "check that zones and cells cover the same area"
    swapped = shapely.transform(zones.to_crs(WGS84).geometry.values, lambda xy: xy[:, ::-1])
    cov_ll = coverage.to_crs(WGS84).geometry.values
    if shapely.intersects(shapely.union_all(swapped), shapely.union_all(cov_ll)):
        hint = "the zones' latitude and longitude look swapped: GeoJSON positions are [longitude, latitude]"
    return WeightsError("no coverage area overlaps any zone", hint=hint)


def overlap_pieces(zones: np.ndarray, oa: np.ndarray, ob: np.ndarray, workers: int = 1,
                   max_pieces: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Every area where two or more zones overlap, with its sign for inclusion–exclusion.

    For zones whose interiors overlap in the pairs ``(oa[i], ob[i])``, the pieces are the
    intersections of every clique of the overlap graph: pairs ``z_i ∩ z_j``, then triples
    ``z_i ∩ z_j ∩ z_k`` where ``k`` overlaps both, and so on until no clique has an area
    left. The area of any polygon ``c`` inside the union of the zones is then exactly::

        area(c ∩ ⋃ z) = Σ area(c ∩ z) + Σ sign(p) · area(c ∩ p)

    over the pieces ``p``, with sign −1 for pairs, +1 for triples... Zones that only touch
    give no piece. Two zone sets that each tile the plane without overlaps (neighbourhoods
    and a grid, say) give pairs only. Zones that all overlap each other (nested bands around
    one place, say) give a piece for every subset of them: past ``max_pieces`` (default
    four per pair and 10,000) the answer is None.

    Returns
    -------
    tuple or None
        ``pieces`` (geometries) and ``sign`` (−1 or +1 per piece); None past ``max_pieces``.
    """
    import shapely
    from scipy import sparse

    n = len(zones)
    if not len(oa):
        return np.empty(0, dtype=object), np.empty(0)
    lo, hi = np.minimum(oa, ob), np.maximum(oa, ob)
    adj = sparse.csr_array((np.ones(len(lo), bool), (lo, hi)), shape=(n, n))  # i < j, i overlaps j
    adj.sum_duplicates()
    keys = np.unique(lo.astype(np.int64) * n + hi)
    members = np.stack([lo, hi], axis=1)  # the zones of each piece, ascending
    geoms = np.concatenate(_on_threads(lambda sl: shapely.intersection(zones[lo[sl]], zones[hi[sl]]), len(lo), workers))
    out, signs, sign = [], [], -1.0
    budget = 4 * len(oa) + 10_000 if max_pieces is None else max_pieces
    while len(members):
        budget -= len(members)
        if budget < 0:
            return None
        keep = shapely.area(geoms) > 0
        members, geoms = members[keep], geoms[keep]
        out.append(geoms)
        signs.append(np.full(len(geoms), sign))
        # extend each clique by a zone k > its last member that overlaps every member
        last = members[:, -1]
        rows = np.repeat(np.arange(len(members)), np.diff(adj.indptr)[last])
        k = adj.indices[ranges(adj.indptr, last)]
        ok = np.ones(len(k), bool)
        for m in range(members.shape[1] - 1):
            ok &= np.isin(members[rows, m].astype(np.int64) * n + k, keys)
        rows, k = rows[ok], k[ok]
        members = np.concatenate([members[rows], k[:, None]], axis=1)
        g, kk = geoms[rows], k
        geoms = np.concatenate(_on_threads(lambda sl: shapely.intersection(g[sl], zones[kk[sl]]), len(rows), workers)) if len(rows) else geoms[:0]
        sign = -sign
    return np.concatenate(out), np.concatenate(signs)


def union_areas(cov: np.ndarray, zones: np.ndarray, ci: np.ndarray, zi: np.ndarray, inter_area: np.ndarray, cells: np.ndarray,
                oa: np.ndarray, ob: np.ndarray, cov_area: np.ndarray, workers: int = 1) -> np.ndarray:
    """Area of each of ``cells`` that lies inside the union of the zones.

    Inclusion–exclusion over :func:`overlap_pieces`: the sum of the cell's pair areas
    ``inter_area`` (pairs ``(ci, zi)``), corrected by the areas of the cell's intersections
    with the overlap pieces, measured like the pairs (:func:`pair_pieces`: the compiled
    clipper where the cell or the piece is convex). No union is built.

    Parameters
    ----------
    cov, zones : numpy.ndarray of geometries
        Coverage areas and zones, in a metric CRS.
    ci, zi, inter_area : numpy.ndarray
        Every cell × zone pair with an area, and that area.
    cells : numpy.ndarray of int
        The cells to measure (those that reach both zones of an overlapping pair).
    oa, ob : numpy.ndarray of int
        The pairs of zones whose interiors overlap.
    cov_area : numpy.ndarray
        Area of every coverage area.
    workers : int

    Returns
    -------
    numpy.ndarray or None
        Per cell of ``cells``, in that order; None when the zones overlap in too many ways
        (:func:`overlap_pieces`): measure the union of each cell's pieces instead.
    """
    import shapely

    inside = np.bincount(ci, weights=inter_area, minlength=len(cov))[cells]
    found = overlap_pieces(zones, oa, ob, workers)
    if found is None:
        return None
    pieces, sign = found
    if not len(pieces):
        return inside
    sub = cov[cells]
    pi, local = shapely.STRtree(sub).query(pieces)  # bounding boxes only, like candidate_pairs
    area, _, _, _ = pair_pieces(sub, pieces, local.astype(np.int64), pi.astype(np.int64), workers, False, cov_area[cells])
    return inside + np.bincount(local, weights=sign[pi] * area, minlength=len(cells))


def overlapping_pairs(geoms: np.ndarray, workers: int = 1, *, rel: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of polygons (in a metric CRS) whose interiors overlap, and the overlap's area.

    Candidates are the pairs whose bounding boxes meet (STRtree); their overlaps are measured
    like the cell × zone pairs (:func:`pair_pieces`: the compiled clipper where either side
    is convex, GEOS otherwise), without a predicate first. Pairs that only touch measure 0;
    an overlap under ``rel`` of the smaller polygon's area is taken for rounding and left out.

    Returns
    -------
    a, b : numpy.ndarray of int
        Indices into ``geoms``, ``a < b``.
    area : numpy.ndarray
        The overlap's area.
    """
    import shapely

    none = np.array([], dtype=np.int64)
    if len(geoms) < 2:
        return none, none, np.array([], dtype=float)
    b, a = shapely.STRtree(geoms).query(geoms)  # (query index, tree index)
    sel = a < b
    a, b = a[sel].astype(np.int64), b[sel].astype(np.int64)
    own = shapely.area(geoms)
    area, _, _, _ = pair_pieces(geoms, geoms, a, b, workers, False, own)
    keep = area > rel * np.minimum(own[a], own[b])
    return a[keep], b[keep], area[keep]
