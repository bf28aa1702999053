"""The report's pages (:mod:`geozones.report`): a page per summary period of a run, and for
a run of days (or hours) alone a page per calendar quarter, its figures the means of its
published days.

A run of distinct people (``apportion --events``, or ``--kind unique``) publishes days only,
since distinct people add up over neither cells nor days, and so may a run with
``--summary-period none``: the report gave such a quarter 92 pages of one day each (stop 56's
probe A; a probe's fortnight of hours, 336 pages), where the issue asks for a page a quarter.
Its quarter's figures are read off the published days, as the trend's are
(:mod:`geozones.trend`): nothing new is published.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .origins import ALL

__all__ = ["QUARTER", "run_table", "days_only", "days_from_hours", "with_quarters", "report_periods", "shown_page"]

#: The period of the pages of a run of days alone.
QUARTER = "1q"
_PUBLISHED = "published"
_FIGURES = ("observed", "estimate", "estimate_low", "estimate_high")


def run_table(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """A run's ``zone_counts.parquet``, figures as floats (suppressed ones NaN), with the
    interval's columns (NaN for runs made before them).

    Raises
    ------
    InputError
        If the folder holds no ``zone_counts.parquet``.
    """
    path = Path(run_dir) / "zone_counts.parquet"
    if not path.is_file():
        raise InputError("no zone_counts.parquet here", path=run_dir, hint="give the output folder of 'geozones apportion', 'run' or 'demo'")
    table = pd.read_parquet(path)
    for col in _FIGURES:  # whole numbers with gaps for suppressed figures (runs before the intervals have none)
        table[col] = table[col].to_numpy(dtype=float, na_value=np.nan) if col in table.columns else np.nan
    return table


def days_only(table: pd.DataFrame) -> bool:
    """Whether a run's table holds days, or periods shorter, alone (its pages are then
    quarters, :func:`with_quarters`).
    """
    from .counts import period_seconds

    return len(table) > 0 and all(period_seconds(p) <= 86_400 for p in pd.unique(table["period"]))


def days_from_hours(rows: pd.DataFrame, kind: str | None, stat: str | None = None) -> pd.DataFrame:
    """Zones' days from their published periods shorter than a day (``date`` set): a
    presence figure's day is the mean of its hours (``--stat max``: their maximum), an
    event count's the sum; a day with any of its periods suppressed, or of ``unique``
    counts (distinct devices add up over neither cells nor hours), has no figure.
    Bounds are combined the same way (errors of a day's hours share the apportioning, so
    they are taken as moving together).

    Returns
    -------
    pandas.DataFrame
        One row per zone, date and origin, ``status`` published or suppressed,
        ``period_start`` the date.
    """
    how = {"events": "sum", "unique": None}.get(kind or "presence", "max" if stat == "max" else "mean")
    cols = list(_FIGURES)
    g = rows.groupby(["zone_id", "date", "origin"], sort=True)
    out = g[cols].agg(how) if how else g[cols].first() * np.nan
    whole = (rows["status"] == _PUBLISHED).groupby([rows["zone_id"], rows["date"], rows["origin"]], sort=True).all().to_numpy()
    out.loc[~whole, cols] = np.nan
    out["status"] = np.where(whole & (how is not None), _PUBLISHED, "suppressed")
    out = out.reset_index()
    out["period_start"] = out["date"]
    return out


def with_quarters(table: pd.DataFrame, kind: str | None = None, stat: str | None = None) -> pd.DataFrame:
    """A table of days (or shorter periods) with rows of each calendar quarter added (period
    ``1q``), and of each day where it had none (:func:`days_from_hours`).

    A quarter's figure of a zone and origin is the mean of its published days (observed,
    estimate and the interval's bounds alike; with ``stat`` ``max``, the largest), published where at least half the days the
    run counted in that quarter are: a mean over few days would stand for a quarter it does
    not describe, and where days are withheld (under ``k``) it reads high, as the report
    says. Means of published figures: nothing that was not published follows from them.

    Parameters
    ----------
    table : pandas.DataFrame
        A run's zone table (:func:`run_table`) of days, or shorter periods, alone.
    kind, stat : str, optional
        The run's (its manifest's ``parameters``), for days made of shorter periods.

    Returns
    -------
    pandas.DataFrame
        ``table`` and the quarters' rows, with a ``days`` column (published days behind each
        quarter's figure; NaN on the other rows).
    """
    from .counts import period_seconds
    from .outputs import local_iso
    from .periods import TIMEZONE, period_floor

    if "1d" not in set(table["period"]):  # (hours alone: their days first)
        short = min(pd.unique(table["period"]), key=period_seconds)
        rows = table[table["period"] == short]
        days = days_from_hours(rows.assign(date=rows["period_start"].str.slice(0, 10)), kind, stat)
        days["period_start"] = local_iso(pd.Series(pd.to_datetime(days["date"]).dt.tz_localize(TIMEZONE))).to_numpy(dtype=object)
        zone_cols = [c for c in table.columns if c not in days.columns and c != "period"]
        days = days.merge(rows.drop_duplicates("zone_id")[["zone_id", *zone_cols]], on="zone_id", how="left").assign(period="1d")
        table = pd.concat([table, days[list(table.columns)]], ignore_index=True)
    d = table[table["period"] == "1d"]
    q = local_iso(period_floor(pd.Series(pd.to_datetime(d["period_start"], utc=True)), QUARTER)).to_numpy(dtype=object)
    pub = (d["status"] == _PUBLISHED).to_numpy()
    frame = d.assign(period_start=q, date=d["period_start"].str.slice(0, 10), pub=pub,
                     **{c: d[c].where(pub) for c in _FIGURES})
    counted = frame.groupby("period_start")["date"].nunique()
    keep = [c for c in table.columns if c not in (*_FIGURES, "period", "period_start", "status", "zone_id", "origin")]
    g = frame.groupby(["zone_id", "origin", "period_start"], sort=False)
    out = g[list(_FIGURES)].agg("max" if stat == "max" else "mean")  # (--stat max: the busiest published day, as the page says)
    out = out.join(g["pub"].sum().rename("days")).join(g[keep].first()).reset_index()
    ok = (out["days"] > 0) & (out["days"] >= counted.reindex(out["period_start"]).to_numpy() / 2)
    out.loc[~ok, list(_FIGURES)] = np.nan
    out["estimate"] = out["estimate"].round()
    out[["estimate_low", "estimate_high"]] = out[["estimate_low", "estimate_high"]].round()
    out["status"] = np.where(ok, _PUBLISHED, "suppressed")
    out["period"] = QUARTER
    return pd.concat([table, out[list(table.columns) + ["days"]]], ignore_index=True)


def report_periods(run_dir: str | os.PathLike[str]) -> list[str]:
    """The starts of a run's summary periods (its longest period; a run of days alone, its
    calendar quarters): a page each.
    """
    from .counts import period_seconds

    t = run_table(run_dir)
    if days_only(t):
        t = with_quarters(t, *_kind(run_dir))
    longest = max(pd.unique(t["period"]), key=period_seconds)
    return sorted(pd.unique(t.loc[t["period"] == longest, "period_start"]))


def shown_page(run_dir: str | os.PathLike[str], starts: list[str], *, with_figures: bool = True) -> str:
    """Of a run's summary periods (``starts``, :func:`report_periods`), the one report.html
    shows: the last the counts cover whole, as zones.geojson and the map do
    (:func:`geozones.periods.shown_start`), else the last; with ``with_figures``, the last
    up to it that publishes a total (``all``) where it publishes none.
    """
    from .periods import shown_start

    t = run_table(run_dir)
    quarters = days_only(t)
    try:
        m = json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8"))
        c, periods = m["counts"], m["parameters"]["periods"]
        period = QUARTER if quarters else periods[-1]
        shown = shown_start(c["first_period_start"], c["last_period_start"], period, c.get("period"))
    except (OSError, ValueError, KeyError, TypeError):  # (a manifest from elsewhere, or without these: the last page)
        shown = None
    at = [s for s in starts if shown is not None and pd.Timestamp(s).tz_convert("UTC") == shown]
    page = at[0] if at else starts[-1]
    if not with_figures:
        return page
    # (a probe's run of distinct devices published days alone: report.html was its last day, every figure hidden,
    # beside days with figures): the last page up to it with a published total
    if quarters:
        t = with_quarters(t, *_kind(run_dir))
    has_total = set(t.loc[(t["origin"] == ALL) & (t["status"] == _PUBLISHED), "period_start"].astype(str))
    earlier = [s for s in starts if s <= page and s in has_total]
    return page if page in has_total or not earlier else earlier[-1]


def _kind(run_dir) -> tuple[str | None, str | None]:
    """A run's ``kind`` and ``stat`` (its manifest's parameters; None where it has none)."""
    try:
        p = json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8")).get("parameters", {})
        return p.get("kind"), p.get("stat")
    except (OSError, ValueError, AttributeError):
        return None, None
