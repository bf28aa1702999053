"""The audit's checks across zones (:mod:`geozones.audit`): what follows from the zones of a
slice (period and origin) whose figures are known, through the weights they share.

Zones meet through the cells. Per connected group of zones sharing cells and per pattern of
zones whose figure follows (is published, or known from published ones), a cell, a pair of
cells sharing a zone, the rest of a zone outside the zones inside it, or another zone
follows when its weights lie in the span of those zones' weights. Groups up to
:data:`DENSE_LIMIT` zones and cells take an SVD per pattern; larger ones (a national zone
set is one group) certify almost every target with null vectors and solve the rest
(:class:`geozones.span.Span`). A target under ``k`` and above none is closed by suppressing
the published figure that loses the fewest people among those it follows from.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ._progress import noted
from .auditinput import AuditInput
from .bounds import slice_table
from .span import Span

__all__ = ["DENSE_LIMIT", "spatial_checks"]

_TOL = 1e-7
#: A pattern's weights with singular values between 1e-9 (the rank's cut) and this share of
#: the largest have no clear rank: its exposures are closed by cutting a cell (:func:`_cut`).
_FIRM = 1e-5


def spatial_checks(a: AuditInput, derivable: np.ndarray, sup: np.ndarray, k: float, breaks: set):
    """Targets across zones: per slice (period and origin), the zones whose figure
    follows; cells, pairs of cells sharing a zone, rests of nested zones and other zones
    whose weights lie in the span of those zones' weights. Yields ``("follows", zone,
    figure)`` for a zone's figure known through the others, and ``(kind, zone, figure)``
    for an exposure, with the figure to suppress.
    """
    w = sparse.csc_array(a.cells)
    n_cells, n_z = w.shape
    _, fig = slice_table(a, n_z)
    known = np.where(fig >= 0, derivable[np.maximum(fig, 0)], True)  # no figure: none there
    before = sup.copy()  # (what was hidden when the exposures were found)
    y = np.where(fig >= 0, a.obs[np.maximum(fig, 0)], 0.0)
    n_comp, comp = zone_groups(w)
    for c in range(n_comp):
        zs = np.flatnonzero(comp == c)
        cells = np.unique(w[:, zs].tocoo().row)
        if not len(cells):
            continue
        rests = [(np.searchsorted(zs, o), np.searchsorted(zs, inn)) for o, inn in a.nested
                 if o in zs and all(i in zs for i in inn)]
        dense = min(len(cells), len(zs)) <= DENSE_LIMIT and len(cells) * len(zs) <= DENSE_ENTRIES
        check = _dense if dense else _sparse
        yield from check(a, w[cells][:, zs], zs, rests, known, fig, y, before, sup, k, breaks)


def zone_groups(w: sparse.sparray) -> tuple[int, np.ndarray]:
    """Groups of zones that share cells, through any chain of them: (number, group per zone).

    Components of the graph of cells and zones (an edge per weight), numbered in the order
    of their first zone: the zones' own graph (``W' W``) has an edge per pair of zones a
    cell reaches, the square of a footprint's hundreds of small zones, and took half of a
    city grid's audit to build at each round.
    """
    n_cells, n_z = w.shape
    coo = sparse.coo_array(w)
    graph = sparse.coo_array((np.ones(coo.nnz, np.int8), (coo.row, n_cells + coo.col.astype(np.int64))), shape=(n_cells + n_z,) * 2)
    _, comp = sparse.csgraph.connected_components(graph, directed=False)
    groups, first, comp = np.unique(comp[n_cells:], return_index=True, return_inverse=True)
    rank = np.empty(len(groups), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(groups))
    return len(groups), rank[comp.reshape(-1)]


#: The most entries of the dense checks' arrays over pairs of cells at once (pairs x
#: slices, pairs x rank): 32 MB each.
PAIR_ENTRIES = 1 << 22

#: Groups of zones sharing cells with up to this many zones or cells (and at most
#: :data:`DENSE_ENTRIES` weights) get the dense checks (an SVD per pattern of zones that
#: follow); the others the sparse ones (:mod:`geozones.span`).
DENSE_LIMIT = 4000
#: The most weights (zones x cells) of a group with the dense checks: a fine grid of zones
#: over a city's plan (more zones than cells) has them; a national zone set does not.
#: (At least ``DENSE_LIMIT ** 2``: a group with both sides up to the limit has them too.)
DENSE_ENTRIES = 25_000_000


def _noted(patterns: np.ndarray, shape: tuple[int, int]):
    """``enumerate(patterns)``, noting every minute (:data:`geozones._progress.HEARTBEAT_S`) how far a group's
    checks are (a national group's take minutes).
    """
    return noted(patterns, lambda p: f"audit: {p} of {len(patterns)} sets of published zones checked in a group of "
                                     f"{shape[1]} zones over {shape[0]} cells")


def _dense(a, wz, zs, rests, known, fig, y, before, sup, k, breaks):
    """:func:`spatial_checks`'s checks for one group, with an SVD per pattern of zones that follow.

    The targets (cells, pairs of cells, rests) are tested all at once: a target follows
    when it lies in the column space of the zones' weights, and is worth ``figures @
    pinv @ target``; only those worth under ``k`` somewhere get their coefficients. Each
    exposure carries what closes it for certain (:func:`_fix`): the figures every
    recovery needs, or, where the zones' weights are dependent and none is needed by all
    (more zones than cells), a cell of the target to take out of every recovery.
    """
    wz = wz.toarray()
    pairs = _pairs(wz)
    patterns, p_inv = np.unique(known[:, zs], axis=0, return_inverse=True)
    p_inv = p_inv.reshape(-1)
    for p, pat in _noted(patterns, wz.shape):
        on = np.flatnonzero(pat)
        if not len(on):
            continue
        won = wz[:, on]
        u, s, vt = np.linalg.svd(won, full_matrices=False)
        r = int((s > s[0] * 1e-9).sum()) if s[0] > 0 else 0
        q = u[:, :r]
        pinv = (vt[:r].T / s[:r]) @ u[:, :r].T  # (zones on x cells)
        # zones in no dependency among the weights: a figure with a coefficient there is
        # needed by every recovery. Where singular values fade without a gap (smooth
        # footprints, more zones than cells) none is taken as free: a near-dependency lets a
        # recovery within the tolerance do without any one figure.
        fading = ((s > s[0] * 1e-9) & (s <= s[0] * _FIRM)).any() if s[0] > 0 else False
        free = np.zeros(len(on), bool) if fading else 1.0 - (vt[:r] ** 2).sum(axis=0) <= 1e-6
        touch = sparse.csr_array(won > 0)
        slices = np.flatnonzero(p_inv == p)
        yy = y[np.ix_(slices, zs[on])]
        zone_hits = []
        off = np.flatnonzero(~pat)
        if len(off):  # other zones that follow from these
            coef = pinv @ wz[:, off]
            res = wz[:, off] - won @ coef
            ok_ = np.linalg.norm(res, axis=0) <= _TOL * (1 + np.linalg.norm(wz[:, off], axis=0))
            zone_hits = [(off[jj], coef[:, jj], (_support(wz[:, off[jj]]), touch, free)) for jj in np.flatnonzero(ok_)]
        worth = yy @ pinv  # (slices x cells: what each cell is worth where it follows)

        def small(v: np.ndarray) -> np.ndarray:
            return ((v > 1e-6) & (v < k)).any(axis=0)

        # a cell, or a pair of cells sharing a zone, follows when its indicator e lies in
        # the zones' column space: |e - q q'e|^2 = |e|^2 - |q'e|^2 within the tolerance
        # (1e-6 (1 + |e|)). Pairs are taken a slice of them at a time: a municipality set
        # over a national plan has 700,000 pairs, and their arrays at once held 6 GB.
        hits = []
        nq = (q * q).sum(axis=1)
        cand = np.flatnonzero(1.0 - nq <= (2e-6) ** 2)
        for ci in cand[small(worth[:, cand])]:
            hits.append(("cell", pinv[:, ci], worth[:, ci], (np.array([ci]), touch, free)))
        # (|q_i + q_j|^2 is at most (|q_i| + |q_j|)^2: pairs that cannot reach 2 are left
        # out before any product over the rank; in a municipality of 60 cells |q_i|^2 is
        # about 1/60, and nearly every pair goes)
        tol2 = (1e-6 * (1.0 + np.sqrt(2.0))) ** 2
        root = np.sqrt(np.clip(nq, 0.0, None))
        near = pairs[(root[pairs[:, 0]] + root[pairs[:, 1]]) ** 2 >= 2.0 - tol2 - 1e-9] if len(pairs) else pairs
        step = max(1, PAIR_ENTRIES // max(r, len(slices), 1))
        for lo in range(0, len(near), step):
            pr = near[lo:lo + step]
            both = nq[pr[:, 0]] + nq[pr[:, 1]] + 2.0 * np.einsum("ij,ij->i", q[pr[:, 0]], q[pr[:, 1]])
            pp = pr[2.0 - both <= tol2]
            for i, j in pp[small(worth[:, pp[:, 0]] + worth[:, pp[:, 1]])] if len(pp) else ():
                hits.append(("pair of cells", pinv[:, i] + pinv[:, j], worth[:, i] + worth[:, j], (np.array([i, j]), touch, free)))
        for o, inn in rests:
            if pat[o] and pat[inn].all():
                e = wz[:, o] - wz[:, inn].sum(axis=1)
                beta = pinv @ e
                if np.linalg.norm(won @ beta - e) <= 1e-6 * (1 + np.linalg.norm(e)):
                    hits.append(("rest of a zone", beta, yy @ beta, (_support(e), touch, free)))
        yield from _outcomes(a, fig, y, sup, k, breaks, before, slices, zs, on, zone_hits, hits)


def _sparse(a, wz, zs, rests, known, fig, y, before, sup, k, breaks):
    """:func:`spatial_checks`'s checks for a group too large for an SVD (a national zone set).

    Null vectors of every zone's weights are null vectors of any pattern's zones, so one
    :class:`geozones.span.Span` of the whole group certifies, for every pattern at once,
    nearly all cells and pairs of cells sharing a zone. Per pattern of zones that follow, a
    Span of those zones then clears or solves what is left: those cells and pairs, the rests
    of nested zones, and the other zones whose cells they all cover.
    """
    wz = sparse.csc_array(wz)
    wz.eliminate_zeros()
    n = wz.shape[0]
    held_t = sparse.csr_array(wz.T, copy=True)  # (a transpose shares its data)
    held_t.data[:] = 1.0
    whole = Span(sparse.csr_array(wz.T))
    cells = np.flatnonzero(whole.open_units())
    pairs = _pairs(wz)
    pairs = pairs[whole.open_sums(pairs)] if len(pairs) else pairs
    patterns, p_inv = np.unique(known[:, zs], axis=0, return_inverse=True)
    p_inv = p_inv.reshape(-1)
    for p, pat in _noted(patterns, wz.shape):
        on = np.flatnonzero(pat)
        if not len(on):
            continue
        rows = sparse.csr_array(wz[:, on].T)
        cov = np.zeros(n, bool)
        cov[rows.indices] = True  # cells some zone that follows holds: only they can follow
        off = np.flatnonzero(~pat)
        inside = off[(held_t @ (~cov).astype(float))[off] == 0]  # (no weight where none follows)
        c_ = cells[cov[cells]]
        p_ = pairs[cov[pairs[:, 0]] & cov[pairs[:, 1]]]
        r_ = [(o, inn) for o, inn in rests if pat[o] and pat[inn].all()]
        if not (len(c_) or len(p_) or len(r_) or len(inside)):
            continue
        span = Span(rows)
        c_ = c_[span.open_units()[c_]]
        p_ = p_[span.open_sums(p_)] if len(p_) else p_
        inside = inside[span.open(wz[:, inside])] if len(inside) else inside
        kinds = ["cell"] * len(c_) + ["pair of cells"] * len(p_) + ["rest of a zone"] * len(r_) + ["zone"] * len(inside)
        cols = [sparse.csc_array((np.ones(len(c_)), (c_, np.arange(len(c_)))), shape=(n, len(c_))),
                sparse.csc_array((np.ones(2 * len(p_)), (p_.reshape(-1), np.repeat(np.arange(len(p_)), 2))), shape=(n, len(p_))),
                *[sparse.csc_array(wz[:, [o]] - wz[:, inn].sum(axis=1).reshape(-1, 1)) for o, inn in r_],
                wz[:, inside]]
        slices = np.flatnonzero(p_inv == p)
        n_t = len(kinds) - len(inside)  # (targets before the zones)
        zneed = np.zeros(len(kinds), bool)  # zones whose coefficients a closure may need
        if len(inside):
            f_in = fig[np.ix_(slices, zs[inside])]
            small = (f_in >= 0) & (_TOL < a.obs[np.maximum(f_in, 0)]) & (a.obs[np.maximum(f_in, 0)] < k)
            if breaks:
                small |= np.isin(f_in, np.fromiter(breaks, np.int64, len(breaks)))
            zneed[n_t:] = small.any(axis=0)
        t = sparse.csc_array(sparse.hstack(cols, format="csc"))
        ok, coef = _solved(span, t, y[np.ix_(slices, zs[on])].T, n_t, zneed, k)
        # (how to close each exposure for certain, as the dense checks do: see _fix)
        touch, free = (sparse.csr_array(rows.T > 0), span.free_rows()) if coef else (None, None)

        def how(i: int) -> tuple:
            return _support(t.data[t.indptr[i]:t.indptr[i + 1]], t.indices[t.indptr[i]:t.indptr[i + 1]]), touch, free

        zone_hits = [(j, *((coef[i][0], how(i)) if i in coef else (None, None))) for i, j in enumerate(inside, n_t) if ok[i]]
        hits = [(kinds[i], *coef[i], how(i)) for i in range(n_t) if ok[i] and i in coef]
        yield from _outcomes(a, fig, y, sup, k, breaks, before, slices, zs, on, zone_hits, hits)


def _solved(span: Span, t, yon: np.ndarray, n_t: int, zneed: np.ndarray, k: float) -> tuple[np.ndarray, dict]:
    """Which targets (columns of ``t``) follow, and the coefficients of those a closure
    needs: targets before ``n_t`` worth under ``k`` and above none at a slice (``yon``:
    the zones' figures, zones x slices), and zones marked in ``zneed``. Many targets at
    once: when the probes span the null space, which follow and their worth come from
    it and one solve per slice; else they are solved a few hundred at a time.
    """
    m = t.shape[1]
    first = np.arange(m) < n_t
    coef: dict = {}
    if m > 256 and span.spans():
        ok = np.concatenate([span.open(t[:, a:a + 65536]) for a in range(0, m, 65536)])  # (memory: m x probes)
        vals = np.asarray(t.T @ span.values(yon))
        need = np.flatnonzero(ok & ((first & ((vals > 1e-6) & (vals < k)).any(axis=1)) | zneed))
        for a in range(0, len(need), 256):
            _, b = span.solve(t[:, need[a:a + 256]])
            # (the worth from values(), exact for a target that follows, even where the
            # solve's coefficients fall short of TOL: they name the figures it rests on)
            coef.update((i, (c, vals[i])) for i, c in zip(need[a:a + 256].tolist(), b.T))
        return ok, coef
    ok = np.zeros(m, bool)
    for a in range(0, m, 256):
        o, b = span.solve(t[:, a:a + 256])
        ok[a:a + 256] = o
        vals = b.T @ yon
        need = o & ((first[a:a + 256] & ((vals > 1e-6) & (vals < k)).any(axis=1)) | zneed[a:a + 256])
        coef.update((a + i, (b[:, i], vals[i])) for i in np.flatnonzero(need))
    return ok, coef


def _outcomes(a, fig, y, sup, k, breaks, before, slices, zs, on, zone_hits, hits):
    """What follows from the zones ``zs[on]`` at the pattern's ``slices``: each other zone
    (``zone_hits``: its index in ``zs``, coefficients over ``on`` and closure, see
    :func:`_fix`) is ``("follows", zone, figure)``, or closed if its figure is hidden and
    under ``k`` or must not follow; each target (``hits``: kind, coefficients, its worth per
    slice, closure) under ``k`` and above none is closed.
    """
    yy = y[np.ix_(slices, zs[on])]  # slices x zones on
    for j, coef, how in zone_hits:
        # (a zone whose weights are all but none follows within the tolerance from nothing:
        # a recovery of none, where its figure is a trace of people, says nothing the plan
        # does not; it is not taken to follow)
        got = None if coef is None else yy @ coef
        for i, sl in enumerate(slices):
            f = fig[sl, zs[j]]
            if f < 0 or (got is not None and got[i] <= 1e-6 < a.obs[f] and f not in breaks):
                continue
            if (sup[f] and _TOL < a.obs[f] < k) or f in breaks:  # (coef: None only where no figure
                # of the zone is under k nor must not follow)
                yield from _fix(a, sup, fig, sl, coef, zs[on], "zone", before, how)
            else:
                yield "follows", int(zs[j]), int(f)
    for kind, beta, vals, how in hits:
        for si in np.flatnonzero((vals > 1e-6) & (vals < k)):
            yield from _fix(a, sup, fig, slices[si], beta, zs[on], kind, before, how)


def _fix(a: AuditInput, sup, fig, sl, beta, zones_on, kind, before, how=None):
    """What closes an exposure at slice ``sl`` that follows from the zones ``zones_on``
    with coefficients ``beta``.

    ``how``: the target's cells, which zones' weights touch each cell (cells x zones on,
    sparse) and which zones no dependency among the weights involves. Those
    of the latter with a coefficient are needed by every recovery: hiding one closes it
    for certain. Where there are none (more zones than cells: the weights are dependent),
    the figures of every zone with weight on one cell of the target are hidden (the cell
    that loses the fewest people): no recovery can then use that cell.

    Else (or ``how`` None): the published figure with the fewest people among those the
    coefficients use, else any published figure there of the zones that follow, else (all
    follow through their own tables) a must for the smallest. Nothing when a closure found
    before it in this pass has hidden a figure it needs (``before``: what was hidden when
    the exposures were found): the combination no longer holds, and the audit's next round
    checks again what is left.
    """
    used = np.abs(beta) > 1e-9
    if how is not None:
        tcells, touch, free = how
        need = used & free
        if not need.any():
            yield from _cut(a, sup, fig, sl, tcells, touch, zones_on, kind, before)
            return
        used = need
    own = fig[sl, zones_on[used]]
    own = own[own >= 0]
    if (sup[own] & ~before[own]).any():
        return
    for fs in (own, fig[sl, zones_on]):
        fs = fs[fs >= 0]
        open_ = fs[~sup[fs] & ~a.is_locked(fs)]
        if len(open_):
            f = int(open_[np.argmin(a.obs[open_])])
            yield kind, int(a.zone[f]), f
            return
    if len(own):
        f = int(own[np.argmin(a.obs[own])])
        yield "must", int(a.zone[f]), f


def _cut(a: AuditInput, sup, fig, sl, tcells, touch, zones_on, kind, before):
    """:func:`_fix`'s closure where no figure is needed by every recovery: hide the
    figures of every zone with weight on one cell of the target (``tcells``; ``touch``:
    cells x zones on, sparse), the cell whose figures hold the fewest people (a must for
    those known only through their own tables), so that cell enters no recovery and the
    target, which has weight there, no longer follows. Nothing when some cell's figures
    are all hidden in this pass already.
    """
    best, best_cost = None, np.inf
    for c in tcells:
        fs = fig[sl, zones_on[touch.indices[touch.indptr[c]:touch.indptr[c + 1]]]]
        if (fs < 0).any() or a.is_locked(fs).any():  # (a zone of none, or a figure that stays)
            continue
        if (sup[fs] & ~before[fs]).all():
            return  # (closed by another closure of this pass)
        cost = float(a.obs[fs[~sup[fs] | before[fs]]].sum())  # (a must costs a figure of its table too)
        if cost < best_cost:
            best, best_cost = fs, cost
    if best is None:  # (no cell can be cut: the coefficients' cheapest figure, next round checks again)
        yield from _fix(a, sup, fig, sl, np.ones(len(zones_on)), zones_on, kind, before)
        return
    for f in best[~sup[best]].tolist():
        yield kind, int(a.zone[f]), f
    for f in best[sup[best] & before[best]].tolist():
        yield "must", int(a.zone[f]), f


def _support(values: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """The cells where a target (``values`` over the cells, or at ``index``) has weight:
    a cut (:func:`_cut`) takes one of them out of every recovery.
    """
    values = np.asarray(values, float).reshape(-1)
    index = np.arange(len(values)) if index is None else np.asarray(index)
    top = np.abs(values).max() if len(values) else 0.0
    return index[np.abs(values) > 1e-3 * top]


def _pairs(wz) -> np.ndarray:
    """Pairs of cells (rows) that share a zone (column) of ``wz`` (dense or sparse), in
    ascending order.
    """
    on = sparse.csc_array(wz > 0)
    on.sort_indices()
    key = (on.shape, on.indptr.tobytes(), on.indices.tobytes())
    if key not in _PAIRS:  # (weights per period share their pattern: found once, --density period)
        n = on.shape[0]
        codes = [np.empty(0, np.int64)]
        for j in range(on.shape[1]):
            cs = on.indices[on.indptr[j]:on.indptr[j + 1]].astype(np.int64)
            x, y = np.triu_indices(len(cs), 1)
            codes.append(cs[x] * n + cs[y])
        u = np.unique(np.concatenate(codes))
        if len(_PAIRS) > 256:
            _PAIRS.clear()
        _PAIRS[key] = np.stack([u // max(n, 1), u % max(n, 1)], axis=1)
    return _PAIRS[key]


_PAIRS: dict = {}
