"""Periods of counts: their labels, lengths, starts and ends, in Europe/Brussels local time
where a period is a day or longer (or several hours).

The counts' readers (:mod:`geozones.counts`) and engines share these; they are re-exported
there.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["TIMEZONE", "calendar_step", "nests", "not_nested", "off_period", "off_period_message", "parse_period", "period_end", "period_floor",
           "period_seconds"]

#: Local time of counts without an offset.
TIMEZONE = "Europe/Brussels"

_PERIOD = re.compile(r"^\s*(\d+)\s*(min|t|h|d|w|mo|month|q)\s*$", re.IGNORECASE)


def parse_period(label: str) -> str:
    """Canonical form of a period label: ``"60min"`` -> ``"1h"``, ``"24h"`` -> ``"1d"``.

    Accepted units: ``min``, ``h``, ``d``, ``w`` (a week from Monday), ``mo`` (a calendar
    month, only as ``1mo``; ``1month`` too) and ``q`` (a calendar quarter, only as ``1q``).
    Days, weeks, months and quarters are in Europe/Brussels local time.

    Parameters
    ----------
    label : str
        A whole number and a unit, in any case, spaces allowed: ``"15min"`` (or pandas'
        ``"15T"``), ``"2h"``, ``"24h"``, ``"7d"``, ``"1w"``, ``"1mo"``, ``"1q"``.

    Returns
    -------
    str
        The canonical label: minutes that make whole hours as hours (``"120min"`` ->
        ``"2h"``), one day as ``"1d"``, seven days as ``"1w"``; minutes divide an hour and
        hours divide a day.

    Raises
    ------
    InputError
        For anything else.
    """
    m = _PERIOD.match(str(label))
    if not m or int(m.group(1)) == 0:
        raise InputError(f"period {label!r} is not a period such as 15min, 1h, 1d, 1w, 1mo or 1q")
    n, unit = int(m.group(1)), m.group(2).lower()
    unit = {"t": "min", "month": "mo"}.get(unit, unit)
    if unit == "min" and n % 60 == 0:
        n, unit = n // 60, "h"
    if unit == "h" and n % 24 == 0 and n // 24 == 1:
        n, unit = 1, "d"
    if unit == "d" and n == 7:
        n, unit = 1, "w"
    if unit in ("d", "w", "mo", "q") and n != 1:
        raise InputError(f"period {label!r}: days, weeks, months and quarters are supported one at a time (1d, 1w, 1mo, 1q)")
    if unit == "min" and 60 % n:
        raise InputError(f"period {label!r}: minutes must divide an hour")
    if unit == "h" and 24 % n:
        raise InputError(f"period {label!r}: hours must divide a day")
    return f"{n}{unit}"


def period_seconds(period: str) -> float:
    """Length of a canonical period label in seconds (a month counted as 31 days, a quarter
    as 92), for ordering and comparing periods.
    """
    n, unit = int(re.match(r"\d+", period).group()), period.lstrip("0123456789")
    return n * {"min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 31 * 86400, "q": 92 * 86400}[unit]


def nests(short: str, long: str) -> bool:
    """Whether every period ``long`` is made of whole periods ``short``.

    Minutes and hours that divide a day make days, weeks, months and quarters (and longer
    such periods that they divide); days make weeks, months and quarters; months make
    quarters. A week does not nest in a month or a quarter: one that straddles their border
    belongs to both.

    Parameters
    ----------
    short, long : str
        Period labels (:func:`parse_period`).

    Returns
    -------
    bool
    """
    short, long = parse_period(short), parse_period(long)
    if short == long:
        return True
    if period_seconds(short) > period_seconds(long):
        return False
    s_unit, l_unit = short.lstrip("0123456789"), long.lstrip("0123456789")
    if s_unit == "w":
        return False
    if s_unit == "mo":
        return l_unit == "q"
    if l_unit in ("d", "w", "mo", "q"):
        return True
    return period_seconds(long) % period_seconds(short) == 0


def not_nested(short: str, long: str) -> tuple[str, str] | None:
    """(message, hint) when counts per ``short`` do not make periods ``long`` (else None),
    whether ``long`` is the shorter or the periods straddle each other's borders.
    """
    if nests(short, long):
        return None
    if period_seconds(parse_period(short)) > period_seconds(parse_period(long)):
        return (f"the counts are per {short}; they cannot be split into periods of {long}", f"choose --period {short} or longer")
    return (f"the counts are per {short}; those periods do not nest in periods of {long} (one that straddles a {long}'s border "
            f"belongs to two of them)", f"give counts per {'1d' if short == '1w' else '1h'} or shorter, or choose --period {short}")


def calendar_step(period: str) -> pd.DateOffset | None:
    """From one period's start to the next on the local calendar, for days, weeks, months
    and quarters (a day of 23 or 25 hours at a clock change, a month of its own length);
    None for minutes and hours, whose periods are fixed lengths of time.
    """
    period = parse_period(period)
    n, unit = int(re.match(r"\d+", period).group()), period.lstrip("0123456789")
    return {"d": pd.DateOffset(days=n), "w": pd.DateOffset(days=7 * n), "mo": pd.DateOffset(months=n),
            "q": pd.DateOffset(months=3 * n)}.get(unit)


def period_end(start: pd.Timestamp, period: str) -> pd.Timestamp:
    """The start of the period after the ``period`` that starts at ``start`` (a local time:
    days, weeks, months and quarters are the calendar's, in Europe/Brussels, 23 or 25 hours
    long at a clock change).
    """
    period = parse_period(period)
    step = calendar_step(period)
    if start.tzinfo is not None and step is not None:  # (a week from 2026-10-19T00:00+02:00 ends at local midnight
        start = start.tz_convert(TIMEZONE)  # on the 26th, +01:00: seven days of the calendar, 169 hours)
    if period == "1q":
        return start + pd.offsets.QuarterBegin(startingMonth=1)
    if period == "1mo":
        return start + pd.offsets.MonthBegin(1)
    return start + (step if step is not None else pd.Timedelta(seconds=period_seconds(period)))


def period_floor(times: pd.Series, period: str) -> pd.Series:
    """The start (UTC) of the ``period`` that holds each UTC time.

    Minutes and single hours are the same in UTC and in Belgian local time (its offsets
    are whole hours); several hours, days, weeks (from Monday), months and quarters are
    counted in Europe/Brussels local time.
    """
    period = parse_period(period)
    n, unit = int(re.match(r"\d+", period).group()), re.sub(r"\d+", "", period)
    if unit == "min" or period == "1h":
        return times.dt.floor(f"{n}min" if unit == "min" else "1h")
    local = times.dt.tz_convert(TIMEZONE).dt.tz_localize(None)
    if unit == "h":
        naive = local.dt.floor(f"{n}h")
    elif unit == "d":
        naive = local.dt.floor("1D")
    elif unit == "w":
        naive = local.dt.floor("1D") - pd.to_timedelta(local.dt.day_of_week, unit="D")
    elif unit == "mo":
        naive = local.dt.to_period("M").dt.start_time
    else:
        naive = local.dt.to_period("Q").dt.start_time
    return naive.dt.tz_localize(TIMEZONE, ambiguous=True, nonexistent="shift_forward").dt.tz_convert("UTC")


def shown_start(first: str | None, last: str | None, period: str, base: str | None = None) -> pd.Timestamp | None:
    """The ``period`` (the summary) a run shows where it has several (zones.geojson, the map,
    report.html): the last one the counts cover whole, else the last; None where the counts
    lie in one. A probe's 168 hours across the spring clock change reached one hour into a
    second week, and every view showed that hour as the week.

    Parameters
    ----------
    first, last : str, int or None
        The counts' first and last period starts (ISO text with its offset, or UTC nanoseconds).
    period : str
        The summary period.
    base : str, optional
        The counts' own period (the last one's end is the cover's).

    Returns
    -------
    pandas.Timestamp or None
        The period's start, UTC.
    """
    if not first or not last:
        return None
    a, b = (pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t).tz_convert("UTC") for t in (first, last))
    covered = b + pd.Timedelta(seconds=period_seconds(parse_period(base)) if base else 0)
    starts = [pd.Timestamp(period_floor(pd.Series([a]), period).iloc[0])]
    final = pd.Timestamp(period_floor(pd.Series([b]), period).iloc[0])
    while starts[-1] < final:
        starts.append(period_end(starts[-1], period).tz_convert("UTC"))
    if len(starts) < 2:
        return None
    whole = [s for s in starts if s >= a and period_end(s, period).tz_convert("UTC") <= covered]
    return whole[-1] if whole else starts[-1]


def off_period(starts_ns: np.ndarray, period: str) -> np.ndarray:
    """Which UTC times (nanoseconds) are not the start of a ``period``: an hourly count at
    10:30, or at 08:00:01, is a count of no hour, and a day's mean over its hours would take it
    as a 25th.
    """
    starts_ns = np.asarray(starts_ns, dtype=np.int64)
    if not len(starts_ns):
        return np.zeros(0, bool)
    floor = period_floor(pd.Series(pd.to_datetime(starts_ns, utc=True)), period)
    return starts_ns != pd.DatetimeIndex(floor).as_unit("ns").asi8


def off_period_message(start_ns: int, period: str) -> tuple[str, str]:
    """(message, hint) for a ``period_start`` that is not the start of its ``period``."""
    local = pd.Timestamp(int(start_ns), tz="UTC").tz_convert(TIMEZONE).isoformat()
    return (f"period_start {local} is not the start of a {period} period",
            f"the counts are per {period}: each row's period_start is where its {period} starts "
            f"({'on the hour' if period == '1h' else 'at local midnight' if period == '1d' else 'on its boundary'}); "
            "fix or remove these rows")


def clock_change(t) -> str:
    """Why a local time (naive, Europe/Brussels) has no single instant: ``"forward"`` (it
    does not exist: the clocks skip it), ``"back"`` (it happens twice), else ``""``.
    """
    t = pd.Timestamp(t)
    if pd.isna(t.tz_localize(TIMEZONE, ambiguous=True, nonexistent="NaT")):
        return "forward"
    return "back" if pd.isna(t.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="NaT")) else ""


def warn_far_time_zone(zones) -> None:
    """Warn when the zones lie far from Europe/Brussels' time zone: every day, week, month
    and night geozones counts is Brussels' (there is no time-zone setting), so a probe's
    Tokyo run published days from 07:00 to 07:00 local time without a word.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        The zone set (any CRS).
    """
    if not len(zones):
        return
    x0, _, x1, _ = zones.to_crs("EPSG:4326").total_bounds
    lon = (x0 + x1) / 2
    hours = (lon - 15.0) / 15.0  # (the sun's hours from the meridian of Brussels' standard time, UTC+1)
    if abs(hours) > 1.5:
        logging.getLogger("geozones").warning(
            "the zones lie near longitude %.0f, far from Europe/Brussels' time zone: geozones counts days, weeks, months and nights "
            "by Brussels' clock for every city (there is no time-zone setting), so a published day there begins about %d hours "
            "%s local midnight; times without an offset are read as Brussels' too", lon, round(abs(hours)), "after" if hours > 0 else "before")
