"""What the additive relations of a table tell of its hidden figures: an interval each (part
of the attacker's audit, :mod:`geozones.audit`).

A longer period is the mean (or, for events, the sum) of the shorter ones it holds, ``all``
the sum of its zone's origins, and a coarser origin the sum of its members. The attacker
who reads a week and four of its five days knows the fifth day to within the rounding of
five figures, and a hidden day of a published week is at most the week's total less the
other days' published values. The audit's programmes run one period (and origin) at a time
(:mod:`geozones.bounds`, :mod:`geozones.crossorigin`), so such a figure is not one of their
rows unless it is given to them: :func:`relation_bounds` gives every hidden figure the
interval its relations allow, by propagating each published figure's interval (what it
reads, plus or minus the slack) through every relation (interval arithmetic, repeated until
nothing narrows), and the programmes take a hidden figure with a finite interval as a row
between its bounds. A bound that leans on such a row is closed by suppressing a published
figure of its relations (:meth:`RelationBounds.source`).

A relation is taken only where the figures satisfy it (checked on the true figures): a
week apportioned with its own weights (``--density period``) is not the mean of its days'
figures, and no interval is drawn from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from ._arrays import ranges

__all__ = ["RelationBounds", "relation_bounds"]

_TOL = 1e-9


@dataclass
class RelationBounds:
    """The intervals the relations give every figure, and the relations themselves.

    Attributes
    ----------
    lo, hi : numpy.ndarray of float
        Per figure, the least and greatest value the published figures and the relations
        allow (a published figure: within its reading plus or minus the slack; ``inf``:
        unbounded above).
    new : numpy.ndarray of bool
        Per figure, whether the time relation narrows it: what a programme over one
        period's origins cannot know (it holds ``all`` and the coarser origins itself).
    people : numpy.ndarray of float
        Per figure, how many people it stands for in its relations: a mean's reading times
        the periods it holds (a week of days: seven times its mean), else its reading.
    incidence : scipy.sparse.csr_array
        Figures x relations: which figures each relation joins.
    drawn_with : numpy.ndarray of bool or None
        The suppressed figures when the intervals were drawn.
    """

    lo: np.ndarray
    hi: np.ndarray
    incidence: sparse.csr_array
    new: np.ndarray
    people: np.ndarray
    drawn_with: np.ndarray | None = None
    _members: sparse.csr_array | None = field(default=None, repr=False)  # (relations x figures, made on first use)

    def rows(self, sup: np.ndarray) -> np.ndarray:
        """Which suppressed figures are rows of the programmes: those the time relation
        bounds, alone or with the others.
        """
        return np.asarray(sup, bool) & self.new

    def relations_of(self, f: int) -> np.ndarray:
        """The relations that join figure ``f``."""
        return self.incidence.indices[self.incidence.indptr[f]:self.incidence.indptr[f + 1]]

    def source(self, f: int, sup: np.ndarray, locked: np.ndarray | None = None) -> int:
        """The published figure to suppress when a bound leans on hidden figure ``f``'s
        interval: one of the nearest published figures in its relations (through hidden
        ones where a relation holds none), the one with the fewest people (:attr:`people`:
        a day before its week, whose mean stands for the people of seven days); -1 when every
        such figure is locked (an earlier run published it), -2 when none is published or
        one that was published when the interval was drawn (:attr:`drawn_with`) is now
        suppressed: the interval is stale, and the next pass checks the figure again with
        fresh ones (a probe's run counted 68 hidden figures "bounded by earlier runs alone"
        that no programme over the published figures bounds).
        """
        sup = np.asarray(sup, bool)
        free = ~sup if locked is None else ~sup & ~np.asarray(locked, bool)
        if self._members is None:
            self._members = self.incidence.T.tocsr()
        inc, members = self.incidence, self._members
        seen = {int(f)}
        frontier = np.array([f], np.int64)
        locked_seen = False
        while len(frontier):  # (breadth first, over the few relations near f)
            rels = np.unique(inc.indices[ranges(inc.indptr, frontier)])
            reach = np.unique(members.indices[ranges(members.indptr, rels)])
            reach = reach[~np.isin(reach, np.fromiter(seen, np.int64, len(seen)))]
            cand = reach[free[reach]]
            if len(cand):
                return int(cand[np.argmin(self.people[cand])])
            locked_seen |= bool((~sup[reach]).any())
            seen.update(reach.tolist())
            frontier = reach[sup[reach]]  # (on through hidden figures; a locked one bounds, but cannot go)
        if locked_seen and self.drawn_with is not None:
            near = np.fromiter(seen, np.int64, len(seen))
            if (sup[near] & ~np.asarray(self.drawn_with, bool)[near]).any():
                return -2  # (suppressed since the interval was drawn: stale, not the earlier runs')
        return -1 if locked_seen else -2


def relation_bounds(a, sup: np.ndarray, passes: int = 20) -> RelationBounds:
    """Every figure's interval from the published figures through the table's relations
    (:func:`_propagate`), and where the time relation narrows it.

    Parameters
    ----------
    a : geozones.audit.AuditInput
        The figures.
    sup : numpy.ndarray of bool
        Suppressed figures (the others are published: their truth lies within what they
        read plus or minus ``a.slack``).
    passes : int, default 20
        Rounds of propagation at most (each narrows every interval its relations can; a
        chain of relations needs a round per link).

    Returns
    -------
    RelationBounds
    """
    sup = np.asarray(sup, bool)
    fig, rel, total, factor, is_time = _relations(a)
    n = len(a.zone)
    lo, hi = _propagate(a, sup, fig, rel, total, factor, passes)
    if is_time.any():
        on = ~is_time[rel]
        keep = np.unique(rel[on])
        o_lo, o_hi = _propagate(a, sup, fig[on], np.searchsorted(keep, rel[on]), total[on], factor[keep], passes)
        new = sup & ((lo > o_lo + 1e-6) | (hi < o_hi - 1e-6))
    else:
        new = np.zeros(n, bool)
    inc = sparse.csr_array((np.ones(len(fig)), (fig, rel)), shape=(n, max(len(factor), 1)))
    scale = np.ones(n)
    np.maximum.at(scale, fig[total], 1.0 / factor[rel[total]])
    return RelationBounds(lo, hi, inc, new, a.values(np.arange(n)) * scale, drawn_with=np.asarray(sup, bool).copy())


def _propagate(a, sup, fig, rel, total, factor, passes):
    """Intervals of every figure (``lo``, ``hi``) through the relations given (interval
    arithmetic, until nothing narrows or ``passes`` rounds).
    """
    n = len(a.zone)
    v = a.values(np.arange(n))
    lo = np.where(sup, 0.0, np.maximum(v - a.slack, 0.0))
    hi = np.where(sup, np.inf, v + a.slack)
    n_rel = len(factor)
    if n_rel:
        part = ~total
        tot_of = np.full(n_rel, -1, np.int64)
        tot_of[rel[total]] = fig[total]
        pf, pr = fig[part], rel[part]
        for _ in range(passes):
            plo, phi = lo[pf], hi[pf]
            inf = np.isinf(phi)
            s_lo = np.bincount(pr, weights=plo, minlength=n_rel)
            s_hi = np.bincount(pr, weights=np.where(inf, 0.0, phi), minlength=n_rel)
            n_inf = np.bincount(pr, weights=inf, minlength=n_rel)
            # the total from its parts; each part from the total less the others
            t_lo = factor * s_lo
            t_hi = np.where(n_inf > 0, np.inf, factor * s_hi)
            others_hi = np.where(n_inf[pr] - inf > 0, np.inf, s_hi[pr] - np.where(inf, 0.0, phi))
            p_lo = lo[tot_of[pr]] / factor[pr] - others_hi
            p_hi = hi[tot_of[pr]] / factor[pr] - (s_lo[pr] - plo)
            new_lo, new_hi = lo.copy(), hi.copy()
            np.maximum.at(new_lo, tot_of, t_lo)
            np.minimum.at(new_hi, tot_of, t_hi)
            np.maximum.at(new_lo, pf, p_lo)
            np.minimum.at(new_hi, pf, p_hi)
            moved = (new_lo > lo + _TOL * (1 + np.abs(lo))).any() or (new_hi < hi - _TOL * (1 + np.abs(np.where(np.isinf(hi), 0, hi)))).any()
            lo, hi = new_lo, new_hi
            if not moved:
                break
    return lo, hi


def _relations(a):
    """The table's additive relations that its figures satisfy: per entry, its figure, its
    relation, whether it is the relation's total; per relation, the factor (total = factor x
    the sum of its parts) and whether it is one of time.
    """
    figs, rels, totals, factors, times = [], [], [], [], []
    n_rel = 0

    def add(part_fig, part_key, tot_fig, tot_key, mean_ok: bool):
        nonlocal n_rel
        keys, t_at = np.unique(tot_key, return_index=True)
        if not len(keys):
            return
        tot = tot_fig[t_at]
        pos = np.searchsorted(keys, part_key)
        ok = pos < len(keys)
        ok[ok] = keys[pos[ok]] == part_key[ok]
        part_fig, pos = part_fig[ok], pos[ok]
        n_parts = np.bincount(pos, minlength=len(keys))
        s = np.bincount(pos, weights=a.obs[part_fig], minlength=len(keys))
        t = a.obs[tot]
        close = np.abs(t) * 1e-9 + 1e-6
        fac = np.ones(len(keys))
        if mean_ok:
            is_mean = (n_parts > 1) & (np.abs(s / np.maximum(n_parts, 1) - t) <= close)
            fac[is_mean] = 1.0 / n_parts[is_mean]
        good = (n_parts > 0) & (np.abs(fac * s - t) <= close)
        new = np.cumsum(good) - 1 + n_rel
        keep = good[pos]
        figs.extend([part_fig[keep], tot[good]])
        rels.extend([new[pos[keep]], new[good]])
        totals.extend([np.zeros(int(keep.sum()), bool), np.ones(int(good.sum()), bool)])
        factors.append(fac[good])
        times.append(np.full(int(good.sum()), mean_ok))
        n_rel += int(good.sum())

    n = len(a.zone)
    idx = np.arange(n)
    zone, lab, level, t = (np.asarray(v, np.int64) for v in (a.zone, a.lab, a.level, a.t))
    n_lab = int(lab.max()) + 2 if n else 1
    n_t = int(t.max()) + 2 if n else 1
    n_lv = int(level.max()) + 1 if n else 1
    # 'all' and a coarser origin: the sum of their origins, per zone and period
    cell = (zone * n_lv + level) * n_t + t
    if a.all_label >= 0:
        coarse = a.coarse()
        is_all = lab == a.all_label
        fine = ~is_all & ~coarse[lab]
        add(idx[fine], cell[fine], idx[is_all], cell[is_all], False)
        if a.group_of is not None:
            g = np.asarray(a.group_of, np.int64)
            has = ~is_all & (g[np.minimum(lab, len(g) - 1)] >= 0) & (lab < len(g))
            grp = np.where(has, g[np.minimum(lab, len(g) - 1)], -1)
            is_g = ~is_all & coarse[lab]
            add(idx[has], cell[has] * n_lab + grp[has], idx[is_g], cell[is_g] * n_lab + lab[is_g], False)
    # a longer period: the mean (or sum) of the periods one step shorter that it holds
    if a.linear_time:
        for lv in range(1, n_lv):
            child = np.asarray(a.parent[lv - 1], np.int64)
            par = np.asarray(a.parent[lv], np.int64)
            ok = (child >= 0) & (par >= 0)
            u, first = np.unique(child[ok], return_index=True)  # (each shorter period: the longer one holding its start)
            up = np.full(int(child.max()) + 1 if len(child) else 0, -1, np.int64)
            up[u] = par[ok][first]
            c = np.flatnonzero(level == lv - 1)
            c = c[t[c] < len(up)]
            c = c[up[t[c]] >= 0]
            p = np.flatnonzero(level == lv)
            add(c, (zone[c] * n_lab + lab[c]) * n_t + up[t[c]], p, (zone[p] * n_lab + lab[p]) * n_t + t[p], True)
    if not figs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0), np.zeros(0, bool)
    return (np.concatenate(figs).astype(np.int64), np.concatenate(rels).astype(np.int64), np.concatenate(totals),
            np.concatenate(factors), np.concatenate(times))
