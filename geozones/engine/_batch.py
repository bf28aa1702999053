"""One Arrow batch of counts checked and mapped to periods, origin groups and weight rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._io import row_label
from ..counts import (
    BAD_ORIGIN,
    BAD_ORIGIN_HINT,
    MAX_COUNT,
    TIME_RANGE,
    off_period,
    off_period_message,
    parse_period,
    parse_times,
    period_floor,
    shown_value,
    time_range_error,
)
from ..errors import CountsError, InputError
from ..extrapolate import market_share_factors
from ..origins import ALL, blank_origins, normalize_origins, rollup_codes
from ..weights import Weights

_COLUMNS = ("cell_id", "period_start", "period", "count", "origin")

if TYPE_CHECKING:
    from ._seen import _Seen


_MINUTE = 60 * 10**9


_BATCH_ROWS = 1 << 20


_UNITS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


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
    no_origin: int = 0  # rows that give no origin (read as unknown)
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
    if arr.null_count:  # (an empty value, as the memory reader and a CSV's empty field have it: a code of its own)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        arr = pc.fill_null(arr.cast(pa.string()), "")
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    codes = arr.indices.to_numpy(zero_copy_only=False)
    return codes, arr.dictionary


def _checked_dictionary(ctx: _Context, arr, row0: int):
    """:func:`_dictionary`, refusing an index out of its dictionary's range (a damaged file:
    NumPy would wrap a negative one round to another value, or fail inside the run).
    """
    codes, values = _dictionary(arr)
    bad = (codes < 0) | (codes >= len(values))
    if bad.any():
        raise _fail(ctx, row0, _first_row(bad), "holds a text code out of its dictionary's range", "the file is damaged: export it again")
    return codes, values


def _ns(times: pd.Series) -> np.ndarray:
    """UTC nanoseconds of a tz-aware datetime Series."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _row_where(ctx: _Context, i: int) -> str:
    """Row ``i`` of the counts (from 0) as a user finds it: in a folder of files, the file
    and its own row (the engines number a folder's rows on, file after file).
    """
    folder = Path(ctx.source) if ctx.source else None
    if folder is None or not folder.is_dir():
        return row_label(i, ctx.fmt)
    import pyarrow.parquet as pq

    from ._reading import counts_files

    start = 0
    for f in counts_files(folder):
        n = pq.read_metadata(f).num_rows
        if i < start + n:
            return f"{f.relative_to(folder).as_posix()} row {i - start}"
        start += n
    return row_label(i, ctx.fmt)


def _fail(ctx: _Context, row0: int, i: int, message: str, hint: str, cell=None) -> CountsError:
    where = _row_where(ctx, row0 + i)
    if cell is not None:
        where = f"{where} (cell_id {cell!r})"
    return CountsError(message, path=ctx.source, where=where, hint=hint)


def _check_aligned(ctx: _Context, distinct_ns: np.ndarray, row0: int, ns_of_rows) -> None:
    """Refuse a ``period_start`` that is not the start of the counts' own period, naming
    the first such row (``ns_of_rows()``: the batch's UTC nanoseconds per row, asked for
    only then).
    """
    if ctx.base_period is None or not len(distinct_ns):
        return
    off = off_period(distinct_ns, ctx.base_period)
    if off.any():
        ns = ns_of_rows()
        i = _first_row(np.isin(ns, np.asarray(distinct_ns)[off]))
        message, hint = off_period_message(ns[i], ctx.base_period)
        raise _fail(ctx, row0, i, message, hint)


def _null_check(ctx, arr, name: str, row0: int) -> None:
    if arr.null_count:
        i = _first_row(~np.asarray(arr.is_valid()))
        raise _fail(ctx, row0, i, f"{name} is empty", f"every row needs a {name}")


def _cells(ctx: _Context, arr, row0: int) -> tuple[np.ndarray, np.ndarray]:
    """(row in the weights, dictionary code) of each row's cell."""
    _null_check(ctx, arr, "cell_id", row0)
    codes, values = _checked_dictionary(ctx, arr, row0)
    return _cell_lookup(ctx, values)[codes], codes


def _cell_lookup(ctx: _Context, values) -> np.ndarray:
    """Row in the weights of each entry of a cell_id dictionary (-1: unknown), kept while
    the next batches bring the same dictionary.
    """
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
    batch's times in ``unit``, ``lo`` and ``hi`` their extremes.
    """
    scale = 10**9 // _UNITS[unit]  # nanoseconds a unit
    first, end = (t.value // scale for t in TIME_RANGE)
    if lo < first or hi >= end:
        i = _first_row((raw < first) | (raw >= end))
        raise time_range_error(np.datetime_as_string(raw[i : i + 1].astype(f"datetime64[{unit}]"))[0], ctx.source, _row_where(ctx, row0 + i))
    a, b = lo * scale, hi * scale
    if ctx.span is not None:
        a, b = min(a, ctx.span[0]), max(b, ctx.span[1])
    limit = MAX_SPAN_DAYS * 86400 * 10**9
    if b - a > limit:
        ns = raw * scale
        i = _first_row((ns < b - limit) | (ns > a + limit))
        raise CountsError(f"period_start {np.datetime_as_string(raw[i : i + 1].astype(f'datetime64[{unit}]'))[0]} makes the counts span more "
                          f"than {MAX_SPAN_DAYS // 366} years", path=ctx.source, where=_row_where(ctx, row0 + i),
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
    codes, values = _checked_dictionary(ctx, arr, row0)
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
    codes, values = _checked_dictionary(ctx, arr, row0)
    labels = pd.Series(values.to_pandas()).astype(str).str.strip()
    used = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    for j in used:
        try:
            p = parse_period(labels.iloc[j])
        except InputError as exc:
            raise _fail(ctx, row0, _first_row(codes == j), exc.message, "use 15min, 1h, 1d, 1w, 1mo or 1q") from None
        if ctx.base_period is None:
            ctx.base_period = p
        elif p != ctx.base_period:
            raise _fail(ctx, row0, _first_row(codes == j), f"period {labels.iloc[j]!r} differs from {ctx.base_period!r} on earlier rows",
                        "give one period length per counts file")
    if len(used) == len(labels):
        ctx._periods = values


def _counts(ctx: _Context, arr, row0: int, cell_ids) -> np.ndarray:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        vals = arr.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        bad_text = None
    else:
        text = pd.Series(arr.to_pandas()).astype(str).str.strip()
        vals = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        bad_text = np.isnan(vals) & ~text.str.lower().isin(["nan", "inf", "-inf", "infinity"]).to_numpy()
    if arr.null_count:
        vals = np.where(np.asarray(arr.is_valid()), vals, np.nan)
    if not np.isfinite(vals).all() or (vals < 0).any() or (vals > MAX_COUNT).any() or (bad_text is not None and bad_text.any()):
        fix = "counts must be non-negative numbers; fix or remove these rows"
        problems = [
            (bad_text if bad_text is not None else np.zeros(len(vals), bool), "is not a number", fix),
            (np.isnan(vals), "is NaN (missing)", fix),
            (np.isinf(vals), "is infinite", fix),
            (vals < 0, "is negative", fix),
            (vals > MAX_COUNT, f"is more than {MAX_COUNT:,.0f}: no cell counts so many in one period",
             "check the column's unit and the export; fix or remove these rows"),
        ]
        for mask, why, hint in problems:
            if mask.any():
                i = _first_row(mask)
                v = arr[i].as_py()  # (an empty count: nan, as the memory reader names it)
                raise _fail(ctx, row0, i, f"count {shown_value(float('nan') if v is None else v)} {why}", hint, cell=cell_ids(i))
    return vals


def _origin_groups(ctx: _Context, arr, row0: int, n: int):
    """(group index per row, group codes, factor per row, factor per group, normalised origin
    per row, rows that give no origin).
    """
    if arr is None:
        f = _factor_of(ctx, np.array([ALL], dtype=object))
        ctx.norm_index.setdefault(ALL, 0)
        return np.zeros(n, dtype=np.int64), np.array([ALL], dtype=object), np.full(n, f[0]), f, np.zeros(n, dtype=np.int64), 0
    codes, group_of, groups, factor, group_factor = _origin_table(ctx, arr, row0)
    return group_of[codes], groups, factor[codes], group_factor, ctx._origins[5][codes], _no_origin(ctx, codes)


def _no_origin(ctx: _Context, codes: np.ndarray) -> int:
    """How many of these rows (codes of the batch's origin dictionary, after _origin_table) give no origin."""
    blank = ctx._origins[8]
    return int(np.count_nonzero(blank[codes])) if blank.any() else 0


def _norm_of(ctx: _Context, col: dict) -> np.ndarray:
    """Normalised origin index per entry of the batch's origin dictionary (after _origin_table)."""
    if "origin" in col:
        return ctx._origins[5]
    ctx.norm_index.setdefault(ALL, 0)
    return np.zeros(1, dtype=np.int64)


def _origin_table(ctx: _Context, arr, row0: int):
    """(code per row, group per dictionary entry, group codes, factor per entry, factor per group)."""
    codes, values = _checked_dictionary(ctx, arr, row0)
    cached = ctx._origins
    if cached is not None and cached[0].equals(values):
        _, group_of, groups, factor, group_factor, _, raw, bad, _ = cached
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
        ctx._origins = (values, group_of, groups, factor, group_factor, norm_of, raw, bad, blank_origins(raw))
    if bad.any():  # (a dictionary may hold entries this batch does not use: only the rows' own count)
        present = np.bincount(codes[codes >= 0], minlength=len(raw)) > 0 if len(codes) else np.zeros(len(raw), bool)
        if (bad & present).any():
            j = _first_row(bad & present)
            raise _fail(ctx, row0, _first_row(codes == j), f"origin {raw.iloc[j]!r} {BAD_ORIGIN}", BAD_ORIGIN_HINT)
    return codes, group_of, groups, factor, group_factor


def _raw_origins(batch, rows: np.ndarray) -> np.ndarray:
    """The origin codes as written (stripped) on these rows of a batch: two codes of one
    origin (208 and FR) on one key are an error, as the memory reader has it, whatever
    their counts.
    """
    names = batch.schema.names
    if "origin" not in names:
        return np.full(len(rows), ALL, dtype=object)
    codes, values = _dictionary(batch.column(names.index("origin")))
    raw = pd.Series(values.to_pandas(), dtype=object)
    raw = raw.map(lambda v: "" if pd.isna(v) else str(v).strip()).to_numpy(dtype=object)
    return raw[codes[np.asarray(rows, dtype=np.int64)]]


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
    _check_aligned(ctx, pd.unique(ns), row0, lambda: ns)
    group, groups, factor, group_factor, norm, no_origin = _origin_groups(ctx, col.get("origin"), row0, n)
    index = np.arange(n)
    out = _Batch(bucket=np.empty(0, np.int64), starts=np.empty(0, np.int64), group=group, groups=groups, factors=group_factor,
                 cell=cell, count=count, estimate=np.empty(0), rows=n, total=float(count.sum()), no_origin=no_origin)
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


def _prepare(ctx: _Context, batch, row0: int) -> _Minutes:
    """Check a batch's period column (unless the file's statistics proved it and it was not
    read), and set up the table of published periods at the first.
    """
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


def add_totals(into: dict, more: dict) -> dict:
    """Add one dict of network totals per period start (ns) into another."""
    for key, value in more.items():
        into[key] = into.get(key, 0.0) + value
    return into


def _time_totals(raw: np.ndarray, values: np.ndarray, scale: int) -> dict:
    """The rows' counts added up per time (UTC ns): by runs of one time where the rows are
    in time order (as exports are), else by sorting.
    """
    if not len(raw):
        return {}
    cut = np.flatnonzero(np.diff(raw)) + 1
    if len(cut) > len(raw) // 16:
        u, inv = np.unique(raw, return_inverse=True)
        sums = np.bincount(inv, weights=values.astype(np.float64))
    else:
        first = np.r_[0, cut]
        u, sums = raw[first], np.add.reduceat(values.astype(np.float64), first)
    out: dict = {}
    for t, v in zip((u * scale).tolist(), sums.tolist(), strict=True):
        out[t] = out.get(t, 0.0) + v
    return out


def _new_info() -> dict:
    """What a run has read so far, before any batch (see :func:`_tally`)."""
    return {"rows": 0, "input_total": 0.0, "dropped_rows": 0, "dropped_count": 0.0, "unknown_cells": 0, "duplicate_rows": 0, "no_origin_rows": 0,
            "first": np.iinfo(np.int64).max, "last": np.iinfo(np.int64).min}


def _tally(info: dict, b: _Batch, unknown: set) -> None:
    if b.ns is not None and len(b.ns):  # the network total per period of the counts' own (data quality)
        add_totals(info.setdefault("raw_totals", {}), _time_totals(b.ns, b.count, 1))
    info["rows"] += b.rows
    info["input_total"] += b.total
    info["dropped_rows"] += b.dropped_rows
    info["dropped_count"] += b.dropped_count
    info["no_origin_rows"] += b.no_origin
    info["first"], info["last"] = min(info["first"], b.first), max(info["last"], b.last)
    unknown |= b.unknown
