"""Counts larger than memory, read in bounded memory: :func:`stream_counts`."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from ..counts import (
    parse_period,
)
from ..errors import InputError
from ..weights import Weights
from ._batch import _BATCH_ROWS, _Context
from ._dask import _dask_bins
from ._passes import _check, _finish, _read_sums
from ._reading import _parquet_source
from .bins import DEFAULT_BUDGET, CellBins, parse_size

__all__ = ['stream_counts']


def stream_counts(
    source: str | os.PathLike[str],
    weights: Weights,
    *,
    period: str | None = "1d",
    kind: str = "presence",
    stat: str = "mean",
    origin_level: str = "province",
    keep: Iterable[str] = (),
    shares: pd.DataFrame | None = None,
    unknown_cells: str = "error",
    memory_budget: int | str = DEFAULT_BUDGET,
    engine: str = "stream",
    scheduler: str | None = None,
    batch_rows: int = _BATCH_ROWS,
    progress: bool | None = None,
    compiled: bool = True,
) -> CellBins:
    """Add counts per cell up per period, origin and cell, reading them in batches.

    Parameters
    ----------
    source : path
        Counts as Parquet (a file, or a folder of files): ``cell_id``, ``period_start``,
        ``period``, ``count`` and optionally ``origin``, as for :func:`geozones.read_counts`.
    weights : Weights
        Gives the cells (rows of the result, in its order).
    period : str or None, default "1d"
        The period to add up to; ``None`` keeps the counts' own period. Presence counts
        become the mean over the counts' periods inside (as :func:`geozones.rollup_counts`),
        events the sum; unique counts are refused unless already at this period.
    kind : {"presence", "unique", "events"}
    stat : {"mean", "max"}
        For presence counts; ``max`` keeps the counts' own period (the maximum is taken
        after apportioning), so it needs a budget for every period of the counts.
    origin_level : {"municipality", "province", "country", "none"}
        Origins are rolled up to this level while reading.
    keep : iterable of str
        Municipality codes left as they are (residents, set apart later).
    shares : pandas.DataFrame, optional
        Market shares (:func:`geozones.read_market_share`); the estimate of a row is its
        count divided by its origin's share.
    unknown_cells : {"error", "drop"}
    memory_budget : int or str, default 2 GB
        Largest size of the sums kept in memory (periods x origins x cells x 16 bytes);
        a run that needs more stops with an error that says how much it needs.
    engine : {"stream", "dask"}
    scheduler : str, optional
        With ``engine="dask"``: the address of a ``distributed`` scheduler
        (``tcp://host:8786``); without it Dask's threaded scheduler runs in process.
    batch_rows : int
        Rows per Arrow batch (stream engine).
    progress : bool, optional
        Show a progress bar on stderr (default: when stderr is a terminal).
    compiled : bool, default True
        Add batches with the compiled loop (numba) where it applies; ``False`` uses NumPy
        only (the same sums, more slowly: the tests compare the two).

    Returns
    -------
    CellBins
    """
    _check(kind, stat)
    if engine not in ("stream", "dask"):
        raise InputError(f"unknown engine {engine!r}", hint="choose stream or dask (or memory, in geozones.run)")
    budget = parse_size(memory_budget)
    path = _parquet_source(source, engine)
    linear = kind == "events" or (kind == "presence" and stat == "mean")
    ctx = _Context(weights=weights, period=parse_period(period) if (period and linear) else None, kind=kind,
                   origin_level=origin_level, keep=frozenset(keep), shares=shares, unknown_cells=unknown_cells, source=str(path))
    if engine == "dask":
        return _dask_bins(path, ctx, budget, scheduler, kind, stat)
    acc, info = _read_sums(path, ctx, budget, batch_rows, progress, compiled)
    return _finish(acc, ctx, info, kind, stat)
