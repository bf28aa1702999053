"""Disclosure control: no published figure rests on fewer than k people.

Rules, applied to a zone table that may hold several period lengths (hours, days, the
quarter) and an ``"all"`` origin per zone and period:

1. **Threshold.** A figure whose *observed* number of people (the operator's own subscribers,
   before extrapolation) is below ``k`` is suppressed. ``k`` defaults to 30, the operator's rule.
2. **Complementary suppression.** A suppressed figure must not be recoverable by
   subtraction. For every relation *total = sum of parts*:

   * the origins of a zone and period against its ``"all"`` row;
   * the shorter periods against a longer one that holds them (hours in a day, days in
     a week or a quarter; for presence counts the longer figure is the mean of the
     shorter ones, which is the same relation up to a known factor);

   if any part is suppressed while the total is published, at least two parts must be
   suppressed and together they must hold at least ``k`` people; otherwise the
   smallest published part is suppressed too, and when no part is left, the total.
   (A hidden difference of nested zones may stand alone when it holds ``k`` or more.)
   The rules are applied again until nothing changes, since one suppression can open
   another relation.

A suppressed figure keeps its row, with ``status`` ``"suppressed"``, a ``reason``, and
empty ``observed`` and ``estimate`` in every published output (:func:`publish`).

3. **Nested zones.** For a zone B inside a zone A (a shopping street inside the centre, a
   zone and the same zone plus a small strip), the people in A but not in B are a figure
   that is never published; the relation A = B + (A minus B) is protected like the others,
   so that subtracting B from A cannot reveal fewer than k people.

4. **The audit** (:mod:`geozones.audit`, :func:`audit_frame`): everything about to be
   published, as equations over the cells' counts, against an attacker who knows the cell
   plan; further figures are suppressed (reason ``"audit: recoverable"``) until nothing
   under k follows (docs/privacy.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .counts import period_floor
from .errors import InputError
from .origins import ALL, code_of
from .zones import OUTSIDE

__all__ = ["DEFAULT_K", "PUBLISHED", "SUPPRESSED", "BELOW_K", "COMP_ORIGINS", "COMP_TIME", "COMP_NESTED", "AUDITED", "disclosure_control", "audit_frame", "pooled_totals", "noisy_figures", "publish", "suppress_complements", "nested_relation",
           "nested_items", "period_rank", "safe_count", "optout_summary"]

DEFAULT_K = 30
PUBLISHED = "published"
SUPPRESSED = "suppressed"
BELOW_K = "below k"
COMP_ORIGINS = "complementary: origins"
COMP_TIME = "complementary: time"
COMP_NESTED = "complementary: nested zones"
AUDITED = "audit: recoverable"


def safe_count(value: float, k: float) -> float | str:
    """A figure about people for a log or manifest: itself only where it rests on ``k`` or more (or none).

    Parameters
    ----------
    value : float
        How many people (or a count that rests on them).
    k : float
        The threshold.

    Returns
    -------
    float or str
        ``value`` (rounded to 3 decimals; an int when whole) when it is at least ``k``, else
        ``"fewer than k"``, 0 too (a 0 beside "fewer than k" elsewhere told 1 to k - 1).
    """
    v = float(value)
    if v < k:
        return f"fewer than {k:g}"
    return int(v) if v.is_integer() else round(v, 3)


def optout_summary(subscribers: int, events: int, k: float) -> dict:
    """What a manifest says of an opt-out list: the subscribers removed and their events.

    Both are about the people on the list, so both rest on how many they are: under ``k``
    the number of subscribers reads ``"fewer than k"`` and their events are not given
    (one person's events tell how active that person was).

    Parameters
    ----------
    subscribers : int
        Subscribers of the list found in the events and removed.
    events : int
        Their events removed.
    k : float
        The threshold.

    Returns
    -------
    dict
        ``listed_subscribers_removed`` and ``events_removed``.
    """
    shown = safe_count(subscribers, k)
    return {"listed_subscribers_removed": shown,
            "events_removed": int(events) if not isinstance(shown, str) else f"not given: {shown} subscribers"}


def period_rank(period: str) -> int:
    """Coarseness of a period label: minutes 0, hours 1, days 2, weeks, months and quarters
    3 (a time relation joins a finer period to a coarser one).
    """
    unit = period.lstrip("0123456789")
    return {"min": 0, "h": 1, "d": 2, "w": 3, "mo": 3, "q": 3}[unit]


def _origin_relation(table: pd.DataFrame, groups: Mapping[str, str] | None = None, rows: np.ndarray | None = None):
    """``all`` and its origins per zone and period; with ``groups`` (a finer origin's
    coarser one, two origin levels in one table) ``all`` and the finer origins, and each
    coarser origin and its members. ``rows``: only these rows (positions).
    """
    at = np.arange(len(table)) if rows is None else np.asarray(rows, np.int64)
    t = table.iloc[at]
    if set(pd.unique(t["origin"])) <= {ALL}:
        return None
    origin = t["origin"].astype(str)
    if not groups:
        gid = t.groupby(["zone_id", "period_start", "period"], sort=False, observed=True).ngroup().to_numpy()
        return at, gid, (origin == ALL).to_numpy(), COMP_ORIGINS
    coarse = origin.isin(set(groups.values())).to_numpy()
    top = np.where(coarse, ALL, origin.map(groups).fillna(ALL).to_numpy())  # (each row's total: 'all', or its coarser origin)
    top = np.where(origin.to_numpy() == ALL, ALL, top)
    key = pd.DataFrame({"z": t["zone_id"].astype(str).to_numpy(), "s": t["period_start"].to_numpy(), "p": t["period"].astype(str).to_numpy()})
    # rows in the relation of 'all': every row but a coarser origin's; in a coarser origin's: it and its members
    in_all = ~coarse
    in_grp = coarse | (top != ALL)
    k_all = key[in_all].assign(g=ALL)
    k_grp = key[in_grp].assign(g=np.where(coarse, origin.to_numpy(), top)[in_grp])
    both = pd.concat([k_all, k_grp], ignore_index=True)
    gid = both.groupby(["z", "s", "p", "g"], sort=False, observed=True).ngroup().to_numpy()
    pos = np.r_[at[in_all], at[in_grp]]
    total = np.r_[origin.to_numpy()[in_all] == ALL, coarse[in_grp]]
    return pos, gid, total, COMP_ORIGINS


def _time_relations(table: pd.DataFrame) -> list:
    periods = sorted(pd.unique(table["period"]), key=period_rank)
    rels = []
    if len(periods) < 2:
        return rels
    period = table["period"].to_numpy()
    z_code = pd.factorize(table["zone_id"])[0].astype(np.int64)
    o_code, o_uniq = pd.factorize(table["origin"])
    o_code, n_o = o_code.astype(np.int64), max(len(o_uniq), 1)
    t_code, t_uniq = pd.factorize(table["period_start"])
    t_ns = pd.DatetimeIndex(t_uniq).as_unit("ns").asi8  # (UTC nanoseconds)
    for child in periods:
        for parent in periods:
            rc, rp = period_rank(child), period_rank(parent)
            if not rc < rp or (parent == child):
                continue
            ci = np.flatnonzero(period == child)
            pi = np.flatnonzero(period == parent)
            # the parent period that holds each child row: floored once per distinct start
            bucket = pd.DatetimeIndex(period_floor(pd.Series(t_uniq), parent)).as_unit("ns").asi8
            b = np.concatenate([bucket[t_code[ci]], t_ns[t_code[pi]]])
            rows = np.concatenate([ci, pi])
            b_code = np.unique(b, return_inverse=True)[1].reshape(-1)
            key = (z_code[rows] * n_o + o_code[rows]) * (int(b_code.max()) + 1 if len(b_code) else 1) + b_code
            gid = np.unique(key, return_inverse=True)[1].reshape(-1)  # one group per zone, origin and parent period
            is_total = np.concatenate([np.zeros(len(ci), bool), np.ones(len(pi), bool)])
            rels.append((rows, gid, is_total, COMP_TIME))
    return rels


def nested_items(nested) -> list[tuple[str, list[str], bool]]:
    """Nested zones as ``(outer, [inner, ...], rest)``: a bare pair ``(outer, inner)`` is
    ``(outer, [inner], True)``.

    Parameters
    ----------
    nested : list
        Pairs and families (see :func:`disclosure_control`).

    Returns
    -------
    list of tuple
    """
    return [(it[0], [it[1]], True) if len(it) == 2 else (it[0], list(it[1]), bool(it[2])) for it in nested or []]


def nested_relation(t: pd.DataFrame, nested, n_real: int, only: np.ndarray | None = None):
    """Relations ``A = B1 + ... + Bn (+ rest)`` for zones B inside a zone A.

    ``nested`` holds ``(outer, [inner, ...], rest)``; a bare pair ``(outer, inner)`` means
    ``(outer, [inner], True)``. The rest, the people in A but in none of the B (never
    published), is a hidden part whose rows are appended after the ``n_real`` real rows.
    One relation for every item and every period and origin that all its zones hold,
    found by joins over the whole table (not a pass over the table per item: a national
    zone set has thousands of families). ``only``: the rows to relate (the shortest
    period's, for maxima), as positions in ``t``; the relation still names rows of ``t``.
    """
    if only is not None:
        only = np.asarray(only, np.int64)
        t = t.iloc[only].reset_index(drop=True)
    key = ["period_start", "period", "origin"]
    items = nested_items(nested)
    if not items or not len(t):
        return None, np.array([])
    size = np.array([1 + len(inners) for _, inners, _ in items])
    member = pd.DataFrame({
        "item": np.repeat(np.arange(len(items)), size),
        "place": np.concatenate([np.arange(n) for n in size]),  # 0: the outer zone, then the inner ones
        "zone_id": np.concatenate([[outer, *inners] for outer, inners, _ in items]).astype(str),
    })
    rows = pd.DataFrame({"row": np.arange(len(t)), "zone_id": t["zone_id"].astype(str).to_numpy(),
                         "kid": t.groupby(key, sort=False, observed=True).ngroup().to_numpy()})
    m = member.merge(rows, on="zone_id")
    # a group is an item at one period and origin, where every zone of the item has a row
    whole = m.groupby(["item", "kid"], sort=False)["place"].transform("size").to_numpy() == size[m["item"].to_numpy()]
    m = m[whole]
    if not len(m):
        return None, np.array([])
    # order as the outer zone's rows: groups by item, then by the outer row (so ties in
    # disclosure control break the same way whatever the join's order)
    outer_row = m.loc[m["place"] == 0].set_index(["item", "kid"])["row"]
    m = m.assign(orow=outer_row.reindex(pd.MultiIndex.from_frame(m[["item", "kid"]])).to_numpy())
    m = m.sort_values(["item", "place", "orow"], kind="stable")
    gid = m.groupby(["item", "orow"], sort=True).ngroup().to_numpy()
    r, place = m["row"].to_numpy(), m["place"].to_numpy()
    obs = t["observed"].to_numpy(dtype=float)
    n = int(gid.max()) + 1
    outer_obs = np.bincount(gid, weights=np.where(place == 0, obs[r], 0.0), minlength=n)
    inner_obs = np.bincount(gid, weights=np.where(place > 0, obs[r], 0.0), minlength=n)
    item_of = np.zeros(n, dtype=np.int64)
    item_of[gid] = m["item"].to_numpy()
    with_rest = np.flatnonzero(np.array([rest for _, _, rest in items])[item_of])
    diffs = np.clip(outer_obs[with_rest] - inner_obs[with_rest], 0.0, None)
    rel = (np.concatenate([r if only is None else only[r], n_real + np.arange(len(diffs))]).astype(np.int64), np.concatenate([gid, with_rest]).astype(np.int64),
           np.concatenate([place == 0, np.zeros(len(diffs), bool)]), COMP_NESTED)
    return rel, diffs


def disclosure_control(
    table: pd.DataFrame,
    k: float = DEFAULT_K,
    *,
    nested: list[tuple[str, str]] | None = None,
    weights=None,
    linear_time: bool = True,
    audit: bool = True,
    rest_share: float | None = None,
    perturbation=None,
    locked: np.ndarray | None = None,
    residents: Mapping[str, str] | None = None,
    origin_groups: Mapping[str, str] | None = None,
    audited_only: frozenset = frozenset(),
    audited_zones: frozenset = frozenset(),
) -> pd.DataFrame:
    """Mark every figure of a zone table as published or suppressed.

    Parameters
    ----------
    table : pandas.DataFrame
        Zone table(s) with ``zone_id``, ``period_start``, ``period``, ``origin`` and
        ``observed`` (several period lengths may be stacked). Rows of the zone
        ``outside`` are not published and are removed.
    k : float, default 30
        The smallest observed number of people a published figure may rest on.
    nested : list, optional
        Zones inside other zones (:func:`geozones.nested_zones` finds them as a run
        does): pairs ``(outer, inner)``, or
        ``(outer, [inner, ...], rest)`` for non-overlapping inner zones, ``rest`` saying
        whether the outer zone has area outside them. The people in the outer zone but in
        none of the inner ones are a figure too, never published: publishing the zones must
        not reveal it when it holds fewer than ``k`` people, nor one inner zone by
        subtracting the others.
    weights : geozones.Weights, or dict, optional
        The weights the figures were apportioned with. Without them (or without
        ``nested``) the table is not safe to publish, and a warning says so: the rules
        above hold per zone, but a zone's figures minus those of zones sharing its cells
        can still give fewer than ``k`` people. With them the audit also looks across
        zones (cells, pairs of cells and rests of zones that follow from several zones).
        With a density per period (:mod:`geozones.density`), a dict of each published
        period length to its :class:`~geozones.density.PeriodWeights`.
    linear_time : bool, default True
        Whether a longer period is the sum or mean of the shorter ones (not for a maximum).
    audit : bool, default True
        Run the attacker's audit (:func:`geozones.audit.audit`) after the rules above.
    rest_share : float, optional
        With it, the estimate of each ``all`` row becomes its published origins' estimates
        plus the rest of its observed count divided by this share
        (:func:`geozones.extrapolate.rest_share`), so that the estimates add no equation
        over the hidden origins; the audit then reads the observed figures only. Without
        it, estimates are kept and audited as equations with the true factors.
    perturbation : geozones.cellkey.Perturbation, optional
        The cell key method: after everything above has decided on the true counts, each
        published ``observed`` becomes its rounded count plus its noise, and its
        ``estimate`` follows it (its origin's factor times it; a total's from its published
        origins and ``rest_share``).
    locked : numpy.ndarray of bool, optional
        Per row of ``table``, whether an earlier run over the same counts published it
        (:mod:`geozones.earlier`): it stays published and is never chosen to close an
        exposure.
    residents : mapping of zone id to municipality code, optional
        The homes whose people a zone's ``resident`` figures hold
        (:func:`geozones.origins.home_municipalities`): the audit reads each under its
        home's code.
    origin_groups : mapping of str to str, optional
        Figures of two origin levels over the same counts in one table (an earlier run at
        another ``--origin-level``, :mod:`geozones.earlier`): each finer origin's coarser
        one (a municipality's province), where the coarser one is an origin of the table.
        A coarser origin's figure is then the sum of its members', as ``all`` is of every
        origin's, in the relations and the audit.
    audited_only : frozenset of str, optional
        Origins whose rows are audited and never published by this table (the other
        level's; ``locked`` says which an earlier run published): hidden unless locked.
    audited_zones : frozenset of str, optional
        Zones whose rows are audited and never published by this table (an earlier run's own
        zones): hidden unless locked, as ``audited_only``.

    Returns
    -------
    pandas.DataFrame
        The table with ``status`` (``"published"`` or ``"suppressed"``) and ``reason``
        (``""``, ``"below k"``, ``"complementary: origins"``, ``"complementary: time"``,
        ``"complementary: nested zones"``, ``"audit: recoverable"``, and ``"audited, not
        published here"`` for rows of ``audited_only`` origins or ``audited_zones``).
        Values are still present: use :func:`publish` before anything leaves. Ties go by row
        order (as :func:`geozones.apportion` writes them): another order may hide others.
    """
    k = float(pd.to_numeric(k, errors="coerce"))  # (a probe's k="30" and NaN gave a TypeError and a bare ValueError)
    if not (k > 0 and np.isfinite(k)):
        raise InputError(f"k must be a number of people above 0, not {k:g}", hint="the operator's rule is 30")
    if audit and (weights is None or nested is None):
        # (a probe called it as the README did, without either: 428 more figures published
        # than a run would, among them zones inside others 24 to 29 people apart)
        logging.getLogger("geozones").warning(
            "disclosure_control without %s: figures that follow from several zones are not looked for, so the "
            "table is not safe to publish; give weights= (the run's weights) and nested=geozones.nested_zones(zones), "
            "as geozones.run does", " and ".join(n for n, v in (("weights", weights), ("nested", nested)) if v is None))
    inside = (table["zone_id"] != OUTSIDE).to_numpy()
    t = table[inside].reset_index(drop=True)
    fixed = None if locked is None else np.asarray(locked, bool)[inside]
    obs = t["observed"].to_numpy(dtype=float)
    other = t["origin"].astype(str).isin(audited_only).to_numpy() if audited_only else np.zeros(len(t), bool)
    if audited_zones:  # (an earlier run's zones: what it did not publish is hidden, whatever this run would; a figure of a
        other = other | t["zone_id"].astype(str).isin(audited_zones).to_numpy()  # day it did not count, too; pandas' arrays are read-only)
    sup = (obs < k) | (other & (np.zeros(len(t), bool) if fixed is None else ~fixed))  # (the other level's: out only if locked)
    reason = np.where(obs < k, BELOW_K, np.where(sup, "audited, not published here", "")).astype(object)
    by_origin = _origin_relation(t, origin_groups)
    # (a maximum is no sum of its periods, and its origins' or inner zones' maxima do not sum
    # to it: relations hold at the shortest period only, and geozones.maxima audits the rest)
    short = None if linear_time else (t["period"].astype(str) == min(pd.unique(t["period"].astype(str)), key=period_rank)).to_numpy()
    origin_rel = by_origin if by_origin is None or short is None else (by_origin[0][short], by_origin[1][short], by_origin[2][short], by_origin[3])
    relations = [r for r in [origin_rel] if r is not None] + (_time_relations(t) if linear_time else [])
    n_real = len(t)
    if nested:
        rel, diffs = nested_relation(t, nested, n_real, only=None if short is None else np.flatnonzero(short))
        if rel is not None:
            relations.append(rel)
            obs = np.concatenate([obs, diffs])
            sup = np.concatenate([sup, np.ones(len(diffs), bool)])  # a difference is never published
            reason = np.concatenate([reason, np.full(len(diffs), "difference", dtype=object)])
    sup, reason = suppress_complements(obs, sup, reason, relations, k, n_real, locked=fixed)
    sup, reason = sup[:n_real], reason[:n_real]
    shown = None
    if perturbation is not None and n_real:  # what every figure would read: the audit's bounds give the attacker the noise's room
        starts = pd.DatetimeIndex(pd.to_datetime(t["period_start"], utc=True)).as_unit("ns").asi8
        # (the other origin level's renamed rows, geozones.earlier.two_levels, keyed as their own run keyed them)
        shown = perturbation.perturb(t["observed"].to_numpy(dtype=float), np.ones(n_real, bool), zones=t["zone_id"].astype(str).to_numpy(),
                                     periods=t["period"].to_numpy(), starts_ns=starts,
                                     origins=code_of(t["origin"]).to_numpy(dtype=object))
    if audit and n_real:
        found = audit_frame(t, sup, k, nested=nested, weights=weights, linear_time=linear_time, estimates=rest_share is None,
                            shown=shown, slack=0.5 if shown is None else perturbation.max_noise + 0.5, locked=fixed,
                            residents=residents, origin_groups=origin_groups)
        reason[found & ~sup] = AUDITED
        sup = sup | found
    if shown is not None:  # the cell key method, on what is published
        obs, est = noisy_figures(t["observed"].to_numpy(dtype=float), t["estimate"].to_numpy(dtype=float) if "estimate" in t.columns else None,
                                 shown, sup)
        t = t.assign(observed=obs) if est is None else t.assign(observed=obs, estimate=est)
    if "estimate" in t.columns:
        obs, est = rounded_figures(t["observed"].to_numpy(dtype=float), t["estimate"].to_numpy(dtype=float))
        pool = by_origin if not origin_groups else _origin_relation(t, rows=np.flatnonzero(~other))  # (this table's own level)
        if rest_share is not None and pool is not None:
            est[pool[0]] = pooled_totals(pool[1], pool[2], obs[pool[0]], est[pool[0]], sup[pool[0]], rest_share)
        if not linear_time:  # (a maximum's estimate: its peak figure's)
            from .maxima import peak_estimates

            level, tcode, parent, _, _ = _time_codes(t)
            est = peak_estimates(pd.factorize(t["zone_id"])[0], level, tcode, pd.factorize(t["origin"])[0], parent, obs, est, sup)
        t = t.assign(estimate=est)
    return t.assign(status=np.where(sup, SUPPRESSED, PUBLISHED), reason=reason)


def noisy_figures(true: np.ndarray, est: np.ndarray | None, shown: np.ndarray, sup: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Observed and estimate figures with the cell key method's noise where published: the
    perturbed count, and the estimate following it (``est * shown / true``: an origin's
    factor times its published count); suppressed figures keep their true values.

    Parameters
    ----------
    true : numpy.ndarray
        True observed figures.
    est : numpy.ndarray, optional
        Estimates (None: none).
    shown : numpy.ndarray
        What each figure reads with its noise (:meth:`geozones.cellkey.Perturbation.perturb`).
    sup : numpy.ndarray of bool
        Suppressed figures.

    Returns
    -------
    tuple
        ``(observed, estimate)``.
    """
    obs = np.where(sup, true, shown)
    if est is None:
        return obs, None
    ok = ~sup & (true > 0)
    # (the factor to 9 decimals: the same on every engine, whose sums differ in the last bits)
    return obs, np.where(ok, np.round(est / np.where(ok, true, 1.0), 9) * obs, est)


def rounded_figures(obs: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts as published (rounded) and estimates made from them: each its figure's factor
    (``estimate / observed``) times the rounded count.

    An estimate made from the exact count would tell it finer than its rounding (at a
    factor of 0.25, to a quarter of a person): one more thing for an attacker to combine,
    which the audit, reading each count to +-0.5, does not allow for. Made from the rounded
    count, it tells nothing the count does not (docs/privacy.md).

    Parameters
    ----------
    obs, est : numpy.ndarray of float
        Observed and estimate per figure.

    Returns
    -------
    (observed, estimate) : numpy.ndarray
        The rounded counts and their estimates (the factor to 9 decimals: the same on every
        engine, whose sums differ in the last bits).
    """
    return noisy_figures(obs, est, np.round(obs), np.zeros(len(obs), bool))  # (the rounding as the noise)


def pooled_totals(group: np.ndarray, is_total: np.ndarray, obs: np.ndarray, est: np.ndarray, sup: np.ndarray, share: float) -> np.ndarray:
    """Estimates where each total is its published parts' estimates plus the rest of its
    observed count divided by ``share`` (its hidden parts' own shares add no equation).

    Parameters
    ----------
    group : numpy.ndarray of int
        Per row, its group (one total and its parts).
    is_total : numpy.ndarray of bool
        Whether the row is its group's total.
    obs, est : numpy.ndarray of float
        Observed and estimate per row.
    sup : numpy.ndarray of bool
        Suppressed rows.
    share : float
        The share for the rest (:func:`geozones.extrapolate.rest_share`).

    Returns
    -------
    numpy.ndarray
        ``est`` with the totals' estimates replaced.
    """
    n = int(group.max()) + 1 if len(group) else 0
    part = ~is_total & ~sup
    pub_est = np.bincount(group, weights=np.where(part, est, 0.0), minlength=n)
    pub_obs = np.bincount(group, weights=np.where(part, obs, 0.0), minlength=n)
    out = est.copy()
    g = group[is_total]
    # (the rest may be a little under 0 where the parts' rounding or noise added up past
    # the total's: kept, so that without a market share a total's estimate is its count)
    out[is_total] = pub_est[g] + (obs[is_total] - pub_obs[g]) / share
    return out


def _time_codes(t: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list, list, np.ndarray]:
    """Each row's period length (0 the shortest), its period's index within that length,
    per length the period holding each shortest one (:func:`geozones.audit.parents`), the
    period lengths (shortest first) and each row's start (UTC nanoseconds).
    """
    from .audit import parents

    periods = sorted(pd.unique(t["period"]), key=period_rank)
    level = pd.Index(periods).get_indexer(t["period"]).astype(np.int64)
    starts = pd.DatetimeIndex(pd.to_datetime(t["period_start"], utc=True)).as_unit("ns").asi8
    tcode = np.zeros(len(t), np.int64)
    level_starts = []
    for lv in range(len(periods)):
        rows = level == lv
        u, inv = np.unique(starts[rows], return_inverse=True)
        tcode[rows] = inv.reshape(-1)
        level_starts.append(u)
    return level, tcode, parents(level_starts, periods), periods, starts


def audit_frame(t: pd.DataFrame, sup: np.ndarray, k: float, *, nested=None, weights=None, linear_time: bool = True,
                estimates: bool = True, shown: np.ndarray | None = None, slack: float = 0.5, locked: np.ndarray | None = None,
                residents: Mapping[str, str] | None = None, origin_groups: Mapping[str, str] | None = None, bounds: bool = True) -> np.ndarray:
    """The attacker's audit (:func:`geozones.audit.audit`) over a zone table.

    Parameters
    ----------
    t : pandas.DataFrame
        ``zone_id``, ``period_start``, ``period``, ``origin``, ``observed`` and optionally
        ``estimate``.
    sup : numpy.ndarray of bool
        Figures suppressed so far.
    k : float
        The threshold.
    nested, weights, linear_time
        As for :func:`disclosure_control`.
    estimates : bool, default True
        Whether the estimate column is an equation of its own (False when the totals'
        estimates are pooled: see ``rest_share``).
    shown, slack, locked, bounds
        What each figure reads where published, how far its truth may be from it to the
        attacker, which an earlier run published, and whether bounds are looked for as well
        as exact recovery (default True) (:class:`geozones.audit.AuditInput`).
    residents, origin_groups : mapping, optional
        As for :func:`disclosure_control`.

    Returns
    -------
    numpy.ndarray of bool
        The suppression after the audit.
    """
    from .audit import AuditInput, audit, level_cells, nested_codes
    from .auditinput import home_labels

    level, tcode, parent, periods, starts = _time_codes(t)
    z_code, z_ids = pd.factorize(t["zone_id"].astype(str))
    lab, labels = home_labels(*pd.factorize(t["origin"]), t["zone_id"].astype(str).to_numpy(), residents)
    all_label = int(list(labels).index(ALL)) if ALL in set(labels) and len(labels) > 1 else -1
    obs = t["observed"].to_numpy(dtype=float)
    est = t["estimate"].to_numpy(dtype=float) if "estimate" in t.columns else obs
    a = AuditInput(zone=z_code.astype(np.int64), level=level, t=tcode, lab=lab.astype(np.int64), obs=obs, est=est,
                   parent=parent, all_label=all_label, linear_time=linear_time,
                   nested=nested_codes(nested, z_ids), estimates=estimates, shown=shown, slack=slack, locked=locked, bounds=bounds)
    if origin_groups:  # (per label, its coarser origin's label)
        code = {str(name): i for i, name in enumerate(labels)}
        a.group_of = np.array([code.get(str(origin_groups.get(str(name), "")), -1) for name in labels], np.int64)
    a.cells, a.cell_groups = level_cells(weights, z_ids, level, starts, periods)
    return audit(a, sup, k)[0]


def publish(table: pd.DataFrame, *, decimals: int = 0) -> pd.DataFrame:
    """Empty the values of suppressed figures and round the others.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`disclosure_control`.
    decimals : int, default 0
        Published figures are rounded to this many decimals.

    Returns
    -------
    pandas.DataFrame
        The same rows; ``observed`` and ``estimate`` are NaN (empty in CSV) where
        ``status`` is ``"suppressed"``. The ``reason`` column is kept.
    """
    out = table.copy()
    hide = (out["status"] == SUPPRESSED).to_numpy()
    for col in ("observed", "estimate"):
        if col in out.columns:
            vals = np.round(out[col].to_numpy(dtype=float), decimals)
            vals[hide] = np.nan
            out[col] = vals
    return out


def suppress_complements(obs: np.ndarray, sup: np.ndarray, reason: np.ndarray, relations: list, k: float, n_real: int,
                         locked: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Complementary suppression over additive relations, until nothing changes (rule 2).

    Parameters
    ----------
    obs : numpy.ndarray
        Observed figure of every row (real rows first, then hidden differences).
    sup : numpy.ndarray of bool
        Rows suppressed so far (every hidden difference is).
    reason : numpy.ndarray of object
        Why each row is suppressed (``""`` where it is not).
    relations : list
        ``(rows, group, is_total, label)``: per relation, the rows it holds, the group
        (one total and its parts) of each, whether it is the group's total, and the reason
        given to a row it suppresses.
    k : float
        The threshold.
    n_real : int
        Rows below this index are figures; the others are never-published differences.
    locked : numpy.ndarray of bool, optional
        Rows an earlier run published (real rows only): never chosen.

    Returns
    -------
    tuple of numpy.ndarray
        ``sup`` and ``reason``, updated in place and returned.
    """
    fixed = np.zeros(len(obs), bool)
    if locked is not None:
        fixed[:n_real] = np.asarray(locked, bool)[:n_real]
    for _ in range(1000):
        changed = False
        for rows, gid, is_total, label in relations:
            n = int(gid.max()) + 1 if len(gid) else 0
            s = sup[rows]
            v = obs[rows]
            part_sup = s & ~is_total
            n_sup = np.bincount(gid, weights=part_sup, minlength=n)
            sum_sup = np.bincount(gid, weights=np.where(part_sup, v, 0.0), minlength=n)
            has_total = np.bincount(gid, weights=is_total, minlength=n) > 0
            total_sup = np.bincount(gid, weights=s & is_total, minlength=n) > 0
            real_sup = np.bincount(gid, weights=part_sup & (rows < n_real), minlength=n)
            # one hidden part is recoverable exactly: fine only for a never-published
            # difference that holds at least k people; several hidden parts must hold k together
            lone = (n_sup == 1) & ((real_sup == 1) | (sum_sup < k))
            need = has_total & ~total_sup & (lone | ((n_sup >= 2) & (sum_sup < k)))
            if not need.any():
                continue
            cand = np.flatnonzero(need[gid] & ~is_total & ~s & ~fixed[rows])
            chosen = np.array([], dtype=int)
            if len(cand):
                order = np.lexsort((v[cand], gid[cand]))
                cand = cand[order]
                first = np.r_[True, gid[cand][1:] != gid[cand][:-1]]
                chosen = cand[first]
            served = np.zeros(n, bool)
            served[gid[chosen]] = True
            totals = np.flatnonzero(is_total & need[gid] & ~served[gid] & ~s & ~fixed[rows])
            hit = rows[np.concatenate([chosen, totals])]
            if len(hit):
                sup[hit] = True
                reason[hit] = label
                changed = True
        if not changed:
            break
    else:  # pragma: no cover - each pass suppresses at least one figure, so this ends
        raise RuntimeError("disclosure control did not converge")
    return sup, reason
