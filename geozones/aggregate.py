"""Aggregation: counts per cell through the weights to zones, then roll-ups over time and origin.

The zone table has one row per zone, period and origin, with the columns ``zone_id``,
``period_start`` (UTC), ``period``, ``origin``, ``observed`` and, after extrapolation,
``estimate``. The cube is complete: every zone has a row for every period and origin
that occurs in the counts (zero where nobody was seen), so that a missing row never
stands for a hidden figure. The zone ``outside`` holds the share of counts that fell in
no zone: for zones that do not overlap, the sum over zones plus outside equals the input.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import sparse

from .counts import KINDS, parse_period, period_floor, period_seconds
from .density import split_by_period
from .errors import CountsError, InputError
from .origins import ALL, RESIDENT, homes_kept, rollup_codes
from .periods import not_nested
from .weights import Weights

__all__ = ["apportion", "zone_table", "rollup_time", "rollup_counts", "rollup_origins", "add_totals", "STATS"]

#: How presence counts roll up over time.
STATS = ("mean", "max")
_VALUES = ("observed", "estimate")


def apportion(
    counts: pd.DataFrame,
    weights: Weights,
    *,
    kind: str = "presence",
    dedup_factor: float | None = None,
    unknown_cells: str = "error",
) -> tuple[pd.DataFrame, dict]:
    """Share each cell's counts among zones: the zone table at the counts' own period.

    Parameters
    ----------
    counts : pandas.DataFrame
        From :func:`geozones.read_counts` (``cell_id``, ``period_start``, ``period``,
        ``origin``, ``count``), or a frame with those columns: counts numbers of at least
        0, ``period_start`` times with a zone; cell ids are matched as text when the
        weights' are.
    weights : Weights
        From :func:`geozones.compute_weights` or :func:`geozones.read_weights`.
    kind : {"presence", "unique", "events"}
        The kind of count. ``unique`` needs ``dedup_factor``.
    dedup_factor : float, optional
        For unique counts: the share of the per-cell sum that is distinct people (people
        seen on several cells are counted once). Multiplies every zone figure.
    unknown_cells : {"error", "drop"}
        Counts for cells that the weights do not know: refuse them, or drop them and
        report how many rows and how much count were dropped.

    Returns
    -------
    (table, info)
        ``table``: ``zone_id``, ``period_start``, ``period``, ``origin``, ``observed``,
        including the zone ``outside``. ``info``: ``input_total``, ``dropped_rows``,
        ``dropped_count``, ``unknown_cells``, ``dedup_factor``. Figures and counts before
        disclosure control: not for publication (:func:`geozones.disclosure_control`,
        :func:`geozones.privacy.safe_count`).

    Raises
    ------
    CountsError
        Missing columns, no rows, a count that is not a number of at least 0, times
        without a zone, cells the weights do not know (``unknown_cells="error"``), several
        period lengths.
    """
    factor = dedup_factor_for(kind, dedup_factor, source=counts.attrs.get("source"))
    if unknown_cells not in ("error", "drop"):
        raise InputError(f"unknown_cells must be 'error' or 'drop', not {unknown_cells!r}")
    counts = _checked_frame(counts, weights)
    rows = pd.Index(weights.cell_ids).get_indexer(counts["cell_id"].to_numpy())
    unknown = rows < 0
    info = {"input_total": float(counts["count"].sum()), "dropped_rows": 0, "dropped_count": 0.0, "unknown_cells": 0, "dedup_factor": factor}
    if unknown.any():
        cells = pd.unique(counts.loc[unknown, "cell_id"])
        if unknown_cells != "drop":
            raise CountsError(
                f"{len(cells)} cell ids are not in the cell plan, e.g. '{cells[0]}' ({int(unknown.sum())} rows)",
                path=counts.attrs.get("source"),
                where=f"row {int(np.flatnonzero(unknown)[0])}",
                hint="check that counts and cell plan belong together, or drop them with --unknown-cells drop",
            )
        info.update(dropped_rows=int(unknown.sum()), dropped_count=float(counts.loc[unknown, "count"].sum()), unknown_cells=len(cells))
        counts, rows = counts.loc[~unknown], rows[~unknown]
        if not len(counts):  # (a probe's every row dropped read "the counts mix several period lengths")
            raise CountsError(f"none of its {len(cells)} cell ids is in the cell plan (e.g. {str(cells[0])!r}): --unknown-cells drop "
                              "leaves no count", path=counts.attrs.get("source"),
                              hint="check that counts and cell plan belong together: their cell ids must be the same")
    periods = pd.unique(counts["period"])
    if len(periods) != 1:
        raise CountsError("the counts mix several period lengths", hint="apportion one period length at a time")
    t_codes, t_values = pd.factorize(counts["period_start"], sort=True)
    o_codes, o_values = pd.factorize(counts["origin"], sort=True)
    n_t, n_o = len(t_values), len(o_values)
    key = t_codes.astype(np.int64) * n_o + o_codes
    values = {}
    for src, dst in (("count", "observed"), ("estimate", "estimate")):
        if src in counts.columns:
            c = sparse.csr_array((counts[src].to_numpy(dtype=float), (key, rows)), shape=(n_t * n_o, len(weights.cell_ids)))
            c.sum_duplicates()
            values[dst] = c
    table = zone_table(values, t_values, o_values, periods[0], weights, factor=factor)
    return table, info


def _checked_frame(counts: pd.DataFrame, weights: Weights) -> pd.DataFrame:
    """A counts frame as :func:`geozones.read_counts` checks a file: its columns, counts that
    are numbers of at least 0, times with a zone (a frame made in a notebook reached the
    apportioning unchecked: a NaN count made NaN figures that disclosure control published,
    a naive time was taken for UTC, integer cell ids matched none of the plan's).
    """
    src = counts.attrs.get("source")
    missing = [c for c in ("cell_id", "period_start", "period", "origin", "count") if c not in counts.columns]
    if missing:
        raise CountsError(f"the counts have no {', '.join(missing)} column", path=src,
                          hint="read counts with geozones.read_counts, or give cell_id, period_start, period, origin and count")
    if not len(counts):
        raise CountsError("the counts have no rows", path=src)
    c = pd.to_numeric(counts["count"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(c) & (c >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CountsError(f"count {counts['count'].iloc[i]!r} is not a number of at least 0", path=src, where=f"row {i}",
                          hint="fix or remove the row")
    t = counts["period_start"]
    if not (pd.api.types.is_datetime64_any_dtype(t) and getattr(t.dt, "tz", None) is not None):
        raise CountsError("period_start is not a time with its zone (UTC or an offset)", path=src,
                          hint="read counts with geozones.read_counts (times without an offset are Europe/Brussels), "
                               "or give period_start as pandas times with tz, e.g. pd.to_datetime(..., utc=True)")
    ids = counts["cell_id"]
    kind_of = ids.dtype.categories.dtype if isinstance(ids.dtype, pd.CategoricalDtype) else ids.dtype
    if len(weights.cell_ids) and isinstance(weights.cell_ids[0], str) and not (
            pd.api.types.is_object_dtype(kind_of) or pd.api.types.is_string_dtype(kind_of)):
        counts = counts.assign(cell_id=ids.astype(str))  # (the plan's ids are text: 1000 is '1000')
    return counts


def dedup_factor_for(kind: str, dedup_factor: float | None, *, source: str | None = None) -> float:
    """The factor that multiplies every zone figure: ``dedup_factor`` for unique counts, else 1.

    Raises
    ------
    InputError
        An unknown kind, or a factor outside (0, 1].
    CountsError
        Unique counts without a factor: they do not add up over cells.
    """
    if kind not in KINDS:
        raise InputError(f"unknown count kind {kind!r}", hint=f"choose one of {', '.join(KINDS)}")
    if kind != "unique":
        return 1.0
    if dedup_factor is None:
        raise CountsError(
            "unique counts do not add up over cells: a person seen on several cells would be counted several times",
            path=source,
            hint="state a deduplication factor (--dedup-factor, 0 to 1) or give subscriber-level events",
        )
    if not 0 < dedup_factor <= 1:
        raise InputError(f"dedup factor {dedup_factor!r} is not in (0, 1]")
    return float(dedup_factor)


def zone_table(values: Mapping[str, sparse.csr_array | np.ndarray], period_starts, origins, period: str, weights: Weights, *, factor: float = 1.0) -> pd.DataFrame:
    """The complete zone table from sums per (period, origin) x cell.

    Parameters
    ----------
    values : mapping of column name to matrix
        Each of shape ``(len(period_starts) * len(origins), cells)``: row ``t * len(origins) + o``
        holds the sums per cell (in weights order) for period ``t`` and origin ``o``.
    period_starts, origins : array-like
        The row labels, periods first.
    period : str
    weights : Weights
    factor : float
        Multiplies every figure (the deduplication factor of unique counts).

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``period_start``, ``period``, ``origin`` and a column per value, a row
        for every zone (``outside`` last), period and origin.
    """
    n_t, n_o, n_z = len(period_starts), len(origins), len(weights.zone_ids)
    zone_ids = weights.zone_labels
    k = np.arange(n_t * n_o)
    table = pd.DataFrame(
        {
            "zone_id": np.tile(zone_ids, len(k)),
            "period_start": np.repeat(np.asarray(period_starts)[k // n_o], n_z + 1),
            "period": period,
            "origin": np.repeat(np.asarray(origins, dtype=object)[k % n_o], n_z + 1),
        }
    )
    # (weights per period, --density period: each period's rows with its own)
    starts_ns = pd.DatetimeIndex(pd.to_datetime(np.asarray(period_starts), utc=True)).as_unit("ns").asi8
    groups = split_by_period(weights, starts_ns)
    for name, c in values.items():
        c = sparse.csr_array(c)
        out = np.zeros((n_t * n_o, n_z + 1))
        for w, ts in groups:
            rows = (ts[:, None] * n_o + np.arange(n_o)).ravel()
            part = c[rows] if len(groups) > 1 else c
            if n_z:
                out[rows, :n_z] = (part @ w.matrix).toarray()
            out[rows, n_z] = part @ w.outside
        table[name] = (out * factor).ravel()
    table["period_start"] = pd.to_datetime(table["period_start"], utc=True)
    return table


def rollup_counts(counts: pd.DataFrame, period: str, *, kind: str = "presence") -> pd.DataFrame:
    """Roll counts per cell up to a longer period before apportioning.

    Apportioning is linear, so for events (sums) and presence means this gives the same
    zone figures as apportioning first, for a fraction of the work. A presence mean is
    the sum over the shorter periods divided by how many of them the counts hold in the
    longer period (a cell with no row in an hour had nobody). Not for maxima, nor for
    unique counts (see :func:`rollup_time`).

    Parameters
    ----------
    counts : pandas.DataFrame
        Counts per cell (:func:`geozones.read_counts`): ``cell_id``, ``period_start``,
        ``period``, ``origin``, ``count`` and optionally ``estimate``.
    period : str
        The longer period (``1d``, ``1w``, ``1q``...; see :func:`geozones.parse_period`).
    kind : {"presence", "unique", "events"}
        ``presence`` takes the mean over the shorter periods (the sum divided by how many
        of them the counts hold, over all cells); ``events`` are summed; ``unique`` counts
        raise.

    Returns
    -------
    pandas.DataFrame
        ``cell_id``, ``period_start`` (UTC start of the longer period), ``period``,
        ``origin``, ``count`` (and ``estimate``): a row per cell, period and origin with
        counts, sorted by them, with a new index and the ``attrs`` of ``counts``.
        ``counts`` itself when it is already at ``period``.
    """
    period = parse_period(period)
    current = pd.unique(counts["period"])
    if len(current) == 1 and current[0] == period:
        return counts
    if kind not in KINDS:
        raise InputError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    shorter = [str(c) for c in current if period_seconds(parse_period(str(c))) > period_seconds(period)]
    if shorter:  # (a probe's daily counts came back labelled 1h)
        raise CountsError(f"counts per {shorter[0]} cannot be split into periods of {period}", hint=f"roll them up to {shorter[0]} or longer")
    straddle = [p for p in (not_nested(str(c), period) for c in current) if p]
    if straddle:  # (weeks into months: a week across the border went whole to its Monday's month)
        raise CountsError(straddle[0][0], hint=straddle[0][1])
    if kind == "unique":
        raise CountsError(
            f"unique counts per {current[0]} cannot be rolled up to {period}: people seen in several periods would be counted again",
            hint=f"give unique counts per {period}, or subscriber-level events",
        )
    # the longer period of each row, floored once per distinct start; and how many of
    # the counts' periods each holds
    codes, starts = pd.factorize(counts["period_start"])
    floor = pd.DatetimeIndex(period_floor(pd.Series(starts), period))
    n_inside = floor.value_counts()
    values = [c for c in ("count", "estimate") if c in counts.columns]
    out = counts.assign(period_start=floor[codes]).groupby(["cell_id", "period_start", "origin"], sort=True, observed=True)[values].sum().reset_index()
    if kind == "presence":
        n = n_inside.reindex(pd.DatetimeIndex(out["period_start"])).to_numpy(dtype=float)
        for v in values:
            out[v] = out[v].to_numpy() / n
    out["period_start"] = pd.to_datetime(out["period_start"], utc=True)
    out.insert(2, "period", period)
    out.attrs = dict(counts.attrs)
    return out


def rollup_origins(
    table: pd.DataFrame,
    level: str,
    *,
    residents: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Roll origins up to ``level`` (see :func:`geozones.origins.rollup_codes`).

    Parameters
    ----------
    table : pandas.DataFrame
        A zone table.
    level : {"municipality", "province", "country", "none"}
    residents : mapping of zone_id to NIS municipality code, optional
        People whose origin is the zone's own municipality get the origin ``"resident"``,
        so that residents are kept apart from visitors. The people of a home municipality
        keep its code in the zones of other homes or none (:func:`homes_kept`), so that an
        origin is the same people in every zone.

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``period_start``, ``period``, ``origin`` (the rolled-up code) and
        ``observed`` (and ``estimate``), summed over the codes that map to one origin;
        sorted by the first four, with a new index. Other columns are dropped.
    """
    origin = table["origin"]
    if residents:
        own = table["zone_id"].map(residents)
        origin = origin.where(~(own.notna() & (origin == own)).to_numpy(), RESIDENT)
    mapped = rollup_codes(origin, level, keep=homes_kept(residents, level))
    values = [c for c in _VALUES if c in table.columns]
    out = table.assign(origin=mapped.to_numpy())
    return out.groupby(["zone_id", "period_start", "period", "origin"], sort=True, observed=True)[values].sum().reset_index()


def add_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Add a row with origin ``"all"`` per zone and period: the sum over origins.

    Nothing is added when the only origin is already ``"all"``.

    Parameters
    ----------
    table : pandas.DataFrame
        A zone table with no other columns than ``zone_id``, ``period_start``, ``period``,
        ``origin``, ``observed`` and optionally ``estimate``.

    Returns
    -------
    pandas.DataFrame
        The rows of the other origins and, per zone and period, one of origin ``"all"``
        holding their sum (``"all"`` rows already there are replaced); sorted by
        ``zone_id``, ``period_start``, ``period``, ``origin``, with a new index.
        ``table`` itself when its only origin is ``"all"``.
    """
    if set(pd.unique(table["origin"])) <= {ALL}:
        return table
    values = [c for c in _VALUES if c in table.columns]
    parts = table[table["origin"] != ALL]
    totals = parts.groupby(["zone_id", "period_start", "period"], sort=True, observed=True)[values].sum().reset_index()
    totals["origin"] = ALL
    both = pd.concat([parts, totals[parts.columns]], ignore_index=True)
    return both.sort_values(["zone_id", "period_start", "period", "origin"], kind="stable").reset_index(drop=True)


def rollup_time(table: pd.DataFrame, period: str, *, kind: str = "presence", stat: str = "mean") -> pd.DataFrame:
    """Roll a zone table up to a longer period, by the rules of its kind of count.

    Parameters
    ----------
    table : pandas.DataFrame
        A zone table with one period length.
    period : str
        The longer period (``1d``, ``1w``, ``1q``...).
    kind : {"presence", "unique", "events"}
        ``events`` are summed; ``presence`` takes ``stat`` over the periods inside;
        ``unique`` counts cannot be rolled up over time (a person seen in two hours is
        one visitor of the day) and raise.
    stat : {"mean", "max"}
        For presence counts.

    Returns
    -------
    pandas.DataFrame
        The zone table at ``period``; for ``mean``, each longer period is the mean over
        the shorter periods of the counts that fall in it.
    """
    period = parse_period(period)
    current = pd.unique(table["period"])
    if len(current) != 1:
        raise InputError("the zone table mixes period lengths")
    if current[0] == period:
        return table
    if kind not in KINDS:
        raise InputError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if period_seconds(parse_period(str(current[0]))) > period_seconds(period):
        raise CountsError(f"a table per {current[0]} cannot be split into periods of {period}", hint=f"roll it up to {current[0]} or longer")
    if not_nested(str(current[0]), period):
        raise CountsError(f"a table per {current[0]} cannot make periods of {period}: they do not nest",
                          hint=f"give a table per {'1d' if current[0] == '1w' else '1h'} or shorter")
    if kind == "unique":
        raise CountsError(
            f"unique counts per {current[0]} cannot be rolled up to {period}: people seen in several periods would be counted again",
            hint=f"give unique counts per {period}, or subscriber-level events",
        )
    if stat not in STATS:
        raise InputError(f"unknown statistic {stat!r}", hint="choose mean or max")
    # the longer period of each row, floored once per distinct start (mapping the rows'
    # tz-aware times through a Series made a Timestamp a row)
    codes, starts = pd.factorize(table["period_start"])
    b = pd.DatetimeIndex(period_floor(pd.Series(starts), period))[codes]
    values = [c for c in _VALUES if c in table.columns]
    g = table.assign(period_start=b).groupby(["zone_id", "period_start", "origin"], sort=True, observed=True)[values]
    if kind == "events":
        out = g.sum()
    elif stat == "mean":
        out = g.mean()
    else:
        out = g.max()
    out = out.reset_index()
    out["period"] = period
    out["period_start"] = pd.to_datetime(out["period_start"], utc=True)
    return out[["zone_id", "period_start", "period", "origin", *values]]
