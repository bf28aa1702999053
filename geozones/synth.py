"""Seeded synthetic inputs: cell plans whose sites follow a population grid.

Real cell plans are operators' secrets; the sample data, the demo and the benchmarks use
synthetic ones made here. Sites are drawn at random with a probability proportional to
the population of each grid pixel (networks are densest where people are), each with
three sectors (azimuths 120 degrees apart, a random orientation per site) and, in the
densest places, some omnidirectional small cells.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .counts import TIMEZONE
from .crs import WGS84, metric_crs, pixel_to_map
from .errors import InputError

__all__ = ["synthetic_cellplan", "demo_scenario", "national_case", "national_counts"]


def synthetic_cellplan(
    population: str | os.PathLike[str],
    area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    n_sites: int,
    *,
    seed: int = 0,
    sectors: int = 3,
    beamwidth: float = 65.0,
    small_cell_share: float = 0.1,
    prefix: str = "syn",
) -> pd.DataFrame:
    """A synthetic cell plan whose sites follow a population raster.

    Parameters
    ----------
    population : path
        A population raster (GeoTIFF, any CRS), e.g. the GHSL grid.
    area : GeoDataFrame, GeoSeries or shapely geometry
        Where to place sites (a bare geometry is WGS84 longitude/latitude).
    n_sites : int
        Number of sites.
    seed : int, default 0
        Random seed; the same seed gives the same plan.
    sectors : int, default 3
        Sectors of a macro site.
    beamwidth : float, default 65
        Horizontal beamwidth of a sector, in degrees (a typical antenna's 3 dB aperture).
    small_cell_share : float, default 0.1
        Share of sites that are omnidirectional small cells, placed in the densest pixels.
    prefix : str, default "syn"
        Prefix of site and cell ids.

    Returns
    -------
    pandas.DataFrame
        A cell plan: ``cell_id``, ``site_id``, ``lon``, ``lat``, ``azimuth`` (NaN for small
        cells), ``beamwidth``, ``range_m`` (1.5 x the distance to the nearest other site,
        300 m to 5 km; 300 m for small cells).
    """
    import rasterio
    from rasterio.windows import from_bounds
    from scipy.spatial import cKDTree

    if n_sites < 1:
        raise InputError(f"n_sites must be at least 1, not {n_sites}")
    rng = np.random.default_rng(seed)
    if isinstance(area, shapely.Geometry):
        area = gpd.GeoSeries([area], crs=WGS84)
    geo = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
    with rasterio.open(population) as src:
        shape = shapely.union_all(geo.to_crs(src.crs).values)
        window = from_bounds(*shape.bounds, transform=src.transform).round_offsets().round_lengths()
        data = np.ma.filled(src.read(1, window=window, masked=True).astype(float), 0.0)
        transform = src.window_transform(window)
        crs = src.crs
    rows, cols = np.nonzero(np.isfinite(data) & (data > 0))
    cx, cy = pixel_to_map(transform, cols + 0.5, rows + 0.5)
    inside = shapely.contains_xy(shape, cx, cy)
    rows, cols, cx, cy = rows[inside], cols[inside], cx[inside], cy[inside]
    if not len(rows):
        raise InputError("the population raster holds nobody inside the area", path=str(population))
    pop = data[rows, cols]
    n_small = int(round(n_sites * small_cell_share))
    n_macro = n_sites - n_small
    # probability rising with population (square root, so that villages get coverage too)
    weight = np.sqrt(pop)
    pick = rng.choice(len(pop), size=n_macro, p=weight / weight.sum())
    px, py = abs(transform.a), abs(transform.e)
    mx = cx[pick] + rng.uniform(-0.5, 0.5, n_macro) * px
    my = cy[pick] + rng.uniform(-0.5, 0.5, n_macro) * py
    dense = np.argsort(pop)[::-1][: max(n_small * 3, 1)]
    spick = rng.choice(dense, size=n_small, replace=True) if n_small else np.array([], dtype=int)
    sx = cx[spick] + rng.uniform(-0.5, 0.5, n_small) * px
    sy = cy[spick] + rng.uniform(-0.5, 0.5, n_small) * py
    to_ll = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    lon, lat = to_ll.transform(np.r_[mx, sx], np.r_[my, sy])
    metric = pyproj.Transformer.from_crs(WGS84, metric_crs((lon.min(), lat.min(), lon.max(), lat.max())), always_xy=True)
    x, y = metric.transform(lon, lat)
    if n_sites > 1:
        d, _ = cKDTree(np.c_[x, y]).query(np.c_[x, y], k=2)
        site_range = np.clip(1.5 * d[:, 1], 300.0, 5000.0)
    else:
        site_range = np.array([2000.0])
    site_range[n_macro:] = 300.0
    width = len(str(n_sites))
    site_ids = np.array([f"{prefix}{i:0{width}d}" for i in range(n_sites)])
    orient = rng.uniform(0, 360 / sectors, n_macro)
    macro_az = (orient[:, None] + np.arange(sectors)[None, :] * (360 / sectors)) % 360
    macro = pd.DataFrame(
        {
            "site_id": np.repeat(site_ids[:n_macro], sectors),
            "sector": np.tile(np.arange(sectors), n_macro),
            "lon": np.repeat(lon[:n_macro], sectors),
            "lat": np.repeat(lat[:n_macro], sectors),
            "azimuth": np.round(macro_az.ravel(), 1),
            "beamwidth": beamwidth,
            "range_m": np.round(np.repeat(site_range[:n_macro], sectors)),
        }
    )
    small = pd.DataFrame(
        {
            "site_id": site_ids[n_macro:],
            "sector": 0,
            "lon": lon[n_macro:],
            "lat": lat[n_macro:],
            "azimuth": np.nan,
            "beamwidth": np.nan,
            "range_m": site_range[n_macro:],
        }
    )
    plan = pd.concat([macro, small], ignore_index=True)
    plan.insert(0, "cell_id", plan["site_id"] + "-" + plan["sector"].astype(str))
    plan["lon"], plan["lat"] = plan["lon"].round(6), plan["lat"].round(6)
    return plan.drop(columns="sector")


# ------------------------------------------------------------------------- the demo
#: The demo's quarter and its event days (fictional dates, realistic shape).
DEMO_START = "2026-07-01"
DEMO_DAYS = 92
BRADERIE = ("2026-07-03", "2026-07-04", "2026-07-05")
FESTIVAL = ("2026-08-21", "2026-08-22", "2026-08-23")
#: Visitors to the centre on an ordinary day, before weekday variation.
CENTRE_VISITORS = 20_000
#: Hourly profile of visitors present (local hours 0-23), scaled to a mean of 1.
_PROFILE = np.array([0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.7, 1.0, 1.4, 1.8, 2.1,
                     2.2, 2.1, 2.1, 2.0, 1.9, 1.7, 1.5, 1.3, 1.0, 0.7, 0.45, 0.25])
_PROFILE = _PROFILE / _PROFILE.mean()
_WEEKDAY = np.array([0.9, 0.9, 1.0, 1.0, 1.05, 1.3, 0.85])  # Monday first
_WEEKDAY = _WEEKDAY / _WEEKDAY.mean()
#: Visitors' origins outside West Flanders: share of all visitors.
_OTHER_BE = {"40000": 0.06, "50000": 0.04, "10000": 0.015, "20001": 0.015, "04000": 0.015, "70000": 0.005,
             "60000": 0.005, "90000": 0.005, "20002": 0.005, "80000": 0.005}
_ABROAD = {"208": 0.05, "204": 0.015, "262": 0.006, "234": 0.004, "214": 0.002, "222": 0.0015, "310": 0.0015}
#: The operator's market share per origin in the demo (the market-share table it writes).
_SHARES = {"30000": 0.42, "40000": 0.40, "10000": 0.38, "20001": 0.39, "04000": 0.35, "50000": 0.33, "60000": 0.33,
           "70000": 0.41, "80000": 0.32, "90000": 0.33, "20002": 0.34, "BE": 0.40, "FR": 0.30, "NL": 0.25,
           "DE": 0.28, "GB": 0.27, "*": 0.25}


def _data(*parts: str):
    from importlib import resources

    return resources.files("geozones").joinpath("data", *parts)


def _assign_cells(points: np.ndarray, coverage: gpd.GeoDataFrame, rng: np.random.Generator) -> np.ndarray:
    """Share of points served by each cell: a point picks one of the cells whose area holds it."""
    geoms = np.asarray(coverage.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    pi, ci = tree.query(points, predicate="intersects")
    order = rng.permutation(len(pi))
    pi, ci = pi[order], ci[order]
    _, first = np.unique(pi, return_index=True)
    served = np.bincount(ci[first], minlength=len(geoms)).astype(float)
    return served / served.sum()


def _points_in(shape: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = shape.bounds
    out = []
    shapely.prepare(shape)
    while sum(len(o) for o in out) < n:
        p = shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n))
        out.append(p[shapely.contains(shape, p)])
    return np.concatenate(out)[:n]


def demo_scenario(folder: str | os.PathLike[str], *, seed: int = 7, days: int = DEMO_DAYS, sites: int = 60, devices: int = 10_000) -> dict:
    """Write a seeded, realistic Kortrijk scenario: cell plan, hourly counts, market shares.

    People are placed where they would be (visitors in the city centre and the shopping
    areas, residents following the population grid), each served by the best-server
    (Voronoi) cell of a synthetic network whose sites follow population. Counts are the
    operator's own subscribers: Poisson draws of the expected people x market share.

    * about 20,000 visitors a day in the centre on an ordinary day (more on Saturdays),
      peaks on a braderie (:data:`BRADERIE`) and a festival weekend (:data:`FESTIVAL`);
    * three quarters of visitors from West-Vlaanderen (by a gravity model over its
      municipalities), about 1.5% from Antwerp, France first abroad, and three times the
      Dutch share on festival days;
    * residents of Kortrijk (origin 34022) all the time.

    Parameters
    ----------
    folder : path
        Where to write ``cellplan.csv``, ``counts.parquet`` and ``market_share.csv``.
    seed : int
        Random seed: the same seed writes the same files.
    days : int, default 92
        Length of the scenario from :data:`DEMO_START` (a summer quarter).
    sites : int, default 60
        Sites of the synthetic network.
    devices : int, default 10,000
        Devices in the sample of subscriber-level events (``device_events.parquet``,
        :func:`geozones.synth_devices.demo_device_events`).

    Returns
    -------
    dict
        Paths of the files written (``cells``, ``counts``, ``market_share``, ``zones``, ``device_events``) and
        the true numbers behind them (``true_centre_visitors`` per day).
    """
    from .cellplan import read_cellplan
    from .coverage import voronoi_coverage

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # a copy of the catalogue beside the other inputs, so that the scenario's run.toml
    # still runs after geozones is upgraded or reinstalled elsewhere
    zones_dir = folder / "zones"
    zones_dir.mkdir(exist_ok=True)
    for f in sorted(Path(str(_data("kortrijk", "zones"))).glob("*.geojson")):
        shutil.copyfile(f, zones_dir / f.name)
    muni = gpd.read_file(str(_data("kortrijk", "municipality.geojson")))
    pop_path = str(_data("kortrijk", "population_100m.tif"))
    plan = synthetic_cellplan(pop_path, muni, sites, seed=seed, prefix="kor")
    cells_path = folder / "cellplan.csv"
    plan.to_csv(cells_path, index=False)
    cells = read_cellplan(cells_path)
    cov = voronoi_coverage(cells)
    metric = cov.crs

    import geozones.zones as gzz

    zones = gzz.read_zones(str(zones_dir)).to_crs(metric)
    centre = shapely.union_all(zones.loc[zones["zone_id"].str.startswith("centre-"), "geometry"].values)
    shops = shapely.union_all(zones.loc[zones["zone_id"].str.startswith("shop-"), "geometry"].values)
    p_centre = _assign_cells(_points_in(centre, 20_000, rng), cov, rng)
    p_shops = _assign_cells(_points_in(shops, 20_000, rng), cov, rng)
    # residents: points drawn from the population grid inside the municipality
    import rasterio

    with rasterio.open(pop_path) as src:
        data = np.nan_to_num(src.read(1).astype(float))
        t = src.transform
        src_crs = src.crs
    rows, cols = np.nonzero(data > 0)
    from .crs import pixel_to_map

    x, y = pixel_to_map(t, cols + 0.5, rows + 0.5)
    pts = gpd.GeoSeries(shapely.points(x, y), crs=src_crs).to_crs(metric).values
    area = shapely.union_all(muni.to_crs(metric).geometry.values)
    shapely.prepare(area)
    inside = shapely.contains(area, pts)
    pop = data[rows, cols][inside]
    pick = rng.choice(int(inside.sum()), size=30_000, p=pop / pop.sum())
    home = np.asarray(pts[inside])[pick] 
    p_res = _assign_cells(home, cov, rng)
    residents = float(pop.sum())

    # visitors' origins
    wv = pd.read_csv(str(_data("kortrijk", "westvlaanderen_municipalities.csv")), dtype={"code": str})
    wv = wv[wv["code"] != "34022"]
    gravity = wv["population"].to_numpy() / (wv["distance_km"].to_numpy() + 5.0) ** 2
    top = np.argsort(gravity)[::-1][:25]
    wv_codes = list(wv["code"].to_numpy()[top]) + ["30000"]
    wv_w = np.r_[gravity[top], gravity.sum() - gravity[top].sum()]
    wv_w = 0.75 * wv_w / wv_w.sum()
    origins = wv_codes + list(_OTHER_BE) + list(_ABROAD)
    mix = np.r_[wv_w, list(_OTHER_BE.values()), list(_ABROAD.values())]
    mix = mix / mix.sum()
    nl = origins.index("204")
    share = np.array([_SHARES.get(_share_key(o), _SHARES["*"]) for o in origins])

    start = pd.Timestamp(DEMO_START, tz="Europe/Brussels")
    frames = []
    true_centre = []
    for d in range(days):
        day = start + pd.Timedelta(days=d)
        hours = pd.date_range(day, periods=24, freq="h")
        date = day.strftime("%Y-%m-%d")
        factor = _WEEKDAY[day.day_of_week] * rng.lognormal(0, 0.05)
        m = mix.copy()
        if date in BRADERIE:
            factor *= 2.4
        if date in FESTIVAL:
            factor *= 1.9
            m[nl] *= 3
            m = m / m.sum()
        visitors = CENTRE_VISITORS * factor
        true_centre.append((date, visitors))
        presence = visitors * _PROFILE  # (24,)
        shop_presence = 0.35 * CENTRE_VISITORS * _WEEKDAY[day.day_of_week] * _PROFILE
        vis = np.outer(p_centre, presence) + np.outer(p_shops, shop_presence)  # (cells, 24)
        lam = vis[:, :, None] * (m * share)[None, None, :]  # (cells, 24, origins)
        res = np.outer(p_res, np.full(24, residents)) * _SHARES["30000"]
        n = rng.poisson(lam)
        r = rng.poisson(res)
        ci, hi, oi = np.nonzero(n)
        frames.append(pd.DataFrame({"c": ci, "h": hours[hi], "o": np.asarray(origins, dtype=object)[oi], "count": n[ci, hi, oi]}))
        cr, hr = np.nonzero(r)
        frames.append(pd.DataFrame({"c": cr, "h": hours[hr], "o": "34022", "count": r[cr, hr]}))
    allc = pd.concat(frames, ignore_index=True)
    counts = pd.DataFrame(
        {
            "cell_id": pd.Categorical(cov["cell_id"].to_numpy()[allc["c"].to_numpy()]),
            "period_start": allc["h"].dt.tz_convert("UTC"),
            "period": "1h",
            "origin": pd.Categorical(allc["o"]),
            "count": allc["count"].astype("int32"),
        }
    ).sort_values(["period_start", "cell_id", "origin"], kind="stable")
    counts_path = folder / "counts.parquet"
    counts.to_parquet(counts_path, index=False)
    events_path = folder / "events.csv"
    pd.DataFrame(
        [{"name": "Braderie", "date": d} for d in BRADERIE] + [{"name": "Festival", "date": d} for d in FESTIVAL]
    ).to_csv(events_path, index=False)
    spend_path = folder / "spend.csv"
    _demo_spend(true_centre, rng).to_csv(spend_path, index=False)
    shares_path = folder / "market_share.csv"
    pd.DataFrame({"origin": list(_SHARES), "share": list(_SHARES.values())}).to_csv(shares_path, index=False)
    from .synth_devices import demo_device_events

    busy = {**{d: 2.4 for d in BRADERIE}, **{d: 1.9 for d in FESTIVAL}}
    devices = demo_device_events(folder / "device_events.parquet", cov["cell_id"].to_numpy(), p_centre, p_shops, p_res, origins, mix,
                                 start=DEMO_START, days=days, busy_days=busy, devices=devices, seed=seed)
    return {
        "cells": str(cells_path),
        "counts": str(counts_path),
        "market_share": str(shares_path),
        "events": str(events_path),
        "spend": str(spend_path),
        "zones": str(zones_dir),
        "device_events": devices["path"],
        "rows": int(len(counts)),
        "true_centre_visitors": dict(true_centre),
    }


#: Card spending in the demo: share of people who pay by card per day, and the mean ticket (euro).
_SPEND_GROUPS = {"resident": (0.20, 22.0), "30000": (0.30, 31.0), "40000": (0.30, 35.0), "FR": (0.35, 44.0), "NL": (0.35, 39.0)}
_SPEND_ZONES = {"centre-core-shopping": 1.0, "centre-shopping": 0.75, "centre-wijk": 0.7}


def _demo_spend(true_centre: list[tuple[str, float]], rng: np.random.Generator) -> pd.DataFrame:
    """Payment-terminal aggregates per centre zone, day and origin group, from the true visitors."""
    mix = {"resident": 0.45, "30000": 0.40, "40000": 0.03, "FR": 0.03, "NL": 0.01}
    rows = []
    for date, visitors in true_centre:
        for zone, frac in _SPEND_ZONES.items():
            for origin, (rate, ticket) in _SPEND_GROUPS.items():
                people = visitors * frac * mix[origin] * (3 if origin == "NL" and date in FESTIVAL else 1)
                n = int(rng.poisson(people * rate))
                amount = float(np.round(n * ticket * rng.lognormal(0, 0.08), 2))
                rows.append({"zone_id": zone, "date": date, "origin": origin, "transactions": n, "amount": amount})
    return pd.DataFrame(rows)


def _share_key(origin: str) -> str:
    from .origins import normalize_origins, province_of

    code = normalize_origins(pd.Series([origin])).__getitem__(0).iloc[0]
    return province_of(code) or code


# --- a national-size case, for the scale benchmarks ---------------------------------

#: Origins of the national case: Belgian provinces (NIS) and roaming countries (MCC), with
#: their weight among people away from home.
_NATIONAL_ORIGINS = {
    "10000": 0.17, "04000": 0.11, "20001": 0.10, "20002": 0.04, "30000": 0.11, "40000": 0.14, "50000": 0.07,
    "60000": 0.06, "70000": 0.08, "80000": 0.02, "90000": 0.03, "208": 0.02, "204": 0.02, "262": 0.008,
    "234": 0.004, "222": 0.002, "214": 0.002, "310": 0.001, "unknown": 0.01,
}


def national_counts(
    path: str | os.PathLike[str],
    cellplan: pd.DataFrame,
    *,
    rows: int = 100_000_000,
    days: int = 92,
    start: str = DEMO_START,
    provinces: gpd.GeoDataFrame | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> dict:
    """Write hourly presence counts per cell and origin for a whole network, as Parquet.

    About ``rows`` rows (cell x hour x origin, zeros left out) in time order, one row
    group per day: ``cell_id`` and ``origin`` dictionary-encoded, ``period_start`` a UTC
    timestamp, ``period`` ``1h``, ``count`` int32. A cell's people come mostly from the
    province it lies in (when ``provinces`` with a NIS ``provincie`` column are given),
    the rest from the other provinces and abroad; busier cells and busier hours hold
    more rows. Memory stays at one day of rows whatever ``rows`` is.

    Returns
    -------
    dict
        ``path``, ``rows`` written, ``cells``, ``days``, ``origins``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    if rows < 1 or days < 1:
        raise InputError(f"rows ({rows}) and days ({days}) must be positive")
    rng = np.random.default_rng(seed)
    n = len(cellplan)
    origins = np.array(list(_NATIONAL_ORIGINS), dtype=object)
    away = np.array(list(_NATIONAL_ORIGINS.values()))
    away = away / away.sum()
    home = np.full(n, -1)
    if provinces is not None:
        pts = gpd.GeoSeries(gpd.points_from_xy(cellplan["lon"], cellplan["lat"]), crs=WGS84).to_crs(provinces.crs)
        hit = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), provinces[["provincie", "geometry"]], predicate="within", how="left")
        code = hit.groupby(level=0)["provincie"].first().reindex(range(n)).astype("Int64").astype("string").str.zfill(5)
        lookup = {c: i for i, c in enumerate(origins)}
        home = code.map(lookup).fillna(-1).astype(int).to_numpy()
    busy = rng.lognormal(0.0, 0.8, n)
    cdf_cell = np.cumsum(busy / busy.sum())
    cdf_away = np.cumsum(away)
    hour_w = np.tile(_PROFILE, days) * np.repeat(np.resize(_WEEKDAY, days + 7)[pd.Timestamp(start).day_of_week:][:days], 24)
    per_hour = rows * hour_w / hour_w.sum()
    times = pd.date_range(start, periods=24 * days, freq="1h", tz=TIMEZONE).tz_convert("UTC")
    ids = pa.array(cellplan["cell_id"].astype(str).to_numpy())
    origin_dict = pa.array(origins.astype(str))
    schema = pa.schema([("cell_id", pa.dictionary(pa.int32(), pa.string())), ("period_start", pa.timestamp("us", tz="UTC")),
                        ("period", pa.dictionary(pa.int8(), pa.string())), ("count", pa.int32()), ("origin", pa.dictionary(pa.int8(), pa.string()))])
    written, over = 0, 1.2
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer, tqdm(total=days, unit=" days", disable=not (sys.stderr.isatty() if progress is None else progress), file=sys.stderr, leave=False) as bar:
        for d in range(days):
            want = per_hour[24 * d : 24 * d + 24]
            # carry what earlier days fell short of (or went over) into this one
            want = np.maximum(want * (per_hour[: 24 * d + 24].sum() - written) / want.sum(), 0.0)
            # more than wanted: duplicates of (cell, origin) in an hour are merged, at a rate
            # learnt from the days before
            k = rng.poisson(want * over)
            hour = np.repeat(np.arange(24), k)
            cell = np.searchsorted(cdf_cell, rng.random(len(hour)))
            stay = rng.random(len(hour)) < 0.7
            org = np.searchsorted(cdf_away, rng.random(len(hour)))
            org = np.where(stay & (home[cell] >= 0), home[cell], org)
            key = (hour.astype(np.int64) * n + cell) * len(origins) + org
            key, mult = np.unique(key, return_counts=True)
            hour, rest = np.divmod(key, n * len(origins))
            cell, org = np.divmod(rest, len(origins))
            count = (mult + rng.poisson(2.0 + 3.0 * busy[cell] * _PROFILE[hour])).astype(np.int32)
            table = pa.Table.from_arrays(
                [
                    pa.DictionaryArray.from_arrays(pa.array(cell.astype(np.int32)), ids),
                    pa.array(times[24 * d + hour].as_unit("us")),
                    pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(cell), np.int8)), pa.array(["1h"])),
                    pa.array(count),
                    pa.DictionaryArray.from_arrays(pa.array(org.astype(np.int8)), origin_dict),
                ],
                schema=schema,
            )
            writer.write_table(table, row_group_size=len(cell) + 1)
            written += len(cell)
            over = float(np.clip(over * want.sum() / max(len(cell), 1), 1.0, 4.0))
            bar.update(1)
    os.replace(tmp, path)
    return {"path": str(path), "rows": written, "cells": n, "days": days, "origins": len(origins)}


def national_case(
    folder: str | os.PathLike[str],
    shared: str | os.PathLike[str],
    *,
    rows: int = 100_000_000,
    cells: int = 50_000,
    days: int = 92,
    grid_m: float | None = 500.0,
    seed: int = 0,
    progress: bool | None = None,
) -> dict:
    """A seeded national-size case: cell plan, zones and hourly counts for a quarter.

    Sites follow the 1 km population grid (``population/POP.tif``) over Flanders and
    Brussels (``flanders/provincie2024.shp``), three 65° sectors each; the zones are the
    2,767 neighbourhoods of ``flanders/ggw7.shp`` and, with ``grid_m``, a square grid over
    the same area; the counts are :func:`national_counts`.

    Parameters
    ----------
    folder : path
        Where to write ``cellplan.csv``, ``zones/neighbourhoods.geojson``,
        ``zones/grid.geojson`` and ``counts.parquet``.
    shared : path
        The shared data folder (``../shared/data``).
    rows, cells, days : int
        Size of the case: about ``rows`` count rows, ``cells`` cells (a multiple of 3 is
        exact), ``days`` days from 1 July 2026.
    grid_m : float or None
        Side of the grid squares in metres; ``None`` for no grid.
    seed : int

    Returns
    -------
    dict
        Paths and sizes.
    """
    from .zones import square_grid, write_zones

    folder, shared = Path(folder), Path(shared)
    for need in ("population/POP.tif", "flanders/provincie2024.shp", "flanders/ggw7.shp"):
        if not (shared / need).exists():
            raise InputError("missing shared data file", path=shared / need, hint="give the shared data folder (../shared/data)")
    (folder / "zones").mkdir(parents=True, exist_ok=True)
    provinces = gpd.read_file(shared / "flanders/provincie2024.shp")
    plan = synthetic_cellplan(shared / "population/POP.tif", provinces.to_crs(WGS84), -(-cells // 3), seed=seed, small_cell_share=0)
    plan = plan.iloc[:cells].reset_index(drop=True)
    plan.to_csv(folder / "cellplan.csv", index=False)
    hoods = gpd.read_file(shared / "flanders/ggw7.shp").to_crs(WGS84)
    hoods = gpd.GeoDataFrame({"zone_id": hoods["geoitem"].astype(str), "name": hoods["naam"].astype(str)}, geometry=hoods.geometry.values, crs=WGS84)
    write_zones(hoods, folder / "zones/neighbourhoods.geojson")
    out = {"cellplan": str(folder / "cellplan.csv"), "zones": [str(folder / "zones/neighbourhoods.geojson")], "cells": len(plan),
           "neighbourhoods": len(hoods)}
    if grid_m:
        grid = square_grid(provinces.to_crs(WGS84), grid_m)
        write_zones(grid, folder / "zones/grid.geojson")
        out["zones"].append(str(folder / "zones/grid.geojson"))
        out["grid_squares"] = len(grid)
    out["counts"] = national_counts(folder / "counts.parquet", plan, rows=rows, days=days, provinces=provinces, seed=seed, progress=progress)
    return out
