"""Published maxima (``--stat max``) against the attacker (part of :mod:`geozones.audit`).

A day's published maximum of a zone and origin says two things about its hours: one of them
held that many, and every one held at most that many. The audit reads it so:

1. **Its peak is shown.** A maximum is published only when one of its shortest periods'
   figures (same zone and origin) is published with the same value: the maximum is then a
   figure the attacker has already, and the first statement adds nothing. A maximum
   reached only at hidden hours would tell a hidden hour's figure: it is suppressed.
2. **Its ceiling bounds nothing under k.** The second statement is an upper bound on every
   hidden hour of the maximum. With the hour's ``all`` or a zone around it bounded from
   above, the other origins or zones there may be bounded under ``k``. Per shortest
   period, the attacker's programme across origins and cells
   (:mod:`geozones.crossorigin`) holds every published figure of the period and the
   ceilings of the maxima over it; a hidden figure above none and under ``k`` that cannot
   reach ``k`` there has the ceiling it leans on most suppressed (its maximum), until
   every such figure can. Only maxima are suppressed here: the period's own figures were
   audited before, and hiding a maximum only loosens what the attacker has.

Before stop 41 a maximum was published only when every one of its periods was, which
suppressed nearly every daily and quarterly maximum of an hourly run (night hours are
small). docs/privacy.md states the attacker model; ``tests/test_maxima.py`` checks it with
an attacker written apart from this module (each choice of the hour at which each maximum
is reached).
"""

from __future__ import annotations

import logging
import sys

import numpy as np

from .auditinput import hidden_targets

__all__ = ["maxima_to_hide", "peak_estimates"]


def _pairs(a) -> tuple[np.ndarray, np.ndarray]:
    """Every (shortest-period figure, maximum over it) pair: same zone and origin, the
    maximum's period holding the figure's.
    """
    short = np.flatnonzero(a.level == 0)
    n_lab = int(a.lab.max()) + 1
    n_t = int(a.t.max()) + 1
    s_out, m_out = [], []
    for lv in range(1, int(a.level.max()) + 1):
        at = np.flatnonzero(a.level == lv)
        up = a.parent[lv] if len(a.parent) > lv else np.zeros(0, np.int64)
        if not len(at) or not len(up):
            continue
        key_m = (a.zone[at].astype(np.int64) * n_lab + a.lab[at]) * n_t + a.t[at]
        order = np.argsort(key_m, kind="stable")
        key_m = key_m[order]
        par = up[a.t[short]]
        s = short[par >= 0]
        key_s = (a.zone[s].astype(np.int64) * n_lab + a.lab[s]) * n_t + par[par >= 0]
        pos = np.minimum(np.searchsorted(key_m, key_s), len(key_m) - 1)
        hit = key_m[pos] == key_s
        s_out.append(s[hit])
        m_out.append(at[order[pos[hit]]])
    if not s_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(s_out), np.concatenate(m_out)


def peak_estimates(zone, level, t, lab, parent, obs, est, sup) -> np.ndarray:
    """Estimates where each published maximum takes its peak figure's.

    A maximum is published only where a figure of its periods shows its value (its peak,
    :func:`maxima_to_hide`): its estimate is that figure's, which is published too, so it
    adds nothing and holds the peak's own mix of origins (a total's estimate made from its
    origins' maxima would add peaks of different days).

    Parameters
    ----------
    zone, level, t, lab : numpy.ndarray of int
        Per figure, as in :class:`geozones.audit.AuditInput`.
    parent : list of numpy.ndarray
        Per period length, the index of the period holding each shortest period.
    obs, est : numpy.ndarray of float
        The figures as published (rounded) and their estimates.
    sup : numpy.ndarray of bool
        Suppressed figures.

    Returns
    -------
    numpy.ndarray
        ``est`` with each published maximum's estimate replaced by its earliest peak's.
    """
    from types import SimpleNamespace

    out = np.asarray(est, dtype=float).copy()
    if not len(zone) or int(np.max(level)) < 1:
        return out
    s, m = _pairs(SimpleNamespace(zone=np.asarray(zone), level=np.asarray(level), t=np.asarray(t), lab=np.asarray(lab), parent=parent))
    ok = ~sup[s] & ~sup[m] & (obs[s] == obs[m])
    s, m = s[ok], m[ok]
    order = np.lexsort((np.asarray(t)[s], m))  # (per maximum, its earliest peak: the same on every engine)
    s, m = s[order], m[order]
    first = np.r_[True, m[1:] != m[:-1]] if len(m) else np.zeros(0, bool)
    out[m[first]] = out[s[first]]
    return out


def maxima_to_hide(a, sup: np.ndarray, k: float, *, max_entries: int = 200_000, workers: int = 2) -> tuple[np.ndarray, dict]:
    """Published maxima that tell more than their shortest periods' published figures.

    Parameters
    ----------
    a : geozones.audit.AuditInput
        The figures (``linear_time`` False: the longer periods' figures are maxima).
    sup : numpy.ndarray of bool
        Suppressed after every other check of the audit.
    k : float
        The threshold.
    max_entries : int, default 200,000
        Shortest periods whose programme would hold more weights have every maximum over
        a hidden figure of theirs suppressed (the rule before stop 41), and are counted.
    workers : int, default 2
        Processes sharing the periods' programmes.

    Returns
    -------
    tuple
        The maxima to suppress (a mask) and how many per reason: ``"maximum at a hidden
        period"``, ``"bounded by a maximum"``, ``"maxima of a period too large to check"``.
    """
    out = np.zeros(len(a.zone), bool)
    kinds: dict[str, int] = {}
    if a.linear_time or not len(a.zone) or int(a.level.max()) < 1:
        return out, kinds
    locked = a.is_locked(np.arange(len(a.zone)))
    s, m = _pairs(a)
    # 1. a maximum whose value no published figure of its periods shows
    same = np.abs(a.obs[s] - a.obs[m]) <= 1e-9 * np.maximum(1.0, np.abs(a.obs[m]))
    peak_shown = np.zeros(len(a.zone), bool)
    peak_shown[m[same & ~sup[s]]] = True
    is_max = a.level > 0
    hidden_peak = is_max & ~sup & ~locked & ~peak_shown
    out |= hidden_peak
    if hidden_peak.any():
        kinds["maximum at a hidden period"] = int(hidden_peak.sum())
    # 2. ceilings: published maxima over hidden figures, per shortest period with a target
    pub_m = ~(sup | out)
    ceil = sup[s] & pub_m[m]
    _ceilings(a, sup, k, s[ceil], m[ceil], locked, out, kinds, max_entries, workers)
    return out, kinds


def _ceilings(a, sup, k, s, m, locked, out, kinds, max_entries, workers) -> None:
    """Rule 2 (module docstring): the maxima ``m`` ceil the hidden figures ``s``; sets
    ``out`` for those to suppress and counts them in ``kinds``.
    """
    small = hidden_targets(a.obs, sup, k) & (a.level == 0)
    if not len(s) or not small.any():
        return
    if a.cells is None:  # (no weights: nothing to programme; the rule before stop 41)
        out[m] = True
        kinds["maxima of a period too large to check"] = int(len(np.unique(m)))
        return
    group, ws = a.weight_groups()
    nnz = [np.diff(w.indptr) for w in ws]
    t_short = a.t[s]
    has_target = np.zeros(int(a.t.max()) + 1, bool)
    has_target[a.t[small]] = True
    periods = np.unique(t_short[has_target[t_short]])
    short = np.flatnonzero(a.level == 0)
    by_t = short[np.argsort(a.t[short], kind="stable")]
    start = np.searchsorted(a.t[by_t], np.arange(int(a.t.max()) + 2))
    order = np.argsort(t_short, kind="stable")
    c_start = np.searchsorted(t_short[order], np.arange(int(a.t.max()) + 2))
    rest = int(a.all_label) if int(a.all_label) >= 0 else int(a.lab.max()) + 1  # (no 'all': a label no figure has)
    items, ceilings, too_large = [], [], 0
    for t in periods:
        own = by_t[start[t]:start[t + 1]]
        cm = np.unique(m[order[c_start[t]:c_start[t + 1]]])  # (a maximum ceils one figure of the period: its zone and origin)
        g = int(group[own[0]])
        size = nnz[g][a.zone[own[~sup[own]]]].sum() + nnz[g][a.zone[cm]].sum()
        if size > max_entries:
            out[cm] = True
            too_large += 1
            continue
        f = np.r_[own, cm]
        items.append((a.zone[f], a.lab[f], a.obs[f], np.r_[sup[own], np.zeros(len(cm), bool)], k, None, float(a.slack),
                      np.r_[np.ones(len(own), bool), locked[cm]], g, np.r_[np.zeros(len(own), bool), np.ones(len(cm), bool)]))
        ceilings.append(f)
    if too_large:
        kinds["maxima of a period too large to check"] = too_large
        logging.getLogger("geozones").warning(
            "the audit of maxima was not run for %d periods whose figures hold more weights than it takes: every maximum over a "
            "hidden figure of theirs is suppressed (docs/privacy.md)", too_large)
    from tqdm import tqdm

    from .crossorigin import map_periods, period_culprits

    found = 0
    with tqdm(total=len(items), unit=" periods", desc="audit of maxima", disable=not sys.stderr.isatty(), file=sys.stderr,
              leave=False) as bar:
        for f, (local, _left) in zip(ceilings, map_periods(period_culprits, items, workers, (ws, rest)), strict=True):
            bar.update()
            for i in f[np.asarray(local, np.int64)]:
                if not out[i]:
                    out[i] = True
                    found += 1
    if found:
        kinds["bounded by a maximum"] = found
