"""Counts per cell: reading, validating, and building them from subscriber-level events.

A counts table has one row per cell, period and origin:

================  ===================================================================
``cell_id``       the cell (as in the cell plan)
``period_start``  ISO 8601; a time without an offset is Europe/Brussels local time,
                  daylight saving included
``period``        the length of the period: ``15min``, ``1h``, ``1d``, ``1w``...
``count``         a non-negative number
``origin``        optional: NIS code, mobile country code, ISO country (see :mod:`geozones.origins`)
================  ===================================================================

The *kind* of count is declared by the caller, and every roll-up follows it:

``presence``
    devices attached at an instant or on average during the period: adds up over cells,
    not over time (a day is the mean or the maximum of its hours);
``unique``
    distinct devices seen during the period: adds up neither over cells (a person is
    seen on several cells) nor over time, unless a deduplication factor is stated;
``events``
    things that happened (calls, sessions, transactions): adds up over cells and time.

In memory, ``period_start`` is a UTC timestamp and ``origin`` a normalised code.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import csv_delimiter, file_format, read_csv_text, read_parquet_table, shown_value
from ._io import row_label as _row
from .errors import CountsError, InputError
from .origins import ALL, blank_origins, no_origin_note, normalize_origins
from .periods import TIMEZONE, clock_change, off_period, off_period_message, parse_period, period_end, period_floor, period_seconds

__all__ = [
    "KINDS",
    "TIMEZONE",
    "parse_period",
    "read_counts",
    "read_events",
    "normalize_events",
    "read_optout",
    "warn_if_no_optout_matched",
    "events_to_counts",
    "period_floor",
    "off_period",
    "period_seconds",
    "period_end",
    "parse_times",
]

log = logging.getLogger("geozones")

KINDS = ("presence", "unique", "events")
# an offset ends a time of day (a date's own "-02" is no offset: 2025-06-02 is local midnight)
_OFFSET = re.compile(r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


def _read_frame(path: Path, what: str) -> tuple[pd.DataFrame, str]:
    fmt = file_format(path)
    if not path.exists():
        raise CountsError("no such file", path=path, hint="check the path")
    try:
        if fmt == "csv":
            df = read_csv_text(path, error=CountsError, what=what)
        elif fmt == "parquet":
            df = read_parquet_table(path, error=CountsError).to_pandas()
        elif path.is_dir():
            raise CountsError("is a folder: the memory engine reads one file", path=path,
                              hint="give one .csv or .parquet file, or read the folder's Parquet files with --engine stream")
        else:
            raise CountsError(f"unknown file type {path.suffix!r}", path=path, hint=f"give the {what} as .csv, .csv.gz or .parquet")
    except CountsError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many classes
        raise CountsError(f"cannot read the file: {' '.join(str(exc).split())}", path=path, hint=f"check that it is a valid {fmt or 'table'}") from exc
    df.columns = [str(c).strip().lstrip("\ufeff").lower() for c in df.columns]
    if not len(df):
        raise CountsError("has no rows", path=path, hint=f"export the {what} again")
    return df, fmt


#: What an origin code that is neither a NIS code, an MCC nor an ISO code is, and what to do.
BAD_ORIGIN = "is not a known NIS code, a mobile country code or an ISO country code"
BAD_ORIGIN_HINT = ("use 5-digit NIS codes (34022), 3-digit MCCs (208) or ISO codes (FR); 'unknown' when not known; "
                   "international dialling codes (39, 33) are not origin codes: convert them to ISO codes, all of them, since "
                   "some (212 Morocco) are also mobile country codes (212 Monaco)")


def require_columns(names, cols: tuple[str, ...], path: Path, what: str) -> None:
    """Refuse a table (``names``: its column names) without the columns ``cols``, naming the file."""
    missing = [c for c in cols if c not in names]
    if missing:
        raise CountsError(
            f"has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''} (columns: {', '.join(names)})",
            path=path,
            hint=f"{'an' if what[0] in 'aeiou' else 'a'} {what} file needs the columns {', '.join(cols)}",
        )


def _require(df: pd.DataFrame, cols: tuple[str, ...], path: Path, what: str) -> None:
    require_columns(list(df.columns), cols, path, what)


#: The largest count a row may hold: more than any cell counts in a period (a count past
#: it is a unit or export error, and would outgrow the figures' integers).
MAX_COUNT = 1e9

#: The times a counts file may hold (UTC, the end excluded): a time outside them comes from a
#: damaged file or a wrong unit, and is refused with its row.
TIME_RANGE = (pd.Timestamp("1990-01-01", tz="UTC"), pd.Timestamp("2200-01-01", tz="UTC"))


def time_range_error(value, path: Path | str | None, where: str | None, column: str = "period_start") -> CountsError:
    """The error for a time outside :data:`TIME_RANGE`."""
    return CountsError(f"{column} {value} lies outside {TIME_RANGE[0].year} to {TIME_RANGE[1].year - 1}", path=path, where=where,
                       hint="the file is damaged, or its times are in another unit: export it again")


def _check_range(values: pd.Series, path: Path, fmt: str, column: str) -> None:
    """Refuse the first time outside :data:`TIME_RANGE` (tz-aware or naive, any unit)."""
    lo, hi = TIME_RANGE if values.dt.tz is not None else (t.tz_localize(None) for t in TIME_RANGE)
    out = ((values < lo) | (values >= hi)).to_numpy()
    if out.any():
        i = int(np.flatnonzero(out)[0])
        naive = values.dt.tz_convert(None) if values.dt.tz is not None else values
        raise time_range_error(np.datetime_as_string(naive.to_numpy()[i : i + 1])[0], path, _row(i, fmt), column)


def parse_times(values: pd.Series, path: Path, fmt: str, column: str) -> pd.Series:
    """Parse ISO 8601 times to UTC; times without an offset are Europe/Brussels local time."""
    if pd.api.types.is_datetime64_any_dtype(values):
        s = values
        if s.isna().any():  # (a typed column's nulls: a probe's 20 of them ended in an IndexError, one was dropped unsaid)
            raise CountsError(f"{column} is empty", path=path, where=_row(int(np.flatnonzero(s.isna().to_numpy())[0]), fmt),
                              hint=f"every row needs a {column}")
        _check_range(s, path, fmt, column)
        if getattr(s.dt, "tz", None) is None:
            return _localize(s, path, fmt, column, values)
        return s.dt.tz_convert("UTC")
    cat = pd.Categorical(values.astype(str).str.strip())
    uniq = pd.Series(cat.categories)
    has_off = uniq.str.contains(_OFFSET)
    parsed = pd.Series(pd.NaT, index=uniq.index, dtype="datetime64[ns, UTC]")
    far = np.zeros(len(uniq), bool)  # (parsed, but outside TIME_RANGE: in microseconds, 9999 does not fit nanoseconds)

    def kept(times: pd.Series, where: np.ndarray) -> pd.Series:
        out = ((times < TIME_RANGE[0]) | (times >= TIME_RANGE[1])).to_numpy()
        far[np.flatnonzero(where)[out]] = True
        return times.where(~out)

    try:
        if has_off.any():
            parsed[has_off] = kept(pd.to_datetime(uniq[has_off], format="ISO8601", utc=True, errors="coerce"), has_off.to_numpy())
        if (~has_off).any():
            naive = pd.to_datetime(uniq[~has_off], format="ISO8601", errors="coerce")
            local = _localize(naive, path, fmt, column, uniq[~has_off], cat=cat, uniq_index=uniq.index[~has_off])
            parsed[~has_off] = kept(local, (~has_off).to_numpy())
    except (ValueError, OverflowError):
        parsed[:] = pd.NaT
    codes = cat.codes
    bad_u = parsed.isna().to_numpy() & ~far
    bad_rows = np.flatnonzero((codes < 0) | bad_u[np.maximum(codes, 0)])
    far_rows = np.flatnonzero(far[np.maximum(codes, 0)] & (codes >= 0))
    if len(far_rows) and not (len(bad_rows) and bad_rows[0] < far_rows[0]):
        # (a probe's 9999-12-31 on line 6 was 'not an ISO 8601 time' on line 2, quoting line 2's good time)
        i = int(far_rows[0])
        raise time_range_error(repr(values.iloc[i]), path, _row(i, fmt), column)
    if len(bad_rows):
        i = int(bad_rows[0])
        raise CountsError(
            f"{column} {str(values.iloc[i])!r} is not an ISO 8601 time",
            path=path,
            where=_row(i, fmt),
            hint="write times as 2026-07-01T14:00 (Europe/Brussels) or 2026-07-01T12:00Z"
                 + ("; in Excel, format the column as yyyy-mm-dd hh:mm before saving"
                    if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}( .*)?", str(values.iloc[i]).strip()) else ""),
        )
    return pd.Series(parsed.to_numpy()[codes], index=values.index).dt.tz_convert("UTC")


def _localize(naive: pd.Series, path: Path, fmt: str, column: str, raw: pd.Series, cat=None, uniq_index=None) -> pd.Series:
    """Localise naive times to Europe/Brussels, refusing times that are ambiguous or do not exist."""
    loc = naive.dt.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="NaT")
    bad = loc.isna() & naive.notna()
    if bad.any():
        j = int(np.flatnonzero(bad.to_numpy())[0])
        value = raw.iloc[j]
        if cat is not None:  # point at the first row that has this value
            code = int(uniq_index[j])
            row = int(np.flatnonzero(cat.codes == code)[0])
        else:
            row = j
        t = naive.iloc[j]
        why = "does not exist (clocks go forward)" if clock_change(t) == "forward" else "happens twice (clocks go back)"
        typed = pd.api.types.is_datetime64_any_dtype(raw)
        raise CountsError(
            f"{column} '{pd.Timestamp(value).isoformat() if typed else value}' {why} in Europe/Brussels",
            path=path,
            where=_row(row, fmt),
            hint=("the column holds times without a time zone, read as Europe/Brussels: store them with one (UTC: timestamp[us, tz=UTC])"
                  if typed else "give times around the daylight-saving change with an offset, e.g. "
                  + ("2026-10-25T02:00+02:00 (the first), +01:00 (the second)" if "twice" in why else "2026-03-29T03:00+02:00")),
        )
    return loc


def _counts_column(df: pd.DataFrame, path: Path, fmt: str, column: str = "count") -> np.ndarray:
    s = df[column]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        bad_text = ambiguous = np.zeros(len(s), dtype=bool)
    else:
        text = s.astype(str).str.strip()
        # a decimal comma (Belgian spreadsheets: "733,70" in a ';' file), read where it cannot be
        # a thousands separator: one or two digits after it, no dot; "1,234" stays an error
        comma = text.str.fullmatch(r"-?\d+,\d{1,2}")
        ambiguous = text.str.fullmatch(r"-?\d{1,3}(,\d{3})+").to_numpy()
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
        vals = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        lowered = text.str.lower()
        bad_text = np.isnan(vals) & ~lowered.isin(["nan", "inf", "-inf", "infinity"]).to_numpy() & ~ambiguous
    fix = "counts must be non-negative numbers; fix or remove these rows"
    problems = [
        (ambiguous, "has a comma that may be a decimal or a thousands separator",
         "write 1234 or 1234.5 (a decimal comma is read with one or two decimals: 733,70)"),
        (bad_text, "is not a number", fix),
        (np.isnan(vals) & ~bad_text, "is NaN (missing)", fix),
        (np.isinf(vals), "is infinite", fix),
        (vals < 0, "is negative", fix),
        (vals > MAX_COUNT, f"is more than {MAX_COUNT:,.0f}: no cell counts so many in one period",
         "check the column's unit and the export; fix or remove these rows"),
    ]
    for mask, why, hint in problems:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise CountsError(
                f"{column} {shown_value(s.iloc[i])} {why} ({int(mask.sum())} row{'s' if mask.sum() > 1 else ''} in all)",
                path=path,
                where=f"{_row(i, fmt)} (cell_id {df['cell_id'].iloc[i]!r})" if "cell_id" in df.columns else _row(i, fmt),
                hint=hint,
            )
    return vals


def _origins(df: pd.DataFrame, path: Path, fmt: str) -> pd.Series:
    if "origin" not in df.columns:
        return pd.Series(ALL, index=df.index, dtype=object)
    codes, levels = normalize_origins(df["origin"])
    bad = (levels == "invalid").to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CountsError(
            f"origin {df['origin'].iloc[i]!r} {BAD_ORIGIN}",
            path=path,
            where=_row(i, fmt),
            hint=BAD_ORIGIN_HINT,
        )
    return codes


def read_counts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a counts table (CSV or Parquet).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv`` (delimiter ``,`` ``;`` tab or ``|``) or ``.parquet`` file with the
        columns ``cell_id``, ``period_start`` (ISO 8601; without an offset, Europe/Brussels
        local time), ``period`` (see :func:`parse_period`), ``count`` and optionally
        ``origin``. Column names are stripped and lower-cased.

    Returns
    -------
    pandas.DataFrame
        ``cell_id`` (str), ``period_start`` (UTC), ``period`` (canonical label, one per
        file), ``origin`` (normalised code; ``"all"`` without an origin column) and
        ``count`` (float). Exact duplicate rows are dropped and reported in
        ``attrs["notes"]``. The index is the row's place in the file (0 for the first data
        row), so that later checks can name the line.

    Raises
    ------
    InputError
        Missing columns; counts that are not numbers, negative, NaN or infinite; times
        that are not ISO 8601 or do not exist or are ambiguous in local time; unknown
        origin codes; rows for the same cell, period and origin with different counts;
        several period lengths in one file. Each names the file and the first row.
    """
    path = Path(path)
    df, fmt = _read_frame(path, "counts")
    _require(df, ("cell_id", "period_start", "period", "count"), path, "counts")
    df = df.reset_index(drop=True)
    empty = df["cell_id"].isna().to_numpy() | (df["cell_id"].astype(str).str.strip() == "").to_numpy()
    if empty.any():  # (was read as the cell 'nan', "not in the cell plan", or as 'None')
        raise CountsError("cell_id is empty", path=path, where=_row(int(np.flatnonzero(empty)[0]), fmt), hint="every row needs a cell_id")
    df["cell_id"] = df["cell_id"].astype(str).str.strip()
    periods = pd.Series(df["period"].astype(str).str.strip())
    distinct = pd.unique(periods)
    canon = {}
    for p in distinct:
        try:
            canon[p] = parse_period(p)
        except InputError as exc:
            i = int(np.flatnonzero((periods == p).to_numpy())[0])
            raise CountsError(exc.message, path=path, where=_row(i, fmt), hint="use 15min, 1h, 1d, 1w, 1mo or 1q") from None
    if len(set(canon.values())) > 1:
        first, other = distinct[0], next(p for p in distinct if canon[p] != canon[distinct[0]])
        i = int(np.flatnonzero((periods == other).to_numpy())[0])
        raise CountsError(
            f"period {other!r} differs from {first!r} on earlier rows",
            path=path,
            where=_row(i, fmt),
            hint="give one period length per counts file",
        )
    count = _counts_column(df, path, fmt)
    start = parse_times(df["period_start"], path, fmt, "period_start")
    ns = pd.DatetimeIndex(start).as_unit("ns").asi8
    distinct_ns = pd.unique(ns)
    off = off_period(distinct_ns, canon[distinct[0]])
    if off.any():
        bad = distinct_ns[off]
        i = int(np.flatnonzero(np.isin(ns, bad))[0])
        message, hint = off_period_message(ns[i], canon[distinct[0]])
        n_bad = int(np.isin(ns, bad).sum())
        raise CountsError(f"{message} ({n_bad} row{'s' if n_bad > 1 else ''} in all)", path=path, where=_row(i, fmt), hint=hint)
    out = pd.DataFrame(
        {
            "cell_id": df["cell_id"].to_numpy(dtype=object),
            "period_start": start,
            "period": canon[distinct[0]],
            "origin": _origins(df, path, fmt).to_numpy(dtype=object),
            "count": count,
        }
    )
    notes = []
    key = ["cell_id", "period_start", "origin"]
    dup = out.duplicated(key, keep=False).to_numpy()
    if dup.any() and "origin" in df.columns:  # two codes for one origin (208 and FR; a merged municipality and its successor)
        raw = pd.Series(df["origin"].to_numpy(dtype=object), index=out.index).map(lambda v: "" if pd.isna(v) else str(v).strip())
        d = out[dup].assign(raw=raw[dup])
        kinds = d.groupby(key, sort=False)["raw"].transform("nunique").to_numpy()
        if (kinds > 1).any():
            r = d[kinds > 1].iloc[0]
            rows = np.flatnonzero(((out["cell_id"] == r["cell_id"]) & (out["period_start"] == r["period_start"]) & (out["origin"] == r["origin"])).to_numpy())
            codes = list(dict.fromkeys(raw.iloc[rows]))
            raise CountsError(
                f"cell {r['cell_id']!r}, period {df['period_start'].iloc[rows[0]]!r}: origins "
                f"{' and '.join(repr(c) for c in codes)} on {', '.join(_row(int(x), fmt) for x in rows[:3])} are the same origin ({r['origin']})",
                path=path,
                hint="give each origin once, under one code; add their counts if they are different people",
            )
    if dup.any():
        same = out[dup].duplicated(key + ["count"], keep=False)
        conflict = out[dup][~same.to_numpy()]
        if len(conflict):
            r = conflict.iloc[0]
            rows = np.flatnonzero(((out["cell_id"] == r["cell_id"]) & (out["period_start"] == r["period_start"]) & (out["origin"] == r["origin"])).to_numpy())
            raise CountsError(
                f"cell {r['cell_id']!r}, period {df['period_start'].iloc[rows[0]]!r}, origin {r['origin']!r} "
                f"has different counts on {', '.join(_row(int(x), fmt) for x in rows[:3])}",
                path=path,
                hint="each cell, period and origin must appear once; remove or merge the duplicates",
            )
        n = int(out.duplicated(key).sum())
        out = out.drop_duplicates(key)  # the index stays the file's row number (0 = first data row)
        notes.append(f"{n} exact duplicate rows were dropped")
        log.warning("%s: %d exact duplicate rows were dropped", path, n)
    if "origin" in df.columns:
        blank = int(blank_origins(df["origin"].to_numpy(dtype=object)).sum())
        if blank:
            notes.append(no_origin_note(blank))
            log.warning("%s: %s", path, notes[-1])
    out.attrs["notes"] = notes
    out.attrs["source"] = str(path)
    return out


def read_optout(path: str | os.PathLike[str]) -> set[str]:
    """Read an opt-out list: one (hashed) subscriber id a line, or a CSV with ``subscriber_id``.

    Blank lines and lines starting with ``#`` are ignored; an id in double quotes (a
    spreadsheet's export of one column) is read without them. Ids are compared ignoring
    case: a hexadecimal digest is written in upper or lower case alike.

    Parameters
    ----------
    path : str or os.PathLike
        A text file in UTF-8 (or UTF-16 with its byte-order mark): one id a line, or a CSV
        whose header names ``subscriber_id`` (read by Arrow, that column), or a Parquet
        file with a ``subscriber_id`` column.

    Returns
    -------
    set of str
        The subscriber ids, stripped of surrounding spaces, in lower case.

    Raises
    ------
    CountsError
        The file is missing, not text, or a CSV without the column.
    """
    path = Path(path)
    if not path.exists():
        raise CountsError("no such file", path=path, hint="check the opt-out list's path")
    if file_format(path) == "parquet":
        df, _ = _read_frame(path, "opt-out list")
        _require(df, ("subscriber_id",), path, "opt-out")
        return {x.lower() for x in df["subscriber_id"].astype(str).str.strip()}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CountsError(f"byte {exc.start}: the file is not UTF-8 text", path=path,
                          hint="save the opt-out list as UTF-8 text, one hashed subscriber id a line") from None
    lines = [ln.strip() for ln in text.lstrip("\ufeff").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return set()
    first = lines[0]
    if first.lstrip('"').lower().startswith("subscriber_id"):  # a CSV with a header: Arrow reads it
        import pyarrow as pa
        import pyarrow.csv as pacsv

        sep = csv_delimiter(first)
        names = [n.strip().strip('"') for n in first.split(sep)]  # (every column as text: ids of digits keep their zeros)
        try:
            t = pacsv.read_csv(pa.py_buffer("\n".join(lines).encode()), parse_options=pacsv.ParseOptions(delimiter=sep),
                               convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False))
        except pa.ArrowInvalid as exc:
            raise CountsError(f"not a readable CSV: {' '.join(str(exc).split())}", path=path,
                              hint="give one hashed subscriber id a line, or a CSV with a subscriber_id column") from None
        col = next(c for c in t.column_names if c.strip().lower() == "subscriber_id")
        return {str(x).strip().lower() for x in t.column(col).cast(pa.string()).to_pylist() if x is not None and str(x).strip()}
    # (an id a line; one in double quotes, as a spreadsheet exports a column, without them)
    return {(ln[1:-1].replace('""', '"').strip() if len(ln) >= 2 and ln[0] == ln[-1] == '"' else ln).lower() for ln in lines}


def warn_if_no_optout_matched(optout: set[str] | None, removed: int, path) -> None:
    """Warn when an opt-out list removed nobody: its ids are likely not the events' own
    (another hash, another salt, a column of another file).

    Parameters
    ----------
    optout : set of str or None
        From :func:`read_optout`.
    removed : int
        How many of the events' subscribers it removed.
    path : str or os.PathLike
        The list, to name it.
    """
    if optout is not None and not optout:  # (a probe's 0-byte list, a failed export, went without a word)
        log.warning("%s: the opt-out list holds no id, so nobody was removed; if people did opt out, export the list again", path)
    if optout and not removed:
        log.warning("%s: none of the %d listed ids is a subscriber of the events, so nobody was removed; check that the list "
                    "holds the same hashed ids as the events' subscriber_id", path, len(optout))


def read_events(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read subscriber-level events: ``subscriber_id`` (hashed), ``cell_id``, ``timestamp``, ``origin``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv`` or ``.parquet`` file with those columns, ``origin`` optional (``"all"``
        without it); ``timestamp`` is ISO 8601, Europe/Brussels local time without an offset.

    Returns
    -------
    pandas.DataFrame
        The same columns, ``timestamp`` in UTC and ``origin`` normalised.
    """
    path = Path(path)
    df, fmt = _read_frame(path, "events")
    return normalize_events(df.reset_index(drop=True), path, fmt)


def normalize_events(df: pd.DataFrame, path: str | os.PathLike[str], fmt: str) -> pd.DataFrame:
    """Check and normalise a frame of events as :func:`read_events` does (a file, or a batch of one).

    Parameters
    ----------
    df : pandas.DataFrame
        Columns with lower-case names, indexed from 0 (errors name the row by its place).
    path : str or os.PathLike
        The file, named in errors.
    fmt : str
        ``"csv"`` or ``"parquet"`` (how rows are named).

    Returns
    -------
    pandas.DataFrame
        ``subscriber_id``, ``cell_id``, ``timestamp`` (UTC), ``origin``.
    """
    path = Path(path)
    _require(df, ("subscriber_id", "cell_id", "timestamp"), path, "events")
    ids = {}
    for name in ("subscriber_id", "cell_id"):  # (as the events engine: a probe's empty id was one more person, 'nan', here)
        text = df[name].astype(str).str.strip()
        empty = (df[name].isna() | (text == "")).to_numpy()
        if empty.any():
            raise CountsError(f"{name} is empty", path=path, where=_row(int(np.flatnonzero(empty)[0]), fmt), hint=f"every event needs its {name}")
        ids[name] = text.to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "subscriber_id": ids["subscriber_id"],
            "cell_id": ids["cell_id"],
            "timestamp": parse_times(df["timestamp"], path, fmt, "timestamp"),
            "origin": _origins(df, path, fmt).to_numpy(dtype=object),
        }
    )


def events_to_counts(
    events: pd.DataFrame,
    period: str = "1h",
    *,
    optout: set[str] | None = None,
    k: float = 0.0,
) -> tuple[pd.DataFrame, dict]:
    """Aggregate subscriber-level events to unique counts per cell, period and origin.

    Parameters
    ----------
    events : pandas.DataFrame
        From :func:`read_events`.
    period : str, default "1h"
        The period of the counts.
    optout : set of str, optional
        Subscriber ids to remove before anything is counted.
    k : float, default 0
        The run's threshold: where fewer than ``k`` people-periods were seen on a second
        cell, the dedup factor is 1 (its 4 digits and the published totals told a probe's 3
        French people seen on two cells, every one of their figures hidden).

    Returns
    -------
    (counts, info)
        ``counts`` as from :func:`read_counts`, kind ``unique``; ``info`` has
        ``removed_events``, ``removed_subscribers`` (opt-outs seen in the data: exact, so
        not for publication under ``k``; :func:`geozones.privacy.optout_summary` gives what
        a manifest may say) and
        ``dedup_factor`` (to 4 significant digits): distinct subscribers per period divided by the sum over cells of
        distinct subscribers per cell and period, over the whole run. Apportioning unique
        counts to zones multiplies by it, so that a person seen on several cells in a
        period is not counted several times over the area as a whole.
    """
    period = parse_period(period)
    ev = events
    removed_events = removed_people = 0
    if optout:
        drop = ev["subscriber_id"].astype(str).str.lower().isin({x.lower() for x in optout}).to_numpy()  # (ids ignoring case: read_optout)
        removed_events = int(drop.sum())
        removed_people = int(ev.loc[drop, "subscriber_id"].nunique())
        ev = ev.loc[~drop]
    start = period_floor(ev["timestamp"], period)
    frame = pd.DataFrame({"cell_id": ev["cell_id"].to_numpy(), "period_start": start.to_numpy(), "origin": ev["origin"].to_numpy(), "subscriber_id": ev["subscriber_id"].to_numpy()})
    counts = frame.groupby(["cell_id", "period_start", "origin"], sort=True, observed=True)["subscriber_id"].nunique().rename("count").reset_index()
    per_period = frame.groupby(["period_start", "origin"], observed=True)["subscriber_id"].nunique().sum()
    per_cell = counts["count"].sum()
    counts["count"] = counts["count"].astype(float)
    counts.insert(2, "period", period)
    counts["period_start"] = pd.to_datetime(counts["period_start"], utc=True)
    info = {
        "removed_events": removed_events,
        "removed_subscribers": removed_people,
        # (to 4 digits: its numerator and denominator, to full precision, told a probe how many days and
        # cell-days an opted-out person had, by difference with a run before the opt-out)
        "dedup_factor": float(f"{per_period / per_cell:.4g}") if per_cell and per_cell - per_period >= k else 1.0,
        "subscribers": int(frame["subscriber_id"].nunique()),
    }
    counts = counts[["cell_id", "period_start", "period", "origin", "count"]]
    counts.attrs["notes"] = []
    if period_seconds(period) > 3600:  # (the events per hour: a probe's 8 hours without events in a day published per day went unseen)
        hour = pd.DatetimeIndex(period_floor(ev["timestamp"], "1h"))
        counts.attrs["hourly_events"] = pd.Series(1.0, index=hour).groupby(level=0).sum()
    return counts, info
