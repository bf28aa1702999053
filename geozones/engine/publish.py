"""Publishing zone figures held as dense arrays: origin levels, totals, longer periods,
disclosure control and the output table, on integer codes and NumPy arrays.

The stream and dask engines hold a run's zone figures as arrays of shape (periods,
origins, zones) (:func:`geozones.zone_sums`). :func:`publish_cube` takes them to the
published table without a DataFrame per figure: the same figures, the same rows in the
same order and the same suppressions as the pandas path of the memory engine
(:func:`geozones.rollup_origins`, :func:`geozones.add_totals`, :func:`geozones.rollup_time`,
:func:`geozones.disclosure_control`), which ``tests/test_stream.py`` checks file for file.
Sums are compensated (Kahan) in the order pandas adds the rows, so that the figures are
the same to the last bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..counts import period_floor
from ..origins import ALL, RESIDENT, homes_kept, rollup_codes
from ..privacy import (
    AUDITED,
    BELOW_K,
    COMP_NESTED,
    COMP_ORIGINS,
    COMP_TIME,
    PUBLISHED,
    SUPPRESSED,
    nested_relation,
    noisy_figures,
    period_rank,
    pooled_totals,
    rounded_figures,
    suppress_complements,
)

__all__ = ["Published", "publish_cube"]

#: Why a figure is suppressed, as codes (the arrays hold int8).
_REASONS = ["", BELOW_K, COMP_ORIGINS, COMP_TIME, COMP_NESTED, "difference", AUDITED]
_CODE = {r: i for i, r in enumerate(_REASONS)}

#: Memory a figure takes at the peak of :func:`publish_cube` (its rows' codes, values,
#: relations and the output table; measured: about 210 bytes on the 3.35 M figures of
#: benchmarks/bench_job.py, 550 MB before publishing and 1.26 GB at the peak).
BYTES_PER_FIGURE = 300


@dataclass
class Published:
    """What :func:`publish_cube` made.

    Attributes
    ----------
    table : pyarrow.Table
        The published zone table (:func:`geozones.outputs.output_table`'s columns and order).
    last : pandas.DataFrame
        The published rows of the longest period (for :func:`geozones.outputs.zone_summary`).
    stats : dict
        ``figures``, ``published``, ``suppressed``.
    by_reason : dict
        Suppressed figures per reason.
    late : pandas.DataFrame or None
        With soft locks (:class:`geozones.earlier.Locks`): the locked figures this audit hid
        (``zone_id``, ``period``, ``period_start`` in ns, ``origin``), for their own part's
        rows to be hidden too.
    """

    table: object
    last: pd.DataFrame
    stats: dict
    by_reason: dict
    late: pd.DataFrame | None = None


def _labels(origins: np.ndarray, zone_ids: np.ndarray, level: str, residents: Mapping[str, str] | None):
    """The origins' labels at ``level``: (labels in string order, label index per origin,
    the residents' label index, per zone the origin that is its residents' (-1: none)).
    """
    base = rollup_codes(pd.Series(origins, dtype=object), level, keep=homes_kept(residents, level)).to_numpy(dtype=object)
    own = np.full(len(zone_ids), -1, dtype=np.int64)
    if residents:
        at = {str(o): i for i, o in enumerate(origins)}
        own = np.array([at.get(str(residents[z]), -1) if residents.get(z) is not None else -1 for z in zone_ids], dtype=np.int64)
    res_name = rollup_codes(pd.Series([RESIDENT], dtype=object), level).iloc[0]
    names = set(base.tolist()) | ({res_name} if (own >= 0).any() else set())
    labels = np.array(sorted(names), dtype=object)
    return labels, np.searchsorted(labels, base), int(np.searchsorted(labels, res_name)), own


def _to_labels(cube: np.ndarray, label_of: np.ndarray, res: int, own: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """(periods, zones, labels) sums of a (periods, origins, zones) cube, in origin order,
    and which labels each zone has (the rows of the pandas path: those an origin maps to).
    A zone's own municipality goes to the residents' label ``res``.
    """
    n_t, n_o, n_z = cube.shape
    out = np.zeros((n_t, n_z, n_labels))
    has = np.zeros((n_z, n_labels), dtype=bool)
    for lab in range(n_labels):
        terms, masks = [], []
        for o in range(n_o):
            m = ((label_of[o] == lab) & (own != o)) | ((res == lab) & (own == o))
            if m.any():
                terms.append(cube[:, o, :])
                masks.append(m)
        if terms:
            out[:, :, lab] = _kahan_masked(terms, masks)
            has[:, lab] = np.any(masks, axis=0)
    return out, has


def _kahan_masked(terms: list, masks: list) -> np.ndarray:
    """Compensated sum of ``terms`` in order, each taking part only where its mask holds
    (a row of the pandas path exists there).
    """
    total = np.zeros(terms[0].shape)
    comp = np.zeros(terms[0].shape)
    started = np.zeros(terms[0].shape[-1], dtype=bool)
    for x, m in zip(terms, masks):
        first = m & ~started
        y = x - comp
        t = total + y
        new_comp = t - total - y
        total = np.where(m, np.where(first, x, t), total)
        comp = np.where(m, np.where(first, 0.0, new_comp), comp)
        started |= m
    return total


def _rollup_time(values: np.ndarray, starts_ns: np.ndarray, period: str, kind: str, stat: str) -> tuple[np.ndarray, np.ndarray]:
    """(longer periods, zones, labels) figures of (periods, zones, labels) ones, and the
    longer periods' starts, by the rule of the kind of count (as :func:`geozones.rollup_time`).
    """
    floor = pd.DatetimeIndex(period_floor(pd.Series(pd.to_datetime(starts_ns, utc=True)), period)).as_unit("ns").asi8
    buckets, inverse = np.unique(floor, return_inverse=True)
    out = np.empty((len(buckets),) + values.shape[1:])
    for b in range(len(buckets)):
        inside = values[inverse.reshape(-1) == b]
        if kind == "events":
            out[b] = _kahan_masked(list(inside), [True] * len(inside))
        elif stat == "mean":
            out[b] = _kahan_masked(list(inside), [True] * len(inside)) / len(inside)
        else:
            out[b] = inside.max(axis=0)
    return out, buckets


def publish_cube(
    observed: np.ndarray,
    estimate: np.ndarray,
    starts: np.ndarray,
    origins: np.ndarray,
    zone_ids: Sequence[str],
    *,
    period: str,
    periods: Sequence[str],
    kind: str,
    stat: str,
    origin_level: str,
    residents: Mapping[str, str] | None,
    k: float,
    nested: list | None,
    names: Mapping[str, str],
    zone_order: Mapping[str, int],
    fit: pd.DataFrame,
    weights=None,
    rest_share: float | None = None,
    perturbation=None,
    locks=None,
    level_cubes: list | None = None,
) -> Published:
    """Publish the zone figures of dense arrays, as the pandas path does for a zone table.

    Parameters
    ----------
    observed, estimate : numpy.ndarray
        Figures of shape (periods, origins, zones), ``outside`` left out (from
        :func:`geozones.zone_sums`).
    starts : numpy.ndarray
        The periods' starts, UTC nanoseconds, ascending.
    origins : numpy.ndarray
        The origins' codes, ascending.
    zone_ids : sequence of str
        The zones, in the arrays' order.
    period : str
        The arrays' period: ``periods[0]``, or the counts' own when a longer period is
        their maximum (``stat="max"``).
    periods : sequence of str
        The published periods, shortest first.
    kind, stat : str
        The kind of count and, for presence, the statistic of a longer period.
    origin_level : str
        The level origins are rolled up to.
    residents : mapping, optional
        Zone id to its municipality's NIS code: people from it are ``resident``.
    k : float
        The disclosure threshold.
    nested : list, optional
        Nested zones (see :func:`geozones.disclosure_control`).
    names, zone_order : mapping
        Zone names, and the zones' order in the zone files.
    fit : pandas.DataFrame
        ``n_cells`` and ``fit`` per zone id.
    weights : geozones.Weights, or dict, optional
        The weights the figures come from, for the audit across zones; with a density per
        period (:mod:`geozones.density`), a dict of each published period length to its
        :class:`~geozones.density.PeriodWeights`.
    rest_share : float, optional
        The share for a total's hidden origins (see :func:`geozones.disclosure_control`).
    perturbation : geozones.cellkey.Perturbation, optional
        The cell key method's noise on the published figures (see
        :func:`geozones.disclosure_control`).
    locks : geozones.earlier.Locks, optional
        Earlier runs over the same counts: their published figures stay published and
        are never chosen to close an exposure, and the zones in ``locks.drop`` (theirs
        alone) are audited but left out of what this returns.
    level_cubes : list, optional
        Per published period, ``(observed, estimate)`` arrays like ``observed`` and
        ``estimate`` (the counts' periods) that this period's figures are rolled up from
        (each made with its periods' own density, :mod:`geozones.density`); None for a
        period rolled up from the one before (and for the first, always).

    Returns
    -------
    Published
        The table, the longest period's published rows, and the tally.
    """
    import pyarrow as pa

    from ..outputs import iso_times

    zone_ids = np.asarray(zone_ids, dtype=object).astype(str)
    zorder = np.argsort(zone_ids, kind="stable")  # rows by zone id, as the pandas path sorts them
    zsorted = zone_ids[zorder]
    labels0, label_of, res, own = _labels(np.asarray(origins, dtype=object), zsorted, origin_level, residents)
    totals = not set(labels0.tolist()) <= {ALL}
    labels = np.sort(np.append(labels0, ALL), kind="stable") if totals else labels0
    order = np.argsort(np.append(labels0, ALL), kind="stable") if totals else None

    def labelled(observed, estimate):
        obs_c, est_c = observed[:, :, zorder], estimate[:, :, zorder]
        (obs_l, has), (est_l, _) = [_to_labels(c, label_of, res, own, len(labels0)) for c in (obs_c, est_c)]
        if totals:  # 'all': the sum over the zone's labels, in their order
            obs_all = _kahan_masked([obs_l[:, :, j] for j in range(len(labels0))], [has[:, j] for j in range(len(labels0))])
            est_all = _kahan_masked([est_l[:, :, j] for j in range(len(labels0))], [has[:, j] for j in range(len(labels0))])
            obs_l = np.concatenate([obs_l, obs_all[:, :, None]], axis=2)[:, :, order]
            est_l = np.concatenate([est_l, est_all[:, :, None]], axis=2)[:, :, order]
            has = np.concatenate([has, np.ones((len(zsorted), 1), bool)], axis=1)[:, order]
        return obs_l, est_l, has

    obs_l, est_l, has = labelled(observed, estimate)
    all_code = int(np.flatnonzero(labels == ALL)[0]) if ALL in set(labels.tolist()) else -1

    # the levels: (zones, periods, labels) in row order, rows only where the zone has the label
    # each published period from the one before, the first from the arrays' own (which
    # are the counts' periods where the roll-up is a maximum), as rollup_time chains them;
    # a level with arrays of its own (its periods' density, --density period) from those
    levels = []
    for li, p in enumerate(periods):
        own_cube = level_cubes[li] if level_cubes is not None and li < len(level_cubes) else None
        if li == 0 or own_cube is not None:
            current = (period, np.asarray(starts, dtype=np.int64), obs_l, est_l) if own_cube is None else \
                (period, np.asarray(starts, dtype=np.int64), *labelled(*own_cube)[:2])
            for q in periods[:li + 1]:
                if q != current[0]:
                    o2, b = _rollup_time(current[2], current[1], q, kind, stat)
                    e2, _ = _rollup_time(current[3], current[1], q, kind, stat)
                    current = (q, b, o2, e2)
        else:
            o2, b = _rollup_time(current[2], current[1], p, kind, stat)
            e2, _ = _rollup_time(current[3], current[1], p, kind, stat)
            current = (p, b, o2, e2)
        levels.append(current)
    rows = []
    offset = t_offset = 0
    n_z, n_l = len(zsorted), len(labels)
    full = bool(has.all())
    for li, (p, t_ns, o, e) in enumerate(levels):
        n_t = len(t_ns)
        size = n_z * n_t * n_l
        # rows in (zone, period, label) order: a flat index into that grid, then its parts
        flat = np.arange(size, dtype=np.int64) if full else np.flatnonzero(np.broadcast_to(has[:, None, :], (n_z, n_t, n_l)))
        rows.append({"level": np.full(len(flat), li, np.int32), "z": (flat // (n_t * n_l)).astype(np.int32),
                     "t": (flat // n_l % n_t).astype(np.int32), "lab": (flat % n_l).astype(np.int32),
                     "obs": o.transpose(1, 0, 2).reshape(-1)[flat], "est": e.transpose(1, 0, 2).reshape(-1)[flat],
                     "offset": offset, "n_t": n_t, "t_ns": t_ns, "t_offset": t_offset})
        offset += len(flat)
        t_offset += n_t
    n_real = offset
    cat = {key: np.concatenate([r.pop(key) for r in rows]) for key in ("level", "z", "t", "lab", "obs", "est")}
    u_t = np.concatenate([r["t_ns"] for r in rows])  # (the periods' starts, level after level)
    cat["t_code"] = cat["t"] + np.array([r["t_offset"] for r in rows], dtype=np.int32)[cat["level"]]
    t_all = u_t[cat["t_code"]]  # (each figure's period start: for the locks, the relations, the noise and the audit)
    obs = cat["obs"]
    fixed = soft = None
    level_names = np.array([lv[0] for lv in levels], dtype=object)
    if locks is not None and n_real:
        fixed = locks.of(zsorted[cat["z"]], level_names[cat["level"]], t_all, labels[cat["lab"]], obs)
        if locks.soft:  # (an earlier part's figures: published for the attacker, and still ours to hide)
            soft, fixed = fixed, None
    sup = obs < k
    if locks is not None and locks.hidden and n_real:  # (a later part's zones: not published yet, so hidden here)
        sup |= np.isin(zsorted[cat["z"]], sorted(locks.hidden))
    if locks is not None and locks.drop and n_real and not locks.soft:  # (an earlier run's own zones: what it did not publish is
        sup |= np.isin(zsorted[cat["z"]], sorted(locks.drop)) & ~fixed  # hidden, whatever this run would; a day it did not count too)
    reason = np.where(sup, _CODE[BELOW_K], 0).astype(np.int8)

    relations = []
    origin_gid = None
    linear_time = not (kind == "presence" and stat == "max")  # (a maximum is no sum: geozones.maxima audits it)
    if totals:  # origins against 'all', per zone and period of every level
        # rows of a zone and period lie together: a group a run of rows
        key = (cat["level"].astype(np.int64) * len(zsorted) + cat["z"]) * (max(r["n_t"] for r in rows) or 1) + cat["t"]
        origin_gid = np.concatenate([[0], np.cumsum(key[1:] != key[:-1])]) if n_real else np.empty(0, np.int64)
        every = np.arange(n_real) if linear_time else np.flatnonzero(cat["level"] == 0)  # (maxima: geozones.maxima)
        relations.append((every, origin_gid[every], (cat["lab"] == all_code)[every], _CODE[COMP_ORIGINS]))
    def len_of(i: int) -> int:
        return (rows[i + 1]["offset"] if i + 1 < len(rows) else n_real) - rows[i]["offset"]

    for ci, child in enumerate(levels if linear_time else []):
        for pi, parent in enumerate(levels):
            if not period_rank(child[0]) < period_rank(parent[0]):
                continue
            c, par = rows[ci], rows[pi]
            floor = pd.DatetimeIndex(period_floor(pd.Series(pd.to_datetime(child[1], utc=True)), parent[0])).as_unit("ns").asi8
            bucket_of_child = np.searchsorted(par["t_ns"], floor)
            cs, ps = slice(c["offset"], c["offset"] + len_of(ci)), slice(par["offset"], par["offset"] + len_of(pi))
            cz, cl, cb = cat["z"][cs].astype(np.int64), cat["lab"][cs], bucket_of_child[cat["t"][cs]]
            pz, pl, pb = cat["z"][ps].astype(np.int64), cat["lab"][ps], cat["t"][ps]
            # a group per zone, label and longer period (ids need not be consecutive)
            gid = np.concatenate([(cz * len(labels) + cl) * len(par["t_ns"]) + cb, (pz * len(labels) + pl) * len(par["t_ns"]) + pb])
            r = np.concatenate([c["offset"] + np.arange(len(cz)), par["offset"] + np.arange(len(pz))])
            del cz, cl, cb
            relations.append((r, gid, np.concatenate([np.zeros(len(gid) - len(pz), bool), np.ones(len(pz), bool)]), _CODE[COMP_TIME]))
    if nested:
        frame = pd.DataFrame({
            "zone_id": zsorted[cat["z"]],
            "period_start": t_all,
            "period": level_names[cat["level"]],
            "origin": labels[cat["lab"]],
            "observed": obs,
        })
        # (maxima: the shortest period only, as for origins)
        rel, diffs = nested_relation(frame, nested, n_real, only=None if linear_time else np.flatnonzero(cat["level"] == 0))
        if rel is not None:
            relations.append((*rel[:3], _CODE[rel[3]]))
            obs = np.concatenate([obs, diffs])
            sup = np.concatenate([sup, np.ones(len(diffs), bool)])
            reason = np.concatenate([reason, np.full(len(diffs), _CODE["difference"], dtype=np.int8)])
    sup, reason = suppress_complements(obs, sup, reason, relations, k, n_real, locked=fixed)
    sup, reason = sup[:n_real], reason[:n_real]
    shown = None
    if perturbation is not None and n_real:  # what every figure would read: the audit's bounds give the attacker the noise's room
        shown = perturbation.perturb(cat["obs"], np.ones(n_real, bool), zones=(cat["z"], zsorted), periods=(cat["level"], [lv[0] for lv in levels]),
                                     starts_ns=t_all, origins=(cat["lab"], labels))
    from ..audit import parents

    held_by = parents([lv[1] for lv in levels], [lv[0] for lv in levels]) if n_real else []  # (each shortest period's longer ones)
    if n_real:  # the attacker's audit over everything about to be published
        from ..audit import AuditInput, audit, level_cells, nested_codes
        from ..auditinput import home_labels

        cells, groups = level_cells(weights, zsorted, cat["level"], t_all, periods)
        lab, lab_names = home_labels(cat["lab"], labels, zsorted[cat["z"]], residents)
        a = AuditInput(zone=cat["z"].astype(np.int64), level=cat["level"].astype(np.int64), t=cat["t"].astype(np.int64),
                       lab=lab, obs=cat["obs"], est=cat["est"],
                       parent=held_by, all_label=lab_names.index(ALL) if totals else -1,
                       linear_time=linear_time, cells=cells, cell_groups=groups,
                       nested=nested_codes(nested, zsorted), estimates=rest_share is None, shown=shown,
                       slack=0.5 if shown is None else perturbation.max_noise + 0.5, locked=fixed)
        found = audit(a, sup, k)[0]
        reason[found & ~sup] = _CODE[AUDITED]
        sup = found
    late = None
    if soft is not None:
        on = soft & sup
        late = pd.DataFrame({"zone_id": zsorted[cat["z"][on]].astype(str), "period": level_names[cat["level"][on]],
                             "period_start": t_all[on], "origin": labels[cat["lab"][on]].astype(str)})
    del t_all
    if shown is not None:  # the cell key method, on what is published
        cat["obs"], cat["est"] = noisy_figures(cat["obs"], cat["est"], shown, sup)
        del shown
    r_obs, cat["est"] = rounded_figures(cat["obs"], cat["est"])  # (estimates from the counts as published)
    if rest_share is not None and origin_gid is not None and n_real:  # a total's hidden origins at one share: no equation
        cat["est"] = pooled_totals(origin_gid, cat["lab"] == all_code, r_obs, cat["est"], sup, rest_share)
    if not linear_time and n_real:  # (a maximum's estimate: its peak figure's)
        from ..maxima import peak_estimates

        cat["est"] = peak_estimates(cat["z"], cat["level"], cat["t"], cat["lab"], held_by, r_obs, cat["est"], sup)
    del r_obs

    if locks is not None and locks.drop and n_real:  # (the earlier runs' own zones: audited, not published again)
        keep = ~np.isin(zsorted[cat["z"]], sorted(locks.drop))
        cat = {key: v[keep] for key, v in cat.items()}
        sup, reason, n_real = sup[keep], reason[keep], int(keep.sum())
    stats = {"figures": int(n_real), "published": int(n_real - sup.sum()), "suppressed": int(sup.sum())}
    n_by = np.bincount(reason[sup], minlength=len(_REASONS))
    by_reason = {_REASONS[c]: int(n_by[c]) for c in np.flatnonzero(n_by)}

    # publish: rounded, empty where suppressed; rows in the output table's order
    pub_obs = np.where(sup, np.nan, np.round(cat["obs"]))
    pub_est = np.where(sup, np.nan, np.round(cat["est"]))
    ids = np.asarray(list(zone_order), dtype=object).astype(str)
    rank = pd.Index(ids).get_indexer(zsorted)
    t_code = cat["t_code"]
    lab_rank = np.lexsort((labels.astype(str), labels != ALL))
    lab_pos = np.empty(len(labels), np.int64)
    lab_pos[lab_rank] = np.arange(len(labels))
    # by zone (files' order), period length (levels are shortest first), start, 'all' first, origin
    key = ((rank[cat["z"]].astype(np.int64) * len(levels) + cat["level"]) * (max(r["n_t"] for r in rows) or 1) + cat["t"]) * n_l + lab_pos[cat["lab"]]
    order = np.argsort(key, kind="stable")
    del key
    zr = rank[cat["z"]][order]
    at = fit.index.get_indexer(ids)

    def text(codes, values):
        return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes), pa.int32()), pa.array(list(values), pa.string()))

    name_of = [None if (n := names.get(i)) is None else str(n) for i in ids]
    table = pa.table({
        "zone_id": text(zr, ids),
        "zone_name": text(zr, name_of),
        "period_start": text(t_code[order], iso_times(pd.to_datetime(u_t, utc=True))),
        "period": text(cat["level"][order], [lv[0] for lv in levels]),
        "origin": text(cat["lab"][order], labels.astype(str)),
        "observed": pa.array(pub_obs[order], pa.float64(), from_pandas=True),
        "estimate": pa.array(pub_est[order], pa.float64(), from_pandas=True),
        "status": text(sup[order].astype(np.int64), [PUBLISHED, SUPPRESSED]),
        "n_cells": pa.array(fit["n_cells"].to_numpy(dtype="int64")[at][zr]),
        "fit": pa.array(fit["fit"].to_numpy(dtype=float)[at][zr], pa.float64(), from_pandas=True),
    })
    last = cat["level"] == len(levels) - 1
    summary_rows = pd.DataFrame({
        "zone_id": zsorted[cat["z"][last]],
        "period_start": pd.to_datetime(u_t[t_code[last]], utc=True),
        "period": levels[-1][0],
        "origin": labels[cat["lab"][last]],
        "observed": pub_obs[last],
        "estimate": pub_est[last],
        "status": np.where(sup[last], SUPPRESSED, PUBLISHED),
    })
    return Published(table=table, last=summary_rows, stats=stats, by_reason=by_reason, late=late)
