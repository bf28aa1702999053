"""One pass over the counts into sums, and the second pass for duplicates."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..counts import (
    KINDS,
)
from ..errors import CountsError, InputError
from ..origins import no_origin_note
from ..periods import not_nested
from ._batch import (
    _bin_batch,
    _Context,
    _counts,
    _dictionary,
    _new_info,
    _origin_groups,
    _origins_hint,
    _prepare,
    _raw_origins,
    _tally,
    _times,
)
from ._fast import _fast_batch
from ._reading import _batches, _constant_period, _periods_hint, _progress
from ._seen import _Accumulator, _duplicate_error, _same_origin_error, _Seen, _Unordered
from .bins import CellBins

log = logging.getLogger("geozones")


def _check(kind: str, stat: str) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown count kind {kind!r}", hint=f"choose one of {', '.join(KINDS)}")
    if stat not in ("mean", "max"):
        raise InputError(f"unknown statistic {stat!r}", hint="choose mean or max")


def _period_checks(ctx: _Context, kind: str) -> None:
    """The published period can be made from the counts' own (once the counts' period is known)."""
    target = ctx.minutes.period
    problem = None if ctx.period is None else not_nested(ctx.base_period, ctx.period)
    if problem:  # (a probe's weekly counts made months: the week of 26 October all October's)
        raise InputError(problem[0], path=ctx.source, hint=problem[1])
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
    if target != ctx.base_period:
        n = ctx.minutes.periods_inside()
        n.index = np.asarray(ctx.minutes.starts, dtype=np.int64)[n.index.to_numpy()]
        inside = n.reindex(bins.period_start.view(np.int64)).to_numpy(dtype=float)
        # (the counts' own periods in each: a density per period takes a period's counts per one of
        # them, as the memory engine does; a probe's 25-hour day moved on this engine only)
        bins.info["periods_inside"] = inside
        if kind == "presence":
            bins.divisor = inside
    return bins


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
    _note_read(info, path)
    info["unknown_cells"] = len(unknown)
    info["engine"] = "stream"
    return acc, info


def _stream_pass(path: Path, ctx: _Context, budget: int, batch_rows: int, skip: tuple, progress, compiled: bool, *, ordered: bool,
                 periods=None):
    """One read of the counts into sums: (accumulator, info, unknown cells); ``periods``
    (a :class:`_Periods`) is handed each period that has ended after each batch, and the
    rest at the end.
    """
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
    again, for the rows of the duplicates' cells only.
    """
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
                                            "norm": norm, "raw": _raw_origins(sub, np.arange(len(rows))),
                                            "count": _counts(ctx, scol["count"], row0, lambda i: "")}))
            row0 += batch.num_rows
    rows = pd.concat(firsts, ignore_index=True)
    dups = dups.assign(raw=rows.set_index("row")["raw"].reindex(dups["row"]).to_numpy())
    rows = rows[~rows["row"].isin(dups["row"])]  # the first row of each key
    both = dups.merge(rows, on=["cell_id", "ns", "norm"], suffixes=("", "_first"), how="left")
    twin = np.flatnonzero((both["raw"] != both["raw_first"]).to_numpy())
    if len(twin):  # (one key under two codes of its origin: the memory reader's error, whatever the counts)
        r = both.iloc[twin[0]]
        on = both[(both["cell_id"] == r["cell_id"]) & (both["ns"] == r["ns"]) & (both["norm"] == r["norm"])].sort_values("row")
        raise _same_origin_error(ctx, r["cell_id"], int(r["ns"]), int(r["norm"]), [int(r["row_first"])] + on["row"].astype(int).tolist(),
                                 [r["raw_first"]] + list(on["raw"]))
    bad = both[~(both["count"] == both["count_first"])]
    if len(bad):
        r = bad.iloc[0]
        same = [int(r["row_first"])] + both.loc[(both["cell_id"] == r["cell_id"]) & (both["ns"] == r["ns"]) & (both["norm"] == r["norm"]), "row"].astype(int).tolist()
        raise _duplicate_error(ctx, r["cell_id"], int(r["ns"]), int(r["norm"]), same)
    return len(dups)


def _note_read(info: dict, path: Path) -> None:
    """Say, as the memory reader does, how many exact duplicate rows were dropped, and how
    many rows gave no origin.
    """
    notes = info.setdefault("notes", [])
    if info["duplicate_rows"]:
        notes.append(f"{info['duplicate_rows']} exact duplicate rows were dropped")
        log.warning("%s: %d exact duplicate rows were dropped", path, info["duplicate_rows"])
    if info["no_origin_rows"]:
        notes.append(no_origin_note(info["no_origin_rows"]))
        log.warning("%s: %s", path, notes[-1])
