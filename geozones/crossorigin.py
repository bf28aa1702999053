"""Bounds across a period's origins and its ``all`` (part of the attacker's audit,
:mod:`geozones.audit`).

An ``all`` figure sums its zone's origins, so the origins of a period meet through it: a
zone's residents bounded from below by the zones around it (their ``all`` and residents
published) leave at most ``all`` minus that bound for every other origin of the zone, each
hidden and each under ``k``. :func:`geozones.bounds.programme_bounded_figures` takes one
origin at a time and cannot see this; here one programme per period holds all its origins.

The programme's unknowns are the counts of a cell per origin where a published figure of
that origin holds the cell, and the *rest* of a cell: the people of every origin that no
published figure of its own holds there. Those appear only through ``all``, so their counts
move freely among them and one unknown holds them exactly (not a relaxation); a hidden
figure of such an origin reads the rest of its cells (all of them could be its people).
Hidden figures reading the same unknowns are one target.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager

import numpy as np
from scipy import sparse

from ._arrays import ranges
from ._progress import Heartbeat, noted
from .auditinput import TOL as _TOL
from .auditinput import hidden_targets

__all__ = ["consistent", "culprits", "map_periods", "origin_bounded_figures", "period_culprits"]

_EPS = 1e-12  # (weights under this leave the programme, soundly: _Programme._tidy; HiGHS would drop them unsoundly)
# (simplex iterations times columns and rows: the programme lifting every target at once, a shortcut, about
# 2 s here; every other solve about 12 s at 83,000 columns and rows. A count, not seconds: time limits made
# the published table depend on the machine's load (223 demo figures; 11,251 against 11,252 in stop 50).)
_FIRST_WORK, _SOLVE_WORK, _MIN_ITERATIONS = 25_000_000, 1_000_000_000, 1_000


def origin_bounded_figures(a, sup: np.ndarray, k: float, max_entries: int = 200_000, workers: int = 2, known=None, only=None):
    """Suppressed figures that the programme over a period's origins bounds under ``k``.

    Per period, the attacker knows every published figure to its rounding (``+-0.5``),
    each a row over the counts per origin and cell (an ``all`` figure over every origin's),
    and that counts are not negative; a hidden figure above none and under ``k`` whose
    largest value there is under ``k`` is exposed. Then the published figure that the
    bound leans on most (the largest dual value) is suppressed and the period's programme
    solved again, until every such figure can reach ``k`` (an ``all`` is suppressed only
    when no other figure binds: it is the figure a city buys). A first programme lifts
    every target at once (each counted up to ``k``) and clears those it lifts; the rest
    are maximised together, then in batches that share no unknown, then one at a time,
    the lowest there first, on a model that keeps its basis between solves; each
    solution clears every target it lifts to ``k`` (:func:`_settle`). Suppressing more
    only loosens the bounds, so one call is enough.

    Parameters
    ----------
    a : geozones.audit.AuditInput
        The figures, with ``cells`` (the weights) set and ``all_label`` >= 0; otherwise
        nothing is done.
    sup : numpy.ndarray of bool
        Suppressed so far; updated as figures are yielded.
    k : float
    max_entries : int, default 200,000
        Periods whose published figures hold more weights (cells, over all of them) are left
        unchecked (yielded as ``("programme across origins too large", -1, -1)``): the demo's
        days hold about 5,000 (~0.4 s each), the issue-16 national case's 38,000-53,000
        (~30,000 unknowns, 1-2.5 s each).
    workers : int, default 2
        Processes sharing the periods (each period's programme is its own); 1 for none.
    known : tuple of numpy.ndarray, optional
        ``(lo, hi)`` per figure, from the table's relations
        (:func:`geozones.relbounds.relation_bounds`): a hidden figure with a finite bound
        is a row of its period's programme between them.
    only : numpy.ndarray of bool, optional
        Check only the periods of these figures (the others were checked as they are).

    Yields
    ------
    tuple
        ``("bounded across origins", zone, figure)``: the published figure to suppress;
        ``("bounded through a relation", zone, figure)``: a hidden figure whose interval the
        bound leans on, for the caller to suppress a figure of its relations.
    """
    if a.cells is None or int(a.all_label) < 0:
        return
    small = hidden_targets(a.obs, sup, k)
    if only is not None:
        small &= np.isin(_period(a), _period(a)[np.asarray(only, bool)])
    if not small.any():
        return
    # a period's size before anything is built: its published figures' weights (the unknowns are fewer)
    # (held once by every process: _hold; weights per period, --density period: each group's)
    group, ws = a.weight_groups()
    period = _period(a)
    pub = ~sup
    size = np.bincount(period[pub], weights=a.cells_held(group, ws)[pub], minlength=int(period.max()) + 1)
    big = np.zeros(len(size), bool)
    with_t = np.unique(period[small])
    big[with_t] = size[with_t] > max_entries
    for _ in range(int(big.sum())):
        yield "programme across origins too large", -1, -1
    small = small & ~big[period]
    if not small.any():
        return
    # each period's programme is built and solved on its own (bounded memory; the periods
    # share the processes), from its figures and the weights every process holds once
    by = np.argsort(period, kind="stable")
    start = np.r_[0, np.cumsum(np.bincount(period, minlength=len(size)))]
    todo = [by[start[j]:start[j + 1]] for j in np.unique(period[small])]
    items = [(a.zone[f], a.lab[f], a.obs[f], sup[f], k, a.values(f), float(a.slack), a.is_locked(f), int(group[f[0]]), None,
              None if known is None else (known[0][f], known[1][f])) for f in todo]
    from tqdm import tqdm

    with tqdm(total=len(todo), unit=" periods", desc="audit across origins", disable=not sys.stderr.isatty(), file=sys.stderr,
              leave=False) as bar:
        done = map_periods(period_culprits, items, workers, (ws, int(a.all_label), a.group_of))
        for _, (f, (local, n_left)) in noted(zip(todo, done, strict=True),
                                             lambda i: f"audit across origins: {i} of {len(todo)} periods checked"):
            bar.update()
            for _ in range(n_left):
                yield "bounded by earlier runs alone", -1, -1
            chosen = f[np.asarray(local, np.int64)]
            for i, was_hidden in zip(chosen, sup[chosen].copy(), strict=True):
                if was_hidden:  # (a hidden figure's interval: the caller suppresses a figure of its relations)
                    yield "bounded through a relation", int(a.zone[i]), int(i)
                    continue
                sup[i] = True
                yield "bounded across origins", int(a.zone[i]), int(i)


_WEIGHTS: tuple = ()  # (the weights and the label of 'all', set once per process: _hold)


def _hold(w, all_label: int, group_of=None, parent: int = 0):
    """Hold the weights (and the labels' coarser origins, :attr:`geozones.audit.AuditInput.group_of`)
    for the programmes to come; in a worker (``parent``: the pid of the process that
    started it), also end the worker when that process is gone.
    """
    global _WEIGHTS
    _WEIGHTS = (w, all_label, group_of)
    if parent:
        import threading

        threading.Thread(target=_orphaned, args=(parent,), name="geozones-watch", daemon=True).start()


def _orphaned(parent: int, every: float = 1.0):
    """Leave as soon as the process that started this one has gone (killed, for example:
    a pool's own clean-up never runs then, and the worker would run on alone).
    """
    import time

    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def period_culprits(zone, lab, obs, sup, k: float, shown=None, slack: float = 0.5, locked=None, group: int = 0,
                     ceiling=None, known=None) -> tuple[np.ndarray, int]:
    """One period's figures (and what is suppressed so far): the positions, among them, of
    the published figures to suppress, in order, and how many targets the ``locked``
    figures (an earlier run published them: never chosen) bound under ``k`` on their own.
    ``shown``: what each reads where published (default: rounded); ``slack``: how far its
    truth may be from that; ``group``: which of the held weights its figures come from;
    ``ceiling``: figures that bound their zone and origin from above only (a longer
    period's published maximum, :mod:`geozones.maxima`); ``known``: ``(lo, hi)`` per
    figure, the bounds of hidden figures from the table's relations (rows of their own; a
    position returned for one is a hidden figure whose bound a target leans on).
    """
    ws, all_label, group_of = _WEIGHTS
    return culprits(ws[group], all_label, group_of, zone, lab, obs, sup, k, shown, slack, locked, ceiling=ceiling, known=known)


def culprits(w, all_label: int, group_of, zone, lab, obs, sup, k: float, shown=None, slack: float = 0.5, locked=None,
             ceiling=None, known=None, later=None, targets=None) -> tuple[np.ndarray, int]:
    """:func:`period_culprits` over the weights given.

    Parameters
    ----------
    w : scipy.sparse.csc_array
        Unknowns x columns, floats: a figure reads column ``zone`` of it (a period's cells x
        zones, or :mod:`geozones.timechains`' (period, cell) pairs x figure columns).
    all_label, group_of
        The label of ``all`` and, per label, its coarser origin's (or None).
    zone, lab, obs, sup, k, shown, slack, locked, ceiling, known
        As for :func:`period_culprits` (``zone``: a column of ``w``).
    later : numpy.ndarray of int, optional
        Per figure, a rank among the published ones to suppress when several bind (lower
        first; within a rank an origin before ``all``). Default: an ``all`` last.
    targets : numpy.ndarray of bool, optional
        Which hidden figures above none and under ``k`` to lift to ``k`` (default: all of them).

    Returns
    -------
    tuple
        The positions of the figures to suppress, in order, and how many targets the
        locked figures alone bound under ``k``.
    """
    small = hidden_targets(obs, sup, k) if targets is None else hidden_targets(obs, sup, k) & np.asarray(targets, bool)
    prog = _Programme(zone, lab, obs, sup, small, w, all_label, shown, slack, ceiling=ceiling, group_of=group_of, known=known)
    if prog.t.shape[0] == 0:
        return np.zeros(0, np.int64), 0
    if prog.col_hi is not None and _Model(prog.p, prog.lo, prog.hi, col_hi=prog.col_hi).solve()[1] is None:
        # (tidying narrowed it to nothing: every target would look bounded) the whole programme
        prog = _Programme(zone, lab, obs, sup, small, w, all_label, shown, slack, tidy=False, ceiling=ceiling, group_of=group_of,
                          known=known)
    fixed = None if locked is None else np.asarray(locked, bool)[prog.figs]
    left: list = []
    rank = prog.is_all.astype(np.int64) if later is None else 2 * np.asarray(later, np.int64)[prog.figs] + prog.is_all
    last = rank + 2 * (int(rank.max()) + 1 if len(rank) else 1) * ~prog.known  # (a hidden figure's bounds first (what the leak crosses), an 'all' last)
    chosen = _settle(prog.p, prog.t, prog.lo, prog.hi, last, k, fixed, left, prog.col_hi, anyone=ceiling is not None)
    return prog.figs[np.asarray(chosen, np.int64)], len(left)


def consistent(w, all_label: int, group_of, zone, lab, obs, tol: float = 1e-4) -> bool:
    """Whether counts exist (not negative) that give every figure its true value.

    Parameters
    ----------
    w, all_label, group_of, zone, lab
        As for :func:`culprits`.
    obs : numpy.ndarray of float
        Per figure, its true value.
    tol : float, default 1e-4
        How far from its value a figure may come out (people).

    Returns
    -------
    bool
        Whether the programme's model (its weights, ``all`` and coarser origins as sums) can.
    """
    prog = _Programme(zone, lab, obs, np.zeros(len(zone), bool), np.zeros(len(zone), bool), w, all_label, np.asarray(obs, float),
                      tol, tidy=False, group_of=group_of)
    model = _Model(prog.p, prog.lo, prog.hi)
    model.h.setOptionValue("solver", "ipm")  # (rows held near their values: the interior point finds a point 2-3x sooner)
    model.h.setOptionValue("run_crossover", "off")
    model.h.setOptionValue("ipm_iteration_limit", 300)  # (a count, as the simplex's; it needs tens)
    return model.solve()[1] is not None


def _period(a) -> np.ndarray:
    """Each figure's period (its length and start) as a code from 0."""
    return np.unique(a.level.astype(np.int64) * (int(a.t.max()) + 1) + a.t, return_inverse=True)[1].reshape(-1)


@contextmanager
def _main_not_rerun():
    """Start workers without running the caller's main script again: a spawned worker
    imports ``__main__`` by its file or module name, and a script that calls
    ``geozones.run`` without ``if __name__ == "__main__":`` then ran the whole job again in
    each worker, whose own pool failed, and the parent waited for ever. The workers need
    nothing of ``__main__`` (they run geozones' own functions).
    """
    main = sys.modules.get("__main__")
    saved = {a: main.__dict__[a] for a in ("__file__", "__spec__") if main is not None and a in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            if "__spec__" in saved:
                main.__spec__ = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


def map_periods(fn, items: list, workers: int, held: tuple):
    """``fn(*item)`` for each item, in order, on ``workers`` processes when there is enough
    to share (on one when processes cannot be started); each process first holds ``held``
    (:func:`_hold`).
    """
    n, done = len(items), 0
    if workers > 1 and n >= 8:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_hold,
                                     initargs=(*held, *[None] * (3 - len(held)), os.getpid())) as pool:
                with _main_not_rerun():  # (the workers start as the items are submitted)
                    results = pool.map(fn, *zip(*items, strict=True), chunksize=max(1, min(8, n // (4 * workers))))
                for out in results:
                    yield out
                    done += 1
            return
        except (OSError, BrokenProcessPool) as e:
            logging.getLogger("geozones").warning("the audit across origins runs on one process: %s", e)
    _hold(*held)
    for item in items[done:]:
        yield fn(*item)


def _settle(p, t, lo, hi, is_all, k: float, fixed=None, left: list | None = None, col_hi=None, anyone: bool = False) -> list[int]:
    """One period's programme (published figures ``lo <= p @ x <= hi``, targets ``t``),
    until each target reaches ``k``: the positions of the figures to suppress, in order.

    Every solution is a witness (counts that agree with everything published): it clears
    each pending target it lifts to ``k``. First every target at once, each counted up to
    ``k``; then the sum of those left; then, lowest first, batches of targets that share no
    unknown (their sum's maximum lifts each about as far as it can go alone), each member
    not cleared by its batch maximised on its own, suppressing what bounds it. ``anyone``:
    where the solver reports no binding figure and none holds the target's counts, any
    open figure may go (the ceilings of :mod:`geozones.maxima`: a bound through a chain).
    """
    reach = k - 1e-6
    is_open = np.ones(p.shape[0], bool)
    free = np.ones(p.shape[0], bool) if fixed is None else ~np.asarray(fixed, bool)  # (an earlier run's figures stay)
    # with an earlier run's figures: a target they alone bound under k cannot be closed here
    # (they are out): found once, said (``left``), and nothing suppressed for it in vain
    # (without the counts' caps: they come from figures freed here too; wider is the safe side of this check)
    earlier = _Model(p, np.where(free, -np.inf, lo), np.where(free, np.inf, hi)) if not free.all() else None
    # Weights and counts are never negative, so a count is bounded exactly when a figure still
    # bounding it reads it (or a cap holds it) and a target exactly when every count it reads is:
    # said without the solver, whose optimality tolerance takes a count read at a weight of 1e-9
    # as bounded (it called a footprint's far target bounded by an earlier part's figures alone)
    reads_p = p.data > 0
    n_open = np.bincount(p.indices[reads_p], minlength=p.shape[1])  # (figures bounding each count)
    if col_hi is not None:
        n_open[np.isfinite(col_hi)] += 1
    locked_entry = np.repeat(~free, np.diff(p.indptr)) & reads_p
    by_earlier_held = np.bincount(p.indices[locked_entry], minlength=p.shape[1]) > 0
    pending = np.ones(t.shape[0], bool)
    out = []
    x = _Model(p, lo, hi, t, k, col_hi, work=_FIRST_WORK).solve()[1]  # every target at once
    val = t @ x if x is not None else np.zeros(t.shape[0])
    pending[val >= reach] = False
    model = _Model(p, lo, hi, col_hi=col_hi)

    # (a target can take many solves, each of minutes: a probe's hourly run said nothing for 20)
    beat = Heartbeat(lambda: f"audit: {int((~pending).sum()):,} of {len(pending):,} hidden figures of a programme checked, "
                             f"{len(out):,} more to suppress so far")

    def lift(obj) -> tuple:
        beat()
        model.objective(obj)
        done, xs, dual = model.solve()
        if xs is not None:
            pending[:] &= ~(t @ xs >= reach)
        return done, xs, dual

    def alone(i: int) -> None:
        ti = t[[i]].toarray().ravel()
        reads = t.indices[t.indptr[i]:t.indptr[i + 1]]
        first = True
        while pending[i]:
            if (n_open[reads] == 0).any():  # (a count nothing bounds: the target rises without end)
                pending[i] = False
                continue
            done, _, dual = lift(ti)
            if done is None or done >= reach or not pending[i]:  # (None: unbounded)
                pending[i] = False
            else:
                if earlier is not None and first and by_earlier_held[reads].all():  # (the earlier figures alone: checked once)
                    first = False
                    earlier.objective(ti)
                    by_earlier = earlier.solve()[0]
                    if by_earlier is not None and by_earlier < reach:
                        pending[i] = False
                        if left is not None:
                            left.append(int(i))
                        continue
                cand = np.flatnonzero(is_open & free & (np.abs(dual) > 1e-9))
                if not len(cand):  # (no binding figure reported: the open figures holding its counts)
                    cand = np.flatnonzero(is_open & free & (abs(p) @ (ti > 0).astype(float) > 0))
                if not len(cand) and anyone:  # (a bound through a chain of figures, no dual reported: any open one)
                    cand = np.flatnonzero(is_open & free)
                if not len(cand):
                    pending[i] = False  # (nothing left to suppress: nothing published holds it)
                    continue
                c = cand[np.lexsort((-np.abs(dual[cand]), is_all[cand]))[0]]  # (an 'all' last: the figure a city buys)
                is_open[c] = False
                row = slice(p.indptr[c], p.indptr[c + 1])
                n_open[p.indices[row][reads_p[row]]] -= 1  # (its counts lose a figure bounding them)
                model.free(c)
                out.append(int(c))

    shares = sparse.csr_array(abs(t) @ abs(t).T > 0)  # targets reading a common unknown compete
    for rivals, then_alone in ((None, False), (shares, True)):
        tried = np.zeros(t.shape[0], bool)
        while True:
            todo = np.flatnonzero(pending & ~tried)
            if not len(todo):
                break
            todo = todo[np.argsort(val[todo], kind="stable")]
            if rivals is None:
                batch = todo
            else:
                batch, taken = [], np.zeros(t.shape[0], bool)
                for i in todo:
                    if not taken[i]:
                        batch.append(i)
                        taken[rivals.indices[rivals.indptr[i]:rivals.indptr[i + 1]]] = True
                batch = np.asarray(batch)
            tried[batch] = True
            if len(batch) > 1:
                lift(np.asarray(t[batch].sum(axis=0)).ravel())
            if then_alone:
                for i in batch[pending[batch]]:
                    alone(int(i))
    return out


class _Model:
    """A period's programme in HiGHS, kept between solves (its basis starts the next).

    Rows are the published figures (``lo <= p @ x <= hi``); with targets ``t``, each also
    has a part ``u_i <= t_i @ x`` up to ``k``, and the objective is the sum of the parts:
    the programme lifting every target at once. Without, :meth:`objective` sets one.
    ``work``: each solve's simplex iterations times the model's columns and rows (at least
    1,000 iterations): a count, not seconds, so the answer is the same whatever the
    machine's load; a solve that reaches it gives no answer (taken as bounded).
    """

    def __init__(self, p, lo, hi, t=None, k: float = 0.0, col_hi=None, work: int | None = None):
        import highspy

        self.inf = inf = highspy.kHighsInf
        h = _quiet(highspy.Highs)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("small_matrix_value", _EPS)  # (not its 1e-9: it would drop footprint weights, a relaxation)
        n_t = 0 if t is None else t.shape[0]
        size = p.shape[0] + p.shape[1] + n_t
        h.setOptionValue("simplex_iteration_limit", max(_MIN_ITERATIONS, (_SOLVE_WORK if work is None else work) // max(size, 1)))
        h.setOptionValue("threads", 1)
        h.setOptionValue("simplex_strategy", 4)  # (primal: a new objective keeps the last basis feasible)
        n_r, n_c = p.shape
        h.addVars(n_c, np.zeros(n_c), np.full(n_c, inf) if col_hi is None else np.minimum(col_hi, inf))
        h.addRows(n_r, lo, hi, p.nnz, p.indptr[:-1].astype(np.int32), p.indices.astype(np.int32), p.data)
        self.n_c, self.n_r = n_c, n_r
        if t is not None:
            n_t = t.shape[0]
            h.addVars(n_t, np.zeros(n_t), np.full(n_t, float(k)))
            rows = sparse.hstack([-t, sparse.eye_array(n_t)], format="csr")  # u_i - t_i @ x <= 0
            h.addRows(n_t, np.full(n_t, -inf), np.zeros(n_t), rows.nnz, rows.indptr[:-1].astype(np.int32),
                      rows.indices.astype(np.int32), rows.data)
            h.setOptionValue("simplex_strategy", 1)  # (dual: solved once, from no basis)
            h.changeColsCost(n_t, np.arange(n_c, n_c + n_t, dtype=np.int32), np.ones(n_t))
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.t = None
        self.h = h
        self.ok, self.unbounded = highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kUnbounded

    def objective(self, t: np.ndarray):
        """Maximise ``t @ x`` (only the costs that change are passed: a target reads few
        unknowns). HiGHS is given ``t`` over its largest weight: its optimality tolerance
        (1e-7) would take a footprint's weights of 1e-5 and less as nothing.
        """
        top = float(np.abs(t).max()) if len(t) else 0.0
        cost = t / top if top > 0 else t
        now = self.cost if self.t is not None else np.zeros(self.n_c)
        at = np.flatnonzero(now != cost).astype(np.int32)
        if len(at):
            self.h.changeColsCost(len(at), at, cost[at])
        self.t, self.cost = t, cost

    def solve(self):
        """``(value or None when unbounded, the counts, the rows' duals)``; a value of
        ``-inf`` when HiGHS gives no answer (taken as bounded; no counts).
        """
        h = self.h
        h.run()  # (HiGHS counts the iteration limit per run: each solve has it to itself)
        status = h.getModelStatus()
        if status == self.unbounded:
            return None, None, None
        if status != self.ok:
            h.clearSolver()
            return -np.inf, None, np.zeros(self.n_r)
        sol = h.getSolution()
        x = np.asarray(sol.col_value)[:self.n_c]
        return (float(self.t @ x) if self.t is not None else np.nan), x, np.asarray(sol.row_dual)[:self.n_r]

    def free(self, r: int):
        """Figure ``r`` suppressed: it bounds nothing."""
        self.h.changeRowBounds(int(r), -self.inf, self.inf)


def _quiet(make):
    """``make()`` with the process's standard output closed: HiGHS prints its banner there
    when its first model is made, whatever its options (the CLI's output is ours).
    """
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        return make()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


class _Programme:
    """One period's programme: published figures (rows of ``p``, between ``lo`` and ``hi``)
    and targets (rows of ``t``) over its unknowns (columns), keyed ``label * cells + cell``;
    the rest of a cell takes the label of ``all``. ``figs``: each row's figure (a position
    among the period's). ``w``: the weights, cells x zones, CSC of floats. ``ceiling``:
    figures that are upper bounds only (their rows between none and ``v + slack``).
    ``group_of``: per label, the coarser origin holding it (-1: none;
    :attr:`geozones.audit.AuditInput.group_of`): a coarser origin's figure reads its members
    held in a cell and the rest of the cell among its members, which is then an unknown of
    its own (one per coarser origin, keyed after every label).
    """

    def __init__(self, zone, lab, obs, sup, small, w, rest: int, shown=None, slack: float = 0.5, tidy: bool = True, ceiling=None,
                 group_of=None, known=None):
        n_cells = w.shape[0]
        n_lab = int(lab.max()) + 1
        is_row = ~np.asarray(sup, bool)
        if known is not None:  # (hidden figures their relations bound: rows between those bounds)
            is_row = is_row | ((known[0] > _TOL) | np.isfinite(known[1]))
        pf, tf = np.flatnonzero(is_row), np.flatnonzero(small)
        count = np.diff(w.indptr)
        # each label's group: 0 the origins no coarser origin holds, g >= 1 the members of the
        # g-th coarser origin; a coarser origin's own figures read its group (-1: 'all', every group)
        n_key = max(n_lab, 0 if group_of is None else len(group_of))
        grp, coarse = np.zeros(n_key, np.int64), np.zeros(n_key, bool)
        rest_code = np.array([rest])
        if group_of is not None:
            gof = np.asarray(group_of, np.int64)
            aggs = np.unique(gof[gof >= 0])
            grp[:len(gof)] = np.where(gof >= 0, np.searchsorted(aggs, np.maximum(gof, 0)) + 1, 0)
            grp[aggs] = np.arange(1, len(aggs) + 1)
            coarse[aggs] = True
            rest_code = np.r_[rest, n_key + np.arange(len(aggs))]  # (the rest of a group: a key after every label)
        grp_of_fig = np.where(lab == rest, -1, grp[lab])
        fine = (lab != rest) & ~coarse[lab]
        n_members = np.bincount(grp[np.unique(lab[fine])], minlength=len(rest_code))

        def entries(figs):  # every figure's weights: (its row, label, cell, weight)
            e = ranges(w.indptr, zone[figs])
            row = np.repeat(np.arange(len(figs)), count[zone[figs]])
            return row, lab[figs][row].astype(np.int64), w.indices[e].astype(np.int64), w.data[e]

        p_row, p_lab, p_cell, p_w = entries(pf)
        t_row, t_lab, t_cell, t_w = entries(tf)
        p_sum, t_sum = (p_lab == rest) | coarse[p_lab], (t_lab == rest) | coarse[t_lab]  # (sums over origins)
        p_fine = ~p_sum
        held = np.unique(p_lab[p_fine] * n_cells + p_cell[p_fine])  # (origin, cell) a figure holds
        # per cell: the origins held there, and per group whether any of its origins is left for its rest
        by_cell = np.argsort(held % n_cells, kind="stable")
        h_cell, h_lab = (held % n_cells)[by_cell], (held // n_cells)[by_cell]
        h_grp = grp[h_lab]
        u_cell, h_at = np.unique(h_cell, return_inverse=True)
        n_held = np.zeros((len(u_cell), len(rest_code)), np.int64)
        np.add.at(n_held, (h_at.reshape(-1), h_grp), 1)

        def expand(row, cell, wt, g):  # a sum's entry: its held origins in the cell, and its groups' rests
            lo, hi = np.searchsorted(h_cell, cell), np.searchsorted(h_cell, cell, side="right")
            pos = ranges(np.stack([lo, hi], 1).ravel(), np.arange(len(cell)) * 2)
            of = np.repeat(np.arange(len(cell)), hi - lo)
            mine = (g[of] < 0) | (h_grp[pos] == g[of])
            at = np.minimum(np.searchsorted(u_cell, cell), max(len(u_cell) - 1, 0))
            known = (u_cell[at] == cell) if len(u_cell) else np.zeros(len(cell), bool)
            r_rows, r_keys, r_w = [row[of][mine]], [(cell[of] + h_lab[pos] * n_cells)[mine]], [wt[of][mine]]
            for j, code in enumerate(rest_code):
                held_j = np.where(known, n_held[at, j] if len(u_cell) else 0, 0)
                on = ((g < 0) | (g == j)) & (held_j < n_members[j])
                r_rows.append(row[on])
                r_keys.append(code * n_cells + cell[on])
                r_w.append(wt[on])
            return np.concatenate(r_rows), np.concatenate(r_keys), np.concatenate(r_w)

        def keyed(row, lab_, cell, wt, is_sum, unheld_to_rest):
            own = lab_ * n_cells + cell
            if unheld_to_rest:  # an origin's cell no figure of it holds: the rest of its group's cell
                pos = np.minimum(np.searchsorted(held, own), max(len(held) - 1, 0))
                unheld = (held[pos] != own) if len(held) else np.ones(len(own), bool)
                own = np.where(~is_sum & unheld, rest_code[grp[lab_]] * n_cells + cell, own)
            r2, k2, w2 = expand(row[is_sum], cell[is_sum], wt[is_sum], np.where(lab_[is_sum] == rest, -1, grp[lab_[is_sum]]))
            return np.r_[row[~is_sum], r2], np.r_[own[~is_sum], k2], np.r_[wt[~is_sum], w2]

        p_row, p_key, p_w = keyed(p_row, p_lab, p_cell, p_w, p_sum, False)
        t_row, t_key, t_w = keyed(t_row, t_lab, t_cell, t_w, t_sum, True)
        cov = np.unique(p_key)  # the unknowns: what some published figure holds
        # a target reading an unknown that no published figure holds is unbounded
        pos = np.minimum(np.searchsorted(cov, t_key), max(len(cov) - 1, 0))
        miss = ~(cov[pos] == t_key) if len(cov) else np.ones(len(t_key), bool)
        keep_t = np.bincount(t_row, weights=miss, minlength=len(tf)) == 0
        # the same target twice (an origin's figure reading only the rest of its cells is
        # the rest's figure of its zone): once
        is_rest_key = np.isin(t_key // n_cells, rest_code)
        reads_own = np.bincount(t_row, weights=~is_rest_key, minlength=len(tf)) > 0
        # (reading rests only: a group's, or, for 'all' with groups, every group's)
        rest_id = np.where(grp_of_fig[tf] >= 0, grp_of_fig[tf], 0 if len(rest_code) == 1 else len(rest_code))
        t_id = zone[tf].astype(np.int64) * (n_key + len(rest_code) + 1) + np.where(reads_own, lab[tf], n_key + rest_id)
        first = np.zeros(len(tf), bool)
        first[np.unique(t_id, return_index=True)[1]] = True
        keep_t &= first
        self.p = self._matrix(p_row, p_key, p_w, np.ones(len(pf), bool), cov)
        self.t = self._matrix(t_row, t_key, t_w, keep_t, cov)
        self.figs, self.is_all = pf, lab[pf] == rest
        v = np.round(obs[pf]) if shown is None else np.asarray(shown, dtype=float)[pf]
        self.lo, self.hi = v - slack, v + slack
        self.known = np.asarray(sup, bool)[pf]
        if known is not None:
            self.lo[self.known], self.hi[self.known] = known[0][pf[self.known]], known[1][pf[self.known]]
        if ceiling is not None:  # (at most: counts and weights are not negative, so at least none)
            self.lo[np.asarray(ceiling, bool)[pf]] = 0.0
        self.col_hi = None
        if tidy:
            self._tidy(_EPS)

    @staticmethod
    def _matrix(row, key, wt, keep, cov):
        new = np.full(len(keep), -1, np.int64)
        new[keep] = np.arange(int(keep.sum()))
        ent = keep[row]
        m = sparse.csr_array((wt[ent], (new[row[ent]], np.searchsorted(cov, key[ent]))), shape=(int(keep.sum()), len(cov)))
        m.sum_duplicates()
        return m

    def _tidy(self, eps: float, budget: float = 1e-3):
        """Drop weights under ``eps``, soundly (HiGHS drops such matrix values itself,
        which would widen what the programme allows). Each count a dropped weight read
        gets a cap: the least of what the figures' other weights allow and what keeps the
        dropped terms of every figure holding it within a quarter of that figure's
        rounding; its count stays an unknown that targets read. The dropped terms at those
        caps are taken off each figure's upper bound, and a target reads less only where
        its weight times the cap is under ``budget`` of a person. Each change only narrows
        what the programme allows, so a value it reaches is still one the attacker must
        allow; a programme narrowed to nothing is not tidied (:func:`period_culprits`).
        Dropping more (every weight under a millionth of its figure's largest) narrowed
        the national footprint case's programmes enough to hide five times the figures.
        """
        p = self.p
        row_of = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
        tiny = (p.data < eps) & (p.data > 0)
        if not tiny.any():
            return
        cap = np.full(p.shape[1], np.inf)
        np.minimum.at(cap, p.indices[~tiny], self.hi[row_of[~tiny]] / np.maximum(p.data[~tiny], eps))
        room = 0.25 * np.maximum(self.hi - self.lo, 0.0) / np.maximum(np.bincount(row_of[tiny], minlength=p.shape[0]), 1)
        np.minimum.at(cap, p.indices[tiny], room[row_of[tiny]] / p.data[tiny])
        self.col_hi = np.full(p.shape[1], np.inf)  # (caps only where a term was dropped: the rest follow from the figures)
        on = np.unique(p.indices[tiny])
        self.col_hi[on] = cap[on]
        dropped = np.bincount(row_of[tiny], weights=p.data[tiny] * cap[p.indices[tiny]], minlength=p.shape[0])
        self.hi = np.where(np.isinf(self.hi), self.hi, self.hi - dropped)  # (a figure bounded from below only stays so)
        self.p = sparse.csr_array((np.where(tiny, 0.0, p.data), p.indices, p.indptr), shape=p.shape)
        self.p.eliminate_zeros()
        t = self.t
        keep = ~(t.data * cap[t.indices] < budget)  # (inf: a count no figure caps is read whole)
        self.t = sparse.csr_array((np.where(keep, t.data, 0.0), t.indices, t.indptr), shape=t.shape)
        self.t.eliminate_zeros()
