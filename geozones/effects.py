"""What an event or a campaign adds: its visitors per day minus a baseline of ordinary days.

The baseline of an event is the same weekdays as its days within four weeks either side,
without any event or campaign day; a campaign (``campaigns.csv``: name, start, end) takes the
same weekdays in the four weeks before its start and after its end. Only published figures
are used (a day whose figure was suppressed is neither an event day nor a baseline day).

The 90% interval of what was added: the apportioning error of a zone is shared by its days
(same cells, same zone), so it scales the difference as it scales each figure (the event
days' own interval, as factors of their estimate); to that is added the baseline's
day-to-day spread, 1.645 standard errors of its mean (docs/accuracy.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import people_text, read_csv_text
from .errors import InputError

__all__ = ["read_campaigns", "added_by", "effect_rows", "WINDOW_DAYS"]

#: Days either side of an event where its baseline days are taken.
WINDOW_DAYS = 28
_Z90 = 1.645


def read_campaigns(path: str | os.PathLike[str]) -> dict[str, tuple[str, str]]:
    """Read campaign periods: a CSV with ``name``, ``start`` and ``end`` (dates, YYYY-MM-DD, both included).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict of str to (str, str)

    Raises
    ------
    InputError
        A missing column, a date that is not a date, an end before its start.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path, hint="check the campaigns file's path")
    df = read_csv_text(path, what="campaigns file")
    if not {"name", "start", "end"} <= set(df.columns):
        raise InputError("has no name, start and end columns", path=path, hint="one row per campaign: name,start,end")
    out = {}
    for i, (name, a, b) in enumerate(zip(df["name"], df["start"], df["end"])):
        da, db = (pd.to_datetime(x, format="%Y-%m-%d", errors="coerce") for x in (a, b))
        if pd.isna(da) or pd.isna(db):
            raise InputError(f"start {a!r} or end {b!r} is not a date (YYYY-MM-DD)", path=path, where=f"line {i + 2}")
        if db < da:
            raise InputError(f"campaign {name!r} ends before it starts", path=path, where=f"line {i + 2}")
        out[str(name)] = (da.strftime("%Y-%m-%d"), db.strftime("%Y-%m-%d"))
    return out


def _baseline(days: pd.DatetimeIndex, on: list[pd.Timestamp], excluded: set, before_after: tuple | None = None) -> list[pd.Timestamp]:
    weekdays = {d.day_of_week for d in on}
    if before_after is None:
        near = [d for d in days if any(abs((d - e).days) <= WINDOW_DAYS for e in on)]
    else:
        start, end = before_after
        near = [d for d in days if -WINDOW_DAYS <= (d - start).days < 0 or 0 < (d - end).days <= WINDOW_DAYS]
    return [d for d in near if d.day_of_week in weekdays and d.strftime("%Y-%m-%d") not in excluded]


def added_by(series: pd.DataFrame, on: list[str], excluded: set, before_after: tuple | None = None) -> dict | None:
    """What the days ``on`` add over their baseline in a daily series.

    Parameters
    ----------
    series : pandas.DataFrame
        Indexed by date (YYYY-MM-DD), with ``estimate`` and, where known, ``low`` and
        ``high`` (the 90% interval): published figures only.
    on : list of str
        The days of the event or campaign.
    excluded : set of str
        Days that cannot be baseline days (every event and campaign day).
    before_after : (Timestamp, Timestamp), optional
        A campaign's start and end: its baseline lies before the start and after the end.

    Returns
    -------
    dict or None
        ``added``, ``low``, ``high``, ``ratio``, ``event_mean``, ``baseline_mean``,
        ``days``, ``baseline_days``; None without a published event day or baseline day.
    """
    s = series.dropna(subset=["estimate"])
    if not len(s):
        return None
    dates = pd.DatetimeIndex(pd.to_datetime(s.index))
    on_d = [pd.Timestamp(d) for d in on if d in s.index]
    if not on_d:
        return None
    base = _baseline(dates, on_d, excluded, before_after)
    if not base:
        return None
    ev = s.loc[[d.strftime("%Y-%m-%d") for d in on_d]]
    bs = s.loc[[d.strftime("%Y-%m-%d") for d in base], "estimate"].to_numpy(dtype=float)
    ev_mean, base_mean = float(ev["estimate"].mean()), float(bs.mean())
    added = ev_mean - base_mean
    lo_f = float(ev["low"].mean()) / ev_mean if "low" in ev and ev["low"].notna().all() and ev_mean > 0 else 1.0
    hi_f = float(ev["high"].mean()) / ev_mean if "high" in ev and ev["high"].notna().all() and ev_mean > 0 else 1.0
    spread = _Z90 * (float(bs.std(ddof=1)) / np.sqrt(len(bs)) if len(bs) > 1 else 0.0)
    ends = sorted([added * lo_f, added * hi_f])
    return {"added": added, "low": ends[0] - spread, "high": ends[1] + spread, "ratio": ev_mean / base_mean if base_mean > 0 else np.nan,
            "event_mean": ev_mean, "baseline_mean": base_mean, "days": [d.strftime("%Y-%m-%d") for d in on_d],
            "baseline_days": len(base), "weekdays": [n for _, n in sorted({(d.day_of_week, d.day_name()) for d in on_d})]}


def _words(name: str, r: dict, what: str) -> str:
    wd = r["weekdays"]
    ordinary = f"an ordinary {wd[0]}" if len(wd) == 1 else "an ordinary day of the same weekdays"
    ratio = f", {r['ratio']:.1f}x {ordinary}" if np.isfinite(r["ratio"]) else ""
    sep = "-" if r["low"] >= 0 else " to "  # ("(27,000-35,000)", as every interval of the page; " to " where it starts below none)
    return f"{name} added {people_text(r['added'])} {what} a day ({people_text(r['low'])}{sep}{people_text(r['high'])}){ratio}"


def effect_rows(visitors: pd.DataFrame, by_origin: dict[str, pd.DataFrame], names: dict[str, str], events: dict[str, list[str]],
                campaigns: dict[str, tuple[str, str]] | None = None, excluded: dict[str, list[str]] | None = None) -> list[dict]:
    """The report's "What events add" rows: a sentence per event and campaign, and its origins.

    Parameters
    ----------
    visitors : pandas.DataFrame
        The zone's visitors per day (date index; ``estimate``, ``low``, ``high``).
    by_origin : dict of str to pandas.DataFrame
        The same per origin (published origin figures).
    names : dict
        Origin code to name.
    events : dict
        Event name to its days.
    campaigns : dict, optional
        Campaign name to (start, end).
    excluded : dict, optional
        Other events (name to days) whose days are no baseline days either (a report page's
        events are those of its period; the run's others stay out of every baseline).

    Returns
    -------
    list of dict
        ``name``, ``kind``, ``sentence`` and ``origins`` (rows of name, added, ratio, and
        ``days``: the event days and baseline days the origin's own figures were published
        on), ``fewer`` (an origin rests on fewer days than the total).
    """
    campaigns = campaigns or {}
    excluded = {d for ds in (events | (excluded or {})).values() for d in ds}
    # (a campaign's own days without its events: a probe's July campaign "added 2,508 a day", all of it
    # the Braderie's and the market's inside it; -351 without them)
    spans = {n: [d.strftime("%Y-%m-%d") for d in pd.date_range(a, b, freq="D") if d.strftime("%Y-%m-%d") not in excluded]
             for n, (a, b) in campaigns.items()}
    excluded |= {d for ds in spans.values() for d in ds}
    out = []
    for kind, items in (("event", {n: (ds, None) for n, ds in events.items()}),
                        ("campaign", {n: (spans[n], (pd.Timestamp(a), pd.Timestamp(b))) for n, (a, b) in campaigns.items()})):
        for name, (days, around) in items.items():
            r = added_by(visitors, days, excluded, around)
            if r is None:
                published = visitors.dropna(subset=["estimate"]).index
                why = ("no published figure on its days" if not any(d in published for d in days) else
                       f"no baseline: no other {'day' if kind == 'event' else 'day before or after it'} of the same weekday within "
                       f"{WINDOW_DAYS} days has a published figure and is free of events and campaigns")
                out.append({"name": name, "kind": kind, "sentence": f"{name}: {why}", "origins": []})
                continue
            rows = []
            for o, s in by_origin.items():
                ro = added_by(s, days, excluded, around)
                if ro is not None:
                    # (an origin's figure is hidden on its smallest days: its baseline may rest on fewer days than the total's, and read high)
                    rows.append({"name": names.get(o, o), "added": people_text(ro['added']), "low": people_text(ro['low']), "high": people_text(ro['high']),
                                 "ratio": f"{ro['ratio']:.2f}x" if np.isfinite(ro["ratio"]) else "", "_sort": -ro["added"],
                                 "days": f"{len(ro['days'])} and {ro['baseline_days']}", "fewer": ro["baseline_days"] < r["baseline_days"]
                                 or len(ro["days"]) < len(r["days"])})
            rows.sort(key=lambda x: x["_sort"])
            shown = [{k: v for k, v in x.items() if k != "_sort"} for x in rows[:10]]
            out.append({"name": name, "kind": kind, "sentence": _words(name, r, "visitors"), "days": ", ".join(r["days"]),
                        "baseline_days": r["baseline_days"], "origins": shown, "fewer": any(x["fewer"] for x in shown)})
    return out
