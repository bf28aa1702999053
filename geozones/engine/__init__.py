"""Counts larger than memory: stream them through the weights in bounded memory.

A national run (about 50,000 cells, hourly counts with an origin breakdown, a quarter:
hundreds of millions of rows) does not fit in memory as a table, but what it adds up to
does: one number per published period, origin and cell. :func:`stream_counts` reads a
Parquet file (or a folder of Parquet files) with Arrow in record batches and adds each
batch into dense accumulators of that shape; nothing per row is kept. The sums are then
shared among zones exactly as :func:`geozones.apportion` does.

Modules
-------
``bins``
    :class:`CellBins`, the sums per period, origin and cell; memory sizes.
``stream``
    :func:`stream_counts`: counts to :class:`CellBins` on the ``stream`` or ``dask`` engine.
``sums``
    :func:`zone_sums` and :func:`apportion_bins`: cell sums to zone figures.
``tables``
    :func:`stream_zone_sums`, :func:`stream_zone_table`, :func:`write_zone_table`: counts
    to zone figures in one read, each period's product as soon as its last row is read.
Private modules: ``_reading`` (Arrow batches read ahead on threads), ``_batch`` (the checks
and the mapping of one batch), ``_fast`` and ``_kernels`` (the compiled loop, numba),
``_seen`` (accumulator and duplicate keys), ``_passes`` (one read of the counts),
``_dask`` (the dask engine), ``_spread`` (the zone product).

Engines
-------
``memory``
    :func:`geozones.read_counts` and :func:`geozones.apportion`: the counts in a DataFrame.
``stream``
    Bounded memory on one machine, Parquet in Arrow batches.
``dask``
    The same per-batch binning on each file of the counts, summed by Dask on its
    scheduler (threads by default, or a ``distributed`` cluster at an address).

Per batch, the work is done once per *distinct* value wherever it can be: ``cell_id``,
``origin`` and ``period`` are read as Arrow dictionaries, so a cell id is looked up in the
weights once per dictionary entry, not once per row; timestamps become minute numbers, and
a minute's published period comes from a lookup table. The checks are those of
:func:`geozones.read_counts` (numbers, negatives, NaN, infinities, times, clock changes,
origin codes, one period length, unknown cells), each naming the row. A damaged Parquet
file is one :class:`~geozones.errors.CountsError` naming the file and the row group.

The result equals the in-memory path: observed figures exactly for whole-number counts
(sums of integers in float64 do not depend on their order), estimates to rounding (about
1e-15 relatively), as ``tests/test_stream.py`` checks. Rows are fastest in time order
(as an operator exports them); any order gives the same result, more slowly.

Exact duplicate rows are dropped and a key (cell, period, origin) with different counts,
or given under two codes of one origin (208 and FR), is an error, as the in-memory reader
has it, without keeping the rows: a bit per cell and
origin marks the keys of the newest period (rows in time order), or of every period when
the rows are not in time order (the counts are then read again, and the bits count
against the memory budget). The dask engine finds them within each partition (a file),
and across partitions among the rows at times that more than one file holds (from the
files' Parquet statistics: none when the files follow each other in time). ``--stat
max`` needs the zone figures of every hour and is refused when they do not fit in the
budget.
"""

from .bins import DEFAULT_BUDGET, ENGINES, CellBins, format_size, parse_size

__all__ = ["ENGINES", "DEFAULT_BUDGET", "CellBins", "parse_size", "format_size", "stream_counts", "apportion_bins", "used_cells", "zone_sums",
           "write_zone_table", "stream_zone_sums", "stream_zone_table"]

# The rest on first use (PEP 562): a command that only needs the engines' names (every
# command's options) does not load the numba kernels and the readers.
_WHERE = {"stream_counts": "stream", "apportion_bins": "sums", "used_cells": "sums", "zone_sums": "sums", "write_zone_table": "tables",
          "stream_zone_sums": "tables", "stream_zone_table": "tables"}


def __getattr__(name: str):
    import importlib

    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
