"""The report's device-level sections ("Who visits", "How long they stay", "How often they
come back"), from the published ``visitors``, ``dwell`` and ``returning`` tables of a run
folder (``geozones visitors``). Only published figures are read: a suppressed one is empty
in the tables and is never shown or used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import people_text, read_run_json
from ._words import number
from .visitors import CATEGORIES, KEY_OF

__all__ = ["device_sections", "settings_that_differ"]

log = logging.getLogger("geozones")

_LABELS = {
    "resident": "Residents (home in the zone's municipality)",
    "regular": "Regulars (12 days a month or more)",
    "overnight_visitor": "Overnight visitors",
    "day_visitor": "Day visitors",
    "<30m": "under 30 minutes", "30m-1h": "30 minutes to 1 hour", "1h-2h": "1 to 2 hours", "2h-4h": "2 to 4 hours", "4h+": "4 hours or more",
    "1": "once", "2-3": "2 or 3 days", "4+": "4 days or more",
}


def _read(run_dir: Path, name: str) -> pd.DataFrame | None:
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        p = run_dir / f"{name}{suffix}"
        if p.is_file():
            t = reader(p)
            t[KEY_OF[name]] = t[KEY_OF[name]].astype(str)
            for c in ("observed", "estimate"):
                t[c] = pd.to_numeric(t[c], errors="coerce")
            return t
    return None


def _fmt(v: float) -> str:
    return people_text(v) if np.isfinite(v) else "suppressed"


def _per_day(t: pd.DataFrame, zone: str, start: str, end: str, labels, key: str, regular_days: int) -> list[dict]:
    """Mean estimate per day over the days a figure was published, per category, and its share of ``all``."""
    z = t[(t["zone_id"] == zone) & (t["period_start"].str.slice(0, 10) >= start[:10]) & (t["period_start"].str.slice(0, 10) < end[:10])]
    z = z[z["status"] == "published"]
    piv = z.pivot_table(index="period_start", columns=key, values="estimate", aggfunc="first")
    rows = []
    for c in labels:
        if c not in piv:
            rows.append({"name": _label(c, regular_days), "per_day": "suppressed", "days": 0, "share": ""})
            continue
        share = np.nan
        if "all" in piv and c != "all":
            both = piv[[c, "all"]].dropna()
            share = both[c].sum() / both["all"].sum() if len(both) and both["all"].sum() > 0 else np.nan
        rows.append({"name": _label(c, regular_days), "per_day": _fmt(piv[c].mean()), "days": int(piv[c].notna().sum()),
                     "share": f"{share:.0%}" if np.isfinite(share) else "", "_share": share})
    return rows


def shares_note(rows: list[dict]) -> str:
    """Words for shares that do not add up to about 100% (each over its own published days;
    a class is hidden on its smallest days): "" when they do, or when some are missing.
    """
    shares = [r["_share"] for r in rows if "_share" in r and r["name"] != "all"]
    if not shares or not all(np.isfinite(shares)):
        return ""
    total = float(np.sum(shares))
    if abs(total - 1) <= 0.05:
        return ""
    return (f"These shares add up to {total:.0%}: each is over the days its own figure was published, and a figure is hidden "
            "on the days it is smallest, so each reads high.")


def _names(paths) -> list[str] | None:
    """File names of a setting's path or paths (a folder stands for its GeoJSON files); None
    when not known (a folder that is not there from here).
    """
    if paths is None:
        return []
    out = set()
    for item in paths if isinstance(paths, list) else [paths]:
        path = Path(item["path"] if isinstance(item, dict) else item)
        if path.is_dir():
            out |= {f.name for f in path.glob("*.geojson")}
        elif path.suffix:
            out.add(path.name)
        else:
            return None
    return sorted(out)


def settings_that_differ(run: dict, visitors: dict) -> list[str]:
    """What the ``visitors`` tables of a folder were made with that its run was not.

    Parameters
    ----------
    run : dict
        The run's ``manifest.json``.
    visitors : dict
        The folder's ``visitors_manifest.json``.

    Returns
    -------
    list of str
        One line per setting that differs (coverage model, k, protection, zone files,
        market-share table), empty when they agree or either manifest does not say.
    """
    p, dc, vs = run.get("parameters", {}), run.get("disclosure_control", {}), visitors.get("settings", {})
    pairs = [
        ("coverage model", p.get("model"), visitors.get("model")),
        ("k", dc.get("k"), vs.get("k")),
        ("protection", p.get("protection"), vs.get("protection")),
        ("zone files", _names(run.get("inputs", {}).get("zones")), _names(vs.get("zones"))),
        ("market-share table", _names(run.get("inputs", {}).get("market_share")), _names(vs.get("market_share"))),
    ]
    out = []
    for what, ours, theirs in pairs:
        if ours is None or theirs is None or ours == theirs:
            continue
        show = (lambda v: ", ".join(v) or "none") if isinstance(ours, list) else str
        out.append(f"{what}: {show(theirs)} (the counts above: {show(ours)})")
    return out


def _label(c: str, regular_days: int) -> str:
    return _LABELS.get(c, c).replace("12 days", f"{regular_days} days")


def device_sections(run_dir: str | os.PathLike[str], zone: str, start: str, end: str) -> dict | None:
    """The three sections for ``zone`` over the days from ``start`` to ``end`` (excluded), or None.

    Parameters
    ----------
    run_dir : path
        A folder holding ``visitors`` (and ``dwell``, ``returning``) tables.
    zone : str
        The report's zone.
    start, end : str
        Local ISO dates (or times) of the report's period.

    Returns
    -------
    dict or None
        ``classes``, ``dwell`` (rows of name, per_day, days, share), ``returning`` (rows of
        name, estimate, share), ``period``, ``days`` (the tables' first and last day in the
        period and how many periods, or None), ``differ`` (:func:`settings_that_differ`,
        also logged as a warning) and ``k`` (the tables' threshold); None when the folder
        has no visitors table.
    """
    run_dir = Path(run_dir)
    vis = _read(run_dir, "visitors")
    if vis is None:
        return None

    vman = read_run_json(run_dir / "visitors_manifest.json", missing={})
    settings = vman.get("settings", {})
    rman = read_run_json(run_dir / "manifest.json")
    differ = settings_that_differ(rman, vman) if rman is not None and vman else []
    if differ:
        log.warning("the visitors tables in %s were made with other settings than its counts (%s): their figures may not agree",
                    run_dir, "; ".join(differ))
    rd = int(settings.get("regular_days", 12))
    out = {"classes": _per_day(vis, zone, start, end, list(CATEGORIES["visitors"]) + ["all"], "class", rd), "dwell": [], "returning": [],
           "dwell_note": "",
           "period": str(vis["period"].iloc[0]) if len(vis) else "1d", "in_tables": bool((vis["zone_id"] == zone).any()),
           "differ": differ, "k": None if settings.get("k") is None else number(settings["k"])}
    out["classes_note"] = shares_note(out["classes"])
    within = vis["period_start"].str.slice(0, 10)
    days = sorted(pd.unique(within[(within >= start[:10]) & (within < end[:10])]))
    out["days"] = (days[0], days[-1], len(days)) if days else None
    dw = _read(run_dir, "dwell")
    if dw is not None:
        out["dwell"] = _per_day(dw, zone, start, end, list(CATEGORIES["dwell"]) + ["all"], "dwell", rd)
        out["dwell_note"] = shares_note(out["dwell"])
    ret = _read(run_dir, "returning")
    if ret is not None:
        r = ret[(ret["zone_id"] == zone) & (ret["period_start"].str.slice(0, 10) >= start[:10]) & (ret["period_start"].str.slice(0, 10) < end[:10])]
        if len(r):
            first = r["period_start"].min()
            r = r[r["period_start"] == first].set_index("days_present")
            total = r["estimate"].get("all", np.nan) if r["status"].get("all") == "published" else np.nan
            for c in list(CATEGORIES["returning"]) + ["all"]:
                pub = c in r.index and r.loc[c, "status"] == "published"
                v = float(r.loc[c, "estimate"]) if pub else np.nan
                out["returning"].append({"name": _label(c, rd) if c != "all" else "all non-residents", "estimate": _fmt(v),
                                         "share": f"{v / total:.0%}" if pub and np.isfinite(total) and total > 0 else ""})
            out["returning_period"] = f"{r['period'].iloc[0]} from {first[:10]}"
    return out
