"""Subscriber-level events larger than memory: read in Arrow batches, checked as
:func:`geozones.read_events` checks them, and spilled into buckets of whole devices (by a
hash of the subscriber id), so that ``geozones visitors`` holds one bucket at a time.

A bucket keeps what the indicators need: the device (its id), the cell (a checked index
into the weights' cells, ``-1`` for a cell the plan does not know), the time (UTC, ns) and
the origin.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import file_format
from ..counts import normalize_events
from ..errors import CountsError

__all__ = ["event_batches", "EventBuckets"]

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
        head = f.read(65536).decode("utf-8-sig", errors="replace").split("\n", 1)[0]
    sep = max([",", ";", "\t", "|"], key=head.count)
    names = [c.strip().lstrip("\ufeff").lower() for c in head.split(sep)]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=max(1 << 20, rows * CSV_ROW_BYTES), encoding="utf8"),
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


def event_batches(path: str | os.PathLike[str], rows: int = READ_ROWS) -> Iterator[pd.DataFrame]:
    """The events of a CSV or Parquet file in batches, each checked and normalised.

    Parameters
    ----------
    path : str or os.PathLike
    rows : int
        Rows per batch (about).

    Yields
    ------
    pandas.DataFrame
        As :func:`geozones.read_events` returns them; errors name the row in the file.

    Raises
    ------
    CountsError
        A file that cannot be read (damaged, not CSV or Parquet), a missing column, a bad
        value: one error naming the file and the row.
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise CountsError("no such file", path=path, hint="check the path")
    if fmt not in ("csv", "parquet"):
        raise CountsError(f"unknown file type {path.suffix!r}", path=path, hint="give the events as .csv or .parquet")
    source = _csv_batches(path, rows) if fmt == "csv" else _parquet_batches(path, rows)
    row0 = 0
    while True:
        try:
            batch = next(source)
        except StopIteration:
            break
        except CountsError:
            raise
        except Exception as exc:  # Arrow's classes for a damaged or malformed file
            raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path,
                              hint=f"check that it is a valid {fmt} file of events, or export it again") from None
        df = batch.to_pandas()
        df.columns = [str(c).strip().lstrip("\ufeff").lower() for c in df.columns]
        try:
            out = normalize_events(df, path, fmt)
        except CountsError as exc:
            raise _shifted(exc, row0) from None
        row0 += len(df)
        yield out
    if row0 == 0:
        raise CountsError("has no rows", path=path, hint="export the events again")


def _n_rows(path: Path) -> int:
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception as exc:  # a damaged footer
            raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path, hint="export it again") from None
    return max(1, path.stat().st_size // CSV_ROW_BYTES) if path.exists() else 1


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
    """

    def __init__(self, path, cell_ids, *, optout=None, bucket_rows: int = 2_000_000, on_batch=None, tmpdir=None) -> None:
        import pyarrow as pa

        path = Path(path)
        self.n_buckets = max(1, -(-_n_rows(path) // bucket_rows))
        self.removed_events = 0
        self.removed_ids: set[str] = set()
        self.rows = 0
        self._dir = None
        self._tables: list = []
        writers = {}
        index = pd.Index(np.asarray(cell_ids).astype(str))
        if self.n_buckets > 1:
            self._dir = tempfile.TemporaryDirectory(prefix="geozones-events-", dir=tmpdir)
        try:
            for ev in event_batches(path, min(READ_ROWS, bucket_rows)):
                if optout:
                    drop = ev["subscriber_id"].isin(optout).to_numpy()
                    if drop.any():
                        self.removed_events += int(drop.sum())
                        self.removed_ids.update(ev.loc[drop, "subscriber_id"].unique())
                        ev = ev.loc[~drop]
                self.rows += len(ev)
                cell = index.get_indexer(ev["cell_id"].to_numpy()).astype(np.int32)
                utc = pd.DatetimeIndex(ev["timestamp"]).as_unit("ns").asi8
                sub = pa.array(ev["subscriber_id"].to_numpy(dtype=object), pa.string())
                if on_batch is not None:
                    on_batch(sub, cell, utc)
                table = pa.table({"subscriber_id": sub, "cell": pa.array(cell), "utc": pa.array(utc),
                                  "origin": pa.array(ev["origin"].to_numpy(dtype=object), pa.string())})
                if self.n_buckets == 1:
                    self._tables.append(table)
                    continue
                bucket = pd.util.hash_pandas_object(ev["subscriber_id"], index=False).to_numpy() % np.uint64(self.n_buckets)
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

    def __iter__(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._dir is None:
            tables = [pa.concat_tables(self._tables)] if self._tables else []
        else:
            tables = (pq.read_table(Path(self._dir.name) / f"bucket-{b:05d}.parquet") for b in self._written)
        for t in tables:
            yield t.column("subscriber_id"), t.column("cell").to_numpy(), t.column("utc").to_numpy(), t.column("origin")

    def close(self) -> None:
        """Remove the spilled buckets."""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
