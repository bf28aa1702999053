"""Bounds over a longer period and all its shorter ones at once (part of the attacker's
audit, :mod:`geozones.audit`).

The audit's programmes run one period at a time (:mod:`geozones.bounds`,
:mod:`geozones.crossorigin`), with the time relation between figures as intervals
(:mod:`geozones.relbounds`). A cell's count of a longer period is the mean (or, for events,
the sum) of its counts in the shorter periods, whatever weights each period's figures were
apportioned with (``--density period``), so an attacker can chain one cell's counts through
several periods: a cell's people at least so many in one hour (that hour's figures
across origins say so) lift the day's mean of that cell, which bounds another zone's
hidden day. No figure's interval holds that link. Here one programme holds every figure of
a *block* (a longest period and the shorter periods it holds) over the counts per cell,
shortest period and origin: the attacker's own, as ``tests/attacker.py`` writes it.

The programme is :mod:`geozones.crossorigin`'s over "cells" that are (shortest period,
cell) pairs: a figure of a longer period reads its cells in each shorter period it holds,
at its weight over their number (a mean) or at its weight (a sum). Which of the two holds is
checked on the true figures: with one set of weights, each longer figure must be the mean
(or sum) of its shorter ones; with a set per period, a programme must find counts that give
every figure its value. A block where neither holds is not checked, and the run says how
many. A block whose figures hold more weights than ``max_entries`` is not checked either,
and the run notes how many: the demo's quarter of 92 days is such a block (a chain through
92 days' counts moves each day's bound by a 92nd; the intervals between figures of
:mod:`geozones.relbounds` still hold where the time relation holds between figures).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .auditinput import AuditInput, hidden_targets
from .crossorigin import consistent, culprits

__all__ = ["chain_bounded_figures"]


def chain_bounded_figures(a: AuditInput, sup: np.ndarray, k: float, max_entries: int = 200_000,
                          max_long_entries: int = 600_000) -> Iterator[tuple[str, int, int]]:
    """Suppressed figures that the programme over a block of periods bounds under ``k``.

    Parameters
    ----------
    a : geozones.audit.AuditInput
        The figures, with ``cells`` (the weights) set; nothing is done for a table of one
        period length, or of maxima (``linear_time`` False).
    sup : numpy.ndarray of bool
        Suppressed so far; updated as figures are yielded.
    k : float
    max_entries : int, default 200,000
        Blocks whose figures hold more weights (cells times the shorter periods they
        hold times their origins, over all of them) are left unchecked. The cost grows
        faster than the size where every zone holds every cell (footprints): on the demo's
        inputs, two days and their quarter take 0.3 s for the 14 neighbourhoods (102,000
        weights), 1.4 s with the 3 centre zones (132,000), 3.9 s with the 18 shopping areas
        instead (167,000) and 5.2 s for all 34 zones (197,000), against 4.4 s for the whole
        run of all 34 without this programme.
    max_long_entries : int, default 600,000
        Blocks over ``max_entries`` and up to this many weights are checked with the
        longer periods' hidden figures as the only targets (every figure of the block still
        a row): a probe's attacker found no day bounded through 92 days and their quarter,
        but a hidden quarter figure bounded at 28.1 (k 30) that the quarter alone left at
        36.7. The demo's quarter of 92 days as dailies over 34 zones and 4 origins
        (Voronoi, 583,000 weights) takes 12 s more so (22 s); the demo itself (footprint
        with a density per day, 20 origins: 9.1 M) is left unchecked, as before. Up to
        stop 49 this was 2,000,000: hours over days stay above 600,000 (19 Brussels
        communes, 300 cells, 6 origins: 2 days 492,000 weights, 4 days 976,000), and the
        programme over a week of such hours had not ended after 18 minutes.

    Yields
    ------
    tuple
        ``("bounded over several periods", zone, figure)``: the published figure to
        suppress; ``("programme over periods too large", -1, -1)`` and ``("programme over
        periods not consistent", -1, -1)`` per block left unchecked;
        ``("programme over periods: longer periods' figures only", -1, -1)`` per block
        checked for its longer periods' hidden figures alone.
    """
    if a.cells is None or not a.linear_time or len(a.parent) < 2 or not (a.level > 0).any():
        return
    n_s = len(a.parent[0])
    block, members = _blocks(a.parent, n_s)
    fig_s = _first_member(a, members)  # (a shortest period of each figure: its block)
    fb = np.where(fig_s >= 0, block[np.maximum(fig_s, 0)], -1)
    small = hidden_targets(a.obs, sup, k) & (fb >= 0)
    has_long = np.zeros(int(block.max()) + 2 if len(block) else 1, bool)
    has_long[fb[(a.level > 0) & (fb >= 0)]] = True
    todo = np.unique(fb[small])
    todo = todo[has_long[todo]]
    group, ws = a.weight_groups()
    # a figure's size in the programme: its cells, times the shorter periods it holds, times its origins
    n_mem = np.zeros(len(a.zone))
    for lv, mem in enumerate(members):
        on = np.flatnonzero(a.level == lv)
        n_mem[on] = np.array([len(m) for m in mem] + [0])[np.minimum(a.t[on], len(mem))]
    fine = max(np.setdiff1d(np.unique(a.lab), [a.all_label]).size, 1)
    size = a.cells_held(group, ws) * n_mem * np.where(a.lab == a.all_label, fine, 1)
    for b in todo:
        f = np.flatnonzero(fb == b)
        span = np.flatnonzero(block == b)
        only_long, held = None, float(size[f].sum())
        if held > max_entries:
            if held > max_long_entries:
                yield "programme over periods too large", -1, -1
                continue
            # (the whole block's figures as rows, its longer periods' hidden figures as the only
            # targets: a probe's attacker moved no day's bound past k through 92 days, but
            # bounded a hidden quarter at 28.1 from its days' figures together)
            only_long = a.level[f] > 0
            yield "programme over periods: longer periods' figures only", -1, -1
        miss = _time_misfit(a, f)  # (how far the longer figures are from the mean, and from the sum, of their shorter ones)
        for mean in (True, False) if miss[0] <= miss[1] else (False, True):
            if a.cell_groups is None and not miss[0 if mean else 1] <= 0:
                continue  # (one set of weights: the figures follow the cells' model exactly when it holds)
            w, vz = _expanded(a, f, ws, group, members, span, mean)
            if a.cell_groups is None or consistent(w, int(a.all_label), a.group_of, vz, a.lab[f], a.obs[f]):
                break
        else:
            yield "programme over periods not consistent", -1, -1
            continue
        shown = None if a.shown is None else np.asarray(a.shown, float)[f]
        later = (a.level[f] > 0).astype(np.int64)  # (a shorter period's figure before its longer one's: the summary a city buys)
        chosen, n_left = culprits(w, int(a.all_label), a.group_of, vz, a.lab[f], a.obs[f], sup[f], k, shown, float(a.slack),
                                  a.is_locked(f), later=later, targets=only_long)
        for _ in range(n_left):
            yield "bounded by earlier runs alone", -1, -1
        for i in f[np.asarray(chosen, np.int64)]:
            sup[i] = True
            yield "bounded over several periods", int(a.zone[i]), int(i)


def _time_misfit(a: AuditInput, f: np.ndarray) -> tuple[float, float]:
    """How far the longer figures among ``f`` are from the mean, and from the sum, of their
    zone's and origin's figures of every shortest period they hold: per model, the sum of
    the gaps beyond rounding error (0: the model holds; ``inf``: a shortest period without
    a figure here, not checked, so not assumed). With one set of weights for every period
    a model holds for the figures exactly when it holds for the cells' counts (the weights
    are the same linear map); with a set per period the closer model is tried first.
    """
    short, long_ = f[a.level[f] == 0], f[a.level[f] > 0]
    if not len(long_) or not len(short):
        return np.inf, np.inf
    n_lab, n_z = int(a.lab.max()) + 1, int(a.zone.max()) + 1
    levels = np.unique(a.level[long_])
    par = {int(lv): np.asarray(a.parent[lv], np.int64) for lv in levels}
    off = dict(zip(par, np.cumsum([0] + [int(p.max()) + 1 for p in par.values()])[:-1].tolist(), strict=True))
    held = {lv: np.bincount(p[p >= 0]) for lv, p in par.items()}  # (shortest periods each longer one holds)
    keys, vals = [], []
    for lv, p in par.items():
        up = p[a.t[short]]
        on = up >= 0
        keys.append(((off[lv] + up[on]) * n_z + a.zone[short][on]) * n_lab + a.lab[short][on])
        vals.append(a.obs[short][on])
    uk, inv = np.unique(np.concatenate(keys), return_inverse=True)
    s, n = np.bincount(inv, weights=np.concatenate(vals)), np.bincount(inv)
    off_of, size_of = np.zeros(int(levels.max()) + 1, np.int64), np.zeros(int(levels.max()) + 1, np.int64)
    held_all = np.zeros(sum(int(p.max()) + 1 for p in par.values()) + 1, np.int64)
    for lv, h in held.items():
        off_of[lv], size_of[lv] = off[lv], int(par[lv].max()) + 1
        held_all[off[lv]:off[lv] + len(h)] = h
    lv_l, t_l = a.level[long_], a.t[long_]
    slot = np.where(t_l < size_of[lv_l], off_of[lv_l] + t_l, len(held_all) - 1)  # (the last slot: holds nothing)
    mine = (slot * n_z + a.zone[long_]) * n_lab + a.lab[long_]
    at = np.minimum(np.searchsorted(uk, mine), len(uk) - 1)
    want_n = held_all[slot]
    if not ((uk[at] == mine) & (n[at] == want_n)).all():
        return np.inf, np.inf
    t = a.obs[long_]
    tol = np.abs(t) * 1e-9 + 1e-6
    return tuple(float(np.maximum(np.abs(want - t) - tol, 0.0).sum()) for want in (s[at] / n[at], s[at]))


def _blocks(parent: list, n_s: int) -> tuple[np.ndarray, list]:
    """Each shortest period's block (shortest periods joined by a longer period holding
    them), and per period length the shortest periods each of its periods holds.
    """
    rows, cols, members = [], [], [[np.array([s]) for s in range(n_s)]]
    off = n_s
    for lv in range(1, len(parent)):
        par = np.asarray(parent[lv], np.int64)
        on = np.flatnonzero(par >= 0)
        n_t = int(par.max()) + 1 if len(on) else 0
        rows.append(on)
        cols.append(off + par[on])
        order = np.argsort(par[on], kind="stable")
        cut = np.searchsorted(par[on][order], np.arange(n_t + 1))
        members.append([on[order][cut[t]:cut[t + 1]] for t in range(n_t)])
        off += n_t
    r, c = np.concatenate(rows), np.concatenate(cols)
    g = sparse.coo_array((np.ones(len(r)), (r, c)), shape=(off, off))
    return connected_components(g, directed=False)[1][:n_s], members


def _first_member(a: AuditInput, members: list) -> np.ndarray:
    """A shortest period each figure holds (-1: none)."""
    out = np.full(len(a.zone), -1, np.int64)
    for lv, mem in enumerate(members):
        on = np.flatnonzero(a.level == lv)
        t = a.t[on]
        ok = t < len(mem)
        first = np.array([m[0] if len(m) else -1 for m in mem], np.int64)
        out[on[ok]] = first[t[ok]] if len(first) else -1
    return out


def _expanded(a: AuditInput, f: np.ndarray, ws: list, group: np.ndarray, members: list, span: np.ndarray, mean: bool):
    """Weights over (shortest period, cell) pairs for the figures ``f`` of a block: a column
    per figure's weights, period and length, reading its cells in each shorter period it
    holds (over their number for a mean). Returns the weights (CSC) and each figure's column.
    """
    n_cells = ws[0].shape[0]
    key = np.stack([group[f], a.zone[f], a.level[f], a.t[f]], 1)
    uk, vz = np.unique(key, axis=0, return_inverse=True)
    rows, cols, vals = [], [], []
    for j, (g, z, lv, t) in enumerate(uk):
        w = ws[g]
        cells = w.indices[w.indptr[z]:w.indptr[z + 1]]
        wt = w.data[w.indptr[z]:w.indptr[z + 1]]
        mem = np.searchsorted(span, members[lv][t])
        scale = 1.0 / len(mem) if mean else 1.0
        rows.append((mem[:, None] * n_cells + cells[None, :]).ravel())
        cols.append(np.full(len(mem) * len(cells), j))
        vals.append(np.tile(wt * scale, len(mem)))
    m = sparse.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(span) * n_cells, len(uk)))
    m.sum_duplicates()
    return m, vz.reshape(-1)
