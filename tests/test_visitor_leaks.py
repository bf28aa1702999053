"""The device tables (``geozones visitors``) against an attacker who reads several of their
figures together: zones inside zones, which zones have rows, the manifest's counts (a
probe's findings, stop 50)."""

from __future__ import annotations

import json
from pathlib import Path

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
