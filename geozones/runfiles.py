"""What a run reads and writes around its figures: the inputs checked against the weights
and described (with their hashes) for the manifest, the heat layer drawn from the published
figures, and the output folder written whole (:func:`geozones.pipeline.run` calls these).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import file_format, row_label
from ._words import plural
from .config import PATH_KEYS, RunConfig, range_bound
from .errors import ConfigError, CountsError, InputError
from .origins import ALL
from .outfolder import check_replaceable, filling, new_folder, replace_folder
from .outputs import OUTPUT_NAMES, grid_table, local_iso, table_frame, write_table
from .weights import Weights
from .weights_io import write_weights
from .zones import h3_grid, square_grid, write_zones, zone_paths

__all__ = ["MAX_HEAT_SQUARES", "check_inputs_are_not_outputs", "check_out_apart", "check_unchanged", "input_stamps", "library_versions", "note_held", "check_rows", "describe_inputs", "heat_fits", "heat_table", "last_of_several", "map_title",
           "partial_periods", "published_all_rows", "published_periods", "warn_hidden_holders", "write_outputs"]

log = logging.getLogger("geozones")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_inputs(paths: dict[str, list[str] | str | None]) -> dict:
    """Every input file of a run with its SHA-256, for the manifest.

    Parameters
    ----------
    paths : dict
        Setting name -> a path or a list of paths (a folder of zones stands for its zone
        files, :func:`geozones.zones.zone_paths`, any other folder for the Parquet files the engines read in it,
        :func:`geozones.engine._reading.counts_files`); None is left out.

    Returns
    -------
    dict
        Setting name -> list of ``{"path", "absolute", "sha256"}`` (an opt-out list's
        ``sha256`` None, with a ``note`` why).
    """
    out = {}
    for key, value in paths.items():
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        files = []
        for item in items:
            p = Path(item)
            if not p.is_dir():
                found = [p]
            elif key == "zones":
                found = zone_paths(p)  # (the files the run read: .json too)
            else:  # (a folder of counts: the files the engines read; a probe's manifest listed none of its 14)
                from .engine._reading import counts_files

                found = sorted(counts_files(p))
            for f in found:
                if not Path(f).is_file():
                    continue  # (hashed before the run reads it: a missing file is its reader's to name, in its words)
                # (the path as given, and absolute: --earlier finds the file from another folder)
                files.append({"path": str(f), "absolute": str(Path(f).resolve()),
                              # (an opt-out list's hash lets anyone test ids against it: a probe found a one-id list's id in 1.3 s)
                              **({"sha256": None, "note": "not hashed: the hash of an opt-out list would let anyone test whether an id is on it"}
                                 if key == "optout" else {"sha256": _sha256(f)})})
        out[key] = files
    return out


def note_held(bins, budget: str | int) -> None:
    """Say that a stream or dask run held more than the memory budget before reading any
    counts (``bins.info["held_before"]``; a probe's national runs under budgets of 650 MB
    to 1.3 GB all peaked at 1.34 GB, the weights and footprints' 1.2 GB, in silence); said
    once the run has published: a run the budget stops says that alone.
    """
    from .engine import format_size, parse_size

    held, limit = (bins.info.get("held_before", 0) if bins is not None else 0), parse_size(budget)
    if held > limit:
        log.warning("this run held %s before reading any counts (the weights, footprints and libraries), more than the memory budget "
                    "of %s, which bounds what the counts add on top (the sums and the zone table): it may reach about %s",
                    format_size(held), format_size(limit), format_size(held + limit))


def library_versions() -> dict[str, str]:
    """The versions of Python and of the libraries a run's figures depend on, for the manifest."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "pandas", "pyarrow", "shapely", "geopandas", "pyproj", "highspy", "numba"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def input_stamps(described: dict) -> dict[str, tuple[int, int]]:
    """Each described input file's size and modification time now (:func:`check_unchanged`)."""
    out = {}
    for files in described.values():
        for f in files:
            st = os.stat(f["absolute"])
            out[f["absolute"]] = (st.st_size, st.st_mtime_ns)
    return out


def check_unchanged(stamps: dict[str, tuple[int, int]]) -> None:
    """Refuse to publish when an input changed while the run read it: the manifest's SHA-256
    (taken before any was read) would name other files than the figures came from (a probe
    appended a day to the counts during a run: the manifest hashed the longer file).

    Raises
    ------
    InputError
        Naming the first file that changed or went.
    """
    for path, (size, mtime) in stamps.items():
        try:
            st = os.stat(path)
        except OSError:
            raise InputError("went while the run read it: nothing was written", path=path, hint="run again once the file is in place") from None
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            raise InputError("changed while the run read it: nothing was written", path=path,
                             hint="run again once the file is complete (write exports elsewhere, then move them in)")


def check_inputs_are_not_outputs(cfg: RunConfig) -> None:
    """Refuse a run whose output folder holds one of its inputs under an output's name: it
    would overwrite it.

    Parameters
    ----------
    cfg : RunConfig

    Raises
    ------
    ConfigError
        Naming the input and the setting.
    """
    targets = {(Path(cfg.out) / name).resolve() for name in OUTPUT_NAMES}
    for e in cfg.earlier or []:  # (a probe's '--earlier pubA --out pubA' replaced the record of what pubA had published)
        if Path(e).resolve() == Path(cfg.out).resolve():
            raise ConfigError("the output folder is the --earlier run's: the run would replace the figures it is checked against", path=e,
                              hint="write the new run to a folder of its own: an earlier run's folder is the record of what it published")
    for key in PATH_KEYS:
        value = getattr(cfg, key)
        for item in value if isinstance(value, list) else [value] if value else []:
            p = Path(item)
            for f in sorted(p.glob("*.geojson")) if p.is_dir() else [p]:
                if f.resolve() in targets:
                    raise ConfigError(f"setting {key!r}: this file is also an output of the run (out {cfg.out!r}); the run would overwrite it",
                                      path=f, hint="choose another output folder, or move the input out of it")
    check_out_apart(cfg.out, {key: getattr(cfg, key) for key in PATH_KEYS})
    check_replaceable(cfg.out)  # (at once: before the run's work, as new_folder would after it)


def check_out_apart(out: str, inputs: dict) -> None:
    """Refuse an output folder that is an input folder (a folder of zone files or of counts)
    or lies inside one, or that holds a zone file: the outputs would land among the inputs,
    and the next run read them as inputs (a probe's manifest.json read as a zone file; its
    zones.geojson beside the zone file it was made from, duplicate ids in the folder's zones).

    Parameters
    ----------
    out : str
        The output folder.
    inputs : dict
        Setting name to its path, or list of paths (None: not given).

    Raises
    ------
    ConfigError
        Naming the input folder and the setting.
    """
    where = Path(out).resolve()
    for key, value in inputs.items():
        for item in value if isinstance(value, list) else [value] if value else []:
            p = Path(item)
            if p.is_dir() and (where == p.resolve() or p.resolve() in where.parents):
                raise ConfigError(
                    f"setting {key!r}: the output folder {'is this input folder' if where == p.resolve() else repr(out) + ' is inside this input folder'}; "
                    "the run would write its outputs among its inputs",
                    path=p,
                    hint="choose an output folder outside it",
                )
            if key == "zones" and p.is_file() and p.resolve().parent == where:
                raise ConfigError(f"setting 'zones': this zone file lies in the output folder {out!r}; the run would write its outputs "
                                  "beside it, and a run given that folder as zones would read them as zone files too", path=p,
                                  hint="keep the zone files in a folder of their own; a subfolder of the output folder, such as inputs/, will do")


def check_rows(frame: pd.DataFrame, column: str, weights: Weights, cfg: RunConfig, path: str) -> None:
    """Refuse counts or events for unknown cells (unless dropped) or outside start..end,
    naming the first row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indexed by the row's place in its file, as read_counts and read_events return it.
    column : str
        The time column (``period_start`` or ``timestamp``).
    weights : Weights
    cfg : RunConfig
    path : str
        The file, for the message.

    Raises
    ------
    CountsError
        Naming the file and the row.
    """
    fmt = file_format(path)
    if cfg.unknown_cells == "error":
        unknown = ~frame["cell_id"].isin(pd.Index(weights.cell_ids)).to_numpy()
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            source = str(cfg.cells or cfg.weights)  # (as given: the folder too)
            raise CountsError(
                f"cell_id {frame['cell_id'].iloc[i]!r} is not in {source} "
                f"({plural(frame.loc[unknown, 'cell_id'].nunique(), 'unknown cell id')}, {plural(unknown.sum(), 'row')} in all)",
                path=path,
                where=row_label(int(frame.index[i]), fmt),
                hint="check that counts and cell plan belong together, or drop them with --unknown-cells drop",
            )
    if cfg.start is None and cfg.end is None:
        return
    t = frame[column]
    outside = np.zeros(len(frame), dtype=bool)
    if cfg.start is not None:
        outside |= (t < range_bound(cfg.start)).to_numpy()
    if cfg.end is not None:
        outside |= (t >= range_bound(cfg.end)).to_numpy()
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise CountsError(
            f"{column} {local_iso(t.iloc[[i]]).iloc[0]} is outside the requested range "
            f"start {cfg.start or '(none)'} to end {cfg.end or '(none)'} ({plural(outside.sum(), 'row')} in all)",
            path=path,
            where=row_label(int(frame.index[i]), fmt),
            hint=f"the range is start <= {column} < end: widen --start/--end, or remove these rows",
        )


def published_all_rows(table) -> pd.DataFrame:
    """The rows of origin ``all`` of a published Arrow zone table, as the heat layer takes them.

    Parameters
    ----------
    table : pyarrow.Table
        As :func:`geozones.outputs.output_table` makes it.

    Returns
    -------
    pandas.DataFrame
        ``zone_id, period_start`` (UTC), ``period, origin, observed, estimate, status``.
    """
    import pyarrow.compute as pc

    t = table.filter(pc.equal(table["origin"].cast("string"), ALL)).select(["zone_id", "period_start", "period", "origin", "observed", "estimate", "status"])
    frame = table_frame(t)
    return frame.assign(period_start=pd.to_datetime(frame["period_start"], utc=True))


#: The most squares a heat layer draws (a map of more is too heavy to open, and the grid
#: table grows with squares x periods).
MAX_HEAT_SQUARES = 20_000


def heat_fits(zones, cfg: RunConfig) -> bool:
    """Whether the heat grid stays within :data:`MAX_HEAT_SQUARES`; else a warning, no
    heat layer.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        With ``area_km2``.
    cfg : RunConfig
        Its ``heat_grid_m`` or ``heat_h3``.

    Returns
    -------
    bool
    """
    if cfg.heat_h3 is not None:
        import h3

        n = float(zones["area_km2"].sum()) / h3.average_hexagon_area(cfg.heat_h3, "km^2")
        what = f"H3 resolution {cfg.heat_h3}"
    else:
        n = float(zones["area_km2"].sum()) * 1e6 / cfg.heat_grid_m ** 2
        what = f"{cfg.heat_grid_m:g} m squares"
    if n <= MAX_HEAT_SQUARES:
        return True
    log.warning("the zones' %.0f km2 need about %s heat-grid cells of %s, more than %s: the map has no heat layer "
                "(choose a larger --heat-grid, or --heat-grid 0)", zones["area_km2"].sum(), f"{n:,.0f}", what, f"{MAX_HEAT_SQUARES:,}")
    return False


def heat_table(zones, published_all: pd.DataFrame, cfg: RunConfig, crs: str) -> pd.DataFrame:
    """The heat grid's figures, drawn from the published zone figures alone
    (:mod:`geozones.heat`).

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
    published_all : pandas.DataFrame
        As :func:`published_all_rows` gives them.
    cfg : RunConfig
    crs : str
        The metric CRS of the squares.

    Returns
    -------
    pandas.DataFrame
        The ``grid_counts`` table.
    """
    from .heat import heat_from_zones

    grid = h3_grid(zones, cfg.heat_h3) if cfg.heat_h3 is not None else square_grid(zones, cfg.heat_grid_m, crs=cfg.metric_crs)
    figures = heat_from_zones(grid, zones, published_all, crs=crs)
    # (one decimal: a sparse zone's squares hold less than a person each, and whole numbers
    # summed its 406 squares to 0 observed; the map draws what grid_counts.csv says)
    figures["observed"] = figures["observed"].round(1)
    figures["estimate"] = figures["estimate"].round(1)
    return grid_table(grid, figures, "")


def write_outputs(out: Path, table, summary, weights, manifest, grid, cfg, stage: Path | None = None) -> list[Path]:
    """Write the outputs into a new folder, which then takes the place of ``out`` whole
    (:func:`geozones.outfolder.replace_folder`); a failure leaves ``out`` as it was.

    Parameters
    ----------
    out : Path
    table : pyarrow.Table or None
        The zone table; None when ``stage`` holds the zone tables already (a table
        published in parts).
    summary : geopandas.GeoDataFrame
        The zones with their summary figures (``zones.geojson``, the map).
    weights : Weights
        As published (``weights.parquet``).
    manifest : dict
        Written last, with the list of outputs.
    grid : pandas.DataFrame or None
        The heat grid's table.
    cfg : RunConfig
    stage : Path, optional
        The new folder, when already made.

    Returns
    -------
    list of Path
        The files, in ``out``.
    """
    from concurrent.futures import ThreadPoolExecutor

    if stage is None:
        stage = new_folder(out)
    pool = ThreadPoolExecutor(1, thread_name_prefix="geozones-write")
    try:
        with filling(stage, out, wait=lambda: pool.shutdown(wait=True, cancel_futures=True)):
            names = []
            # the zone table by Arrow on a thread of its own (it lets go of the GIL), while
            # this one writes the zones, the weights and the map
            tables = pool.submit(write_table, table, stage, "zone_counts") if table is not None else None
            names += ["zone_counts.csv", "zone_counts.parquet"]
            write_zones(_whole_numbers(summary), stage / "zones.geojson", na="null")
            names.append("zones.geojson")
            write_weights(weights, stage / "weights.parquet")
            names.append("weights.parquet")
            if grid is not None:
                write_table(grid, stage, "grid_counts", parquet=False, decimals=1)
                names.append("grid_counts.csv")
            if cfg.map:
                from .maps import save_map, visitor_map

                m = visitor_map(summary, grid=grid, title=manifest["title"], self_contained=cfg.self_contained)
                save_map(m, stage / "map.html", self_contained=cfg.self_contained)
                names.append("map.html")
            if tables is not None:
                tables.result()
            names.append("manifest.json")
            manifest["outputs"] = names
            (stage / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8", errors="backslashreplace")
            _before_replace(stage, out)
            replace_folder(stage, out, OUTPUT_NAMES)
    finally:
        pool.shutdown(wait=True)
    return [out / name for name in names]


def _before_replace(stage: Path, out: Path) -> None:
    """Nothing: where a test injects a failure after every file is written, before the folder is replaced."""


_WORDS = {"1h": "hour", "1d": "day", "1w": "week", "1mo": "month", "1q": "quarter"}


def map_title(cfg: RunConfig, periods: list[str]) -> str:
    """What the map's colours mean, in words.

    Parameters
    ----------
    cfg : RunConfig
    periods : list of str
        The run's period labels, shortest first.

    Returns
    -------
    str
    """
    first, longest = (_WORDS.get(p, p) for p in (periods[0], periods[-1]))
    if cfg.kind == "events":
        return f"Estimated events per {longest}"
    what = "people present" if cfg.kind == "presence" else "visitors"
    if cfg.kind == "presence" and longest != first:
        return f"Estimated {what} per {first} ({cfg.stat} over the {longest})"
    if cfg.kind == "presence" and first not in ("day", "hour") and not first.endswith("min"):
        # (presence over a week is its hours' mean or maximum: a day's measure, not a week's total)
        return f"Estimated {what} per day ({cfg.stat} over the {first})"
    return f"Estimated {what} per {longest}"


def last_of_several(first: str | None, last: str | None, period: str, shown: pd.Timestamp | None = None) -> str:
    """Words for the period the map and zones.geojson show ("the week from 2026-03-30")
    when the counts span several of ``period`` (the summary: ``shown``, else the last), else "".

    Parameters
    ----------
    first, last : str or None
        The counts' first and last period starts (local ISO text).
    period : str
        The summary period.
    shown : pandas.Timestamp, optional
        The period shown (:func:`geozones.periods.shown_start`), when not the last.

    Returns
    -------
    str
    """
    from .counts import parse_period, period_floor

    if not first or not last:
        return ""
    a, b = (pd.Timestamp(period_floor(pd.Series([pd.Timestamp(t).tz_convert("UTC")]), period).iloc[0]) for t in (first, last))
    if a == b:
        return ""
    p, last_whole = parse_period(period), shown is not None and shown != b
    return f"the {_WORDS.get(p, p)} from {(shown if last_whole else b).tz_convert('Europe/Brussels'):%Y-%m-%d}" + (", the last the counts cover whole" if last_whole else "")


def _whole_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its figures of whole numbers and gaps as nullable integers: a
    figure is written 27516 in zones.geojson as in the tables, not 27516.0 (a probe).
    """
    out = frame.copy()
    for c in ("visitors", "observed", "estimate_low", "estimate_high", "n_cells"):
        if c in out.columns and pd.api.types.is_float_dtype(out[c]):
            v = out[c].to_numpy()
            known = np.isfinite(v)
            if known.any() and (v[known] == np.round(v[known])).all() and (np.abs(v[known]) < 2**53).all():
                out[c] = out[c].astype("Int64")
    return out


def published_periods(cfg) -> list[str]:
    """The periods a run publishes: ``--period``, and ``--summary-period`` where it is longer
    and made of whole periods; what is left out is said (weeks in months, unique counts over
    time, a summary shorter than the period).
    """
    from .periods import period_seconds

    periods = [cfg.period]
    if cfg.summary_period and cfg.period == "1w" and cfg.summary_period in ("1mo", "1q"):
        # (a week across a month's or quarter's border would be rolled into the one its Monday is in: a probe's
        # counts from Wednesday 1 July made a '1q from 2026-04-01' of July's days)
        log.warning("weeks do not nest in %s periods: the summary period %s is not published (give --period 1d to publish days and "
                    "the %s, or --summary-period none)", "month" if cfg.summary_period == "1mo" else "quarter", cfg.summary_period,
                    cfg.summary_period)
    elif cfg.summary_period and cfg.kind != "unique" and period_seconds(cfg.summary_period) > period_seconds(cfg.period):
        periods.append(cfg.summary_period)
    elif cfg.summary_period and cfg.kind == "unique" and period_seconds(cfg.summary_period) > period_seconds(cfg.period):
        log.info("unique counts (distinct people) do not add up over time: the summary period %s is not published (give unique counts "
                    "per %s, or subscriber-level events with --period %s, to publish it)", cfg.summary_period, cfg.summary_period, cfg.summary_period)
    elif cfg.summary_period and period_seconds(cfg.summary_period) < period_seconds(cfg.period):  # (a probe's months and weeks: nothing said)
        log.warning("the summary period %s is shorter than --period %s: it is not published (give a longer --summary-period, or "
                    "--summary-period none)", cfg.summary_period, cfg.period)
    return periods


def partial_periods(first: str | None, last: str | None, period: str, base: str | None = None) -> str:
    """Words for the published periods of ``period`` (the summary: a quarter) that the counts
    cover in part, from the counts' first and last period starts (local ISO text); "" when
    each is covered whole. The tables' rows do not say it: a quarter's figure made from 14
    of its 92 days reads as the quarter's.

    Parameters
    ----------
    first, last : str or None
        The counts' first and last period starts.
    period : str
        The summary period (``1q``, ``1w``, ...).
    base : str, optional
        The counts' own period (the last one's end is the cover's).

    Returns
    -------
    str
    """
    from .counts import parse_period, period_end, period_floor, period_seconds

    if not first or not last or parse_period(period) not in ("1w", "1mo", "1q"):
        return ""
    a, b = (pd.Timestamp(t).tz_convert("Europe/Brussels") for t in (first, last))
    b = b + pd.Timedelta(seconds=period_seconds(parse_period(base)) - 1 if base else 0)  # (the last period's end)
    said = []
    for t in sorted({a, b}):
        start = pd.Timestamp(period_floor(pd.Series([t]), period).iloc[0]).tz_convert("Europe/Brussels")
        end = period_end(start, period)
        whole = (end.date() - start.date()).days  # (calendar days: a spring quarter is 90 days less an hour of clock time)
        held = (min(b, end - pd.Timedelta(seconds=1)).date() - max(a, start).date()).days + 1
        if 0 < held < whole:
            said.append(f"the {period} from {start.date()} holds {held} of its {whole} days")
    return "; ".join(dict.fromkeys(said))


def counts_summary(counts: pd.DataFrame | None, bins, from_events: bool = False) -> dict:
    """What the manifest says of the counts read (``counts`` as read, else the engines' ``bins``);
    counts made from subscriber-level events (``from_events``) give no number of rows (their
    cells, days and origins where anyone was: a probe read an opted-out person's 13 cell-days
    as the difference with a run before the opt-out).
    """
    def iso(t) -> str:
        return local_iso(pd.Series(pd.to_datetime([t], utc=True))).iloc[0]

    if counts is None:
        return {"rows": int(bins.info["rows"]), "period": bins.info["base_period"], "engine": bins.info.get("engine", "stream"),
                "first_period_start": iso(bins.info["first"]), "last_period_start": iso(bins.info["last"]), "notes": list(bins.info.get("notes", []))}
    return {
        "rows": "not given: counts made from subscriber-level events" if from_events else int(len(counts)),
        "engine": "memory",
        "period": counts["period"].iloc[0] if len(counts) else None,
        "first_period_start": iso(counts["period_start"].min()) if len(counts) else None,
        "last_period_start": iso(counts["period_start"].max()) if len(counts) else None,
        "notes": list(counts.attrs.get("notes", [])),
    }


#: Belgium's bounds (lon, lat), with a margin: origins read as NIS codes belong there.
_BELGIUM = (2.2, 49.2, 6.7, 51.8)


def warn_foreign_nis(origins, zones) -> None:
    """Warn when origins are read as Belgian NIS codes while the zones lie outside Belgium:
    another country's codes that happen to have five digits (a Milan probe's Italian ISTAT
    codes without their leading zero, 12021, read as Lier: its visitors came from Antwerpen).
    """
    from .origins import normalize_origins

    codes = pd.Series([str(o) for o in origins], dtype=object)
    if not len(codes) or zones is None or not len(zones) or zones.crs is None:
        return
    _, levels = normalize_origins(codes)
    nis = codes[(levels.isin(["municipality", "province"])).to_numpy() & codes.str.fullmatch(r"\d{5}").to_numpy()]
    if not len(nis):
        return
    x0, y0, x1, y1 = zones.to_crs("EPSG:4326").total_bounds
    if x1 < _BELGIUM[0] or x0 > _BELGIUM[2] or y1 < _BELGIUM[1] or y0 > _BELGIUM[3]:
        log.warning("%d origin codes (%s) are read as Belgian NIS codes, but the zones lie outside Belgium: if they are "
                    "another country's codes, give them as ISO country codes (IT) or 'unknown'", len(nis), ", ".join(nis[:3]))


def warn_unusable(zones: pd.DataFrame, fit: pd.DataFrame) -> None:
    """Warn about zones whose figures the usability rule calls unreliable (under
    :data:`geozones.weights.MIN_ZONE_KM2` or a fit under :data:`geozones.weights.LOW_FIT`):
    ``zones check --cells`` says so, and a run published a Milan probe's 0.011 km² square at
    37 people where 19 stood, with nothing said. Their intervals are wide; the figures are
    still published (a city may draw such zones to sum them).
    """
    from .weights import LOW_FIT, MIN_ZONE_KM2, usable_zones

    bad = ~usable_zones(zones["area_km2"], fit["fit"].reindex(zones["zone_id"].astype(str)))
    if bad.any():
        ids = zones["zone_id"].astype(str).to_numpy()[bad]
        log.warning("%d of %d zones too small (under %g km²) or fitting their cells too poorly (fit under %g) for their figures "
                    "to be used alone (%s%s): their intervals say how far off they may be; 'geozones zones check --cells' "
                    "says why (docs/accuracy.md)", int(bad.sum()), len(bad), MIN_ZONE_KM2, LOW_FIT,
                    ", ".join(repr(z) for z in ids[:3]), ", ..." if len(ids) > 3 else "")


def warn_hidden_holders(table, nested) -> None:
    """Warn about zones mostly hidden while a zone inside them is published nowhere: a zone
    under k throughout is bounded by the figures of the zones holding it, and disclosure
    control hides those to protect it (a probe's 100 m² square inside Gent's centre cost the
    centre all 96 of its figures, and the run named neither).
    """
    import pyarrow.compute as pc

    from .privacy import PUBLISHED, nested_items

    if table is None or not table.num_rows or not nested:
        return
    # (a zone's own figure, `all`: its origins under k are hidden anyway; filtered in Arrow, as published_all_rows)
    t = table.filter(pc.equal(table["origin"].cast("string"), ALL)).select(["zone_id", "status"]).to_pandas()
    shown = (t["status"].astype(str) == PUBLISHED).groupby(t["zone_id"].astype(str), observed=True).agg(["sum", "size"])
    said = []
    for outer, inners, _ in nested_items(nested):
        if outer not in shown.index or shown.at[outer, "sum"] * 2 >= shown.at[outer, "size"]:
            continue
        never = [z for z in inners if z in shown.index and shown.at[z, "sum"] == 0]
        if never:
            said.append(f"{outer!r} (its 'all' published in {int(shown.at[outer, 'sum'])} of {int(shown.at[outer, 'size'])} periods) holds "
                        f"{', '.join(map(repr, never[:2]))}{', ...' if len(never) > 2 else ''}, published nowhere")
    if said:
        log.warning("%s: a zone under k throughout is bounded by the figures of the zones holding it, so disclosure control may "
                    "hide them to protect it; drop or merge such zones to publish the others ('geozones zones check --cells' "
                    "names the zones too small for their cells)", "; ".join(said[:3]) + ("; ..." if len(said) > 3 else ""))


def warn_outside_home(zones, homes) -> None:
    """Note (``geozones -v``; ``zones check`` warns) zones lying partly outside the
    municipality whose residents a run sets apart in them
    (:func:`geozones.authoring_checks.outside_home`).
    """
    from .authoring_checks import outside_home

    far = outside_home(zones, homes)
    for r in far.itertuples(index=False):
        log.info("zone %r: %.0f%% of it lies outside its municipality %s: people of %s there are counted as its residents, "
                    "and the neighbouring municipality's as visitors; split the zone at the border, or give it no municipality",
                    r.zone_id, 100 * r.outside_share, r.municipality, r.municipality)
