"""Counts larger than memory: stream them through the weights in bounded memory.

A national run (about 50,000 cells, hourly counts with an origin breakdown, a quarter:
hundreds of millions of rows) does not fit in memory as a table, but what it adds up to
does: one number per published period, origin and cell. :func:`stream_counts` reads a
Parquet file (or a folder of Parquet files) in Arrow record batches and adds each batch
into dense accumulators of that shape; nothing per row is kept. It then shares the sums
among zones exactly as :func:`geozones.apportion` does.

Per batch, the work is done once per *distinct* value wherever it can be: ``cell_id``,
``origin``, ``period`` and text times are read as Arrow dictionaries, so a cell id is
looked up in the weights once per dictionary entry, not once per row; timestamps become
minute numbers, and a minute's published period comes from a lookup table. The checks
are those of :func:`geozones.read_counts` (numbers, negatives, NaN, infinities, times,
clock changes, origin codes, one period length, unknown cells), each naming the row.

Parquet is read by Arrow (``cell_id`` and ``origin`` as dictionaries, so no string is
built per row); a damaged file is one :class:`~geozones.errors.CountsError` naming the file
and the row group.

The result equals the in-memory path: observed figures exactly for whole-number counts
(sums of integers in float64 do not depend on their order), estimates to rounding (about
1e-15 relatively), as ``tests/test_stream.py`` checks. Rows are fastest in time order
(as an operator exports them); any order gives the same result, more slowly.

Engines
-------
``memory``
    :func:`geozones.read_counts` and :func:`geozones.apportion`: the counts in a DataFrame.
``stream``
    This module: bounded memory on one machine, Parquet in Arrow batches.
``dask``
    The same per-batch binning on each partition of a ``dask.dataframe``, summed by Dask
    on its scheduler (threads by default, or a ``distributed`` cluster at an address).

Exact duplicate rows are dropped and a key (cell, period, origin) with different counts
is an error, as the in-memory reader has it, without keeping the rows: a bit per cell and
origin marks the keys of the newest period (rows in time order), or of every period when
the rows are not in time order (the counts are then read again, and the bits count
against the memory budget). The dask engine finds them within each partition (a file),
and across partitions among the rows at times that more than one file holds (from the
files' Parquet statistics: none when the files follow each other in time). ``--stat
max`` needs the zone figures of every hour and is refused when they do not fit in the
budget.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import read_parquet_table, row_label
from .aggregate import zone_table
from .counts import KINDS, TIME_RANGE, parse_period, parse_times, period_floor, period_seconds, time_range_error
from .errors import BudgetError, CountsError, InputError
from .extrapolate import market_share_factors
from .origins import ALL, normalize_origins, rollup_codes
from .weights import Weights

__all__ = ["ENGINES", "DEFAULT_BUDGET", "CellBins", "stream_counts", "apportion_bins", "zone_sums", "write_zone_table", "parse_size"]

log = logging.getLogger("geozones")

ENGINES = ("memory", "stream", "dask")
#: Default memory budget of the stream engine, in bytes.
DEFAULT_BUDGET = 2 * 10**9
_COLUMNS = ("cell_id", "period_start", "period", "count", "origin")
_MINUTE = 60 * 10**9
_BATCH_ROWS = 1 << 20


def parse_size(text: str | int | float) -> int:
    """Bytes from ``"2GB"``, ``"500MB"``, ``"1.5G"`` or a number of bytes."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = str(text).strip().upper().removesuffix("B").removesuffix("I")
        units = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
        try:
            value = float(s[:-1]) * units[s[-1]] if s and s[-1] in units else float(s)
        except (ValueError, KeyError):
            raise InputError(f"memory budget {text!r} is not a size such as 2GB or 500MB") from None
    if not value > 0:
        raise InputError(f"memory budget {text!r} is not a positive size")
    return int(value)


def format_size(n: float) -> str:
    """``"1.23 GB"``, ``"4.6 MB"``, ``"512 bytes"``: a size as :func:`parse_size` reads it."""
    for unit, scale, fmt in (("GB", 1e9, "{:.2f}"), ("MB", 1e6, "{:.1f}"), ("kB", 1e3, "{:.1f}")):
        if n >= scale:
            return f"{fmt.format(n / scale)} {unit}"
    return f"{int(n)} bytes"


@dataclass
class CellBins:
    """Counts added up per (period, origin, cell): what a counts table reduces to.

    The arrays are kept in the order the periods and origins were met (no copy of the
    sums is made); :meth:`order` gives them in ascending order.

    Attributes
    ----------
    period : str
        The period of ``period_start`` (canonical label).
    period_start : numpy.ndarray of datetime64[ns]
        UTC start of each period (first axis).
    origins : numpy.ndarray of str
        Origin codes (second axis).
    sums : numpy.ndarray, shape (periods, origins, cells)
        Sums of the observed counts, cells in weights order: int32 where the counts are
        whole numbers that cannot overflow it (half the memory), else float64. The
        observed figure of a period is its sum divided by ``divisor`` (:meth:`observed_at`).
    factors : numpy.ndarray of float
        Per origin, the market share that turns its observed sums into estimates; NaN
        where the origin's raw codes have different shares and its estimates are summed
        in ``estimates``.
    estimates : dict of int to numpy.ndarray
        Origin index -> estimate sums, shape (periods, cells), for those origins.
    present : numpy.ndarray of bool, shape (periods, origins)
        Whether any row fell in that period and origin.
    cell_ids : numpy.ndarray of str
        The cells, in the order of the last axis.
    divisor : numpy.ndarray of float
        Per period: how many of the counts' own periods it holds (presence means), else 1.
    info : dict
        ``rows`` (kept: exact duplicates not counted), ``input_total``, ``dropped_rows``,
        ``dropped_count``, ``unknown_cells``, ``duplicate_rows`` (exact duplicates left out),
        ``notes`` (what the run should say, as the memory reader's notes), ``factors`` (the
        market share used per raw origin code), ``base_period``, ``first`` and ``last`` (the
        first and last ``period_start`` read, UTC nanoseconds), ``engine``.
    """

    period: str
    period_start: np.ndarray
    origins: np.ndarray
    sums: np.ndarray
    factors: np.ndarray
    estimates: dict
    present: np.ndarray
    cell_ids: np.ndarray
    divisor: np.ndarray
    info: dict = field(default_factory=dict)

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the periods and of the origins in ascending order."""
        return (np.argsort(self.period_start, kind="stable"), np.argsort(self.origins.astype(str), kind="stable"))

    def observed_at(self, t: int) -> np.ndarray:
        """The observed figures of period ``t`` per origin and cell, shape (origins, cells)."""
        return self.sums[t] / self.divisor[t]

    def estimate_at(self, t: int) -> np.ndarray:
        """The estimated figures of period ``t``, shape (origins, cells)."""
        est = self.observed_at(t) / self.factors[:, None]
        for g, arr in self.estimates.items():
            est[g] = arr[t] / self.divisor[t]
        return est

    @property
    def observed(self) -> np.ndarray:
        """All observed figures, shape (periods, origins, cells) (a new array: for small runs)."""
        return self.sums / self.divisor[:, None, None]

    @property
    def estimate(self) -> np.ndarray:
        """All estimated figures, shape (periods, origins, cells) (a new array: for small runs)."""
        return np.stack([self.estimate_at(t) for t in range(len(self.period_start))]) if len(self.period_start) else self.observed


class _Minutes:
    """Minute number (UTC) -> ordinal of its published period, computed once per minute range.

    ``starts[i]`` is the start (UTC ns) of the period with ordinal ``i``; ordinals are given
    in order of first appearance and never change, so a batch's rows map to them by one
    lookup each.
    """

    def __init__(self, period: str) -> None:
        self.period = period
        self.m0 = 0
        self.code = np.empty(0, dtype=np.int64)
        self.seen = np.empty(0, dtype=bool)
        self.starts: list[int] = []
        self._ordinal: dict[int, int] = {}

    def cover(self, lo: int, hi: int) -> None:
        if len(self.code) and lo >= self.m0 and hi < self.m0 + len(self.code):
            return
        if len(self.code):
            lo, hi = min(lo, self.m0), max(hi, self.m0 + len(self.code) - 1)
            # grow by a quarter in both directions, so that a stream in time order rebuilds
            # the table a few times only
            span = hi - lo + 1
            lo, hi = lo - span // 4, hi + span // 4
        minutes = np.arange(lo, hi + 1, dtype=np.int64)
        times = pd.Series(pd.DatetimeIndex((minutes * _MINUTE).astype("datetime64[ns]")).tz_localize("UTC"))
        start = _ns(period_floor(times, self.period))
        uniq, inverse = np.unique(start, return_inverse=True)
        ordinals = np.array([self._ordinal.setdefault(int(u), len(self._ordinal)) for u in uniq], dtype=np.int64)
        self.starts = list(self._ordinal)
        seen = np.zeros(len(minutes), dtype=bool)
        if len(self.seen):
            seen[self.m0 - lo : self.m0 - lo + len(self.seen)] = self.seen
        self.m0, self.code, self.seen = lo, ordinals[inverse], seen

    def map(self, minutes: np.ndarray) -> np.ndarray:
        """Ordinal of the published period of each minute; the minutes are marked as seen."""
        self.cover(int(minutes.min()), int(minutes.max()))
        i = minutes - self.m0
        self.seen[i] = True
        return self.code[i]

    def periods_inside(self) -> pd.Series:
        """Per ordinal: how many distinct minutes (counts periods) hold rows."""
        return pd.Series(self.code[self.seen]).value_counts()


@dataclass
class _Context:
    """What every batch needs to know: the run's settings and the lookups built so far."""

    weights: Weights
    period: str | None
    kind: str
    origin_level: str
    keep: frozenset[str]
    shares: pd.DataFrame | None
    unknown_cells: str
    source: str
    fmt: str = "parquet"
    base_period: str | None = None
    minutes: _Minutes | None = None
    factors: dict[str, float] = field(default_factory=dict)
    _cells: tuple | None = None
    _origins: tuple | None = None
    _periods: object = None  # a period dictionary whose entries are all checked
    norm_index: dict[str, int] = field(default_factory=dict)  # normalised origin code -> index (duplicate keys)
    seen: "_Seen | None" = None
    span: tuple[int, int] | None = None  # first and last time (UTC ns) of the rows so far


@dataclass
class _Batch:
    """One batch, validated and mapped: a row per input row that is kept."""

    bucket: np.ndarray  # int, index into starts
    starts: np.ndarray  # int64 ns: start (UTC) of each published period
    group: np.ndarray  # int, index into groups
    groups: np.ndarray  # origin codes after roll-up
    factors: np.ndarray  # per group: its share, or NaN where its raw origins have several
    cell: np.ndarray  # row in the weights
    count: np.ndarray
    estimate: np.ndarray
    rows: int
    total: float
    first: int = np.iinfo(np.int64).max
    last: int = np.iinfo(np.int64).min
    dropped_rows: int = 0
    dropped_count: float = 0.0
    unknown: frozenset = frozenset()
    ns: np.ndarray | None = None  # UTC ns of each kept row (duplicate keys)
    norm: np.ndarray | None = None  # normalised origin index of each kept row
    index: np.ndarray | None = None  # position in the batch of each kept row

    def drop(self, rows: np.ndarray) -> None:
        """Leave out these rows (a mask): duplicates of earlier rows, not in the total."""
        self.total -= float(self.count[rows].sum())
        keep = ~rows
        for name in ("bucket", "group", "cell", "count", "estimate", "ns", "norm", "index"):
            setattr(self, name, getattr(self, name)[keep])


def _dictionary(arr):
    """(codes per row, distinct values as a pandas Series) of an Arrow array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    codes = arr.indices.to_numpy(zero_copy_only=False)
    return codes, arr.dictionary


def _ns(times: pd.Series) -> np.ndarray:
    """UTC nanoseconds of a tz-aware datetime Series."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _fail(ctx: _Context, row0: int, i: int, message: str, hint: str, cell=None) -> CountsError:
    where = row_label(row0 + i, ctx.fmt)
    if cell is not None:
        where = f"{where} (cell_id {cell!r})"
    return CountsError(message, path=ctx.source, where=where, hint=hint)


def _null_check(ctx, arr, name: str, row0: int) -> None:
    if arr.null_count:
        i = _first_row(~np.asarray(arr.is_valid()))
        raise _fail(ctx, row0, i, f"{name} is empty", f"every row needs a {name}")


def _cells(ctx: _Context, arr, row0: int) -> tuple[np.ndarray, np.ndarray]:
    """(row in the weights, dictionary code) of each row's cell."""
    _null_check(ctx, arr, "cell_id", row0)
    codes, values = _dictionary(arr)
    return _cell_lookup(ctx, values)[codes], codes


def _cell_lookup(ctx: _Context, values) -> np.ndarray:
    """Row in the weights of each entry of a cell_id dictionary (-1: unknown), kept while
    the next batches bring the same dictionary."""
    cached = ctx._cells
    if cached is not None and cached[0].equals(values):
        return cached[1]
    ids = pd.Series(values.to_pandas()).astype(str).str.strip().to_numpy()
    lookup = pd.Index(ctx.weights.cell_ids).get_indexer(ids)
    ctx._cells = (values, lookup, ids)
    return lookup


#: The longest time the counts of one run may span: the stream engine keeps a table of the
#: minutes between the first and the last time (about 9 bytes a minute, 1.5 x this span).
MAX_SPAN_DAYS = 20 * 366


def _check_time_range(ctx: _Context, raw: np.ndarray, unit: str, row0: int, lo: int, hi: int) -> None:
    """Refuse times outside ``counts.TIME_RANGE``, and counts spanning more than
    ``MAX_SPAN_DAYS`` with the rows before, naming the first row at fault. ``raw`` are the
    batch's times in ``unit``, ``lo`` and ``hi`` their extremes."""
    scale = 10**9 // _UNITS[unit]  # nanoseconds a unit
    first, end = (t.value // scale for t in TIME_RANGE)
    if lo < first or hi >= end:
        i = _first_row((raw < first) | (raw >= end))
        raise time_range_error(np.datetime_as_string(raw[i : i + 1].astype(f"datetime64[{unit}]"))[0], ctx.source, row_label(row0 + i, ctx.fmt))
    a, b = lo * scale, hi * scale
    if ctx.span is not None:
        a, b = min(a, ctx.span[0]), max(b, ctx.span[1])
    limit = MAX_SPAN_DAYS * 86400 * 10**9
    if b - a > limit:
        ns = raw * scale
        i = _first_row((ns < b - limit) | (ns > a + limit))
        raise CountsError(f"period_start {np.datetime_as_string(raw[i : i + 1].astype(f'datetime64[{unit}]'))[0]} makes the counts span more "
                          f"than {MAX_SPAN_DAYS // 366} years", path=ctx.source, where=row_label(row0 + i, ctx.fmt),
                          hint="the file is damaged, or split the counts into runs of fewer years")
    ctx.span = (a, b)


def _times(ctx: _Context, arr, row0: int) -> np.ndarray:
    """UTC nanoseconds per row."""
    import pyarrow as pa

    _null_check(ctx, arr, "period_start", row0)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if pa.types.is_timestamp(t):
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary.take(arr.indices)
        raw = arr.to_numpy(zero_copy_only=False).view(np.int64)
        if len(raw):
            _check_time_range(ctx, raw, t.unit, row0, int(raw.min()), int(raw.max()))
        ns = arr.cast(pa.timestamp("ns", tz=t.tz)).to_numpy(zero_copy_only=False).view(np.int64)
        if t.tz is None:  # naive: Europe/Brussels local time, once per distinct minute
            minutes = ns // _MINUTE
            lo = int(minutes.min())
            span = minutes - lo
            uniq = np.flatnonzero(np.bincount(span))
            local = pd.Series(pd.to_datetime((uniq + lo) * _MINUTE))
            try:
                utc = parse_times(local, Path(ctx.source), ctx.fmt, "period_start")
            except CountsError as exc:
                bad = pd.Timestamp(exc.message.split("'")[1]) if "'" in exc.message else None
                i = _first_row(ns == bad.value) if bad is not None else 0
                raise _fail(ctx, row0, i, exc.message, exc.hint or "") from None
            table = np.zeros(int(span.max()) + 1, dtype=np.int64)
            table[uniq] = _ns(utc) - (uniq + lo) * _MINUTE
            return ns + table[span]
        return ns
    codes, values = _dictionary(arr)
    text = pd.Series(values.to_pandas()).astype(str)
    try:
        utc = parse_times(text, Path(ctx.source), ctx.fmt, "period_start")
    except CountsError as exc:
        # the reader names the position in the dictionary: name the row instead
        for j, value in enumerate(text):
            try:
                parse_times(text.iloc[j : j + 1].reset_index(drop=True), Path(ctx.source), ctx.fmt, "period_start")
            except CountsError as one:
                raise _fail(ctx, row0, _first_row(codes == j), one.message, one.hint or "") from None
        raise exc  # pragma: no cover - every failure above is per value
    return _ns(utc)[codes]


def _period(ctx: _Context, arr, row0: int) -> None:
    _null_check(ctx, arr, "period", row0)
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if ctx._periods is not None and pa.types.is_dictionary(arr.type) and ctx._periods.equals(arr.dictionary):
        return  # every entry of this dictionary was checked on an earlier batch
    codes, values = _dictionary(arr)
    labels = pd.Series(values.to_pandas()).astype(str).str.strip()
    used = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    for j in used:
        try:
            p = parse_period(labels.iloc[j])
        except InputError as exc:
            raise _fail(ctx, row0, _first_row(codes == j), exc.message, "use 15min, 1h, 1d, 1w or 1q") from None
        if ctx.base_period is None:
            ctx.base_period = p
        elif p != ctx.base_period:
            raise _fail(ctx, row0, _first_row(codes == j), f"period {labels.iloc[j]!r} differs from {ctx.base_period!r} on earlier rows",
                        "give one period length per counts file")
    if len(used) == len(labels):
        ctx._periods = values


def _constant_period(path: Path) -> str | None:
    """The period of every row, when the Parquet statistics prove it: in every row group of
    every file, ``period`` has no nulls and its smallest and largest value are one valid
    label. The column then need not be read at all (None: read and check it row by row)."""
    import pyarrow.parquet as pq

    labels = set()
    try:
        for f in (sorted(path.glob("*.parquet")) if path.is_dir() else [path]):
            meta = pq.ParquetFile(f).metadata
            names = [meta.schema.column(i).name.lower() for i in range(meta.num_columns)]
            j = names.index("period")
            for r in range(meta.num_row_groups):
                st = meta.row_group(r).column(j).statistics
                if st is None or not st.has_min_max or not st.has_null_count or st.null_count or st.min != st.max:
                    return None
                if not (getattr(st, "is_min_value_exact", True) and getattr(st, "is_max_value_exact", True)):
                    return None
                labels.add(st.min.decode() if isinstance(st.min, bytes) else str(st.min))
    except (ValueError, OSError, TypeError, UnicodeDecodeError):
        return None
    if len(labels) != 1:
        return None
    try:
        return parse_period(labels.pop().strip())
    except InputError:
        return None  # named with its row by the check of the column


def _counts(ctx: _Context, arr, row0: int, cell_ids) -> np.ndarray:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        vals = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bad_text = None
    else:
        text = pd.Series(arr.to_pandas()).astype(str).str.strip()
        vals = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        bad_text = np.isnan(vals) & ~text.str.lower().isin(["nan", "inf", "-inf", "infinity"]).to_numpy()
    if arr.null_count:
        vals = np.where(np.asarray(arr.is_valid()), vals, np.nan)
    if not np.isfinite(vals).all() or (vals < 0).any() or (bad_text is not None and bad_text.any()):
        problems = [
            (bad_text if bad_text is not None else np.zeros(len(vals), bool), "is not a number"),
            (np.isnan(vals), "is NaN (missing)"),
            (np.isinf(vals), "is infinite"),
            (vals < 0, "is negative"),
        ]
        for mask, why in problems:
            if mask.any():
                i = _first_row(mask)
                raise _fail(ctx, row0, i, f"count {arr[i].as_py()!r} {why}", "counts must be non-negative numbers; fix or remove these rows",
                            cell=cell_ids(i))
    return vals


def _origin_groups(ctx: _Context, arr, row0: int, n: int):
    """(group index per row, group codes, factor per row, factor per group, normalised origin per row)."""
    if arr is None:
        f = _factor_of(ctx, np.array([ALL], dtype=object))
        ctx.norm_index.setdefault(ALL, 0)
        return np.zeros(n, dtype=np.int64), np.array([ALL], dtype=object), np.full(n, f[0]), f, np.zeros(n, dtype=np.int64)
    codes, group_of, groups, factor, group_factor = _origin_table(ctx, arr, row0)
    return group_of[codes], groups, factor[codes], group_factor, ctx._origins[5][codes]


def _norm_of(ctx: _Context, col: dict) -> np.ndarray:
    """Normalised origin index per entry of the batch's origin dictionary (after _origin_table)."""
    if "origin" in col:
        return ctx._origins[5]
    ctx.norm_index.setdefault(ALL, 0)
    return np.zeros(1, dtype=np.int64)


def _origin_table(ctx: _Context, arr, row0: int):
    """(code per row, group per dictionary entry, group codes, factor per entry, factor per group)."""
    codes, values = _dictionary(arr)
    cached = ctx._origins
    if cached is not None and cached[0].equals(values):
        _, group_of, groups, factor, group_factor, _, raw, bad = cached
    else:
        raw = pd.Series(values.to_pandas(), dtype=object)
        raw = raw.where(raw.notna(), "")
        norm, levels = normalize_origins(raw)
        bad = (levels == "invalid").to_numpy()
        norm = norm.where(~bad, "unknown")
        factor = _factor_of(ctx, norm.to_numpy(dtype=object))
        rolled = rollup_codes(norm, ctx.origin_level, keep=ctx.keep)
        group_of, groups = pd.factorize(rolled)
        groups = np.asarray(groups, dtype=object)
        per = pd.Series(factor).groupby(group_of)
        group_factor = np.where(per.nunique().to_numpy() == 1, per.first().to_numpy(), np.nan)
        norm_of = np.array([ctx.norm_index.setdefault(str(c), len(ctx.norm_index)) for c in norm], dtype=np.int64)
        ctx._origins = (values, group_of, groups, factor, group_factor, norm_of, raw, bad)
    if bad.any():  # (a dictionary may hold entries this batch does not use: only the rows' own count)
        present = np.bincount(codes[codes >= 0], minlength=len(raw)) > 0 if len(codes) else np.zeros(len(raw), bool)
        if (bad & present).any():
            j = _first_row(bad & present)
            raise _fail(ctx, row0, _first_row(codes == j), f"origin {raw.iloc[j]!r} is not a NIS code, a mobile country code or an ISO country code",
                        "use 5-digit NIS codes (34022), 3-digit MCCs (208) or ISO codes (FR); 'unknown' when not known")
    if (codes < 0).any():  # null origins read as missing: as the reader does, 'unknown'
        raise _fail(ctx, row0, _first_row(codes < 0), "origin is empty", "write 'unknown' when the origin is not known")
    return codes, group_of, groups, factor, group_factor


def _factor_of(ctx: _Context, codes: np.ndarray) -> np.ndarray:
    new = [c for c in pd.unique(codes) if c not in ctx.factors]
    if new:
        ctx.factors.update(market_share_factors(pd.Series(new, dtype=object), ctx.shares))
    return np.array([ctx.factors[c] for c in codes], dtype=float)


def _bin_batch(ctx: _Context, batch, row0: int) -> _Batch:
    """Validate one Arrow record batch and map it to periods, origin groups and weight rows."""
    names = batch.schema.names
    col = {n: batch.column(i) for i, n in enumerate(names)}
    n = batch.num_rows
    _prepare(ctx, batch, row0)
    cell, cell_codes = _cells(ctx, col["cell_id"], row0)
    ids = ctx._cells[2]
    count = _counts(ctx, col["count"], row0, lambda i: ids[cell_codes[i]])
    ns = _times(ctx, col["period_start"], row0)
    group, groups, factor, group_factor, norm = _origin_groups(ctx, col.get("origin"), row0, n)
    index = np.arange(n)
    out = _Batch(bucket=np.empty(0, np.int64), starts=np.empty(0, np.int64), group=group, groups=groups, factors=group_factor,
                 cell=cell, count=count, estimate=np.empty(0), rows=n, total=float(count.sum()))
    unknown = cell < 0
    if unknown.any():
        if ctx.unknown_cells != "drop":
            i = _first_row(unknown)
            bad = pd.unique(ids[cell_codes[unknown]])
            raise _fail(ctx, row0, i, f"cell id {ids[cell_codes[i]]!r} is not in the cell plan ({len(bad)} unknown in this batch)",
                        "check that counts and cell plan belong together, or drop them with --unknown-cells drop")
        keep = ~unknown
        out.dropped_rows, out.dropped_count = int(unknown.sum()), float(count[unknown].sum())
        out.unknown = frozenset(ids[cell_codes[unknown]])
        cell, count, ns, group, factor, norm, index = cell[keep], count[keep], ns[keep], group[keep], factor[keep], norm[keep], index[keep]
    out.cell, out.count, out.group, out.ns, out.norm, out.index = cell, count, group, ns, norm, index
    if len(ns):
        out.first, out.last = int(ns.min()), int(ns.max())
    out.estimate = count / factor
    out.bucket = ctx.minutes.map(ns // _MINUTE) if len(ns) else np.empty(0, np.int64)
    out.starts = np.asarray(ctx.minutes.starts, dtype=np.int64)
    return out


_UNITS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


@functools.cache
def _kernel():
    """The compiled per-row loops (numba), or None where numba is not installed."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency; the NumPy path still works
        return None

    @numba.njit(nogil=True, cache=True)
    def accumulate(ccodes, cell_of, ocodes, group_of, norm_of, times, to_ns, per_minute, m0, period_of, acc_of, counts, obs, ng, nc,
                   seen, present, drop, bits, nbytes, ordered, utimes, uslot, state, buf, start):
        # one pass per row: published period (once per distinct time: rows in time order
        # repeat it), weight row, origin group, whether its key (time, cell, origin) came
        # before (see _Seen), sum, and which origins each period holds. The counts were
        # checked before (NumPy reductions), so the loop only adds. Returns (status, row,
        # dropped rows, total): 0 done, 1 an unknown cell, 2 a row back in time (ordered),
        # 3 the buffer of duplicate rows is full, 4 the keys of this period stop rising and
        # it needs its bits (for 3 and 4: call again from row, the row not yet read)
        dropped = 0
        last, base, pbase, sbase = -1, 0, 0, 0
        prev, rising = state[2], state[3] == 0
        total = counts[:1].sum() * 0  # (of the counts' type: integers are summed exactly)
        for i in range(start, len(ccodes)):
            t = times[i]
            if t != last:
                last = t
                m = t // per_minute - m0
                seen[m] = True
                b = acc_of[period_of[m]]
                base, pbase = b * nc * ng, b * ng
                if ordered:  # a new period: its keys are rising until one is not
                    tn = t * to_ns
                    if tn < state[0]:
                        state[2] = prev
                        return 2, i, dropped, total
                    if tn > state[0]:
                        state[0], state[3], state[4] = tn, 0, i
                        prev, rising = -1, True
                else:
                    sbase = uslot[np.searchsorted(utimes, t)] * nc * nbytes
            v = counts[i]
            c = cell_of[ccodes[i]]
            if c < 0:
                total += v
                if not drop:
                    state[2] = prev
                    return 1, i, dropped, total
                dropped += 1
                continue
            gn = norm_of[ocodes[i]]
            if rising:  # (cell, origin) above the row before's: no key can have come before
                key = (c << 20) | gn
                if key <= prev:
                    state[2] = prev
                    return 4, i, dropped, total
                prev = key
            else:
                k = sbase + c * nbytes + (gn >> 3)
                bit = np.uint8(1 << (gn & 7))
                if bits[k] & bit:  # the same time, cell and origin as an earlier row
                    if state[1] == len(buf):
                        return 3, i, dropped, total
                    buf[state[1]] = i
                    state[1] += 1
                    continue
                bits[k] |= bit
            total += v
            g = group_of[ocodes[i]]
            obs[base + c * ng + g] += v
            present[pbase + g] = True
        state[2] = prev
        return 0, -1, dropped, total

    @numba.njit(nogil=True, cache=True)
    def extremes(counts, times):
        # smallest and largest count (NaN shows as a failed comparison) and time, in one pass
        lo, hi = counts[0], counts[0]
        tlo, thi = times[0], times[0]
        for i in range(len(counts)):
            v, t = counts[i], times[i]
            if not (v >= lo):
                lo = v
            if not (v <= hi):
                hi = v
            tlo, thi = min(tlo, t), max(thi, t)
        return lo, hi, tlo, thi

    return accumulate, extremes


def _keys(cell_of: np.ndarray, norm_of: np.ndarray, ccodes: np.ndarray, ocodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weights row, normalised origin) of these rows, but for unknown cells."""
    c = cell_of[ccodes]
    known = c >= 0
    return c[known], norm_of[ocodes[known]]


def _within(codes: np.ndarray, n: int) -> bool:
    """Whether every code indexes an array of ``n`` entries."""
    return not len(codes) or (int(codes.min()) >= 0 and int(codes.max()) < n)


def _within_dictionary(arr) -> bool:
    import pyarrow as pa

    return not pa.types.is_dictionary(arr.type) or _within(arr.indices.to_numpy(zero_copy_only=False), len(arr.dictionary))


def _fast_batch(ctx: _Context, acc: "_Accumulator", batch, row0: int, info: dict, unknown: set) -> bool:
    """Add one batch with the compiled loop; False (nothing added) where it needs the general
    path: no numba, text or local times, text counts, nulls, or origins with several shares."""
    import pyarrow as pa

    if _kernel() is None:
        return False
    kernel, extremes = _kernel()
    col = {n: batch.column(i) for i, n in enumerate(batch.schema.names)}
    cells, times, counts = col["cell_id"], col["period_start"], col["count"]
    if not (pa.types.is_dictionary(cells.type) and pa.types.is_timestamp(times.type) and times.type.tz is not None
            and (pa.types.is_integer(counts.type) or pa.types.is_floating(counts.type))):
        return False
    if cells.null_count or times.null_count or counts.null_count or ("origin" in col and col["origin"].null_count):
        return False
    _prepare(ctx, batch, row0)
    ccodes = cells.indices.to_numpy(zero_copy_only=False)
    if not _within(ccodes, len(cells.dictionary)) or ("origin" in col and not _within_dictionary(col["origin"])):
        # (Arrow checks a Parquet file's indices; checked again so the compiled loop never meets one out of bounds)
        raise CountsError("holds a text code out of its dictionary's range", path=ctx.source, where=row_label(row0, ctx.fmt),
                          hint="the file is damaged: export it again")
    cell_of = _cell_lookup(ctx, cells.dictionary)
    if "origin" in col:
        ocodes, group_of, groups, _, group_factor = _origin_table(ctx, col["origin"], row0)
    else:
        ocodes, group_of, groups = np.zeros(len(ccodes), np.int8), np.zeros(1, np.int64), np.array([ALL], dtype=object)
        group_factor = _factor_of(ctx, groups)
    if np.isnan(group_factor).any():
        return False
    raw = times.to_numpy(zero_copy_only=False).view(np.int64)
    values = counts.to_numpy(zero_copy_only=False)
    if acc.obs.dtype == np.int32 and not np.issubdtype(values.dtype, np.integer):
        return False  # (a file of the dataset with other types: the general path converts)
    known = (batch.schema.metadata or {}).get(_EXTREMES)
    lowest, highest, lo, hi = json.loads(known) if known else extremes(values, raw)
    if not (lowest >= 0 and np.isfinite(highest)):
        _bin_batch(ctx, batch, row0)  # names the first bad row, and raises
    per_minute = 60 * _UNITS[times.type.unit]
    lo, hi = int(lo), int(hi)
    _check_time_range(ctx, raw, times.type.unit, row0, lo, hi)
    mlo, mhi = lo // per_minute, hi // per_minute
    ctx.minutes.cover(mlo, mhi)
    ordinals = np.unique(ctx.minutes.code[mlo - ctx.minutes.m0 : mhi - ctx.minutes.m0 + 1])
    starts = np.asarray(ctx.minutes.starts, dtype=np.int64)[ordinals]
    bmap, gmap = acc.register(starts, groups, group_factor)
    if any(int(g) in acc.est for g in gmap):
        return False  # registered, but nothing added: the general path sums estimates row by row
    acc_of = np.full(len(ctx.minutes.starts), -1, dtype=np.int64)
    acc_of[ordinals] = bmap
    acc.guard(bmap, float(highest), len(values))
    _, ng, nc = acc.shape
    drop = ctx.unknown_cells == "drop"
    seen = ctx.seen
    norm_of = _norm_of(ctx, col)
    seen.fit(len(ctx.norm_index))
    scale = 10**9 // _UNITS[times.type.unit]
    if seen.ordered:
        utimes, uslot = np.empty(0, np.int64), np.empty(0, np.int64)
    else:
        import pyarrow.compute as pc

        utimes = np.sort(pc.unique(times).to_numpy(zero_copy_only=False).view(np.int64))
        uslot = seen.slots_of(utimes * scale)
    args = (ccodes, cell_of, ocodes, gmap[group_of], norm_of, raw, scale, per_minute, ctx.minutes.m0, ctx.minutes.code, acc_of,
            values, acc.obs.reshape(-1), ng, nc, ctx.minutes.seen, acc.present.reshape(-1), drop, seen.bits.reshape(-1), seen.nbytes,
            seen.ordered, utimes, uslot, seen.state, seen.buffer)
    # one thread: the loop is bound by memory traffic, and a second thread over half the
    # cells measured slower, the other core decoding Parquet
    dropped, total, start = 0, 0, 0
    seen.state[4] = -1  # where the newest period starts in this batch (-1: before it)
    while True:
        status, i, d, tot = kernel(*args, start)
        dropped, total = dropped + d, total + tot
        if status == 3 or (status == 0 and seen.state[1]):  # rows whose key came before: left out, checked at the end
            r = seen.buffer[: seen.state[1]]
            seen.record(row0, r, cells=ctx._cells[2][ccodes[r]], ns=raw[r] * scale, norm=norm_of[ocodes[r]], counts=values[r])
            seen.state[1] = 0
        if status == 4:  # the newest period's keys stopped rising: mark those so far in its bits
            s = max(int(seen.state[4]), 0)
            seen.to_bits(*_keys(cell_of, norm_of, ccodes[s:i], ocodes[s:i]), earlier=seen.state[4] < 0)
        if status in (3, 4):
            start = i
            continue
        break
    if seen.ordered and status == 0 and seen.state[3] == 0:  # keep the newest period's keys, rising, for the next batch
        s = max(int(seen.state[4]), 0)
        seen.hold(*_keys(cell_of, norm_of, ccodes[s:], ocodes[s:]), earlier=seen.state[4] < 0)
    if status == 2:
        raise _Unordered(row0 + int(i))
    if status == 1:
        _bin_batch(ctx, batch, row0)  # names the row as the general path does, and raises
        raise CountsError("a row of this batch is not valid", path=ctx.source, where=row_label(row0 + int(i), ctx.fmt))  # pragma: no cover
    dropped_count = 0.0
    if dropped:
        gone = cell_of[ccodes] < 0
        dropped_count = float(values[gone].sum(dtype=np.float64))
        unknown.update(str(ctx._cells[2][j]) for j in np.unique(ccodes[gone]))
    info["rows"] += batch.num_rows
    info["input_total"] += float(total)
    info["dropped_rows"] += dropped
    info["dropped_count"] += dropped_count
    info["first"], info["last"] = min(info["first"], lo * scale), max(info["last"], hi * scale)
    return True


class _Unordered(Exception):
    """A row earlier in time than the rows before it (the run starts again keeping the keys
    of every counts period: see :class:`_Seen`)."""


class _Seen:
    """Which keys (counts period, cell, origin) the rows read so far hold, a bit each, so
    that exact duplicate rows are found as the memory engine finds them without keeping
    the rows.

    Rows in time order (as operators export them) need the keys of the newest period
    only (``ordered``). While that period's keys rise from row to row (cell, then origin,
    as an export sorted by time, cell and origin has them) none can repeat one before, and
    one comparison a row proves it; the keys so far are held (:meth:`hold`). When a key
    does not rise, they become bits (:meth:`to_bits`: 1 bit per cell and origin, 150 kB
    for 50,000 cells x 19 origins) and each row is looked up. A row that goes back in time
    raises :class:`_Unordered`, and the run starts again with the bits of every period
    (within the memory budget). A row whose key came before is left out; at the end its
    count is compared with the first row of that key (:func:`_check_duplicates`): the
    same count is an exact duplicate, dropped as the memory engine drops it, another
    count an error.
    """

    def __init__(self, n_cells: int, n_origins: int, *, ordered: bool = True, room=lambda: DEFAULT_BUDGET) -> None:
        self.nc = n_cells
        self.nbytes = -(-n_origins // 8)
        self.ordered = ordered
        self.room = room  # bytes of the memory budget the sums leave for the bits
        self.slots: dict[int, int] = {}  # (not ordered) UTC ns of a counts period -> its bits
        self.bits = np.zeros((1 if ordered else 4, n_cells, self.nbytes), dtype=np.uint8)
        # newest time (UTC ns), rows in buffer, last key, 0 while keys rise (1: in the bits),
        # where the newest period starts in the batch
        self.state = np.array([np.iinfo(np.int64).min, 0, -1, 0 if ordered else 1, -1], dtype=np.int64)
        self.buffer = np.empty(4096, dtype=np.int64)
        self.held: list[tuple[np.ndarray, np.ndarray]] = []  # (ordered, keys rising) the newest period's keys
        self.dups: list[pd.DataFrame] = []

    #: Rows of the newest period held as keys at most; past that they become bits.
    HOLD = 1 << 22

    def hold(self, c: np.ndarray, gn: np.ndarray, *, earlier: bool) -> None:
        """Hold the newest period's keys of a batch (``earlier``: the period began in an
        earlier batch, whose keys are held too)."""
        self.held = (self.held if earlier else []) + [(c, gn)]
        if sum(len(k[0]) for k in self.held) > self.HOLD:
            self.to_bits(np.empty(0, np.int64), np.empty(0, np.int64), earlier=True)

    def to_bits(self, c: np.ndarray, gn: np.ndarray, *, earlier: bool) -> None:
        """The newest period's keys from now on in its bits: these and (``earlier``) those held."""
        keys = (self.held if earlier else []) + [(c, gn)]
        c, gn = np.concatenate([k[0] for k in keys]), np.concatenate([k[1] for k in keys])
        flat = self.bits[0].reshape(-1)
        flat[:] = 0
        np.bitwise_or.at(flat, c * self.nbytes + (gn >> 3), (1 << (gn & 7)).astype(np.uint8))
        self.held = []
        self.state[3] = 1

    def fit(self, n_origins: int) -> None:
        """Room for ``n_origins`` normalised origins (a later dictionary may bring new ones)."""
        if n_origins <= 8 * self.nbytes:
            return
        nbytes = -(-n_origins // 8)
        bits = np.zeros((len(self.bits), self.nc, nbytes), dtype=np.uint8)
        bits[:, :, : self.nbytes] = self.bits
        self.bits, self.nbytes = bits, nbytes

    def slots_of(self, ns: np.ndarray) -> np.ndarray:
        """(Not ordered) the bits' index of each of these counts periods (UTC ns), made room for."""
        out = np.array([self.slots.setdefault(int(t), len(self.slots)) for t in ns], dtype=np.int64)
        if len(self.slots) > len(self.bits):
            n = max(len(self.slots), 2 * len(self.bits))
            room = self.room()
            if n * self.nc * self.nbytes > room:
                n = len(self.slots)
            if n * self.nc * self.nbytes > room:
                raise BudgetError(
                    f"finding duplicate rows in counts that are not in time order needs {format_size(n * self.nc * self.nbytes)} "
                    f"({n} periods x {self.nc} cells) besides the sums, more than the memory budget leaves ({format_size(room)})",
                    hint="sort the counts by period_start (rows in time order need almost no memory for it), or raise --memory-budget")
            bits = np.zeros((n, self.nc, self.nbytes), dtype=np.uint8)
            bits[: len(self.bits)] = self.bits
            self.bits = bits
        return out

    def record(self, row0: int, rows: np.ndarray, *, cells, ns, norm, counts) -> None:
        """Rows (of the batch at ``row0``) left out because their key came before."""
        self.dups.append(pd.DataFrame({"row": row0 + np.asarray(rows, dtype=np.int64), "cell_id": np.asarray(cells, dtype=object),
                                       "ns": np.asarray(ns, dtype=np.int64), "norm": np.asarray(norm, dtype=np.int64),
                                       "count": np.asarray(counts, dtype=float)}))

    def filter(self, b: _Batch, row0: int, cell_ids: np.ndarray) -> None:
        """Leave out of a batch (the NumPy path) the rows whose key came before."""
        if not len(b.cell):
            return
        ns, c, gn = b.ns, b.cell.astype(np.int64), b.norm.astype(np.int64)
        self.fit(int(gn.max()) + 1)
        byte, mask = c * self.nbytes + (gn >> 3), (1 << (gn & 7)).astype(np.uint8)
        flat = self.bits.reshape(-1)
        if self.ordered:
            if ns[0] < self.state[0] or (np.diff(ns) < 0).any():
                raise _Unordered(row0 + int(b.index[0]))
            if self.state[3] == 0:  # the newest period's keys were held: in its bits now
                self.to_bits(np.empty(0, np.int64), np.empty(0, np.int64), earlier=ns[0] == self.state[0])
            u, run = np.unique(ns, return_inverse=True)
            key = (run * self.nc + c) * (8 * self.nbytes) + gn
            old = (ns == self.state[0]) & ((flat[byte] & mask) != 0)
        else:
            u, run = np.unique(ns, return_inverse=True)
            slot = self.slots_of(u)[run]
            flat = self.bits.reshape(-1)
            byte = slot * (self.nc * self.nbytes) + byte
            key = byte * 8 + (gn & 7)
            old = (flat[byte] & mask) != 0
        first = np.zeros(len(key), dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True
        dup = old | ~first
        if self.ordered:
            if u[-1] != self.state[0]:
                flat[:] = 0
                self.state[0] = u[-1]
            self.state[2], self.state[3] = -1, 1  # (the newest period's keys are in the bits)
            new = (ns == u[-1]) & ~dup
        else:
            new = ~dup
        np.bitwise_or.at(flat, byte[new], mask[new])
        if dup.any():
            self.record(row0, b.index[dup], cells=cell_ids[c[dup]], ns=ns[dup], norm=gn[dup], counts=b.count[dup])
            b.drop(dup)


class _Accumulator:
    """Sums per (period, origin group, cell), grown as periods and origins appear.

    The observed sums are one dense array laid out (period, cell, origin) in memory, so
    that one cell's origins share a cache line (exposed as (period, origin, cell)). Estimates are the observed sums divided by the
    group's share when every raw origin of the group has the same share (the usual case:
    one share per province or country), so they need no memory of their own; a group
    whose raw origins have different shares gets its own estimate array.
    """

    def __init__(self, n_cells: int, budget: int, periods: int = 0, integral: bool = False) -> None:
        self.n_cells = n_cells
        self.budget = budget
        # whole-number counts are summed in int32 (exact, half the memory and traffic) while
        # an upper bound per period shows that no sum can overflow; then in float64
        self.bound = np.zeros(periods)
        self.starts: dict[int, int] = {}  # period start (ns) -> index (its slot in the sums)
        self.free: list[int] = []  # slots given back by :meth:`release`, for new periods
        self.slots = 0  # slots handed out so far
        self.groups: dict[str, int] = {}  # origin code -> index
        self.factor: dict[int, float] = {}  # group index -> share (NaN: several)
        self.obs = np.zeros((periods, n_cells, 0), dtype=np.int32 if integral else np.float64)  # (period, cell, origin)
        self.est: dict[int, np.ndarray] = {}  # group index -> (periods, cells)
        self.present = np.zeros((periods, 0), dtype=bool)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(periods, origins, cells) of room."""
        b, c, g = self.obs.shape
        return b, g, c

    def _need(self, nb: int, ng: int, extra_est: int = 0, itemsize: int | None = None) -> int:
        size = self.obs.itemsize if itemsize is None else itemsize
        return (nb * ng * size + (len(self.est) + extra_est) * nb * 8) * self.n_cells

    def guard(self, periods: np.ndarray, max_count: float, rows: int) -> None:
        """Before adding ``rows`` counts of at most ``max_count`` to these periods: keep the
        int32 sums only while no sum can reach 2**31 (each is at most the period's bound)."""
        if self.obs.dtype != np.int32 or not len(periods):
            return
        new = self.bound[periods] + float(max_count) * rows
        if new.max() < np.iinfo(np.int32).max:
            self.bound[periods] = new
            return
        self.to_float()

    def to_float(self) -> None:
        """Sum in float64 from now on (exact: the int32 sums are whole numbers below 2**31)."""
        if self.obs.dtype == np.float64:
            return
        b, g, _ = self.shape
        if self._need(b, g, itemsize=8) > self.budget:
            raise self._over(b, g)
        self.obs = self.obs.astype(np.float64)

    def _over(self, nb: int, ng: int) -> BudgetError:
        return BudgetError(
            f"adding up the counts per period, origin and cell needs {format_size(self._need(nb, ng))} "
            f"({nb} periods x {ng} origins x {self.n_cells} cells), more than the memory budget of {format_size(self.budget)}",
            hint="raise --memory-budget, choose a coarser --origin-level or a longer --period, or split the counts by time",
        )

    def reserve(self, nb: int, ng: int) -> None:
        """Make room for ``nb`` periods and ``ng`` origins at once (no copies later), within the budget."""
        nb, ng = max(nb, self.shape[0]), max(ng, self.shape[1])
        if self._need(nb, ng) <= self.budget:
            self._grow(nb, ng, exact=True)

    def _grow(self, nb: int, ng: int, exact: bool = False) -> None:
        b, g, _ = self.shape
        if nb <= b and ng <= g:
            return
        if self._need(nb, ng) > self.budget:
            raise self._over(nb, ng)
        # room to grow, within the budget
        nb, ng = max(nb, b), max(ng, g)
        nb2 = nb if (nb == b or exact) else max(nb, b + b // 4, 4)
        ng2 = ng if (ng == g or exact) else max(ng, g + 4)
        while self._need(nb2, ng2) > self.budget and (nb2 > nb or ng2 > ng):
            nb2, ng2 = max(nb, nb2 - 1), max(ng, ng2 - 1)
        new = np.zeros((nb2, self.n_cells, ng2), dtype=self.obs.dtype)
        new[:b, :, :g] = self.obs
        self.obs = new
        bound = np.zeros(nb2)
        bound[:b] = self.bound[:b]
        self.bound = bound
        p = np.zeros((nb2, ng2), dtype=bool)
        p[:b, :g] = self.present
        self.present = p
        for gi, arr in self.est.items():
            e = np.zeros((nb2, self.n_cells))
            e[:b] = arr
            self.est[gi] = e

    def register(self, starts: np.ndarray, groups: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of these periods (UTC ns) and origin groups (with their shares) in the
        accumulators, which grow to hold them; a group met with another share gets its own
        estimate sums from now on."""
        for s in map(int, starts):
            if s not in self.starts:
                if self.free:
                    self.starts[s] = self.free.pop()
                else:
                    self.starts[s], self.slots = self.slots, self.slots + 1
        bmap = np.array([self.starts[int(s)] for s in starts], dtype=np.int64)
        for g in sorted(set(map(str, groups)) - self.groups.keys()):  # new groups in order (a first batch: all in order)
            self.groups[g] = len(self.groups)
        gmap = np.array([self.groups[str(g)] for g in groups], dtype=np.int64)
        self._grow(self.slots, len(self.groups))
        mixed = []
        for local, gi in enumerate(gmap):
            f = float(factors[local])
            old = self.factor.setdefault(int(gi), f)
            if gi not in self.est and not (old == f):  # NaN != NaN: a mixed group
                mixed.append(int(gi))
        for gi in mixed:  # from now on this group's estimates are summed row by row
            if self._need(*self.shape[:2], extra_est=1) > self.budget:
                raise self._over(*self.shape[:2])
            f = self.factor[gi]
            self.est[gi] = self.obs[:, :, gi] / f if np.isfinite(f) and f > 0 else np.zeros(self.obs.shape[:2])
            self.factor[gi] = np.nan
        return bmap, gmap

    def add(self, batch: _Batch, before=None) -> None:
        """Add a batch; ``before`` (if given) is called once the sums have room for it, and
        may leave rows out of it (duplicates: :meth:`_Seen.filter`)."""
        if not len(batch.cell):
            return
        used_b = np.flatnonzero(np.bincount(batch.bucket, minlength=len(batch.starts)))
        bmap = np.full(len(batch.starts), -1, dtype=np.int64)
        bmap[used_b], gmap = self.register(batch.starts[used_b], batch.groups, batch.factors)
        if before is not None:
            before()
            if not len(batch.cell):
                return
        bidx, g = bmap[batch.bucket], gmap[batch.group]
        if self.obs.dtype == np.int32 and not np.array_equal(batch.count, np.floor(batch.count)):
            self.to_float()  # counts that are not whole numbers
        self.guard(bmap[used_b], float(batch.count.max()), len(batch.count))
        _, ng, nc = self.shape
        flat = (bidx * nc + batch.cell) * ng + g
        np.add.at(self.obs.reshape(-1), flat, batch.count.astype(self.obs.dtype))
        self.present.reshape(-1)[np.flatnonzero(np.bincount(bidx * ng + g, minlength=self.present.size))] = True
        for gi in self.est:
            rows = g == gi
            if rows.any():
                np.add.at(self.est[gi].reshape(-1), bidx[rows] * nc + batch.cell[rows], batch.estimate[rows])

    def release(self, start: int) -> None:
        """Give back the slot of a finished period (its sums read): zeroed, for a new period."""
        i = self.starts.pop(start)
        self.obs[i] = 0
        self.present[i] = False
        self.bound[i] = 0
        for arr in self.est.values():
            arr[i] = 0
        self.free.append(i)

    def view(self, start: int, period: str, divisor: float, cell_ids: np.ndarray) -> CellBins:
        """One period's sums as :class:`CellBins` (views, not copies)."""
        i, ng = self.starts[start], len(self.groups)
        return CellBins(period, np.array([start], dtype="datetime64[ns]"), np.array(list(self.groups), dtype=object),
                        self.obs[i : i + 1, :, :ng].transpose(0, 2, 1), self._factors(), {g: arr[i : i + 1] for g, arr in self.est.items()},
                        self.present[i : i + 1, :ng], np.asarray(cell_ids), np.array([divisor], dtype=float), {})

    def _factors(self) -> np.ndarray:
        return np.array([self.factor.get(g, np.nan) if g not in self.est else np.nan for g in range(len(self.groups))], dtype=float)

    def bins(self, period: str, info: dict, cell_ids: np.ndarray) -> CellBins:
        """The sums as :class:`CellBins`: views of the accumulators, not copies."""
        nb, ng = len(self.starts), len(self.groups)
        starts = np.asarray(list(self.starts), dtype=np.int64).astype("datetime64[ns]")
        names = np.array(list(self.groups), dtype=object)
        factors = self._factors()
        estimates = {g: arr[:nb] for g, arr in self.est.items()}
        sums = self.obs[:nb, :, :ng].transpose(0, 2, 1)  # a view, (period, origin, cell)
        return CellBins(period, starts, names, sums, factors, estimates, self.present[:nb, :ng], np.asarray(cell_ids), np.ones(nb), info)


def _batches(path: Path, batch_rows: int, skip: tuple[str, ...] = ()) -> tuple[Iterator, int]:
    """Arrow record batches of the counts' columns (but those in ``skip``), in order
    (:func:`_read_ahead`), and the number of rows."""
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(path, format="parquet")
        names = [n.lower() for n in dataset.schema.names]
        text = [n for n in dataset.schema.names if n.lower() in ("cell_id", "origin", "period")]
        if text:  # text columns as dictionaries: a cell id is looked up once per entry, not per row
            fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=text))
            dataset = ds.dataset(path, format=fmt)
    except Exception as exc:  # pyarrow raises several classes for a bad file
        raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path,
                          hint="the stream and dask engines read Parquet (a file or a folder of files)") from exc
    schema_names = dataset.schema.names
    wanted = [c for c in _COLUMNS if c in names]
    missing = [c for c in _COLUMNS[:4] if c not in names]
    if missing:
        raise CountsError(f"has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''} (columns: {', '.join(schema_names)})",
                          path=path, hint="a counts file needs the columns cell_id, period_start, period, count")
    wanted = [c for c in wanted if c not in skip]
    cols = [schema_names[names.index(c)] for c in wanted]
    total = dataset.count_rows()
    if not total:
        raise CountsError("has no rows", path=path, hint="export the counts again")

    pieces = [rg for f in dataset.get_fragments() for rg in f.split_by_row_group()]
    return _read_ahead(pieces, dataset.schema, cols, wanted, batch_rows), total


#: Batches a reading thread may hold decoded before the loop takes them.
_READ_AHEAD = 2


#: Schema metadata of a batch from ``_read_ahead``: its counts' and times' extremes, found
#: by the reading thread (the cores' spare time) instead of the loop's.
_EXTREMES = b"geozones.extremes"


def _extremes_of(batch) -> bytes | None:
    """JSON of (smallest count, largest count, earliest time, latest time) of a batch of
    integer or float counts and timestamps without nulls, as ``_fast_batch`` needs them."""
    import pyarrow as pa

    kernels = _kernel()
    if kernels is None or not batch.num_rows:
        return None
    names = batch.schema.names
    if "count" not in names or "period_start" not in names:
        return None
    counts, times = batch.column(names.index("count")), batch.column(names.index("period_start"))
    if counts.null_count or times.null_count or not pa.types.is_timestamp(times.type):
        return None
    if not (pa.types.is_integer(counts.type) or pa.types.is_floating(counts.type)):
        return None
    ext = kernels[1](counts.to_numpy(zero_copy_only=False), times.to_numpy(zero_copy_only=False).view(np.int64))
    return json.dumps([x.item() if hasattr(x, "item") else x for x in ext]).encode()


def _read_ahead(pieces: list, schema, cols: list[str], names: list[str], batch_rows: int, workers: int | None = None) -> Iterator:
    """The batches of these row groups, in order, decoded by ``workers`` threads (default:
    as many as cores) while the caller adds the batches before.

    Each thread takes every ``workers``-th row group and holds at most ``_READ_AHEAD``
    batches decoded: at most ``workers x (_READ_AHEAD + 1)`` batches are in memory,
    whatever the size of the file and however slow the caller. (Arrow's dataset scanner
    read further and further ahead of a slow caller: 142, 221 and 700 MB of buffers for
    10, 30 and 100 M rows.) The threads end with the generator, also when it is not read
    to the end.
    """
    import queue
    import threading

    import pyarrow as pa
    import pyarrow.dataset as ds

    workers = max(1, min(workers or os.cpu_count() or 1, len(pieces)))
    queues = [queue.Queue(_READ_AHEAD) for _ in range(workers)]
    stop = threading.Event()
    end = object()
    opts = ds.ParquetFragmentScanOptions(pre_buffer=False)

    def put(q, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work(k: int) -> None:
        i = k
        try:
            for i in range(k, len(pieces), workers):
                for b in pieces[i].to_batches(schema=schema, columns=cols, batch_size=batch_rows, fragment_scan_options=opts, use_threads=False):
                    if not b.num_rows:
                        continue
                    b = pa.RecordBatch.from_arrays(b.columns, names=names)
                    known = _extremes_of(b)
                    if known is not None:
                        b = b.replace_schema_metadata({_EXTREMES: known})
                    if not put(queues[k], b):
                        return
                if not put(queues[k], end):
                    return
        except (pa.ArrowException, OSError) as exc:  # a damaged file: one line naming it
            piece = pieces[i]
            put(queues[k], CountsError(f"cannot read row group {piece.row_groups[0].id}: {' '.join(str(exc).split())}", path=Path(piece.path),
                                       hint="the Parquet file is damaged: export it again"))
        except BaseException as exc:  # raised in the caller's thread, at its turn
            put(queues[k], exc)

    threads = [threading.Thread(target=work, args=(k,), name=f"geozones-read-{k}", daemon=True) for k in range(workers)]
    for t in threads:
        t.start()
    try:
        for i in range(len(pieces)):
            q = queues[i % workers]
            while (item := q.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                yield item
    finally:
        stop.set()
        for t in threads:
            t.join()


def _progress(total: int, enabled: bool | None):
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, unit=" rows", unit_scale=True, disable=not enabled, file=sys.stderr, desc="counts", leave=False)


def _check(kind: str, stat: str) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown count kind {kind!r}", hint=f"choose one of {', '.join(KINDS)}")
    if stat not in ("mean", "max"):
        raise InputError(f"unknown statistic {stat!r}", hint="choose mean or max")


def _period_checks(ctx: _Context, kind: str) -> None:
    """The published period can be made from the counts' own (once the counts' period is known)."""
    target = ctx.minutes.period
    if ctx.period is not None and period_seconds(ctx.period) < period_seconds(ctx.base_period):
        raise InputError(f"the counts are per {ctx.base_period}; they cannot be split into periods of {ctx.period}",
                         hint=f"choose --period {ctx.base_period} or longer")
    if kind == "unique" and target != ctx.base_period:
        raise CountsError(f"unique counts per {ctx.base_period} cannot be rolled up to {target}: people seen in several periods would be counted again",
                          path=ctx.source, hint=f"give unique counts per {target}, or subscriber-level events")


def _no_rows(ctx: _Context) -> CountsError:
    return CountsError("no row is left after dropping unknown cells", path=ctx.source, hint="check that counts and cell plan belong together")


def _finish(acc: _Accumulator, ctx: _Context, info: dict, kind: str, stat: str) -> CellBins:
    if not acc.starts:
        raise _no_rows(ctx)
    _period_checks(ctx, kind)
    target = ctx.minutes.period
    info.update(factors=dict(sorted(ctx.factors.items())), base_period=ctx.base_period)
    bins = acc.bins(target, info, ctx.weights.cell_ids)
    if kind == "presence" and target != ctx.base_period:
        n = ctx.minutes.periods_inside()
        n.index = np.asarray(ctx.minutes.starts, dtype=np.int64)[n.index.to_numpy()]
        bins.divisor = n.reindex(bins.period_start.view(np.int64)).to_numpy(dtype=float)
    return bins


def stream_counts(
    source: str | os.PathLike[str],
    weights: Weights,
    *,
    period: str | None = "1d",
    kind: str = "presence",
    stat: str = "mean",
    origin_level: str = "province",
    keep: Iterable[str] = (),
    shares: pd.DataFrame | None = None,
    unknown_cells: str = "error",
    memory_budget: int | str = DEFAULT_BUDGET,
    engine: str = "stream",
    scheduler: str | None = None,
    batch_rows: int = _BATCH_ROWS,
    progress: bool | None = None,
    compiled: bool = True,
) -> CellBins:
    """Add counts per cell up per period, origin and cell, reading them in batches.

    Parameters
    ----------
    source : path
        Counts as Parquet (a file, or a folder of files): ``cell_id``, ``period_start``,
        ``period``, ``count`` and optionally ``origin``, as for :func:`geozones.read_counts`.
    weights : Weights
        Gives the cells (rows of the result, in its order).
    period : str or None, default "1d"
        The period to add up to; ``None`` keeps the counts' own period. Presence counts
        become the mean over the counts' periods inside (as :func:`geozones.rollup_counts`),
        events the sum; unique counts are refused unless already at this period.
    kind : {"presence", "unique", "events"}
    stat : {"mean", "max"}
        For presence counts; ``max`` keeps the counts' own period (the maximum is taken
        after apportioning), so it needs a budget for every period of the counts.
    origin_level : {"municipality", "province", "country", "none"}
        Origins are rolled up to this level while reading.
    keep : iterable of str
        Municipality codes left as they are (residents, set apart later).
    shares : pandas.DataFrame, optional
        Market shares (:func:`geozones.read_market_share`); the estimate of a row is its
        count divided by its origin's share.
    unknown_cells : {"error", "drop"}
    memory_budget : int or str, default 2 GB
        Largest size of the sums kept in memory (periods x origins x cells x 16 bytes);
        a run that needs more stops with an error that says how much it needs.
    engine : {"stream", "dask"}
    scheduler : str, optional
        With ``engine="dask"``: the address of a ``distributed`` scheduler
        (``tcp://host:8786``); without it Dask's threaded scheduler runs in process.
    batch_rows : int
        Rows per Arrow batch (stream engine).
    progress : bool, optional
        Show a progress bar on stderr (default: when stderr is a terminal).
    compiled : bool, default True
        Add batches with the compiled loop (numba) where it applies; ``False`` uses NumPy
        only (the same sums, more slowly: the tests compare the two).

    Returns
    -------
    CellBins
    """
    _check(kind, stat)
    if engine not in ("stream", "dask"):
        raise InputError(f"unknown engine {engine!r}", hint="choose stream or dask (or memory, in geozones.run)")
    budget = parse_size(memory_budget)
    path = _parquet_source(source, engine)
    linear = kind == "events" or (kind == "presence" and stat == "mean")
    ctx = _Context(weights=weights, period=parse_period(period) if (period and linear) else None, kind=kind,
                   origin_level=origin_level, keep=frozenset(keep), shares=shares, unknown_cells=unknown_cells, source=str(path))
    if engine == "dask":
        return _dask_bins(path, ctx, budget, scheduler, kind, stat)
    acc, info = _read_sums(path, ctx, budget, batch_rows, progress, compiled)
    return _finish(acc, ctx, info, kind, stat)


def _parquet_source(source: str | os.PathLike[str], engine: str) -> Path:
    path = Path(source)
    if not path.exists():
        raise CountsError("no such file", path=path, hint="check the path")
    if path.is_file() and path.suffix.lower() not in (".parquet", ".pq"):
        raise CountsError(f"the {engine} engine reads Parquet, not {path.suffix or 'this file'}", path=path,
                          hint="convert the counts to Parquet, or use --engine memory")
    return path


def _read_sums(path: Path, ctx: _Context, budget: int, batch_rows: int, progress, compiled: bool, periods=None,
               ordered: bool = True) -> tuple[_Accumulator, dict]:
    """Read the counts into sums, duplicates checked: (accumulator, info).

    With ``periods`` (a :class:`_Periods`), rows in time order are handed over period by
    period as each one ends, and the sums are kept a few periods at a time; rows out of
    time order raise :class:`_Unordered` (the caller reads again without ``periods``).
    """
    # a period proved by the statistics is not read: a third of the decoding
    ctx.base_period = _constant_period(path)
    skip = ("period",) if ctx.base_period else ()
    if ordered:
        try:
            acc, info, unknown = _stream_pass(path, ctx, budget, batch_rows, skip, progress, compiled, ordered=True, periods=periods)
        except _Unordered as back:  # rows out of time order: again, keeping the keys of every period
            if periods is not None:
                raise
            log.info("%s: row %d is earlier than the rows before it; reading again to find duplicate rows in any order", path, back.args[0])
            ordered = False
    if not ordered:
        acc, info, unknown = _stream_pass(path, ctx, budget, batch_rows, skip, progress, compiled, ordered=False)
    if ctx.seen.dups:
        dups = _check_duplicates(path, ctx, pd.concat(ctx.seen.dups, ignore_index=True), batch_rows, skip)
        info["rows"] -= dups
        info["duplicate_rows"] = dups
    _note_duplicates(info, path)
    info["unknown_cells"] = len(unknown)
    info["engine"] = "stream"
    return acc, info


def _stream_pass(path: Path, ctx: _Context, budget: int, batch_rows: int, skip: tuple, progress, compiled: bool, *, ordered: bool,
                 periods=None):
    """One read of the counts into sums: (accumulator, info, unknown cells); ``periods``
    (a :class:`_Periods`) is handed each period that has ended after each batch, and the
    rest at the end."""
    import pyarrow as pa

    # the loop adds one batch while as many threads as cores decode the next ones (on 2
    # cores, 100 M rows, best of 3 in four pairs of processes: 2.66 to 3.18 s of streaming
    # with two decoding threads, 3.26 to 3.54 s with one)
    batches, total = _batches(path, batch_rows, skip=skip)
    acc = None
    info, unknown = _new_info(), set()
    with contextlib.closing(batches), _progress(total, progress) as bar:
        row0 = 0
        for batch in batches:
            if acc is None:  # the first batch's types and dictionary tell the origins; the files' statistics the periods
                count_type = batch.schema.field(batch.schema.names.index("count")).type
                acc = _Accumulator(len(ctx.weights.cell_ids), budget, integral=pa.types.is_integer(count_type))
                hint = _periods_hint(path, _prepare(ctx, batch, row0))
                if periods is not None:
                    periods.start(hint)
                    hint = min(hint, 4)  # (sums for a few periods at a time)
                acc.reserve(hint, _origins_hint(ctx, batch, row0))
                ctx.seen = _Seen(len(ctx.weights.cell_ids), max(len(ctx.norm_index), 1), ordered=ordered,
                                 room=lambda: budget - acc._need(*acc.shape[:2]))
            if not (compiled and _fast_batch(ctx, acc, batch, row0, info, unknown)):
                b = _bin_batch(ctx, batch, row0)
                acc.add(b, lambda: ctx.seen.filter(b, row0, np.asarray(ctx.weights.cell_ids)))
                _tally(info, b, unknown)
            row0 += batch.num_rows
            bar.update(batch.num_rows)
            if periods is not None:
                periods.ended(acc, ctx)
    if periods is not None and acc is not None:
        periods.ended(acc, ctx, last=True)
    return acc, info, unknown


def _check_duplicates(path: Path, ctx: _Context, dups: pd.DataFrame, batch_rows: int, skip: tuple) -> int:
    """How many rows were exact duplicates (the same count as the first row of their key);
    a key with different counts is an error, as in the memory engine. Reads the counts
    again, for the rows of the duplicates' cells only."""
    want = set(dups["cell_id"])
    firsts = []
    batches, _ = _batches(path, batch_rows, skip=skip)
    row0 = 0
    with contextlib.closing(batches):
        for batch in batches:
            col = {n: batch.column(i) for i, n in enumerate(batch.schema.names)}
            codes, values = _dictionary(col["cell_id"])
            ids = pd.Series(values.to_pandas()).astype(str).str.strip()
            rows = np.flatnonzero(ids.isin(want).to_numpy()[codes]) if len(codes) else np.empty(0, np.int64)
            if len(rows):
                sub = batch.take(rows)
                scol = {n: sub.column(i) for i, n in enumerate(sub.schema.names)}
                norm = _origin_groups(ctx, scol.get("origin"), row0, len(rows))[4]
                firsts.append(pd.DataFrame({"row": row0 + rows, "cell_id": ids.to_numpy()[codes[rows]], "ns": _times(ctx, scol["period_start"], row0),
                                            "norm": norm, "count": _counts(ctx, scol["count"], row0, lambda i: "")}))
            row0 += batch.num_rows
    rows = pd.concat(firsts, ignore_index=True)
    rows = rows[~rows["row"].isin(dups["row"])]  # the first row of each key
    both = dups.merge(rows, on=["cell_id", "ns", "norm"], suffixes=("", "_first"), how="left")
    bad = both[~(both["count"] == both["count_first"])]
    if len(bad):
        r = bad.iloc[0]
        same = [int(r["row_first"])] + both.loc[(both["cell_id"] == r["cell_id"]) & (both["ns"] == r["ns"]) & (both["norm"] == r["norm"]), "row"].astype(int).tolist()
        raise _duplicate_error(ctx, r["cell_id"], int(r["ns"]), int(r["norm"]), same)
    return len(dups)


def _note_duplicates(info: dict, path: Path) -> None:
    """Say, as the memory reader does, how many exact duplicate rows were dropped."""
    if info["duplicate_rows"]:
        info["notes"] = [f"{info['duplicate_rows']} exact duplicate rows were dropped"]
        log.warning("%s: %d exact duplicate rows were dropped", path, info["duplicate_rows"])


def _duplicate_error(ctx: _Context, cell: str, ns: int, norm: int | str, rows: list[int]) -> CountsError:
    """The memory engine's error for one key (cell, period, normalised origin: its index
    in ``ctx.norm_index`` or its code) with different counts on these rows."""
    when = pd.Timestamp(ns, tz="UTC").isoformat()
    origin = norm if isinstance(norm, str) else next(code for code, i in ctx.norm_index.items() if i == norm)
    return CountsError(f"cell {cell!r}, period {when!r}, origin {origin!r} has different counts on "
                       f"{', '.join(row_label(x, ctx.fmt) for x in sorted(rows)[:3])}", path=ctx.source,
                       hint="each cell, period and origin must appear once; remove or merge the duplicates")


def _drop_duplicates_in(ctx: _Context, b: _Batch, row0: int) -> int:
    """Leave out the exact duplicate rows of one batch held whole (a Dask partition): how
    many; different counts for one key are an error, as in the memory engine."""
    if not len(b.cell):
        return 0
    key = pd.DataFrame({"ns": b.ns, "c": b.cell, "g": b.norm, "count": b.count})
    again = key.duplicated(["ns", "c", "g"]).to_numpy()
    if not again.any():
        return 0
    differ = key.groupby(["ns", "c", "g"])["count"].transform("nunique").to_numpy() > 1
    if differ.any():
        i = int(np.flatnonzero(differ)[0])
        same = np.flatnonzero(differ & (b.ns == b.ns[i]) & (b.cell == b.cell[i]) & (b.norm == b.norm[i]))
        raise _duplicate_error(ctx, str(ctx.weights.cell_ids[b.cell[i]]), int(b.ns[i]), int(b.norm[i]), (row0 + b.index[same]).tolist())
    b.drop(again)
    return int(again.sum())


def _prepare(ctx: _Context, batch, row0: int) -> _Minutes:
    """Check a batch's period column (unless the file's statistics proved it and it was not
    read), and set up the table of published periods at the first."""
    if "period" in batch.schema.names:
        _period(ctx, batch.column(batch.schema.names.index("period")), row0)
    if ctx.minutes is None:
        ctx.minutes = _Minutes(ctx.period or ctx.base_period)
    return ctx.minutes


def _origins_hint(ctx: _Context, batch, row0: int) -> int:
    """How many origin groups the first batch's origin dictionary holds (1 without origins)."""
    names = batch.schema.names
    if "origin" not in names or batch.column(names.index("origin")).null_count:
        return 1
    return len(_origin_table(ctx, batch.column(names.index("origin")), row0)[2])


def _periods_hint(path: Path, minutes: _Minutes) -> int:
    """How many published periods the counts span, from the Parquet statistics of
    ``period_start`` (0 when they do not tell: text times, local times, no statistics)."""
    ranges = _time_ranges(sorted(path.glob("*.parquet")) if path.is_dir() else [path])
    if not ranges or any(r is None for r in ranges):
        return 0
    first, last = min(r[0] for r in ranges) // _MINUTE, max(r[1] for r in ranges) // _MINUTE
    if last - first > 60 * 24 * 3660:  # more than ten years: not worth a table
        return 0
    minutes.cover(first, last)
    return len(np.unique(minutes.code[first - minutes.m0 : last - minutes.m0 + 1]))


def _new_info() -> dict:
    """What a run has read so far, before any batch (see :func:`_tally`)."""
    return {"rows": 0, "input_total": 0.0, "dropped_rows": 0, "dropped_count": 0.0, "unknown_cells": 0, "duplicate_rows": 0,
            "first": np.iinfo(np.int64).max, "last": np.iinfo(np.int64).min}


def _tally(info: dict, b: _Batch, unknown: set) -> None:
    info["rows"] += b.rows
    info["input_total"] += b.total
    info["dropped_rows"] += b.dropped_rows
    info["dropped_count"] += b.dropped_count
    info["first"], info["last"] = min(info["first"], b.first), max(info["last"], b.last)
    unknown |= b.unknown


def _parquet_file(path: Path, **kwargs):
    """``pyarrow.parquet.ParquetFile`` of a counts file, or one line saying it is damaged."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, **kwargs)
    except Exception as exc:  # Arrow raises several classes for a damaged footer
        raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path, hint="the Parquet file is damaged: export it again") from exc


def _file_batch(path: Path):
    """One counts file as one Arrow record batch of the counts' columns (lower-case names),
    read by Arrow row group by row group, so that a damaged one is named."""
    import pyarrow as pa

    table = read_parquet_table(path, text=("cell_id", "origin", "period"), error=CountsError)
    cols = [n for n in table.column_names if n.lower() in _COLUMNS]
    table = table.select(cols).rename_columns([c.lower() for c in cols]).combine_chunks()
    return table.to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], schema=table.schema)


def _dask_partition(batch, ctx: _Context, offset: int, window: tuple[int, int] | None) -> tuple:
    """Bin one Dask partition into sparse sums: the stream engine's batch step. The keys of
    its rows inside ``window`` (UTC ns, both ends included: the times another partition
    also holds) go with them, so that :func:`_dask_combine` finds duplicates across
    partitions."""
    # lookups of its own: on Dask's threads the partitions share one context object
    ctx = replace(ctx, minutes=None, factors={}, _cells=None, _origins=None, _periods=None, norm_index={}, seen=None)
    b = _bin_batch(ctx, batch, offset)
    dups = _drop_duplicates_in(ctx, b, offset)
    keys = pd.DataFrame({"t": b.starts[b.bucket], "g": b.groups[b.group] if len(b.group) else np.empty(0, object), "c": b.cell})
    sums = pd.DataFrame({"obs": b.count, "est": b.estimate}).groupby([keys["t"], keys["g"], keys["c"]], sort=False).sum()
    exposed = None
    if window is not None and len(b.cell):
        inside = np.flatnonzero((b.ns >= window[0]) & (b.ns <= window[1]))
        if len(inside):
            codes = np.empty(len(ctx.norm_index), dtype=object)
            codes[list(ctx.norm_index.values())] = list(ctx.norm_index)
            # the normalised origin as its code: each partition numbers origins its own way
            exposed = keys.iloc[inside].reset_index(drop=True).assign(
                ns=b.ns[inside], o=codes[b.norm[inside]], count=b.count[inside], est=b.estimate[inside], row=offset + b.index[inside])
    minutes = (np.flatnonzero(ctx.minutes.seen) + ctx.minutes.m0) if ctx.minutes is not None else np.empty(0, np.int64)
    info, unknown = _new_info(), set()
    _tally(info, b, unknown)
    info["rows"] -= dups
    info["duplicate_rows"] = dups
    return sums, minutes, ctx.factors, ctx.base_period, frozenset(unknown), info, exposed


#: Bytes a row held for the duplicate check across Dask partitions: 71 in its frame, and
#: 129 more at the peak of a combine (measured with tracemalloc, a million rows a side).
_EXPOSED_ROW_BYTES = 200


def _dask_combine(a: tuple, b: tuple, ctx: _Context, budget: int) -> tuple:
    """Two partitions' partial results as one, ``a`` before ``b`` in the counts: (sums,
    minutes seen, factors, base period, unknown cells, info, keys held). A row of ``b``
    whose key (time, cell, origin) a row of ``a`` holds is an exact duplicate, taken out of
    the sums, when its count is the same; another count is an error naming both rows."""
    parts = [a[0], b[0]]
    info = {k: a[5][k] + b[5][k] for k in ("rows", "input_total", "dropped_rows", "dropped_count", "duplicate_rows")}
    exposed = a[6] if b[6] is None else b[6] if a[6] is None else pd.concat([a[6], b[6]], ignore_index=True)
    if a[6] is not None and b[6] is not None:
        if len(exposed) * _EXPOSED_ROW_BYTES > budget:
            raise BudgetError(
                f"finding duplicate rows across the files of the counts needs about {format_size(len(exposed) * _EXPOSED_ROW_BYTES)} "
                f"({len(exposed)} rows whose times other files hold too), more than the memory budget of {format_size(budget)}",
                path=ctx.source, hint="write each period's counts to one file (files that do not overlap in time are not checked "
                                      "against each other), use --engine stream, or raise --memory-budget")
        again = exposed.duplicated(["ns", "c", "o"]).to_numpy()
        if again.any():
            later = exposed[again]
            first = exposed[~again].set_index(["ns", "c", "o"]).loc[pd.MultiIndex.from_frame(later[["ns", "c", "o"]])]
            differ = np.flatnonzero(later["count"].to_numpy() != first["count"].to_numpy())
            if len(differ):
                i = differ[0]
                r = later.iloc[i]
                raise _duplicate_error(ctx, str(ctx.weights.cell_ids[int(r["c"])]), int(r["ns"]), str(r["o"]),
                                       [int(first["row"].iloc[i]), int(r["row"])])
            parts.append(pd.DataFrame({"obs": -later["count"].to_numpy(), "est": -later["est"].to_numpy()},
                                      index=pd.MultiIndex.from_frame(later[["t", "g", "c"]])))
            info["rows"] -= int(again.sum())
            info["duplicate_rows"] += int(again.sum())
            exposed = exposed[~again].reset_index(drop=True)
    sums = pd.concat(parts).groupby(level=[0, 1, 2], sort=False).sum()
    minutes = np.union1d(a[1], b[1])
    if a[3] and b[3] and a[3] != b[3]:
        raise CountsError(f"period {b[3]!r} differs from {a[3]!r} in another part of the counts", hint="give one period length per counts file")
    info.update(first=min(a[5]["first"], b[5]["first"]), last=max(a[5]["last"], b[5]["last"]))
    return sums, minutes, {**a[2], **b[2]}, a[3] or b[3], a[4] | b[4], info, exposed


def _time_ranges(files: list[Path]) -> list[tuple[int, int] | None]:
    """The first and last ``period_start`` (UTC ns) of each file, from its Parquet
    statistics (None where they do not tell)."""
    import pyarrow.parquet as pq

    out: list[tuple[int, int] | None] = []
    for f in files:
        lo = hi = None
        try:
            meta = pq.ParquetFile(f).metadata
            names = [meta.schema.column(i).name.lower() for i in range(meta.num_columns)]
            j = names.index("period_start")
            kind = str(meta.schema.column(j).logical_type)
            utc = "timestamp" in kind.lower() and "isAdjustedToUTC=true" in kind
            for r in range(meta.num_row_groups):
                st = meta.row_group(r).column(j).statistics
                if not utc or st is None or not st.has_min_max:
                    lo = None
                    break
                a, b = (pd.Timestamp(x) for x in (st.min, st.max))
                a, b = ((t.tz_localize("UTC") if t.tzinfo is None else t).value for t in (a, b))
                lo, hi = (a if lo is None else min(lo, a)), (b if hi is None else max(hi, b))
        except (ValueError, OSError, TypeError):
            lo = None
        out.append(None if lo is None else (lo, hi))
    return out


def _overlap_windows(ranges: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
    """Per partition, the times (UTC ns) in which another partition may hold rows too (None:
    none, so its rows need no check against the others); all times where a range is unknown."""
    if len(ranges) < 2:
        return [None] * len(ranges)
    if any(r is None for r in ranges):
        return [(np.iinfo(np.int64).min, np.iinfo(np.int64).max)] * len(ranges)
    out: list[tuple[int, int] | None] = []
    for i, (lo, hi) in enumerate(ranges):
        both = [(max(lo, a), min(hi, b)) for j, (a, b) in enumerate(ranges) if j != i and max(lo, a) <= min(hi, b)]
        out.append((min(x[0] for x in both), max(x[1] for x in both)) if both else None)
    return out


def _dask_bins(path: Path, ctx: _Context, budget: int, scheduler: str | None, kind: str, stat: str) -> CellBins:
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - an install without the extra
        raise InputError("the dask engine needs dask", hint="pip install 'geozones[dask]'") from exc

    _batches(path, _BATCH_ROWS)  # the same checks of columns and rows as the stream engine
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    sizes = [_parquet_file(f).metadata.num_rows for f in files]
    offsets = np.cumsum([0] + sizes[:-1]).tolist()
    parts = [dask.delayed(_file_batch)(f) for f in files]  # a partition a file, read by Arrow
    light = _Context(weights=ctx.weights, period=ctx.period, kind=ctx.kind, origin_level=ctx.origin_level, keep=ctx.keep,
                     shares=ctx.shares, unknown_cells=ctx.unknown_cells, source=ctx.source)
    # duplicates across partitions: only rows at times that another partition holds too
    # are checked (none where the files follow each other in time, as exports do)
    ranges = _time_ranges(files)
    partials = [dask.delayed(_dask_partition)(p, light, off, win) for p, off, win in zip(parts, offsets, _overlap_windows(ranges))]
    while len(partials) > 1:  # in pairs, each the earlier rows first
        partials = [dask.delayed(_dask_combine)(*partials[i : i + 2], light, budget) if i + 1 < len(partials) else partials[i]
                    for i in range(0, len(partials), 2)]
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            (result,) = dask.compute(partials[0], scheduler=client)
    else:
        (result,) = dask.compute(partials[0], scheduler="threads")
    sums, minutes, factors, base_period, unknown, info, _ = result
    if unknown and ctx.unknown_cells != "drop":  # pragma: no cover - raised inside the partition
        raise CountsError("cell ids are not in the cell plan", path=ctx.source)
    ctx.factors, ctx.base_period = factors, base_period
    ctx.minutes = _Minutes(ctx.period or base_period)
    if len(minutes):
        ctx.minutes.map(np.asarray(minutes, dtype=np.int64))
    acc = _Accumulator(len(ctx.weights.cell_ids), budget)
    if len(sums):
        idx = sums.index
        t_codes, t_values = pd.factorize(np.asarray(idx.get_level_values(0), dtype=np.int64))
        g_codes, g_values = pd.factorize(np.asarray(idx.get_level_values(1), dtype=object))
        # estimates were summed row by row in the partitions: keep them as they are
        batch = _Batch(bucket=t_codes, starts=np.asarray(t_values, dtype=np.int64), group=g_codes, groups=np.asarray(g_values, dtype=object),
                       factors=np.full(len(g_values), np.nan), cell=np.asarray(idx.get_level_values(2), dtype=np.int64),
                       count=sums["obs"].to_numpy(), estimate=sums["est"].to_numpy(), rows=0, total=0.0)
        acc.add(batch)
    _note_duplicates(info, path)
    info["unknown_cells"] = len(unknown)
    info["engine"] = "dask"
    return _finish(acc, ctx, info, kind, stat)


def apportion_bins(bins: CellBins, weights: Weights, *, dedup_factor: float = 1.0) -> pd.DataFrame:
    """Share the sums of :class:`CellBins` among zones: the zone table, ``outside`` included.

    The same table as :func:`geozones.apportion` on the counts the bins were made from:
    a row for every zone, every period that holds counts and every origin that occurs.
    """
    t_used, o_used = _used(bins)
    nc = bins.sums.shape[2]
    obs = np.concatenate([bins.observed_at(t)[o_used] for t in t_used]) if len(t_used) else np.zeros((0, nc))
    est = np.concatenate([bins.estimate_at(t)[o_used] for t in t_used]) if len(t_used) else obs.copy()
    return zone_table({"observed": obs, "estimate": est}, bins.period_start[t_used], bins.origins[o_used], bins.period, weights, factor=dedup_factor)


def _used(bins: CellBins) -> tuple[np.ndarray, np.ndarray]:
    """Periods and origins that hold counts, each in ascending order."""
    t_order, o_order = bins.order()
    return t_order[bins.present.any(axis=1)[t_order]], o_order[bins.present.any(axis=0)[o_order]]


def _zone_figures(cells: np.ndarray, wt, outside: np.ndarray, factor: float) -> np.ndarray:
    """Zone figures (origins, zones + outside) of one period's figures per origin and cell;
    ``wt`` is the weights transposed (zones x cells), so each zone sums its cells in order.
    The NumPy path; :class:`_Spread` does the same with a compiled loop on both cores."""
    return np.column_stack([(wt @ cells.T).T, cells @ outside]) * factor


@functools.cache
def _spread_kernel(parallel: bool = True):
    """The compiled zone product (numba, threads over zones unless not ``parallel``), or
    None without numba."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    @numba.njit(parallel=parallel, nogil=True, cache=True)
    def spread(bounds, indptr, indices, data, cells, origins, scale, out):
        # out[z, j] = scale[j] * sum over the zone's cells c of weight * cells[c, origins[j]].
        # A cell's origins lie side by side (cells is (cell, origin)), and so do a zone's
        # (out is (zone, origin)): the innermost loop runs over contiguous memory, in SIMD.
        # Zones are split into chunks of equal work, one chunk per task
        ng, no = cells.shape[1], len(origins)
        for ch in numba.prange(len(bounds) - 1):
            acc = np.empty(ng)
            for z in range(bounds[ch], bounds[ch + 1]):
                acc[:] = 0.0
                for k in range(indptr[z], indptr[z + 1]):
                    c, w = indices[k], data[k]
                    for j in range(ng):
                        acc[j] += w * cells[c, j]
                for j in range(no):
                    out[z, j] = acc[origins[j]] * scale[j]

    return spread


class _Spread:
    """Zone figures of one period at a time: each zone's weights times its cells' sums.

    The weights are taken once as rows of zones (``outside`` as a last row) and cut into
    chunks of equal work for the threads; each period then costs one pass over them.
    """

    def __init__(self, weights: Weights, parallel: bool = True) -> None:
        import scipy.sparse as sp

        self.weights = weights
        self.wt = weights.matrix.T.tocsr()
        self.kernel = _spread_kernel(parallel)
        if self.kernel is not None:
            rows = sp.vstack([self.wt, sp.csr_matrix(np.asarray(weights.outside, dtype=float)[None, :])]).tocsr()
            rows.sort_indices()
            self.indptr, self.indices, self.data = rows.indptr.astype(np.int64), rows.indices.astype(np.int32), rows.data.astype(np.float64)
            chunks = max(1, min(len(rows.indptr) - 1, 32 * (os.cpu_count() or 1)))
            bounds = np.searchsorted(self.indptr, np.linspace(0, self.indptr[-1], chunks + 1)[1:-1])
            self.bounds = np.unique(np.concatenate([[0], bounds, [len(self.indptr) - 1]])).astype(np.int64)

    def __call__(self, bins: CellBins, t: int, origins: np.ndarray, estimate: bool, factor: float, out: np.ndarray | None = None) -> np.ndarray:
        """Figures of period ``t`` for these origin indices, into ``out`` of shape
        (zones + 1, origins) (a new array if None); returns ``out``."""
        if out is None:
            out = np.empty((len(self.weights.zone_ids) + 1, len(origins)))
        if self.kernel is None:
            cells = (bins.estimate_at(t) if estimate else bins.observed_at(t))[origins]
            out[:] = _zone_figures(cells, self.wt, self.weights.outside, factor).T
            return out
        idx = np.asarray(origins, dtype=np.int64)
        scale = np.full(len(origins), factor / bins.divisor[t])
        if estimate and bins.estimates:  # origins with several shares: their own estimate sums
            cells = bins.estimate_at(t).T
            scale[:] = factor
        else:
            cells = bins.sums[t].T
            if estimate:
                scale /= bins.factors[origins]
        self.kernel(self.bounds, self.indptr, self.indices, self.data, cells, idx, scale, out)
        return out


_SMALL_RESULT = 64 * 2**20  # bytes: a result below this is an ordinary NumPy array


def _big_array(shape: tuple[int, ...]) -> np.ndarray:
    """A zeroed float64 array for a large result, in ordinary (4 kB) pages.

    NumPy asks the kernel for transparent huge pages for large arrays. On this project's
    virtual machine the first write to fresh huge pages was slow in two of three new
    processes (2.5 and 3.1 s for the national case's 827 MB, 0.24 s in the third), where
    ordinary pages took 0.52 to 0.75 s each time; an anonymous memory map (zeroed by the
    kernel) does not ask for huge pages. Small arrays are left to NumPy. (Not for the
    sums that the zone product reads at random: in ordinary pages they made it 1.3x
    slower, from missed address translations.)
    """
    n = int(np.prod(shape)) * 8
    if n < _SMALL_RESULT:
        return np.zeros(shape)
    import mmap

    # private: a shared anonymous map is backed by shmem, whose page faults cost more
    # (0.42-0.44 s against 0.54-0.56 s to touch 827 MB here)
    if not hasattr(mmap, "MAP_PRIVATE"):  # pragma: no cover - Windows
        return np.zeros(shape)
    return np.frombuffer(mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS), dtype=np.float64).reshape(shape)


def zone_sums(bins: CellBins, weights: Weights, *, dedup_factor: float = 1.0, estimate: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The zone figures of :class:`CellBins` as one dense array, computed period by period.

    The figures of :func:`apportion_bins`, to rounding (about 1e-15 relatively: each
    zone's weighted sum of its cells, then one division per period and origin), at a
    fraction of its memory and time for a national zone set. Like them, figures before
    disclosure control: not for publication.

    Parameters
    ----------
    bins : CellBins
    weights : Weights
        The weights the bins were made with (the same cells, in the same order).
    dedup_factor : float
        Multiplies every figure (unique counts).
    estimate : bool, default False
        The estimates instead of the observed figures.

    Returns
    -------
    (values, period_start, origins, zone_ids)
        ``values`` of shape (periods, origins, zones + 1), ``outside`` last: a view of an
        array laid out (period, zone, origin) in memory (``np.ascontiguousarray`` copies it
        into the order shown). Periods and origins that hold counts, in ascending order.
    """
    t_used, o_used = _used(bins)
    spread = _Spread(weights)
    # laid out (period, zone, origin) in memory, as the product writes it; shown as
    # (period, origin, zone)
    out = _big_array((len(t_used), len(weights.zone_ids) + 1, len(o_used)))
    for i, t in enumerate(t_used):
        spread(bins, t, o_used, estimate, dedup_factor, out=out[i])
    return out.transpose(0, 2, 1), bins.period_start[t_used], bins.origins[o_used], weights.zone_labels


def _table_schema():
    import pyarrow as pa

    return pa.schema([("zone_id", pa.dictionary(pa.int32(), pa.string())), ("period_start", pa.timestamp("ns", tz="UTC")),
                      ("period", pa.string()), ("origin", pa.dictionary(pa.int32(), pa.string())),
                      ("observed", pa.float64()), ("estimate", pa.float64())])


class _PeriodRows:
    """One period of the zone table as Arrow: a row per origin and zone (zones inner), the
    figures given as (origins, zones) raveled. The columns that only depend on the zones,
    the origins and the period label are built once."""

    #: How the table is written: the labels dictionary-encoded, not the figures (their
    #: dictionary would be as large as the column); statistics for the times and figures,
    #: not for the labels (every period's row group holds every zone and origin, and the
    #: labels' statistics took half of the writing: 165 against 104 ms for a national day)
    WRITER = {"use_dictionary": ["zone_id", "period", "origin"], "write_statistics": ["period_start", "observed", "estimate"]}

    def __init__(self, zones, period: str) -> None:
        self.zones, self.period = zones, period
        self._key: tuple | None = None

    def __call__(self, start: int, origins: np.ndarray, observed: np.ndarray, estimate: np.ndarray):
        import pyarrow as pa

        key = tuple(np.asarray(origins).astype(str))
        if key != self._key:
            nz, no = len(self.zones), len(key)
            n = nz * no
            self._key = key
            self._fixed = (pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(nz, dtype=np.int32), no)), self.zones),
                           pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([self.period])).cast(pa.string()),
                           pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.arange(no, dtype=np.int32), nz)), pa.array(list(key), pa.string())))
        zone, period, origin = self._fixed
        when = pa.array(np.full(len(zone), int(start), dtype=np.int64)).view(pa.timestamp("ns", tz="UTC"))
        return pa.Table.from_arrays([zone, when, period, origin, pa.array(observed), pa.array(estimate)], schema=_table_schema())


def write_zone_table(bins: CellBins, weights: Weights, path: str | os.PathLike[str], *, dedup_factor: float = 1.0) -> dict:
    """Write the zone table of :class:`CellBins` to Parquet one period at a time.

    The rows of :func:`apportion_bins` (``zone_id`` and ``origin`` dictionary-encoded; the
    figures computed as :func:`zone_sums` does, equal to rounding),
    for zone tables too large to hold in memory at once: a national run's zones times
    periods times origins. Written to a temporary file and renamed into place (one row
    group per period). :func:`stream_zone_table` does the same from the counts, in one read.

    These are figures before disclosure control, like :func:`geozones.apportion`'s: not
    for publication. Published figures come from :func:`geozones.disclosure_control` and
    :func:`geozones.publish` (as ``geozones apportion`` runs them).

    Returns
    -------
    dict
        ``path``, ``rows``, ``periods``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ._io import atomic_path

    t_used, o_used = _used(bins)
    rows_of = _PeriodRows(pa.array(weights.zone_labels.astype(str)), bins.period)
    rows = 0
    spread = _Spread(weights)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, _table_schema(), **_PeriodRows.WRITER) as writer:
        for t in t_used:
            cols = [spread(bins, t, o_used, est, dedup_factor).T.ravel() for est in (False, True)]
            table = rows_of(int(bins.period_start[t].astype("datetime64[ns]").astype(np.int64)), bins.origins[o_used], *cols)
            writer.write_table(table, row_group_size=max(len(table), 1))
            rows += len(table)
    return {"path": str(path), "rows": rows, "periods": len(t_used)}


class _Periods:
    """Each period handed over (:meth:`emit`) as soon as its last row has been read (rows
    in time order), then its sums given back to the accumulator for the next periods.

    See :func:`stream_zone_sums` and :func:`stream_zone_table`.
    """

    def __init__(self, weights: Weights, kind: str, factor: float) -> None:
        self.weights, self.kind, self.factor = weights, kind, factor
        # on one thread: the other cores are decoding the next rows (OpenMP's threads, which
        # wait for work spinning, took their time)
        self.spread = _Spread(weights, parallel=False)
        self.hint = 0
        self.starts: list[int] = []  # (UTC ns) the periods handed over, in order
        self.present = np.zeros(0, dtype=bool)  # per origin group: it holds counts in a period handed over
        self.names: list[str] = []  # the origin groups so far
        self.period = ""

    def start(self, hint: int) -> None:
        """The counts span ``hint`` periods (0: unknown), from their statistics."""
        self.hint = hint

    def ended(self, acc: _Accumulator, ctx: _Context, last: bool = False) -> None:
        """Hand over the periods that have ended: those before the newest row's (every
        period if ``last``), and give their sums back."""
        if not acc.starts:
            return
        minutes = ctx.minutes
        if last:
            done = sorted(acc.starts)
        else:
            newest = int(ctx.seen.state[0])  # UTC ns of the newest row (rows in time order: no earlier row comes)
            if newest == np.iinfo(np.int64).min:
                return
            current = minutes.starts[minutes.code[newest // _MINUTE - minutes.m0]]
            done = sorted(s for s in acc.starts if s < current)
        if not done:
            return
        if not self.starts:
            _period_checks(ctx, self.kind)
        inside = None
        if self.kind == "presence" and minutes.period != ctx.base_period:  # means over the counts' periods inside
            inside = np.bincount(minutes.code[minutes.seen], minlength=len(minutes.starts))
        self.names, self.period = list(acc.groups), minutes.period
        ng = len(self.names)
        if len(self.present) < ng:
            self.present = np.concatenate([self.present, np.zeros(ng - len(self.present), dtype=bool)])
        for s in done:
            present = acc.present[acc.starts[s], :ng]
            if present.any():
                divisor = 1.0 if inside is None else float(inside[minutes._ordinal[s]])
                self.emit(acc.view(s, minutes.period, divisor, ctx.weights.cell_ids), s, ng)
                self.starts.append(s)
                self.present[:ng] |= present
            acc.release(s)

    def emit(self, bins: CellBins, start: int, ng: int) -> None:  # pragma: no cover - see the subclasses
        raise NotImplementedError

    def close(self) -> None:
        """Let go of what the periods handed over hold (before a second read, or at the end)."""

    def used(self) -> np.ndarray:
        """Indices of the origin groups that hold counts, in ascending order of their codes."""
        names = np.array(self.names, dtype=object)
        order = np.argsort(names.astype(str), kind="stable")
        return order[self.present[order]]


class _DenseSums(_Periods):
    """The zone figures of every period into one dense result (:func:`stream_zone_sums`)."""

    def __init__(self, weights: Weights, kind: str, factor: float, estimate: bool) -> None:
        super().__init__(weights, kind, factor)
        self.estimate = estimate
        self.out: np.ndarray | None = None  # (periods, zones + 1, origins) of room

    def close(self) -> None:
        self.out = None

    def emit(self, bins: CellBins, start: int, ng: int) -> None:
        self._room(ng)
        self.spread(bins, 0, np.arange(ng), self.estimate, self.factor, out=self.out[len(self.starts), :, :ng])

    def _room(self, ng: int) -> None:
        """Room in the result for one more period and ``ng`` origins (grown by copying where
        the statistics did not tell how many periods, or new origins appear)."""
        n, old = len(self.starts), self.out
        if old is not None and n < old.shape[0] and ng <= old.shape[2]:
            return
        if old is None:
            nb = max(self.hint, 1)
        else:
            nb = old.shape[0] if n < old.shape[0] else n + max(1, n // 4)
            ng = max(ng, old.shape[2])
        self.out = _big_array((nb, len(self.weights.zone_ids) + 1, ng))
        if old is not None:
            self.out[:n, :, : old.shape[2]] = old[:n]

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values, period_start, origins) as :func:`zone_sums` gives them."""
        used = self.used()
        values = self.out[: len(self.starts), :, : len(self.names)]
        if not np.array_equal(used, np.arange(values.shape[2])):  # origins met out of order, or without counts
            values = values[:, :, used]
        return values.transpose(0, 2, 1), np.array(self.starts, dtype=np.int64).astype("datetime64[ns]"), np.array(self.names, dtype=object)[used]


class _TableWriter(_Periods):
    """The zone table of every period into Parquet, a row group per period (:func:`stream_zone_table`).

    Each period gets the rows of the origins met so far. Where the origins that hold
    counts turn out to be others (an origin met in a later period, or one that a
    dictionary lists but no row has), the file is written again, a period at a time,
    with rows for those origins only: the rows of :func:`write_zone_table`.
    """

    def __init__(self, weights: Weights, kind: str, factor: float, path: Path) -> None:
        import pyarrow as pa

        super().__init__(weights, kind, factor)
        self.path = path
        self.zones = pa.array(weights.zone_labels.astype(str))
        self.rows_of: _PeriodRows | None = None
        self.writer = None
        self.written: list[tuple[str, ...]] = []  # the origins of each period written
        self.rows = 0
        # Parquet is written on a thread of its own (Arrow lets the GIL go), while the
        # next rows are read: at most WRITING periods wait for it
        self.pool = None
        self.writing: list = []

    #: Periods' tables waiting to be written at most (each about 40 bytes a row)
    WRITING = 2

    def emit(self, bins: CellBins, start: int, ng: int) -> None:
        import pyarrow.parquet as pq

        names = np.array(self.names[:ng], dtype=object)
        order = np.argsort(names.astype(str), kind="stable")
        cols = [self.spread(bins, 0, order, est, self.factor).T.ravel() for est in (False, True)]
        if self.rows_of is None:
            self.rows_of = _PeriodRows(self.zones, self.period)
        table = self.rows_of(start, names[order], *cols)
        if self.writer is None:
            from concurrent.futures import ThreadPoolExecutor

            self.writer = pq.ParquetWriter(self.path, _table_schema(), **_PeriodRows.WRITER)
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="geozones-write")
        while len(self.writing) >= self.WRITING:
            self.writing.pop(0).result()
        self.writing.append(self.pool.submit(self.writer.write_table, table, row_group_size=len(table)))
        self.written.append(tuple(names[order]))
        self.rows += len(table)

    def close(self) -> None:
        """Wait for the writes (raising a write's error) and close the file."""
        try:
            while self.writing:
                self.writing.pop(0).result()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.pool = None
            if self.writer is not None:
                self.writer.close()
                self.writer = None

    def finish(self) -> None:
        """Rows for the origins that hold counts in every period (written again if needed)."""
        import pyarrow.parquet as pq

        from ._io import atomic_path

        self.close()
        want = tuple(np.array(self.names, dtype=object)[self.used()])
        if all(w == want for w in self.written):
            return
        nz = len(self.zones)
        src = pq.ParquetFile(self.path)
        self.rows = 0
        with atomic_path(self.path) as tmp, pq.ParquetWriter(tmp, _table_schema(), **_PeriodRows.WRITER) as writer:
            for k, had in enumerate(self.written):
                got = src.read_row_group(k, columns=["observed", "estimate"])
                where = {o: j for j, o in enumerate(had)}
                cols = []
                for name in ("observed", "estimate"):
                    old = got.column(name).to_numpy().reshape(len(had), nz)
                    new = np.zeros((len(want), nz))
                    for j, o in enumerate(want):
                        if o in where:
                            new[j] = old[where[o]]
                    cols.append(new.ravel())
                table = self.rows_of(self.starts[k], np.array(want, dtype=object), *cols)
                writer.write_table(table, row_group_size=len(table))
                self.rows += len(table)
        self.written = [want] * len(self.written)


def _stream_periods(source, weights: Weights, sink: _Periods, *, period, kind, origin_level, keep, shares, unknown_cells, memory_budget,
                    batch_rows, progress, compiled, fallback):
    """Read the counts handing each period to ``sink`` as it ends; rows out of time order
    are read again keeping every period, and ``fallback(bins)`` gives the result. Returns
    (info, None) or (info, what ``fallback`` returned)."""
    _check(kind, "mean")
    budget = parse_size(memory_budget)
    path = _parquet_source(source, "stream")
    ctx = _Context(weights=weights, period=parse_period(period) if period else None, kind=kind, origin_level=origin_level,
                   keep=frozenset(keep), shares=shares, unknown_cells=unknown_cells, source=str(path))
    try:
        _, info = _read_sums(path, ctx, budget, batch_rows, progress, compiled, periods=sink)
    except _Unordered as back:  # read again, all the sums kept, then their product
        log.info("%s: row %d is earlier than the rows before it; reading again, every period's sums kept", path, back.args[0])
        sink.close()
        acc, info = _read_sums(path, ctx, budget, batch_rows, progress, compiled, ordered=False)
        bins = _finish(acc, ctx, info, kind, "mean")
        return bins.info, fallback(bins)
    if not sink.starts:
        raise _no_rows(ctx)
    info.update(factors=dict(sorted(ctx.factors.items())), base_period=ctx.base_period)
    return info, None


def stream_zone_sums(
    source: str | os.PathLike[str],
    weights: Weights,
    *,
    period: str | None = "1d",
    kind: str = "presence",
    origin_level: str = "province",
    keep: Iterable[str] = (),
    shares: pd.DataFrame | None = None,
    unknown_cells: str = "error",
    memory_budget: int | str = DEFAULT_BUDGET,
    estimate: bool = False,
    dedup_factor: float = 1.0,
    batch_rows: int = _BATCH_ROWS,
    progress: bool | None = None,
    compiled: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """The zone figures of counts in Parquet, read once: :func:`stream_counts` then
    :func:`zone_sums` in one pass.

    Where the rows are in time order (as operators export them), each period's zone
    figures are computed as soon as its last row has been read, and its sums per cell are
    given back for the next period: the sums take a few periods of memory instead of the
    whole quarter's, and the product runs while the next rows are being decoded. Rows out
    of time order are read again as :func:`stream_counts` reads them, then given to
    :func:`zone_sums`: the same figures either way. Like those of :func:`zone_sums`, these
    are figures before disclosure control: not for publication.

    Parameters
    ----------
    source, weights, period, kind, origin_level, keep, shares, unknown_cells, memory_budget, batch_rows, progress, compiled
        As for :func:`stream_counts` (means of presence counts only: ``stat="mean"``; the
        stream engine).
    estimate : bool, default False
        The estimates instead of the observed figures.
    dedup_factor : float
        Multiplies every figure (unique counts).

    Returns
    -------
    (values, period_start, origins, zone_ids, info)
        The first four as :func:`zone_sums` returns them (``values`` of shape (periods,
        origins, zones + 1), ``outside`` last; periods and origins that hold counts, in
        ascending order); ``info`` as :attr:`CellBins.info`.
    """
    sink = _DenseSums(weights, kind, dedup_factor, estimate)

    info, other = _stream_periods(source, weights, sink, period=period, kind=kind, origin_level=origin_level, keep=keep, shares=shares,
                                  unknown_cells=unknown_cells, memory_budget=memory_budget, batch_rows=batch_rows, progress=progress,
                                  compiled=compiled, fallback=lambda bins: zone_sums(bins, weights, dedup_factor=dedup_factor, estimate=estimate))
    return (*(other if other is not None else (*sink.result(), weights.zone_labels)), info)


def stream_zone_table(
    source: str | os.PathLike[str],
    weights: Weights,
    path: str | os.PathLike[str],
    *,
    period: str | None = "1d",
    kind: str = "presence",
    origin_level: str = "province",
    keep: Iterable[str] = (),
    shares: pd.DataFrame | None = None,
    unknown_cells: str = "error",
    memory_budget: int | str = DEFAULT_BUDGET,
    dedup_factor: float = 1.0,
    batch_rows: int = _BATCH_ROWS,
    progress: bool | None = None,
    compiled: bool = True,
) -> dict:
    """Write the zone table of counts in Parquet to Parquet, reading them once:
    :func:`stream_counts` then :func:`write_zone_table` in one pass.

    Where the rows are in time order, each period is written as soon as its last row has
    been read, and the memory holds the sums of a few periods, whatever the span of the
    counts: an hourly table of a national quarter (2,208 periods, whose sums
    :func:`stream_counts` would keep all at once) is written within the default budget.
    Rows out of time order are read again as :func:`stream_counts` reads them (every
    period's sums within ``memory_budget``), then written by :func:`write_zone_table`.
    The rows are those of :func:`write_zone_table`; the file is written to a temporary
    file and renamed into place, and a failed run leaves nothing. Figures before
    disclosure control: not for publication.

    Parameters
    ----------
    source, weights, period, kind, origin_level, keep, shares, unknown_cells, memory_budget, batch_rows, progress, compiled
        As for :func:`stream_zone_sums`.
    path : path
        The Parquet file to write.
    dedup_factor : float
        Multiplies every figure (unique counts).

    Returns
    -------
    dict
        ``path``, ``rows``, ``periods``, and ``info`` as :attr:`CellBins.info`.
    """
    from ._io import atomic_path

    with atomic_path(path) as tmp:
        sink = _TableWriter(weights, kind, dedup_factor, tmp)
        try:
            info, other = _stream_periods(source, weights, sink, period=period, kind=kind, origin_level=origin_level, keep=keep, shares=shares,
                                          unknown_cells=unknown_cells, memory_budget=memory_budget, batch_rows=batch_rows, progress=progress,
                                          compiled=compiled, fallback=lambda bins: write_zone_table(bins, weights, tmp, dedup_factor=dedup_factor))
        finally:
            sink.close()
        if other is not None:
            return {**other, "path": str(path), "info": info}
        sink.finish()
    return {"path": str(path), "rows": sink.rows, "periods": len(sink.starts), "info": info}
