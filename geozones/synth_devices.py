"""Subscriber-level events for the demo: a seeded sample of devices whose days make the
classes of ``geozones visitors`` (residents, regulars, overnight and day visitors).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["demo_device_events"]

#: The sample's make-up: share of devices per kind.
KINDS = {"resident": 0.20, "regular": 0.05, "day": 0.63, "overnight": 0.12}


def _stay(rng, day_start: np.ndarray, begin_h: np.ndarray, hours: np.ndarray, step_min: float):
    """Event times (ns) of stays: from ``begin_h`` for ``hours``, one event every ``step_min`` minutes or so."""
    n = np.maximum(1, np.round(hours * 60 / step_min).astype(int) + 1)
    idx = np.repeat(np.arange(len(n)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    frac = np.where(np.repeat(n, n) > 1, k / np.maximum(np.repeat(n, n) - 1, 1), 0.0)
    t = day_start[idx] + ((begin_h[idx] + frac * hours[idx]) * 3600e9).astype(np.int64)
    return idx, t


def demo_device_events(
    path: str | os.PathLike[str],
    cell_ids: np.ndarray,
    p_centre: np.ndarray,
    p_shops: np.ndarray,
    p_res: np.ndarray,
    origins: list[str],
    mix: np.ndarray,
    *,
    start: str,
    days: int,
    busy_days: dict[str, float],
    devices: int = 10_000,
    seed: int = 7,
) -> dict:
    """Write a seeded sample of devices' events (subscriber_id, cell_id, timestamp, origin) as Parquet.

    * residents (origin ``34022``): nights at a home cell drawn from the population, a
      visit to the centre on a quarter of days (a median stay of 1.5 h);
    * regulars from West Flanders: at a centre cell on most weekdays, 09:00-17:00;
    * day visitors (origins by the demo's mix): a few days in the quarter, more on
      ``busy_days`` (date -> weight), a median stay of 2 h in the centre and shops;
    * overnight visitors (mostly from abroad): two or three days, nights at a centre cell.

    Parameters
    ----------
    path : path
        The Parquet file to write.
    cell_ids : numpy.ndarray
        The cell plan's ids.
    p_centre, p_shops, p_res : numpy.ndarray
        Per cell, the share of people in the centre, the shops and at home it serves.
    origins, mix : list and numpy.ndarray
        The visitors' origins and their shares.
    start : str
        First day (local).
    days : int
    busy_days : dict
        Date (``YYYY-MM-DD``) to a weight on day visits.
    devices : int
        Devices in the sample.
    seed : int

    Returns
    -------
    dict
        ``path``, ``events``, ``devices`` and the devices per kind.
    """
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(KINDS), size=devices, p=list(KINDS.values()))
    day0 = pd.date_range(start, periods=days, freq="D", tz="Europe/Brussels")
    day_ns = day0.tz_convert("UTC").as_unit("ns").asi8  # local midnight of each day, UTC ns
    weekday = day0.day_of_week.to_numpy()
    p_visit = np.where(weekday >= 5, 1.6, 1.0) * np.array([busy_days.get(d.strftime("%Y-%m-%d"), 1.0) for d in day0])
    p_visit = p_visit / p_visit.sum()
    cells = np.asarray(cell_ids, dtype=object)
    in_town = (p_centre + p_shops) / (p_centre + p_shops).sum()
    parts = []  # (device, time ns, cell)

    def add(dev, t, cell):
        parts.append((np.asarray(dev, np.int64), np.asarray(t, np.int64), np.asarray(cell, np.int64)))

    def night(dev, d, cell):  # two events in the night after day d
        for h in (rng.uniform(22.5, 23.9, len(dev)), rng.uniform(24.5, 29.5, len(dev))):
            add(dev, day_ns[d] + (h * 3600e9).astype(np.int64), cell)

    def visit(dev, d, begin, hours, step=20.0):
        i, t = _stay(rng, day_ns[d], begin, hours, step)
        add(dev[i], t, rng.choice(len(cells), size=len(i), p=in_town))

    origin = np.empty(devices, dtype=object)
    res = np.flatnonzero(kinds == "resident")
    origin[res] = "34022"
    home = rng.choice(len(cells), size=devices, p=p_res)
    dd = np.repeat(np.arange(days), len(res))
    rr = np.tile(res, days)
    night(rr, dd, home[rr])
    go = rng.random(len(rr)) < 0.25
    visit(rr[go], dd[go], rng.uniform(9, 18, go.sum()), rng.lognormal(np.log(1.5), 0.6, go.sum()).clip(0.1, 5))
    reg = np.flatnonzero(kinds == "regular")
    wv = [o for o in origins if o.startswith("3")]
    origin[reg] = rng.choice(wv, size=len(reg))
    work = rng.choice(len(cells), size=devices, p=in_town)
    dd = np.repeat(np.arange(days), len(reg))
    rr = np.tile(reg, days)
    go = (weekday[dd] < 5) & (rng.random(len(rr)) < 0.85)
    i, t = _stay(rng, day_ns[dd[go]], np.full(go.sum(), 9.0), np.full(go.sum(), 8.0), 60.0)
    add(rr[go][i], t, work[rr[go]][i])
    day = np.flatnonzero(kinds == "day")
    origin[day] = rng.choice(origins, size=len(day), p=mix / mix.sum())
    n_visits = 1 + rng.poisson(1.0, len(day))
    dv = np.repeat(day, n_visits)
    dd = rng.choice(days, size=len(dv), p=p_visit)
    visit(dv, dd, rng.uniform(9, 17, len(dv)), rng.lognormal(np.log(2.0), 0.7, len(dv)).clip(0.1, 8))
    ov = np.flatnonzero(kinds == "overnight")
    abroad = [o for o in origins if not o[:1].isdigit() or len(o) == 3] or origins
    origin[ov] = np.where(rng.random(len(ov)) < 0.7, rng.choice(abroad, size=len(ov)), rng.choice(origins, size=len(ov)))
    first = rng.choice(max(days - 3, 1), size=len(ov))
    length = rng.integers(2, 4, len(ov))
    hotel = rng.choice(len(cells), size=devices, p=p_centre / p_centre.sum())
    for j in range(3):
        on = length > j
        d = np.minimum(first[on] + j, days - 1)
        visit(ov[on], d, rng.uniform(10, 14, on.sum()), rng.lognormal(np.log(3.0), 0.5, on.sum()).clip(0.5, 8))
        last = on & (length > j + 1)
        night(ov[last], np.minimum(first[last] + j, days - 1), hotel[ov[last]])
    dev = np.concatenate([p[0] for p in parts])
    t = np.concatenate([p[1] for p in parts])
    c = np.concatenate([p[2] for p in parts])
    keep = t < day_ns[-1] + 86_400 * 10**9  # nothing after the last day
    dev, t, c = dev[keep], t[keep], c[keep]
    order = np.lexsort((dev, t))
    ids = np.array([f"s{h:08x}" for h in rng.permutation(2**24)[:devices]], dtype=object)  # hashed-looking ids
    local = pd.DatetimeIndex(t[order]).tz_localize("UTC").tz_convert("Europe/Brussels").tz_localize(None)
    frame = pd.DataFrame({"subscriber_id": ids[dev[order]], "cell_id": cells[c[order]], "timestamp": local.as_unit("s"),  # (local time, no offset)
                          "origin": origin[dev[order]]})
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return {"path": str(path), "events": int(len(frame)), "devices": devices, **{f"{k}s": int((kinds == k).sum()) for k in KINDS}}
