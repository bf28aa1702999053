"""The ``geozones visitors`` job: zones, cells and subscriber-level events in, the
``visitors``, ``dwell`` and ``returning`` tables out (:mod:`geozones.visitors` has the rules).

Devices are independent of each other, so the events are taken in batches of devices
(by a hash of the subscriber id) and the batches' weighted counts add up: memory grows with
one batch, not with the quarter (docs/tourism.md).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ._io import write_text_atomic
from .cellkey import DEFAULT_MAX_NOISE, DEFAULT_VARIANCE, NOT_UNDER_NOISE, PROTECTIONS, Perturbation, perturbation_table, read_secret
from .config import ENGINE_CHOICES
from .counts import parse_period, period_seconds, read_optout, warn_if_no_optout_matched
from .engine.events import EventBuckets, bucket_arrays
from .errors import ConfigError, InputError
from .extrapolate import read_market_share, rest_share
from .inputs import build_weights, run_weights
from .origins import successor
from .outfolder import check_replaceable, claimed, filling, new_folder, replace_folder
from .outputs import write_table
from .periods import warn_far_time_zone
from .privacy import DEFAULT_K, PUBLISHED, optout_summary, safe_count
from .runfiles import check_out_apart, partial_periods
from .visitor_tables import visitor_tables
from .visitors import DeviceSums, device_sums_arrays, parse_night
from .weights import Weights
from .zones import nested_zones, read_zones

__all__ = ["VisitorsConfig", "run_visitors", "municipality_codes", "VISITOR_OUTPUTS"]

log = logging.getLogger("geozones")

#: The files ``geozones visitors`` writes into its folder (others there are kept).
VISITOR_OUTPUTS = ("visitors.csv", "visitors.parquet", "dwell.csv", "dwell.parquet", "returning.csv", "returning.parquet", "visitors_manifest.json")
#: Events per batch of devices (about 1 GB of working memory per 2 million events where cells reach several zones).
BATCH_EVENTS = 2_000_000
_ZONE_MUNI_COLUMNS = ("municipality", "nis", "gemeente")


@dataclass
class VisitorsConfig:
    """Settings of ``geozones visitors`` (its flags, with their defaults)."""

    zones: list
    cells: str
    events: str
    out: str
    model: str | None = None
    municipalities: str | None = None
    regular_days: int = 12
    night: str = "22:00-06:00"
    k: float = DEFAULT_K
    market_share: str | None = None
    period: str = "1d"
    summary_period: str | None = "1q"
    optout: str | None = None
    cell_crs: str | None = None
    metric_crs: str | None = None
    engine: str = "auto"
    scheduler: str | None = None
    protection: str = "suppress"
    perturb_max: int = DEFAULT_MAX_NOISE
    perturb_variance: float = DEFAULT_VARIANCE
    secret_file: str | None = None
    home_country: str = "BE"

    def validate(self) -> None:
        """Refuse settings that cannot work, naming the flag."""
        if self.engine not in ENGINE_CHOICES:
            raise ConfigError(f"--engine {self.engine!r} is not one of {', '.join(ENGINE_CHOICES)}")
        self.period = parse_period(self.period)
        if period_seconds(self.period) < 86_400:
            raise ConfigError(f"--period {self.period} is shorter than a day", hint="classes and dwell are per day: give 1d, 1w or 1q")
        if self.summary_period:
            self.summary_period = parse_period(self.summary_period)
            if period_seconds(self.summary_period) < period_seconds(self.period):
                raise ConfigError(f"--summary-period {self.summary_period} is shorter than --period {self.period}", hint="give e.g. 1q")
        if not (1 <= int(self.regular_days) <= 31):
            raise ConfigError(f"--regular-days {self.regular_days} is not a number of days in a month (1-31)")
        if not self.k < float("inf"):  # (every figure hidden, and a manifest JSON cannot hold it)
            raise ConfigError(f"--k {self.k:g} is not a number of devices", hint="k counts devices: at least 1 (the default is 30)")
        if not self.k >= 1:  # (under one device every figure is published)
            raise ConfigError(f"--k {self.k:g} is under 1: it would publish every figure", hint="k counts devices: at least 1 (the default is 30)")
        parse_night(self.night)
        self.home_country = _country_code(self.home_country)
        if self.protection not in PROTECTIONS:
            raise ConfigError(f"--protection {self.protection!r} is not one of {', '.join(PROTECTIONS)}")
        if self.protection == "perturb":
            perturbation_table(self.perturb_max, self.perturb_variance)


def _country_code(value: str) -> str:
    """``--home-country`` as an ISO code: ``IT``, ``it`` or the mobile country code ``222``."""
    from .origins import normalize_origins

    code = str(value).strip()
    norm, level = normalize_origins(pd.Series([code], dtype=object))
    if level.iloc[0] != "country" or len(str(norm.iloc[0])) != 2:
        raise ConfigError(f"--home-country {value!r} is not a country", hint="give the operator's country as an ISO code (IT) or a mobile country code (222)")
    return str(norm.iloc[0]).upper()


def _code(values) -> np.ndarray:
    """Municipality codes as text: NIS codes of digits padded to five and mapped to today's."""
    s = pd.Series(values, dtype=object).astype(str).str.strip()
    digits = s.str.fullmatch(r"\d{1,5}")
    s[digits] = [successor(c) for c in s[digits].str.zfill(5)]
    s[s.isin(["", "nan", "None", "<NA>"])] = ""
    return s.to_numpy(dtype=object)


def _read_municipalities(path: str) -> gpd.GeoDataFrame:
    try:
        g = gpd.read_file(path)
    except Exception as exc:  # (pyogrio's errors: a file it cannot read)
        raise InputError(f"cannot read municipalities: {exc}", path=path, hint="give a GeoJSON, GeoPackage or shapefile of polygons with nis and name") from None
    cols = {c.lower(): c for c in g.columns}
    key = next((cols[c] for c in ("nis", "niscode", "nis_code", "code") if c in cols), None)
    if key is None:
        raise InputError(f"municipalities have no 'nis' column (columns: {', '.join(map(str, g.columns))})", path=path,
                         hint="each polygon needs its NIS code in 'nis' and its name in 'name'")
    if g.crs is None:
        g = g.set_crs("EPSG:4326")
    bad = ~g.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if bad.any():
        raise InputError(f"municipality {g[key].iloc[int(np.flatnonzero(bad)[0])]!r} is not a polygon", path=path, hint="give polygons")
    name = g[cols["name"]] if "name" in cols else g[key]
    codes = _code(g[key])
    out = gpd.GeoDataFrame({"zone_id": codes, "name": name.astype(str).to_numpy()}, geometry=g.geometry.to_crs("EPSG:4326").values, crs="EPSG:4326")
    out = out[out["zone_id"] != ""].dissolve(by="zone_id", as_index=False, aggfunc="first")
    return out


def _device_counts(seen: float, parts: dict, k: float) -> dict:
    """The manifest's counts of devices: ``seen`` and parts of them, each itself only where it
    rests on ``k`` or more (or none), and a part only where what it leaves of ``seen`` does
    too (a probe read 6 devices seen only outside every zone as seen minus in_zones).
    """
    out = {"seen": safe_count(seen, k)}
    for name, n in parts.items():
        rest = float(seen) - float(n)
        out[name] = f"fewer than {k:g} below seen" if 0 < rest < k and seen >= k else safe_count(n, k)
    return out


def municipality_codes(zones: gpd.GeoDataFrame, weights: Weights, cfg: VisitorsConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each cell's and each zone's municipality, as numbers into a list of codes.

    A cell's municipality holds the largest share of its coverage: from ``--municipalities``
    (weights of the cells over them, with the run's model), else the ``municipality``
    property of the zone holding the largest share of the cell. A zone's is its own
    ``municipality`` property, else the municipality holding the largest part of its area.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
    weights : Weights
        Cells x zones, in the zones' order.
    cfg : VisitorsConfig

    Returns
    -------
    (cell_municipality, zone_municipality, codes)
        Numbers into ``codes`` (``-1``: unknown).
    """
    prop = next((c for c in _ZONE_MUNI_COLUMNS if c in zones.columns), None)
    zone_code = _code(zones[prop]) if prop else np.full(len(zones), "", dtype=object)
    zone_code = pd.Series(zone_code, index=zones["zone_id"].astype(str)).reindex(np.asarray(weights.zone_ids).astype(str)).fillna("").to_numpy(dtype=object)
    if cfg.municipalities:
        munis = _read_municipalities(cfg.municipalities)
        mw, _, _ = build_weights(munis, [cfg.municipalities], cfg.cells, model=cfg.model, cell_crs=cfg.cell_crs, metric_crs=cfg.metric_crs)
        mw_codes = np.asarray(mw.zone_ids, dtype=object)
        cell_code = _argmax_label(mw.matrix, mw_codes)
        cell_code = pd.Series(cell_code, index=np.asarray(mw.cell_ids).astype(str)).reindex(np.asarray(weights.cell_ids).astype(str)).fillna("").to_numpy(dtype=object)
        if (zone_code == "").any():  # zones without the property: the municipality holding most of the zone
            from .crs import metric_crs

            crs = metric_crs(zones.total_bounds, cfg.metric_crs)
            zm = zones.set_index(zones["zone_id"].astype(str)).reindex(np.asarray(weights.zone_ids).astype(str)).to_crs(crs)
            mm = munis.to_crs(crs)
            pieces = gpd.overlay(gpd.GeoDataFrame({"z": np.arange(len(zm))}, geometry=zm.geometry.values, crs=crs),
                                 gpd.GeoDataFrame({"m": mm["zone_id"].to_numpy()}, geometry=mm.geometry.values, crs=crs), how="intersection")
            pieces["a"] = pieces.geometry.area
            best = pieces.sort_values(["z", "a"], ascending=[True, False]).drop_duplicates("z")
            fill = pd.Series(best["m"].to_numpy(), index=best["z"].to_numpy()).reindex(np.arange(len(zm))).fillna("").to_numpy(dtype=object)
            zone_code = np.where(zone_code == "", fill, zone_code)
    else:
        cell_code = _argmax_label(weights.matrix, zone_code)
    codes = sorted((set(cell_code) | set(zone_code)) - {""})
    at = {c: i for i, c in enumerate(codes)}
    return (np.array([at.get(c, -1) for c in cell_code], dtype=np.int64), np.array([at.get(c, -1) for c in zone_code], dtype=np.int64), codes)


def _argmax_label(matrix, labels: np.ndarray) -> np.ndarray:
    """Per row of a sparse matrix, the label of its largest entry (``""`` for an empty row)."""
    from scipy import sparse

    m = sparse.csr_array(matrix)
    out = np.full(m.shape[0], "", dtype=object)
    if not m.nnz:
        return out
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    order = np.lexsort((m.indices, -m.data, rows))
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    out[rows[first]] = np.asarray(labels, dtype=object)[m.indices[first]]
    return out


class _Presence:
    """Devices present per cell and hour, batch by batch: the footprint model's density."""

    def __init__(self, cell_ids) -> None:
        self.totals = np.zeros(len(cell_ids))

    def __call__(self, subscriber, cell: np.ndarray, utc: np.ndarray) -> None:
        import pyarrow.compute as pc

        sub = pc.dictionary_encode(subscriber).indices.to_numpy(zero_copy_only=False).astype(np.int64)
        ok = cell >= 0
        hour = utc[ok] // 3_600_000_000_000
        if not len(hour):
            return
        h0, span, n = int(hour.min()), int(hour.max() - hour.min()) + 1, len(self.totals)
        key = pd.unique((sub[ok] * n + cell[ok]) * span + (hour - h0))  # distinct (device, cell, hour)
        c = (key // span) % n
        self.totals += np.bincount(c, minlength=len(self.totals))


def _bucket_sums(path, weights, cell_m, zone_m, kw) -> DeviceSums:
    return device_sums_arrays(*bucket_arrays(path), weights, cell_m, zone_m, **kw)


def _on_dask(files, weights, cell_m, zone_m, kw, scheduler: str | None) -> list[DeviceSums]:
    """Each spilled bucket counted as a Dask task: threads here, or the workers of ``scheduler``
    (which must see this machine's temporary folder).
    """
    import dask

    tasks = [dask.delayed(_bucket_sums)(str(f), weights, cell_m, zone_m, kw) for f in files]
    if scheduler:
        from ._cluster import cluster

        with cluster(scheduler) as client:
            return list(client.compute(tasks, sync=True))
    return list(dask.compute(*tasks, scheduler="threads"))


def run_visitors(cfg: VisitorsConfig, *, progress: bool = False) -> dict:
    """Run ``geozones visitors``: write the three tables and ``visitors_manifest.json`` into ``cfg.out``.

    Parameters
    ----------
    cfg : VisitorsConfig
    progress : bool
        Show a progress bar over the batches of devices.

    Returns
    -------
    dict
        The manifest; ``manifest["tables"]`` holds the published tables (pandas).

    Raises
    ------
    GeozonesError
        Any problem with an input or a setting; nothing is written then.
    """
    cfg.validate()
    with claimed(cfg.out):  # (a second run into the folder is refused while this one goes)
        return _run_visitors(cfg, progress)


def _run_visitors(cfg: VisitorsConfig, progress: bool) -> dict:
    check_out_apart(cfg.out, {"zones": cfg.zones, "cells": cfg.cells, "events": cfg.events, "optout": cfg.optout,
                              "municipalities": cfg.municipalities, "market_share": cfg.market_share})
    check_replaceable(cfg.out)  # (at once, as new_folder would after the work)
    secret = read_secret(cfg.secret_file) if cfg.protection == "perturb" else None
    night = parse_night(cfg.night)
    zones = read_zones(cfg.zones)
    shares = read_market_share(cfg.market_share) if cfg.market_share else None
    optout = read_optout(cfg.optout) if cfg.optout else None
    weights, _, fp = run_weights(zones, cfg.zones, cfg.cells, model=cfg.model, cell_crs=cfg.cell_crs, metric_crs=cfg.metric_crs)
    pert = None if secret is None else Perturbation(secret, cfg.perturb_max, float(cfg.perturb_variance)).with_zones(weights)
    presence = _Presence(weights.cell_ids) if fp is not None else None
    # memory: the events in one piece; stream (auto): buckets of whole devices spilled to disk
    # when the file is large; dask: those buckets counted on Dask
    bucket_rows = 2**62 if cfg.engine == "memory" else BATCH_EVENTS
    buckets = EventBuckets(cfg.events, weights.cell_ids, optout=optout, bucket_rows=bucket_rows, on_batch=presence)
    try:
        if fp is not None:  # the density the events imply (as a run's counts refine the footprint weights)
            from .footprint import refined_weights

            weights = refined_weights(fp, weights, presence.totals)
        cell_m, zone_m, codes = municipality_codes(zones, weights, cfg)
        if (zone_m < 0).all():
            log.warning("no zone has a municipality (zone property 'municipality', or --municipalities): nobody is counted as a resident")
        from tqdm import tqdm

        kw = dict(period=cfg.period, summary_period=cfg.summary_period, regular_days=int(cfg.regular_days), night=night,
                  home_country=cfg.home_country)
        if cfg.engine == "dask" and buckets.files:
            parts = _on_dask(buckets.files, weights, cell_m, zone_m, kw, cfg.scheduler)
        else:
            parts = (device_sums_arrays(*arrays, weights, cell_m, zone_m, **kw)
                     for arrays in tqdm(buckets, total=len(buckets), disable=not progress or len(buckets) == 1, unit=" buckets", leave=False, file=sys.stderr))
        sums: DeviceSums | None = None
        for s in parts:
            sums = s if sums is None else sums.add(s)
        if sums is None:  # (every event opted out)
            sums = device_sums_arrays(np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, object), weights, cell_m, zone_m, **kw)
    finally:
        buckets.close()
    removed, removed_events = len(buckets.removed_ids), buckets.removed_events
    warn_if_no_optout_matched(optout, removed, cfg.optout)
    # (how many events: only where the devices they are of are k or more, like every count of people here)
    n_unknown, dev_unknown = sums.stats.get("events_unknown_cells", 0), sums.stats.get("devices_unknown_cells", 0)
    unknown = int(n_unknown) if dev_unknown >= cfg.k else f"events of {safe_count(dev_unknown, cfg.k)} devices"  # (0 too: a bound)
    if n_unknown:
        log.warning("%s are in cells that are not in %s: they count for no zone and no home",
                    f"{unknown} events" if isinstance(unknown, int) else unknown, Path(cfg.cells).name)
    names = dict(zip(zones["zone_id"].astype(str), zones["name"].astype(str)))
    # (a device in a zone inside another is in that one too: their difference is a group of devices)
    nested = nested_zones(zones[["zone_id", "area_km2", "geometry"]], cfg.metric_crs)  # (pairs and families of inner zones)
    tables = visitor_tables(sums, weights, names, period=cfg.period, summary_period=cfg.summary_period, k=cfg.k, shares=shares,
                            perturbation=pert, nested=nested, regular_days=cfg.regular_days,
                            residents={str(z): str(codes[m]) for z, m in zip(weights.zone_ids, zone_m) if m >= 0})
    k = cfg.k
    stats = sums.stats
    came = {key.split(":", 1)[1]: n for key, n in stats.items() if key.startswith("devices_from:")}
    top = max(came, key=came.get) if came else cfg.home_country
    if top != cfg.home_country and came[top] > sum(came.values()) / 2:
        log.warning("most devices' first origin is %s, not the home country %s: their phones roam and have no home here "
                    "(if the operator is %s's, give --home-country %s)", top, cfg.home_country, top, top)

    def safe(n: int):  # a count of people in the manifest: itself under the rule
        return safe_count(n, k)

    manifest = {
        "command": "visitors",
        "settings": {key: v for key, v in asdict(cfg).items() if key != "secret_file"},
        "model": weights.meta.get("model"),
        "municipalities": len(codes),
        # (under perturbation exact counts beside the noisy tables told two runs' difference exactly: stop 56's attacker)
        "devices": {**(_device_counts(stats.get("devices", 0), {"in_zones": stats.get("devices_in_zones", 0), "with_a_home": stats.get("homes", 0)}, k)
                       if cfg.protection != "perturb" else dict.fromkeys(("seen", "in_zones", "with_a_home"), NOT_UNDER_NOISE)),
                    "home_country": cfg.home_country},  # (--home-country: phones of other countries roam and have no home)
        # (the file's events, the opted-out people's included: those left after them told a probe, by difference
        # with a run before the opt-out, how many events the person made)
        "events": {"read": int(stats.get("events", 0)) + int(removed_events) if cfg.protection != "perturb" else NOT_UNDER_NOISE,
                   "in_unknown_cells": unknown if cfg.protection != "perturb" or isinstance(unknown, str) else NOT_UNDER_NOISE},
        "optout": None if not cfg.optout else optout_summary(removed, removed_events, k),
        "market_share": None if shares is None else {
            "table": cfg.market_share, "rest_share": rest_share(shares),
            "rest_note": "an origin with fewer than k devices in a zone (or a zone's class) is extrapolated at rest_share, the "
                         "table's largest share"},
        "disclosure_control": {
            "k": k,
            "protection": cfg.protection,
            **({"perturbation": pert.describe()} if pert is not None else {}),
            **{name: {"published": int((t["status"] == PUBLISHED).sum()), "suppressed": int((t["status"] != PUBLISHED).sum())} for name, t in tables.items()},
        },
        "outputs": list(VISITOR_OUTPUTS),
    }
    with filling(new_folder(cfg.out), cfg.out) as stage:
        for name, t in tables.items():
            write_table(t, stage, name)
        write_text_atomic(stage / "visitors_manifest.json", json.dumps(manifest, indent=2, default=str))
        replace_folder(stage, cfg.out, own=VISITOR_OUTPUTS)
    warn_far_time_zone(zones)  # (its nights and days are Brussels': a probe's Tokyo nights were daytime there)
    if cfg.summary_period and buckets.span:  # (a probe's returning table of a quarter from 28 days of March, unsaid)
        first, last = (pd.Timestamp(t, tz="UTC").isoformat() for t in buckets.span)
        if said := partial_periods(first, last, cfg.summary_period):
            log.info("the events cover part of a published period (%s): its figures are made from the days counted alone; a "
                     "later run over more of it publishes it again, and the two can be differenced (publish it once, whole, or run "
                     "with --summary-period none: docs/privacy.md, 'Publishing again')", said)
    manifest["tables"] = tables
    return manifest
