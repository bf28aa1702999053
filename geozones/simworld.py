"""The accuracy studies' simulated world: cases on real geography, the people in them,
the cell each phone attaches to, and the truth (who is inside each zone).

:mod:`geozones.simulate` turns this world into a day of per-cell counts and measures the
apportioning methods on it; :mod:`geozones.scenarios` puts crowds in it.

**People** (all seeded; positions in the case's metric CRS):

* *residents* follow a population grid: clusters of about :data:`CLUSTER_SIZE` people
  (blocks of houses) whose centres are drawn in proportion to each pixel's population,
  people scattered around them with a standard deviation of :data:`CLUSTER_SIGMA_M`
  metres, so that the density within a pixel is not even;
* at work hours a share of residents is at a work place (the same cluster process with
  clusters drawn in proportion to population^1.5: jobs are more concentrated than homes);
* *visitors* are concentrated in the city centre (70% uniformly in the centre polygon,
  30% scattered around its centroid with a standard deviation of 500 m) and, at the steps
  of an event, around event sites (standard deviation 120 m);
* :data:`STEPS` are the time steps of one day (night, morning, afternoon, evening).

**Attachment** (:func:`attach_cells`; ``attach`` of :func:`geozones.simulate.simulate`):

``sector``
    The nearest site; of its cells, the one whose azimuth is closest to the bearing of the
    phone (the sector that faces it; an omnidirectional cell faces every way). Cells of a
    site with the same azimuth (bands) share its phones at random. This is the
    best-server model behind the ``voronoi`` coverage.
``signal``
    The cell with the strongest received signal among the :data:`SIGNAL_SITES` nearest
    sites: log-distance path loss with exponent :data:`PATH_LOSS_EXPONENT`, the 3GPP
    horizontal antenna pattern ``-min(12 (dθ / beamwidth)², 20)`` dB (0 dB for an
    omnidirectional cell), and log-normal shadowing: per site a spatially correlated
    Gaussian field of :data:`SHADOWING_DB` dB (squared-exponential correlation, length
    :data:`SHADOWING_CORR_M` m: buildings shadow whole streets) plus
    :data:`SHADOWING_IID_DB` dB per phone and site (indoor and body losses). Equal
    transmit power everywhere. Independent of every coverage model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import WGS84, pixel_to_map
from .errors import InputError

__all__ = [
    "CASES",
    "ATTACH_MODELS",
    "STEPS",
    "GRIDS",
    "Case",
    "package_data",
    "load_case",
    "raster_points",
    "cluster_points",
    "uniform_in",
    "simulate_people",
    "attach_cells",
    "true_counts",
    "period_starts",
]

#: The cases on real geography.
CASES = ("kortrijk", "leuven", "antwerpen")
#: How a phone picks its cell.
ATTACH_MODELS = ("sector", "signal")
#: Time steps of the simulated day: label, local time, share of residents at work,
#: visitors as a share of the case's centre visitors, whether events are on.
STEPS = (
    ("night", "03:00", 0.0, 0.05, False),
    ("morning", "10:00", 0.5, 0.6, False),
    ("afternoon", "15:00", 0.5, 1.0, True),
    ("evening", "20:00", 0.1, 0.5, True),
)
#: The simulated day (local time, Europe/Brussels).
DAY = "2026-07-04"
CLUSTER_SIZE = 40
CLUSTER_SIGMA_M = 35.0
PATH_LOSS_EXPONENT = 3.5
SHADOWING_DB = 8.0
SHADOWING_CORR_M = 50.0
SHADOWING_IID_DB = 3.0
_FEATURES = 24
SIGNAL_SITES = 6
#: A plan's register columns; where a plan has them, phones attach with the antennas'
#: vertical pattern (:data:`VERTICAL_BEAM_DEG`, unlike the footprint model's 10°) and
#: transmit powers too.
REGISTER_COLUMNS = ("height_m", "tilt", "power_dbm")
VERTICAL_BEAM_DEG = 7.0

#: Per case: the municipality (NIS code), the sites file, centre visitors at the peak step,
#: and approximate positions (lon, lat) of well-known squares used as event sites.
_CASES = {
    "kortrijk": {"nis": "34022", "visitors": 20_000, "event_people": 6_000,
                 "events": {"Grote Markt": (3.2648, 50.8282), "Stationsplein": (3.2643, 50.8244)}},
    "leuven": {"nis": "24062", "visitors": 30_000, "event_people": 8_000, "sites": "leuven_basestations_{op}.json",
               "events": {"Grote Markt": (4.7010, 50.8789), "Ladeuzeplein": (4.7076, 50.8783)}},
    "antwerpen": {"nis": "11002", "visitors": 60_000, "event_people": 10_000, "sites": "antwerpen_basestations_{op}.json",
                  "events": {"Grote Markt": (4.3996, 51.2211), "Groenplaats": (4.4013, 51.2194)}},
}
#: Square grids (metres) added to every case's zones: the heat layer's zone sets, and zones of every size class.
GRIDS = (250, 700, 1500)


@dataclass
class Case:
    """Real geography for a simulation: cells, zones, study area, population and visitors.

    Attributes
    ----------
    name : str
    cells : geopandas.GeoDataFrame
        A cell plan (as from :func:`geozones.read_cellplan`).
    zones : geopandas.GeoDataFrame
        Zones in ``crs`` with ``zone_id``, ``name``, ``zone_set`` and ``area_km2``, all
        inside the study area (the zone sets may overlap each other).
    area : shapely.Geometry
        The study area in ``crs``: people are placed only here.
    crs : pyproj.CRS
        The metric CRS.
    population : Path
        The raster residents are drawn from.
    ancillary : Path
        The raster the dasymetric methods weigh by.
    centre : shapely.Geometry
        The city centre polygon (visitors), in ``crs``.
    events : dict
        Event site name: shapely Point in ``crs``.
    visitors, event_people : int
        Visitors in the centre at the peak step; people at each event site when events are on.
    """

    name: str
    cells: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    area: shapely.Geometry
    crs: pyproj.CRS
    population: Path
    ancillary: Path
    centre: shapely.Geometry
    events: dict = field(default_factory=dict)
    visitors: int = 20_000
    event_people: int = 5_000




def _shared() -> Path:
    return Path(os.environ.get("GEOZONES_SHARED", Path(__file__).resolve().parents[2] / "shared" / "data"))


def package_data(*parts: str) -> Path:
    """A file of the package's bundled data (``geozones/data``)."""
    from importlib import resources

    return Path(str(resources.files("geozones").joinpath("data", *parts)))


def _grids(area: shapely.Geometry, crs, sizes=GRIDS) -> gpd.GeoDataFrame:
    """Whole squares of each size that lie inside the area."""
    frames = []
    x0, y0, x1, y1 = area.bounds
    for s in sizes:
        xs = np.arange(np.floor(x0 / s) * s, x1, s)
        ys = np.arange(np.floor(y0 / s) * s, y1, s)
        gx, gy = np.meshgrid(xs, ys)
        sq = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + s, gy.ravel() + s)
        keep = shapely.contains(area, sq)
        col = pd.Series((gx.ravel()[keep] // s).astype(np.int64)).astype(str)
        row = pd.Series((gy.ravel()[keep] // s).astype(np.int64)).astype(str)
        ids = (f"sq{s}_" + col + "_" + row).to_numpy()
        frames.append(gpd.GeoDataFrame({"zone_id": ids, "name": ids, "zone_set": f"grid{s}"}, geometry=sq[keep], crs=crs))
    return pd.concat(frames, ignore_index=True)


def load_case(name: str, *, operator: str = "pxs", shared: str | os.PathLike[str] | None = None, grids=GRIDS,
              register: bool = False) -> Case:
    """Real geography for one of :data:`CASES`.

    ``kortrijk``: the demo's synthetic 60-site network (sites follow the population, seed 7),
    the zone catalogue (``zones/``: centre, neighbourhoods, shopping areas), residents from
    the bundled 100 m population grid, the municipality as study area. ``leuven`` and
    ``antwerpen``: one operator's real cell plan from ``shared/sites`` (read with
    :func:`geozones.read_sites`), the city's neighbourhoods (``ggw7``) and shopping areas
    (``winkelgebied``), residents from the 1 km grid ``POP.tif``; the study area is the
    convex hull of the sites grown by 300 m. Every case adds square grids (:data:`GRIDS`).
    Only zones with at least 99% of their area inside the study area are kept. The dasymetric methods weigh by
    ``POP.tif`` (1 km) in every case. ``register``: Leuven's and Antwerpen's plans keep the
    register's ``height_m``, ``tilt`` and ``power_dbm`` (left out by default, so that the
    studies documented before stop 41 stay as they were).

    Raises
    ------
    InputError
        An unknown case, or shared data that is not there.
    """
    from .cellplan import cells_from_frame, read_sites
    from .crs import metric_crs
    from .zones import read_zones

    if name not in _CASES:
        raise InputError(f"unknown case {name!r}", hint=f"choose one of {', '.join(CASES)}")
    spec = _CASES[name]
    shared = Path(shared) if shared is not None else _shared()
    pop1k = shared / "population" / "POP.tif"
    if not pop1k.exists():
        raise InputError("no such file", path=pop1k, hint="the accuracy cases read ../shared/data (or $GEOZONES_SHARED)")
    crs = pyproj.CRS(metric_crs((2.5, 49.5, 6.4, 51.5)))
    if name == "kortrijk":
        from .synth import synthetic_cellplan

        muni = gpd.read_file(str(package_data("kortrijk", "municipality.geojson")))
        plan = synthetic_cellplan(str(package_data("kortrijk", "population_100m.tif")), muni, 60, seed=7, prefix="kor")
        cells = cells_from_frame(plan, Path("synthetic Kortrijk plan"), "csv", None)
        area = shapely.union_all(muni.to_crs(crs).geometry.values)
        zones = read_zones(str(package_data("kortrijk", "zones"))).to_crs(crs)
        zones = gpd.GeoDataFrame(
            {"zone_id": zones["zone_id"], "name": zones["name"], "zone_set": zones["kind"].astype(str)},
            geometry=zones.geometry.values, crs=crs,
        )
        centre = shapely.union_all(zones.loc[zones["zone_id"].str.startswith("centre-"), "geometry"].values)
        population = package_data("kortrijk", "population_100m.tif")
    else:
        path = shared / "sites" / spec["sites"].format(op=operator)
        # (the studies as documented before stop 41: the register's heights, tilts and powers,
        # read by read_sites since then, left out, so that each case's plan and figures stay)
        cells = read_sites(path)
        if not register:
            cells = cells.drop(columns=list(REGISTER_COLUMNS), errors="ignore")
        m = cells.to_crs(crs)
        area = shapely.buffer(shapely.convex_hull(shapely.union_all(m.geometry.values)), 300.0)
        nb = gpd.read_file(shared / "flanders" / "ggw7.shp")
        nb = nb[nb["geoitem"].astype(str).str.startswith(spec["nis"])].to_crs(crs)
        shops = gpd.read_file(shared / "flanders" / "winkelgebied.shp")
        shops = shops[shops["gemeente"].astype(str) == spec["nis"]].to_crs(crs)
        centre = shapely.union_all(shops.loc[shops["WINKELGE_3"] == "Binnenstad", "geometry"].values)
        zones = pd.concat(
            [
                gpd.GeoDataFrame({"zone_id": nb["geoitem"].astype(str), "name": nb["naam"], "zone_set": "neighbourhood"}, geometry=nb.geometry.values, crs=crs),
                gpd.GeoDataFrame(
                    {"zone_id": "shop-" + shops["WINKELGEBI"].astype(str), "name": shops["WINKELGE_1"], "zone_set": "shopping-area"},
                    geometry=shops.geometry.values, crs=crs,
                ),
            ],
            ignore_index=True,
        )
        zones["geometry"] = shapely.make_valid(zones.geometry.values)
        population = pop1k
    zg = np.asarray(zones.geometry.values, dtype=object)
    zones = zones[shapely.area(shapely.intersection(zg, area)) >= 0.99 * shapely.area(zg)]
    if grids:
        zones = pd.concat([zones, _grids(area, crs, grids)], ignore_index=True)
    zones = gpd.GeoDataFrame(zones, geometry="geometry", crs=crs).drop_duplicates("zone_id").reset_index(drop=True)
    zones["area_km2"] = zones.area.to_numpy() / 1e6
    to_m = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)
    events = {}
    for label, (lon, lat) in spec["events"].items():
        p = shapely.Point(*to_m.transform(lon, lat))
        if area.contains(p):
            events[label] = p
    return Case(name, cells, zones, area, crs, Path(population), pop1k, centre, events, spec["visitors"], spec["event_people"])


# ----------------------------------------------------------------------------- people
def raster_points(path: Path, area: shapely.Geometry, crs, power: float = 1.0):
    """Pixel centres (in ``crs``), pixel size and population of a raster inside ``area``."""
    import rasterio
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as src:
        tb = pyproj.Transformer.from_crs(crs, src.crs, always_xy=True).transform_bounds(*area.bounds, densify_pts=21)
        win = from_bounds(*tb, transform=src.transform).round_offsets().round_lengths()
        win = win.intersection(Window(0, 0, src.width, src.height))
        data = np.ma.filled(src.read(1, window=win, masked=True).astype(float), 0.0)
        t = src.window_transform(win)
        src_crs = src.crs
    data[~np.isfinite(data)] = 0.0
    rows, cols = np.nonzero(data > 0)
    corners = [pixel_to_map(t, cols + dc, rows + dr) for dc, dr in ((0, 0), (1, 0), (0, 1), (1, 1))]
    back = pyproj.Transformer.from_crs(src_crs, crs, always_xy=True)
    xs, ys = zip(*(back.transform(cx, cy) for cx, cy in corners))
    xs, ys = np.array(xs), np.array(ys)
    return xs.min(0), ys.min(0), xs.max(0), ys.max(0), data[rows, cols] ** power


def cluster_points(n: int, pixels, area: shapely.Geometry, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of a cluster process over the pixels' weights, inside ``area``."""
    x0, y0, x1, y1, w = pixels
    keep = np.zeros((0, 2))
    while len(keep) < n:
        m = int((n - len(keep)) * 1.3) + 10
        k = max(1, m // CLUSTER_SIZE)
        pix = rng.choice(len(w), size=k, p=w / w.sum())
        cx = rng.uniform(x0[pix], x1[pix])
        cy = rng.uniform(y0[pix], y1[pix])
        which = rng.integers(0, k, m)
        px = cx[which] + rng.normal(0, CLUSTER_SIGMA_M, m)
        py = cy[which] + rng.normal(0, CLUSTER_SIGMA_M, m)
        inside = shapely.contains_xy(area, px, py)
        keep = np.concatenate([keep, np.c_[px[inside], py[inside]]])
    return keep[:n]


def uniform_in(shape: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points drawn uniformly inside a polygon (by rejection from its bounding box).

    Parameters
    ----------
    shape : shapely.Geometry
        The polygon, in a metric CRS.
    n : int
        How many points.
    rng : numpy.random.Generator
        The seeded generator the points are drawn from.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` array of x, y.
    """
    x0, y0, x1, y1 = shape.bounds
    out = np.zeros((0, 2))
    while len(out) < n:
        m = 2 * (n - len(out)) + 10
        x, y = rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)
        inside = shapely.contains_xy(shape, x, y)
        out = np.concatenate([out, np.c_[x[inside], y[inside]]])
    return out[:n]


def _scatter(centre: tuple[float, float], sigma: float, n: int, area: shapely.Geometry, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((0, 2))
    while len(out) < n:
        m = 2 * (n - len(out)) + 10
        x, y = rng.normal(centre[0], sigma, m), rng.normal(centre[1], sigma, m)
        inside = shapely.contains_xy(area, x, y)
        out = np.concatenate([out, np.c_[x[inside], y[inside]]])
    return out[:n]


def simulate_people(case: Case, *, seed: int = 0, steps=STEPS, residents: int | None = None) -> pd.DataFrame:
    """Where everybody is at each time step.

    Parameters
    ----------
    case : Case
    seed : int
        The same seed gives the same people.
    steps : sequence
        Time steps as in :data:`STEPS`.
    residents : int, optional
        How many residents; default: the population grid's sum over the study area.

    Returns
    -------
    pandas.DataFrame
        ``step`` (index into ``steps``), ``x``, ``y`` (``case.crs``), ``kind``.
    """
    rng = np.random.default_rng(seed)
    shapely.prepare(case.area)
    homes_px = raster_points(case.population, case.area, case.crs)
    inside = shapely.contains_xy(case.area, (homes_px[0] + homes_px[2]) / 2, (homes_px[1] + homes_px[3]) / 2)
    n_res = int(round(homes_px[4][inside].sum())) if residents is None else int(residents)
    home = cluster_points(n_res, homes_px, case.area, rng)
    jobs_px = homes_px[:4] + (homes_px[4] ** 1.5,)
    work = cluster_points(n_res, jobs_px, case.area, rng)
    order = rng.permutation(n_res)  # who works when: the first share of this order
    centre = shapely.intersection(case.centre, case.area)
    shapely.prepare(centre)
    cxy = shapely.centroid(centre)
    frames = []
    for s, (_, _, at_work, vis, events_on) in enumerate(steps):
        working = np.zeros(n_res, bool)
        working[order[: int(round(at_work * n_res))]] = True
        res = np.where(working[:, None], work, home)
        n_vis = int(round(vis * case.visitors))
        n_uni = int(round(0.7 * n_vis))
        v = np.concatenate([uniform_in(centre, n_uni, rng), _scatter((cxy.x, cxy.y), 500.0, n_vis - n_uni, case.area, rng)])
        parts = [(res, "resident"), (v, "visitor")]
        if events_on:
            for p in case.events.values():
                parts.append((_scatter((p.x, p.y), 120.0, case.event_people, case.area, rng), "event"))
        xy = np.concatenate([p for p, _ in parts])
        kind = np.concatenate([np.full(len(p), k) for p, k in parts])
        frames.append(pd.DataFrame({"step": s, "x": xy[:, 0], "y": xy[:, 1], "kind": kind}))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------- attachment
def _cell_table(cells: gpd.GeoDataFrame, crs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Site positions, each cell's site index, azimuth (NaN: omni) and beamwidth."""
    m = cells.to_crs(crs)
    xy = np.c_[m.geometry.x.to_numpy(), m.geometry.y.to_numpy()]
    pos, site = np.unique(np.round(xy, 1), axis=0, return_inverse=True)
    az = m["azimuth"].to_numpy(dtype=float)
    bw = m["beamwidth"].to_numpy(dtype=float) if "beamwidth" in m.columns else np.full(len(m), np.nan)
    bw = np.where(np.isnan(az), 360.0, np.where(np.isnan(bw), 120.0, bw))
    return pos, site.ravel(), az, bw


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference of two bearings in degrees, 0 to 180."""
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def _shadowing(px: np.ndarray, py: np.ndarray, near: np.ndarray, field, db: float = SHADOWING_DB) -> np.ndarray:
    """Spatially correlated shadowing (dB) of each phone towards each of its near sites."""
    k, phase = field
    arg = k[near, :, 0] * px[:, None, None] + k[near, :, 1] * py[:, None, None] + phase[near]
    return db * np.sqrt(2.0 / _FEATURES) * np.cos(arg).sum(axis=2)


def attach_cells(
    x: np.ndarray,
    y: np.ndarray,
    cells: gpd.GeoDataFrame,
    crs,
    *,
    model: str = "signal",
    seed: int = 0,
    chunk: int = 200_000,
    exponent: float = PATH_LOSS_EXPONENT,
    shadowing_db: float | None = None,
    iid_db: float | None = None,
) -> np.ndarray:
    """The cell each phone attaches to (row of ``cells``), by one of :data:`ATTACH_MODELS`.

    Parameters
    ----------
    x, y : numpy.ndarray
        Phone positions in ``crs`` (metres).
    cells : geopandas.GeoDataFrame
        The cell plan (``azimuth`` NaN for omnidirectional cells, ``beamwidth``).
    crs : pyproj.CRS
        The metric CRS of ``x`` and ``y``.
    model : {"sector", "signal"}
        See the module docstring.
    seed : int
        Seeds ties between cells with the same azimuth, and shadowing.
    exponent, shadowing_db, iid_db : float
        The ``signal`` model's path-loss exponent, correlated shadowing and independent
        shadowing per phone and site (dB).

    Returns
    -------
    numpy.ndarray of int
    """
    from scipy.spatial import cKDTree

    if model not in ATTACH_MODELS:
        raise InputError(f"unknown attach model {model!r}", hint=f"choose one of {', '.join(ATTACH_MODELS)}")
    rng = np.random.default_rng(seed)
    shadowing_db = SHADOWING_DB if shadowing_db is None else shadowing_db  # (read at call time: tests set them)
    iid_db = SHADOWING_IID_DB if iid_db is None else iid_db
    pos, site, az, bw = _cell_table(cells, crs)
    register = "height_m" in cells.columns
    if register:  # (the antennas' vertical pattern and powers: the register's, where the plan gives them)
        height = pd.to_numeric(cells["height_m"], errors="coerce").to_numpy(dtype=float)
        tilt = np.nan_to_num(pd.to_numeric(cells.get("tilt", pd.Series(np.nan, index=cells.index)), errors="coerce").to_numpy(dtype=float), nan=4.0)
        power = pd.to_numeric(cells.get("power_dbm", pd.Series(np.nan, index=cells.index)), errors="coerce").to_numpy(dtype=float)
        power = np.nan_to_num(power - np.nanmedian(power), nan=0.0) if np.isfinite(power).any() else np.zeros(len(cells))
    # cells of each site as a padded table (sites x max cells), -1 where none
    order = np.argsort(site, kind="stable")
    start = np.searchsorted(site[order], np.arange(len(pos)))
    rank = np.arange(len(site)) - start[site[order]]
    per = np.full((len(pos), int(rank.max()) + 1), -1)
    per[site[order], rank] = order
    tree = cKDTree(pos)
    out = np.empty(len(x), dtype=np.int64)
    # per site, a Gaussian random field (random Fourier features, squared-exponential covariance)
    field = (
        rng.normal(0.0, 1.0 / SHADOWING_CORR_M, (len(pos), _FEATURES, 2)),
        rng.uniform(0.0, 2 * np.pi, (len(pos), _FEATURES)),
    )
    k = 1 if model == "sector" else min(SIGNAL_SITES, len(pos))
    for a in range(0, len(x), chunk):
        px, py = x[a : a + chunk], y[a : a + chunk]
        n = len(px)
        _, near = tree.query(np.c_[px, py], k=k)
        near = near.reshape(n, k)
        dx = px[:, None] - pos[near, 0]
        dy = py[:, None] - pos[near, 1]
        bearing = np.degrees(np.arctan2(dx, dy)) % 360.0  # (n, k), clockwise from north
        cand = per[near]  # (n, k, m)
        valid = cand >= 0
        ci = np.where(valid, cand, 0)
        off = _angle(bearing[:, :, None], az[ci])
        omni = np.isnan(az[ci])
        if model == "sector":
            score = -np.where(omni, 0.0, off)
        else:
            d = np.maximum(np.hypot(dx, dy), 10.0)
            gain = np.where(omni, 0.0, -np.minimum(12.0 * (off / bw[ci]) ** 2, 20.0))
            shadow = _shadowing(px, py, near, field, shadowing_db) + rng.normal(0.0, iid_db, (n, k))
            score = (-10.0 * exponent * np.log10(d) + shadow)[:, :, None] + gain
            if register:
                elevation = np.degrees(np.arctan2(np.nan_to_num(height[ci], nan=0.0) - 1.5, d[:, :, None]))
                vertical = np.where(np.isnan(height[ci]), 0.0, -np.minimum(12.0 * ((elevation - tilt[ci]) / VERTICAL_BEAM_DEG) ** 2, 20.0))
                score = score + vertical + power[ci]
        score = np.where(valid, score, -np.inf).reshape(n, -1)
        # ties (bands on one azimuth, omni cells of one site) are broken at random
        score = score + rng.uniform(0, 1e-9, score.shape)
        out[a : a + n] = ci.reshape(n, -1)[np.arange(n), np.argmax(score, axis=1)]
    return out


def true_counts(people: pd.DataFrame, zones: gpd.GeoDataFrame, n_steps: int) -> np.ndarray:
    """People inside each zone at each step: array (steps, zones), zones in their order."""
    geoms = np.asarray(zones.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    pts = shapely.points(people["x"].to_numpy(), people["y"].to_numpy())
    pi, zi = tree.query(pts, predicate="intersects")
    step = people["step"].to_numpy()[pi]
    return np.bincount(step * len(geoms) + zi, minlength=n_steps * len(geoms)).reshape(n_steps, len(geoms))


def period_starts(steps) -> pd.DatetimeIndex:
    """The start of each time step on the simulated day (:data:`DAY`, Europe/Brussels), in UTC.

    Parameters
    ----------
    steps : sequence
        Time steps as in :data:`STEPS` (the second field is the local time).

    Returns
    -------
    pandas.DatetimeIndex
        One UTC timestamp per step.
    """
    local = pd.to_datetime([f"{DAY} {t}" for _, t, *_ in steps]).tz_localize("Europe/Brussels")
    return local.tz_convert("UTC")
