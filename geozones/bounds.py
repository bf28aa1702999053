"""Bounds through shared cells: a hidden zone figure that published figures of its period
and origin bound under ``k`` (part of the attacker's audit, :mod:`geozones.audit`).

Exact recovery is not the only exposure: counts are not negative, so a published figure
caps every cell it holds, and a hidden figure whose cells are all capped is bounded. This
module finds the simple bounds (a cell's cap from one published figure, one published
figure holding all of a hidden figure's cells) with array arithmetic, per period and
origin; the attacker's full linear programme can combine more (docs/privacy.md).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ._arrays import ranges
from ._progress import noted
from .auditinput import TOL as _TOL
from .auditinput import hidden_targets

__all__ = ["capped_figures", "programme_bounded_figures", "slice_table"]


def slice_table(a, n_zones: int) -> tuple[np.ndarray, np.ndarray]:
    """Figures by slice (period length, period and origin) and zone.

    Returns
    -------
    (slice of each figure, figure index per slice and zone, ``-1`` where none)
    """
    s_code, s_inv = np.unique(_slice_key(a), return_inverse=True)
    s_inv = s_inv.reshape(-1)
    fig = np.full((len(s_code), n_zones), -1, np.int64)
    fig[s_inv, a.zone] = np.arange(len(a.zone))
    return s_inv, fig


def holding_pairs(wc: np.ndarray, wz: np.ndarray, wv: np.ndarray, n_cells: int, n_z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zone pairs ``(s, g)`` where ``g`` holds every cell of ``s``, with ``max_c W[c, s] / W[c, g]``.

    The pairs of zones that share cells are counted by a sparse product (a self-join of
    the weights' entries per cell grows with the square of the zones a cell reaches: 103 M
    rows and 10 GB for Milan's 10,000 squares of 235 m under 1,026 footprints); the ratios
    are looked up for the holding pairs alone.

    Parameters
    ----------
    wc, wz, wv : numpy.ndarray
        The weights' entries (cell, zone, weight); a (cell, zone) given twice is summed.
    n_cells, n_z : int
        The numbers of cells and zones.

    Returns
    -------
    tuple of numpy.ndarray
        ``s``, ``g`` (int64) and the ratio (float) per pair.
    """
    if not len(wc):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    by_zone = sparse.csr_array((wv, (wz, wc)), shape=(n_z, n_cells))  # (duplicates summed, indices sorted)
    by_zone.sum_duplicates()
    b = sparse.csr_array((np.ones(by_zone.nnz, np.int64), by_zone.indices, by_zone.indptr), shape=(n_z, n_cells))
    shared = b @ b.T  # cells each pair of zones shares
    shared.sort_indices()  # (pairs by s, then g: the culprit chosen among equals does not hang on the product's order)
    shared = shared.tocoo()
    n_of = np.diff(by_zone.indptr)
    held = (shared.row != shared.col) & (shared.data == n_of[shared.row])
    s, g = shared.row[held].astype(np.int64), shared.col[held].astype(np.int64)
    n = n_of[s]
    pair = np.repeat(np.arange(len(s)), n)
    at = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(by_zone.indptr[s], n)  # each pair's entries of s
    cells = by_zone.indices[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = by_zone.data[at] / np.asarray(by_zone[g[pair], cells]).ravel()
    return s, g, np.maximum.reduceat(ratio, np.cumsum(n) - n) if len(s) else np.zeros(0)


def capped_figures(a, sup: np.ndarray, k: float):
    """Suppressed figures that the published figures of their slice bound under ``k``.

    A published figure ``v`` of zone ``z`` caps each of its cells: ``x_c <= (v + 0.5) /
    W[c, z]`` (counts are not negative; the published figure is rounded). A suppressed
    figure of zone ``s`` is then at most ``sum_c W[c, s] * cap_c``; and when one published
    figure ``g`` holds every cell of ``s``, at most ``max_c (W[c, s] / W[c, g]) * (g + 0.5)``.
    For a figure above none and under ``k`` either bound under ``k`` tells the attacker the
    group is small: the published figure behind it is suppressed (yields ``("bounded by
    others", zone, figure)``), and the slice is checked again. Suppressing more only loosens
    the bounds, so one call is enough. A sufficient test: the attacker's full linear
    programme can combine more figures (docs/privacy.md).

    Parameters
    ----------
    a : geozones.audit.AuditInput
        The figures, with ``cells`` (the weights) set.
    sup : numpy.ndarray of bool
        Suppressed so far; updated as figures are yielded.
    k : float

    Yields
    ------
    tuple
        ``("bounded by others", zone, figure)``: the published figure to suppress.
    """
    small = hidden_targets(a.obs, sup, k)
    if not small.any():
        return
    w = sparse.coo_array(a.cells)
    n_cells, n_z = w.shape
    wc, wz, wv = w.row.astype(np.int64), w.col.astype(np.int64), w.data.astype(float)
    ps, pg, pr = holding_pairs(wc, wz, wv, n_cells, n_z)
    s_inv, fig = slice_table(a, n_z)
    # the weights' entries by cell and by zone, and the pairs by their held zone: gathered per slice
    by_cell = np.argsort(wc, kind="stable")
    cell_start = np.searchsorted(wc[by_cell], np.arange(n_cells + 1))
    by_zone = np.argsort(wz, kind="stable")
    zone_start = np.searchsorted(wz[by_zone], np.arange(n_z + 1))
    by_s = np.argsort(ps, kind="stable")
    ps, pg, pr = ps[by_s], pg[by_s], pr[by_s]
    pair_start = np.searchsorted(ps, np.arange(n_z + 1))
    for sl in _leaking_slices(a, fig, small, sup, np.unique(s_inv[small]), k, wc, wz, wv, by_cell, cell_start, ps, pg, pr, pair_start):
        f_of = fig[sl]
        has = f_of >= 0
        targets = np.flatnonzero(has & small[np.maximum(f_of, 0)])
        t_ent = by_zone[ranges(zone_start, targets)]  # the targets' entries
        cells, t_cell = _distinct(wc[t_ent], n_cells)  # each target entry's cell, in ``cells``
        c_ent = by_cell[ranges(cell_start, cells)]  # every entry of those cells
        c_first = np.r_[0, np.cumsum(cell_start[cells + 1] - cell_start[cells])[:-1]]
        p_idx = ranges(pair_start, targets)
        p_first = np.r_[0, np.cumsum(pair_start[targets + 1] - pair_start[targets])[:-1]]
        t_of = np.repeat(np.arange(len(targets)), zone_start[targets + 1] - zone_start[targets])
        n_pairs = pair_start[targets + 1] - pair_start[targets]
        c_zone, c_w, t_w = wz[c_ent], wv[c_ent], wv[t_ent]
        p_g, p_r = pg[p_idx], pr[p_idx]
        while True:
            pub = has & ~sup[np.maximum(f_of, 0)]
            if not pub.any():
                break
            v = np.where(pub, a.values(np.maximum(f_of, 0)) + a.slack, np.inf)
            cap = np.minimum.reduceat(v[c_zone] / c_w, c_first) if len(c_ent) else np.zeros(0)
            terms = t_w * cap[t_cell]
            by_sum = np.bincount(t_of, weights=np.where(np.isfinite(terms), terms, 1e300), minlength=len(targets))
            pair_b = np.where(pub[p_g], p_r * v[p_g], np.inf)
            by_one = np.full(len(targets), np.inf)
            if len(p_idx):
                red = np.minimum.reduceat(pair_b, p_first[n_pairs > 0])
                by_one[n_pairs > 0] = red
            leak = np.flatnonzero(np.minimum(by_sum, by_one) < k)
            if not len(leak):
                break
            chosen = set()  # every leaking target's culprit at once (one pass per slice, mostly)
            free = ~(has & a.is_locked(np.maximum(f_of, 0)))  # (figures an earlier run published stay)
            for i in leak.tolist():
                if by_one[i] <= by_sum[i]:
                    lo = p_first[i]
                    pb = np.where(free[p_g[lo:lo + n_pairs[i]]], pair_b[lo:lo + n_pairs[i]], np.inf)
                    g = int(p_g[lo + int(np.argmin(pb))]) if np.isfinite(pb).any() else -1
                else:
                    mine = np.flatnonzero(t_of == i)
                    c = int(wc[t_ent[mine[np.argmax(terms[mine])]]])  # the cell behind the largest term
                    ent = by_cell[cell_start[c]:cell_start[c + 1]]
                    cost = np.where(free[wz[ent]], v[wz[ent]] / wv[ent], np.inf)
                    g = int(wz[ent[np.argmin(cost)]]) if np.isfinite(cost).any() else -1  # the published figure that caps it
                if g >= 0:
                    chosen.add(g)
            if not chosen:
                break
            for g in sorted(chosen):
                f = int(f_of[g])
                sup[f] = True  # (the audit marks it too; here so that the slice is checked again)
                yield "bounded by others", g, f


def _leaking_slices(a, fig, small, sup, slices, k, wc, wz, wv, by_cell, cell_start, ps, pg, pr, pair_start, block: int = 64):
    """The slices where some target is bounded under ``k``: both bounds for blocks of slices
    at once (a screen, so that the loop above runs only where it has work).
    """
    n_z = fig.shape[1]
    n_cells = len(cell_start) - 1
    has_cell = np.diff(cell_start) > 0
    cells_on = np.flatnonzero(has_cell)
    ent = by_cell  # entries sorted by cell
    first = cell_start[cells_on]
    w_mat = sparse.csr_array((wv, (wc, wz)), shape=(n_cells, n_z))
    s_first = pair_start[:-1][np.diff(pair_start) > 0]
    s_zones = np.flatnonzero(np.diff(pair_start) > 0)
    out = []
    for lo in range(0, len(slices), block):
        sl = slices[lo:lo + block]
        f = fig[sl]
        has = f >= 0
        fi = np.maximum(f, 0)
        pub = has & ~sup[fi]
        v = np.where(pub, a.values(fi) + a.slack, np.inf)  # slices x zones
        cap = np.full((len(sl), n_cells), 1e300)
        if len(ent):
            cap[:, cells_on] = np.minimum(np.minimum.reduceat(v[:, wz[ent]] / wv[ent], first, axis=1), 1e300)
        by_sum = np.asarray(w_mat.T @ cap.T).T  # slices x zones: sum of the caps of each zone's cells
        bound = by_sum
        if len(ps):
            by_one = np.full((len(sl), n_z), np.inf)
            by_one[:, s_zones] = np.minimum.reduceat(pr[None, :] * v[:, pg], s_first, axis=1)
            bound = np.minimum(bound, by_one)
        target = has & small[fi]
        hit = (target & (bound < k)).any(axis=1)
        out.extend(sl[hit].tolist())
    return out


def programme_bounded_figures(a, sup: np.ndarray, k: float, max_cells: int = 20_000, block_cells: int = 20_000, hops: int = 1,
                              known=None, only=None):
    """Suppressed figures that the attacker's linear programme bounds under ``k``, per slice.

    For each period and origin, the attacker knows every published figure ``v_r`` of the
    slice to its rounding (``|W[:, r] . x - v_r| <= 0.5``) and that counts are not negative,
    and maximises a hidden figure ``W[:, s] . x``. A hidden figure above none and under
    ``k`` whose maximum is under ``k`` is exposed: the binding published figure with the
    fewest people is suppressed (yields ``("bounded by a programme", zone, figure)``) and the
    programme solved again, until the maximum reaches ``k``. This combines any number of
    published figures (what :func:`capped_figures` cannot); the audit runs it last, on what
    is left. Only where needed: a hidden figure with a cell that no published figure of its
    slice holds is unbounded; a first programme per slice lifts every target at once (each
    counted up to ``k``) and clears those it lifts to ``k``; the rest are maximised one per
    slice at a time. Slices are independent, so many are solved as one block-diagonal
    programme. Suppressing more only loosens the bounds, so one call is enough.

    Parameters
    ----------
    a : geozones.audit.AuditInput
        The figures, with ``cells`` (the weights) set.
    sup : numpy.ndarray of bool
        Suppressed so far; updated as figures are yielded.
    k : float
    max_cells : int, default 20,000
        Slices whose programme would hold more cells are left unchecked (yielded as
        ``("programme too large", -1, -1)``, counted in the audit's report).
    block_cells : int, default 20,000
        Cells per block-diagonal programme.
    known : tuple of numpy.ndarray, optional
        ``(lo, hi)`` per figure: what the attacker knows of hidden figures from the
        table's relations (:func:`geozones.relbounds.relation_bounds`); a hidden figure
        with a finite bound is a row of its slice's programme between them.
    only : numpy.ndarray of bool, optional
        Check only the slices of these figures (the others were checked as they are).

    Yields
    ------
    tuple
        ``("bounded by a programme", zone, figure)``: the published figure to suppress;
        ``("bounded through a relation", zone, figure)``: a hidden figure whose interval
        (``known``) the bound leans on, for the caller to suppress a figure of its relations.
    """
    small = hidden_targets(a.obs, sup, k)
    if only is not None:
        small &= _slices_of(a, only)
    if not small.any():
        return
    prog = _Programmes(a, sup, small, max_cells, known)
    for _ in range(prog.too_large):
        yield "programme too large", -1, -1
    # every target of a slice at once: those lifted to k are safe, and the solution is a
    # count of every cell that agrees with the published figures (a witness)
    pending = []
    blocks = list(prog.blocks(block_cells))
    for _, (lo, hi) in noted(blocks, lambda i: f"audit by programmes: {i} of {len(blocks)} blocks of slices checked"):
        reached = prog.joint(lo, hi, k)
        pending.extend(prog.slice_of(j) for j in np.flatnonzero(reached < k - 1e-6) + prog.t_start[lo])
    for _ in range(prog.unsolved):
        yield "programme unsolved", -1, -1
    # the rest one at a time, around the target: the cells its published figures hold may
    # move, every other cell stays at the witness (a value reached there is reached by a
    # count that agrees with everything published; one under k suppresses a binding figure)
    while pending:
        nxt = []
        n_pending = len(pending)
        for _, block in noted(_blocks([(s, i, _local(s, i, hops)) for s, i in pending], block_cells, size=lambda item: item[2][0].shape[1]),
                              lambda i: f"audit by programmes: {n_pending} figures to check one at a time, {i} blocks of them done"):
            for (s, i, loc), reached, tight in zip(block, *_solve_local([loc for _, _, loc in block], k), strict=True):
                if reached >= k - 1e-6:
                    continue
                rows = loc[4][tight] if len(tight) else loc[4]  # (no binding figure reported: every figure near it)
                rows = rows[~a.is_locked(s.figs[rows])]  # (figures an earlier run published stay)
                if not len(rows):
                    continue
                culprit = rows[np.lexsort((s.v[rows], ~s.known[rows]))[0]]  # (a hidden figure's bounds first: what the leak crosses)
                s.open[culprit] = False
                if s.known[culprit]:  # (a hidden figure's interval: the caller suppresses a figure of its relations)
                    yield "bounded through a relation", int(s.zones[culprit]), int(s.figs[culprit])
                else:
                    sup[int(s.figs[culprit])] = True
                    yield "bounded by a programme", int(s.zones[culprit]), int(s.figs[culprit])
                nxt.append((s, i))
        pending = nxt


def _slice_key(a) -> np.ndarray:
    """Each figure's slice (period length, period and origin) as one integer."""
    return (a.level.astype(np.int64) * (int(a.t.max()) + 1) + a.t) * (int(a.lab.max()) + 1) + a.lab


def _slices_of(a, mask: np.ndarray) -> np.ndarray:
    """The figures whose slice (period and origin) holds one of ``mask``'s."""
    key = _slice_key(a)
    return np.isin(key, key[np.asarray(mask, bool)])


class _Slice:
    """One slice's programme: published figures (and hidden ones their relations bound:
    ``known``) between ``lo`` and ``hi``, and targets, over the cells they hold.
    """

    def __init__(self, pub, tgt, v, figs, zones, x, lo, hi, known):
        self.pub, self.tgt, self.v, self.figs, self.zones, self.x = pub, tgt, v, figs, zones, x
        self.lo, self.hi, self.known = lo, hi, known
        self.pub_c = pub.tocsc()
        self.open = np.ones(len(v), bool)
        self.around = {}  # target -> its neighbourhood (see _local)


def _blocks(items, block_cells, size):
    """``items`` in runs of about ``block_cells`` cells (``size(item)``: its cells)."""
    out, n = [], 0
    for item in items:
        out.append(item)
        n += size(item)
        if n >= block_cells:
            yield out
            out, n = [], 0
    if out:
        yield out


class _Programmes:
    """Every slice's programme over the cells its published figures hold, built at once:
    published figures (rows of ``p``) and targets (rows of ``t``) over the slices' cells
    (columns), slice after slice, so a run of slices is a block-diagonal programme.
    """

    def __init__(self, a, sup, small, max_cells, known=None):
        w = sparse.csc_array(a.cells, dtype=float)
        n_cells, n_z = w.shape
        s_inv, fig = slice_table(a, n_z)
        f = fig[np.unique(s_inv[small])]
        fi = np.maximum(f, 0)
        is_row = ~sup
        if known is not None:  # (hidden figures their relations bound: rows between those bounds)
            on_known = sup & ((known[0] > _TOL) | np.isfinite(known[1]))
            is_row = is_row | on_known
        pj, pz = np.nonzero((f >= 0) & is_row[fi])  # published (slice, zone), slice after slice
        tj, tz = np.nonzero((f >= 0) & small[fi])  # targets
        count = np.diff(w.indptr)
        pe = ranges(w.indptr, pz)
        p_row = np.repeat(np.arange(len(pz)), count[pz])
        p_key = pj[p_row].astype(np.int64) * n_cells + w.indices[pe]
        cov = np.sort(p_key)
        cov = cov[np.r_[True, cov[1:] != cov[:-1]]] if len(cov) else cov  # (slice, cell) pairs held: the variables
        # a target is unbounded when a cell of its zone is held by no figure bounded from above
        held = sparse.csc_array((np.ones(w.nnz), w.indices, w.indptr), shape=w.shape)
        c_j, c_cell = np.divmod(cov, n_cells)
        capped = np.ones(len(pz), bool) if known is None else np.isfinite(np.where(sup, known[1], 0.0)[f[pj, pz]])
        cap_key = np.unique(p_key[capped[p_row]])
        cap_j, cap_cell = np.divmod(cap_key, n_cells)
        covered = sparse.csr_array((np.ones(len(cap_key)), (cap_j, cap_cell)), shape=(len(f), n_cells))
        n_held = (covered @ held).tocsr()  # (slice, zone): how many of its cells are held
        keep_t = np.asarray(n_held[tj, tz]).ravel() >= count[tz] - 0.5
        n_sl = len(f)
        n_var = np.bincount(c_j, minlength=n_sl)
        big = n_var > max_cells
        active = np.zeros(n_sl, bool)
        active[tj[keep_t]] = True
        self.too_large = int((active & big).sum())
        self.unsolved = 0  # (joint programmes HiGHS gave no answer for: their targets go one at a time)
        active &= ~big
        # only the active slices from here on
        keep_p = active[pj]
        keep_t &= active[tj]
        cov = cov[active[c_j]]
        p_new = np.full(len(pz), -1, np.int64)
        p_new[keep_p] = np.arange(int(keep_p.sum()))
        ent = keep_p[p_row]
        self.p = sparse.csr_array((w.data[pe[ent]], (p_new[p_row[ent]], np.searchsorted(cov, p_key[ent]))), shape=(int(keep_p.sum()), len(cov)))
        pj, pz, tj, tz = pj[keep_p], pz[keep_p], tj[keep_t], tz[keep_t]
        te = ranges(w.indptr, tz)
        t_row = np.repeat(np.arange(len(tz)), count[tz])
        t_key = tj[t_row].astype(np.int64) * n_cells + w.indices[te]
        self.t = sparse.csr_array((w.data[te], (t_row, np.searchsorted(cov, t_key))), shape=(len(tz), len(cov)))
        self.figs = f[pj, pz]
        self.zones = pz
        self.v = a.values(self.figs)
        self.known = sup[self.figs]  # (a hidden figure's row: its relations' bounds)
        self.lo, self.hi = self.v - float(a.slack), self.v + float(a.slack)
        if known is not None:
            self.lo[self.known], self.hi[self.known] = known[0][self.figs[self.known]], known[1][self.figs[self.known]]
        self.slices = np.flatnonzero(active)
        idx = np.searchsorted(self.slices, np.arange(n_sl))  # (slice -> its position among the active ones)
        n_act = len(self.slices)
        self.r_start = np.r_[0, np.cumsum(np.bincount(idx[pj], minlength=n_act))]
        self.c_start = np.r_[0, np.cumsum(n_var[self.slices])]
        self.t_start = np.r_[0, np.cumsum(np.bincount(idx[tj], minlength=n_act))]
        self.x = np.zeros(len(cov))
        pc = self.p.tocsc()
        self.single = (np.diff(pc.indptr) == 1) & (np.diff(self.t.tocsc().indptr) == 0)
        self.single_vars = np.flatnonzero(self.single)
        self.single_row = pc.indices[pc.indptr[:-1][self.single]]  # (each one's figure)
        self._slices: dict[int, _Slice] = {}

    def blocks(self, block_cells: int):
        """Runs of slices ``(first, end)`` holding about ``block_cells`` cells."""
        lo = 0
        for j in range(1, len(self.slices) + 1):
            if self.c_start[j] - self.c_start[lo] >= block_cells or j == len(self.slices):
                yield lo, j
                lo = j

    def joint(self, lo: int, hi: int, k: float) -> np.ndarray:
        """The programme lifting every target of slices ``lo:hi`` at once (each counted up
        to ``k``): sets the witness of their cells and returns the targets' values there.

        A cell that one published figure holds and no target is left out: it can make up
        any shortfall of its figure, so the figure only bounds the others from above; its
        count is set afterwards to what its figure lacks.
        """
        r0, r1, c0, c1, t0, t1 = self.r_start[lo], self.r_start[hi], self.c_start[lo], self.c_start[hi], self.t_start[lo], self.t_start[hi]
        p, t = self.p[r0:r1, c0:c1], self.t[t0:t1, c0:c1]
        single = self.single[c0:c1]
        sel = (self.single_vars >= c0) & (self.single_vars < c1)
        s_cells, s_rows = self.single_vars[sel] - c0, self.single_row[sel] - r0
        low = self.lo[r0:r1].copy()
        low[s_rows] = -np.inf
        try:
            xk = _lp(p[:, ~single], low, self.hi[r0:r1], t[:, ~single], k)[0]
        except _Unsolved:  # (no witness: every target is taken as bounded, and its own programme decides)
            self.unsolved += 1
            return np.full(t1 - t0, -np.inf)
        x = np.zeros(c1 - c0)
        x[~single] = xk
        short = np.maximum(self.lo[r0:r1] - p @ x, 0.0)  # (what each figure lacks: one of its own cells makes it up)
        rows, first = np.unique(s_rows, return_index=True)
        if len(rows):
            cells = s_cells[first]
            x[cells] = short[rows] / np.asarray(p[rows, cells]).ravel()
        self.x[c0:c1] = x
        return t @ x

    def slice_of(self, target: int):
        """``(slice programme, its target)`` for a target's position in ``t``."""
        j = int(np.searchsorted(self.t_start, target, side="right") - 1)
        if j not in self._slices:
            r0, r1, c0, c1, t0, t1 = self.r_start[j], self.r_start[j + 1], self.c_start[j], self.c_start[j + 1], self.t_start[j], self.t_start[j + 1]
            self._slices[j] = _Slice(self.p[r0:r1, c0:c1], self.t[t0:t1, c0:c1], self.v[r0:r1], self.figs[r0:r1], self.zones[r0:r1],
                                     self.x[c0:c1], self.lo[r0:r1], self.hi[r0:r1], self.known[r0:r1])
        return self._slices[j], int(target - self.t_start[j])


def _local(s: _Slice, i: int, hops: int):
    """Target ``i``'s programme around it: the cells within ``hops`` published figures of
    its own, the open figures holding them with the other cells fixed at the witness.
    Returns (figures x cells, lower, upper, the target's weights, the figures' positions).
    The neighbourhood is found once (figures only close later, so the first one holds
    every later one: a larger neighbourhood only gives the attacker more room).
    """
    if i not in s.around:
        cells = s.tgt[[i]].indices
        for _ in range(hops):
            rows = s.pub_c[:, cells].indices
            cells = np.union1d(cells, s.pub[np.unique(rows[s.open[rows]])].indices)
        rows = np.unique(s.pub_c[:, cells].indices)
        s.around[i] = (cells, rows, s.pub[rows].tocsr(), s.tgt[[i]][:, cells])
    cells, rows, sub, tgt = s.around[i]
    keep = s.open[rows]
    sub = sub[keep]
    a = sub[:, cells]
    fixed = sub @ s.x - a @ s.x[cells]
    hi = s.hi[rows[keep]] - fixed
    # (the witness is the solver's, feasible to its tolerance: a figure its fixed cells
    # already fill may come out a few millionths below none; it is none)
    hi = np.where((hi < 0) & (hi > -1e-6 * (1.0 + np.abs(fixed))), 0.0, hi)
    return a, s.lo[rows[keep]] - fixed, hi, tgt, rows[keep]


def _solve_local(locs, k):
    """Many targets' own programmes as one block-diagonal programme: per target, the value
    reached and the positions (in its own figures) of the binding ones.
    """
    p = sparse.block_diag([loc[0] for loc in locs], format="csr")
    t = sparse.block_diag([loc[3] for loc in locs], format="csr")
    try:
        x, bind = _lp(p, np.concatenate([loc[1] for loc in locs]), np.concatenate([loc[2] for loc in locs]), t, k)
    except _Unsolved:
        if len(locs) > 1:  # (each alone, so that one programme the solver cannot take costs only its own target)
            parts = [_solve_local([loc], k) for loc in locs]
            return [r[0][0] for r in parts], [r[1][0] for r in parts]
        return [-np.inf], [np.zeros(0, np.int64)]  # (taken as bounded: a figure near it is suppressed)
    reached = t @ x
    r_off = np.cumsum([0] + [loc[0].shape[0] for loc in locs])
    return list(reached), [np.flatnonzero(bind[r_off[j]:r_off[j + 1]]) for j in range(len(locs))]


def _lp(p, lo, hi, t, k):
    """``max sum(min(t @ x, k))`` over ``x >= 0`` with ``lo <= p @ x <= hi`` (HiGHS): the
    cells' counts at the optimum and which rows of ``p`` bind.
    """
    from scipy.optimize import linprog

    n_c, n_p, n_t = p.shape[1], p.shape[0], t.shape[0]
    # variables: cells, each row's value (within its bounds), each target's part up to k
    a_eq = sparse.hstack([p, -sparse.eye_array(n_p), sparse.csr_array((n_p, n_t))], format="csc")
    a_ub = sparse.hstack([-t, sparse.csr_array((n_t, n_p)), sparse.eye_array(n_t)], format="csc")
    bounds = np.zeros((n_c + n_p + n_t, 2))
    bounds[:n_c, 1] = np.inf
    bounds[n_c:n_c + n_p, 0], bounds[n_c:n_c + n_p, 1] = lo, hi
    bounds[n_c + n_p:, 1] = k
    # (HiGHS's choice now and then calls a programme infeasible that the true counts satisfy,
    # when weights span many orders of magnitude (the footprint model's, nationally): its
    # other methods, then the figures' bounds widened by a millionth, then a hundred-thousandth
    # of a person per person, which only gives the attacker that much more room)
    for method, widen in (("highs", 0.0), ("highs-ds", 0.0), ("highs-ipm", 0.0), ("highs", 1e-6), ("highs", 1e-5)):
        if widen:
            size = np.maximum(np.where(np.isfinite(lo), np.abs(lo), 0.0), np.where(np.isfinite(hi), np.abs(hi), 0.0))
            room = widen * np.maximum(1.0, size)
            bounds[n_c:n_c + n_p, 0], bounds[n_c:n_c + n_p, 1] = lo - room, hi + room
        r = linprog(np.r_[np.zeros(n_c + n_p), -np.ones(n_t)], A_ub=a_ub, b_ub=np.zeros(n_t), A_eq=a_eq, b_eq=np.zeros(n_p),
                    bounds=bounds, method=method)
        if r.status == 0:
            return r.x[:n_c], np.abs(r.eqlin.marginals) > 1e-9
    raise _Unsolved(f"the disclosure audit's linear programme failed: {r.message}")


class _Unsolved(RuntimeError):
    """HiGHS gave no answer: the callers take the programme's targets as bounded."""


def _distinct(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``x`` (integers in ``[0, n)``), sorted, and each value's
    position among them: ``np.unique(x, return_inverse=True)`` by counting, which is much
    faster than NumPy's paths for a few thousand values out of a known small range.
    """
    seen = np.bincount(x, minlength=n) > 0
    values = np.flatnonzero(seen)
    pos = np.cumsum(seen) - 1
    return values, pos[x]
