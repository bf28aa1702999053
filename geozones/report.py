"""The visitor report: one self-contained HTML page per period, as a city receives it.

Built only from what a run published (``zone_counts.parquet``, ``zones.geojson``,
``manifest.json``), so that no suppressed figure can reach it: a figure that disclosure
control withheld is simply not in the inputs of this module. Derived figures (shares,
means over days, spend per visitor) are computed from published figures only, and spend
figures pass the same threshold on the number of transactions behind them.

The page holds: average daily visitors, a daily series chart, the top peak days, origin
shares (provinces or municipalities, and countries), an event-day comparison, a per-zone
table, spending per visitor when payment data are given, and how the figures were made.
Charts are inline SVG (matplotlib); the page loads nothing from anywhere else. Every user
string is escaped by the template engine (Jinja2 with autoescape).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ._io import people_text, read_csv_text, read_run_json, read_run_zones, write_text_atomic
from ._words import number
from .errors import InputError
from .origins import ALL, RESIDENT, origin_names
from .outputs import top_origins
from .pages import days_from_hours, days_only, report_periods, run_table, shown_page, with_quarters
from .periods import TIMEZONE
from .spend import at_run, places, read_spend, spend_table
from .weights import LOW_FIT, MIN_ZONE_KM2

__all__ = ["read_spend", "read_event_days", "report_periods", "shown_page", "build_report", "write_report", "visitors_of"]

_PUBLISHED = "published"


def read_event_days(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Read event days: a CSV with ``name`` and ``date`` (one row per day of an event).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV; ``date`` as YYYY-MM-DD, other columns ignored.

    Returns
    -------
    dict of str to list of str
        Event name -> its dates (YYYY-MM-DD, each once), both in the order of the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path, hint="check the event days file's path")
    df = read_csv_text(path, what="event days file")
    if not {"name", "date"} <= set(df.columns):
        raise InputError("has no name and date columns", path=path, hint="one row per event day: name,date")
    days: dict[str, list] = {}
    for name, date in zip(df["name"], df["date"]):
        days.setdefault(name, []).append(date)
    return _event_dates(days, path)


def _event_dates(events: dict, path: Path | None = None) -> dict[str, list[str]]:
    """Event days as YYYY-MM-DD text, each once per event, checked: a file's
    (:func:`read_event_days`, ``path``) and a dict given to :func:`build_report` alike (a
    probe's ``{"Braderie": ["03/07/2026"]}`` had left the report without its event, silently).
    """
    out: dict[str, list[str]] = {}
    for name, dates in events.items():
        for date in [dates] if isinstance(dates, str) else dates:
            d = pd.to_datetime(str(date), format="%Y-%m-%d", errors="coerce")
            if pd.isna(d):
                raise InputError(f"event {name!r}: date {date!r} is not a date (YYYY-MM-DD)", path=path)
            day = d.strftime("%Y-%m-%d")
            if day not in out.setdefault(str(name), []):  # (a probe's repeated row weighed its day twice)
                out[str(name)].append(day)
    return out


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _series_chart(days: pd.DataFrame, events: dict[str, list[str]], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "geozones", "font.size": 9})
    fig, ax = plt.subplots(figsize=(9, 3.2))
    x = pd.to_datetime(days["date"])
    for col, label, colour in (("people", "people in all", "#9e9e9e"), ("visitors", "visitors", "#bd0026")):
        if col in days and days[col].notna().any():
            ax.plot(x, days[col], label=label, color=colour, linewidth=1.6 if col == "visitors" else 1.0, marker=".", markersize=3)
    for name, dates in events.items():
        for d in dates:
            ax.axvspan(pd.Timestamp(d), pd.Timestamp(d) + pd.Timedelta(days=1), color="#fdd49e", alpha=0.6, linewidth=0)
    ax.set_title(title, loc="left")
    ax.set_ylabel("per day (estimate)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # (no published day: no line to name)
        ax.legend(frameon=False, loc="upper left")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: people_text(v)))
    import matplotlib.dates as mdates

    # ticks on whole days (a few days' run would otherwise get hour ticks)
    locator = mdates.AutoDateLocator(minticks=2, maxticks=10, interval_multiples=True)
    locator.intervald[mdates.HOURLY] = [24]
    locator.intervald[mdates.MINUTELY] = [24 * 60]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if len(x) == 1:
        ax.set_xlim(x.iloc[0] - pd.Timedelta(days=1), x.iloc[0] + pd.Timedelta(days=1))
    fig.autofmt_xdate()
    return _svg(fig)


def _bar_chart(shares: pd.DataFrame, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "geozones", "font.size": 9})
    s = shares.iloc[:10][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(s) + 0.8))
    ax.barh(s["name"], s["share"] * 100, color="#fd8d3c")
    ax.set_xlabel("% of visitors")
    ax.set_title(title, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def _quality_lines(q: dict | None, first_day: str = "", end_day: str = "9999") -> list[str] | None:
    """The report's "Data quality" lines from the manifest's ``data_quality`` (None: not
    checked), those of the page's days only (``first_day`` to ``end_day``, exclusive: a
    probe's July page listed an October gap).
    """
    if not q:
        return None

    def on_page(item: dict) -> bool:
        a = (item.get("start") or item.get("date") or "")[:10]
        b = (item.get("end") or a)[:10]
        return a < end_day and (b >= first_day if "end" in item else a >= first_day)
    lines = []
    for item in filter(on_page, q.get("missing_periods", {}).get("listed", [])):
        lines.append(f"No counts at all from {item['start'][:16].replace('T', ' ')} to {item['end'][:16].replace('T', ' ')} "
                     f"({item['periods']} period{'' if item['periods'] == 1 else 's'} missing on the whole network).")
    for item in filter(on_page, q.get("partial_days", {}).get("listed", [])):
        lines.append(f"{item['date']}: counts for {item['periods']} of its {item['expected']} periods only (a partial day).")
    for item in filter(on_page, q.get("drops", {}).get("listed", [])):
        when = item["start"][:10] if q.get("period_seconds", 0) >= 86400 else item["start"][:16].replace("T", " ")
        share = item.get("share_of_usual")
        lines.append(f"{when}: the network counted {f'{share:.0%} of' if share is not None else 'under half'} its usual (a sudden drop).")
    for key, what in (("silent_cells", "silent all day"), ("low_cells", "under half their usual")):
        for item in filter(on_page, q.get(key, {}).get("listed", [])):
            n = item["cells"]
            lines.append(f"{item['date']}: {n} cell{'s' if n != 1 else ''} {what.replace('their', 'its') if n == 1 else what} "
                         "while the cells around counted.")
    shown = sum(len(v.get("listed", [])) for k, v in q.items() if isinstance(v, dict))
    total = sum(v.get("count", 0) for k, v in q.items() if isinstance(v, dict))
    if total > shown:
        lines.append(f"... and {total - shown} more over the run (manifest.json, data_quality).")
    return lines


def _iv(v: float, low: float, high: float) -> str:
    """A figure with its 90% interval: "18,400 (16,900-20,100)"; the figure alone without one."""
    if not np.isfinite(v):
        return ""
    if not (np.isfinite(low) and np.isfinite(high)):
        return people_text(v)
    return f"{people_text(v)} ({people_text(low)}-{people_text(high)})"


def _row(frame: pd.DataFrame, key) -> tuple[float, float, float]:
    """(estimate, low, high) of one row of :func:`build_report`'s visitor frames, NaN when absent."""
    if key not in frame.index:
        return np.nan, np.nan, np.nan
    r = frame.loc[key]
    return float(r["estimate"]), float(r["low"]), float(r["high"])


def _pct(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.1%}"


def build_report(
    run_dir: str | os.PathLike[str],
    *,
    zone: str | None = None,
    spend: pd.DataFrame | str | os.PathLike[str] | None = None,
    events: dict[str, list[str]] | str | os.PathLike[str] | None = None,
    period_start: str | None = None,
    campaigns: dict[str, tuple[str, str]] | str | os.PathLike[str] | None = None,
    compare: list[str | os.PathLike[str]] | None = None,
    target: str | float | None = None,
    by: int | None = None,
    base: str | None = None,
) -> str:
    """The visitor report of a run's output folder, as an HTML string.

    Parameters
    ----------
    run_dir : path
        The output folder of ``geozones run``, ``apportion`` or ``demo``.
    zone : str, optional
        The zone the report is about (default: the zone with the most visitors).
    spend : DataFrame or path, optional
        Payment-terminal aggregates (see :func:`read_spend`).
    events : dict or path, optional
        Event days, ``{name: [dates]}`` or a CSV (see :func:`read_event_days`).
    period_start : str, optional
        Which period of the summary length to report on (default: the last one).
    campaigns : dict or path, optional
        Campaign periods, ``{name: (start, end)}`` or a CSV (see
        :func:`geozones.effects.read_campaigns`): what each added over its baseline.
    compare : list of path, optional
        Output folders of runs over other quarters: the trend per quarter (with this run's).
    target, by, base : optional
        A growth target (``"2x"``), the year to reach it, the base quarter's start (default
        the first quarter): the trend section says how far the zone is on its way.

    Returns
    -------
    str
        A self-contained HTML page.
    """
    run_dir = Path(run_dir)
    table = run_table(run_dir)
    from_days = days_only(table)  # (a run of days alone: a page a quarter, its figures its published days' means)
    manifest = read_run_json(run_dir / "manifest.json", missing={})
    if from_days:
        table = with_quarters(table, manifest.get("parameters", {}).get("kind"), manifest.get("parameters", {}).get("stat"))
    zones = read_run_zones(run_dir / "zones.geojson") if (run_dir / "zones.geojson").is_file() else None
    if isinstance(spend, (str, os.PathLike)):
        spend = read_spend(spend)
    if isinstance(events, (str, os.PathLike)):
        events = read_event_days(events)
    events = _event_dates(events or {})
    if isinstance(campaigns, (str, os.PathLike)):
        from .effects import read_campaigns

        campaigns = read_campaigns(campaigns)
    k = manifest.get("disclosure_control", {}).get("k", 30)
    k = int(k) if float(k).is_integer() else k

    from .counts import period_end, period_seconds

    periods = sorted(pd.unique(table["period"]), key=period_seconds)
    summary_p, day_p = periods[-1], periods[0]
    summ = table[table["period"] == summary_p]
    starts = sorted(pd.unique(summ["period_start"]))
    if period_start is None:
        period_start = starts[-1]
    elif period_start not in starts:  # (a date, as the README writes it: the period starting at its local midnight)
        same = [s for s in starts if s[:10] == str(period_start).strip()[:10]] if len(str(period_start).strip()) == 10 else []
        if len(same) != 1:
            raise InputError(f"no {summary_p} period starts at {period_start!r}", hint=f"periods: {', '.join(starts)}")
        period_start = same[0]
    summ = summ[summ["period_start"] == period_start]
    pub = summ[summ["status"] == _PUBLISHED]
    has_res = (summ["origin"] == RESIDENT).any()

    vis_iv = visitors_of(summ, has_residents=has_res)
    if manifest.get("parameters", {}).get("stat") == "max" and has_res:
        # (a maximum of all less a maximum of residents is no period's figure: they peak on other days)
        vis_iv = _busiest_visitors(table[table["period"] == periods[0]], period_start, summary_p, has_res)
    vis = vis_iv["estimate"]
    if zone is None:
        # the zone with most visitors; else (no such figure published) with most people in
        # its published figures
        shown = pub.groupby("zone_id")["estimate"].sum()
        zone = vis.idxmax() if len(vis.dropna()) else shown.idxmax() if (shown > 0).any() else summ["zone_id"].iloc[0]
    if zone not in set(table["zone_id"]):
        raise InputError(f"zone {zone!r} is not in this run", hint="give a zone_id of zone_counts.csv")
    names = dict(zip(table["zone_id"], table["zone_name"]))
    zname = names.get(zone, zone)

    # days of the report's period, for the focus zone
    start_ts = pd.Timestamp(period_start)
    end_ts = period_end(start_ts, summary_p)
    # (the page's own period: a run of one period length gets a page a period, each about its own,
    # as its heading says; its chart showed every period of the run beside one period's figures)
    run_daily = table[(table["period"] == day_p) & (table["zone_id"] == zone)].copy()  # (every day of the run: events' baselines)
    run_daily["date"] = run_daily["period_start"].str.slice(0, 10)
    if period_seconds(day_p) < 86_400:  # (a run of hours only: its days from their hours)
        run_daily = days_from_hours(run_daily, manifest.get("parameters", {}).get("kind"), manifest.get("parameters", {}).get("stat"))
    first_day, end_day = f"{start_ts:%Y-%m-%d}", f"{end_ts:%Y-%m-%d}"
    daily = run_daily[(run_daily["date"] >= first_day) & (run_daily["date"] < end_day)].copy()
    people_iv = (daily[(daily["status"] == _PUBLISHED) & (daily["origin"] == ALL)].set_index("date")[["estimate", "estimate_low", "estimate_high"]]
                 .rename(columns={"estimate_low": "low", "estimate_high": "high"}))  # (people in all per day, with their intervals)
    days = pd.DataFrame({"date": sorted(pd.unique(daily["date"]))})
    days["people"] = days["date"].map(people_iv["estimate"])
    run_iv = visitors_of(run_daily, index="date", has_residents=has_res)  # (every day: the page's, and the events' baselines)
    on_page = run_iv.index.astype(str)  # (text dates; an empty frame's index is numbers)
    day_iv = run_iv[(on_page >= first_day) & (on_page < end_day)]
    days["visitors"] = days["date"].map(day_iv["estimate"])
    event_of = {d: n for n, ds in events.items() for d in ds}
    days["event"] = [event_of.get(d, "") for d in days["date"]]
    days["weekday"] = pd.to_datetime(days["date"]).dt.day_name()
    # (ranked by visitors where every day with a figure has them; else by people in all: a probe's hourly run hid residents
    # an hour a day, and the peak table held its one whole Friday while Saturday, the week's busiest, was published in all)
    peak_by = "visitors" if days["visitors"].notna().sum() >= days["people"].notna().sum() else "people"
    peaks = days.dropna(subset=[peak_by]).nlargest(5, peak_by)

    # origin shares of the focus zone's visitors over the period
    zrow = pub[pub["zone_id"] == zone].set_index("origin")["estimate"]
    visitors_total = vis.get(zone, np.nan)
    parts = zrow.drop([o for o in (ALL, RESIDENT) if o in zrow.index])
    onames = origin_names(list(parts.index) + list(summ["origin"].unique()), manifest.get("parameters", {}).get("origin_level"))
    zb = pub[pub["zone_id"] == zone].set_index("origin")
    shares = pd.DataFrame({"origin": parts.index, "name": [onames.get(o, o) for o in parts.index], "estimate": parts.to_numpy(),
                           "low": zb["estimate_low"].reindex(parts.index).to_numpy(), "high": zb["estimate_high"].reindex(parts.index).to_numpy()})
    shares["share"] = shares["estimate"] / visitors_total if np.isfinite(visitors_total) and visitors_total > 0 else np.nan
    is_country = shares["origin"].str.fullmatch(r"[A-Z]{2}") & (shares["origin"] != "BE")
    be_shares = shares[~is_country].sort_values("estimate", ascending=False)
    abroad = shares[is_country].sort_values("estimate", ascending=False)
    hidden_share = 1 - shares["share"].sum() if shares["share"].notna().any() else np.nan
    level = manifest.get("parameters", {}).get("origin_level", "province")

    # event days against ordinary days: which origins rise
    comparison = []
    if events:
        dorig = daily[daily["status"] == _PUBLISHED].pivot_table(index="date", columns="origin", values="estimate", aggfunc="first")
        ordinary = [d for d in dorig.index if d not in event_of]
        for name, ds in events.items():
            on = [d for d in ds if d in dorig.index]
            if not on or not ordinary:
                continue
            rows = []
            for o in dorig.columns:
                if o in (ALL,):
                    continue
                a, b = dorig.loc[on, o].mean(), dorig.loc[ordinary, o].mean()
                if np.isfinite(a) and np.isfinite(b) and b > 0:
                    rows.append({"name": onames.get(o, o), "event": people_text(a), "ordinary": people_text(b), "ratio": a / b})
            rows.sort(key=lambda r: -r["ratio"])
            comparison.append({"name": name, "days": ", ".join(on), "rows": [r | {"ratio": f"x{r['ratio']:.2f}"} for r in rows[:8]]})

    # what each event and campaign added over its baseline (the same weekdays around it)
    from .effects import effect_rows

    # (the page's events and campaigns, each against a baseline from every day of the run: a probe's
    # week page found no baseline for a Saturday event, the Saturday before it lying on the page before)
    pub_daily = run_daily[run_daily["status"] == _PUBLISHED]
    by_origin = {o: g.set_index("date")[["estimate", "estimate_low", "estimate_high"]].rename(columns={"estimate_low": "low", "estimate_high": "high"})
                 for o, g in pub_daily.groupby("origin") if o not in (ALL, RESIDENT)}
    page_events = {n: ds for n, ds in events.items() if any(first_day <= d < end_day for d in ds)}
    run_days = set(run_daily["date"])  # (a probe's events and campaigns outside the run vanished without a word)
    outside = [n for n, ds in events.items() if not run_days & set(ds)]
    outside += [n for n, (a, b) in (campaigns or {}).items() if not any(str(a)[:10] <= d <= str(b)[:10] for d in run_days)]
    page_campaigns = {n: (a, b) for n, (a, b) in (campaigns or {}).items() if str(a)[:10] < end_day and str(b)[:10] >= first_day}
    effects = effect_rows(run_iv, by_origin, onames, page_events, page_campaigns, excluded=events) if (page_events or page_campaigns) else []

    # every zone's area and fit; the page's zone's apportioning half-width (the trend's intervals, the usability note)
    from .intervals import apportioning_halfwidth, error_words

    p = manifest.get("parameters", {})
    zarea = dict(zip(zones["zone_id"], zones["area_km2"])) if zones is not None and "area_km2" in zones.columns else {}
    zfit = table.groupby("zone_id")["fit"].first() if "fit" in table.columns else pd.Series(dtype=float)
    zone_area, zone_fit = zarea_of(zones, zone), float(zfit.get(zone, np.nan))
    zone_h = float(apportioning_halfwidth([zone_area], [zone_fit], p.get("model"))[0])

    # the trend per quarter, over this run and the runs compared with it
    trend = None
    if compare or target or len(pd.unique(table.loc[table["period"] == "1q", "period_start"])) > 1:
        from .trend import parse_target, quarter_series, trend_rows

        trend = trend_rows(quarter_series([run_dir, *(compare or [])], zone), halfwidth=zone_h,
                           target=parse_target(target) if isinstance(target, str) else target, by=by, base=base)

    # per-zone table
    ztab = []
    # (the usability rule on the page the city reads: a probe's 0.06 km² zone read "an event added 323 (83 to
    # 1,216)" where 2,953 came, and only the run's stderr had said the zone is not usable alone)
    why_not = {zid: _not_usable(zarea.get(zid, np.nan), zfit.get(zid, np.nan)) for zid in pd.unique(summ["zone_id"])}
    # (the page's own period: zones.geojson has the run's last, another week's on a week's page)
    ztop = top_origins(summ, p.get("origin_level"))
    tot_all = summ[summ["origin"] == ALL].set_index("zone_id")
    for zid in pd.unique(summ["zone_id"]):
        st = tot_all["status"].get(zid, "suppressed")
        ztab.append({
            "zone_id": zid, "name": names.get(zid, zid), "area": f"{zarea[zid]:.2f}" if zid in zarea else "",
            "people": _iv(tot_all["estimate"].get(zid, np.nan), tot_all["estimate_low"].get(zid, np.nan), tot_all["estimate_high"].get(zid, np.nan))
            if st == _PUBLISHED else "suppressed",
            # visitors = all minus residents: not shown when either is withheld
            "visitors": _iv(*_row(vis_iv, zid)) if np.isfinite(vis.get(zid, np.nan)) else "suppressed",
            "top": ztop.get(zid, ""),
            "usable": "no: " + why_not[zid] if why_not[zid] else "yes",
        })
    unusable = ""
    why = _not_usable(zone_area, zone_fit)
    if why:
        unusable = (f"This zone's figures are not to be used alone ({why}): in the accuracy study 90% of such zones' figures "
                    f"were within {error_words(float(np.expm1(zone_h)))} of the truth, and a crowd standing inside such a zone "
                    "mostly reads low, beyond even that; what events add here is as uncertain. Sum it with its neighbours, "
                    "or redraw it with 'geozones zones preview' (docs/accuracy.md, \"When not to use a zone's figures\").")

    spend_rows, spend_note = [], ""
    if spend is not None:  # (terminals placed in zones, origins at the run's level: as the counts were)
        from ._words import plural
        from .origins import home_municipalities
        from .zonegeo import nested_zones

        homes = home_municipalities(zones) if zones is not None and p.get("residents_separated") else None
        spend, n_out = at_run(spend, zones, p.get("origin_level"), homes)
        inside = nested_zones(zones) if zones is not None and len(zones) > 1 else None  # (pairs and families: a ring round two)
        spend_rows, spend_note = spend_table(spend, table, day_p, k, onames, names, (first_day, end_day), p.get("kind"), p.get("stat"),
                                             nested=inside, places=places(spend, zones))
        spend_note = (f"Left out: {plural(n_out, 'spending row')} of terminals in no zone of this run. " if n_out else "") + spend_note
    from .tourism import device_sections

    devices = device_sections(run_dir, zone, period_start, end_ts.isoformat())
    if devices and devices.get("days") and len(days) and (devices["days"][0], devices["days"][1]) != (days["date"].iloc[0], days["date"].iloc[-1]):
        # (a probe's visitors tables held 8 days beside counts of 4, and the page said nothing)
        a, b, n = devices["days"]
        unit = {"1d": "day", "1w": "week"}.get(devices["period"], devices["period"] + " period")
        devices["days_note"] = (f"These tables cover {a} to {b} ({n} {unit}{'s' if n != 1 else ''}); the counts above cover "
                                f"{days['date'].iloc[0]} to {days['date'].iloc[-1]} ({len(days)} day{'s' if len(days) != 1 else ''}).")

    coverage_note = _coverage_note(manifest.get("counts", {}), start_ts, end_ts, summary_p)
    if p.get("kind") == "events" and len(days):  # (events add up over a day's hours: a probe's 25-hour Sunday was the peak day)
        naive = pd.DatetimeIndex(pd.to_datetime(days["date"]))
        hours = ((naive + pd.Timedelta(days=1)).tz_localize(TIMEZONE) - naive.tz_localize(TIMEZONE)) / pd.Timedelta(hours=1)
        odd = [f"{d} has {h:g} hours" for d, h in zip(days["date"], hours) if h != 24]
        coverage_note = "; ".join([x for x in (coverage_note, ", ".join(odd) + " (a clock change): its events are so many hours'" if odd else "") if x])
    dc = manifest.get("disclosure_control", {})
    ms = manifest.get("market_share", {})
    factors = ms.get("factors", {})
    fnames = origin_names(list(factors), p.get("origin_level"))
    env = Environment(loader=PackageLoader("geozones", "templates"), autoescape=select_autoescape(default=True, default_for_string=True))
    tpl = env.get_template("report.html")
    return tpl.render(
        zone=zone, zone_name=zname, period=summary_p, from_days=from_days, period_start=period_start[:10], day_period=day_p, coverage_note=coverage_note,
        avg_visitors=_iv(*_row(vis_iv, zone)) if np.isfinite(visitors_total) else "",
        avg_people=_iv(tot_all["estimate"].get(zone, np.nan), tot_all["estimate_low"].get(zone, np.nan), tot_all["estimate_high"].get(zone, np.nan))
        if tot_all["status"].get(zone) == _PUBLISHED else "suppressed",
        n_days=len(days), n_days_published=int(days["visitors"].notna().sum()), has_residents=has_res,
        series_svg=_series_chart(days, events, f"{zname}: per day") if days[["people", "visitors"]].notna().any(axis=None) else "",
        peaks=[{"date": r.date, "weekday": r.weekday, "visitors": _iv(*_row(day_iv, r.date)), "people": _iv(*_row(people_iv, r.date)),
                "event": r.event} for r in peaks.itertuples()],
        peak_by=peak_by,
        be_shares=[{"name": r.name, "estimate": _iv(r.estimate, r.low, r.high), "share": _pct(r.share)} for r in be_shares.itertuples()],
        abroad=[{"name": r.name, "estimate": _iv(r.estimate, r.low, r.high), "share": _pct(r.share)} for r in abroad.itertuples()],
        hidden_share=_pct(hidden_share) if np.isfinite(hidden_share) and hidden_share > 0.0005 else "",
        shares_svg=_bar_chart(shares.sort_values("estimate", ascending=False), "Where visitors come from") if shares["share"].notna().any() else "",
        level=level, comparison=comparison, zones=ztab, spend=spend_rows, spend_note=spend_note,
        model=p.get("model"), crs=p.get("metric_crs"), measure=p.get("measure"), kind=p.get("kind"), stat=p.get("stat"),
        k=number(k), suppressed=dc.get("suppressed"), published=dc.get("published"), reasons=dc.get("suppressed_by_reason", {}),
        noise=dc.get("perturbation"),
        factors=[{"origin": o, "name": fnames.get(o, o), "share": f"{v:.0%}" if v < 1 else "1 (none)"} for o, v in factors.items()],
        devices=devices, effects=effects, unusable=unusable, rule_km2=f"{MIN_ZONE_KM2:g}", rule_fit=f"{LOW_FIT:g}", outside_events=outside, optout=manifest.get("optout") is not None, trend=trend, ms_note=ms.get("note", ""), version=manifest.get("geozones_version", ""), quality=_quality_lines(manifest.get("data_quality"), first_day, max(end_day, f"{start_ts + pd.Timedelta(days=1):%Y-%m-%d}")), cells_unchecked=(manifest.get("data_quality") or {}).get("cells_checked") is False,
        never_counted=(manifest.get("data_quality") or {}).get("cells_never_counted") or 0,
    )


def _not_usable(area: float, fit: float) -> str:
    """Why the usability rule (:func:`geozones.weights.usable_zones`) calls a zone's figures
    not usable alone, or "" when it does not.
    """
    why = []
    if not area >= MIN_ZONE_KM2:
        why.append(f"{area:.2f} km², under {MIN_ZONE_KM2:g}" if np.isfinite(area) else "its area is not known")
    if not fit >= LOW_FIT:
        why.append(f"fit {fit:.2f}, under {LOW_FIT:g}" if np.isfinite(fit) else "no cell reaches it")
    return "; ".join(why)


def zarea_of(zones: gpd.GeoDataFrame | None, zone: str) -> float:
    """A zone's area (km²) from a run's zones.geojson, NaN when not known."""
    if zones is None or "area_km2" not in zones.columns:
        return np.nan
    a = zones.loc[zones["zone_id"] == zone, "area_km2"]
    return float(a.iloc[0]) if len(a) else np.nan


def _coverage_note(counts: dict, start: pd.Timestamp, end: pd.Timestamp, period: str) -> str:
    """A sentence when the counts cover only part of the report's period (a quarter's report
    from three days of counts), else "".
    """
    first, last = counts.get("first_period_start"), counts.get("last_period_start")
    if not first or not last:
        return ""
    a, b = pd.Timestamp(first[:10]), pd.Timestamp(last[:10])
    s, e = start.tz_localize(None).normalize(), (end.tz_localize(None) - pd.Timedelta(seconds=1)).normalize()
    a, b = max(a, s), min(b, e)
    if a <= s and b >= e:
        return ""
    held, whole = max((b - a).days + 1, 0), (e - s).days + 1
    return f"The counts cover {a.date()} to {b.date()} only: {held} of this {period}'s {whole} days."


def visitors_of(frame: pd.DataFrame, index: str = "zone_id", *, has_residents: bool = True) -> pd.DataFrame:
    """Visitors per zone (or day): all minus residents, where both are published; with a
    90% interval whose sides add the two figures' in quadrature (their errors share the
    apportioning, so this errs wide). ``frame`` is a published zone table (``status``,
    ``origin``, ``estimate``, ``estimate_low``, ``estimate_high``); ``has_residents``: the run
    set residents apart (without it, visitors are all people).

    Returns
    -------
    pandas.DataFrame
        ``estimate``, ``low``, ``high`` per ``index``.
    """
    pub_rows = frame[frame["status"] == _PUBLISHED]
    piv = {c: pub_rows.pivot_table(index=index, columns="origin", values=c, aggfunc="first")
           for c in ("estimate", "estimate_low", "estimate_high")}
    est = piv["estimate"]
    if ALL not in est:
        return pd.DataFrame(columns=["estimate", "low", "high"], dtype=float)
    out = pd.DataFrame({"estimate": est[ALL], "low": piv["estimate_low"].get(ALL), "high": piv["estimate_high"].get(ALL)})
    if not has_residents:
        return out
    # (a zone without a resident row at all, none of its municipality's people counted: its
    # residents are among its visitors, as the run warned; a probe's page said "suppressed")
    rows = frame.loc[frame["origin"] == RESIDENT, index].drop_duplicates()
    none = ~out.index.isin(pd.Index(rows) if isinstance(index, str) else pd.MultiIndex.from_frame(rows))
    res = pd.DataFrame({"estimate": np.nan, "low": np.nan, "high": np.nan}, index=out.index)
    if RESIDENT in est:
        r, r_lo, r_hi = (piv[c].get(RESIDENT, pd.Series(np.nan, index=out.index)).reindex(out.index) for c in ("estimate", "estimate_low", "estimate_high"))
        v = out["estimate"] - r
        res = pd.DataFrame({"estimate": v, "low": np.maximum(v - np.hypot(out["estimate"] - out["low"], r_hi - r), 0.0),
                            "high": v + np.hypot(out["high"] - out["estimate"], r - r_lo)})
    res.loc[none] = out.loc[none, ["estimate", "low", "high"]].to_numpy()
    return res


def _within(rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows whose ``period_start`` (local ISO text) lies in [``start``, ``end``) (local times)."""
    ts = pd.to_datetime(rows["period_start"].str.slice(0, 19))
    return rows[(ts >= start.tz_localize(None)) & (ts < end.tz_localize(None))]


def _busiest_visitors(rows: pd.DataFrame, period_start: str, summary_p: str, has_residents: bool) -> pd.DataFrame:
    """Under ``--stat max``: visitors per zone in its busiest published period of the summary
    period from ``period_start`` (all less residents of the same period; a lower bound where
    the busiest one is withheld).
    """
    from .counts import period_end

    start = pd.Timestamp(period_start)
    rows = _within(rows, start, period_end(start, summary_p))
    per = visitors_of(rows, index=["zone_id", "period_start"], has_residents=has_residents).dropna(subset=["estimate"])
    if not len(per):
        return pd.DataFrame(columns=["estimate", "low", "high"], dtype=float)
    return per.loc[per.groupby(level="zone_id")["estimate"].idxmax()].droplevel("period_start")


def write_report(html: str, path: str | os.PathLike[str]) -> Path:
    """Write a report atomically.

    Parameters
    ----------
    html : str
        The page (:func:`build_report`).
    path : str or os.PathLike
        The file to write, as UTF-8.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return write_text_atomic(path, html)
