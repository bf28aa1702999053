"""A hand-made month of subscriber events with known residents, regulars, overnight and
day visitors and dwell times (tests/test_visitors.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _square(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _fc(features):
    return {"type": "FeatureCollection", "features": features}


ZONE_A = (3.26, 50.82, 3.27, 50.83)
ZONE_B = (3.27, 50.82, 3.28, 50.83)
CELLS = {"A1": ZONE_A, "B1": ZONE_B, "KH": (3.22, 50.80, 3.23, 50.81), "HH": (3.35, 50.80, 3.36, 50.81)}


def write_world(folder: Path, *, zone_municipality: bool = True) -> dict:
    """Zones, coverage polygons, municipalities and a month of events; the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    props = {"municipality": "34022"} if zone_municipality else {}
    zones = _fc([
        {"type": "Feature", "properties": {"zone_id": "A", "name": "Zone A", **props}, "geometry": _square(*ZONE_A)},
        {"type": "Feature", "properties": {"zone_id": "B", "name": "Zone B", **props}, "geometry": _square(*ZONE_B)},
    ])
    (folder / "zones.geojson").write_text(json.dumps(zones))
    cells = _fc([{"type": "Feature", "properties": {"cell_id": c}, "geometry": _square(*b)} for c, b in CELLS.items()])
    (folder / "cells.geojson").write_text(json.dumps(cells))
    munis = _fc([
        {"type": "Feature", "properties": {"nis": "34022", "name": "Kortrijk"}, "geometry": _square(3.20, 50.78, 3.30, 50.86)},
        {"type": "Feature", "properties": {"nis": "34013", "name": "Harelbeke"}, "geometry": _square(3.30, 50.78, 3.40, 50.86)},
    ])
    (folder / "municipalities.geojson").write_text(json.dumps(munis))
    rows = []

    def ev(who, cell, day, hhmm, origin="34013"):
        rows.append((who, cell, f"2026-07-{day:02d}T{hhmm}:00", origin))

    # residents of Kortrijk: five nights at home (KH), in zone A on days 1-5 from 10:00 to 12:00
    for r in ("r1", "r2"):
        for d in range(1, 6):
            ev(r, "KH", d, "23:00", "34022")
            for t in ("10:00", "11:00", "12:00"):
                ev(r, "A1", d, t, "34022")
    # a regular from Harelbeke: three nights at home, in zone A at 09:00 on days 1-12
    for d in (20, 21, 22):
        ev("g1", "HH", d, "23:30")
    for d in range(1, 13):
        ev("g1", "A1", d, "09:00")
    # an overnight visitor, home unknown: zone A on day 10 14:00-15:00, the night in Kortrijk
    ev("o1", "A1", 10, "14:00", "NL")
    ev("o1", "A1", 10, "15:00", "NL")
    ev("o1", "KH", 10, "23:00", "NL")
    # day visitors from Harelbeke: d1 20 minutes on day 10; d2 on days 10 and 11
    for who in ("d1", "d2"):
        for d in (24, 25, 26):
            ev(who, "HH", d, "22:30")
    ev("d1", "A1", 10, "10:00")
    ev("d1", "A1", 10, "10:20")
    ev("d2", "A1", 10, "10:00")
    ev("d2", "A1", 11, "10:00")
    # d3 goes A, B, A: two stays of no length in A, one in B
    ev("d3", "A1", 10, "10:00", "FR")
    ev("d3", "B1", 10, "10:30", "FR")
    ev("d3", "A1", 10, "11:00", "FR")
    # x1 opted out: never counted
    ev("x1", "A1", 10, "10:00")
    ev("x1", "A1", 10, "13:00")
    events = pd.DataFrame(rows, columns=["subscriber_id", "cell_id", "timestamp", "origin"])
    events.to_csv(folder / "events.csv", index=False)
    (folder / "optout.txt").write_text("subscriber_id\nx1\n")
    return {k: str(folder / f) for k, f in (("zones", "zones.geojson"), ("cells", "cells.geojson"), ("municipalities", "municipalities.geojson"),
                                             ("events", "events.csv"), ("optout", "optout.txt"))}
