"""The device tables (``geozones visitors``) against an attacker who reads several of their
figures together: zones inside zones, which zones have rows, the manifest's counts (a
probe's findings, stop 50)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from geozones.visits import VisitorsConfig, run_visitors

K = 30
BOX = (3.26, 50.82, 0.01)


def _square(i: int, j: int = 0) -> dict:
    x0, y0, d = BOX
    x, y = x0 + i * d, y0 + j * d
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


def _world(tmp: Path) -> dict:
    """Cells c0, c1, c2 side by side; zone ``big`` is c0 and c1, ``small`` is c0, ``lone``
    is c2. Each day 100 devices in c0 and 5 in c1 only (big's people outside small); 3
    devices in c2 on the second day only, nobody there on the others; 6 devices seen only
    in c4, outside every zone, on the last day."""
    fc = lambda feats: {"type": "FeatureCollection", "features": feats}  # noqa: E731
    cells = fc([{"type": "Feature", "properties": {"cell_id": f"c{i}"}, "geometry": _square(i)} for i in range(5)])
    big = {"type": "Polygon", "coordinates": [[[3.26, 50.82], [3.28, 50.82], [3.28, 50.83], [3.26, 50.83], [3.26, 50.82]]]}
    zones = fc([{"type": "Feature", "properties": {"zone_id": z, "name": z.title(), "municipality": "34022"}, "geometry": g}
                for z, g in (("big", big), ("small", _square(0)), ("lone", _square(2)))])
    (tmp / "cells.geojson").write_text(json.dumps(cells))
    (tmp / "zones.geojson").write_text(json.dumps(zones))
    pd.DataFrame({"origin": ["206", "*"], "share": [0.4, 0.25]}).to_csv(tmp / "shares.csv", index=False)
    days = pd.date_range("2026-07-06 10:00", periods=3, freq="D", tz="Europe/Brussels")
    rows = []
    for d, day in enumerate(days):
        rows += [(f"a{d}{i}", "c0", day) for i in range(100)] + [(f"b{d}{i}", "c1", day) for i in range(5)]
    rows += [(f"l{i}", "c2", days[1]) for i in range(3)] + [(f"x{i}", "c4", days[2]) for i in range(6)]
    ev = pd.DataFrame(rows, columns=["subscriber_id", "cell_id", "timestamp"]).assign(origin="206")
    ev["timestamp"] = ev["timestamp"].map(lambda t: t.isoformat())
    ev.to_csv(tmp / "events.csv", index=False)
    return {"zones": [str(tmp / "zones.geojson")], "cells": str(tmp / "cells.geojson"), "events": str(tmp / "events.csv"),
            "market_share": str(tmp / "shares.csv")}


def _run(tmp_path: Path) -> Path:
    w = _world(tmp_path)
    out = tmp_path / "out"
    run_visitors(VisitorsConfig(out=str(out), model="given", k=K, **w))
    return out


def test_the_devices_of_a_zone_outside_a_zone_inside_it_are_never_read_under_k(tmp_path):
    out = _run(tmp_path)
    for table, key in (("visitors", "class"), ("dwell", "dwell"), ("returning", "days_present")):
        t = pd.read_csv(out / f"{table}.csv", dtype={key: str})
        pub = t[t["status"] == "published"].set_index(["period_start", key, "zone_id"])["observed"]
        for (start, cat), g in t.groupby(["period_start", key]):
            if (start, cat, "big") not in pub.index:
                continue  # (hidden: the attacker has no upper bound on big's people from this figure)
            lo_small = pub.get((start, cat, "small"), 0.5) - 0.5  # (hidden: at least none)
            # the attacker's most for big's people outside small (5 a day, 15 over the run)
            assert pub[(start, cat, "big")] + 0.5 - lo_small >= K, (table, start, cat)


def test_every_zone_has_rows_in_every_period_so_a_missing_row_says_nothing(tmp_path):
    out = _run(tmp_path)
    v = pd.read_csv(out / "visitors.csv")
    per_zone = v.groupby("zone_id")["period_start"].nunique()
    assert set(per_zone.index) == {"big", "small", "lone"} and (per_zone == 3).all()
    lone = v[v["zone_id"] == "lone"]
    assert (lone["status"] == "suppressed").all() and lone["observed"].isna().all()


def test_the_manifest_gives_no_count_of_devices_that_leaves_fewer_than_k_of_those_seen(tmp_path):
    out = _run(tmp_path)
    dev = json.loads((out / "visitors_manifest.json").read_text())["devices"]
    assert dev["seen"] == 324  # (100 and 5 a day over 3 days, 3 in lone, 6 outside)
    # in_zones (318) would give the 6 seen only outside every zone
    assert dev["in_zones"] == "fewer than 30 below seen"
    numbers = [v for v in dev.values() if isinstance(v, (int, float))]
    assert all(abs(a - b) == 0 or abs(a - b) >= K for a in numbers for b in numbers)


def test_a_zones_factor_does_not_tell_how_many_devices_of_origins_under_k_it_holds():
    """A probe read 4 German device-days beside 420 Belgian off a zone's factor (estimate over
    observed), the Germans at the run's rest share: the factor now reads the same with or
    without them, while origins under k holding k together still count at the rest share."""
    from geozones.visitor_tables import zone_factors

    shares = pd.DataFrame({"origin": ["206", "262", "*"], "share": [0.4, 0.05, 0.25]})

    def factor(n_de: int) -> float:
        zo = pd.DataFrame({"zone": [0, 0], "origin": ["206", "262"], "observed": [100.0, n_de], "presence": [420.0, n_de]})
        return float(zone_factors(zo[zo["observed"] > 0], 1, shares, K, rest=0.139)[0])

    alone = factor(0)
    assert alone == 2.5
    assert factor(4) == alone and factor(29) == alone  # (an attacker cannot tell 0 from 29)
    assert factor(35) > alone  # (35 devices at the rest share: a group of k or more may show)


def _returning_world(tmp: Path) -> dict:
    """One zone over one cell: 35 residents and 80 regulars there every day of two weeks,
    12 devices one day, 8 devices two days (a probe's world)."""
    w = _world(tmp)
    zones = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"zone_id": "solo", "name": "Solo", "municipality": "34022"},
                                                        "geometry": _square(0)}]}
    (tmp / "zones.geojson").write_text(json.dumps(zones))
    days = pd.date_range("2026-07-06 11:00", periods=14, freq="D", tz="Europe/Brussels")
    rows = [(f"r{i}", "c0", d) for d in days for i in range(80)]
    rows += [(f"h{i}", "c0", d + pd.Timedelta(hours=h)) for d in days for i in range(35) for h in (0, 12)]  # (35 residents: their nights here)
    rows += [(f"o{i}", "c0", days[i % 14]) for i in range(12)] + [(f"t{i}", "c0", d) for i in range(8) for d in days[i:i + 2]]
    ev = pd.DataFrame(rows, columns=["subscriber_id", "cell_id", "timestamp"]).assign(origin="206")
    ev["timestamp"] = ev["timestamp"].map(lambda t: t.isoformat())
    ev.to_csv(tmp / "events.csv", index=False)
    return w


def test_hidden_returning_bands_are_not_bounded_under_k_by_a_days_regulars(tmp_path):
    """Every regular of a day is in the quarter's band 4+, so an attacker reads bands 1 and
    2-3 as at most all less a day's regulars (a probe: 100 in all, 80 regulars a day, the
    hidden 12 and 8 at most 21). His programme over every published figure of the zone."""
    from scipy.optimize import linprog

    w = _returning_world(tmp_path)
    out = tmp_path / "out"
    run_visitors(VisitorsConfig(out=str(out), model="given", k=K, **w))
    v = pd.read_csv(out / "visitors.csv")
    r = pd.read_csv(out / "returning.csv", dtype={"days_present": str})
    for zone, rz in r.groupby("zone_id"):
        rz = rz.set_index("days_present")
        regs = v[(v["zone_id"] == zone) & (v["class"] == "regular") & (v["status"] == "published")]["observed"]
        a_ub, b_ub = [], []
        bounds = []
        for band in ("1", "2-3", "4+"):
            pub = rz.loc[band, "status"] == "published"
            bounds.append((rz.loc[band, "observed"] - 0.5, rz.loc[band, "observed"] + 0.5) if pub else (0, None))
        if len(regs):
            a_ub.append([0, 0, -1])
            b_ub.append(-(regs.max() - 0.5))  # (4+ holds every regular of a day)
        if rz.loc["all", "status"] == "published":
            n = rz.loc["all", "observed"]
            a_ub += [[1, 1, 1], [-1, -1, -1]]
            b_ub += [n + 0.5, -(n - 0.5)]
        for i, band in enumerate(("1", "2-3")):
            if rz.loc[band, "status"] == "published":
                continue
            c = np.zeros(3)
            c[i] = -1
            most = linprog(c, A_ub=a_ub or None, b_ub=b_ub or None, bounds=bounds, method="highs")
            assert most.status == 3 or -most.fun >= K, (zone, band, -most.fun)


def test_the_events_read_are_the_files_whatever_the_opt_out_list(tmp_path):
    """A probe read an opted-out person's 23 events as the difference of events.read between
    the runs before and after the opt-out."""
    w = _world(tmp_path)
    opt = tmp_path / "optout.txt"
    opt.write_text("a00\n")
    reads = []
    for name, extra in (("before", {}), ("after", {"optout": str(opt)})):
        run_visitors(VisitorsConfig(out=str(tmp_path / name), model="given", k=K, **w, **extra))
        reads.append(json.loads((tmp_path / name / "visitors_manifest.json").read_text())["events"]["read"])
    assert reads[0] == reads[1] == len(pd.read_csv(w["events"]))
