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
    a run of under three weeks compares with the same hour of a weekday or of a weekend
    day (three of them or more). Days compare with the same day of the week, or in a run
    of under three weeks with every day; weeks, months and quarters with each other.
``silent_cells``, ``low_cells``
    Days on which a cell counted nobody (``silent``), or under :data:`DROP_SHARE` of its
    usual (``low``), while the cells sharing a zone with it counted at least
    :data:`QUIET_NEIGHBOURS` of theirs. A cell's usual is its median over the same day of
    the week (two of them or more; else over every day of the run), and must be at least
    :data:`MIN_SILENT` (:data:`MIN_LOW` for a low day) so that chance alone would not
    make it: per day, how many such cells (never which: a cell's count, even zero, is a
    figure under k that the outputs must not carry). Checked where the counts (memory
    engine) or the published periods (stream and Dask) are a day or shorter; otherwise
    ``cells_checked`` is false.

Missing periods are looked for over ``--start``/``--end`` where given (a last day that
holds no row is missing too), else between the first and last period that holds rows.
Counts made from subscriber-level events for periods longer than an hour keep the events
per hour (``attrs["hourly_events"]``): an hour without any, where that hour of the day
usually holds :data:`MIN_LOW` or more, is missing, and its day partial.

The findings go into the manifest (``data_quality``) and the report's "Data quality"
section; with ``--strict-quality`` any finding stops the run with an error, before any
file is written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import CountsError

__all__ = ["DROP_SHARE", "MIN_SILENT", "MIN_LOW", "QUIET_NEIGHBOURS", "network_checks", "silent_cells", "never_counted", "data_quality",
           "check_strict", "findings", "quality_of_counts", "quality_of_bins"]

#: A period whose network total (or a cell's day) is under this share of its usual is a drop.
DROP_SHARE = 0.5
#: A cell's day of none is a finding where its usual is at least this (a Poisson count of
#: 10 is none by chance once in 22,000; a probe's cell of 2 to 7 people a day had a day of
#: none and failed --strict-quality).
MIN_SILENT = 10
#: A cell's day under half its usual is a finding where its usual is at least this (under
#: half of a Poisson 100 by chance: once in 10^7 cell-days).
MIN_LOW = 100
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


def _calendar(period: float | str) -> tuple[float, pd.DateOffset | None]:
    """A period (its label, or its length in seconds) as seconds, and as a step of the
    local calendar where it is a day or longer (days of 23 or 25 hours at a clock change;
    months and quarters of their own lengths).
    """
    if isinstance(period, str):
        from .periods import calendar_step, parse_period, period_seconds

        label = parse_period(period)
        return float(period_seconds(label)), calendar_step(label)
    secs = float(period)
    return secs, pd.DateOffset(days=int(secs // 86400)) if secs >= 86400 and secs % 86400 == 0 else None


def network_checks(totals: pd.Series, period_seconds: float | str, span: tuple | None = None, k: float = 0.0) -> dict:
    """Missing periods, partial days and drops from the network total per period.

    Parameters
    ----------
    totals : pandas.Series
        Network total (all cells and origins) per period start (UTC, tz-aware), for the
        periods that hold rows.
    period_seconds : float or str
        The counts' own period: its label (``"1mo"``: calendar months, a probe's February
        "ended" on 3 March when a month was 31 days) or its length in seconds.
    span : (start, end), optional
        The run's ``--start`` and ``--end`` (UTC, end exclusive; None where not given):
        missing periods are looked for over them (a probe's last day without rows, inside
        ``--end``, was not said).
    k : float, default 0
        The run's threshold: a drop to fewer than ``k`` people has no share (the share and
        the usual, which the published totals of the same hour give, told a probe's hidden
        network total of 8 people as 8 or 9).

    Returns
    -------
    dict
        ``missing_periods`` (runs), ``partial_days`` (date, periods present, expected) and
        ``drops`` (start, total as a share of the usual, None under ``k``).
    """
    out = {"missing_periods": [], "partial_days": [], "drops": []}
    period_seconds, days = _calendar(period_seconds)
    if not len(totals) or period_seconds <= 0:
        return out
    step = pd.Timedelta(seconds=period_seconds)
    idx = pd.DatetimeIndex(totals.index).tz_convert("UTC")
    totals = pd.Series(totals.to_numpy(dtype=float), index=idx).groupby(level=0).sum().sort_index()
    first, last = totals.index[0], totals.index[-1]
    a, b = span if span is not None else (None, None)
    if days is not None:  # (periods of the calendar: 23 or 25 hours at a clock change, months of their own lengths)
        f0, f1 = first.tz_convert(_TZ), last.tz_convert(_TZ)
        if a is not None:
            while f0 - days >= pd.Timestamp(a).tz_convert(_TZ):
                f0 = f0 - days
        if b is not None:
            while f1 + days < pd.Timestamp(b).tz_convert(_TZ):
                f1 = f1 + days
        full = pd.date_range(f0, f1, freq=days).tz_convert("UTC")
        missing = full.difference(totals.index)
        out["missing_periods"] = _runs(missing, step, days)
    else:
        f0 = first - step * int((first - pd.Timestamp(a)) // step) if a is not None and pd.Timestamp(a) < first else first
        f1 = last + step * int((pd.Timestamp(b) - last - pd.Timedelta(1)) // step) if b is not None and pd.Timestamp(b) > last + step else last
        full = pd.date_range(f0, f1, freq=step)
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
    # drops: against the median of the same hour of the week (days: the same day of the week)
    # where three of them are; else the short key's (three at least)
    local = totals.index.tz_convert(_TZ)
    if period_seconds < 86400:
        week_key = np.asarray(local.day_of_week * 24 + local.hour)
        # (a short run: the same hour of a weekday, or of a weekend day; the hour of every day made a
        # probe's Saturday and Sunday mornings drops)
        short_key = np.asarray((local.day_of_week >= 5) * 24 + local.hour)
    elif period_seconds == 86400:
        week_key, short_key = np.asarray(local.day_of_week), np.zeros(len(local), np.int64)  # (a probe's 14 days: never checked)
    else:
        week_key = short_key = np.zeros(len(local), np.int64)  # (weeks, months: with each other)
    usual = totals.groupby(week_key).transform("median")
    enough = totals.groupby(week_key).transform("size") >= 3
    usual = usual.where(enough, totals.groupby(short_key).transform("median"))
    enough = enough | (totals.groupby(short_key).transform("size") >= 3)
    low = (totals < DROP_SHARE * usual) & enough & (usual > 0)
    out["drops"] = [{"start": t.tz_convert(_TZ).isoformat(), "share_of_usual": round(float(v / u), 2) if v >= k else None}
                    for t, v, u in zip(totals.index[low], totals[low], usual[low])]
    return out


def silent_cells(days: pd.DatetimeIndex, per_cell: np.ndarray, neighbours: sparse.csr_array) -> tuple[list[dict], list[dict]]:
    """Per day, how many cells counted nobody, or under half their usual, while their zone
    neighbours counted.

    Parameters
    ----------
    days : pandas.DatetimeIndex
        Start of each day of ``per_cell``'s first axis.
    per_cell : numpy.ndarray
        Counts per day and cell, shape (days, cells).
    neighbours : scipy.sparse.csr_array
        Cell x cell, non-zero where two cells share a zone (the diagonal ignored).

    Returns
    -------
    (silent, low) : list of dict
        ``date`` and ``cells`` (how many) for every day with a silent cell, and with a low one.
    """
    x = np.asarray(per_cell, dtype=float)
    if x.shape[0] < 2 or not x.shape[1]:
        return [], []
    # a cell's usual: its median over the same day of the week (two or more of them), else over
    # every day (a probe's cell silent 3 days of 14 was not "active" and never said; one silent on
    # every Sunday, its Sunday usual none, is not)
    weekday = np.asarray(pd.DatetimeIndex(days).tz_convert(_TZ).day_of_week)
    usual = np.broadcast_to(np.median(x, axis=0), x.shape).copy()
    for d in np.unique(weekday):
        on_d = weekday == d
        if on_d.sum() >= 2:
            usual[on_d] = np.median(x[on_d], axis=0)
    nb = sparse.csr_array(neighbours, dtype=float, copy=True)
    nb.setdiag(0)
    nb.eliminate_zeros()
    nb.data[:] = 1.0
    n_nb = np.asarray(nb.sum(axis=1)).ravel()
    # the neighbours' count that day against their usual: a whole area quiet is not a silent cell
    ratio = np.divide(x, usual, out=np.ones_like(x), where=usual > 0)
    nb_level = np.divide((nb @ ratio.T).T, n_nb, out=np.zeros_like(x), where=n_nb > 0)
    around = (n_nb[None, :] > 0) & (nb_level >= QUIET_NEIGHBOURS)
    silent = (x <= 0) & (usual >= MIN_SILENT) & around
    low = (x > 0) & (x < DROP_SHARE * usual) & (usual >= MIN_LOW) & around
    local = pd.DatetimeIndex(days).tz_convert(_TZ)

    def per_day(found):
        n = found.sum(axis=1)
        return [{"date": str(local[i].date()), "cells": int(n[i])} for i in np.flatnonzero(n)]
    return per_day(silent), per_day(low)


def never_counted(daily: np.ndarray, neighbours: sparse.csr_array) -> int:
    """How many cells counted nobody on any day of the run while a cell sharing a zone with
    them counted: out for the whole run, or in the plan and not in service (not a finding:
    a plan may list cells not yet or no longer on air; the manifest and the report say how
    many, never which).
    """
    total = np.asarray(daily, dtype=float).sum(axis=0)
    nb = sparse.csr_array(neighbours, dtype=float, copy=True)
    nb.setdiag(0)
    nb.eliminate_zeros()
    return int(((total <= 0) & (nb @ (total > 0).astype(float) > 0)).sum())


def data_quality(network: dict, cells: tuple[list[dict], list[dict]] | None, never: int | None = None) -> dict:
    """The manifest's ``data_quality``: the findings and how many of each (lists capped).

    Parameters
    ----------
    network : dict
        From :func:`network_checks`.
    cells : (silent, low) or None
        From :func:`silent_cells`; None where the cells' days were not checked.
    never : int, optional
        From :func:`never_counted` (``cells_never_counted``; not a finding).

    Returns
    -------
    dict
    """
    silent, low = cells if cells is not None else ([], [])
    found = dict(network, silent_cells=silent, low_cells=low)
    out = {"ok": not any(found.values())}
    for key, items in found.items():
        out[key] = {"count": len(items), "listed": items[:_LISTED]}
        if key == "missing_periods":  # (count: runs of them; a probe's 85 missing days read "1 missing period")
            out[key]["periods"] = int(sum(i["periods"] for i in items))
    out["cells_checked"] = cells is not None
    if never is not None:
        out["cells_never_counted"] = never
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
                      hint="run without --strict-quality (or with strict_quality = false in the run's TOML) to publish with these listed "
                              "in the manifest's data_quality and the report")


def findings(quality: dict) -> str:
    """The findings of :func:`data_quality` in one line, the first of each kind named:
    "2 missing periods (first: 2025-06-03T04:00:00+02:00); 1 day with silent cells (first:
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
    for key, label in (("missing_periods", "missing period"), ("partial_days", "partial day"), ("drops", "drop"),
                       ("silent_cells", "day with silent cells"), ("low_cells", "day with cells under half their usual")):
        item = quality.get(key) or {"count": 0}
        if item["count"]:
            first = item["listed"][0]
            many = label.replace("day ", "days ", 1) if label.startswith("day ") else label + "s"
            n = item.get("periods", item["count"])  # (missing periods: how many, in how many gaps)
            gaps = f" in {item['count']} gaps" if key == "missing_periods" and 1 < item["count"] < n else ""
            said.append(f"{n} {label if n == 1 else many}{gaps} (first: {first.get('start') or first.get('date')})")
    return "; ".join(said)


def _neighbours(weights) -> sparse.csr_array:
    """Cells sharing a zone (cell x cell)."""
    on = sparse.csr_array(weights.matrix, dtype=float, copy=True)  # (a copy: the run's weights stay as they are)
    on.data[:] = 1.0
    return sparse.csr_array(on @ on.T)


def _cell_checks(starts, per_cell: np.ndarray, weights) -> tuple[tuple[list[dict], list[dict]], int]:
    """:func:`silent_cells` and :func:`never_counted` of counts per period and cell, added
    up per day; one neighbour matrix for both.
    """
    days, daily = _daily(pd.DatetimeIndex(starts), per_cell)
    nb = _neighbours(weights)
    return silent_cells(days, daily, nb), never_counted(daily, nb)


def _daily(starts: pd.DatetimeIndex, per_cell: np.ndarray) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Counts per period and cell added up per local day."""
    day = pd.DatetimeIndex(starts).tz_convert(_TZ).normalize()
    codes, uniq = pd.factorize(day, sort=True)
    out = np.zeros((len(uniq), per_cell.shape[1]))
    np.add.at(out, codes, per_cell)
    return pd.DatetimeIndex(uniq), out


def quality_of_counts(counts: pd.DataFrame, weights, period: float | str, published_seconds: float = 0.0,
                      span: tuple | None = None, k: float = 0.0) -> dict:
    """:func:`data_quality` of a counts table read whole (the memory engine).

    Parameters
    ----------
    counts : pandas.DataFrame
        ``cell_id``, ``period_start`` (UTC), ``count``.
    weights : Weights
        The run's weights (their cells and zones: who neighbours whom).
    period : str or float
        The counts' own period (its label, or its length in seconds).
    published_seconds : float
        The run's shortest published period: over a day, the cells' days are not checked
        (as the stream and Dask engines, which keep the published periods' sums only).
    span : (start, end), optional
        ``--start`` and ``--end`` (:func:`network_checks`).
    k : float, default 0
        The run's threshold (:func:`network_checks`).

    Returns
    -------
    dict
    """
    period_seconds = _calendar(period)[0]
    if not len(counts):
        return data_quality(network_checks(pd.Series(dtype=float), period, span), None)
    ci = pd.Index(np.asarray(weights.cell_ids).astype(str)).get_indexer(counts["cell_id"].astype(str))
    keep = ci >= 0  # (rows of cells not in the plan, dropped: out of the network's totals, as the stream engine leaves them)
    starts = pd.DatetimeIndex(counts["period_start"])[keep]
    totals = pd.Series(counts["count"].to_numpy(dtype=float)[keep]).groupby(starts, sort=True).sum()
    network = network_checks(totals, period, span, k)
    if "hourly_events" in counts.attrs:  # (counts made from events per day or longer: missing hours from the events)
        ev = counts.attrs["hourly_events"]
        a = ev.index.min().tz_convert(_TZ).normalize()  # (whole local days: a day's first event is not its first hour)
        b = (ev.index.max().tz_convert(_TZ).normalize().tz_localize(None) + pd.Timedelta(days=1)).tz_localize(_TZ) - pd.Timedelta(hours=1)
        ev = ev.reindex(pd.date_range(a, b, freq="1h").tz_convert("UTC"), fill_value=0.0)
        usual = ev.groupby(np.asarray(ev.index.tz_convert(_TZ).hour)).transform("median")
        # (a sample's quiet hours hold no event on many days: an hour without is missing only where it usually
        # holds many; its drops are too noisy to tell, the days' totals say those)
        hours = network_checks(ev[(ev > 0) | (usual < MIN_LOW)], 3600.0, span)
        network = dict(network, missing_periods=hours["missing_periods"], partial_days=hours["partial_days"])
    t_codes, t_uniq = pd.factorize(starts, sort=True)
    per = np.zeros((len(t_uniq), len(weights.cell_ids)))
    np.add.at(per, (t_codes, ci[keep]), counts["count"].to_numpy(dtype=float)[keep])
    cells = never = None
    if period_seconds <= 86400 and published_seconds <= 86400:  # (the stream engine sees the published periods only)
        cells, never = _cell_checks(t_uniq, per, weights)
    return data_quality(network, cells, never) | {"period_seconds": period_seconds}


def quality_of_bins(bins, weights, span: tuple | None = None, k: float = 0.0) -> dict:
    """:func:`data_quality` of counts read by the stream or Dask engine.

    Network checks use the totals per period of the counts' own that the engine kept
    (``bins.info["raw_totals"]``); silent cells use the sums per published period, added
    up per day (none when the published period is longer than a day).

    Parameters
    ----------
    bins : CellBins
    weights : Weights
    span : (start, end), optional
        ``--start`` and ``--end`` (:func:`network_checks`).
    k : float, default 0
        The run's threshold (:func:`network_checks`).

    Returns
    -------
    dict
    """
    from .counts import period_seconds

    raw = bins.info.get("raw_totals") or {}
    base = bins.info.get("base_period") or bins.period
    totals = pd.Series(list(raw.values()), index=pd.to_datetime(list(raw.keys()), utc=True), dtype=float)
    cells = never = None
    if period_seconds(bins.period) <= 86400 and len(bins.period_start):
        per = np.asarray(bins.sums.sum(axis=1), dtype=float)  # (periods, cells)
        cells, never = _cell_checks(pd.to_datetime(bins.period_start, utc=True), per, weights)
    return data_quality(network_checks(totals, base, span, k), cells, never) | {"period_seconds": period_seconds(base)}
