"""The dask engine: a partition a file, binned as the stream engine bins a batch, summed by Dask."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BudgetError, CountsError, InputError
from ._batch import (
    _BATCH_ROWS,
    _Batch,
    _bin_batch,
    _Context,
    _Minutes,
    _new_info,
    _raw_origins,
    _tally,
    add_totals,
)
from ._passes import _finish, _note_read
from ._reading import _batches, _file_batch, _parquet_file, _time_ranges, counts_files
from ._seen import _Accumulator, _drop_duplicates_in, _duplicate_error, _same_origin_error, _twins
from .bins import CellBins, format_size


def _dask_partition(batch, ctx: _Context, offset: int, window: tuple[int, int] | None) -> tuple:
    """Bin one Dask partition into sparse sums: the stream engine's batch step. The keys of
    its rows inside ``window`` (UTC ns, both ends included: the times another partition
    also holds) go with them, so that :func:`_dask_combine` finds duplicates across
    partitions.
    """
    # lookups of its own: on Dask's threads the partitions share one context object
    ctx = replace(ctx, minutes=None, factors={}, _cells=None, _origins=None, _periods=None, norm_index={}, seen=None)
    b = _bin_batch(ctx, batch, offset)
    dups = _drop_duplicates_in(ctx, b, offset, batch)
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
                ns=b.ns[inside], o=codes[b.norm[inside]], raw=_raw_origins(batch, b.index[inside]), count=b.count[inside],
                est=b.estimate[inside], row=offset + b.index[inside])
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
    the sums, when its count is the same; another count is an error naming both rows.
    """
    parts = [a[0], b[0]]
    info = {k: a[5][k] + b[5][k] for k in ("rows", "input_total", "dropped_rows", "dropped_count", "duplicate_rows", "no_origin_rows")}
    info["raw_totals"] = add_totals(dict(a[5].get("raw_totals", {})), b[5].get("raw_totals", {}))
    exposed = a[6] if b[6] is None else b[6] if a[6] is None else pd.concat([a[6], b[6]], ignore_index=True)
    if a[6] is not None and b[6] is not None:
        if len(exposed) * _EXPOSED_ROW_BYTES > budget:
            raise BudgetError(
                f"finding duplicate rows across the files of the counts needs about {format_size(len(exposed) * _EXPOSED_ROW_BYTES, budget)} "
                f"({len(exposed)} rows whose times other files hold too), more than the memory budget of {format_size(budget, len(exposed) * _EXPOSED_ROW_BYTES)}",
                path=ctx.source, hint="write each period's counts to one file (files that do not overlap in time are not checked "
                                      "against each other), use --engine stream, or raise --memory-budget")
        again = exposed.duplicated(["ns", "c", "o"]).to_numpy()
        if again.any():
            twin = _twins(exposed, ["ns", "c", "o"])
            if twin.any():
                r = exposed.iloc[int(np.flatnonzero(twin)[0])]
                on = exposed[(exposed["ns"] == r["ns"]) & (exposed["c"] == r["c"]) & (exposed["o"] == r["o"])].sort_values("row")
                raise _same_origin_error(ctx, str(ctx.weights.cell_ids[int(r["c"])]), int(r["ns"]), str(r["o"]), on["row"].astype(int).tolist(),
                                         list(on["raw"]))
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


def _overlap_windows(ranges: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
    """Per partition, the times (UTC ns) in which another partition may hold rows too (None:
    none, so its rows need no check against the others); all times where a range is unknown.
    """
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
    files = counts_files(path)  # (in the stream engine's order: rows are numbered the same)
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
        from .._cluster import cluster

        with cluster(scheduler) as client:
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
    _note_read(info, path)
    info["unknown_cells"] = len(unknown)
    info["engine"] = "dask"
    return _finish(acc, ctx, info, kind, stat)
