"""Extrapolation: from the operator's own subscribers to the whole population.

The operator sees only its subscribers. Each observed figure is divided by the
operator's share of the people of that origin::

    estimate = observed / share(origin)

A market-share table (CSV with columns ``origin`` and ``share``) gives the share per
Belgian province or municipality and, for roaming phones, per country. An origin is
looked up as itself, then its province, then ``BE`` for any Belgian origin, then the
default row ``*``. Every factor used is reported with the figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import read_csv_text
from .errors import MarketShareError
from .origins import ALL, RESIDENT, normalize_origins, origin_names, province_of

__all__ = ["read_market_share", "market_share_factors", "label_shares", "unused_rows", "share_bands", "extrapolate", "rest_share", "DEFAULT", "DEFAULT_SHARE"]

#: The origin of the default row of a market-share table.
DEFAULT = "*"
#: The operator's market share assumed where a figure needs one and none is given (about
#: 40% in Belgium): the authoring checks' smallest publishable population.
DEFAULT_SHARE = 0.4


#: The smallest market share a table may give: below it, one subscriber would stand for
#: more than 10,000 people (a slip of units: 1e-9 made a probe's figure 218 billion).
MIN_SHARE = 1e-4


def read_market_share(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a market-share table: ``origin`` (code or ``*``), ``share`` in (0, 1] and
    optionally its bounds ``share_low`` and ``share_high`` (for the estimates' intervals).

    Shares written as percentages (``40`` or ``40%``) are refused rather than guessed.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV (delimiter ``,`` ``;`` tab or ``|``) with the columns ``origin`` (a NIS, MCC
        or ISO code, or ``*`` for the default row, each once) and ``share`` (a fraction;
        ``0.4`` or ``0,4``).

    Returns
    -------
    pandas.DataFrame
        ``origin`` (normalised code, or ``*``) and ``share`` (float); ``share_low`` and
        ``share_high`` (NaN where empty) when the table has them.
    """
    path = Path(path)
    df = read_csv_text(path, error=MarketShareError, what="market-share table")
    if not {"origin", "share"} <= set(df.columns):
        raise MarketShareError(
            f"has no origin and share columns (columns: {', '.join(df.columns)})", path=path, hint="give a CSV with columns origin, share"
        )
    share = pd.to_numeric(df["share"].str.strip().str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(share) | (share <= 0) | (share > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MarketShareError(
            f"share {df['share'].iloc[i]!r} for origin {df['origin'].iloc[i]!r} is not a fraction in (0, 1]",
            path=path,
            where=f"line {i + 2}",
            hint="write 40% as 0.40",
        )
    tiny = share < MIN_SHARE
    if tiny.any():
        i = int(np.flatnonzero(tiny)[0])
        raise MarketShareError(
            f"share {df['share'].iloc[i]!r} for origin {df['origin'].iloc[i]!r} would make each subscriber {1 / share[i]:,.0f} people",
            path=path,
            where=f"line {i + 2}",
            hint=f"a share is at least {MIN_SHARE:g} (0.01%): write 0.5% as 0.005",
        )
    raw = df["origin"].str.strip()
    if (raw == "").any():  # (a probe's ",0.3" was read as the share of 'unknown', unsaid)
        i = int(np.flatnonzero((raw == "").to_numpy())[0])
        raise MarketShareError("origin is empty", path=path, where=f"line {i + 2}",
                               hint="give each row an origin code, * for the default row, or unknown for counts without one")
    is_default = raw == DEFAULT
    codes, levels = normalize_origins(raw.where(~is_default, ALL))
    invalid = (levels == "invalid").to_numpy() & ~is_default.to_numpy()
    if invalid.any():
        i = int(np.flatnonzero(invalid)[0])
        raise MarketShareError(f"origin {raw.iloc[i]!r} is not a known code", path=path, where=f"line {i + 2}", hint="use NIS, MCC or ISO codes, or * for the default")
    codes = codes.where(~is_default.to_numpy(), DEFAULT)
    dup = codes.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        j = int(np.flatnonzero((codes == codes.iloc[i]).to_numpy())[0])
        same = "" if raw.iloc[j] == raw.iloc[i] else f" (as {raw.iloc[j]!r} on line {j + 2}: both are {codes.iloc[i]})"
        raise MarketShareError(f"origin {raw.iloc[i]!r} is given twice{same}", path=path, where=f"line {i + 2}",
                               hint="give each origin one row, under one code")
    out = pd.DataFrame({"origin": codes.to_numpy(), "share": share})
    for name in ("share_low", "share_high"):  # optional bounds of the share (the estimates' intervals)
        if name not in df.columns:
            continue
        text = df[name].fillna("").astype(str).str.strip()
        vals = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float)
        given = text.to_numpy() != ""
        low = name == "share_low"
        wrong = given & (~np.isfinite(vals) | (vals < MIN_SHARE) | (vals > 1) | ((vals > share) if low else (vals < share)))
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise MarketShareError(
                f"{name} {df[name].iloc[i]!r} for origin {df['origin'].iloc[i]!r} is not a fraction from {MIN_SHARE:g} to 1 "
                f"{'at most' if low else 'at least'} the share {share[i]:g}",
                path=path,
                where=f"line {i + 2}",
                hint=f"{name} bounds the share from {'below' if low else 'above'}; leave it empty when unknown",
            )
        out[name] = np.where(given, vals, np.nan)
    out.attrs["source"] = str(path)
    return out


def _check_shares(shares: pd.DataFrame) -> None:
    """A share table given as a frame, as :func:`read_market_share` checks a file: an
    ``origin`` and a ``share`` column, each share in (0, 1], each origin once (a notebook's
    share of 0 made every estimate infinite, 5 read as a percentage, a repeated origin took
    its last row).
    """
    if not {"origin", "share"} <= set(shares.columns):
        raise MarketShareError("the market-share table needs an origin and a share column",
                               hint="read it with geozones.read_market_share")
    v = pd.to_numeric(shares["share"], errors="coerce").to_numpy(dtype=float)
    bad = ~((v > 0) & (v <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MarketShareError(f"share {v[i]:g} of origin {shares['origin'].iloc[i]!r} is not a share in (0, 1]",
                               hint="write 0.4 for 40%")
    twice = shares["origin"].astype(str).duplicated()
    if twice.any():
        raise MarketShareError(f"origin {shares['origin'][twice].iloc[0]!r} has several shares", hint="give each origin one row")


def market_share_factors(origins, shares: pd.DataFrame | None) -> dict[str, float]:
    """The share used for each origin code.

    Without a table every share is 1 (no extrapolation).

    Parameters
    ----------
    origins : pandas.Series or iterable of str
        Normalised origin codes, e.g. the ``origin`` column of a zone table; repeats are
        looked up once.
    shares : pandas.DataFrame or None
        A market-share table (:func:`read_market_share`), or None.

    Returns
    -------
    dict of str to float
        Per distinct origin, in order of first appearance: the share of the origin itself,
        else of its province, else of ``BE`` (for a Belgian NIS code), else of the default
        row ``*``.

    Raises
    ------
    MarketShareError
        If an origin has no share and the table has no default row ``*``.
    """
    values = origins if isinstance(origins, pd.Series) else pd.Series(list(origins), dtype=object)
    codes = [str(c) for c in pd.unique(values)]
    if shares is None:
        return {c: 1.0 for c in codes}
    _check_shares(shares)
    table = dict(zip(shares["origin"], shares["share"]))
    out = {}
    for c in codes:
        chain = [c]
        p = province_of(c)
        if p:
            chain += [p, "BE"]
        chain.append(DEFAULT)
        hit = next((table[x] for x in chain if x in table), None)
        if hit is None:
            name = origin_names([c])[c]
            raise MarketShareError(
                f"no market share for origin {c!r} ({name})",
                path=shares.attrs.get("source"),
                hint=f"add a row for {c}" + (f" or its province {p}" if p and p != c else "") + f", or a default row '{DEFAULT}'",
            )
        out[c] = float(hit)
    return out


def share_bands(origins, shares: pd.DataFrame | None) -> dict[str, tuple[float, float, float]]:
    """Per origin, ``(share, share_low, share_high)`` where the table bounds the share.

    Origins are looked up as :func:`market_share_factors` does; ``all`` takes the row of
    :func:`rest_share` (the largest share). An origin whose row has no bounds is left out (no share term in
    its interval).

    Parameters
    ----------
    origins : iterable of str
        Origin codes of a zone table.
    shares : pandas.DataFrame or None
        A market-share table (:func:`read_market_share`).

    Returns
    -------
    dict
    """
    if shares is None or not ({"share_low", "share_high"} & set(shares.columns)):
        return {}
    rows = shares.set_index("origin")
    low = rows["share_low"] if "share_low" in rows else pd.Series(np.nan, index=rows.index)
    high = rows["share_high"] if "share_high" in rows else pd.Series(np.nan, index=rows.index)
    out = {}
    codes = [str(c) for c in pd.unique(pd.Series(list(origins), dtype=object))]
    for c in codes:
        if c == ALL:  # (the row of rest_share: the largest share)
            key = rows.index[int(np.argmax(rows["share"].to_numpy(dtype=float)))]
        else:
            p = province_of(c)
            chain = [c] + ([p, "BE"] if p else []) + [DEFAULT]
            key = next((k for k in chain if k in rows.index), None)
        if key is None or (np.isnan(low[key]) and np.isnan(high[key])):
            continue
        sh = float(rows.loc[key, "share"])
        out[c] = (sh, float(low[key]) if not np.isnan(low[key]) else sh, float(high[key]) if not np.isnan(high[key]) else sh)
    return out


def rest_share(shares: pd.DataFrame | None, level: str | None = None) -> float:
    """The one share a total applies to its hidden origins (docs/privacy.md): the largest
    share among the table's rows that a run at ``level`` uses as they are (rows of origins
    as published there, and the default row ``*``); every row's without a level (the one
    origin of ``--origin-level none`` or of counts without origins, and the device tables).

    A total's estimate is the sum of its published origins' estimates plus the rest of its
    observed count divided by this share, a constant of the table, so that the estimate
    column adds no equation over the hidden origins to the observed one. It is the table's
    alone: a share taken from the run's own counts (its observed total over its estimated
    total, until stop 56) bounded a probe's 4 French roamers, at 0.02 among people at 0.4,
    to 0.7-2.1 a day. The largest share is the operator's at home (nobody roams onto a
    network more than they subscribe to it), and the rest is mostly home people; the
    table's default row ``*`` is often the roamers' (an Italian operator's ``222,0.35`` and
    ``*,0.05`` counted a hidden Italian figure twenty times over). Hidden roamers read low
    in a total, never blown up. Rows finer than the level are not its (a municipality's 0.5
    was a province run's rest while the run said the row went unused). 1 without a table.

    Parameters
    ----------
    shares : pandas.DataFrame or None
        A market-share table (:func:`read_market_share`), or None.
    level : {"municipality", "province", "country", "none"}, optional
        The run's origin level.

    Returns
    -------
    float
    """
    if shares is None or not len(shares):
        return 1.0
    share = shares["share"].to_numpy(dtype=float)
    if level in (None, "none"):
        return float(share.max())
    codes, up = _rolled(shares, level)
    used = ((up == codes) | (codes == DEFAULT)).to_numpy()
    return float(share[used].max()) if used.any() else float(share.max())


def label_shares(labels, shares: pd.DataFrame | None, level: str | None = None) -> dict[str, float]:
    """The share each origin as published takes: the table's row for the origin itself,
    else for its province, else ``BE``, else the default row ``*``
    (:func:`market_share_factors` of the origin, not of the codes it holds); ``all`` (the
    one origin of counts without origins, or of ``--origin-level none``) takes
    :func:`rest_share`.

    A province published with its municipalities' own shares would be a second equation
    beside its observed count (with two municipalities behind a figure, the two give each
    one's people), and a share pooled over the run's own counts is one equation over the
    whole input (a probe recovered a municipality's 5 people from it exactly): a share of
    the table alone adds none. Rows finer than the published origins go unused
    (:func:`unused_rows`).

    Parameters
    ----------
    labels : iterable of str
        The origins as published (after the roll-up to the run's level).
    shares : pandas.DataFrame or None
    level : {"municipality", "province", "country", "none"}, optional
        The run's origin level, for the words of an error.

    Returns
    -------
    dict of str to float

    Raises
    ------
    MarketShareError
        If an origin as published has no share (no row of its own, its province's, ``BE``
        or ``*``), saying which finer rows the table has for it.
    """
    labels = [str(c) for c in pd.unique(pd.Series(list(labels), dtype=object))]
    try:
        out = market_share_factors([c for c in labels if c != ALL], shares)
    except MarketShareError as exc:  # (a probe's table of municipalities alone: "no market share for '30000'", not why)
        missing = next(c for c in labels if c != ALL and c not in _share_of(c, shares))
        finer = [] if level in (None, "municipality") else _finer_rows(missing, shares, level)
        if not finer:
            raise
        name = origin_names([missing], level)[missing]
        raise MarketShareError(
            f"no market share for origin {missing!r} ({name}) as --origin-level {level} publishes it: the table has rows for its parts "
            f"({', '.join(finer[:3])}{', ...' if len(finer) > 3 else ''}), which an origin as published does not use",
            path=exc.path, hint=f"add a row for {missing} (or a default row '{DEFAULT}'): docs/privacy.md says why one share per origin as published",
        ) from None
    if ALL in labels:
        out[ALL] = rest_share(shares) if shares is not None else 1.0
    return {c: out[c] for c in labels}


def _share_of(code: str, shares: pd.DataFrame | None) -> dict[str, float]:
    """:func:`market_share_factors` of one code, empty where the table gives it none."""
    try:
        return market_share_factors([code], shares)
    except MarketShareError:
        return {}


def _rolled(shares: pd.DataFrame, level: str, keep: frozenset[str] = frozenset()) -> tuple[pd.Series, pd.Series]:
    """The table's codes and each one's origin as published at ``level`` (``keep``: home
    municipalities kept apart, :func:`geozones.origins.rollup_codes`).
    """
    from .origins import rollup_codes

    codes = pd.Series(shares["origin"].astype(str).to_numpy(), dtype=object)
    return codes, rollup_codes(codes, level, keep=keep).astype(str)


def _finer_rows(label: str, shares: pd.DataFrame, level: str) -> list[str]:
    """The table's rows that roll up to ``label`` at ``level`` without being it."""
    codes, up = _rolled(shares, level)
    return [c for c, u in zip(codes, up) if u == label and c != label]


def unused_rows(shares: pd.DataFrame | None, level: str, keep: frozenset[str] = frozenset()) -> dict[str, tuple[str, float, float]]:
    """The table's rows finer than ``level`` whose share differs from the one their origin
    as published takes (:func:`label_shares`): code -> (that origin, its row's share, the
    origin's share). Home municipalities kept apart (``keep``) are their own origins.

    Parameters
    ----------
    shares : pandas.DataFrame or None
    level : {"municipality", "province", "country", "none"}
    keep : frozenset of str

    Returns
    -------
    dict
    """
    if shares is None or not len(shares):
        return {}
    rows = shares[shares["origin"] != DEFAULT]
    codes, up = _rolled(rows, level, keep)
    moved = (up != codes).to_numpy()
    if not moved.any():
        return {}
    to = label_shares(up[moved], shares)
    out = {}
    for c, u, sh in zip(codes[moved], up[moved], rows["share"].to_numpy(dtype=float)[moved]):
        if abs(sh - to[u]) > 1e-12:
            out[c] = (u, float(sh), float(to[u]))
    return out


def label_bins(bins, shares: pd.DataFrame | None, level: str | None = None) -> dict[str, float]:
    """:func:`label_shares` for the stream and dask engines' sums: each origin group takes
    its share as published, in place (estimates summed row by row are dropped).

    Parameters
    ----------
    bins : geozones.engine.CellBins
    shares : pandas.DataFrame or None
    level : str, optional
        The run's origin level (:func:`label_shares`).

    Returns
    -------
    dict of str to float
        The groups' shares (also ``bins.info["factors"]``).
    """
    f = label_shares(bins.origins, shares, level)
    bins.factors = np.array([f[str(o)] for o in bins.origins], dtype=float)
    bins.estimates.clear()
    bins.info["factors"] = dict(sorted(f.items()))
    return f


def warn_unused_rows(shares: pd.DataFrame | None, level: str, keep: frozenset[str] = frozenset()) -> None:
    """Say which rows of the table a run at ``level`` does not use (:func:`unused_rows`)."""
    unused = unused_rows(shares, level, keep)
    if unused:
        import logging

        c, (to, own, used) = next(iter(unused.items()))
        logging.getLogger("geozones").warning(
            "%d market-share row%s finer than --origin-level %s %s not used (e.g. %s at %g, whose people are published as %s at %g): "
            "an origin as published takes its own row's share, as a finer one would give its parts' people away (docs/privacy.md); "
            "give rows for the origins you publish", len(unused), "s" if len(unused) > 1 else "", level, "are" if len(unused) > 1 else "is",
            c, own, to, used)


def extrapolate(table: pd.DataFrame, shares: pd.DataFrame | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Add ``estimate = observed / share(origin)`` to a zone table.

    Parameters
    ----------
    table : pandas.DataFrame
        A zone table with ``origin`` and ``observed`` (:func:`geozones.apportion`).
    shares : pandas.DataFrame or None
        A market-share table (:func:`read_market_share`); None divides by 1, so that
        ``estimate`` equals ``observed``.

    Returns
    -------
    (table, factors)
        The table with an ``estimate`` column, and the share used per origin.

    Raises
    ------
    MarketShareError
        If the table has ``all`` or ``resident`` rows: they add up origins of different
        shares, so extrapolate before :func:`geozones.add_totals` and
        :func:`geozones.rollup_origins` (``residents=``), as :func:`geozones.run` does. (A
        probe's totals and residents came out 1.6 to 1.7 times a run's, at the default row.)
    """
    sums = sorted(set(table["origin"].astype(str).unique()) & {ALL, RESIDENT})
    if sums and shares is not None:
        raise MarketShareError(f"the table has rows of origin {' and '.join(repr(s) for s in sums)}, sums over origins of different "
                               "market shares: extrapolate the origins first, then add totals and residents (as geozones.run does)")
    factors = market_share_factors(table["origin"], shares)
    share = table["origin"].map(factors).to_numpy(dtype=float)
    return table.assign(estimate=table["observed"].to_numpy() / share), factors
