"""Data quality before any figure: gaps and outages in the counts, found and listed.

A figure from counts with a hole in them is wrong in a way no interval shows. Before the
figures are published, a run looks for:

``missing_periods``
    Periods of the counts' own length (hours) between the first and the last that hold no
    row at all, on the whole network: listed as runs (start, end, length).
``partial_days``
    Days (Europe/Brussels) that hold rows for some of their periods only (the first and
    the last day of the counts included: a quarter that starts at noon is partial).
``drops``
    Periods whose network total is under :data:`DROP_SHARE` of the median of the same hour
    of the week over the run (a sudden drop: an outage, a lost file), missing ones aside;
    a run of under three weeks compares with the same hour of the day (three days or more).
``silent_cells``
    Days on which cells that count on most days (at least :data:`ACTIVE_SHARE` of them; in
    a run of 2 to 4 days, all days but one)
    counted nobody while the cells sharing a zone with them counted at least half their
    usual: per day, how many such cells (never which: a cell's count, even zero, is a
    figure under k that the outputs must not carry).

The findings go into the manifest (``data_quality``) and the report's "Data quality"
section; with ``--strict-quality`` any finding stops the run with an error, before any
file is written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import CountsError

__all__ = ["DROP_SHARE", "ACTIVE_SHARE", "QUIET_NEIGHBOURS", "network_checks", "silent_cells", "data_quality", "check_strict", "findings",
           "quality_of_counts", "quality_of_bins"]

#: A period whose network total is under this share of its usual is a drop.
DROP_SHARE = 0.5
#: A cell counts as active when it counted on at least this share of the days (a run of 2
#: to 4 days: on all but one).
ACTIVE_SHARE = 0.8
#: A silent cell's zone neighbours must count at least this share of their usual that day.
QUIET_NEIGHBOURS = 0.5
_TZ = "Europe/Brussels"
_LISTED = 50


def _runs(starts: pd.DatetimeIndex, step: pd.Timedelta, days: pd.DateOffset | None = None) -> list[dict]:
    """Consecutive periods as runs: start, end (exclusive) and how many (``days``: periods
    of whole local days, which a clock change makes 23 or 25 hours long).
    """
    if not len(starts):
        return []
    s = starts.sort_values()
    if days is None:
        breaks = np.flatnonzero(np.diff(s.as_unit("ns").asi8) != step.value) + 1
    else:
        local = s.tz_convert(_TZ)
        breaks = np.flatnonzero(np.asarray(local[1:] != (local[:-1] + days))) + 1
    out = []
    for part in np.split(np.arange(len(s)), breaks):
        a = s[part[0]]
        b = s[part[-1]] + step if days is None else (s[part[-1]].tz_convert(_TZ) + days).tz_convert("UTC")
        out.append({"start": a.tz_convert(_TZ).isoformat(), "end": b.tz_convert(_TZ).isoformat(), "periods": int(len(part))})
    return out


def network_checks(totals: pd.Series, period_seconds: float) -> dict:
    """Missing periods, partial days and drops from the network total per period.

    Parameters
    ----------
    totals : pandas.Series
        Network total (all cells and origins) per period start (UTC, tz-aware), for the
        periods that hold rows.
    period_seconds : float
        The counts' own period.

    Returns
    -------
    dict
        ``missing_periods`` (runs), ``partial_days`` (date, periods present, expected) and
        ``drops`` (start, total as a share of the usual).
    """
    out = {"missing_periods": [], "partial_days": [], "drops": []}
    if not len(totals) or period_seconds <= 0:
        return out
    step = pd.Timedelta(seconds=period_seconds)
    idx = pd.DatetimeIndex(totals.index).tz_convert("UTC")
    totals = pd.Series(totals.to_numpy(dtype=float), index=idx).groupby(level=0).sum().sort_index()
    if period_seconds >= 86400 and period_seconds % 86400 == 0:  # (days of the calendar: 23 or 25 hours at a clock change)
        days = pd.DateOffset(days=int(period_seconds // 86400))
        full = pd.date_range(totals.index[0].tz_convert(_TZ), totals.index[-1].tz_convert(_TZ), freq=days).tz_convert("UTC")
        missing = full.difference(totals.index)
        out["missing_periods"] = _runs(missing, step, days)
    else:
        full = pd.date_range(totals.index[0], totals.index[-1], freq=step)
        missing = full.difference(totals.index)
        out["missing_periods"] = _runs(missing, step)
    if period_seconds < 86400:
        local = full.tz_convert(_TZ)
        day = pd.Series(local.normalize().date, index=full)
        have = pd.Series(full.isin(totals.index), index=full)
        per_day = have.groupby(day.to_numpy()).agg(["sum", "size"])
        # a whole day: as many periods as the day has (23 or 25 at a clock change)
        days = pd.to_datetime(per_day.index.astype(str)).tz_localize(_TZ)
        # (the next local midnight: 24 hours after a clock-change midnight is 23:00 or 01:00)
        expected = ((days.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(_TZ, ambiguous="NaT", nonexistent="shift_forward")
                    - days).total_seconds() / period_seconds
        expected = np.where(np.isfinite(expected), expected, 86400 / period_seconds)
        part = (per_day["sum"].to_numpy() > 0) & (per_day["sum"].to_numpy() < expected)
        out["partial_days"] = [{"date": str(d), "periods": int(n), "expected": int(e)}
                               for d, n, e in zip(per_day.index[part], per_day["sum"].to_numpy()[part], np.asarray(expected)[part])]
    # drops: against the median of the same hour of the week (the same day of the week for
    # longer periods), over three weeks or more; a shorter run against the same hour of the
    # day over three days or more
    local = totals.index.tz_convert(_TZ)
    week_key = np.asarray(local.day_of_week * 24 + local.hour if period_seconds < 86400 else local.day_of_week)
    usual = totals.groupby(week_key).transform("median")
    enough = totals.groupby(week_key).transform("size") >= 3
    if period_seconds < 86400:
        day_key = np.asarray(local.hour)
        usual = usual.where(enough, totals.groupby(day_key).transform("median"))
        enough = enough | (totals.groupby(day_key).transform("size") >= 3)
    low = (totals < DROP_SHARE * usual) & enough & (usual > 0)
    out["drops"] = [{"start": t.tz_convert(_TZ).isoformat(), "share_of_usual": round(float(v / u), 2)}
                    for t, v, u in zip(totals.index[low], totals[low], usual[low])]
    return out


def silent_cells(days: pd.DatetimeIndex, per_cell: np.ndarray, neighbours: sparse.csr_array) -> list[dict]:
    """Per day, how many active cells counted nobody while their zone neighbours counted.

    Parameters
    ----------
    days : pandas.DatetimeIndex
        Start of each day (or longer-than-hourly period) of ``per_cell``'s first axis.
    per_cell : numpy.ndarray
        Counts per day and cell, shape (days, cells).
    neighbours : scipy.sparse.csr_array
        Cell x cell, non-zero where two cells share a zone (the diagonal ignored).

    Returns
    -------
    list of dict
        ``date`` and ``cells`` (how many) for every day with a silent cell.
    """
    x = np.asarray(per_cell, dtype=float)
    if x.shape[0] < 2 or not x.shape[1]:
        return []
    on = x > 0
    # silent on at most a fifth of the days, or on one day of a short run (2 to 4 days)
    quiet_days = (~on).sum(axis=0)
    active = on.any(axis=0) & (quiet_days <= max(1, int(np.floor((1 - ACTIVE_SHARE) * x.shape[0] + 1e-9))))
    usual = np.median(np.where(on, x, np.nan), axis=0) if on.any() else np.zeros(x.shape[1])
    usual = np.nan_to_num(usual)
    nb = sparse.csr_array(neighbours, dtype=float, copy=True)
    nb.setdiag(0)
    nb.eliminate_zeros()
    nb.data[:] = 1.0
    n_nb = np.asarray(nb.sum(axis=1)).ravel()
    # the neighbours' count that day against their usual: a whole area quiet is not a silent cell
    ratio = np.divide(x, usual, out=np.zeros_like(x), where=usual > 0)
    nb_level = np.divide((nb @ ratio.T).T, n_nb, out=np.zeros_like(x), where=n_nb > 0)
    silent = ~on & active[None, :] & (n_nb[None, :] > 0) & (nb_level >= QUIET_NEIGHBOURS)
    per_day = silent.sum(axis=1)
    local = pd.DatetimeIndex(days).tz_convert(_TZ)
    return [{"date": str(local[i].date()), "cells": int(per_day[i])} for i in np.flatnonzero(per_day)]


def data_quality(network: dict, silent: list[dict]) -> dict:
    """The manifest's ``data_quality``: the findings and how many of each (lists capped).

    Parameters
    ----------
    network : dict
        From :func:`network_checks`.
    silent : list of dict
        From :func:`silent_cells`.

    Returns
    -------
    dict
    """
    found = dict(network, silent_cells=silent)
    out = {"ok": not any(found.values())}
    for key, items in found.items():
        out[key] = {"count": len(items), "listed": items[:_LISTED]}
    return out


def check_strict(quality: dict, source: str | None) -> None:
    """Raise for any finding (``--strict-quality``): one line naming the first of each kind.

    Parameters
    ----------
    quality : dict
        From :func:`data_quality`.
    source : str, optional
        The counts file, to name it.

    Raises
    ------
    CountsError
    """
    if quality.get("ok", True):
        return
    raise CountsError(f"data quality: {findings(quality)}", path=source,
                      hint="run without --strict-quality to publish with these listed in the manifest's data_quality and the report")


def findings(quality: dict) -> str:
    """The findings of :func:`data_quality` in one line, the first of each kind named:
    "2 missing periods (first: 2025-06-03T04:00:00+02:00); 1 days with silent cells (first:
    2025-06-05)"; empty when there are none.

    Parameters
    ----------
    quality : dict
        From :func:`data_quality`.

    Returns
    -------
    str
    """
    said = []
    for key, label in (("missing_periods", "missing periods"), ("partial_days", "partial days"), ("drops", "drops"),
                       ("silent_cells", "days with silent cells")):
        item = quality.get(key) or {"count": 0}
        if item["count"]:
            first = item["listed"][0]
            said.append(f"{item['count']} {label} (first: {first.get('start') or first.get('date')})")
    return "; ".join(said)


def _neighbours(weights) -> sparse.csr_array:
    """Cells sharing a zone (cell x cell)."""
    on = sparse.csr_array(weights.matrix, dtype=float, copy=True)  # (a copy: the run's weights stay as they are)
    on.data[:] = 1.0
    return sparse.csr_array(on @ on.T)


def _daily(starts: pd.DatetimeIndex, per_cell: np.ndarray) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Counts per period and cell added up per local day."""
    day = pd.DatetimeIndex(starts).tz_convert(_TZ).normalize()
    codes, uniq = pd.factorize(day, sort=True)
    out = np.zeros((len(uniq), per_cell.shape[1]))
    np.add.at(out, codes, per_cell)
    return pd.DatetimeIndex(uniq), out


def quality_of_counts(counts: pd.DataFrame, weights, period_seconds: float) -> dict:
    """:func:`data_quality` of a counts table read whole (the memory engine).

    Parameters
    ----------
    counts : pandas.DataFrame
        ``cell_id``, ``period_start`` (UTC), ``count``.
    weights : Weights
        The run's weights (their cells and zones: who neighbours whom).
    period_seconds : float
        The counts' own period.

    Returns
    -------
    dict
    """
    if not len(counts):
        return data_quality(network_checks(pd.Series(dtype=float), period_seconds), [])
    starts = pd.DatetimeIndex(counts["period_start"])
    totals = counts.groupby(starts, sort=True)["count"].sum()
    ci = pd.Index(np.asarray(weights.cell_ids).astype(str)).get_indexer(counts["cell_id"].astype(str))
    keep = ci >= 0
    t_codes, t_uniq = pd.factorize(starts[keep], sort=True)
    per = np.zeros((len(t_uniq), len(weights.cell_ids)))
    np.add.at(per, (t_codes, ci[keep]), counts["count"].to_numpy(dtype=float)[keep])
    silent = []
    if period_seconds <= 86400:
        days, daily = _daily(pd.DatetimeIndex(t_uniq), per)
        silent = silent_cells(days, daily, _neighbours(weights))
    return data_quality(network_checks(totals, period_seconds), silent)


def quality_of_bins(bins, weights) -> dict:
    """:func:`data_quality` of counts read by the stream or Dask engine.

    Network checks use the totals per period of the counts' own that the engine kept
    (``bins.info["raw_totals"]``); silent cells use the sums per published period, added
    up per day (none when the published period is longer than a day).

    Parameters
    ----------
    bins : CellBins
    weights : Weights

    Returns
    -------
    dict
    """
    from .counts import period_seconds

    raw = bins.info.get("raw_totals") or {}
    base = bins.info.get("base_period") or bins.period
    totals = pd.Series(list(raw.values()), index=pd.to_datetime(list(raw.keys()), utc=True), dtype=float)
    silent = []
    if period_seconds(bins.period) <= 86400 and len(bins.period_start):
        per = np.asarray(bins.sums.sum(axis=1), dtype=float)  # (periods, cells)
        days, daily = _daily(pd.to_datetime(bins.period_start, utc=True), per)
        silent = silent_cells(days, daily, _neighbours(weights))
    return data_quality(network_checks(totals, period_seconds(base)), silent)
