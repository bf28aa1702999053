"""Counts to zone figures in one read: :func:`stream_zone_sums`, :func:`stream_zone_table`, :func:`write_zone_table`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..counts import (
    parse_period,
)
from ..weights import Weights
from ._batch import _BATCH_ROWS, _MINUTE, _Context
from ._passes import _check, _finish, _no_rows, _period_checks, _read_sums
from ._reading import _parquet_source
from ._seen import _Accumulator, _Unordered
from ._spread import _big_array, _Spread
from .bins import DEFAULT_BUDGET, CellBins, parse_size
from .sums import used_cells, zone_sums

__all__ = ['write_zone_table', 'stream_zone_sums', 'stream_zone_table']

log = logging.getLogger("geozones")


def _table_schema():
    import pyarrow as pa

    return pa.schema([("zone_id", pa.dictionary(pa.int32(), pa.string())), ("period_start", pa.timestamp("ns", tz="UTC")),
                      ("period", pa.string()), ("origin", pa.dictionary(pa.int32(), pa.string())),
                      ("observed", pa.float64()), ("estimate", pa.float64())])


class _PeriodRows:
    """One period of the zone table as Arrow: a row per origin and zone (zones inner), the
    figures given as (origins, zones) raveled. The columns that only depend on the zones,
    the origins and the period label are built once.
    """

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

    Parameters
    ----------
    bins : CellBins
        Sums per period, origin and cell (:func:`geozones.stream_counts`).
    weights : Weights
        The weights the bins were made with (the same cells, in the same order).
    path : str or os.PathLike
        The Parquet file to write.
    dedup_factor : float, default 1.0
        Multiplies every figure (unique counts).

    Returns
    -------
    dict
        ``path``, ``rows``, ``periods``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .._io import atomic_path

    t_used, o_used = used_cells(bins)
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
        period if ``last``), and give their sums back.
        """
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
        the statistics did not tell how many periods, or new origins appear).
        """
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

        from .._io import atomic_path

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
    (info, None) or (info, what ``fallback`` returned).
    """
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
    from .._io import atomic_path

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
