"""The floor of the aggregation benchmark: a bare scan of the counts' Parquet file.

Kept apart from ``bench_aggregate.py`` so that the whole-process scan imports pyarrow and
nothing else: a process that only reads the file does not load geozones, pandas or
geopandas, and its time is what reading costs.
"""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.dataset as ds

COLUMNS = ["cell_id", "period_start", "period", "count", "origin"]
SCAN4 = [c for c in COLUMNS if c != "period"]


def run_scan(path, columns: list[str] = COLUMNS) -> float:
    """Read these columns as geozones' stream engine reads them, and sum the counts."""
    total = 0
    opts = ds.ParquetFragmentScanOptions(pre_buffer=False)
    for b in ds.dataset(path, format="parquet").to_batches(columns=columns, batch_size=1 << 20, batch_readahead=2, fragment_readahead=1,
                                                           fragment_scan_options=opts, use_threads=True):
        total += pc.sum(b.column(columns.index("count"))).as_py() or 0
    return float(total)
