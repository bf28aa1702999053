"""Cell plans: the operator's cells, read and checked.

A *cell plan* lists the operator's cells: where the antenna stands, where it points, how
wide its beam is and how far it reaches. This module reads one (:func:`read_cellplan`,
or :func:`read_sites` for the regulator's site/sector files), checks every row and fills
in the defaults; :mod:`geozones.coverage` builds coverage areas from it.

Cell-plan columns (CSV, Parquet or GeoJSON points):

============  ========================================================================
``cell_id``   unique id of the cell (required)
``site_id``   id of the mast; default: cells at the same position form one site
``lon, lat``  WGS84 degrees; or ``x, y`` with a CRS given by the caller
``azimuth``   degrees clockwise from north; empty for an omnidirectional cell
``beamwidth`` horizontal beamwidth in degrees; default :data:`DEFAULT_BEAMWIDTH` for
              directional cells (360 for omnidirectional ones)
``range_m``   reach in metres; default: :data:`RANGE_FACTOR` times the distance to the
              nearest other site, between :data:`MIN_RANGE_M` and :data:`MAX_RANGE_M`
              (:data:`LONE_SITE_RANGE_M` when there is only one site)
============  ========================================================================

Every default that is applied is logged on the ``geozones`` logger and kept in
``cells.attrs["defaults"]``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ._io import file_format, read_csv_text
from ._io import row_label as _row
from .crs import WGS84, metric_crs
from .errors import CellPlanError, CRSError

__all__ = [
    "DEFAULT_BEAMWIDTH",
    "RANGE_FACTOR",
    "MIN_RANGE_M",
    "MAX_RANGE_M",
    "MAX_GIVEN_RANGE_M",
    "LONE_SITE_RANGE_M",
    "read_cellplan",
    "read_sites",
    "cells_from_frame",
]

log = logging.getLogger("geozones")

#: Beamwidth (degrees) of a directional cell whose plan gives none.
DEFAULT_BEAMWIDTH = 120.0
#: Default range is this many times the distance to the nearest other site.
RANGE_FACTOR = 1.5
#: Bounds of the default range, in metres.
MIN_RANGE_M = 500.0
MAX_RANGE_M = 10_000.0
#: Default range of a cell when the plan has a single site.
LONE_SITE_RANGE_M = 2_000.0


def _points(gdf: gpd.GeoDataFrame, path: Path) -> pd.DataFrame:
    """A plan of a point per cell (GeoJSON, GeoParquet) as a table with ``lon`` and ``lat`` (WGS84)."""
    if gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).any():
        raise CellPlanError(
            "holds polygons, not cell positions",
            path=path,
            hint="polygons are coverage areas: apportion, weights, visitors and 'zones check' take them (--model given); "
                 "'zones preview' and 'zones draw' need the cell plan",
        )
    if not gdf.geometry.geom_type.eq("Point").all():
        bad = int(np.flatnonzero(~gdf.geometry.geom_type.eq("Point").to_numpy())[0])
        raise CellPlanError(f"feature {bad} is not a Point", path=path, hint="a cell plan has one point per cell")
    if gdf.crs is not None and not gdf.crs.equals(pyproj.CRS(WGS84)):
        gdf = gdf.to_crs(WGS84)
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    df["lon"], df["lat"] = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    return df


def _read_table(path: Path) -> tuple[pd.DataFrame, str]:
    fmt = file_format(path)
    try:
        if fmt == "csv":
            df = read_csv_text(path, error=CellPlanError, what="cell plan")
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            geo = b"geo" in (pq.read_schema(path).metadata or {})  # (GeoParquet: a point per cell, as a GeoJSON plan)
            df = _points(gpd.read_parquet(path), path) if geo else pd.read_parquet(path)
        elif fmt in ("geojson", "json"):
            with open(path, "rb") as fh:
                head = fh.read(4096).lstrip()
            if head.startswith(b"["):
                return read_sites(path), "sites"
            df = _points(gpd.read_file(path), path)
        else:
            raise CellPlanError(
                f"unknown file type {path.suffix!r}", path=path, hint="give a .csv, .parquet or .geojson cell plan"
            )
    except CellPlanError:
        raise
    except FileNotFoundError as exc:
        raise CellPlanError("no such file", path=path, hint="check the path") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise CellPlanError(f"cannot read the file: {exc}", path=path, hint="check that it is a valid " + (fmt or "table")) from exc
    except Exception as exc:  # pyogrio and pyarrow raise their own classes
        raise CellPlanError(f"cannot read the file: {exc}", path=path, hint="check that it is a valid " + (fmt or "table")) from exc
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    return df, fmt


_MISSING = {"", "nan", "NaN", "None", "NA", "null"}


def _register_columns(df: pd.DataFrame, path: Path, fmt: str, defaults: list[str]) -> None:
    """The register's optional antenna columns (``height_m``, ``tilt``, ``power_dbm`` and
    their other names) read as numbers like the others (a decimal comma too; text that is
    not a number an error naming the line), and a power missing on some rows given the
    others' median: an empty power read as 0 dBm took a probe's cells 45 dB under their
    neighbours, so that they reached nobody.
    """
    lower = {str(c).lower(): c for c in df.columns}
    for names in (("height_m", "height"), ("tilt", "downtilt"), ("power_dbm", "power")):
        col = next((lower[n] for n in names if n in lower), None)
        if col is None:
            continue
        vals = _numeric(df, col, path, fmt, required=False)
        empty = np.isnan(vals)
        if names[0] == "power_dbm" and empty.any() and not empty.all():
            fill = float(np.median(vals[~empty]))
            vals = np.where(empty, fill, vals)
            defaults.append(f"{int(empty.sum())} cells had no {col}: used the others' median, {fill:g} dBm")
        elif names[0] == "tilt" and empty.any() and not empty.all():
            defaults.append(f"{int(empty.sum())} cells had no {col}: the footprint model takes a downtilt of 4 degrees")
        elif names[0] == "height_m" and empty.any() and not empty.all():
            defaults.append(f"{int(empty.sum())} cells had no {col}: the footprint model leaves out their vertical pattern")
        df[col] = vals


#: The longest reach a cell plan's ``range_m`` may give: no mobile cell reaches further
#: (the default range stops at :data:`MAX_RANGE_M`; this name once took that one's place,
#: and default ranges ran to 100 km where the documentation said 10).
MAX_GIVEN_RANGE_M = 100_000.0


def _numeric(df: pd.DataFrame, col: str, path: Path, fmt: str, *, required: bool) -> np.ndarray:
    """A column as floats; empty cells become NaN; text that is not a number is an error."""
    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        bad = np.zeros(len(vals), dtype=bool)
    else:
        text = s.astype(str).str.strip()
        missing = text.isin(_MISSING) | s.isna()
        # a decimal comma, common in Belgian spreadsheets, when there is no dot
        text = text.where(text.str.contains(".", regex=False), text.str.replace(",", ".", regex=False))
        vals = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(vals) & ~missing.to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CellPlanError(
            f"{col} {s.iloc[i]!r} is not a number",
            path=path,
            where=f"{_row(i, fmt)} (cell_id {df['cell_id'].iloc[i]!r})",
            hint=f"give {col} as a number" + ("" if required else " or leave it empty"),
        )
    if np.isinf(vals).any():
        i = int(np.flatnonzero(np.isinf(vals))[0])
        raise CellPlanError(
            f"{col} is infinite", path=path, where=f"{_row(i, fmt)} (cell_id {df['cell_id'].iloc[i]!r})", hint=f"give a finite {col}"
        )
    if required and np.isnan(vals).any():
        i = int(np.flatnonzero(np.isnan(vals))[0])
        raise CellPlanError(
            f"{col} is missing",
            path=path,
            where=f"{_row(i, fmt)} (cell_id {df['cell_id'].iloc[i]!r})",
            hint=f"every cell needs {col}",
        )
    return vals


def read_cellplan(
    path: str | os.PathLike[str],
    *,
    crs: str | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Read a cell plan from CSV, Parquet, GeoJSON points, or a regulator sites file.

    Parameters
    ----------
    path : str or os.PathLike
        The cell plan. CSV may use ``,``, ``;`` or tab as delimiter and may carry a
        UTF-8 byte-order mark. A ``.json`` file holding a list of sites with
        ``location`` and ``sectors`` is read with :func:`read_sites`.
    crs : str or pyproj.CRS, optional
        The CRS of ``x`` and ``y`` columns (required when the plan has ``x, y`` rather
        than ``lon, lat``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell, in ``cell_id`` order (the file's row order changes nothing):
        ``cell_id``, ``site_id``, ``azimuth`` (NaN when omnidirectional), ``beamwidth``,
        ``range_m``, any other columns, and a Point geometry in EPSG:4326.
        ``attrs["defaults"]`` lists the defaults applied.

    Raises
    ------
    CellPlanError
        Missing columns, duplicate ``cell_id``, values out of range or not numeric
        (naming the row), positions that are not longitude/latitude.
    """
    path = Path(path)
    df, fmt = _read_table(path)
    if fmt == "sites":
        return df
    return cells_from_frame(df, path, fmt, crs)


def cells_from_frame(df: pd.DataFrame, path: Path, fmt: str, crs: str | pyproj.CRS | None) -> gpd.GeoDataFrame:
    """A cell plan from a table's rows, checked as :func:`read_cellplan` checks a file.

    Parameters
    ----------
    df : pandas.DataFrame
        The rows: ``cell_id``, ``site_id``, ``lon``/``lat`` or ``x``/``y``, and optionally
        ``azimuth``, ``beamwidth``, ``range_m`` (column names in any case).
    path : Path
        The file the rows come from, to name it in errors.
    fmt : str
        ``csv`` or another format, for how rows are named in errors (line or row).
    crs : str or pyproj.CRS, optional
        The CRS of ``x``/``y`` columns.

    Returns
    -------
    geopandas.GeoDataFrame
        One point per cell, with the cell plan's columns.
    """
    lower = {c.lower(): c for c in df.columns}
    df = df.rename(columns={lower[k]: k for k in ("cell_id", "site_id", "lon", "lat", "x", "y", "azimuth", "beamwidth", "range_m") if k in lower})
    if "cell_id" not in df.columns:
        raise CellPlanError(
            f"has no cell_id column (columns: {', '.join(map(str, df.columns)) or 'none'})",
            path=path,
            hint="a cell plan needs cell_id and lon, lat (or x, y with --crs)",
        )
    if not len(df):
        raise CellPlanError("has no cells", path=path, hint="export the cell plan again")
    df = df.copy()
    df["cell_id"] = df["cell_id"].astype(str).str.strip()
    empty = (df["cell_id"] == "") | df["cell_id"].isin(["nan", "None"])
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise CellPlanError("cell_id is empty", path=path, where=_row(i, fmt), hint="give every cell an id")
    dup = df["cell_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = df["cell_id"].iloc[rows[0]]
        same = rows[df["cell_id"].to_numpy()[rows] == first]
        raise CellPlanError(
            f"cell_id {first!r} appears more than once ({', '.join(_row(int(r), fmt) for r in same[:5])})",
            path=path,
            hint="each cell must have a unique cell_id",
        )
    if {"lon", "lat"} <= set(df.columns):
        x = _numeric(df, "lon", path, fmt, required=True)
        y = _numeric(df, "lat", path, fmt, required=True)
        bad = (np.abs(x) > 180) | (np.abs(y) > 90)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            swapped = (np.abs(x) <= 90).all() and (np.abs(y) <= 180).all()
            raise CellPlanError(
                f"lon {x[i]:g}, lat {y[i]:g} is not a longitude/latitude position"
                + ("; the columns look swapped" if swapped else "; it looks projected"),
                path=path,
                where=f"{_row(i, fmt)} (cell_id {df['cell_id'].iloc[i]!r})",
                hint="swap the lon and lat columns" if swapped else "name the columns x, y and give their CRS with --crs",
            )
        src = pyproj.CRS(WGS84)
    elif {"x", "y"} <= set(df.columns):
        if crs is None:
            raise CellPlanError(
                "has x, y columns but no CRS was given",
                path=path,
                hint="give their CRS, e.g. --crs EPSG:31370 for Belgian Lambert 72",
            )
        try:
            src = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise CRSError(f"unknown CRS {crs!r} for the x, y columns", path=path, hint="give an EPSG code such as EPSG:31370") from exc
        x = _numeric(df, "x", path, fmt, required=True)
        y = _numeric(df, "y", path, fmt, required=True)
    else:
        raise CellPlanError(
            f"has no position columns (columns: {', '.join(map(str, df.columns))})",
            path=path,
            hint="give lon, lat in WGS84 degrees, or x, y with --crs",
        )
    defaults: list[str] = []
    az = _numeric(df, "azimuth", path, fmt, required=False) if "azimuth" in df.columns else np.full(len(df), np.nan)
    wrapped = ~np.isnan(az) & ((az < 0) | (az >= 360))
    given_az, az = az, np.mod(az, 360.0)
    bw = _numeric(df, "beamwidth", path, fmt, required=False) if "beamwidth" in df.columns else np.full(len(df), np.nan)
    rng = _numeric(df, "range_m", path, fmt, required=False) if "range_m" in df.columns else np.full(len(df), np.nan)
    for name, vals, ok, rule in (
        ("beamwidth", bw, lambda v: (v > 0) & (v <= 360), "between 0 (excluded) and 360 degrees"),
        ("range_m", rng, lambda v: (v > 0) & (v <= MAX_GIVEN_RANGE_M), f"a positive number of metres, at most {MAX_GIVEN_RANGE_M:,.0f} (no cell reaches further)"),
    ):
        given = ~np.isnan(vals)
        badv = given & ~ok(np.where(given, vals, 1.0))
        if badv.any():
            i = int(np.flatnonzero(badv)[0])
            raise CellPlanError(
                f"{name} {vals[i]:g} is out of range",
                path=path,
                where=f"{_row(i, fmt)} (cell_id {df['cell_id'].iloc[i]!r})",
                hint=f"{name} must be {rule}",
            )
    omni = np.isnan(az)
    if wrapped.any():  # (a probe's azimuths of 400 and -30 went without a word)
        i = int(np.flatnonzero(wrapped)[0])
        defaults.append(f"{int(wrapped.sum())} azimuths outside 0-360 degrees were taken round the circle "
                        f"(e.g. cell {df['cell_id'].iloc[i]!r}: {given_az[i]:g} as {az[i]:g})")
    fill_bw = np.isnan(bw)
    if omni.any():  # (a site register without sectors: a probe's 129 Gent sites were discs without a word)
        defaults.append(f"{f'all {len(omni)}' if omni.all() else f'{int(omni.sum())} of the {len(omni)}'} cells had no azimuth: "
                        "taken as omnidirectional (a disc, or a footprint the same all round)")
    if (fill_bw & ~omni).any():
        defaults.append(f"{int((fill_bw & ~omni).sum())} directional cells had no beamwidth: used {DEFAULT_BEAMWIDTH:g} degrees")
    bw = np.where(fill_bw, np.where(omni, 360.0, DEFAULT_BEAMWIDTH), bw)
    geom = gpd.GeoSeries(shapely.points(x, y), crs=src).to_crs(WGS84)
    lon, lat = geom.x.to_numpy(), geom.y.to_numpy()
    if not src.equals(pyproj.CRS(WGS84)) and not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise CellPlanError("some x, y positions cannot be converted from the given CRS", path=path, hint="check --crs")
    off = np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))
    if len(off):  # (a probe's metres declared --crs EPSG:4326: "no UTM zone found for longitude 942201" named no file)
        i = int(off[0])
        raise CellPlanError(f"x {x[i]:.7g}, y {y[i]:.7g} is no position in {src.name} (longitude {lon[i]:.7g}, latitude {lat[i]:.7g})", path=path,
                            where=f"{_row(i, fmt)} (cell_id {df['cell_id'].iloc[i]!r})",
                            hint="check --crs: it names the CRS of the plan's x, y (metres need a projected CRS, e.g. EPSG:2154 or EPSG:31370)")
    given = None
    if "site_id" in df.columns:  # (empty where a row gives none)
        given = df["site_id"].map(lambda v: "" if pd.isna(v) else str(v).strip())
    if given is None or (given == "").any():
        key = np.round(np.c_[geom.x.to_numpy(), geom.y.to_numpy()], 6)
        _, inv = np.unique(key, axis=0, return_inverse=True)
        by_position = pd.Series(inv.ravel(), index=df.index).map(lambda k: f"site{k}")
        if given is None:
            df["site_id"] = by_position.to_numpy()
            defaults.append("no site_id column: cells at the same position were taken as one site")
        else:
            empty = given == ""
            # a position some row names a site for is that site; others, one per position
            named = pd.Series(given[~empty].to_numpy(), index=by_position[~empty].to_numpy())
            named = named[~named.index.duplicated()]
            df["site_id"] = given.where(~empty, by_position.map(named).fillna("@" + by_position)).to_numpy()
            defaults.append(f"{int(empty.sum())} cells had no site_id: cells at the same position were taken as one site")
    else:
        df["site_id"] = given.to_numpy()
    _register_columns(df, path, fmt, defaults)
    if np.isnan(rng).any():
        auto, note = _default_range(geom, df["site_id"].to_numpy())
        n = int(np.isnan(rng).sum())
        rng = np.where(np.isnan(rng), auto, rng)
        defaults.append(f"{n} cells had no range_m: {note}")
    keep = [c for c in df.columns if c not in ("lon", "lat", "x", "y", "azimuth", "beamwidth", "range_m", "cell_id", "site_id")]
    out = gpd.GeoDataFrame(
        {
            "cell_id": df["cell_id"].to_numpy(),
            "site_id": df["site_id"].to_numpy(),
            "azimuth": az,
            "beamwidth": bw,
            "range_m": rng,
            **{c: df[c].to_numpy() for c in keep},
        },
        geometry=geom.values,
        crs=WGS84,
    )
    for d in defaults:
        log.info("%s: %s", path, d)
    # cells in id order, whatever the file's: the audit's choices follow the cells' order (a probe's plan
    # re-exported in another row order published 107 figures otherwise), as weights files are read
    out = out.iloc[np.argsort(out["cell_id"].astype(str).to_numpy(), kind="stable")].reset_index(drop=True)
    out.attrs["defaults"] = defaults
    out.attrs["source"] = str(path)
    return out


def _default_range(points: gpd.GeoSeries, site_ids: np.ndarray) -> tuple[np.ndarray, str]:
    """The default range of each cell from the spacing of the sites."""
    from scipy.spatial import cKDTree

    metric = points.to_crs(metric_crs(points.total_bounds))
    xy = np.c_[metric.x.to_numpy(), metric.y.to_numpy()]
    sites, inv = np.unique(np.round(xy, 1), axis=0, return_inverse=True)
    inv = inv.ravel()
    if len(sites) < 2:
        return np.full(len(xy), LONE_SITE_RANGE_M), f"one site only: used {LONE_SITE_RANGE_M:g} m"
    d, _ = cKDTree(sites).query(sites, k=2)
    r = np.clip(RANGE_FACTOR * d[:, 1], MIN_RANGE_M, MAX_RANGE_M)
    return r[inv], (
        f"used {RANGE_FACTOR:g} x the distance to the nearest other site, "
        f"between {MIN_RANGE_M:g} and {MAX_RANGE_M:g} m (median {np.median(r[inv]):.0f} m)"
    )


_OPERATOR = re.compile(r"_(pxs|org|tnt|[a-z]{3})$", re.IGNORECASE)


def read_sites(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> gpd.GeoDataFrame:
    """Read regulator-style site/sector files into a cell plan.

    Each file is a JSON list of sites, each with ``location`` ``{x, y}`` in Belgian
    Lambert 72 (EPSG:31370), an id (``bipt_id`` or ``id``) and a list of ``sectors``
    with ``Azimuth`` (degrees from north) and ``HAperture`` (horizontal beamwidth,
    degrees). This is the form of the Belgian BIPT and Flemish permit registers.

    Parameters
    ----------
    paths : path or iterable of paths
        One file per operator, e.g. ``leuven_basestations_pxs.json``. When the file name
        ends in ``_xyz`` (an operator code), ids are prefixed with it.

    Returns
    -------
    geopandas.GeoDataFrame
        A cell plan as from :func:`read_cellplan`: one cell per sector, ``cell_id``
        ``"{operator}-{site}-{k}"``, ``site_id`` ``"{operator}-{site}"``, plus ``frequency``,
        ``operator`` and, for the footprint model, ``height_m`` (the antenna's ``AGL``: its
        ``Height`` is the antenna's own length), ``tilt`` (degrees of downtilt, positive
        down: minus the register's ``ETilt`` plus ``MTilt``, which it writes negative down;
        a range such as ``"0 - -10"`` gives its middle) and ``power_dbm`` (``Power``) where
        the file gives them.

    Raises
    ------
    CellPlanError
        If a file is not such a list, or a site lacks a location.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames = []
    for path in map(Path, paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError as exc:
            raise CellPlanError("no such file", path=path, hint="check the path") from exc
        except RecursionError:
            raise CellPlanError("its JSON is nested too deeply to be a cell plan", path=path, hint="the file is damaged; export it again") from None
        except json.JSONDecodeError as exc:
            raise CellPlanError(
                f"not valid JSON: {exc.msg}", path=path, where=f"line {exc.lineno}, column {exc.colno}", hint="the file may be truncated"
            ) from exc
        if not isinstance(data, list):
            raise CellPlanError("is not a list of sites", path=path, hint="expected [{location: {x, y}, sectors: [...]}, ...]")
        m = _OPERATOR.search(path.stem)
        op = m.group(1).lower() if m else path.stem
        rows = []
        for i, site in enumerate(data):
            loc = site.get("location") if isinstance(site, dict) else None
            if not isinstance(loc, dict) or "x" not in loc or "y" not in loc:
                raise CellPlanError("site has no location {x, y}", path=path, where=f"site {i}", hint="every site needs a location")
            sid = f"{op}-{site.get('bipt_id', site.get('id', i))}"
            sectors = site.get("sectors") or []
            if not isinstance(sectors, list):
                raise CellPlanError("sectors is not a list", path=path, where=f"site {i} ({sid})")
            if not sectors:
                sectors = [{}]  # a site with no sector data: one omnidirectional cell
            for k, sec in enumerate(sectors):
                sec = sec if isinstance(sec, dict) else {}
                rows.append(
                    {
                        "cell_id": f"{sid}-{k}",
                        "site_id": sid,
                        "x": loc["x"],
                        "y": loc["y"],
                        "azimuth": sec.get("Azimuth", sec.get("azimuth")),
                        "beamwidth": sec.get("HAperture", sec.get("beamwidth")),
                        "frequency": sec.get("Frequency"),
                        "height_m": sec.get("AGL"),
                        "tilt": _downtilt(sec.get("ETilt"), sec.get("MTilt")),
                        "power_dbm": sec.get("Power"),
                        "operator": op,
                    }
                )
        if rows:
            frames.append(pd.DataFrame(rows))
    if not frames:
        raise CellPlanError("the sites files hold no site", path=", ".join(map(str, paths)))
    df = pd.concat(frames, ignore_index=True)
    df["beamwidth"] = pd.to_numeric(df["beamwidth"], errors="coerce").where(lambda v: v > 0)
    for col, lo, hi in (("height_m", 0.0, 1000.0), ("tilt", -20.0, 90.0), ("power_dbm", -50.0, 100.0)):  # (out of range: the default)
        df[col] = pd.to_numeric(df[col], errors="coerce").where(lambda v, lo=lo, hi=hi: (v >= lo) & (v <= hi))
    return cells_from_frame(df, Path(", ".join(map(str, paths))), "sites", "EPSG:31370")


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _downtilt(etilt, mtilt) -> float:
    """Degrees of downtilt (positive down) from a register's electrical and mechanical tilt,
    written negative down; an electrical tilt given as a range ("0 - -10") counts at its
    middle. NaN when neither is a number.
    """
    def value(v) -> float:
        if v is None:
            return np.nan
        if isinstance(v, (int, float)):
            return float(v)
        nums = [float(n) for n in _NUMBER.findall(str(v).replace(" - ", " "))]
        return float(np.mean(nums)) if nums else np.nan

    e, m = value(etilt), value(mtilt)
    if np.isnan(e) and np.isnan(m):
        return np.nan
    return -(np.nan_to_num(e) + np.nan_to_num(m))
