"""The footprint model's density per published period (``--density period``).

A crowd that comes on one day (a braderie, a festival) stands somewhere else than the
people of an ordinary day. With ``--density run`` one density, from the counts summed
over the whole run, places every period's people; with ``--density period`` (the
default) every published figure comes from the density of its own period's counts: a
day's figures from that day's, an hour's from that hour's, the quarter's from the
quarter's (:func:`geozones.footprint.refined_weights` of that period's cell totals).

Each figure is then still linear in its own period's counts, with weights that its
period's counts set: the privacy audit reads every period with its own weights
(:class:`PeriodWeights`, ``AuditInput.cell_groups``). A longer period's figure is not
exactly the mean (or sum) of its shorter periods' figures any more, since each has its
own density; the audit's relations over time still treat it as one (which can only
hide more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .counts import parse_period, period_floor
from .errors import WeightsError
from .weights import Weights

__all__ = ["DENSITIES", "PeriodWeights", "period_weights", "split_by_period"]

#: Where the footprint model's density comes from: the counts of each published period, or of the whole run.
DENSITIES = ("period", "run")


@dataclass(frozen=True)
class PeriodWeights:
    """Cell x zone weights that change with the period: one :class:`~geozones.Weights` per
    period of length ``period`` (the same cells and zones in each).

    Attributes
    ----------
    period : str
        The length of the periods whose counts set each density (``1d``...).
    starts : numpy.ndarray of int64
        Each period's start, UTC nanoseconds, ascending.
    parts : tuple of Weights
        The weights of each period, in the order of ``starts``.
    """

    period: str
    starts: np.ndarray
    parts: tuple

    def __post_init__(self) -> None:
        if len(self.starts) != len(self.parts) or not len(self.parts):
            raise WeightsError("weights per period need one weights matrix per period start, and at least one")

    @property
    def cell_ids(self) -> np.ndarray:
        """The cells, as in every period's weights."""
        return self.parts[0].cell_ids

    @property
    def zone_ids(self) -> np.ndarray:
        """The zones, as in every period's weights."""
        return self.parts[0].zone_ids

    @property
    def zone_labels(self) -> np.ndarray:
        """The zone ids and ``outside`` last."""
        return self.parts[0].zone_labels

    @property
    def meta(self) -> dict:
        """How the weights were made (the first period's say it for all)."""
        return self.parts[0].meta

    def group(self, starts_ns) -> np.ndarray:
        """The index in :attr:`parts` of the period holding each start (UTC nanoseconds)."""
        starts_ns = np.asarray(starts_ns, dtype=np.int64)
        u, inv = np.unique(starts_ns, return_inverse=True)
        floor = pd.DatetimeIndex(period_floor(pd.Series(pd.to_datetime(u, utc=True)), self.period)).as_unit("ns").asi8
        at = np.searchsorted(self.starts, floor)
        bad = (at >= len(self.starts)) | (self.starts[np.minimum(at, len(self.starts) - 1)] != floor)
        if bad.any():
            raise WeightsError(f"no density for the period starting {pd.Timestamp(int(u[np.argmax(bad)]), tz='UTC')}",
                               hint="weights per period are made from the counts of the periods they serve")
        return at[inv.reshape(-1)]

    def map(self, fn: Callable[[Weights], Weights]) -> PeriodWeights:
        """``fn`` applied to each period's weights."""
        return PeriodWeights(self.period, self.starts, tuple(fn(w) for w in self.parts))


def split_by_period(weights, starts_ns) -> list[tuple[Weights, np.ndarray]]:
    """The weights for each group of periods, and the positions (in ``starts_ns``) they serve.

    Parameters
    ----------
    weights : Weights or PeriodWeights
    starts_ns : array-like of int64
        Period starts, UTC nanoseconds.

    Returns
    -------
    list of (Weights, numpy.ndarray)
        One pair for plain weights (every position); one per period that holds some of
        ``starts_ns`` for :class:`PeriodWeights`.
    """
    n = len(starts_ns)
    if not isinstance(weights, PeriodWeights):
        return [(weights, np.arange(n))]
    g = weights.group(starts_ns)
    order = np.argsort(g, kind="stable")
    cut = np.flatnonzero(np.diff(g[order])) + 1
    return [(weights.parts[int(g[idx[0]])], idx) for idx in np.split(order, cut) if len(idx)]


def period_weights(refine: Callable[[np.ndarray], Weights], starts_ns: np.ndarray, totals, period: str) -> PeriodWeights:
    """The weights of each period of length ``period``, from its cells' counts.

    Parameters
    ----------
    refine : callable
        Per-cell totals -> the weights of the density they imply
        (:func:`geozones.footprint.refined_weights` with the footprints bound).
    starts_ns : numpy.ndarray of int64
        The counts' periods (UTC nanoseconds), one per row of ``totals``.
    totals : numpy.ndarray or scipy sparse matrix
        Shape (len(starts_ns), cells): the people each cell counted in each of the
        counts' periods (any origin).
    period : str
        The length of the periods whose counts make one density: each row goes to the
        period of this length that holds its start.

    Returns
    -------
    PeriodWeights
    """
    period = parse_period(period)
    starts_ns = np.asarray(starts_ns, dtype=np.int64)
    floor = pd.DatetimeIndex(period_floor(pd.Series(pd.to_datetime(starts_ns, utc=True)), period)).as_unit("ns").asi8
    groups, g = np.unique(floor, return_inverse=True)
    g = g.reshape(-1)
    add = sparse.csr_array((np.ones(len(g)), (g, np.arange(len(g)))), shape=(len(groups), len(g)))
    per = add @ (totals if sparse.issparse(totals) else np.asarray(totals, dtype=float))
    per = per.toarray() if sparse.issparse(per) else np.asarray(per)
    return PeriodWeights(period, groups.astype(np.int64), tuple(refine(np.asarray(row, dtype=float)) for row in per))
