"""A 90% interval on every published estimate: ``estimate_low`` and ``estimate_high``.

An estimate is ``observed / share``: a sample of the operator's subscribers, apportioned
to a zone, scaled to the population. Three things make it uncertain, and the interval
combines them on the log scale (half-widths add in quadrature)::

    h_apportion  the zone's apportioning error: the 90th percentile of |log(estimate/true)|
                 that the accuracy study measured for zones of its size class and fit under
                 the run's model (:data:`APPORTIONING`; docs/accuracy.md), crowd scenarios
                 included
    h_count      counting noise of a sample of ``observed`` subscribers drawn at rate
                 ``share``: 1.645 * sqrt((1 - share) / observed)
    h_share      the market share's own uncertainty: from the optional ``share_low`` and
                 ``share_high`` columns of the market-share table
    h_noise      with ``--protection perturb``, the cell key method's noise on the observed
                 count: 1.645 * sqrt(V) / observed (:mod:`geozones.cellkey`)

    estimate_low  = estimate * exp(-sqrt(h_apportion² + h_count² + h_noise² + h_low²))
    estimate_high = estimate * exp(+sqrt(h_apportion² + h_count² + h_noise² + h_high²))

with ``h_low = log(share_high / share)`` and ``h_high = log(share / share_low)``.

A total (``all``) whose origins are not all published is its published origins'
estimates plus the rest of its count over one share (``rest_share``,
:func:`geozones.extrapolate.rest_share`); the rest's people may be of any origin, so its
share bounds span the table's smallest to largest share (:func:`rest_bounds`): with the
residents hidden, a rest counted at the table's default 0.25 may be people of share 0.42.

Privacy: the interval is a function of the published estimate and observed figure and of
what is public (the zone's size, its fit from the cell plan, the market-share table); it
adds no equation about the counts. A suppressed figure has no interval.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .extrapolate import share_bands
from .origins import ALL

__all__ = ["APPORTIONING", "Z90", "USABLE_HALFWIDTH", "apportioning_halfwidth", "error_words", "interval_factors", "add_intervals",
           "at_share_bounds", "hidden_share_range", "rest_bounds", "summary_intervals"]

#: The normal quantile of a two-sided 90% interval.
Z90 = 1.645

#: Per model, the 90th percentile of |log(estimate / true)| in the accuracy studies, by
#: size class (area km²: >= 1, 0.25-1, < 0.25) for zones of fit >= 0.5 ("good") and < 0.5
#: (docs/accuracy.md). Models not listed use ``voronoi``'s.
APPORTIONING: dict[str, dict[tuple[str, str], float]] = {
    # benchmarks/calibrate.py over the crowd study (benchmarks/crowds.py: Kortrijk, Leuven,
    # Antwerpen, seeds 0-4) and the day simulations (benchmarks/accuracy.py, attachment
    # signal, seeds 0-2): per size class of good fit the larger study's percentile, a smaller
    # class never narrower; one bound for poor fit at every size (a poor class of one size
    # holds a few dozen figures, too few for a percentile of its own); rounded up
    "footprint": {(">= 1", "good"): 0.28, (">= 1", "poor"): 1.32, ("0.25-1", "good"): 0.43, ("0.25-1", "poor"): 1.32,
                  ("< 0.25", "good"): 0.52, ("< 0.25", "poor"): 1.32},
    "voronoi": {(">= 1", "good"): 0.55, (">= 1", "poor"): 1.94, ("0.25-1", "good"): 0.66, ("0.25-1", "poor"): 1.94,
                ("< 0.25", "good"): 1.16, ("< 0.25", "poor"): 1.94},
    "wedge": {(">= 1", "good"): 0.71, (">= 1", "poor"): 2.39, ("0.25-1", "good"): 0.71, ("0.25-1", "poor"): 2.39,
              ("< 0.25", "good"): 1.58, ("< 0.25", "poor"): 2.39},
}
_GOOD_FIT = 0.5
#: The widest apportioning half-width of a zone the usability rule calls usable (0.25 km²
#: or more, a fit of 0.5 or more) under the footprint model: 90% of such zones' figures were
#: within -35% / +54% in the studies. Area models measured wider for the same zones.
USABLE_HALFWIDTH = 0.43


_CLASSES = (">= 1", "0.25-1", "< 0.25")


def apportioning_halfwidth(area_km2, fit, model: str | None) -> np.ndarray:
    """Per zone, the apportioning part of the interval (a log half-width).

    Parameters
    ----------
    area_km2, fit : array-like
        Each zone's area and fit (:func:`geozones.zone_fit`; NaN: no cell reaches it).
    model : str
        The run's coverage model (a key of :data:`APPORTIONING`; others, such as ``given``
        or weights made elsewhere, use ``voronoi``'s).

    Returns
    -------
    numpy.ndarray
    """
    table = APPORTIONING.get(model or "voronoi", APPORTIONING["voronoi"])
    a = np.asarray(area_km2, dtype=float)
    size = np.where(a >= 1.0, 0, np.where(a >= 0.25, 1, 2))
    good = np.nan_to_num(np.asarray(fit, dtype=float), nan=0.0) >= _GOOD_FIT
    by = np.array([[table[(c, q)] for q in ("good", "poor")] for c in _CLASSES])  # (size class, fit class)
    return by[size, np.where(good, 0, 1)]


def error_words(error_90: float) -> str:
    """An ``error_90`` (``exp(h) - 1`` of a log half-width ``h``) in words: "-35% / +54%" or
    "a factor of 8 either way".

    Parameters
    ----------
    error_90 : float

    Returns
    -------
    str
    """
    h = float(np.log1p(error_90))
    if h <= 0.7:
        return f"-{-np.expm1(-h):.0%} / +{np.expm1(h):.0%}"
    return f"a factor of {np.exp(h):.1f} either way"


def interval_factors(observed, estimate, h_apportion, share=None, share_low=None, share_high=None,
                     noise_sd: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The interval's lower and upper bounds for arrays of figures.

    Parameters
    ----------
    observed, estimate : array-like
        Published figures (NaN where suppressed: NaN bounds).
    h_apportion : array-like
        :func:`apportioning_halfwidth` per figure.
    share, share_low, share_high : array-like, optional
        The market share per figure and its bounds; without ``share``, ``observed /
        estimate`` (1 when they are equal: counting noise as for a census).
    noise_sd : float, default 0
        The standard deviation of noise added to the observed figure (the cell key
        method's, :mod:`geozones.cellkey`): ``1.645 * noise_sd / observed`` more, in
        quadrature.

    Returns
    -------
    (low, high) : numpy.ndarray
    """
    obs = np.asarray(observed, dtype=float)
    est = np.asarray(estimate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.clip(np.where(est > 0, obs / est, 1.0), 1e-6, 1.0) if share is None else np.clip(np.asarray(share, dtype=float), 1e-6, 1.0)
        h_count = Z90 * np.sqrt(np.where(obs > 0, (1.0 - s) / np.maximum(obs, 1e-9), 0.0))
        h_noise = Z90 * noise_sd / np.maximum(obs, 1.0)
        lo_share = np.zeros_like(est) if share_high is None else np.log(np.maximum(np.asarray(share_high, dtype=float), s) / s)
        hi_share = np.zeros_like(est) if share_low is None else np.log(s / np.clip(np.asarray(share_low, dtype=float), 1e-6, s))
    base = np.asarray(h_apportion, dtype=float) ** 2 + h_count ** 2 + h_noise ** 2
    low = est * np.exp(-np.sqrt(base + np.nan_to_num(lo_share) ** 2))
    high = est * np.exp(np.sqrt(base + np.nan_to_num(hi_share) ** 2))
    return low, high


def rest_bounds(observed, estimate, origins_observed, origins_estimate, shares: pd.DataFrame | None,
                origins_at_low=None, origins_at_high=None, rest_low=None, rest_high=None) -> tuple[np.ndarray, np.ndarray]:
    """The share bounds of totals made of their published origins and a rest counted at
    ``rest_share``.

    Parameters
    ----------
    observed, estimate : array-like
        The totals (``all``), published.
    origins_observed, origins_estimate : array-like
        The sums of their published origins' figures.
    shares : pandas.DataFrame or None
        The market-share table: the rest's people may have any of its shares (its
        ``share_low`` and ``share_high`` too, where given).
    origins_at_low, origins_at_high : array-like, optional
        The sums of the published origins' estimates at their own shares' lower and upper
        bounds (:func:`at_share_bounds`); default ``origins_estimate`` (no bounds).
    rest_low, rest_high : array-like, optional
        Per total, the smallest and largest share the rest's people can have: those of its
        suppressed origins, which the table shows as suppressed (:func:`hidden_share_range`);
        NaN (or not given): the table's smallest and largest.

    Returns
    -------
    (share_low, share_high) : numpy.ndarray
        The totals' effective share (``observed / estimate``) at the two ends: ``observed
        / (origins at their low shares + rest / the table's smallest)`` and ``observed /
        (origins at their high shares + rest / the table's largest)``. A total whose
        origins are all published is as sure as they are (the table's row for ``all`` is
        not its share then: its estimate is theirs summed).
    """
    obs, est = np.asarray(observed, float), np.asarray(estimate, float)
    own = _own_share(obs, est)
    if shares is None or not len(shares):
        return own, own
    cols = [c for c in ("share", "share_low", "share_high") if c in shares.columns]
    values = shares[cols].to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return own, own
    lo_s, hi_s = float(values.min()), float(min(values.max(), 1.0))
    rest = np.maximum(obs - np.asarray(origins_observed, float), 0.0)
    base = np.asarray(origins_estimate, float)
    at_low = base if origins_at_low is None else np.asarray(origins_at_low, float)
    at_high = base if origins_at_high is None else np.asarray(origins_at_high, float)
    lo_r = np.full(len(obs), lo_s) if rest_low is None else np.where(np.isfinite(rest_low), np.clip(rest_low, lo_s, hi_s), lo_s)
    hi_r = np.full(len(obs), hi_s) if rest_high is None else np.where(np.isfinite(rest_high), np.clip(rest_high, lo_s, hi_s), hi_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(est > 0, obs / (at_low + rest / lo_r), own)
        high = np.where(est > 0, obs / (at_high + rest / hi_r), own)
    return np.minimum(low, own), np.maximum(high, own)


def hidden_share_range(origins, hidden, shares: pd.DataFrame | None, group=None) -> tuple[np.ndarray, np.ndarray]:
    """Per row (or per ``group``), the smallest and largest share of the suppressed origins
    beside it: the people a total's rest can be. Which origins are suppressed is published
    (their rows say so), and the shares are public, so the range adds nothing.

    Parameters
    ----------
    origins : array-like of str
        Each row's origin.
    hidden : array-like of bool
        Rows whose origin figure is suppressed (not the totals).
    shares : pandas.DataFrame or None
        The market-share table (its ``share_low`` and ``share_high`` too).
    group : array-like of int, optional
        Each row's (zone, period, start) code; default one group.

    Returns
    -------
    (low, high) : numpy.ndarray
        Per row, over its group; NaN where the group has no suppressed origin or one whose
        people's share the table cannot say (``resident``: their municipality's;
        ``unknown``; an origin only the default row ``*`` covers), so that the rest takes
        the whole table's range.
    """
    from .extrapolate import market_share_factors
    from .origins import RESIDENT, UNKNOWN, province_of

    o = pd.Series(np.asarray(origins, dtype=object)).astype(str)
    n = len(o)
    g = np.zeros(n, np.int64) if group is None else np.asarray(group, np.int64)
    hid = np.asarray(hidden, bool)
    if shares is None or not len(shares) or not hid.any():
        return np.full(n, np.nan), np.full(n, np.nan)
    labels = o[hid].unique()
    listed = set(shares["origin"].astype(str))
    # an origin the table lists (itself, its province or BE): its people have that share; one
    # that only the default row '*' covers may be anyone's (residents of another share)
    known = [c for c in labels if c not in (RESIDENT, UNKNOWN, ALL)
             and (c in listed or (province_of(c) is not None and (province_of(c) in listed or "BE" in listed)))]
    sh = market_share_factors(known, shares) if known else {}
    bands = share_bands(known, shares)
    low = o.map({c: bands.get(c, (v, v, v))[1] for c, v in sh.items()}).to_numpy(dtype=float)
    high = o.map({c: bands.get(c, (v, v, v))[2] for c, v in sh.items()}).to_numpy(dtype=float)
    n_g = int(g.max()) + 1 if n else 0
    unsure = np.bincount(g[hid], weights=np.isnan(low[hid]).astype(float), minlength=n_g) > 0
    lo_g = np.full(n_g, np.inf)
    hi_g = np.full(n_g, -np.inf)
    np.minimum.at(lo_g, g[hid], np.nan_to_num(low[hid], nan=np.inf))
    np.maximum.at(hi_g, g[hid], np.nan_to_num(high[hid], nan=-np.inf))
    ok = np.isfinite(lo_g) & np.isfinite(hi_g) & ~unsure
    return np.where(ok, lo_g, np.nan)[g], np.where(ok, hi_g, np.nan)[g]


def at_share_bounds(observed, estimate, share_low, share_high) -> tuple[np.ndarray, np.ndarray]:
    """Figures' estimates at their share's lower and upper bound: ``observed / share_low``
    and ``observed / share_high``, their own estimate where a bound is not known (NaN).

    Parameters
    ----------
    observed, estimate, share_low, share_high : array-like

    Returns
    -------
    (at_low, at_high) : numpy.ndarray
    """
    obs, est = np.asarray(observed, float), np.asarray(estimate, float)
    out = []
    for b in (share_low, share_high):
        b = np.full(len(obs), np.nan) if b is None else np.asarray(b, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(np.isfinite(b) & (b > 0), obs / b, est))
    return out[0], out[1]


def _own_share(obs: np.ndarray, est: np.ndarray) -> np.ndarray:
    """A figure's effective share, ``observed / estimate`` (1 where there is no estimate)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(est > 0, obs / est, 1.0)


def _with_rest(total, obs, est, sums, shares, share, lo, hi, ranges=(None, None)) -> tuple:
    """``share``, ``share_low``, ``share_high`` (None: the figures' own share) with the
    totals' rows (``total``) at their own share and the bounds of :func:`rest_bounds`
    (``sums``: its origins' observed, estimate, at_low, at_high; ``ranges``: the rest's
    share range, :func:`hidden_share_range`).
    """
    r_lo, r_hi = rest_bounds(obs, est, sums[0], sums[1], shares, sums[2], sums[3], *ranges)
    own = _own_share(obs, est)
    share, lo, hi = (own if x is None else x for x in (share, lo, hi))
    return np.where(total, own, share), np.where(total, r_lo, lo), np.where(total, r_hi, hi)


def _origin_sums(zone, period, start, total, obs, *values) -> list[np.ndarray]:
    """Per row, the sums of ``obs`` and each of ``values`` over the published origins (not
    the totals, ``total``) of its zone, period and start: what a total is made of.
    """
    key = pd.MultiIndex.from_arrays([zone, period, start]).factorize()[0] if len(zone) else np.zeros(0, np.int64)
    one = ~np.asarray(total, bool) & np.isfinite(obs)
    n = int(key.max()) + 1 if len(key) else 0
    out = [np.bincount(key, weights=np.where(one, obs, 0.0), minlength=n)[key]]
    for v in values:
        out.append(np.bincount(key, weights=np.where(one & np.isfinite(v), v, 0.0), minlength=n)[key])
    return out


def add_intervals(table, h_zone: Mapping[str, float], shares: pd.DataFrame | None = None, noise_sd: float = 0.0,
                  rest_share: float | None = None):
    """``estimate_low`` and ``estimate_high`` after ``estimate`` in a published zone table.

    Parameters
    ----------
    table : pyarrow.Table
        With ``zone_id``, ``origin``, ``observed``, ``estimate`` (null where suppressed).
    h_zone : mapping
        Zone id -> :func:`apportioning_halfwidth`.
    shares : pandas.DataFrame, optional
        The market-share table (:func:`geozones.read_market_share`); its ``share_low`` and
        ``share_high`` columns, where given, widen the interval.
    noise_sd : float, default 0
        The cell key method's noise (see :func:`interval_factors`).
    rest_share : float, optional
        When totals were made with it (their hidden origins' rest counted at this share):
        each total's share bounds also span the rest at any share of ``shares``
        (:func:`rest_bounds`).

    Returns
    -------
    pyarrow.Table
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    def per_row(name: str, lookup) -> np.ndarray:
        """``lookup`` (distinct values -> float array) per row; a dictionary column is looked
        up once per entry (national tables: millions of rows, thousands of zones).
        """
        col = table.column(name).combine_chunks()
        if pa.types.is_dictionary(col.type):
            return lookup(pd.Series(col.dictionary.to_pylist(), dtype=object))[col.indices.to_numpy(zero_copy_only=False)]
        codes, uniq = pd.factorize(pd.Series(col.to_numpy(zero_copy_only=False), dtype=object))
        return lookup(pd.Series(uniq, dtype=object))[codes]

    obs = table.column("observed").to_numpy(zero_copy_only=False).astype(float)
    est = table.column("estimate").to_numpy(zero_copy_only=False).astype(float)
    h = per_row("zone_id", lambda ids: ids.map(h_zone).to_numpy(dtype=float))
    share = lo = hi = None
    bands = {}
    if "origin" in table.column_names and shares is not None:
        values = table.column("origin").combine_chunks()
        values = values.dictionary if pa.types.is_dictionary(values.type) else pc.unique(values)
        bands = share_bands(values.to_pylist(), shares)
    if bands:
        b = pd.DataFrame.from_dict(dict(bands), orient="index", columns=["share", "low", "high"])
        share, lo, hi = (per_row("origin", lambda o, c=c: o.map(b[c]).to_numpy(dtype=float)) for c in ("share", "low", "high"))
        with np.errstate(divide="ignore", invalid="ignore"):
            own = np.where(est > 0, obs / est, np.nan)
        share = np.where(np.isnan(share), own, share)
        lo = np.where(np.isnan(lo), share, lo)
        hi = np.where(np.isnan(hi), share, hi)
        share = np.where(np.isnan(share), 1.0, share)
    if rest_share is not None and shares is not None and {"period", "period_start", "origin"} <= set(table.column_names):
        total = per_row("origin", lambda o: (o == ALL).to_numpy())
        if total.any():
            keys = [per_row(c, lambda v: np.arange(len(v))) for c in ("zone_id", "period", "period_start")]
            at_low, at_high = at_share_bounds(obs, est, lo, hi)
            group = pd.MultiIndex.from_arrays(keys).factorize()[0]
            origins = table.column("origin").cast(pa.string()).to_numpy(zero_copy_only=False)
            ranges = hidden_share_range(origins, ~total & ~np.isfinite(obs), shares, group)
            share, lo, hi = _with_rest(total, obs, est, _origin_sums(*keys, total, obs, est, at_low, at_high), shares, share, lo, hi, ranges)
    low, high = interval_factors(obs, est, np.nan_to_num(h, nan=APPORTIONING["voronoi"][("< 0.25", "poor")]), share, lo, hi, noise_sd)
    at = table.column_names.index("estimate") + 1
    table = table.add_column(at, "estimate_low", pa.array(low, pa.float64(), from_pandas=True))
    return table.add_column(at + 1, "estimate_high", pa.array(high, pa.float64(), from_pandas=True))


def summary_intervals(summary: pd.DataFrame, h_zone: Mapping[str, float], shares: pd.DataFrame | None = None,
                      noise_sd: float = 0.0, rest_share: float | None = None) -> pd.DataFrame:
    """``estimate_low`` and ``estimate_high`` of the zones' summary (``visitors``, ``observed``).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`geozones.outputs.zone_summary`'s table.
    h_zone : mapping
        Zone id -> :func:`apportioning_halfwidth`.
    shares : pandas.DataFrame, optional
        The market-share table (its bounds for the total, ``all``).
    noise_sd : float, default 0
        The cell key method's noise (see :func:`interval_factors`).
    rest_share : float, optional
        As for :func:`add_intervals`, with the published origins' sums of
        :func:`geozones.outputs.zone_summary` (``_origins_observed``, ``_origins_estimate``).

    Returns
    -------
    pandas.DataFrame
        The same with the two columns after ``visitors`` (and without the origins' sums).
    """
    bands = share_bands(["all"], shares).get("all")
    h = summary["zone_id"].map(h_zone).to_numpy(dtype=float)
    n = len(summary)
    share = lo = hi = None
    if bands is not None:
        share, lo, hi = (np.full(n, v) for v in bands)
    obs, est = summary["observed"].to_numpy(dtype=float), summary["visitors"].to_numpy(dtype=float)
    if rest_share is not None and shares is not None and "_origins_observed" in summary.columns:
        sums = [summary[f"_origins_{c}"].to_numpy(dtype=float) if f"_origins_{c}" in summary.columns else summary["_origins_estimate"].to_numpy(dtype=float)
                for c in ("observed", "estimate", "at_low", "at_high")]
        ranges = tuple(summary[c].to_numpy(dtype=float) if c in summary.columns else None for c in ("_origins_rest_low", "_origins_rest_high"))
        share, lo, hi = _with_rest(True, obs, est, sums, shares, share, lo, hi, ranges)
    low, high = interval_factors(obs, est, np.nan_to_num(h, nan=1.0), share, lo, hi, noise_sd)
    out = summary.drop(columns=[c for c in summary.columns if str(c).startswith("_origins_")])
    at = list(out.columns).index("visitors") + 1
    out.insert(at, "estimate_low", np.round(low))
    out.insert(at + 1, "estimate_high", np.round(high))
    return out
