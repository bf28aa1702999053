"""Subscriber-level events larger than memory: read in Arrow batches, checked as
:func:`geozones.read_events` checks them (in Arrow: ids trimmed, cells looked up, origins
normalised once per distinct code), and spilled into buckets of whole devices (by a
hash of the subscriber id), so that ``geozones visitors`` holds one bucket at a time.

A bucket keeps what the indicators need: the device (its id), the cell (a checked index
into the weights' cells, ``-1`` for a cell the plan does not know), the time (UTC, ns) and
the origin.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import csv_delimiter, file_format, row_label
from ..counts import BAD_ORIGIN, BAD_ORIGIN_HINT, parse_times, require_columns
from ..errors import CountsError
from ..origins import ALL, UNKNOWN, normalize_origins

__all__ = ["EventBuckets", "bucket_arrays"]

log = logging.getLogger("geozones")

#: Rows per batch read from an events file.
READ_ROWS = 500_000
#: Bytes a CSV row of events takes, about (to size the buckets before reading).
CSV_ROW_BYTES = 40


def _shifted(exc: CountsError, row0: int) -> CountsError:
    """The error of a batch, naming the row in the whole file."""
    if row0 and exc.where:
        exc.where = re.sub(r"^(line|row) (\d+)", lambda m: f"{m[1]} {int(m[2]) + row0}", exc.where)
    return exc


def _csv_batches(path: Path, rows: int):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "rb") as f:
        raw = f.read(65536)
    encoding = "utf8"
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(raw) - 4:  # (not a character cut by the block's end: the file is not UTF-8)
            encoding = "cp1252"
            log.warning("%s: not UTF-8; read as Windows-1252 (Latin-1)", path)
    head = raw.decode("utf-8-sig" if encoding == "utf8" else "cp1252", errors="replace").split("\n", 1)[0]
    sep = csv_delimiter(head)
    names = [c.strip().lstrip("\ufeff").lower() for c in head.split(sep)]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=max(1 << 20, rows * CSV_ROW_BYTES), encoding=encoding),
        parse_options=pacsv.ParseOptions(delimiter=sep),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False),
    )
    for batch in reader:
        yield batch


def _parquet_batches(path: Path, rows: int):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    names = [n for n in f.schema_arrow.names if n.lower() in ("subscriber_id", "cell_id", "timestamp", "origin")]
    yield from f.iter_batches(batch_size=rows, columns=names)


def _raw_batches(path: Path, fmt: str, rows: int):
    """(first row, Arrow batch with lower-case column names) of a file; a damaged file is one CountsError."""
    import pyarrow as pa

    source = _csv_batches(path, rows) if fmt == "csv" else _parquet_batches(path, rows)
    row0 = 0
    while True:
        try:
            batch = next(source)
        except StopIteration:
            break
        except Exception as exc:  # Arrow's classes for a damaged or malformed file
            if "invalid UTF8" in str(exc):  # (its first block was UTF-8, a later one is not)
                where = f"after row {row0:,}" if row0 else "after its first 64 kB"
                raise CountsError(f"the file is not UTF-8 text {where}", path=path,
                                  hint="save the events as UTF-8 (a spreadsheet's 'CSV UTF-8'), or as Parquet") from None
            raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path,
                              hint=f"check that it is a valid {fmt} file of events, or export it again") from None
        names = [str(c).strip().lstrip("\ufeff").lower() for c in batch.schema.names]
        yield row0, pa.RecordBatch.from_arrays(batch.columns, names=names)
        row0 += batch.num_rows
    if row0 == 0:
        raise CountsError("has no rows", path=path, hint="export the events again")


def _text(col, name: str, path: Path, fmt: str, row0: int):
    """A column as trimmed Arrow text; an empty or missing value is an error naming its row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    text = pc.utf8_trim_whitespace(col.cast(pa.string()))
    bad = pc.fill_null(pc.equal(pc.utf8_length(text), 0), True)
    if pc.any(bad).as_py():
        i = int(pc.index(bad, True).as_py())
        raise CountsError(f"{name} is empty", path=path, where=row_label(row0 + i, fmt), hint=f"every event needs its {name}")
    return text


def _batch(batch, path: Path, fmt: str, row0: int, cells) -> tuple:
    """One batch checked as :func:`geozones.read_events` checks a file, mostly in Arrow.

    Returns (subscriber ids, cell indices, UTC ns, origins).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = batch.schema.names
    require_columns(names, ("subscriber_id", "cell_id", "timestamp"), path, "events")
    sub = _text(batch.column("subscriber_id"), "subscriber_id", path, fmt, row0)
    cell_text = _text(batch.column("cell_id"), "cell_id", path, fmt, row0)
    cell = pc.fill_null(pc.index_in(cell_text, value_set=cells), -1).to_numpy(zero_copy_only=False).astype(np.int32)
    ts = batch.column("timestamp")
    try:
        times = parse_times(pd.Series(ts.to_pandas() if not pa.types.is_dictionary(ts.type) else ts.cast(ts.type.value_type).to_pandas()), path, fmt,
                            "timestamp")
    except CountsError as exc:
        raise _shifted(exc, row0) from None
    utc = pd.DatetimeIndex(times).as_unit("ns").asi8
    if "origin" in names:
        enc = pc.dictionary_encode(batch.column("origin").cast(pa.string()) if not pa.types.is_dictionary(batch.column("origin").type)
                                   else batch.column("origin").cast(batch.column("origin").type.value_type))
        values = pd.Series(enc.dictionary.to_pylist(), dtype=object)
        codes, levels = normalize_origins(values.fillna(""))
        if (levels == "invalid").any():
            j = int(np.flatnonzero((levels == "invalid").to_numpy())[0])
            i = int(np.flatnonzero(enc.indices.to_numpy(zero_copy_only=False) == j)[0])
            raise CountsError(f"origin {values.iloc[j]!r} {BAD_ORIGIN}", path=path, where=row_label(row0 + i, fmt), hint=BAD_ORIGIN_HINT)
        idx = pc.fill_null(enc.indices, len(codes)).to_numpy(zero_copy_only=False)
        origin = pa.array(np.append(codes.to_numpy(dtype=object), UNKNOWN)[idx], pa.string())
    else:
        origin = pa.array(np.full(batch.num_rows, ALL, dtype=object), pa.string())
    return sub, cell, utc, origin


def _checked(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise CountsError("no such file", path=path, hint="check the path")
    if file_format(path) not in ("csv", "parquet"):
        raise CountsError(f"unknown file type {path.suffix!r}", path=path, hint="give the events as .csv or .parquet")
    return path


def _n_rows(path: Path) -> int:
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception as exc:  # a damaged footer
            raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path, hint="export it again") from None
    return max(1, path.stat().st_size // CSV_ROW_BYTES)


class EventBuckets:
    """The events of a file, by bucket of whole devices, ``bucket_rows`` events a bucket or so.

    One bucket stays in memory; more are spilled to Parquet files in a temporary folder
    (removed by :meth:`close`). Iterating gives each bucket as ``(subscriber_id, cell,
    utc_ns, origin)``: ids and origins as Arrow arrays, cells and times as NumPy; its events
    in file order.

    Parameters
    ----------
    path : str or os.PathLike
        The events file.
    cell_ids : array of str
        The weights' cells: each event's cell becomes an index into them (``-1``: unknown).
    optout : set of str, optional
        Subscriber ids dropped as they are read.
    bucket_rows : int
        Events a bucket holds, about.
    on_batch : callable, optional
        Called with every checked batch (after the opt-outs) as ``(subscriber_id, cell,
        utc_ns)``, e.g. to count presence per cell.

    Attributes
    ----------
    span : tuple of int or None
        The first and last event's time (UTC ns) after the opt-outs (None: no event).
    """

    def __init__(self, path, cell_ids, *, optout=None, bucket_rows: int = 2_000_000, on_batch=None, tmpdir=None) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        path = _checked(path)
        fmt = file_format(path)
        self.n_buckets = max(1, -(-_n_rows(path) // bucket_rows))
        optout_ids = pa.array(sorted({x.lower() for x in optout}), pa.string()) if optout else None  # (ids ignoring case: read_optout)
        self.removed_events = 0
        self.removed_ids: set[str] = set()
        self.rows = 0
        self.span: tuple[int, int] | None = None
        self._dir = None
        self._tables: list = []
        writers = {}
        if self.n_buckets > 1:
            self._dir = tempfile.TemporaryDirectory(prefix="geozones-events-", dir=tmpdir)
        cells = pa.array(np.asarray(cell_ids).astype(str), pa.string())
        try:
            for row0, raw in _raw_batches(path, fmt, min(READ_ROWS, bucket_rows)):
                sub, cell, utc, origin = _batch(raw, path, fmt, row0, cells)
                if optout:
                    drop = pc.is_in(pc.utf8_lower(sub), value_set=optout_ids).to_numpy(zero_copy_only=False)
                    if drop.any():
                        self.removed_events += int(drop.sum())
                        self.removed_ids.update(pc.unique(sub.filter(pa.array(drop))).to_pylist())
                        keep = pa.array(~drop)
                        sub, origin, cell, utc = sub.filter(keep), origin.filter(keep), cell[~drop], utc[~drop]
                self.rows += len(cell)
                if len(utc):
                    lo, hi = int(utc.min()), int(utc.max())
                    self.span = (lo, hi) if self.span is None else (min(self.span[0], lo), max(self.span[1], hi))
                if on_batch is not None:
                    on_batch(sub, cell, utc)
                table = pa.table({"subscriber_id": sub, "cell": pa.array(cell), "utc": pa.array(utc), "origin": origin})
                if self.n_buckets == 1:
                    self._tables.append(table)
                    continue
                enc = pc.dictionary_encode(sub)  # (each id hashed once a batch)
                h = pd.util.hash_array(np.asarray(enc.dictionary.to_pylist(), dtype=object)) % np.uint64(self.n_buckets)
                bucket = h[enc.indices.to_numpy(zero_copy_only=False)]
                order = np.argsort(bucket, kind="stable")
                bounds = np.searchsorted(bucket[order], np.arange(self.n_buckets + 1))
                table = table.take(pa.array(order))
                for b in range(self.n_buckets):
                    if bounds[b + 1] > bounds[b]:
                        if b not in writers:
                            import pyarrow.parquet as pq

                            writers[b] = pq.ParquetWriter(Path(self._dir.name) / f"bucket-{b:05d}.parquet", table.schema, compression="lz4")
                        writers[b].write_table(table.slice(bounds[b], bounds[b + 1] - bounds[b]))
        except BaseException:
            for w in writers.values():
                w.close()
            self.close()
            raise
        for w in writers.values():
            w.close()
        self._written = sorted(writers)

    def __len__(self) -> int:
        return self.n_buckets if self._dir is not None else 1

    @property
    def files(self) -> list[Path] | None:
        """The spilled buckets' Parquet files (None when the events stayed in memory)."""
        return None if self._dir is None else [Path(self._dir.name) / f"bucket-{b:05d}.parquet" for b in self._written]

    def __iter__(self):
        import pyarrow as pa

        if self._dir is None:
            if self._tables:
                yield bucket_arrays(pa.concat_tables(self._tables))
            return
        for f in self.files:
            yield bucket_arrays(f)

    def close(self) -> None:
        """Remove the spilled buckets."""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def bucket_arrays(source) -> tuple:
    """A bucket (an Arrow table, or the Parquet file of a spilled one) as the arrays
    :func:`geozones.visitors.device_sums_arrays` takes: ids, cells, UTC ns, origins.
    """
    import pyarrow.parquet as pq

    t = pq.read_table(source) if isinstance(source, (str, Path)) else source
    return t.column("subscriber_id"), t.column("cell").to_numpy(), t.column("utc").to_numpy(), t.column("origin")
