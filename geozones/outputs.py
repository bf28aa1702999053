"""A run's published files: the zone table in Arrow, its CSV and Parquet (the output
folder replaced as a whole: :mod:`geozones.outfolder`).

The zone table is built on integer codes (zones, periods, origins) and written by Arrow
(``pyarrow.csv`` and Parquet): whole numbers, empty where a figure is suppressed, text in
double quotes. The files of a run are written into a new folder beside the output folder,
which then takes the old one's place in one step (Linux ``renameat2`` with
``RENAME_EXCHANGE``): a run that fails or is killed at any moment leaves the old set of
files or the new one, never a mix. Files in the output folder that are not outputs of a
run (the demo's ``inputs/``, a report) are kept: they are linked into the new folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .counts import TIMEZONE, period_seconds
from .origins import ALL, origin_names
from .outfolder import check_replaceable, discard_folder, new_folder, replace_folder
from .privacy import PUBLISHED, SUPPRESSED

__all__ = ["ZONE_COUNT_COLUMNS", "OUTPUT_NAMES", "local_iso", "iso_times", "output_table", "table_frame", "write_table", "whole_numbers", "zone_summary", "grid_table",
           "new_folder", "replace_folder", "discard_folder", "check_replaceable"]

log = logging.getLogger("geozones")

#: The columns of the published zone table, in order.
ZONE_COUNT_COLUMNS = ["zone_id", "zone_name", "period_start", "period", "origin", "observed", "estimate", "estimate_low", "estimate_high",
                      "status", "n_cells", "fit"]
#: The files a run writes (the output folder may hold others: they are kept).
OUTPUT_NAMES = ("zone_counts.csv", "zone_counts.parquet", "zones.geojson", "weights.parquet", "grid_counts.csv", "map.html", "manifest.json")


def local_iso(ts: pd.Series) -> pd.Series:
    """UTC times as ISO 8601 text in Europe/Brussels local time with its offset.

    Parameters
    ----------
    ts : pandas.Series
        tz-aware times (missing ones allowed).

    Returns
    -------
    pandas.Series
        Text such as ``2026-07-01T00:00:00+02:00`` (None where a time is missing),
        formatted once per distinct time.
    """
    codes, uniq = pd.factorize(ts)
    return pd.Series(np.append(iso_times(uniq), None)[codes], index=ts.index)


def iso_times(times) -> np.ndarray:
    """ISO 8601 Europe/Brussels local text of tz-aware times (see :func:`local_iso`)."""
    local = pd.Series(pd.DatetimeIndex(times).tz_convert(TIMEZONE))
    return local.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True).to_numpy(dtype=object)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, distinct values) of a column, Arrow-backed or not."""
    codes, uniq = pd.factorize(values)
    return codes.astype(np.int64), np.asarray(uniq, dtype=object)


def output_table(published: pd.DataFrame, names: Mapping[str, str], zone_order: Mapping[str, int], fit: pd.DataFrame):
    """The published figures as ``zone_counts`` has them, as an Arrow table.

    Parameters
    ----------
    published : pandas.DataFrame
        Output of :func:`geozones.publish`: ``zone_id``, ``period_start`` (UTC),
        ``period``, ``origin``, ``observed``, ``estimate``, ``status``.
    names : mapping
        Zone name per zone id.
    zone_order : mapping
        Rank of each zone id in the zone files (the table's zone order).
    fit : pandas.DataFrame
        ``n_cells`` and ``fit`` per zone id (:func:`geozones.zone_fit`).

    Returns
    -------
    pyarrow.Table
        Columns :data:`ZONE_COUNT_COLUMNS`; rows by zone (in the zone files' order),
        period length, period start and origin (``all`` first, then by code).
        ``observed`` and ``estimate`` are float (null where suppressed).
    """
    import pyarrow as pa

    ids = np.asarray(list(zone_order), dtype=object)
    z = pd.Index(ids).get_indexer(published["zone_id"])
    p_code, p_uniq = _codes(published["period"])
    t_code, t_uniq = _codes(published["period_start"])
    o_code, o_uniq = _codes(published["origin"])
    s_code, s_uniq = _codes(published["status"])
    o_rank = np.empty(len(o_uniq), np.int64)
    o_rank[np.lexsort((o_uniq.astype(str), o_uniq != ALL))] = np.arange(len(o_uniq))
    t_ns = pd.DatetimeIndex(t_uniq).as_unit("ns").asi8 if len(t_uniq) else np.empty(0, np.int64)
    p_sec = np.array([period_seconds(p) for p in p_uniq], dtype=np.float64)
    order = np.lexsort((o_rank[o_code], t_ns[t_code], p_sec[p_code], z))
    z = z[order]
    at = fit.index.get_indexer(ids)

    def text(codes, values):
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(values), pa.string()))

    name_of = [None if (n := names.get(i)) is None else str(n) for i in ids]
    return pa.table({
        "zone_id": text(z, ids.astype(str)),
        "zone_name": text(z, name_of),
        "period_start": text(t_code[order], iso_times(t_uniq) if len(t_uniq) else []),
        "period": text(p_code[order], p_uniq.astype(str)),
        "origin": text(o_code[order], o_uniq.astype(str)),
        "observed": pa.array(published["observed"].to_numpy(dtype=float)[order], pa.float64(), from_pandas=True),
        "estimate": pa.array(published["estimate"].to_numpy(dtype=float)[order], pa.float64(), from_pandas=True),
        "status": text(s_code[order], s_uniq.astype(str)),
        "n_cells": pa.array(fit["n_cells"].to_numpy(dtype="int64")[at][z]),
        "fit": pa.array(fit["fit"].to_numpy(dtype=float)[at][z], pa.float64(), from_pandas=True),
    })


def table_frame(table) -> pd.DataFrame:
    """An Arrow zone table as a pandas DataFrame (figures as floats, NaN where suppressed).

    Parameters
    ----------
    table : pyarrow.Table
        From :func:`output_table`.

    Returns
    -------
    pandas.DataFrame
        The same columns.
    """
    import pyarrow as pa

    return pa.table({n: c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for n, c in zip(table.column_names, table.columns)}).to_pandas()


def whole_numbers(table, decimals: int = 0):
    """Figures as whole numbers (or with ``decimals``), null where suppressed.

    Parameters
    ----------
    table : pyarrow.Table
        With ``observed`` and ``estimate`` as floats.
    decimals : int, default 0
        Keep this many decimals instead (floats).

    Returns
    -------
    pyarrow.Table
        The same with those columns as int64 (floats with ``decimals``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in ("observed", "estimate", "estimate_low", "estimate_high"):
        if name in table.column_names:
            i = table.column_names.index(name)
            col = pc.round(table.column(i).cast(pa.float64()), decimals)
            table = table.set_column(i, name, col if decimals else col.cast(pa.int64()))
    return table


#: Rows per Parquet row group of an output table (and per piece cast to plain text).
ROW_GROUP = 1 << 20


def write_table(table, folder: Path, stem: str, *, parquet: bool = True, decimals: int = 0) -> list[Path]:
    """Write a published table as ``stem.csv`` (and ``stem.parquet``) into ``folder``.

    Parameters
    ----------
    table : pyarrow.Table or pandas.DataFrame
        Columns as :func:`output_table` makes them; ``observed`` and ``estimate`` are
        written as whole numbers, empty where suppressed.
    folder : Path
        A folder of the run's new files (see :func:`new_folder`).
    stem : str
        The files' name without suffix.
    parquet : bool
        Also write Parquet.
    decimals : int, default 0
        Figures with this many decimals instead (the heat grid's shares of zone figures:
        a sparse area's squares of 0.4 people each, rounded to 0, summed to nothing).

    Returns
    -------
    list of Path
        The files written.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    table = whole_numbers(table, decimals)
    files = [folder / f"{stem}.csv"]
    pacsv.write_csv(table, files[0], pacsv.WriteOptions(quoting_style="needed"))
    if parquet:
        files.append(folder / f"{stem}.parquet")
        # text as plain strings, a million rows at a time: Arrow writes dictionary columns
        # with bytes that can differ from run to run for the same values (the period_start
        # column, seen with pyarrow 26), and plain text read back is text, not categories
        plain = pa.schema([pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema])
        with pq.ParquetWriter(files[1], plain, store_schema=False) as writer:
            for lo in range(0, max(table.num_rows, 1), ROW_GROUP):
                writer.write_table(table.slice(lo, ROW_GROUP).cast(plain), row_group_size=ROW_GROUP)
    return files


#: The columns a zone summary (``zones.geojson``) has besides ``zone_id``, ``name``, ``area_km2``.
SUMMARY_COLUMNS = ("visitors", "estimate_low", "estimate_high", "observed", "status", "period", "period_start", "top_origins",
                   "n_cells", "fit", "_origins_observed", "_origins_estimate", "_origins_at_low", "_origins_at_high")


def zone_summary(zones: gpd.GeoDataFrame, published: pd.DataFrame, period: str, shares: pd.DataFrame | None = None,
                 origin_level: str | None = None, shown: pd.Timestamp | None = None) -> gpd.GeoDataFrame:
    """Zones with the published figures of the summary period (origin ``all``) and top origins.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        The zones (``zone_id``, ``name``, ``area_km2`` if known, geometry).
    published : pandas.DataFrame
        Output of :func:`geozones.publish`.
    period : str
        The summary period (the table's longest).
    shares : pandas.DataFrame, optional
        The market-share table: its bounds for the published origins, which a total's
        interval sums (:func:`geozones.intervals.rest_bounds`).
    origin_level : str, optional
        The run's origin level, for the origins' names (:func:`geozones.origins.origin_names`).
    shown : pandas.Timestamp, optional
        Which period to summarise where there are several (:func:`geozones.periods.shown_start`:
        the last the counts cover whole); by default the last.

    Returns
    -------
    geopandas.GeoDataFrame
        A row per zone: ``visitors`` (estimate), ``observed``, ``status``, ``period``,
        ``period_start`` (local ISO 8601: ``shown``, else the run's last such period, where it has several),
        ``top_origins`` (the three largest published origins with their shares), and
        ``_origins_observed``, ``_origins_estimate``, ``_origins_at_low``,
        ``_origins_at_high`` (their published origins' sums, the last two at their shares'
        bounds, for
        :func:`geozones.intervals.summary_intervals`, which drops them), then the zone
        file's own properties (one named like a figure column is kept as ``zone_<name>``).
    """
    level = published[published["period"] == period]
    if level["period_start"].nunique() > 1:  # several quarters: summarise the one shown (the last whole one), else the last
        starts = pd.to_datetime(level["period_start"], utc=True)
        pick = shown if shown is not None and (starts == shown).any() else starts.max()
        level = level[(starts == pick).to_numpy()]
    tot = level[level["origin"] == ALL].set_index("zone_id")
    if not len(tot):  # no origin breakdown: the only origin is the total
        tot = level.set_index("zone_id")
    z = zones[["zone_id", "name", "area_km2", "geometry"]].copy() if "area_km2" in zones.columns else zones[["zone_id", "name", "geometry"]].copy()
    z["visitors"] = z["zone_id"].map(tot["estimate"]).to_numpy(dtype=float)
    z["observed"] = z["zone_id"].map(tot["observed"]).to_numpy(dtype=float)
    z["status"] = z["zone_id"].map(tot["status"]).fillna(SUPPRESSED).to_numpy()
    z["period"] = period
    # (which period: a run of several weeks or quarters summarises its last, and says so)
    z["period_start"] = (local_iso(pd.Series(pd.to_datetime([level["period_start"].iloc[0]], utc=True))).iloc[0] if len(level)
                         else None)
    parts = level[(level["origin"] != ALL) & (level["status"] == PUBLISHED)]
    # (the published origins' sums: a total's rest, for its interval; summary_intervals drops them)
    from .extrapolate import share_bands
    from .intervals import at_share_bounds

    bands = share_bands(parts["origin"].astype(str).unique(), shares) if len(parts) else {}
    o = parts["origin"].astype(str)
    at_low, at_high = at_share_bounds(parts["observed"], parts["estimate"], o.map({c: b[1] for c, b in bands.items()}).to_numpy(dtype=float),
                                      o.map({c: b[2] for c, b in bands.items()}).to_numpy(dtype=float))
    parts = parts.assign(at_low=at_low, at_high=at_high)
    sums = parts.groupby("zone_id", sort=False)[["observed", "estimate", "at_low", "at_high"]].sum()
    for col in ("observed", "estimate", "at_low", "at_high"):
        z[f"_origins_{col}"] = z["zone_id"].map(sums[col]).fillna(0.0).to_numpy(dtype=float)
    # (the shares the rest's people can have: those of each zone's suppressed origins)
    hid = level[(level["origin"] != ALL) & (level["status"] != PUBLISHED)]
    if len(hid) and shares is not None:
        from .intervals import hidden_share_range

        r_lo, r_hi = hidden_share_range(hid["origin"].astype(str), np.ones(len(hid), bool), shares, pd.factorize(hid["zone_id"])[0])
        by = pd.DataFrame({"lo": r_lo, "hi": r_hi}, index=hid["zone_id"].to_numpy()).groupby(level=0).first()
        z["_origins_rest_low"] = z["zone_id"].map(by["lo"]).to_numpy(dtype=float)
        z["_origins_rest_high"] = z["zone_id"].map(by["hi"]).to_numpy(dtype=float)
    z["top_origins"] = z["zone_id"].map(top_origins(level, origin_level))
    own = [c for c in zones.columns if c not in ("zone_id", "name", "area_km2", zones.geometry.name)]
    for col in own:  # the zone file's properties travel with it (a GIS user's ``municipality``, remarks)
        z[f"zone_{col}" if col in SUMMARY_COLUMNS else col] = zones[col].to_numpy()
    return z


def top_origins(level: pd.DataFrame, origin_level: str | None = None) -> dict[str, str]:
    """Per zone, its three largest published origins with their shares of its total, as text
    ("West-Vlaanderen 47%, residents 30%, Oost-Vlaanderen 5%").

    Parameters
    ----------
    level : pandas.DataFrame
        Published figures of one period (one ``period_start``): ``zone_id``, ``origin``,
        ``estimate``, ``status``, with each zone's total (origin ``all``).
    origin_level : str, optional
        For the origins' names (:func:`geozones.origins.origin_names`).

    Returns
    -------
    dict of str to str
        Zones with a published total and at least one published origin.
    """
    tot = level[(level["origin"] == ALL) & (level["status"] == PUBLISHED)].set_index("zone_id")["estimate"]
    parts = level[(level["origin"] != ALL) & (level["status"] == PUBLISHED)]
    if not len(parts):
        return {}
    names = origin_names(parts["origin"], origin_level)
    parts = parts.sort_values(["zone_id", "estimate"], ascending=[True, False], kind="stable")
    parts = parts[parts.groupby("zone_id", sort=False).cumcount().to_numpy() < 3]
    total = tot.reindex(parts["zone_id"]).to_numpy(dtype=float)
    label = [f"{names.get(o, o)} {e / t:.0%}" if np.isfinite(t) and t > 0 else None
             for o, e, t in zip(parts["origin"], parts["estimate"], total)]
    return pd.Series(label, index=parts["zone_id"].to_numpy()).dropna().groupby(level=0, sort=False).agg(", ".join).to_dict()


def grid_table(grid: gpd.GeoDataFrame, pub: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The published grid figures as ``grid_counts.csv`` has them.

    Parameters
    ----------
    grid : geopandas.GeoDataFrame
        The heat grid, ids with ``prefix``.
    pub : pandas.DataFrame
        The grid's published figures (:func:`geozones.publish`).
    prefix : str
        The prefix of the grid's ids, taken off in the table.

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``lon``, ``lat`` (the square's centroid), ``period_start``,
        ``period``, ``observed``, ``estimate``, ``status``; rows by period length, start
        and square; text columns categorical (``period_start`` ISO 8601 local time,
        ordered in time, formatted once per distinct time).
    """
    from .counts import period_seconds

    cent = grid.geometry.to_crs(grid.estimate_utm_crs()).centroid.to_crs("EPSG:4326")
    # codes into the few distinct squares, periods and times, not a text per row (millions
    # of rows for an hourly quarter)
    z_code, z_uniq = _codes(pub["zone_id"])
    square = np.where(z_code >= 0, pd.Index(grid["zone_id"].astype(str)).get_indexer(z_uniq.astype(str))[z_code], -1)
    if (square < 0).any():
        raise ValueError("grid_table: figures of squares that are not in the grid")
    period = pub["period"].astype("category")
    p_rank = np.argsort(np.argsort([period_seconds(str(c)) for c in period.cat.categories], kind="stable"))
    t_code, times = pd.factorize(pub["period_start"], sort=True)
    # rows by period length, start and square: one key, sorted only when not in order yet
    key = (p_rank[period.cat.codes.to_numpy()] * (len(times) + 1) + t_code + 1) * len(grid) + square
    order = slice(None) if (key[1:] >= key[:-1]).all() else np.argsort(key, kind="stable")
    del key
    square = square[order]
    ids = grid["zone_id"].astype(str).str.slice(len(prefix)).to_numpy(dtype=object)
    status = pub["status"].astype("category")
    return pd.DataFrame(
        {
            "zone_id": pd.Categorical.from_codes(square, categories=pd.Index(ids)),
            "lon": cent.x.round(6).to_numpy()[square],
            "lat": cent.y.round(6).to_numpy()[square],
            "period_start": pd.Categorical.from_codes(t_code[order], categories=pd.Index(iso_times(times) if len(times) else [], dtype=object),
                                                      ordered=True),  # (in time order)
            "period": pd.Categorical.from_codes(period.cat.codes.to_numpy()[order], categories=period.cat.categories),
            "observed": pub["observed"].to_numpy()[order],
            "estimate": pub["estimate"].to_numpy()[order],
            "status": pd.Categorical.from_codes(status.cat.codes.to_numpy()[order], categories=status.cat.categories),
        }
    )
