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

from ._progress import noted
from .counts import parse_period, period_floor
from .errors import WeightsError
from .weights import Weights

__all__ = ["DENSITIES", "PeriodWeights", "density_note", "deviance", "period_weights", "run_density", "split_by_period"]

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
    steps : tuple of int
        Per period, the EM steps its density took (0: the run's density as it is).
    """

    period: str
    starts: np.ndarray
    parts: tuple
    steps: tuple = ()

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
        u, inv = np.unique(np.asarray(starts_ns, dtype=np.int64), return_inverse=True)
        floor = _floor(u, self.period)
        at = np.searchsorted(self.starts, floor)
        bad = (at >= len(self.starts)) | (self.starts[np.minimum(at, len(self.starts) - 1)] != floor)
        if bad.any():
            raise WeightsError(f"no density for the period starting {pd.Timestamp(int(u[np.argmax(bad)]), tz='UTC')}",
                               hint="weights per period are made from the counts of the periods they serve")
        return at[inv.reshape(-1)]

    def map(self, fn: Callable[[Weights], Weights]) -> PeriodWeights:
        """``fn`` applied to each period's weights (once to weights that periods share, which
        then share the result).
        """
        done: dict = {}
        for w in self.parts:
            if id(w) not in done:
                done[id(w)] = fn(w)
        return PeriodWeights(self.period, self.starts, tuple(done[id(w)] for w in self.parts), self.steps)


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


def period_weights(fp, weights: Weights, starts_ns: np.ndarray, totals, period: str, *, start: np.ndarray | None = None,
                   inside: np.ndarray | None = None) -> PeriodWeights:
    """The weights of each period of length ``period``, from its cells' counts.

    Parameters
    ----------
    fp : geozones.Footprints
        The footprints of the cells of ``weights``.
    weights : Weights
        The weights under the prior (their cells, zones and order are kept).
    starts_ns : numpy.ndarray of int64
        The counts' periods (UTC nanoseconds), one per row of ``totals``.
    totals : numpy.ndarray or scipy sparse matrix
        Shape (len(starts_ns), cells of ``weights``): the people each cell counted in each
        of the counts' periods (any origin).
    period : str
        The length of the periods whose counts make one density: each row goes to the
        period of this length that holds its start.
    start : numpy.ndarray, optional
        Per tile, the whole run's density (:func:`run_density`). Each period's density is
        then the EM started from it and stopped as soon as it explains the period's counts
        as well as the run's density explains a typical period's (the median deviance
        per cell over the periods, :func:`deviance`): a period like the others keeps the
        run's density, one whose crowd stood elsewhere (an event day) moves as far as its
        counts say. The counts are taken per counts period (their mean over the period's
        rows), so that a day of 23 or 25 hours is held to the same measure. None: each period's own EM from the prior
        (:func:`geozones.footprint.estimate_density`).
    inside : numpy.ndarray, optional
        Per row of ``totals``, how many of the counts' own periods it adds up (rows of
        days summed from hours: 23, 24 or 25); default one each.

    Returns
    -------
    PeriodWeights
    """
    from .footprint import ITERATIONS, estimate_density, refined_weights

    period = parse_period(period)
    groups, g = np.unique(_floor(np.asarray(starts_ns, dtype=np.int64), period), return_inverse=True)
    g = g.reshape(-1)
    add = sparse.csr_array((np.ones(len(g)), (g, np.arange(len(g)))), shape=(len(groups), len(g)))
    per = add @ (totals if sparse.issparse(totals) else np.asarray(totals, dtype=float))
    per = per.toarray() if sparse.issparse(per) else np.asarray(per)
    at = pd.Index(np.asarray(fp.cell_ids).astype(str)).get_indexer(np.asarray(weights.cell_ids).astype(str))
    if (at < 0).any():
        raise WeightsError("the footprints lack some of the weights' cells", hint="build the weights and footprints together")
    n = np.zeros((len(groups), len(fp.cell_ids)))
    # (per counts period: a day of 25 hours, at the clock change, or a day counted in part is
    # held to the same deviance as a whole day; its summed counts had been 25/24 of a day's,
    # and the day moved from the run's density where its people stood as on any other day)
    n[:, at] = per / np.bincount(g, weights=inside, minlength=len(groups))[:, None]
    P = fp.matrix
    steps, parts = [], []
    same = None  # (periods that keep the run's density share one weights matrix: memory for an hourly quarter)
    if start is not None:
        q0 = P @ start
        mu = q0[None, :] * (n.sum(axis=1, keepdims=True) / max(float(q0.sum()), 1e-300))
        dev = [deviance(row, m) for row, m in zip(n, mu)]
        del mu
        ratio = [d / dof for d, dof in dev if dof > 0]
        phi = float(np.median(ratio)) if ratio else 0.0
        PT = sparse.csr_array(P.T)
    # (one density at a time: a quarter's densities over a national grid would not fit; a note now and then, as the
    # audit gives: a probe's hourly fortnight spent 102 s here without a word)
    for i, row in noted(n, lambda i: f"density per {period}: {i} of {len(n)} periods estimated"):
        if start is None:
            lam, k = estimate_density(P, row, fp.prior), ITERATIONS
        else:
            lam, k = _em_until(P, PT, row, start, q0, phi * dev[i][1], ITERATIONS)
        steps.append(k)
        if start is not None and k == 0:
            same = same or refined_weights(fp, weights, per[i], density=start)
            parts.append(same)
        else:
            parts.append(refined_weights(fp, weights, per[i], density=lam))
        del lam
    # (to a billionth: the engines add the counts in another order, and weights 4e-15 apart chose other
    # figures to suppress, so a Parquet export and a CSV of the same counts published different tables)
    done: dict[int, Weights] = {}  # (periods sharing one matrix still share one)
    for w in parts:
        if id(w) not in done:
            done[id(w)] = _rounded(w)
    parts = [done[id(w)] for w in parts]
    return PeriodWeights(period, groups.astype(np.int64), tuple(parts), tuple(steps))


def _rounded(w: Weights, digits: int = 9) -> Weights:
    m = sparse.csc_array(w.matrix, dtype=float, copy=True)
    m.data = np.round(m.data, digits)
    m.eliminate_zeros()
    return Weights(m, w.cell_ids, w.zone_ids, np.round(np.asarray(w.outside, dtype=float), digits), w.meta)


def run_density(fp, weights: Weights, totals: np.ndarray) -> np.ndarray:
    """The density over ``fp``'s tiles that the whole run's counts imply (``totals``: per
    cell of ``weights``, all periods and origins together).
    """
    from .footprint import estimate_density

    at = pd.Index(np.asarray(fp.cell_ids).astype(str)).get_indexer(np.asarray(weights.cell_ids).astype(str))
    n = np.zeros(len(fp.cell_ids))
    n[at[at >= 0]] = np.asarray(totals, dtype=float)[at >= 0]
    return estimate_density(fp.matrix, n, fp.prior)


def deviance(counts: np.ndarray, expected: np.ndarray) -> tuple[float, int]:
    """The Poisson deviance of ``counts`` against ``expected`` over the cells that expect
    someone, and how many those are.
    """
    ok = expected > 0
    n, mu = counts[ok], expected[ok]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # (a count where next to nobody is expected: an infinite deviance)
        t = np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0) / mu), 0.0)
    return 2.0 * float((t - (n - mu)).sum()), int(ok.sum())


def _em_until(P, PT, counts: np.ndarray, start: np.ndarray, q0: np.ndarray, target: float, most: int) -> tuple[np.ndarray, int]:
    """EM (Richardson-Lucy) from ``start`` scaled to the counts, until the deviance is at
    most ``target`` (or ``most`` steps): the density and the steps taken. ``q0``: ``P @
    start``, the same for every period (made once).
    """
    lam = start * (counts[q0 > 0].sum() / max(float(q0.sum()), 1e-300))
    for k in range(most):
        q = P @ lam
        if deviance(counts, q)[0] <= target * (1 + 1e-9) + 1e-9:  # (the median period's own deviance is the target: rounding must not move it)
            return lam, k
        lam = lam * (PT @ np.divide(counts, q, out=np.zeros_like(counts), where=q > 0))
    return lam, most


def _floor(starts_ns: np.ndarray, period: str) -> np.ndarray:
    """The start (UTC nanoseconds) of the ``period`` that holds each start."""
    return pd.DatetimeIndex(period_floor(pd.Series(pd.to_datetime(starts_ns, utc=True)), period)).as_unit("ns").asi8


def density_note(footprinted: bool, weights: Weights, density: str) -> dict:
    """What a run's manifest says of the footprint model's density (nothing about people).

    Parameters
    ----------
    footprinted : bool
        Whether the run's weights come from footprints (nothing is said otherwise).
    weights : Weights
        The run's weights (their ``meta`` holds the model's parameters).
    density : str
        The run's ``--density`` (:data:`DENSITIES`).

    Returns
    -------
    dict
        ``{"footprint": {...}}``, or empty.
    """
    if not footprinted:
        return {}
    keys = ("tile_m", "path_loss_exponent", "softness_db", "reach_factor", "prior", "tiles", "iterations")
    where = ("estimated from each published period's own counts (a day's figures from that day's, the summary period's from all "
             "of its counts; --density period)" if density == "period" else
             "estimated from this run's counts, summed over its periods and origins (--density run)")
    return {
        "footprint": {k: weights.meta.get(k) for k in keys}
        | {"density": where + "; weights.parquet holds the weights under the prior density (the run's own weights carry the "
                              "counts and are not written)"}
    }
