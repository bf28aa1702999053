"""Reading the counts' Parquet with Arrow: batches in order, read ahead on threads."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import file_format, read_parquet_table
from ..counts import (
    parse_period,
)
from ..errors import CountsError, InputError
from ._batch import _COLUMNS, _MINUTE, _Minutes
from ._kernels import extremes


def _batches(path: Path, batch_rows: int, skip: tuple[str, ...] = ()) -> tuple[Iterator, int]:
    """Arrow record batches of the counts' columns (but those in ``skip``), in order
    (:func:`_read_ahead`), and the number of rows.
    """
    import pyarrow.dataset as ds

    _not_partitioned_by_a_column(path)
    try:
        dataset = ds.dataset(path, format="parquet")
        names = [n.lower() for n in dataset.schema.names]
        text = [n for n in dataset.schema.names if n.lower() in ("cell_id", "origin", "period")]
        if text:  # text columns as dictionaries: a cell id is looked up once per entry, not per row
            fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=text))
            dataset = ds.dataset(path, format=fmt)
    except Exception as exc:  # pyarrow raises several classes for a bad file
        raise _unreadable(path, exc) from exc
    schema_names = dataset.schema.names
    wanted = [c for c in _COLUMNS if c in names]
    missing = [c for c in _COLUMNS[:4] if c not in names]
    if missing:
        raise CountsError(f"has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''} (columns: {', '.join(schema_names)})",
                          path=path, hint="a counts file needs the columns cell_id, period_start, period, count")
    pieces = _pieces(dataset)
    total = sum(p.row_groups[0].num_rows for p in pieces)
    if not total:
        raise CountsError("has no rows", path=path, hint="export the counts again")
    wanted = [c for c in wanted if c not in skip]
    cols = [schema_names[names.index(c)] for c in wanted]
    return _read_ahead(pieces, cols, wanted, batch_rows), total


def _not_partitioned_by_a_column(path: Path) -> None:
    """Refuse a folder partitioned by one of the counts' columns (``origin=FR/part.parquet``):
    the columns are read from inside the files, so its values would be lost (a probe's
    origins all read as one). Other partitions (``date=2026-07-01/``) are fine.
    """
    if not path.is_dir():
        return
    keys = {p.name.split("=", 1)[0].lower() for p in path.rglob("*=*") if p.is_dir()}
    named = sorted(keys & set(_COLUMNS))
    if named:
        raise CountsError(f"is partitioned by {', '.join(named)} (folders {named[0]}=...): geozones reads the counts' columns from inside the files",
                          path=path, hint=f"write {', '.join(named)} as a column of each file")


def _pieces(dataset) -> list:
    """The row groups of every file of the counts, each file's footer read first: a
    damaged file, or one without a column of the counts that another file has, is one
    error naming it (each file is then read with its own column types: an integer
    ``cell_id`` in one file of a folder is looked up as text, as the dask engine reads it).
    """
    pieces, ref, first = [], None, None
    for frag in dataset.get_fragments():
        where = Path(frag.path)
        try:
            have = {n.lower() for n in frag.physical_schema.names}
            groups = frag.split_by_row_group()
        except Exception as exc:  # pyarrow raises several classes for a bad footer
            raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=where,
                              hint="the Parquet file is damaged: export it again") from exc
        mine = [c for c in _COLUMNS if c in have]
        if ref is None:
            ref, first = mine, where
        elif mine != ref:
            short, other, lacking = (where, first, [c for c in ref if c not in mine]) if set(ref) - set(mine) else \
                (first, where, [c for c in mine if c not in ref])
            raise CountsError(f"has no {', '.join(lacking)} column{'s' if len(lacking) > 1 else ''}, unlike {other.name}", path=short,
                              hint="give every file of the counts the same columns")
        pieces.extend(groups)
    return pieces


def counts_files(path: Path) -> list[Path]:
    """The Parquet files of a counts file or folder (its subfolders too, as Arrow finds
    them: hive-style ``date=2026-07-01/``; names starting ``.`` or ``_`` are left out).
    """
    if not path.is_dir():
        return [path]
    import pyarrow.dataset as ds

    try:
        files = [Path(f) for f in ds.dataset(path, format="parquet").files]
    except Exception as exc:  # pyarrow raises several classes for a bad file
        raise _unreadable(path, exc) from exc
    if not files:
        raise CountsError("is a folder with no counts file in it", path=path,
                          hint="a folder of counts holds Parquet files (its subfolders too)")
    return files


def _unreadable(path: Path, exc: Exception) -> CountsError:
    """The error for counts Arrow cannot open as a dataset, naming the file of a folder
    whose footer is damaged (Arrow reads the first file's to learn the columns).
    """
    import pyarrow.parquet as pq

    for f in (sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))) if path.is_dir() else []):
        try:
            pq.read_metadata(f)
        except Exception as bad:  # (the first such file, in Arrow's order)
            if f.name.lower().endswith((".csv", ".csv.gz")):  # (a folder of CSV files: not a damaged Parquet file)
                return CountsError("is a CSV file in a folder of counts, which the stream and dask engines read as Parquet", path=f,
                                   hint="convert the files to Parquet, or give one CSV file with --engine memory")
            if file_format(f) != "parquet":  # (a README.txt beside the parts: not damaged either)
                return CountsError("is not a Parquet file, in a folder of counts", path=f,
                                   hint="a folder of counts holds Parquet files only: move other files out (names starting . or _ are left alone)")
            return CountsError(f"cannot read the file: {' '.join(str(bad).split())}", path=f, hint="the Parquet file is damaged: export it again")
    return CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path,
                       hint="the stream and dask engines read Parquet (a file or a folder of files)")


#: Batches a reading thread may hold decoded before the loop takes them.
_READ_AHEAD = 2


#: Schema metadata of a batch from ``_read_ahead``: its counts' and times' extremes, found
#: by the reading thread (the cores' spare time) instead of the loop's.
_EXTREMES = b"geozones.extremes"


def _extremes_of(batch) -> bytes | None:
    """JSON of (smallest count, largest count, earliest time, latest time) of a batch of
    integer or float counts and timestamps without nulls, as ``_fast_batch`` needs them.
    """
    import pyarrow as pa

    if not batch.num_rows:
        return None
    names = batch.schema.names
    if "count" not in names or "period_start" not in names:
        return None
    counts, times = batch.column(names.index("count")), batch.column(names.index("period_start"))
    if counts.null_count or times.null_count or not pa.types.is_timestamp(times.type):
        return None
    if not (pa.types.is_integer(counts.type) or pa.types.is_floating(counts.type)):
        return None
    ext = extremes(counts.to_numpy(zero_copy_only=False), times.to_numpy(zero_copy_only=False).view(np.int64))
    return json.dumps([x.item() if hasattr(x, "item") else x for x in ext]).encode()


def _read_ahead(pieces: list, cols: list[str], names: list[str], batch_rows: int, workers: int | None = None) -> Iterator:
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
                for b in pieces[i].to_batches(columns=cols, batch_size=batch_rows, fragment_scan_options=opts, use_threads=False):
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


def _parquet_source(source: str | os.PathLike[str], engine: str) -> Path:
    path = Path(source)
    if not path.exists():
        raise CountsError("no such file", path=path, hint="check the path")
    if path.is_file() and path.suffix.lower() not in (".parquet", ".pq"):
        raise CountsError(f"the {engine} engine reads Parquet, not {path.suffix or 'this file'}", path=path,
                          hint="convert the counts to Parquet, or use --engine memory")
    return path


def _constant_period(path: Path) -> str | None:
    """The period of every row, when the Parquet statistics prove it: in every row group of
    every file, ``period`` has no nulls and its smallest and largest value are one valid
    label. The column then need not be read at all (None: read and check it row by row).
    """
    import pyarrow.parquet as pq

    labels = set()
    try:
        for f in counts_files(path):
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


def _parquet_file(path: Path, **kwargs):
    """``pyarrow.parquet.ParquetFile`` of a counts file, or one line saying it is damaged."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, **kwargs)
    except Exception as exc:  # Arrow raises several classes for a damaged footer
        raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path, hint="the Parquet file is damaged: export it again") from exc


def _file_batch(path: Path):
    """One counts file as one Arrow record batch of the counts' columns (lower-case names),
    read by Arrow row group by row group, so that a damaged one is named.
    """
    import pyarrow as pa

    table = read_parquet_table(path, text=("cell_id", "origin", "period"), error=CountsError)
    cols = [n for n in table.column_names if n.lower() in _COLUMNS]
    table = table.select(cols).rename_columns([c.lower() for c in cols]).combine_chunks()
    return table.to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], schema=table.schema)


def _time_ranges(files: list[Path]) -> list[tuple[int, int] | None]:
    """The first and last ``period_start`` (UTC ns) of each file, from its Parquet
    statistics (None where they do not tell; ``(1, 0)``, a range that meets no other, for a
    file of no rows).
    """
    import pyarrow.parquet as pq

    out: list[tuple[int, int] | None] = []
    for f in files:
        lo = hi = None
        try:
            meta = pq.ParquetFile(f).metadata
            if meta.num_rows == 0:  # (no times: a probe's empty file made dask check every row of the others)
                out.append((1, 0))
                continue
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


def _periods_hint(path: Path, minutes: _Minutes) -> int:
    """How many published periods the counts span, from the Parquet statistics of
    ``period_start`` (0 when they do not tell: text times, local times, no statistics).
    """
    ranges = [r for r in _time_ranges(sorted(path.glob("*.parquet")) if path.is_dir() else [path]) if r is None or r[0] <= r[1]]
    if not ranges or any(r is None for r in ranges):
        return 0
    first, last = min(r[0] for r in ranges) // _MINUTE, max(r[1] for r in ranges) // _MINUTE
    if last - first > 60 * 24 * 3660:  # more than ten years: not worth a table
        return 0
    minutes.cover(first, last)
    return len(np.unique(minutes.code[first - minutes.m0 : last - minutes.m0 + 1]))
