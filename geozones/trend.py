"""Visitors per day per quarter across runs, the change on the previous quarter and on the
same quarter a year before, and progress to a target (``geozones report --compare``).

A quarter's figure is the mean of its published daily visitor figures (all minus
residents, or all people where residents are not set apart) for the zone. Its interval
for a change is the day-to-day spread (1.645 standard errors of each mean): the zone's
apportioning error is the same factor in both quarters when the cells and the model are the
same, so it cancels in a ratio; when the runs' coverage models differ it does not, and the
zone's apportioning half-width is added in quadrature (docs/accuracy.md).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import people_text, read_run_json, read_run_zones
from ._words import some
from .errors import InputError
from .origins import RESIDENT
from .weights import OUTSIDE

__all__ = ["quarter_series", "trend_rows", "parse_target"]

_Z90 = 1.645


def parse_target(text: str) -> float:
    """``"2x"`` (or ``"2"``, ``"+100%"``) as a factor on the base quarter.

    Raises
    ------
    InputError
        If the text is not a factor above 0.
    """
    t = str(text).strip().lower()
    m = re.fullmatch(r"\+?(\d+(?:\.\d+)?)\s*%", t)
    if m:
        return 1.0 + float(m[1]) / 100
    m = re.fullmatch(r"x?(\d+(?:\.\d+)?)\s*x?", t)
    if not m or float(m[1]) <= 0:
        raise InputError(f"--target {text!r} is not a factor", hint="give e.g. --target 2x (double) or --target +50%")
    return float(m[1])


def _daily_rows(run_dir: Path, zone: str) -> tuple[pd.DataFrame | None, dict]:
    """The zone's published rows per day (a run of hours: its days, as the report makes them:
    :func:`geozones.pages.days_from_hours`), and the run's settings that a comparison rests
    on (``model``, ``residents``, ``k``); ``(None, settings)`` where the run has no such zone.
    """
    import pyarrow.parquet as pq

    from .counts import period_seconds
    from .pages import days_from_hours

    m = read_run_json(run_dir / "manifest.json", missing={})
    p = m.get("parameters", {})
    partial = {str(d.get("date", ""))[:10] for d in ((m.get("data_quality") or {}).get("partial_days") or {}).get("listed", [])}
    path = run_dir / "zone_counts.parquet"
    names = pq.read_schema(path).names
    cols = ["zone_id", "period_start", "period", "origin", "observed", "estimate", "status"] + [c for c in ("estimate_low", "estimate_high") if c in names]
    t = pd.read_parquet(path, columns=[c for c in cols if c in names])
    info = {"model": p.get("model"), "residents": bool((t["origin"] == RESIDENT).any()), "k": p.get("k"), "partial": partial}
    mine = (t["zone_id"] == zone).to_numpy()
    if not mine.any():  # (a zone split, renamed or new since that run)
        return None, info
    for c in ("observed", "estimate", "estimate_low", "estimate_high"):  # (a run without intervals: the figure itself at both ends)
        t[c] = t[c].to_numpy(dtype=float, na_value=np.nan) if c in t else t["estimate"].to_numpy(dtype=float, na_value=np.nan)
    t["period"] = t["period"].astype(str)
    shortest = min(pd.unique(t["period"]), key=period_seconds)
    if period_seconds(shortest) < 86_400:  # (a run of hours: a probe's --compare with one stopped on an internal error)
        rows = t[mine & (t["period"] == shortest).to_numpy()].copy()
        rows["date"] = rows["period_start"].astype(str).str.slice(0, 10)
        return days_from_hours(rows, p.get("kind"), p.get("stat")), info
    return t[mine & (t["period"] == "1d").to_numpy()], info


def _visitors(t: pd.DataFrame, residents: bool) -> pd.DataFrame:
    """Per day, visitors with their 90% interval (``v``, ``low``, ``high``), as the report
    computes them (:func:`geozones.report.visitors_of`); people in all without ``residents``.
    """
    from .report import visitors_of

    v = visitors_of(t, index="period_start", has_residents=residents).rename(columns={"estimate": "v"})
    out = v.dropna(subset=["v"])
    out.index = pd.to_datetime(pd.Index(out.index).astype(str).str.slice(0, 10))
    return out


def quarter_series(run_dirs: list[str | os.PathLike[str]], zone: str) -> pd.DataFrame:
    """Per quarter, the zone's mean daily visitors over the runs (the first run holding a day wins).

    Parameters
    ----------
    run_dirs : list of path
        Run output folders (with ``zone_counts.parquet``), the report's own first.
    zone : str

    Returns
    -------
    pandas.DataFrame
        Indexed by quarter start (Timestamp): ``mean`` and its 90% interval ``low``,
        ``high`` (the means of the days' intervals: a zone's apportioning error is shared by
        its days), ``se`` (standard error of the mean, the day-to-day spread), ``days``
        (published days), ``model``. ``attrs["notes"]``: the runs that do not hold the
        zone (a zone split, renamed or new since), those where its boundary differs from
        the first run's (the change then includes the boundary's), and runs that set
        residents apart where others did not (then every quarter is people in all,
        residents included, and ``attrs["measure"]`` says ``"people"``) or used another
        ``k`` or model; ``attrs["moved"]``: the runs where the zone's boundary differs.
    """
    import pyarrow.parquet as pq

    runs, notes, moved_runs = [], [], []
    first = None
    own = None
    for i, d in enumerate(run_dirs):
        d = Path(d)
        if not (d / "zone_counts.parquet").is_file():
            raise InputError("no zone_counts.parquet here", path=d, hint="give --compare the output folders of earlier runs")
        ids = set(map(str, pq.read_table(d / "zone_counts.parquet", columns=["zone_id"]).column("zone_id").unique().to_pylist())) - {OUTSIDE}
        if own is None:
            own = ids
        elif not ids & own:  # (a probe compared a run of another city's zones: accepted, with a note in the page alone)
            raise InputError(f"has none of the report's zones (it has {some(sorted(ids), 3)}; the report's "
                             f"{some(sorted(own), 3)})", path=d,
                             hint="give --compare the output folders of runs over the same zones")
        t, info = _daily_rows(d, zone)
        if t is None:
            notes.append(f"{d.name}: has no zone {zone!r} (split, renamed or new since?): its quarters are not in the table")
            continue
        shape = _shape(d, zone)
        if i == 0:
            first = shape
        elif first is not None and shape is not None:
            moved = first.symmetric_difference(shape).area / max(first.area, 1e-9)
            if moved > 0.001:
                moved_runs.append(d.name)
                notes.append(f"{d.name}: the zone's boundary differs ({shape.area / 1e6:.3f} km² against {first.area / 1e6:.3f} km²; "
                             f"{moved:.1%} of its area changed): a change on its quarters includes the boundary's")
        runs.append((d, t, info))
    # (a probe compared a run that set residents apart with one that did not: 'visitors' were
    # everyone in one, and the report read -21% where the zone grew by a quarter)
    residents = all(info["residents"] for _, _, info in runs)
    if not residents and any(info["residents"] for _, _, info in runs):
        without = ", ".join(d.name for d, _, info in runs if not info["residents"])
        notes.append(f"{without}: residents not set apart there, so every quarter here is people in all, residents included "
                     "(not visitors), to compare like with like")
    for key, what in (("k", "k"), ("model", "coverage model")):
        seen = {str(info[key]) for _, _, info in runs if info[key] is not None}
        if len(seen) > 1:
            notes.append(f"the runs differ in their {what} ({', '.join(f'{d.name}: {info[key]}' for d, _, info in runs)})"
                         + (": other figures are withheld" if key == "k" else ": their apportioning errors do not cancel (wider intervals)"))
    parts = [_visitors(t, residents).assign(model=info["model"], partial=lambda v, info=info: v.index.strftime("%Y-%m-%d").isin(info["partial"]))
             for _, t, info in runs]
    days = pd.concat(parts)
    # (stop 55's probe: a quarter's mean took a day of a few hours, which data quality listed, as a whole day)
    q = days.index.to_period("Q").start_time
    whole = pd.Series(~days["partial"].to_numpy(), index=days.index).groupby(q).transform("any").to_numpy()
    left = days["partial"].to_numpy() & whole  # (a quarter of partial days alone keeps them)
    if left.any():
        notes.append(f"{some(sorted(days.index[left].strftime('%Y-%m-%d')), 3)}: "
                     f"{'a partial day' if left.sum() == 1 else f'{int(left.sum())} partial days'} (counts for part of the day only: "
                     "data quality) left out of the quarters' means")
        days = days[~left]
    days = days[~days.index.duplicated(keep="first")].sort_index()
    q = days.index.to_period("Q").start_time
    g = days.groupby(q)
    out = pd.DataFrame({"mean": g["v"].mean(), "low": g["low"].mean(), "high": g["high"].mean(),
                        "se": g["v"].std(ddof=1) / np.sqrt(g["v"].count()), "days": g["v"].count(), "model": g["model"].first()})
    out["se"] = out["se"].fillna(0.0)
    out.attrs["notes"] = notes
    out.attrs["measure"] = "visitors" if residents else "people"
    out.attrs["moved"] = moved_runs
    return out


def _shape(run_dir: Path, zone: str):
    """The zone's geometry in a run's zones.geojson, in metres (a local UTM zone), or None."""
    path = run_dir / "zones.geojson"
    if not path.is_file():
        return None
    z = read_run_zones(path, columns=["zone_id"])
    z = z[z["zone_id"].astype(str) == zone]
    if not len(z) or z.crs is None:
        return None
    return z.to_crs(z.estimate_utm_crs()).geometry.union_all()


def _change(a: pd.Series, b: pd.Series, h: float) -> tuple[float, float, float]:
    """Relative change from quarter ``b`` to ``a`` and its 90% interval."""
    if not (b["mean"] > 0 and a["mean"] > 0):
        return np.nan, np.nan, np.nan
    r = a["mean"] / b["mean"]
    s = np.hypot(a["se"] / a["mean"], b["se"] / b["mean"])
    if a["model"] != b["model"]:  # different models: their apportioning errors do not cancel
        s = np.hypot(s, np.sqrt(2) * h / _Z90)
    return r - 1, r * np.exp(-_Z90 * s) - 1, r * np.exp(_Z90 * s) - 1


def _label(q: pd.Timestamp) -> str:
    return f"{q.year} Q{q.quarter}"


def trend_rows(series: pd.DataFrame, *, halfwidth: float = 0.0, target: float | None = None, by: int | None = None,
               base: str | None = None) -> dict:
    """The report's trend: a row per quarter and, with ``target``, the progress to it.

    Parameters
    ----------
    series : pandas.DataFrame
        From :func:`quarter_series`.
    halfwidth : float
        The zone's apportioning half-width (log), added when two quarters' models differ.
    target : float, optional
        Factor on the base quarter to reach (2.0: double).
    by : int, optional
        The year by which to reach it: the base quarter's season in that year.
    base : str, optional
        The base quarter's start (YYYY-MM-DD); default the first quarter.

    Returns
    -------
    dict
        ``rows`` (quarter, visitors, days, on the previous quarter, on a year before),
        ``target`` (a sentence, or None) and ``notes`` (:func:`quarter_series`'s).
    """
    rows = []
    qs = list(series.index)
    for i, q in enumerate(qs):
        a = series.loc[q]
        prev = series.loc[qs[i - 1]] if i and (q - qs[i - 1]).days < 100 else None
        year = q - pd.DateOffset(years=1)
        ago = series.loc[year] if year in series.index else None

        def words(c):
            return "" if c is None or not np.isfinite(c[0]) else f"{c[0]:+.1%} ({c[1]:+.1%} to {c[2]:+.1%})"

        level = f" ({people_text(a['low'])}-{people_text(a['high'])})" if np.isfinite(a["low"]) and np.isfinite(a["high"]) else ""
        rows.append({"quarter": _label(q), "visitors": f"{people_text(a['mean'])}{level}", "days": int(a["days"]),
                     "previous": words(_change(a, prev, halfwidth) if prev is not None else None),
                     "year": words(_change(a, ago, halfwidth) if ago is not None else None)})
    out = {"rows": rows, "target": None, "notes": list(series.attrs.get("notes", [])), "measure": series.attrs.get("measure", "visitors")}
    if target and len(qs):
        b = pd.Timestamp(base) if base else qs[0]
        b = b.to_period("Q").start_time
        if b not in series.index:
            raise InputError(f"base quarter {_label(b)} has no published figure for this zone", hint="give --base a quarter the runs hold")
        by = by or b.year + 5
        years = by - b.year
        if years <= 0:  # (a probe's --by 2025 on a 2025 base read "+nan% a year")
            raise InputError(f"--by {by} is not after the base quarter {_label(b)}", hint=f"give --by {b.year + 1} or later")
        goal = series.loc[b, "mean"] * target
        need = target ** (1 / years) - 1 if years > 0 else np.nan
        same = [q for q in qs if q.quarter == b.quarter and q > b]
        so_far = ""
        if same:
            last = same[-1]
            c = _change(series.loc[last], series.loc[b], halfwidth)
            n = last.year - b.year
            yearly = (1 + c[0]) ** (1 / n) - 1
            lo, hi = (1 + c[1]) ** (1 / n) - 1, (1 + c[2]) ** (1 / n) - 1
            verdict = "on track" if lo >= need else ("behind" if hi < need else "too early to tell")
            if series.attrs.get("moved"):  # (a probe's moved zone still read "on track")
                verdict += ", though the zone's boundary changed between them (see below)"
            so_far = f" So far ({_label(b)} to {_label(last)}): {yearly:+.1%} a year ({lo:+.1%} to {hi:+.1%}): {verdict}."
        what = "people" if out["measure"] == "people" else "visitors"
        out["target"] = (f"Target: {target:g}x the {_label(b)} level ({people_text(series.loc[b, 'mean'])} to {people_text(goal)} {what} a day) by "
                         f"{by} Q{b.quarter}: {need:+.1%} a year.{so_far}")
    return out
