"""Device-level indicators: who visits a zone (resident, regular, overnight or day visitor),
how long they stay and how often they come back, from subscriber-level events.

The rules (docs/tourism.md):

* **Home.** A device's home municipality is the municipality of the cells it is seen in on
  the most distinct nights (``night``, by default 22:00-06:00 local time; a night belongs to
  the evening's date), with at least :data:`HOME_NIGHTS` nights; otherwise it is unknown. A
  roaming phone (a foreign country as its first origin) has none.
  Ties go to the municipality with more night events, then the lower code.
* **Presence.** A device is in zone Z on a day when one of its events falls in a cell that
  reaches Z; it counts for Z with the largest weight ``W[cell, Z]`` among those cells that
  day (at least that likely to have been in Z). Over a longer period, the largest of its days.
* **Dwell.** A stay runs from the first to the last event of a run of consecutive events
  (in the device's time order, within one local day) in cells that reach Z; the dwell on a
  day is the sum of the day's stays, each part of a stay (its time in one cell) counted by
  that cell's weight for Z against the day's largest. Over a period longer than a day: the
  mean over the days present, each day by its weight against the largest.
* **Classes** per zone and period, in this order: ``resident`` (home is the zone's
  municipality), ``regular`` (in Z on at least ``regular_days`` distinct days of the calendar
  month), ``overnight_visitor`` (seen in the zone's municipality during the night before or
  after the day), ``day_visitor`` (the rest). Over a period longer than a day a device takes
  the first class of its days in that order.
* **Returning**, per summary period: non-residents by distinct days present (1, 2-3, 4+),
  each day counted by its weight against the device's largest, rounded (as for ``regular``).

Every figure is a weighted count of distinct devices (``observed``); the estimate divides
it by the market share of its zone and class (:func:`geozones.visitor_tables.zone_factors`), and disclosure control
(:func:`geozones.visitor_tables.protect`) keeps every figure under ``k``, and every difference that would reveal
one, out of all three tables.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .counts import TIMEZONE, period_floor
from .errors import InputError
from .weights import Weights

__all__ = ["CLASSES", "DWELL_BANDS", "RETURN_BANDS", "HOME_NIGHTS", "NON_RESIDENTS", "DeviceSums", "device_sums", "device_sums_arrays",
           "parse_night"]

log = logging.getLogger("geozones")

#: The classes of the ``visitors`` table, in the order a device is put in the first that holds.
CLASSES = ("resident", "regular", "overnight_visitor", "day_visitor")
#: Dwell bands of the ``dwell`` table (non-residents), with their upper bounds in seconds.
DWELL_BANDS = ("<30m", "30m-1h", "1h-2h", "2h-4h", "4h+")
_DWELL_EDGES = np.array([1800, 3600, 7200, 14400], dtype=np.int64)
#: Bands of distinct days present in the ``returning`` table (non-residents).
RETURN_BANDS = ("1", "2-3", "4+")
#: The code of the non-residents (the dwell and returning tables' devices) in
#: :attr:`DeviceSums.class_origin`, after the classes' own.
NON_RESIDENTS = 4
#: Least nights in a municipality for it to be a device's home.
HOME_NIGHTS = 3
ALL = "all"
_DAY_NS = 86_400 * 10**9
_NIGHT_SHIFT_NS = 12 * 3600 * 10**9  # a night (evening to morning) is the date of its time minus 12 h
KEY_OF = {"visitors": "class", "dwell": "dwell", "returning": "days_present"}
CATEGORIES = {"visitors": CLASSES, "dwell": DWELL_BANDS, "returning": RETURN_BANDS}


def parse_night(text: str) -> tuple[int, int]:
    """``"22:00-06:00"`` as (start, end) in seconds after midnight.

    Parameters
    ----------
    text : str
        Two local times ``HH:MM-HH:MM``; the window may run over midnight, and must lie
        within noon to noon (a night belongs to the evening's date).

    Returns
    -------
    tuple of int

    Raises
    ------
    InputError
        If the text is not two times, or the window is empty.
    """
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(text))
    if not m or int(m[1]) > 23 or int(m[3]) > 24 or int(m[2]) > 59 or int(m[4]) > 59:
        raise InputError(f"night window {text!r} is not HH:MM-HH:MM", hint="give e.g. --night 22:00-06:00")
    start, end = int(m[1]) * 3600 + int(m[2]) * 60, int(m[3]) * 3600 + int(m[4]) * 60
    if start == end:
        raise InputError(f"night window {text!r} is empty", hint="give e.g. --night 22:00-06:00")
    span = (end - start) % 86_400
    # noon to noon: the evening's date is the date of (time - 12 h) for every time in the window
    if not (start >= 43_200 or start + span <= 43_200) or (start >= 43_200 and (start + span) - 86_400 > 43_200):
        raise InputError(f"night window {text!r} crosses noon", hint="a night runs between noon and the next noon, e.g. 22:00-06:00")
    return start, end


@dataclass
class DeviceSums:
    """Weighted device counts of one batch of devices; batches of other devices add up.

    Attributes
    ----------
    visitors, dwell, returning : pandas.DataFrame
        ``zone`` (index into the weights' zones), ``period_start`` (UTC), the category
        code and ``observed`` (the sum of the devices' weights).
    zone_origin : pandas.DataFrame
        ``zone``, ``origin``, ``observed`` over the whole run (each device once) and
        ``presence`` (each device once per period it was present: the devices of the rows)
        (for :func:`geozones.visitor_tables.zone_factors`).
    class_origin : pandas.DataFrame
        ``zone``, ``class`` (code), ``origin``, ``observed`` over the whole run: each
        device once per class it took in the zone (the classes' own factors); and
        ``presence``, each device once per period it was present in that class.
    stats : dict
        ``devices``, ``events``, ``events_unknown_cells`` (and the devices they are of,
        ``devices_unknown_cells``), ``homes``, ``devices_in_zones``.
    """

    visitors: pd.DataFrame
    dwell: pd.DataFrame
    returning: pd.DataFrame
    zone_origin: pd.DataFrame
    class_origin: pd.DataFrame
    stats: dict = field(default_factory=dict)

    def add(self, other: DeviceSums) -> DeviceSums:
        """These sums and ``other``'s, for disjoint sets of devices."""
        def cat(a, b):
            values = [c for c in ("observed", "presence") if c in a.columns]
            keys = [c for c in a.columns if c not in values]
            both = pd.concat([a, b], ignore_index=True)
            return both.groupby(keys, as_index=False, sort=True)[values].sum() if len(both) else both

        stats = {k: self.stats.get(k, 0) + other.stats.get(k, 0) for k in set(self.stats) | set(other.stats)}
        return DeviceSums(cat(self.visitors, other.visitors), cat(self.dwell, other.dwell), cat(self.returning, other.returning),
                          cat(self.zone_origin, other.zone_origin), cat(self.class_origin, other.class_origin), stats)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(code per value, distinct values) of an array, or of an Arrow array (encoded by Arrow)."""
    if hasattr(values, "type"):  # pyarrow
        import pyarrow as pa
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(values)
        enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
        return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), np.asarray(enc.dictionary.to_pylist(), dtype=object)
    codes, uniq = pd.factorize(np.asarray(values))
    return codes.astype(np.int64), np.asarray(uniq, dtype=object)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique`` of an int array by a sort (NumPy 2.3's own ``unique`` hashes: 17x slower here)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def _group_ends(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the runs of equal values in a sorted key."""
    if not len(key):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return starts, np.r_[starts[1:], len(key)]


def device_sums(
    events: pd.DataFrame,
    weights: Weights,
    cell_municipality: np.ndarray,
    zone_municipality: np.ndarray,
    *,
    period: str = "1d",
    summary_period: str | None = "1q",
    regular_days: int = 12,
    night: tuple[int, int] = (22 * 3600, 6 * 3600),
) -> DeviceSums:
    """Weighted counts of distinct devices per zone, period and category.

    Figures before disclosure control, most of them about fewer than ``k`` people: not
    for publication (:func:`geozones.visitor_tables` protects them).

    Parameters
    ----------
    events : pandas.DataFrame
        ``subscriber_id``, ``cell_id``, ``timestamp`` (with a zone: any), ``origin``, as
        :func:`geozones.read_events` returns them (opt-outs already removed). All the
        events of a device must be in the same call.
    weights : Weights
        Cells x zones.
    cell_municipality : numpy.ndarray of int
        Per cell of ``weights``, a municipality number (``-1``: unknown).
    zone_municipality : numpy.ndarray of int
        Per zone of ``weights``, its municipality number (``-1``: unknown: no resident).
    period, summary_period : str
        Period of the visitors and dwell tables (a day or longer), and of the returning table.
    regular_days : int
        Least distinct days in a zone in a calendar month for a ``regular``.
    night : tuple of int
        Night window, seconds after local midnight (:func:`parse_night`).

    Returns
    -------
    DeviceSums
    """
    cell = pd.Index(np.asarray(weights.cell_ids).astype(str)).get_indexer(events["cell_id"].to_numpy())
    utc = pd.DatetimeIndex(events["timestamp"]).as_unit("ns").asi8
    return device_sums_arrays(events["subscriber_id"].to_numpy(), cell, utc, events["origin"].to_numpy(), weights, cell_municipality,
                              zone_municipality, period=period, summary_period=summary_period, regular_days=regular_days, night=night)


def device_sums_arrays(
    subscriber: np.ndarray,
    cell: np.ndarray,
    utc: np.ndarray,
    origin: np.ndarray,
    weights: Weights,
    cell_municipality: np.ndarray,
    zone_municipality: np.ndarray,
    *,
    period: str = "1d",
    summary_period: str | None = "1q",
    regular_days: int = 12,
    night: tuple[int, int] = (22 * 3600, 6 * 3600),
    home_country: str = "BE",
) -> DeviceSums:
    """:func:`device_sums` over arrays: per event its subscriber id, cell (an index into the
    weights' cells, checked: ``-1`` for unknown), time (UTC, ns) and origin (ids and
    origins as NumPy or Arrow arrays). ``home_country`` (ISO code): the operator's own
    country, whose phones may have a home; a phone of another country roams.

    Returns
    -------
    DeviceSums
    """
    cell = np.asarray(cell, dtype=np.int64)
    if len(cell) and (cell.max() >= weights.shape[0] or cell.min() < -1):
        raise ValueError("cell index out of range")
    n_ev = len(cell)
    dev, dev_ids = _codes(subscriber)
    utc = np.asarray(utc, dtype=np.int64)
    local = pd.DatetimeIndex(utc, tz="UTC").tz_convert(TIMEZONE).tz_localize(None).as_unit("ns").asi8
    order = np.lexsort((utc, dev))
    dev, cell, utc, local = dev[order], cell[order], utc[order], local[order]
    org_codes, org_names = _codes(origin)
    org_codes = org_codes[order]
    n_dev = len(dev_ids)
    stats = {"devices": n_dev, "events": n_ev, "events_unknown_cells": int((cell < 0).sum()),
             "devices_unknown_cells": int(len(np.unique(dev[cell < 0])))}

    # --- home: the municipality of the most distinct nights (at least HOME_NIGHTS)
    n_muni = int(max(cell_municipality.max(initial=-1), zone_municipality.max(initial=-1))) + 1
    tod = local % _DAY_NS // 10**9
    start, end = night
    in_night = ((tod >= start) | (tod < end)) if start > end else ((tod >= start) & (tod < end))
    muni = np.where(cell >= 0, cell_municipality[np.maximum(cell, 0)], -1)
    at_night = in_night & (muni >= 0)
    night_day = (local - _NIGHT_SHIFT_NS) // _DAY_NS
    day = local // _DAY_NS
    day0 = int(min(day.min(initial=0), night_day.min(initial=0))) - 1
    n_days = int(day.max(initial=0)) - day0 + 2
    nd, nm, nn = dev[at_night], muni[at_night], night_day[at_night] - day0
    night_keys = _sorted_unique((nd.astype(np.int64) * max(n_muni, 1) + nm) * n_days + nn)  # (device, municipality, night)
    dm = night_keys // n_days
    nights = pd.Series(1, index=dm).groupby(level=0).sum()  # distinct nights per (device, municipality)
    events_n = pd.Series(1, index=nd.astype(np.int64) * max(n_muni, 1) + nm).groupby(level=0).sum()
    cand = pd.DataFrame({"dm": nights.index.to_numpy(), "nights": nights.to_numpy()})
    cand["events"] = events_n.reindex(cand["dm"]).to_numpy()
    cand["dev"], cand["muni"] = np.divmod(cand["dm"].to_numpy(), max(n_muni, 1))
    cand = cand[cand["nights"] >= HOME_NIGHTS].sort_values(["dev", "nights", "events", "muni"], ascending=[True, False, False, True])
    cand = cand.drop_duplicates("dev")
    home = np.full(n_dev, -1, np.int64)
    home[cand["dev"].to_numpy()] = cand["muni"].to_numpy()
    first_origin = np.zeros(n_dev, np.int64)
    first_origin[dev[::-1]] = org_codes[::-1]  # each device's first event's origin
    # a roaming phone (its operator abroad) has no home here, however many nights it stays:
    # a week's city trip is a visit (a probe's French hotel guests of 3 nights became residents)
    # (an Italian operator's 222 subscribers sleeping in Milan are residents with
    # --home-country IT; Belgium's NIS codes are BE's)
    names = np.array([str(o).upper() for o in org_names], dtype=object)
    iso = np.array([len(n) == 2 and n.isalpha() for n in names], dtype=bool)
    own = str(home_country).upper()
    abroad = iso & (names != own)
    if abroad.any():
        home[abroad[first_origin]] = -1
    per_country = pd.Series(np.bincount(first_origin, minlength=len(names))[:len(names)],
                            index=np.where(iso, names, np.where(names == "UNKNOWN", "", "BE"))).groupby(level=0).sum()
    stats.update({f"devices_from:{c}": int(n) for c, n in per_country.items() if c and n})  # (numbers: parts' stats add up)
    stats["homes"] = int((home >= 0).sum())

    # --- per chunk of devices: runs of consecutive events in cells that reach a zone, per
    # (device, zone, day), their classes and the chunk's sums (devices are independent)
    n_zone = len(weights.zone_ids)
    seg = np.flatnonzero(np.r_[True, (dev[1:] != dev[:-1]) | (cell[1:] != cell[:-1]) | (day[1:] != day[:-1])]) if n_ev else np.zeros(0, np.int64)
    seg_end = np.r_[seg[1:], n_ev] - 1  # (consecutive events in one cell on one day: one segment)
    ctx = dict(home=home, night_keys=night_keys, zone_municipality=zone_municipality, n_muni=max(n_muni, 1), n_days=n_days, day0=day0,
               n_zone=n_zone, period=period, summary_period=summary_period, regular_days=regular_days, first_origin=first_origin)
    sums = {"visitors": [], "dwell": [], "returning": [], "zone_origin": [], "class_origin": [], "zone_presence": [], "class_presence": []}
    stats["devices_in_zones"] = 0
    dev_start = np.flatnonzero(np.r_[True, dev[seg][1:] != dev[seg][:-1]]) if len(seg) else np.zeros(0, np.int64)
    for lo, hi in _chunks(dev_start, len(seg), _CHUNK_SEGMENTS):
        s0, s1 = seg[lo:hi], seg_end[lo:hi]
        d = _zone_days(dev[s0], cell[s0], day[s0], utc[s0], utc[s1], weights.matrix, n_zone, n_days, day0)
        stats["devices_in_zones"] += int(np.count_nonzero(np.diff(d[0]))) + int(len(d[0]) > 0)  # (rows sorted by device)
        for name, part in _chunk_sums(*d, **ctx).items():
            sums[name].append(part)
    out = {name: _frame(tuple(np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(4)), key)
           for (name, parts), key in zip(sums.items(), ("class", "dwell", "days_present", "origin", "origin", "origin", "origin"))}
    for name in ("zone_origin", "class_origin"):
        zo = out[name].merge(out[name.replace("origin", "presence")].rename(columns={"observed": "presence"}), how="outer",
                             on=["zone", "period_start", "origin"]).fillna(0.0)
        zo["origin"] = np.asarray(org_names, dtype=object)[zo["origin"].to_numpy(dtype=np.int64)] if len(zo) else zo["origin"].astype(object)
        out[name] = zo.drop(columns="period_start") if name == "zone_origin" else zo.rename(columns={"period_start": "class"})
    return DeviceSums(out["visitors"], out["dwell"], out["returning"], out["zone_origin"], out["class_origin"], stats)


def _chunk_sums(d_dev, d_zone, d_day, d_w, d_dwell, *, home, night_keys, zone_municipality, n_muni, n_days, day0, n_zone, period, summary_period,
                regular_days, first_origin) -> dict:
    """The sums of one chunk of devices from its (device, zone, day) rows: classes, dwell bands, days present."""
    # --- classes per (device, zone, day)
    month = d_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    m0, m1 = _group_ends((d_dev * n_zone + d_zone) * (month.max(initial=0) + 1) + month)  # (sorted)
    in_month = np.repeat(_days_present(d_w, m0), m1 - m0)
    zm = zone_municipality[d_zone]
    resident = (zm >= 0) & (home[d_dev] == zm)
    regular = in_month >= regular_days
    base = (d_dev * n_muni + np.maximum(zm, 0)) * n_days
    overnight = (zm >= 0) & (_isin_sorted(base + (d_day - 1 - day0), night_keys) | _isin_sorted(base + (d_day - day0), night_keys))
    cls = np.select([resident, regular, overnight], [0, 1, 2], 3)
    # --- per period: the largest weight, the first class, the mean daily dwell
    starts = _period_starts(d_day, period)
    p_dev, p_zone, p_start, p_w, p_cls, p_dwell, _ = _per_period(d_dev, d_zone, starts, d_w, cls, d_dwell)
    band = np.searchsorted(_DWELL_EDGES, p_dwell, side="right")
    nonres = p_cls > 0
    out = {"visitors": _agg(p_zone, p_start, p_cls, p_w), "dwell": _agg(p_zone[nonres], p_start[nonres], band[nonres], p_w[nonres])}
    if summary_period:
        s_starts = _period_starts(d_day, summary_period)
        s_dev, s_zone, s_start, s_w, _, _, n_present = _per_period(d_dev, d_zone, s_starts, d_w, cls, d_dwell)
        rb = np.where(n_present >= 3.5, 2, np.where(n_present >= 1.5, 1, 0))  # (days, each as likely as its weight says: rounded)
        zm_s = zone_municipality[s_zone]
        nr = (zm_s < 0) | (home[s_dev] != zm_s)
        out["returning"] = _agg(s_zone[nr], s_start[nr], rb[nr], s_w[nr])
    else:
        out["returning"] = _agg(*(np.zeros(0, np.int64),) * 3, np.zeros(0))
    # --- per (zone, origin) over the run, for the market share
    r_dev, r_zone, _, r_w, _, _, _ = _per_period(d_dev, d_zone, np.zeros(len(d_day), np.int64), d_w, cls, d_dwell)
    out["zone_origin"] = _agg(r_zone, np.zeros(len(r_zone), np.int64), first_origin[r_dev], r_w)
    # per (zone, class, origin) over the run: each device once per class (its classes' own factors)
    order = np.lexsort((d_day, cls, d_zone, d_dev))
    c_dev, c_zone, c_cls, c_w, _, _, _ = _per_period(d_dev[order], d_zone[order], cls[order], d_w[order], cls[order], d_dwell[order])
    nr = cls > 0  # (and the non-residents of the dwell and returning tables, each device once: class NON_RESIDENTS)
    n_dev, n_zone_, _, n_w, _, _, _ = _per_period(d_dev[nr], d_zone[nr], np.zeros(int(nr.sum()), np.int64), d_w[nr], cls[nr], d_dwell[nr])
    out["class_origin"] = _agg(np.r_[c_zone, n_zone_], np.r_[c_cls, np.full(len(n_zone_), NON_RESIDENTS)], first_origin[np.r_[c_dev, n_dev]],
                               np.r_[c_w, n_w])
    # the same, each device once a period it was present: the factors' weights, so that a factor is the mix of
    # the rows' devices (a run's one-day tourists outnumber its daily residents among devices, not among a day's)
    out["zone_presence"] = _agg(p_zone, np.zeros(len(p_zone), np.int64), first_origin[p_dev], p_w)
    out["class_presence"] = _agg(np.r_[p_zone, p_zone[nonres]], np.r_[p_cls, np.full(int(nonres.sum()), NON_RESIDENTS)],
                                 first_origin[np.r_[p_dev, p_dev[nonres]]], np.r_[p_w, p_w[nonres]])
    return out


def _agg(zone, start, cat, w) -> tuple:
    """Sums of ``w`` per (zone, start, cat), as four arrays."""
    zone, start, cat, w = (np.asarray(zone, np.int64), np.asarray(start, np.int64), np.asarray(cat, np.int64), np.asarray(w, float))
    if not len(zone):
        return zone, start, cat, w
    s_code, s_uniq = pd.factorize(start)
    n_s, n_c = len(s_uniq), int(cat.max()) + 1
    code, key = pd.factorize((zone * n_s + s_code) * n_c + cat)
    z, rest = np.divmod(key, n_s * n_c)
    sc, c = np.divmod(rest, n_c)
    return z, np.asarray(s_uniq, np.int64)[sc], c, np.bincount(code, weights=w, minlength=len(key))


#: Segments of events expanded to their zones at a time (bounds the memory of a batch).
_CHUNK_SEGMENTS = 400_000


def _chunks(starts: np.ndarray, n: int, size: int):
    """Ranges ``[lo, hi)`` of ``n`` rows, about ``size`` each, that begin at one of ``starts`` (a device's first row)."""
    lo = 0
    while lo < n:
        j = int(np.searchsorted(starts, lo + size))
        hi = int(starts[j]) if j < len(starts) else n
        yield lo, hi
        lo = hi


def _zone_days(dev, cell, day, t0, t1, matrix, n_zone: int, n_days: int, day0: int):
    """Per (device, zone, day) reached: the largest weight and the summed stays (s), sorted.

    The segments (one or more consecutive events of a device in one cell on one day, from
    ``t0`` to ``t1``) come in (device, time) order; a stay is a run of consecutive segments
    in cells that reach the zone.
    """
    W = matrix.tocsr()
    indptr, indices, data = W.indptr.astype(np.int64), W.indices, W.data
    n = len(dev)
    c = np.maximum(cell, 0)
    nz = np.where(cell >= 0, indptr[c + 1] - indptr[c], 0)
    total = int(nz.sum())
    sg = np.repeat(np.arange(n, dtype=np.int64), nz)
    pos = np.repeat(indptr[c] - (np.cumsum(nz) - nz), nz) + np.arange(total, dtype=np.int64)
    zone, w = indices[pos].astype(np.int64), data[pos]
    del pos
    if (w <= 0).any():
        keep = w > 0
        sg, zone, w = sg[keep], zone[keep], w[keep]
    # segments are in (device, time) order: a stable sort by (device, zone) keeps it within
    o = np.argsort(dev[sg] * n_zone + zone, kind="stable")
    sg, zone, w = sg[o], zone[o], w[o]
    del o
    key = (dev[sg] * n_zone + zone) * n_days + (day[sg] - day0)  # sorted: device, zone, day
    g0 = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(sg) else np.zeros(0, np.int64)
    if not len(g0):
        z = np.zeros(0, np.int64)
        return z, z, z, np.zeros(0), np.zeros(0)
    # a stay's time, segment by segment: each holds until the next segment of its run (the
    # run's last, its own span), weighed by its cell's weight against the day's largest, so
    # that hours in a cell that barely reaches the zone (a footprint's far tail) count as
    # little as the cell says; with equal weights, a run's first to last event as before
    run_end = np.r_[(key[1:] != key[:-1]) | (sg[1:] != sg[:-1] + 1), True]
    nxt = np.r_[sg[1:], 0]
    hold = np.where(run_end, t1[sg] - t0[sg], t0[nxt] - t0[sg]) / 1e9
    top = np.maximum.reduceat(w, g0)
    return dev[sg[g0]], zone[g0], day[sg[g0]], top, np.add.reduceat(hold * w, g0) / top


def _isin_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    i = np.searchsorted(sorted_keys, keys)
    return sorted_keys[np.minimum(i, len(sorted_keys) - 1)] == keys


def _period_starts(days: np.ndarray, period: str) -> np.ndarray:
    """Start (UTC, ns) of the period holding each local day (days since 1970 in local time)."""
    if not len(days):
        return np.zeros(0, np.int64)
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1)  # a lookup over the run's days
    local = pd.DatetimeIndex(span.astype("datetime64[D]")).tz_localize(TIMEZONE, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")
    starts = pd.DatetimeIndex(period_floor(pd.Series(local), period)).as_unit("ns").asi8
    return starts[days - first]


def _days_present(w: np.ndarray, g0: np.ndarray) -> np.ndarray:
    """Per group of (device, zone, day) rows starting at ``g0``: its days, each counted by
    its weight against the group's largest (equal weights: the number of days; a day seen
    only in a cell that barely reaches the zone, almost none).
    """
    return np.add.reduceat(w, g0) / np.maximum.reduceat(w, g0) if len(g0) else np.zeros(0)


def _per_period(dev, zone, start, w, cls, dwell):
    """Rows (device, zone, day), sorted by device, zone, day, folded to (device, zone, period):
    its largest weight, first class, mean daily dwell and number of days (each day by its
    weight against the largest: :func:`_days_present`; the dwell's mean likewise).
    """
    if not len(dev):
        z = np.zeros(0, np.int64)
        return z, z, z, np.zeros(0), z, np.zeros(0), np.zeros(0)
    key_change = np.r_[True, (dev[1:] != dev[:-1]) | (zone[1:] != zone[:-1]) | (start[1:] != start[:-1])]
    g0 = np.flatnonzero(key_change)
    top = np.maximum.reduceat(w, g0)
    r = w / np.repeat(top, np.diff(np.r_[g0, len(dev)]))
    n = np.add.reduceat(r, g0)
    return (dev[g0], zone[g0], start[g0], top, np.minimum.reduceat(cls, g0), np.add.reduceat(dwell * r, g0) / n, n)


def _frame(s: tuple, key: str) -> pd.DataFrame:
    zone, start, cat, w = s
    df = pd.DataFrame({"zone": zone, "period_start": start, key: cat, "observed": w})
    return df.groupby(["zone", "period_start", key], as_index=False, sort=True)["observed"].sum()
