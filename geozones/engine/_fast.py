"""A batch added with the compiled loop, where its columns allow it."""

from __future__ import annotations

import json

import numpy as np

from ..counts import MAX_COUNT
from ..errors import CountsError
from ..origins import ALL
from ._batch import (
    _UNITS,
    _bin_batch,
    _cell_lookup,
    _check_aligned,
    _check_time_range,
    _Context,
    _factor_of,
    _no_origin,
    _norm_of,
    _origin_table,
    _prepare,
    _row_where,
    _time_totals,
    add_totals,
)
from ._kernels import accumulate, extremes
from ._reading import _EXTREMES
from ._seen import _Accumulator, _Unordered


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
    path: no numba, text or local times, text counts, nulls, or origins with several shares.
    """
    import pyarrow as pa

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
        raise CountsError("holds a text code out of its dictionary's range", path=ctx.source, where=_row_where(ctx, row0),
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
    if not (lowest >= 0 and np.isfinite(highest) and highest <= MAX_COUNT):
        _bin_batch(ctx, batch, row0)  # names the first bad row, and raises
    per_minute = 60 * _UNITS[times.type.unit]
    lo, hi = int(lo), int(hi)
    _check_time_range(ctx, raw, times.type.unit, row0, lo, hi)
    import pyarrow.compute as pc

    distinct = pc.unique(times).to_numpy(zero_copy_only=False).view(np.int64)
    scale = 10**9 // _UNITS[times.type.unit]
    _check_aligned(ctx, distinct * scale, row0, lambda: raw * scale)  # (10:30 in hourly counts: a count of no hour)
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
    if seen.ordered:
        utimes, uslot = np.empty(0, np.int64), np.empty(0, np.int64)
    else:
        utimes = np.sort(distinct)
        uslot = seen.slots_of(utimes * scale)
    args = (ccodes, cell_of, ocodes, gmap[group_of], norm_of, raw, scale, per_minute, ctx.minutes.m0, ctx.minutes.code, acc_of,
            values, acc.obs.reshape(-1), ng, nc, ctx.minutes.seen, acc.present.reshape(-1), drop, seen.bits.reshape(-1), seen.nbytes,
            seen.ordered, utimes, uslot, seen.state, seen.buffer)
    # one thread: the loop is bound by memory traffic, and a second thread over half the
    # cells measured slower, the other core decoding Parquet
    dropped, total, start, left_out = 0, 0, 0, []
    seen.state[4] = -1  # where the newest period starts in this batch (-1: before it)
    while True:
        status, i, d, tot = accumulate(*args, start)
        dropped, total = dropped + d, total + tot
        if status == 3 or (status == 0 and seen.state[1]):  # rows whose key came before: left out, checked at the end
            r = seen.buffer[: seen.state[1]]
            left_out.append(r.copy())
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
        raise CountsError("a row of this batch is not valid", path=ctx.source, where=_row_where(ctx, row0 + int(i)))  # pragma: no cover
    dropped_count = 0.0
    kept = None
    if dropped:
        gone = cell_of[ccodes] < 0
        dropped_count = float(values[gone].sum(dtype=np.float64))
        unknown.update(str(ctx._cells[2][j]) for j in np.unique(ccodes[gone]))
        kept = ~gone
    if left_out:
        kept = np.ones(len(values), bool) if kept is None else kept
        kept[np.concatenate(left_out)] = False
    # the network total per period of the counts' own (data quality), as the general path keeps it
    add_totals(info.setdefault("raw_totals", {}), _time_totals(raw if kept is None else raw[kept], values if kept is None else values[kept], scale))
    info["rows"] += batch.num_rows
    info["input_total"] += float(total)
    info["dropped_rows"] += dropped
    info["dropped_count"] += dropped_count
    info["no_origin_rows"] += _no_origin(ctx, ocodes) if "origin" in col else 0
    info["first"], info["last"] = min(info["first"], lo * scale), max(info["last"], hi * scale)
    return True
