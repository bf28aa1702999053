"""The attacker's audit: nothing under k follows from everything a run publishes.

Complementary suppression (:mod:`geozones.privacy`) protects one additive relation at a
time. An attacker who knows the cell plan and the coverage model (both public) holds every
published figure as a linear equation over the cells' counts, and combines them all at
once: hours with their day and origins with their total in closed blocks, the estimate
column with the published market-share factors, zones against the zones that overlap
them. :func:`audit` finds what such an attacker recovers and suppresses more figures until
nothing under ``k`` is left to recover. docs/privacy.md states the attacker model.

The unknowns are each zone's figures at the shortest period and finest origin (its
*table*); a published figure is a row over them (a longer period sums or averages its
periods, ``all`` its origins, and its estimate weighs each origin by its factor). A zone's
table is audited on its own: published rows that leave one unknown open determine it; the
other rows span a space, and a target (a vector over the unknowns) follows from the
published figures exactly when its open part lies in that space (an orthonormal basis from
the rows' Gram matrix, per zone). Zones meet through the cells: a figure of a slice (period and origin) that
follows in several zones makes their combinations known, and a cell, a pair of cells
sharing a zone, the rest of a zone outside the zones inside it, or another zone follows
when its weights lie in the span of those zones' weights (per connected group of zones, per
pattern of zones that follow: :mod:`geozones.spatial`, with sparse certificates for groups of
any size). Targets under ``k`` people (and above none) are exposures;
each is closed by suppressing the published figure that loses the fewest people among
those that feed it, and the audit runs again until none is left.

Bounds, not only exact recovery (:mod:`geozones.bounds`): counts are not negative, so
published figures bound hidden ones. The cap test (one published figure capping each cell)
runs inside the rounds; the attacker's linear programme over every published figure of a
slice runs last, on what is left, and then the programme over a period's origins and its
``all`` together (:mod:`geozones.crossorigin`).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain

import numpy as np
from scipy import sparse

from .auditinput import AuditInput, level_cells, nested_codes, parents, zone_cells
from .bounds import capped_figures, programme_bounded_figures
from .crossorigin import origin_bounded_figures
from .maxima import maxima_to_hide
from .relbounds import relation_bounds
from .spatial import spatial_checks as _spatial
from .timechains import chain_bounded_figures

__all__ = ["AuditInput", "audit", "audit_record", "level_cells", "nested_codes", "parents", "zone_cells"]

_TOL = 1e-7


def _unknowns(a: AuditInput):
    """The unknowns (figures at the finest level) and every figure's row over them, per
    zone: ``(unk, blocks, fig_order, r_off, c_off)`` with the figures (rows, in
    ``fig_order``) and the unknowns (columns, ``unk``) sorted by zone, zone ``z`` holding
    rows ``r_off[z]:r_off[z+1]`` and columns ``c_off[z]:c_off[z+1]``.
    """
    n = len(a.zone)
    finest = (a.level == 0) if a.linear_time else np.ones(n, bool)
    if a.all_label >= 0 and (a.lab != a.all_label).any():
        finest &= a.lab != a.all_label
    finest &= ~a.coarse()[a.lab]  # (a coarser origin level's figure sums its members')
    unk = np.flatnonzero(finest)
    unk = unk[np.argsort(a.zone[unk], kind="stable")]
    fig_order = np.argsort(a.zone, kind="stable")
    fig_pos = np.empty(n, np.int64)
    fig_pos[fig_order] = np.arange(n)
    n_z = int(a.zone.max()) + 1 if n else 0
    r_off = np.searchsorted(a.zone[fig_order], np.arange(n_z + 1))
    c_off = np.searchsorted(a.zone[unk], np.arange(n_z + 1))
    n_lab = int(a.lab.max()) + 1 if n else 1
    n_lv = int(a.level.max()) + 1 if n else 1
    n_tmax = int(a.t.max()) + 1 if n else 1

    def key(z, lv, t, lab):
        return ((z.astype(np.int64) * n_lv + lv) * n_tmax + t) * n_lab + lab

    sorted_keys = key(a.zone, a.level, a.t, a.lab)
    order = np.argsort(sorted_keys, kind="stable")
    sorted_keys = sorted_keys[order]

    def find(k):
        pos = np.minimum(np.searchsorted(sorted_keys, k), len(sorted_keys) - 1)
        return np.where(sorted_keys[pos] == k, order[pos], -1)

    rows, cols = [fig_pos[unk].astype(np.int32)], [np.arange(len(unk), dtype=np.int32)]
    u_z, u_lv, u_t, u_lab = a.zone[unk], a.level[unk], a.t[unk], a.lab[unk]
    for lv in [0, *(range(1, n_lv) if a.linear_time else [])]:
        pt = a.parent[lv][u_t] if lv else u_t
        ok = pt >= 0
        cands = []
        if lv:  # the same origin at the longer period
            cands.append(find(key(u_z, lv, np.maximum(pt, 0), u_lab)))
        if a.all_label >= 0:  # 'all' at this period
            cands.append(find(key(u_z, lv if lv else u_lv, np.maximum(pt, 0), a.all_label)))
        if a.group_of is not None:  # the origin that holds it at the other level, at this period
            g = np.asarray(a.group_of, np.int64)[u_lab]
            f = find(key(u_z, lv if lv else u_lv, np.maximum(pt, 0), np.maximum(g, 0)))
            cands.append(np.where(g >= 0, f, -1))
        for f in cands:
            hit = ok & (f >= 0) & (f != unk)
            rows.append(fig_pos[f[hit]].astype(np.int32))
            cols.append(np.flatnonzero(hit).astype(np.int32))
            del f, hit
    r, c = np.concatenate(rows), np.concatenate(cols)
    del rows, cols
    blocks = sparse.coo_array((np.ones(len(r)), (r, c)), shape=(n, len(unk))).tocsr()
    return unk, blocks, fig_order, r_off, c_off


#: What the run says when a programme was too large to run (per kind of exposure counted).
_NOT_RUN = {
    "programme too large": "the disclosure audit's linear programme was not run for %d periods and origins whose published "
    "figures hold more cells than it takes: their hidden figures are checked for exact recovery and single-figure bounds "
    "only (docs/privacy.md)",
    "programme across origins too large": "the disclosure audit's linear programme across origins was not run for %d "
    "periods whose published figures hold more weights than it takes: their hidden figures are checked one origin at a "
    "time only (docs/privacy.md)",
    "programme unsolved": "the disclosure audit's solver could not settle %d of its joint linear programmes (their weights span "
    "too many orders of magnitude): the hidden figures they hold were checked one at a time, and any still unsettled was "
    "taken as exposed and a figure next to it suppressed; the published figures are safe, a few more are hidden than "
    "needed (nothing to do)",
    "bounded by earlier runs alone": "%d hidden figures of this run are bounded under k by what the earlier runs (--earlier) or "
    "the earlier parts of this run "
    "published alone: nothing this run hides can close that (those figures are out); docs/privacy.md",
}


#: Blocks of periods left out of the programme over several periods (:mod:`geozones.timechains`):
#: a note, not a warning; every period of them was checked on its own, and the intervals the
#: time relation puts on figures were rows there.
_NOT_JOINED = {
    "programme over periods too large": "the disclosure audit's programme over a longer period and its shorter ones at once was "
    "not run for %d block(s) of periods, too large for it: each period was checked on its own, with the bounds the time relation "
    "puts on its figures (docs/privacy.md)",
    "programme over periods: longer periods' figures only": "the disclosure audit's programme over a longer period and its "
    "shorter ones at once checked %d block(s) of periods, too large to target every figure, for the longer periods' hidden figures "
    "only: the shorter periods' were checked period by period (docs/privacy.md)",
    "programme over periods not consistent": "the disclosure audit's programme over a longer period and its shorter ones at "
    "once was not run for %d block(s) of periods whose longer figures are neither the mean nor the sum of the shorter ones' "
    "counts: each period was checked on its own (docs/privacy.md)",
}


_RECORD: contextvars.ContextVar[dict | None] = contextvars.ContextVar("geozones_audit_record", default=None)


@contextmanager
def audit_record() -> Iterator[dict]:
    """Collect, over every :func:`audit` run inside, what the audit could not check or close.

    Yields
    ------
    dict
        Per kind (a programme too large to run, one unsolved, a block of periods left out,
        figures that earlier runs alone bound), how many: what a run's manifest says under
        ``disclosure_control.audit_limits``. Empty when the audit checked everything.
    """
    record: dict = {}
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


def audit(a: AuditInput, sup: np.ndarray, k: float, *, max_rounds: int = 200) -> tuple[np.ndarray, dict]:
    """Suppress further figures until nothing under ``k`` follows from the published ones.

    Parameters
    ----------
    a : AuditInput
        The figures, as arrays.
    sup : numpy.ndarray of bool
        Figures suppressed so far (by the threshold and complementary suppression).
    k : float
        The threshold: no cell, pair of cells, rest of a zone, suppressed figure or part of
        a relation under ``k`` people may follow from the published figures.
    max_rounds : int, default 200
        Rounds of audit and suppression before giving up (an error: it has not happened).

    Returns
    -------
    tuple
        The new suppression mask (a copy) and a report: ``suppressed`` (figures the audit
        added), ``rounds``, ``exposures`` (found before the last round, per kind).
    """
    if not a.linear_time and (a.level > 0).any():
        # maxima: the shortest period's figures are audited as sums of cells and origins, and
        # a longer period's only as what it says of them (geozones.maxima); its origins' or
        # inner zones' maxima do not add up to it
        short = np.flatnonzero(a.level == 0)
        got, rep = audit(_shortest(a, short), np.asarray(sup, bool)[short], k, max_rounds=max_rounds)
        sup = np.asarray(sup, bool).copy()
        sup[short] = got
        over, kinds = maxima_to_hide(a, sup, k)
        if over.any():
            sup |= over
            rep["suppressed"] += int(over.sum())
            rep["exposures"].update(kinds)
            logging.getLogger("geozones").info("audit of maxima: %d more figures suppressed; %s", int(over.sum()),
                                               ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))
        return sup, rep
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):  # (small matrices: threads cost more than they give)
        sup, rep = _audit(a, sup, k, max_rounds)
    if a.cells is not None and a.bounds:  # bounds combining any published figures of a slice (last: more suppression only loosens)
        seen = rep["exposures"]
        _programmes(a, sup, k, rep)
        for kind, _z, f in chain_bounded_figures(a, sup, k):  # (last: the periods' own programmes have had their say)
            seen[kind] = seen.get(kind, 0) + 1
            rep["suppressed"] += f >= 0
        log, record = logging.getLogger("geozones"), _RECORD.get()
        for kinds, say in ((_NOT_RUN, log.warning), (_NOT_JOINED, log.info)):
            for kind, message in kinds.items():
                if seen.get(kind):
                    say(message, seen[kind])
                    if record is not None:
                        record[kind] = record.get(kind, 0) + int(seen[kind])
    if rep["suppressed"]:  # (what the audit found, per kind: the operator's data team reads why figures went)
        logging.getLogger("geozones").info("audit: %d more figures suppressed in %d rounds; exposures found: %s", rep["suppressed"],
                                           rep["rounds"], ", ".join(f"{kind} {n}" for kind, n in sorted(rep["exposures"].items())))
    return sup, rep


def _programmes(a: AuditInput, sup: np.ndarray, k: float, rep: dict) -> None:
    """The attacker's programmes (per slice, then across a period's origins), with every
    hidden figure that the table's relations bound as a row (:mod:`geozones.relbounds`),
    until they suppress nothing more. A bound leaning on such a row suppresses a published
    figure of its relations; each figure they suppress is a hidden one from then on, with
    the interval its relations give it: the programmes run again over the slices and
    periods where such a figure is a row again (suppressing only widens the intervals, so
    a slice checked before holds, and this ends).
    """
    seen = rep["exposures"]
    only = None
    known = relation_bounds(a, sup)
    while True:
        before = sup.copy()
        freed = np.zeros(len(sup), bool)  # (hidden figures whose rows a programme let go: checked again with their new bounds)
        widened = np.zeros(known.incidence.shape[1], bool)  # (relations a figure hidden in this pass loosens)
        on = known.rows(sup)
        iv = (np.where(on, known.lo, 0.0), np.where(on, known.hi, np.inf))
        for kind, _z, f in chain(_grouped(a, sup, lambda b, s, idx: programme_bounded_figures(b, s, k, known=_take(iv, idx),
                                                                                              only=_take(only, idx))),
                                 origin_bounded_figures(a, sup, k, known=iv, only=only)):  # (weights per period: its own, cell_groups)
            if only is not None and kind in _NOT_RUN and f < 0:  # (said in the first pass: a slice checked again is not counted twice)
                continue
            if kind == "bounded through a relation":
                freed[f] = True
                near = known.relations_of(f)
                if widened[near].any():  # (a figure hidden in this pass loosens its interval already: the next pass checks it
                    continue  # with fresh ones; one suppression per relation and pass, not one per figure it holds)
                f = known.source(f, sup, a.locked)
                if f == -1:
                    kind = "bounded by earlier runs alone"
                elif f >= 0:
                    sup[f] = True
                    widened[near] = widened[known.relations_of(f)] = True
            seen[kind] = seen.get(kind, 0) + 1
            if f >= 0:
                rep["suppressed"] += 1
        if (sup == before).all():
            return
        # (intervals only widen as more is hidden: a slice checked with the old ones holds; it
        # is checked again only where a figure it had as published is now a row of bounds)
        known = relation_bounds(a, sup)
        only = ((sup & ~before) | freed) & known.rows(sup)
        if not only.any():
            return


def _take(v, idx):
    """``v`` (an array, a tuple of arrays, or None) at positions ``idx`` (None: all)."""
    if v is None or idx is None:
        return v
    return tuple(x[idx] for x in v) if isinstance(v, tuple) else v[idx]


def _shortest(a: AuditInput, idx: np.ndarray) -> AuditInput:
    """The figures ``idx`` of the shortest period alone (their weights and groups kept)."""
    from dataclasses import replace

    def take(v):
        return None if v is None else np.asarray(v)[idx]

    groups = None if a.cell_groups is None else (np.asarray(a.cell_groups[0])[idx], a.cell_groups[1])
    return replace(a, zone=a.zone[idx], level=a.level[idx], t=a.t[idx], lab=a.lab[idx], obs=a.obs[idx], est=a.est[idx],
                   parent=a.parent[:1], shown=take(a.shown), locked=take(a.locked), cell_groups=groups)


#: An audit running longer than this (seconds) notes each round it starts.
_SLOW_S = 30.0


def _audit(a: AuditInput, sup: np.ndarray, k: float, max_rounds: int) -> tuple[np.ndarray, dict]:
    sup = np.asarray(sup, bool).copy()
    before = sup.copy()
    seen: dict[str, int] = {}

    def report(rounds: int) -> dict:
        return {"suppressed": int((sup & ~before).sum()), "rounds": rounds, "exposures": seen}

    if not len(a.zone):
        return sup, report(0)
    unk, blocks, fig_order, r_off, c_off = _unknowns(a)
    u_obs = a.obs[unk]
    ratio = np.divide(a.est[unk], u_obs, out=np.full(len(unk), np.nan), where=u_obs > 0)
    # a figure of none: its origin's factor (the manifest publishes it), from the other figures
    labs = a.lab[unk]
    for lab in np.unique(labs[np.isnan(ratio)]):
        known_r = ratio[(labs == lab) & ~np.isnan(ratio)]
        ratio[(labs == lab) & np.isnan(ratio)] = np.median(known_r) if len(known_r) else np.nan
    # (an origin with no one anywhere: its factor is not in the figures; the attacker may
    # know it, so its figures count as known, the worst case whatever the factor)
    zero_known = np.isnan(ratio)
    ratio[zero_known] = 1.0
    fig_by_zone = [fig_order[r_off[z]:r_off[z + 1]] for z in range(len(r_off) - 1)]
    unk_by_zone = [np.arange(c_off[z], c_off[z + 1]) for z in range(len(c_off) - 1)]

    def block(z: int) -> sparse.csr_array:
        return blocks[r_off[z]:r_off[z + 1], c_off[z]:c_off[z + 1]].tocsr()

    extra: dict[int, frozenset] = {}  # zone -> its figures that follow from other zones
    must: dict[int, set] = {}  # zone -> its figures that must not follow
    breaks: set = set()  # figures that must not follow from other zones
    derivable = np.zeros(len(a.zone), bool)
    dirty = set(np.unique(a.zone).tolist())
    gauss = np.random.default_rng(0).standard_normal((len(unk), 3))  # (signatures of residuals, for pairs)
    peeled = None
    capped = False
    if not a.estimates:  # zones where no two hidden figures share a published row: done here, all at once
        d_rows, need, peeled = _fast_pass(a, blocks, fig_order, zero_known, sup, k)
        derivable[fig_order] = d_rows
        dirty = set(np.flatnonzero(need).tolist())
    started = time.perf_counter()
    for rnd in range(max_rounds):
        stuck_any = False
        n_sup = int(sup.sum())
        if rnd and time.perf_counter() - started > _SLOW_S:  # (a long audit says how far it is)
            logging.getLogger("geozones").info("audit: round %d, %d more figures suppressed so far (%.0f s)", rnd + 1,
                                               int((sup & ~before).sum()), time.perf_counter() - started)
        for z in sorted(dirty):
            figs, cols = fig_by_zone[z], unk_by_zone[z]
            first = peeled is not None and rnd == 0  # (the pass over all zones has peeled this table already)
            while True:
                d, hits, stuck = _zone_pass(a, block(z), figs, cols, u_obs, ratio, sup, k, extra.get(z, frozenset()), must.get(z, set()),
                                            zero_known[cols], gauss[cols], peeled[cols] if first else None)
                first = False
                derivable[figs] = d
                if stuck:  # they follow only with figures known from other zones: those must not follow
                    new = set(extra.get(z, ())) - breaks
                    if new:
                        breaks |= new
                        stuck_any = True
                    elif not hits:  # (nothing left to do inside: hide the zone's smallest published figure)
                        open_ = figs[~sup[figs] & ~a.is_locked(figs)]
                        if len(open_):
                            hits = [("suppressed figure", int(open_[np.argmin(a.obs[open_])]))]
                if not hits:
                    break
                for kind, f in hits:
                    seen[kind] = seen.get(kind, 0) + 1
                    sup[f] = True
        if a.cells is None:
            return sup, report(rnd + 1)
        if int(sup.sum()) != n_sup and any(extra.values()):
            # figures known from other zones may rest on figures now hidden: again from none
            dirty = {z for z, fs in extra.items() if fs}
            extra.clear()
            continue
        n_sup = int(sup.sum())
        follows: dict[int, set] = {}
        dirty = set()
        if not capped and a.bounds:  # bounds, not only exact recovery (once: later suppressions only loosen them)
            capped = True
            for kind, z, f in _grouped(a, sup, lambda b, s, _: capped_figures(b, s, k)):
                seen[kind] = seen.get(kind, 0) + 1
                sup[f] = True
                dirty.add(z)
        for kind, z, f in _grouped(a, sup, lambda b, s, idx: _spatial(b, derivable if idx is None else derivable[idx], s, k,
                                                                        breaks if idx is None else _local(idx, breaks))):
            if kind == "follows":
                follows.setdefault(z, set()).add(f)
                continue
            if kind == "must":
                if f not in must.setdefault(z, set()):
                    must[z].add(f)
                    dirty.add(z)
                continue
            seen[kind] = seen.get(kind, 0) + 1
            sup[f] = True
            dirty.add(z)
        if int(sup.sum()) != n_sup:
            dirty |= {z for z, fs in extra.items() if fs}
            extra.clear()
        else:  # (between suppressions they only grow, so this ends)
            for z, fs in follows.items():
                if not fs <= extra.get(z, frozenset()):
                    extra[z] = extra.get(z, frozenset()) | fs
                    dirty.add(z)
        if not dirty and not stuck_any:
            return sup, report(rnd + 1)
    raise RuntimeError("the disclosure audit did not converge")


def _grouped(a: AuditInput, sup: np.ndarray, check):
    """``check(a, sup, positions)`` (a generator of ``(kind, zone, figure)``) over each
    group of figures that share weights (:meth:`AuditInput.by_cells`), the figures' positions
    mapped back to ``a``'s and ``sup`` (and the group's own copy, which ``check`` reads
    on) updated with each figure it suppresses (its kinds other than ``follows`` and
    ``must``). Positions None: all figures, ``sup`` itself.
    """
    if a.cell_groups is None:
        yield from check(a, sup, None)
        return
    for idx, sub in a.by_cells():
        local = sup[idx]
        for kind, z, f in check(sub, local, idx):
            if f >= 0:
                if kind not in ("follows", "must"):
                    local[f] = True
                    sup[idx[f]] = True
                f = int(idx[f])
            yield kind, z, f


def _local(idx: np.ndarray, figures: set) -> set:
    """The positions within ``idx`` of ``figures``."""
    return set(np.flatnonzero(np.isin(idx, np.fromiter(figures, np.int64, len(figures)))).tolist()) if figures else set()


def _fast_pass(a: AuditInput, blocks, fig_order, zero_known, sup, k):
    """The zone passes of every zone at once, as far as they need no basis: published rows
    that leave one figure open determine it, over all zones together; a figure follows when
    none of its parts is left open. Returns that per figure (in ``fig_order``) and the
    zones that need their own pass (a published row with two open parts, or a suppressed
    figure under k that follows).
    """
    zone_r = a.zone[fig_order]
    pub = ~sup[fig_order]
    eq = blocks[pub].tocsr()
    known = np.asarray(zero_known, bool).copy()
    while True:
        cnt = eq @ (~known).astype(float)
        single = np.flatnonzero(cnt == 1)
        if not len(single):
            break
        rows = eq[single].tocsr()
        known[rows.indices[~known[rows.indices]]] = True
    open_ = (~known).astype(float)
    need = np.zeros(int(a.zone.max()) + 1, bool)
    need[zone_r[pub][(eq @ open_) >= 2]] = True
    d = (blocks @ open_) == 0
    val = a.obs[fig_order]
    need[zone_r[~pub & d & (val > _TOL) & (val < k)]] = True
    return d, need, known


def _zone_pass(a, sub, figs, cols, u_obs, ratio, sup, k, extra, must, preknown, gauss, peeled=None):
    """One zone's table (``sub``: its figures x its unknowns): which of its figures follow
    from the published ones, and the exposures, each with the figure to suppress (the one
    losing fewest people).
    """
    n_f, n_u = sub.shape
    pub = ~sup[figs]
    if not pub.any() and not extra:  # nothing published: only what is known already follows
        inside = sub @ (~np.asarray(preknown, bool)).astype(float)
        return inside == 0, [], []
    known_row = pub | np.isin(figs, list(extra)) if extra else pub.copy()
    rows = [sub[known_row]]
    multi = np.diff(sub.indptr) > 1
    est_rows = known_row & multi & (a.obs[figs] > 0) & a.estimates
    if est_rows.any():  # (a row whose parts share one factor: its estimate is its count times it)
        r_vals = ratio[cols][sub.indices]
        starts = sub.indptr[:-1][multi]
        spread = np.zeros(n_f)
        spread[multi] = np.maximum.reduceat(r_vals, starts) - np.minimum.reduceat(r_vals, starts)
        est_rows &= spread > 1e-12 * np.maximum(1.0, np.abs(ratio[cols]).max())
    if est_rows.any():  # the estimate of a figure over several unknowns weighs them by their factors
        rows.append(sub[est_rows] @ sparse.diags_array(ratio[cols]))
    eq = sparse.vstack(rows).tocsr()
    known = np.asarray(preknown if peeled is None else peeled, bool).copy()
    while peeled is None:  # a row with one open unknown determines it
        open_ = eq[:, ~known] if (~known).any() else None
        if open_ is None:
            break
        cnt = np.diff(open_.tocsr().indptr)
        single = np.flatnonzero(cnt == 1)
        if not len(single):
            break
        newly = np.flatnonzero(~known)[np.unique(open_[single].tocoo().col)]
        known[newly] = True
    hidden = np.flatnonzero(~known)
    basis = None  # an orthonormal basis of the rows' span, hidden x r, as h.T @ m (never made whole: hours x origins of a quarter made it GBs)
    if len(hidden):
        h = eq[:, hidden].tocsr()
        h = h[np.diff(h.indptr) > 0]
        if h.shape[0]:
            # from the rows' Gram matrix (rows are few)
            w, u = np.linalg.eigh((h @ h.T).toarray())
            big = w > max(w.max(), 0.0) * 1e-12
            basis = (sparse.csr_array(h.T), u[:, big] / np.sqrt(w[big])) if big.any() else None
    open_part = sub[:, hidden].tocsr() if len(hidden) else None
    if open_part is None:
        d = np.ones(n_f, bool)
    else:
        vv = np.bincount(np.repeat(np.arange(n_f), np.diff(open_part.indptr)), weights=open_part.data ** 2, minlength=n_f)
        proj = _norms(open_part @ basis[0], basis[1]) if basis is not None else np.zeros(n_f)
        d = vv - proj <= 1e-9 * (1.0 + vv)
    val = a.obs[figs]
    hits = []
    fig_pub_val = np.where(pub & ~a.is_locked(figs), val, np.inf)
    u_val = u_obs[cols]

    n_members = np.diff(sub.indptr)

    def cheapest(cand: np.ndarray, within: bool = False) -> int | None:
        """The published figure with the fewest people among those that feed the unknowns
        ``cand``: with ``within``, the figures made of them alone (a relation's own parts
        and total); else every figure sharing a relation with them.
        """
        col = np.zeros(n_u)
        col[cand] = 1.0
        inside = sub @ col
        if within:
            touch = (inside > 0) & (inside == n_members)
        else:
            near = np.asarray((sub[inside > 0].T @ np.ones(int((inside > 0).sum())))).ravel() > 0
            touch = (sub @ near.astype(float)) > 0
        cost = np.where(touch, fig_pub_val, np.inf)
        i = int(np.argmin(cost)) if len(cost) else 0
        return int(figs[i]) if len(cost) and np.isfinite(cost[i]) else None

    # 1. a suppressed figure under k that follows
    bad = np.flatnonzero(~pub & d & (val > _TOL) & (val < k))
    must_idx = np.flatnonzero(np.isin(figs, list(must)) & d) if must else np.array([], int)
    stuck = []
    for i in np.unique(np.concatenate([bad, must_idx])):
        support = sub[[i]].indices
        f = cheapest(support)
        if f is not None:
            hits.append(("suppressed figure", f))
        else:
            stuck.append(int(figs[i]))
    # 2. the open part of a published row under k (each of its unknowns is then under k)
    if len(hidden):
        ob = eq[: rows[0].shape[0]][:, hidden]
        rem = ob @ u_val[hidden]
        has = np.diff(ob.tocsr().indptr) > 0
        low = np.flatnonzero(has & (rem > _TOL) & (rem < k))
        for i in low:
            row_members = hidden[ob.indices[ob.indptr[i]:ob.indptr[i + 1]]]
            full = eq[[i]].indices  # the relation's parts, open and known
            f = cheapest(full, within=True) if len(full) else None
            if f is None:
                f = cheapest(row_members)
            if f is not None:
                hits.append(("open part of a relation", f))
        # 3. pairs of open unknowns under k that follow together: e_i + e_j lies in the span
        # when their residuals off the span are opposite; found through random signatures
        # of the residuals (sorted, matched, then checked exactly), over all pairs at once
        if basis is not None and basis[1].shape[1]:
            val_h = u_val[hidden]
            g = gauss[hidden]
            ht, m = basis
            sig = g - ht @ (m @ (m.T @ (ht.T @ g)))
            alone = np.abs(sig).max(axis=1) <= 1e-7
            cand = np.flatnonzero((val_h < k) & ~alone)
            if len(cand) >= 2:
                order = cand[np.argsort(sig[cand, 0], kind="stable")]
                first = sig[order, 0]
                lo = np.searchsorted(first, -sig[order, 0] - 1e-7)
                hi = np.searchsorted(first, -sig[order, 0] + 1e-7)
                n_m = hi - lo
                xi = np.repeat(np.arange(len(order)), n_m)
                yj = lo[xi] + (np.arange(len(xi)) - np.repeat(np.cumsum(n_m) - n_m, n_m))
                x, y = order[xi], order[yj]
                keep = (x < y) & (np.abs(sig[x] + sig[y]).max(axis=1) <= 1e-6)
                x, y = x[keep], y[keep]
                sv = val_h[x] + val_h[y]
                ok = (sv > _TOL) & (sv < k) & (np.abs(_norms(ht[x] + ht[y], m) - 2.0) <= 1e-6)
                for xx, yy in zip(x[ok].tolist(), y[ok].tolist()):
                    f = cheapest(hidden[[xx, yy]])
                    if f is not None:
                        hits.append(("pair of figures", f))
    if hits:  # one suppression per exposure, the cheapest first; the pass runs again
        uniq = {}
        for kind, f in hits:
            uniq.setdefault(f, kind)
        hits = [(kind, f) for f, kind in uniq.items()]
    return d, hits, stuck


def _norms(g, m: np.ndarray, cells: int = 4_000_000) -> np.ndarray:
    """Per row of the sparse ``g``, the squared norm of ``g @ m``, a block of rows at a time
    (about ``cells`` numbers held at once): with ``g`` rows over the hidden unknowns times
    ``ht`` of the span's basis ``(ht, m)``, their projections' squared norms.
    """
    g = sparse.csr_array(g)
    out = np.empty(g.shape[0])
    step = max(1, cells // max(1, m.shape[1]))
    for a in range(0, g.shape[0], step):
        block = g[a:a + step] @ m
        out[a:a + step] = (block * block).sum(axis=1)
    return out
