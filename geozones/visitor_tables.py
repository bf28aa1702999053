"""The device-level tables as published: market-share factors per zone and class,
disclosure control across the three tables, and the tables themselves (from
:class:`geozones.visitors.DeviceSums`; the rules in :mod:`geozones.visitors` and
docs/tourism.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .counts import parse_period, period_seconds
from .extrapolate import market_share_factors, rest_share
from .privacy import AUDITED, BELOW_K, PUBLISHED, SUPPRESSED, nested_relation, suppress_complements
from .visitors import ALL, CATEGORIES, CLASSES, DWELL_BANDS, KEY_OF, NON_RESIDENTS, RETURN_BANDS, DeviceSums
from .weights import Weights

__all__ = ["zone_factors", "protect", "visitor_tables"]


def zone_factors(zone_origin: pd.DataFrame, n_zones: int, shares: pd.DataFrame | None, k: float, rest: float | None = None) -> np.ndarray:
    """Per zone, the factor from observed devices to people: ``sum(w / share) / sum(w)``
    over the devices of the zone's rows (each device once per period it was present, where
    ``zone_origin`` has ``presence``; else once), by their origin's market share.

    An origin with fewer than ``k`` devices in the zone over the whole run takes the share
    of the rest (``rest``: :func:`geozones.extrapolate.rest_share`, the table's largest), so that the factor, which anyone can read
    off the published figures, holds no small group's own share; where such origins hold
    fewer than ``k`` devices together beside an origin of ``k`` or more, they take the mix
    of the zone's large origins instead, so that the factor does not tell how many they
    are either. One factor per zone and run (not per row): the estimate column adds no
    equation per figure.

    Parameters
    ----------
    zone_origin : pandas.DataFrame
        ``zone``, ``origin``, ``observed`` (devices, for the threshold) and optionally
        ``presence`` (device-periods, the weights) (:attr:`DeviceSums.zone_origin`).
    n_zones : int
    shares : pandas.DataFrame or None
        The market-share table (:func:`geozones.read_market_share`); None: factor 1.
    k : float
    rest : float, optional
        The share of origins under ``k``; default: :func:`geozones.extrapolate.rest_share`.

    Returns
    -------
    numpy.ndarray
    """
    if shares is None or not len(zone_origin):
        return np.ones(n_zones)
    rest = rest_share(shares) if rest is None else rest
    share = zone_origin["origin"].map(market_share_factors(zone_origin["origin"], shares)).to_numpy(dtype=float)
    obs = zone_origin["observed"].to_numpy(dtype=float)
    big = obs >= k  # (the threshold on people: each device once)
    w = zone_origin["presence"].to_numpy(dtype=float) if "presence" in zone_origin else obs
    z = zone_origin["zone"].to_numpy(dtype=np.int64)
    # origins under k, together under k too, beside an origin of k or more: at that zone's
    # mix of its large origins, so that the factor tells nothing of them (at the rest's own
    # share, a probe read 4 German device-days beside 420 Belgian off the factor)
    small = np.bincount(z, weights=np.where(big, 0.0, obs), minlength=n_zones)
    w_big = np.bincount(z, weights=np.where(big, w, 0.0), minlength=n_zones)
    p_big = np.bincount(z, weights=np.where(big, w / share, 0.0), minlength=n_zones)
    with np.errstate(invalid="ignore", divide="ignore"):
        mix = np.where(p_big > 0, w_big / p_big, rest)
    share = np.where(big, share, np.where((small[z] < k) & (w_big[z] > 0), mix[z], rest))
    people = np.bincount(z, weights=w / share, minlength=n_zones)
    seen = np.bincount(z, weights=w, minlength=n_zones)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, people / seen, 1.0 / rest)


def _grid(n_zones: int, starts: pd.Series) -> pd.DataFrame:
    """Every zone in every period start of ``starts``."""
    u = starts.drop_duplicates().sort_values().reset_index(drop=True)
    return pd.DataFrame({"zone": np.repeat(np.arange(n_zones, dtype=np.int64), len(u)),
                         "period_start": u.take(np.tile(np.arange(len(u)), n_zones)).to_numpy()})


def _complete(sums: pd.DataFrame, key: str, n_cat: int, groups: pd.DataFrame) -> pd.DataFrame:
    """Every category of every (zone, period) group present, zeros where no device, and ``all``
    (code ``n_cat``).
    """
    grid = groups.loc[groups.index.repeat(n_cat + 1)].reset_index(drop=True)
    grid[key] = np.tile(np.arange(n_cat + 1), len(groups))
    s = sums.set_index(["zone", "period_start", key])["observed"]
    idx = pd.MultiIndex.from_frame(grid[["zone", "period_start", key]])
    obs = s.reindex(idx).fillna(0.0).to_numpy().copy().reshape(len(groups), n_cat + 1)
    obs[:, n_cat] = obs[:, :n_cat].sum(axis=1)
    grid["observed"] = obs.reshape(-1)
    return grid


def _regulars_bound(v: pd.DataFrame, r: pd.DataFrame, obs: np.ndarray, sup: np.ndarray, offsets: np.ndarray, k: float) -> np.ndarray:
    """Returning groups whose hidden bands ``1`` and ``2-3`` an attacker bounds under ``k``
    from the regulars: a regular of any day is in the summary period's band ``4+``, so
    ``1 + 2-3 <= all - regulars`` (a probe's zone: 100 in all, 80 regulars a day, the
    hidden bands of 12 and 8 read as at most 21). The rows of their ``all``, to suppress.
    """
    reg = CLASSES.index("regular")
    on = np.flatnonzero((v["class"].to_numpy() == reg) & ~sup[offsets[0]:offsets[1]])
    r_all = np.flatnonzero(r["days_present"].to_numpy() == len(RETURN_BANDS))
    if not len(on) or not len(r_all):
        return np.array([], np.int64)
    starts = np.sort(pd.unique(r["period_start"].to_numpy()))
    n_s = len(starts)
    vkey = v["zone"].to_numpy(dtype=np.int64)[on] * n_s + np.searchsorted(starts, v["period_start"].to_numpy()[on], side="right") - 1
    least = pd.Series(obs[offsets[0] + on] - 0.5).groupby(vkey).max()  # (the most regulars of a day, as the attacker reads them)
    rkey = r["zone"].to_numpy(dtype=np.int64) * n_s + np.searchsorted(starts, r["period_start"].to_numpy())
    rows = np.arange(len(r)) + offsets[2]
    band = r["days_present"].to_numpy(dtype=np.int64)
    g = pd.DataFrame({"key": rkey, "band": band, "obs": obs[rows], "hid": sup[rows]})
    wide = g.pivot_table(index="key", columns="band", values=["obs", "hid"], aggfunc="first")
    top = len(RETURN_BANDS) - 1  # (4+)
    small = list(range(top))
    n_hi = wide[("obs", len(RETURN_BANDS))] + 0.5
    shown = sum(np.where(wide[("hid", b)].astype(bool), 0.0, wide[("obs", b)] - 0.5) for b in small)
    room = n_hi - shown - least.reindex(wide.index).fillna(-np.inf)
    leak = np.zeros(len(wide), bool)
    for b in small:
        hidden = wide[("hid", b)].astype(bool).to_numpy() & (wide[("obs", b)].to_numpy() > 0)
        leak |= hidden & (room.to_numpy() < k)
    leak &= ~wide[("hid", len(RETURN_BANDS))].astype(bool).to_numpy() & wide[("hid", top)].astype(bool).to_numpy()
    bad = set(wide.index[leak])
    return rows[r_all][np.isin(rkey[r_all], list(bad))]


def protect(tables: dict[str, pd.DataFrame], k: float, *, same_period: bool, nested=None, regulars_in_top: bool = False,
            hidden: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """Disclosure control of the three tables together: ``status`` and ``reason`` per row.

    Rules (docs/tourism.md): every figure under ``k`` is suppressed; then, per zone and
    period, complementary suppression over the relations

    * ``all = resident + regular + overnight_visitor + day_visitor`` (visitors);
    * ``all = resident + non-residents`` and ``non-residents = regular + overnight + day``,
      where the dwell table's ``all`` *is* the non-residents;
    * ``non-residents = the dwell bands`` (dwell) and ``all = the day bands`` (returning);

    so that no suppressed figure follows from the published ones, and the suppressed parts
    of a relation hold at least ``k`` together (no bound under ``k`` either). A dwell or
    returning table whose ``all`` is suppressed is suppressed whole, and with
    ``same_period`` (the returning table's period is the visitors' period) the returning
    ``all``, the same devices as the dwell ``all``, shares its status. For zones inside
    other zones (``nested``), every figure of the outer zone is the inner zone's plus the
    devices of the outer one outside it, never published: that rest is protected as a
    hidden part (it may stand alone when it holds ``k`` or more).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        ``visitors``, ``dwell``, ``returning`` from :func:`_complete`: ``zone``,
        ``period_start``, the category code (``all`` last) and ``observed``.
    k : float
    same_period : bool
    nested : sequence of (int, int) or (int, [int, ...], bool), optional
        Pairs (outer, inner) of zone numbers (as the frames' ``zone``) where the inner zone
        lies inside the outer one (:func:`geozones.zones.nested_pairs`).
    regulars_in_top : bool, default False
        Whether every regular of a day is in the returning table's band ``4+`` (the summary
        period holds whole calendar months and a regular is there on 4 days or more): the
        returning bands ``1`` and ``2-3`` then hold at most ``all`` less a day's regulars,
        and where that bounds a hidden one under ``k`` the group is suppressed.
    hidden : numpy.ndarray of bool, optional
        Rows (of the three frames in turn) hidden beforehand: the attacker's audit's
        (:func:`_audited`), reason ``audit: recoverable``.

    Returns
    -------
    dict of str to pandas.DataFrame
        The same frames with ``status`` and ``reason``.
    """
    names = ("visitors", "dwell", "returning")
    frames = [tables[n] for n in names]
    offsets = np.cumsum([0] + [len(f) for f in frames])
    obs = np.concatenate([f["observed"].to_numpy(dtype=float) for f in frames])
    sup = obs < k
    reason = np.where(sup, BELOW_K, "").astype(object)
    if hidden is not None:
        reason[hidden & ~sup] = AUDITED
        sup = sup | hidden
    n_real = len(obs)
    rel = []

    def gid_of(f):
        return f.groupby(["zone", "period_start"], sort=False).ngroup().to_numpy()

    v, d, r = frames
    vcat, dcat, rcat = v["class"].to_numpy(), d["dwell"].to_numpy(), r["days_present"].to_numpy()
    v_rows = np.arange(len(v)) + offsets[0]
    v_gid = gid_of(v)
    n_c = len(CLASSES)
    rel.append((v_rows, v_gid, vcat == n_c, "complementary: classes"))
    # the dwell table's all is the visitors' non-residents (same zone and period)
    dkey = pd.MultiIndex.from_frame(d.loc[d["dwell"] == len(DWELL_BANDS), ["zone", "period_start"]])
    vkey = pd.MultiIndex.from_frame(v[["zone", "period_start"]])
    d_all_rows = np.flatnonzero(d["dwell"].to_numpy() == len(DWELL_BANDS)) + offsets[1]
    at = dkey.get_indexer(vkey)  # per visitors row, its group's dwell all row (-1: none)
    linked = at >= 0
    # all = resident + non-residents
    pick = linked & ((vcat == 0) | (vcat == n_c))
    dgroups, first_v = np.unique(at[linked], return_index=True)  # the dwell groups, and a visitors row of each
    g_d = v_gid[linked][first_v]
    rel.append((np.r_[v_rows[pick], d_all_rows[dgroups]], np.r_[v_gid[pick], g_d], np.r_[vcat[pick] == n_c, np.zeros(len(dgroups), bool)],
                "complementary: non-residents"))
    # non-residents = regular + overnight + day
    pick3 = linked & (vcat >= 1) & (vcat < n_c)
    rel.append((np.r_[v_rows[pick3], d_all_rows[dgroups]], np.r_[v_gid[pick3], g_d], np.r_[np.zeros(pick3.sum(), bool), np.ones(len(dgroups), bool)],
                "complementary: non-residents"))
    d_gid, r_gid = gid_of(d), gid_of(r)
    rel.append((np.arange(len(d)) + offsets[1], d_gid, dcat == len(DWELL_BANDS), "complementary: dwell"))
    rel.append((np.arange(len(r)) + offsets[2], r_gid, rcat == len(RETURN_BANDS), "complementary: returning"))
    # relations need dense group numbers per relation
    rel = [(rows, pd.factorize(g)[0], tot, label) for rows, g, tot, label in rel]
    if nested is not None and len(nested):
        # (a device seen in the inner zone is in the outer one: each outer figure is the inner one's plus the devices
        # of the outer zone outside it, per table, period and category: the zone tables' relation, over these rows)
        stacked = pd.DataFrame({"zone_id": np.concatenate([f["zone"].to_numpy(dtype=np.int64) for f in frames]).astype(str),
                                "period_start": np.concatenate([f["period_start"].to_numpy() for f in frames]),
                                "period": np.repeat(np.arange(len(frames)), [len(f) for f in frames]),
                                "origin": np.concatenate([f[key].to_numpy(dtype=np.int64) for f, key in zip(frames, ("class", "dwell", "days_present"), strict=True)]),
                                "observed": obs})
        # (every family with a hidden part, and the part its difference either way: a device seen in two zones that tile
        # a third counts once in it, so the tiles less the zone are those devices; stop 57's probe read 3 so)
        items = [(str(n[0]), str(n[1])) if len(n) == 2 else (str(n[0]), [str(b) for b in n[1]], True) for n in nested]
        nest, rest = nested_relation(stacked, items, n_real)
        if nest is not None:
            rows, gid, tot, _ = nest
            real = rows < n_real
            gap = np.bincount(gid[real], weights=np.where(tot[real], obs[rows[real]], -obs[rows[real]]), minlength=int(gid.max()) + 1)
            rest = np.abs(gap[gid[~real]])
        rel += [nest] if nest is not None else []
        obs = np.r_[obs, rest]
        sup = np.r_[sup, np.ones(len(rest), bool)]  # (a rest is never published)
        reason = np.r_[reason, np.full(len(rest), "difference", dtype=object)]
    for _ in range(10):
        before = sup.copy()
        suppress_complements(obs, sup, reason, rel, k, n_real)
        _no_total_back(obs, sup, reason, rel, n_real)
        # a suppressed all takes its table's group with it (the parts would add up to it)
        for f, gid, off, key, n in ((d, d_gid, offsets[1], "dwell", len(DWELL_BANDS)), (r, r_gid, offsets[2], "days_present", len(RETURN_BANDS))):
            if not len(f):
                continue
            rows = np.arange(len(f)) + off
            hidden_all = np.zeros(gid.max() + 1, bool)
            is_all = f[key].to_numpy() == n
            hidden_all[gid[is_all & sup[rows]]] = True
            new = hidden_all[gid] & ~sup[rows]
            sup[rows[new]] = True
            reason[rows[new]] = "complementary: table total suppressed"
        if regulars_in_top and len(r) and len(v):
            new = _regulars_bound(v, r, obs, sup, offsets, k)
            new = new[~sup[new]]
            sup[new] = True
            reason[new] = "complementary: regulars in 4+"
        if same_period and len(r) and len(d):
            rk = pd.MultiIndex.from_frame(r.loc[r["days_present"] == len(RETURN_BANDS), ["zone", "period_start"]])
            r_all_rows = np.flatnonzero(r["days_present"].to_numpy() == len(RETURN_BANDS)) + offsets[2]
            j = dkey.get_indexer(rk)
            ok = j >= 0
            both = sup[r_all_rows[ok]] | sup[d_all_rows[j[ok]]]
            for rows in (r_all_rows[ok], d_all_rows[j[ok]]):
                new = both & ~sup[rows]
                sup[rows[new]] = True
                reason[rows[new]] = "complementary: same devices"
        if np.array_equal(before, sup):
            break
    out = {}
    sup, reason = sup[:n_real], reason[:n_real]
    for name, f, a, b in zip(names, frames, offsets[:-1], offsets[1:]):
        s = sup[a:b]
        out[name] = f.assign(status=np.where(s, SUPPRESSED, PUBLISHED), reason=reason[a:b])
    return out


def _no_total_back(obs: np.ndarray, sup: np.ndarray, reason: np.ndarray, rel: list, n_real: int) -> None:
    """Where a relation's total is hidden (by the audit: a total under ``k`` has its parts
    under ``k`` too) and every part is published, hide its smallest part: the parts would
    give the total back. Stop 57's probe: the audit hid two zones' visitors ``all``, and
    each came back as its published residents plus the dwell table's ``all`` (the
    non-residents), and with them an overlap's 5 devices. In place.
    """
    for rows, gid, is_total, label in rel:
        if not len(rows):
            continue
        n = int(gid.max()) + 1
        s = sup[rows]
        back = (np.bincount(gid, weights=s & is_total & (rows < n_real), minlength=n) > 0) & ~(np.bincount(gid, weights=s & ~is_total, minlength=n) > 0)
        cand = np.flatnonzero(back[gid] & ~is_total & ~s & (rows < n_real))
        if not len(cand):
            continue
        cand = cand[np.lexsort((obs[rows[cand]], gid[cand]))]
        pick = rows[cand[np.r_[True, gid[cand][1:] != gid[cand][:-1]]]]
        sup[pick] = True
        reason[pick] = label


def _audited(done: dict[str, pd.DataFrame], k: float, weights: Weights, zone_ids: np.ndarray, nested, residents, periods) -> np.ndarray:
    """Per row of the three tables in turn, whether the attacker's audit over each table
    (:func:`geozones.privacy.audit_frame`, the zone tables' with the run's weights: a device
    is counted in each zone its cells reach, as a count is) hides it.

    Stop 56's probe: three zones in a row and the zone holding them gave the 5 devices of a
    cell in the overlap of two (105 + 105 + 100 - 305); the rules' pairs and families did
    not hold that relation, the zone tables' audit did. Exact recovery alone: a device seen
    on several cells counts once in a zone, so a zone's figure is its cells' sum only for
    devices seen on one; the bounds of the counts' linear programmes rest on that sum for
    every device (on the demo they hid 2,918 more figures, the returning table's 70
    published down to 4, and took 60 s), and the rules' complementary suppression keeps
    each relation's hidden parts at ``k`` together.
    """
    from .privacy import audit_frame

    out = []
    for name, per in zip(("visitors", "dwell", "returning"), periods, strict=True):
        f = done[name]
        sup = f["status"].to_numpy() == SUPPRESSED
        if not len(f) or not per or sup.all():
            out.append(sup)
            continue
        labels = np.array(list(CATEGORIES[name]) + [ALL], dtype=object)
        t = pd.DataFrame({"zone_id": zone_ids[f["zone"].to_numpy(dtype=np.int64)].astype(str), "period": per,
                          "period_start": pd.to_datetime(f["period_start"].to_numpy(), utc=True),
                          "origin": labels[f[KEY_OF[name]].to_numpy(dtype=np.int64)], "observed": f["observed"].to_numpy(dtype=float)})
        out.append(audit_frame(t, sup, k, nested=nested, weights=weights, estimates=False, bounds=False,
                               residents=residents if name == "visitors" else None))
    return np.concatenate(out)


def visitor_tables(
    sums: DeviceSums,
    weights: Weights,
    names: dict[str, str],
    *,
    period: str,
    summary_period: str | None,
    k: float,
    shares: pd.DataFrame | None = None,
    perturbation=None,
    nested=None,
    regular_days: int | None = None,
    residents: dict[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The published ``visitors``, ``dwell`` and ``returning`` tables.

    Parameters
    ----------
    sums : DeviceSums
        From :func:`device_sums` (added up over batches of devices).
    weights : Weights
    names : dict
        Zone name per zone id.
    period, summary_period : str
    k : float
        Disclosure threshold on observed devices.
    shares : pandas.DataFrame, optional
        Market shares by origin.
    perturbation : geozones.cellkey.Perturbation, optional
        The cell key method's noise on the published figures (the dwell table's ``all``, the
        non-residents, and the returning table's, the same devices, share their key).
    nested : sequence of (str, str) or (str, [str, ...], bool), optional
        Pairs (outer, inner) of zone ids where the inner zone lies inside the outer one
        (:func:`geozones.zones.nested_pairs`): their difference is protected too.
    regular_days : int, optional
        The ``regular`` class's least days in a calendar month: with 4 or more and a summary
        period of whole months, every regular is in the returning band ``4+``, and that
        bound is protected too (:func:`protect`).
    residents : dict, optional
        Each zone's municipality (code), whose homes its ``resident`` class holds: the
        audit reads a zone's residents as those people (:func:`geozones.privacy.audit_frame`).

    Returns
    -------
    dict of str to pandas.DataFrame
        Columns ``zone_id, zone_name, period_start, period, <category>, observed,
        estimate, status`` (``class``, ``dwell``, ``days_present``); ``period_start`` is
        local ISO 8601 text; ``observed`` and ``estimate`` empty (NaN) where suppressed.
    """
    from .outputs import local_iso

    zone_ids = np.asarray(weights.zone_ids, dtype=object)
    rest = rest_share(shares)
    factor = zone_factors(sums.zone_origin, len(zone_ids), shares, k, rest)
    # each class (and the non-residents) its own factor: residents counted at their share,
    # not at the mix of a zone full of tourists (a probe: Antwerpen centre's residents x 7.7
    # where their share said x 2.5); the total (``all``) keeps the zone's, from its devices
    co = sums.class_origin
    n_f = NON_RESIDENTS + 1
    own = zone_factors(co.assign(zone=co["zone"].to_numpy(dtype=np.int64) * n_f + co["class"].to_numpy(dtype=np.int64)), len(zone_ids) * n_f,
                       shares, k, rest).reshape(len(zone_ids), n_f)
    # every zone in every period the run saw anyone (a zone's rows only where someone was
    # present told a probe "1 to 29 people that day, nobody on the others")
    groups, s_groups = (_grid(len(zone_ids), t["period_start"]) for t in (sums.visitors, sums.returning))
    full = {
        "visitors": _complete(sums.visitors, "class", len(CLASSES), groups),
        "dwell": _complete(sums.dwell, "dwell", len(DWELL_BANDS), groups),
        "returning": _complete(sums.returning, "days_present", len(RETURN_BANDS), s_groups),
    }
    same = bool(summary_period) and period_seconds(parse_period(summary_period)) == period_seconds(parse_period(period))
    at = {z: i for i, z in enumerate(zone_ids.astype(str))}
    # (pairs and families: a probe read the 5 devices of a ring round two inner zones as outer less both, the pairs alone checked)
    pairs = [(at[n[0]], at[n[1]]) if len(n) == 2 else (at[n[0]], [at[b] for b in n[1] if b in at], n[2])
             for n in (nested or ()) if n[0] in at and (len(n) == 2 and n[1] in at or len(n) == 3)]
    whole_months = bool(summary_period) and period_seconds(parse_period(summary_period)) >= 28 * 86400
    hidden = None
    while True:  # (the rules, then the attacker's audit of each table, until it finds nothing new: each round hides more, so this ends)
        done = protect(full, k, same_period=same, nested=pairs, regulars_in_top=whole_months and (regular_days or 0) >= 4, hidden=hidden)
        sup = np.concatenate([done[n]["status"].to_numpy() == SUPPRESSED for n in ("visitors", "dwell", "returning")])
        found = _audited(done, k, weights, zone_ids, nested, residents, (period, period, summary_period))
        if not (found & ~sup).any():
            break
        hidden = sup | found
    out = {}
    for name, f in done.items():
        key = KEY_OF[name]
        labels = np.array(list(CATEGORIES[name]) + [ALL], dtype=object)
        f = f.sort_values(["zone", "period_start", key], kind="stable")
        hide = f["status"].to_numpy() == SUPPRESSED
        obs = f["observed"].to_numpy(dtype=float)
        zid = zone_ids[f["zone"].to_numpy(dtype=np.int64)]
        per = summary_period if name == "returning" else period
        if perturbation is not None:
            what = np.array([f"{name}:{c}" for c in labels[:-1]] + [f"{name}:all" if name == "visitors" else "non-residents"], dtype=object)
            obs = perturbation.perturb(obs, ~hide, zones=zid, periods=np.full(len(f), per, dtype=object), origins=what[f[key].to_numpy(dtype=np.int64)],
                                       starts_ns=pd.DatetimeIndex(pd.to_datetime(f["period_start"].to_numpy(), utc=True)).as_unit("ns").asi8)
        zc, cc = f["zone"].to_numpy(dtype=np.int64), f[key].to_numpy(dtype=np.int64)
        f_row = (np.where(cc < len(CLASSES), own[zc, np.minimum(cc, len(CLASSES) - 1)], factor[zc]) if name == "visitors"
                 else own[zc, NON_RESIDENTS])
        est = np.round(obs) * f_row  # (from the count as published: no finer than its rounding)
        out[name] = pd.DataFrame({
            "zone_id": zid,
            "zone_name": [names.get(z, z) for z in zid],
            "period_start": local_iso(pd.Series(pd.to_datetime(f["period_start"].to_numpy(), utc=True))).to_numpy(dtype=object),
            "period": per,
            key: labels[f[key].to_numpy(dtype=np.int64)],
            "observed": np.where(hide, np.nan, np.round(obs)),
            "estimate": np.where(hide, np.nan, np.round(est)),
            "status": f["status"].to_numpy(),
        })
    return out
