"""The audit's view of a zone table: :class:`AuditInput` and the helpers that build it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

__all__ = ["AuditInput", "TOL", "hidden_targets", "home_labels", "level_cells", "nested_codes", "parents", "zone_cells"]

TOL = 1e-7
"""A figure above this many people is somebody's: the programmes' tolerance for "none"."""


def hidden_targets(obs: np.ndarray, sup: np.ndarray, k: float) -> np.ndarray:
    """The hidden figures every bound of the audit protects: suppressed, above none (:data:`TOL`) and under ``k``.

    Parameters
    ----------
    obs : numpy.ndarray
        Per figure, the observed count.
    sup : numpy.ndarray
        Per figure, True where it is suppressed.
    k : float
        The threshold.

    Returns
    -------
    numpy.ndarray
        Per figure, True for a target.
    """
    return np.asarray(sup, bool) & (obs > TOL) & (obs < k)


@dataclass
class AuditInput:
    """A zone table as arrays, for :func:`audit`.

    Attributes
    ----------
    zone, level, t, lab : numpy.ndarray of int
        Per figure: its zone, its period length (0 the shortest), its period's index within
        that length, and its origin label.
    obs, est : numpy.ndarray of float
        Observed and estimated figure (before rounding; the truth the audit protects).
    parent : list of numpy.ndarray
        Per period length, the index of the period that holds each shortest period
        (``parent[0]`` is the identity; -1 where no such period is published).
    all_label : int
        The label of the origin ``all`` (-1 when there is no other origin).
    linear_time : bool
        Whether a longer period is a sum or mean of the shorter ones (not for a maximum: its
        figures are then unknowns of their own).
    cells : scipy.sparse matrix, optional
        Weights, cells x zones in the zones' code order, for the audit across zones.
    nested : list of tuple, optional
        ``(outer, [inner, ...])`` zone codes whose rest (outer minus inners) is a group.
    estimates : bool
        Whether each estimate is an equation of its own (weighing the origins by their
        factors); False when the estimates are a function of the published counts.
    shown : numpy.ndarray, optional
        What each figure would read if published (the cell key method's perturbed counts,
        :mod:`geozones.cellkey`); None: its observed figure rounded.
    locked : numpy.ndarray of bool, optional
        Figures already published by an earlier run over the same counts: they stay
        published and are never chosen to close an exposure.
    cell_groups : tuple, optional
        Weights that change with the period (the footprint model's density per period,
        :mod:`geozones.density`): ``(group, matrices)``, each figure's group and each
        group's weights (cells x zones, as ``cells``). The checks over cells then read
        each group's figures with its own weights (:meth:`subset`); ``cells`` is the first.
    slack : float
        How far from what a published figure reads its true value may be, to the attacker:
        0.5 (rounding), or the perturbation's largest noise plus 0.5. The bounds
        (:mod:`geozones.bounds`, :mod:`geozones.crossorigin`) give the attacker that room;
        exact recovery and complementary suppression decide as if figures were exact.
    group_of : numpy.ndarray of int, optional
        Per origin label, the label of the origin that holds it at a coarser level (a
        municipality's province), or -1: figures of two origin levels over the same counts
        (an earlier run at another ``--origin-level``, :mod:`geozones.earlier`). A coarser
        label's figure is then a row over its members' unknowns, as ``all`` is over every
        origin's.
    bounds : bool
        Whether the bounds run too (the cap test and the programmes, :mod:`geozones.bounds`),
        or exact recovery alone: for figures the weights' linear model holds only for in
        part (devices counted once per zone however many of its cells saw them,
        :mod:`geozones.visitor_tables`).
    """

    zone: np.ndarray
    level: np.ndarray
    t: np.ndarray
    lab: np.ndarray
    obs: np.ndarray
    est: np.ndarray
    parent: list
    all_label: int
    linear_time: bool = True
    cells: object = None
    nested: list = field(default_factory=list)
    estimates: bool = True
    shown: np.ndarray | None = None
    slack: float = 0.5
    locked: np.ndarray | None = None
    cell_groups: tuple | None = None
    group_of: np.ndarray | None = None
    bounds: bool = True

    def subset(self, idx: np.ndarray, cells) -> AuditInput:
        """The figures ``idx`` (positions) alone, read with the weights ``cells``."""
        def take(v):
            return None if v is None else np.asarray(v)[idx]

        return replace(self, zone=self.zone[idx], level=self.level[idx], t=self.t[idx], lab=self.lab[idx], obs=self.obs[idx],
                       est=self.est[idx], cells=cells, shown=take(self.shown), locked=take(self.locked), cell_groups=None)

    def by_cells(self) -> list[tuple[np.ndarray, AuditInput]]:
        """Each group of figures that share weights, as ``(positions, its AuditInput)``:
        one group of all figures unless :attr:`cell_groups` is set.
        """
        if self.cell_groups is None:
            return [(np.arange(len(self.zone)), self)]
        group, mats = self.cell_groups
        order = np.argsort(group, kind="stable")
        cut = np.flatnonzero(np.diff(group[order])) + 1
        return [(idx, self.subset(idx, mats[int(group[idx[0]])])) for idx in np.split(order, cut) if len(idx)]

    def weight_groups(self) -> tuple[np.ndarray, list]:
        """Each figure's weights group and each group's weights (cells x zones, CSC of
        floats): :attr:`cell_groups`, or one group of :attr:`cells`.
        """
        group, mats = self.cell_groups if self.cell_groups is not None else (np.zeros(len(self.zone), np.int64), [self.cells])
        return np.asarray(group, np.int64), [sparse.csc_array(m, dtype=float) for m in mats]

    def cells_held(self, group: np.ndarray, ws: list) -> np.ndarray:
        """Per figure, how many cells its zone holds in its group's weights (from
        :meth:`weight_groups`): the size of its row in a programme.
        """
        held = np.zeros(len(self.zone))
        for g, w in enumerate(ws):
            on = np.flatnonzero(group == g)
            held[on] = np.diff(w.indptr)[self.zone[on]]
        return held

    def is_locked(self, idx: np.ndarray) -> np.ndarray:
        """Whether figures ``idx`` (positions) are out already: an earlier run published
        them, so they are never chosen to be suppressed.
        """
        return np.zeros(np.shape(idx), bool) if self.locked is None else np.asarray(self.locked, bool)[idx]

    def values(self, idx) -> np.ndarray:
        """What figures ``idx`` read where published (``shown``, or observed rounded)."""
        return np.round(self.obs[idx]) if self.shown is None else np.asarray(self.shown, dtype=float)[idx]

    def coarse(self) -> np.ndarray:
        """Per origin label, whether it is a coarser level's (its figures sum other
        labels' figures: :attr:`group_of`).
        """
        n = int(self.lab.max()) + 1 if len(self.lab) else 0
        out = np.zeros(max(n, 0 if self.group_of is None else len(self.group_of)), bool)
        if self.group_of is not None:
            g = np.asarray(self.group_of, np.int64)
            out[g[g >= 0]] = True
        return out


def parents(level_starts: list[np.ndarray], periods: list[str]) -> list[np.ndarray]:
    """Per period length, the index of the period holding each shortest period (-1: none).

    Parameters
    ----------
    level_starts : list of numpy.ndarray
        Per period length, its periods' starts (UTC nanoseconds, ascending).
    periods : list of str
        The period labels, shortest first.

    Returns
    -------
    list of numpy.ndarray
    """
    import pandas as pd

    from .counts import period_floor

    first = level_starts[0]
    out = [np.arange(len(first))]
    for starts, p in zip(level_starts[1:], periods[1:]):
        floor = pd.DatetimeIndex(period_floor(pd.Series(pd.to_datetime(first, utc=True)), p)).as_unit("ns").asi8
        pos = np.minimum(np.searchsorted(starts, floor), max(len(starts) - 1, 0))
        out.append(np.where(len(starts) and (starts[pos] == floor), pos, -1) if len(starts) else np.full(len(first), -1))
    return out


def zone_cells(weights, zone_ids) -> sparse.csc_array | None:
    """The weights' columns for ``zone_ids`` (cells x zones; a zone without weights: zeros)."""
    if weights is None:
        return None
    import pandas as pd

    at = pd.Index(np.asarray(weights.zone_ids, dtype=object).astype(str)).get_indexer(np.asarray(zone_ids, dtype=object).astype(str))
    m = sparse.csc_array(weights.matrix)
    cols = m[:, np.maximum(at, 0)].tocsc()
    if (at < 0).any():
        cols = cols @ sparse.diags_array((at >= 0).astype(float))
    return sparse.csc_array(cols)


def nested_codes(nested, zone_ids) -> list:
    """Nested zones with a rest, as ``(outer, [inner, ...])`` codes among ``zone_ids``."""
    from .privacy import nested_items

    at = {str(z): i for i, z in enumerate(zone_ids)}
    out = []
    for outer, inners, rest in nested_items(nested):
        if rest and str(outer) in at and all(str(i) in at for i in inners):
            out.append((at[str(outer)], [at[str(i)] for i in inners]))
    return out


def level_cells(weights, zone_ids, level: np.ndarray, starts_ns: np.ndarray, periods=None) -> tuple:
    """The weights for :class:`AuditInput`: ``(cells, cell_groups)``.

    Parameters
    ----------
    weights : Weights, dict, or None
        One :class:`~geozones.Weights` for every figure, or a dict of each published period
        length to its :class:`~geozones.density.PeriodWeights` (or Weights).
    zone_ids : array-like of str
        The zones in code order.
    level, starts_ns : numpy.ndarray
        Per figure, its period length (an index into ``periods``) and its period's start
        (UTC nanoseconds).
    periods : sequence of str, optional
        The period lengths, shortest first (with a dict of weights).
    """
    if not isinstance(weights, dict):
        return zone_cells(weights, zone_ids), None
    from .counts import parse_period

    weights = [weights[parse_period(p)] for p in periods]
    mats: list = []
    group = np.zeros(len(level), np.int64)
    for li, w in enumerate(weights):
        at = np.flatnonzero(level == li)
        parts = getattr(w, "parts", None)
        if parts is None:
            group[at] = len(mats)
            mats.append(zone_cells(w, zone_ids))
            continue
        used, g = np.unique(w.group(starts_ns[at]), return_inverse=True)
        code = np.empty(len(used), np.int64)
        seen: dict = {}  # (periods sharing one weights matrix are one group: its figures are read together)
        for i, u in enumerate(used):
            part = parts[int(u)]
            if id(part) not in seen:
                seen[id(part)] = len(mats)
                mats.append(zone_cells(part, zone_ids))
            code[i] = seen[id(part)]
        group[at] = code[g.reshape(-1)]
    if len(mats) == 1:
        return mats[0], None
    return (mats[0] if mats else None), (group, mats)


def home_labels(lab: np.ndarray, labels, zone_of, residents) -> tuple[np.ndarray, list]:
    """The figures' labels with each zone's residents under its home municipality's code,
    as the attacker reads them.

    ``resident`` means another municipality's people in each zone, so one label would tie
    together unknowns that are not the same people (a zone with no home, or another, shows
    them under their own code: :func:`geozones.aggregate.rollup_origins`), and the
    programmes over them would be wrong (unsolvable, or blind to a combination). Under
    their home's code, a label is the same people in every zone.

    Parameters
    ----------
    lab : numpy.ndarray of int
        Each figure's label, a position in ``labels``.
    labels : sequence of str
        The label names.
    zone_of : numpy.ndarray of str
        Each figure's zone id.
    residents : mapping of zone id to municipality code, or None
        The run's homes (:func:`geozones.origins.home_municipalities`).

    Returns
    -------
    numpy.ndarray of int, list of str
        Each figure's label code and the names of the codes: unchanged without residents;
        else the labels in use, in name order (the same codes whichever engine made the
        table: the audit's choices follow the codes' order).
    """
    from .origins import RESIDENT

    names = np.asarray(list(map(str, labels)), dtype=object)
    lab = np.asarray(lab, np.int64)
    if not residents or RESIDENT not in set(names.tolist()):
        return lab, list(map(str, labels))
    name = names[lab]
    res = np.flatnonzero(name == RESIDENT)
    homes = np.array([str(residents.get(str(z), "") or RESIDENT) for z in np.asarray(zone_of)[res]], dtype=object)
    name = name.copy()
    name[res] = homes
    uniq, code = np.unique(name.astype(str), return_inverse=True)
    return code.reshape(-1).astype(np.int64), uniq.tolist()
