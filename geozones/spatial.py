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

from .auditinput import AuditInput
from .bounds import slice_table
from .span import Span

__all__ = ["DENSE_LIMIT", "spatial_checks"]

_TOL = 1e-7


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
    # groups of zones that share cells
    adj = (w.T @ w) != 0
    n_comp, comp = sparse.csgraph.connected_components(adj, directed=False)
    for c in range(n_comp):
        zs = np.flatnonzero(comp == c)
        cells = np.unique(w[:, zs].tocoo().row)
        if not len(cells):
            continue
        rests = [(np.searchsorted(zs, o), np.searchsorted(zs, inn)) for o, inn in a.nested
                 if o in zs and all(i in zs for i in inn)]
        check = _dense if len(cells) <= DENSE_LIMIT and len(zs) <= DENSE_LIMIT else _sparse
        yield from check(a, w[cells][:, zs], zs, rests, known, fig, y, before, sup, k, breaks)


#: Groups of zones sharing cells up to this many zones and cells get the dense checks (an
#: SVD per pattern of zones that follow); larger ones the sparse ones (:mod:`geozones.span`).
DENSE_LIMIT = 4000


def _dense(a, wz, zs, rests, known, fig, y, before, sup, k, breaks):
    """:func:`spatial_checks`'s checks for one group, with an SVD per pattern of zones that follow."""
    wz = wz.toarray()
    pairs = _pairs(wz)
    patterns, p_inv = np.unique(known[:, zs], axis=0, return_inverse=True)
    p_inv = p_inv.reshape(-1)
    for p, pat in enumerate(patterns):
        on = np.flatnonzero(pat)
        if not len(on):
            continue
        u, s, _ = np.linalg.svd(wz[:, on], full_matrices=False)
        q = u[:, : int((s > s[0] * 1e-9).sum())] if s[0] > 0 else u[:, :0]
        pinv = np.linalg.pinv(wz[:, on])
        zone_hits = []
        off = np.flatnonzero(~pat)
        if len(off):  # other zones that follow from these
            coef = pinv @ wz[:, off]
            res = wz[:, off] - wz[:, on] @ coef
            ok_ = np.linalg.norm(res, axis=0) <= _TOL * (1 + np.linalg.norm(wz[:, off], axis=0))
            zone_hits = [(off[jj], coef[:, jj]) for jj in np.flatnonzero(ok_)]
        targets = []
        for ci in np.flatnonzero(np.abs((q * q).sum(axis=1) - 1.0) <= 1e-6):
            targets.append(("cell", np.eye(1, len(wz), ci)[0]))
        if len(pairs):
            qq = q[pairs[:, 0]] + q[pairs[:, 1]]
            for pi in np.flatnonzero(np.abs((qq * qq).sum(axis=1) - 2.0) <= 1e-6):
                e = np.zeros(len(wz))
                e[pairs[pi]] = 1.0
                targets.append(("pair of cells", e))
        for o, inn in rests:
            if pat[o] and pat[inn].all():
                targets.append(("rest of a zone", wz[:, o] - wz[:, inn].sum(axis=1)))
        hits = []
        for kind, e in targets:
            beta = pinv @ e
            if np.linalg.norm(wz[:, on] @ beta - e) <= 1e-6 * (1 + np.linalg.norm(e)):
                hits.append((kind, beta))
        yield from _outcomes(a, fig, y, sup, k, breaks, before, np.flatnonzero(p_inv == p), zs, on, zone_hits, hits)


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
    for p, pat in enumerate(patterns):
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
        ok, coef = _solved(span, sparse.hstack(cols, format="csc"), y[np.ix_(slices, zs[on])].T, n_t, zneed, k)
        zone_hits = [(j, coef[i][0] if i in coef else None) for i, j in enumerate(inside, n_t) if ok[i]]
        hits = [(kinds[i], *coef[i]) for i in range(n_t) if ok[i] and i in coef]
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
    (``zone_hits``: its index in ``zs`` and coefficients over ``on``) is ``("follows", zone,
    figure)``, or closed if its figure is hidden and under ``k`` or must not follow; each
    target (``hits``: kind, coefficients, and its worth per slice if known) under ``k`` and
    above none is closed.
    """
    yy = y[np.ix_(slices, zs[on])]  # slices x zones on
    for j, coef in zone_hits:
        for sl in slices:
            f = fig[sl, zs[j]]
            if f < 0:
                continue
            if (sup[f] and _TOL < a.obs[f] < k) or f in breaks:
                yield from _fix(a, sup, fig, sl, zs[on][np.abs(coef) > 1e-9], zs[on], "zone", before)  # (coef: None
                # only where no figure of the zone is under k nor must not follow)
            else:
                yield "follows", int(zs[j]), int(f)
    for kind, beta, *worth in hits:  # (the worth at each slice, when known already)
        vals = worth[0] if worth else yy @ beta
        for si in np.flatnonzero((vals > 1e-6) & (vals < k)):
            yield from _fix(a, sup, fig, slices[si], zs[on][np.abs(beta) > 1e-9], zs[on], kind, before)


def _fix(a: AuditInput, sup, fig, sl, support, zones_on, kind, before):
    """What closes an exposure at slice ``sl`` that follows from the zones ``support``:
    their published figure with the fewest people, else any published figure there of the
    zones that follow, else (all follow through their own tables) a must for the smallest.
    Nothing when a closure found before it in this pass has hidden a figure of ``support``
    (``before``: what was hidden when the exposures were found): the combination no longer
    holds, and the audit's next round checks again what is left.
    """
    own = fig[sl, support]
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
