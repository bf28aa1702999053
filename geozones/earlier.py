"""Earlier runs over the same counts (``--earlier DIR``): audited together with this one.

Two runs over the same counts with different zones are two sets of equations: a zone in
one run and the same zone with a strip in another give the strip's people by subtraction,
and each run's audit sees only itself (docs/privacy.md). With ``--earlier DIR`` a run reads
an earlier run's output folder (its ``manifest.json`` and ``zone_counts.parquet``) and the
zone files it recorded, and puts the earlier zones into its own disclosure control:

* an earlier zone with the same geometry as one of this run's is that zone; any other
  joins the run as a zone of its own (its id prefixed with ``earlier1:``, ``earlier2:``...),
  whose figures are computed from the same counts and never written;
* every figure the earlier run published is *locked*: it is out, so it stays published
  and is never chosen to close an exposure; the run suppresses its own figures instead;
* the earlier run must have read the same cell plan, with the same settings that shape a
  figure, and every figure it published must be one this run computes for its zones, with
  the same value (to the rounding, or the noise with ``--protection perturb``): the same
  counts, or counts this run's include (a half year over a quarter published with other
  zones); otherwise it is refused, naming what differs;
* an earlier run at another ``--origin-level`` (municipalities against provinces): this
  run also computes its figures at that level, and the audit reads a coarser origin's
  figure as the sum of its members' (:func:`two_levels`), so that a province less its
  published municipalities gives no hidden one; the other level's figures are audited,
  never written. One other level, on the memory engine, not with ``--stat max``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import ConfigError

__all__ = ["Earlier", "EarlierRun", "Locks", "TwoLevels", "prepare_earlier", "read_earlier", "add_earlier_zones", "locked_rows", "check_locked",
           "check_settings", "join_weights", "other_level", "two_levels"]

#: Settings of a run that shape its figures: an earlier run must have had the same.
SAME = ("kind", "stat", "period", "periods", "k", "model", "origin_level", "residents_separated", "unknown_cells", "dedup_factor")
#: What to do when a setting differs, where it is not an option of the same name.
_SAME_HINT = {
    "residents_separated": "residents are set apart when the zone files give a 'municipality' property: give both runs "
                           "zone files that do (or do not), or --no-residents to both",
    "periods": "give this run the earlier run's --period and --summary-period",
}


@dataclass
class EarlierRun:
    """An earlier run's output folder, read.

    Attributes
    ----------
    path : pathlib.Path
    zones : geopandas.GeoDataFrame
        The zones it read (from its recorded zone files), with their ids.
    published : pandas.DataFrame
        Its published figures: ``zone_id``, ``period``, ``period_start`` (UTC), ``origin``,
        ``observed``.
    parameters : dict
        Its manifest's ``parameters``.
    protection : str
    max_noise : int
    secret_id : str
    zone_files : list of str
    periods : frozenset
        Its figures' periods, as ``(period, period_start in UTC nanoseconds)``: what it counted.
    """

    path: Path
    zones: gpd.GeoDataFrame
    published: pd.DataFrame
    parameters: dict
    protection: str
    max_noise: int
    secret_id: str
    zone_files: list
    periods: frozenset = frozenset()


def read_earlier(path: str, inputs: dict) -> EarlierRun:
    """Read an earlier run's output folder and check it was over the same counts.

    Parameters
    ----------
    path : str
        The folder (``manifest.json``, ``zone_counts.parquet``).
    inputs : dict
        This run's inputs as the manifest describes them (:func:`geozones.runfiles.describe_inputs`).

    Returns
    -------
    EarlierRun

    Raises
    ------
    ConfigError
        A folder that is not a run's, or a run over other counts or cells, or whose zone
        files changed since.
    """
    from .zones import read_zones

    folder = Path(path)
    man_path, table = folder / "manifest.json", folder / "zone_counts.parquet"
    if not man_path.is_file() or not table.is_file():
        raise ConfigError("not the output folder of a geozones run (no manifest.json and zone_counts.parquet)", path=folder,
                          hint="--earlier takes the --out folder of an earlier run over the same counts")
    try:
        man = json.loads(man_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"its manifest cannot be read: {exc}", path=man_path) from exc
    theirs = man.get("inputs", {})
    # (other counts are taken: a half year over a quarter published with other zones; what decides is that
    # every figure the earlier run published is one this run computes, to the rounding: check_locked)
    for key in ("events", "cells", "weights"):
        if [f.get("sha256") for f in theirs.get(key, [])] != [f.get("sha256") for f in inputs.get(key, [])]:
            raise ConfigError(f"the earlier run read other {key} than this one: its figures are not equations over these counts",
                              path=folder, hint="give --earlier only for runs over the same counts and cell plan")
    files = theirs.get("zones", [])
    if not files:
        raise ConfigError("its manifest names no zone file", path=man_path)
    from .runfiles import describe_inputs

    found = []
    for f in files:
        # as given (from the folder the run started in), absolute, or beside the earlier run's folder
        tried = list(dict.fromkeys(str(p) for p in (f["path"], f.get("absolute"), folder.parent / f["path"]) if p))
        here = [p for p in tried if Path(p).is_file()]
        same = [p for p in here if describe_inputs({"zones": p})["zones"][0]["sha256"] == f.get("sha256")]
        if not same:
            why = "has changed since" if here else "is gone"
            raise ConfigError(f"the earlier run's zone file {f['path']} {why} (looked for {', '.join(tried)})", path=folder,
                              hint=f"its zones must be read as they were published: restore that file (SHA-256 {str(f.get('sha256'))[:12]}..., "
                                   "e.g. from version control), and keep each published zone set in a folder or commit of its own")
        found.append(same[0])
    files = [dict(f, path=p) for f, p in zip(files, found, strict=True)]
    zones = read_zones(found)
    t = pd.read_parquet(table, columns=["zone_id", "period", "period_start", "origin", "observed", "status"])
    starts = pd.DatetimeIndex(pd.to_datetime(t["period_start"].astype(str), utc=True)).as_unit("ns").asi8
    periods = frozenset(zip(t["period"].astype(str).tolist(), starts.tolist(), strict=True))
    t = t[t["status"].astype(str) == "published"]
    published = pd.DataFrame({
        "zone_id": t["zone_id"].astype(str).to_numpy(), "period": t["period"].astype(str).to_numpy(),
        "period_start": pd.DatetimeIndex(pd.to_datetime(t["period_start"].astype(str), utc=True)).as_unit("ns").asi8,
        "origin": t["origin"].astype(str).to_numpy(), "observed": t["observed"].to_numpy(dtype=float),
    })
    dc = man.get("disclosure_control", {})
    return EarlierRun(folder, zones, published, man.get("parameters", {}), str(dc.get("protection", "suppress")),
                      int(dc.get("perturbation", {}).get("max_noise", 0)), str(dc.get("perturbation", {}).get("secret_id", "")),
                      [f["path"] for f in files], periods)


def check_settings(runs: list[EarlierRun], parameters: dict, protection: str, secret_id: str) -> None:
    """Refuse earlier runs whose settings shaped their figures otherwise than this run's.

    Parameters
    ----------
    runs : list of EarlierRun
    parameters : dict
        This run's settings as the manifest's ``parameters`` say them.
    protection, secret_id : str
        This run's protection, and its cell key secret's id (empty without noise): two
        noisy readings of one figure under two secrets could be averaged.
    """
    for run in runs:
        for key in SAME:
            if key == "origin_level":  # (another level: audited together, other_level)
                continue
            if run.parameters.get(key) != parameters.get(key):
                hint = _SAME_HINT.get(key, f"give this run the earlier run's --{key.replace('_', '-')}")
                raise ConfigError(f"the earlier run had {key} = {run.parameters.get(key)!r}, this one {parameters.get(key)!r}", path=run.path,
                                  hint=f"{hint}: runs are audited together only with the same settings")
        if (run.protection, run.secret_id if run.protection == "perturb" else "") != (protection, secret_id):
            raise ConfigError(f"the earlier run's protection was {run.protection!r}" + (" under another secret" if run.protection == protection else ""),
                              path=run.path, hint="audit together only runs with the same protection (and the same cell key secret)")


def other_level(runs: list[EarlierRun], level: str) -> str | None:
    """The origin level of the earlier runs that are not at ``level`` (None: they all are).

    Raises
    ------
    ConfigError
        Earlier runs at two or more other levels: three levels over the same counts are
        not audited together.
    """
    from .origins import LEVELS

    levels = sorted({str(r.parameters.get("origin_level")) for r in runs} - {str(level)})
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad:
        raise ConfigError(f"an earlier run has the origin level {bad[0]!r}", path=runs[0].path, hint=f"it must be one of {', '.join(LEVELS)}")
    if len(levels) > 1:
        raise ConfigError(f"earlier runs at origin levels {' and '.join(repr(x) for x in levels)}, this one at {level!r}: at most two "
                          "levels over the same counts are audited together", path=", ".join(str(r.path) for r in runs),
                          hint="give --earlier the runs of one other origin level")
    return levels[0] if levels else None


@dataclass
class TwoLevels:
    """A zone table with the rows of a second origin level (:func:`two_levels`).

    Attributes
    ----------
    table : pandas.DataFrame
        This run's figures, then the other level's rows for origins this level does not have.
    groups : dict
        Each finer origin's coarser origin, where the table has both.
    audited_only : frozenset
        The other level's origins: audited, never written.
    renamed : dict
        Origins of both levels that hold other people at the other level: their name in the
        other level's rows (``province:30000``).
    other_level : str
    """

    table: pd.DataFrame
    groups: dict
    audited_only: frozenset
    renamed: dict = dataclasses.field(default_factory=dict)
    other_level: str = ""

    def locked(self, figures: pd.DataFrame) -> pd.DataFrame:
        """Earlier runs' published figures (:func:`add_earlier_zones`) with the other level's
        origins named as in :attr:`table`.
        """
        if not self.renamed:
            return figures
        o = figures["origin"].astype(str)
        theirs = (figures["origin_level"].astype(str) == self.other_level).to_numpy()
        return figures.assign(origin=np.where(theirs, o.map(self.renamed).fillna(o), o))


def two_levels(own: pd.DataFrame, other: pd.DataFrame, level: str, other_level: str, residents=None) -> TwoLevels:
    """A run's zone table and another origin level's over the same counts, as one table
    for disclosure control.

    An origin of both levels is one figure (a country, ``resident``, a home kept apart)
    unless the coarser level's holds more (counts that name a province for people whose
    municipality is not known: ``30000`` at the municipality level is those people, at the
    province level all of West Flanders'); the other level's rows then carry the origin as
    ``<level>:<code>`` (:attr:`TwoLevels.renamed`).

    Parameters
    ----------
    own, other : pandas.DataFrame
        The zone tables (``zone_id``, ``period_start``, ``period``, ``origin``, ``observed``...)
        at ``level`` and at ``other_level``.
    level, other_level : str
        Their origin levels (:data:`geozones.origins.LEVELS`).
    residents : mapping, optional
        The run's homes (:func:`geozones.origins.home_municipalities`): their codes are kept at
        both levels.

    Returns
    -------
    TwoLevels
    """
    from .origins import ALL, LEVELS, at_level, homes_kept, rollup_codes

    fine_is_own = LEVELS.index(level) < LEVELS.index(other_level)
    fine = own if fine_is_own else other
    coarse_level = max(level, other_level, key=LEVELS.index)
    codes = sorted(set(pd.unique(fine["origin"].astype(str))) - {ALL})
    up = rollup_codes(pd.Series(codes, dtype=object), coarse_level, keep=homes_kept(residents, coarse_level)).astype(str).tolist()
    members: dict = {}
    for f, c in zip(codes, up):
        members.setdefault(c, set()).add(f)
    summed = {c for c, m in members.items() if m != {c} and c != ALL}  # (coarser origins over other ones)
    renamed = {c: at_level(c, other_level) for c in sorted(summed & set(codes))}  # (one name, two sets of people)
    o = other["origin"].astype(str)
    other = other.assign(origin=(o.replace(renamed) if renamed else o).to_numpy(dtype=object))
    extra = other[~other["origin"].isin(set(pd.unique(own["origin"].astype(str))))]
    mine, theirs = (lambda x: x), (lambda x: renamed.get(x, x))
    fine_name, coarse_name = (mine, theirs) if fine_is_own else (theirs, mine)
    groups = {fine_name(f): coarse_name(c) for f, c in zip(codes, up) if c in summed}
    table = pd.concat([own, extra], ignore_index=True)
    return TwoLevels(table, groups, frozenset(pd.unique(extra["origin"].astype(str))), renamed, other_level)


def join_weights(own, extra):
    """A run's weights with the earlier zones' columns after them (the run's cells and
    outside shares: the earlier zones are only audited, never written).
    """
    from scipy import sparse

    from .weights import Weights

    at = pd.Index(np.asarray(extra.cell_ids).astype(str)).get_indexer(np.asarray(own.cell_ids).astype(str))
    m = sparse.csr_array(extra.matrix)
    cols = sparse.csr_array((np.ones(int((at >= 0).sum())), (np.flatnonzero(at >= 0), at[at >= 0])), shape=(len(own.cell_ids), m.shape[0])) @ m
    meta = dict(own.meta) | {"zones_overlap": True}
    return Weights(sparse.csr_array(sparse.hstack([own.matrix, cols], format="csr")), own.cell_ids,
                   np.concatenate([np.asarray(own.zone_ids, dtype=object), np.asarray(extra.zone_ids, dtype=object)]), own.outside, meta)


def _shapes(zones: gpd.GeoDataFrame) -> pd.Index:
    """Each zone's geometry as normalised WKB (in EPSG:4326): equal for the same shape."""
    return pd.Index(shapely.to_wkb(shapely.normalize(zones.geometry.to_crs(4326).to_numpy())))


def _same_shape(own_shapes: pd.Index, own_ids, shapes: pd.Index, ids) -> np.ndarray:
    """Per earlier zone, the position of this run's zone of the same shape (-1: none): the
    one of the same id where two of this run's zones have that shape (a centre drawn as
    one of the neighbourhoods), else the first.
    """
    own = pd.DataFrame({"shape": np.asarray(own_shapes, dtype=object), "id": np.asarray(own_ids).astype(str), "pos": np.arange(len(own_ids))})
    theirs = pd.DataFrame({"shape": np.asarray(shapes, dtype=object), "id": np.asarray(ids).astype(str)})
    same_id = theirs.merge(own, on=["shape", "id"], how="left")["pos"]
    first = theirs["shape"].map(own.drop_duplicates("shape").set_index("shape")["pos"])
    return same_id.fillna(first).fillna(-1).to_numpy(dtype=np.int64)


def _quiet_homes(zones: gpd.GeoDataFrame) -> dict:
    """Each zone's home municipality (:func:`geozones.origins.home_municipalities`), without
    its warnings: the run warns about its zones' properties itself, once.
    """
    import logging

    from .origins import home_municipalities

    log = logging.getLogger("geozones")
    was, log.disabled = log.disabled, True
    try:
        return home_municipalities(zones) or {}
    finally:
        log.disabled = was


def add_earlier_zones(zones: gpd.GeoDataFrame, runs: list[EarlierRun], *, homes: bool = False) -> tuple[gpd.GeoDataFrame, set, pd.DataFrame]:
    """A run's zones and the earlier runs' zones that are not among them.

    With ``homes`` (residents set apart), an earlier zone of the same shape as one of this
    run's must have had the same home municipality: else its ``resident`` figure held other
    people (and the homes kept apart at a coarser origin level differ), and the run is
    refused, naming the zone.

    Returns
    -------
    tuple
        The zones together (earlier ones after, ids ``earlierN:<id>``), the ids of the
        added zones (never written), and the earlier runs' published figures, one after
        the other, with their zone ids as they are in the union.
    """
    own_ids, own_shapes = zones["zone_id"].astype(str).to_numpy(), _shapes(zones)
    mine = _quiet_homes(zones) if homes else {}
    parts, added, figures = [zones], set(), []
    for i, run in enumerate(runs, start=1):
        ez = run.zones
        ids = ez["zone_id"].astype(str).to_numpy()
        at = _same_shape(own_shapes, own_ids, _shapes(ez), ids)  # (the same shape: this run's zone)
        theirs = _quiet_homes(ez) if homes else {}
        for j in np.flatnonzero(at >= 0):
            here, there = mine.get(own_ids[at[j]], ""), theirs.get(ids[j], "")
            if here != there:
                raise ConfigError(f"zone {own_ids[at[j]]!r}: home municipality {here or 'none'} here, {there or 'none'} in the earlier "
                                  "run: its residents and visitors are other people", path=run.path,
                                  hint="give both runs the same 'municipality' properties, or --no-residents to both")
        new = np.array([f"earlier{i}:{z}" for z in ids], dtype=object)
        union_id = np.where(at >= 0, own_ids[np.maximum(at, 0)], new)
        extra = ez[at < 0].assign(zone_id=new[at < 0])
        added |= set(extra["zone_id"])
        parts.append(extra.to_crs(zones.crs)[[c for c in zones.columns if c in extra.columns]])
        figures.append(run.published.assign(zone_id=run.published["zone_id"].map(dict(zip(ids, union_id))),
                                            origin_level=str(run.parameters.get("origin_level"))).dropna(subset=["zone_id"]))
    union = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=zones.crs)
    return union, added, pd.concat(figures, ignore_index=True)


def locked_rows(zone_id, period, period_start_ns, origin, ref: pd.DataFrame) -> np.ndarray:
    """Per figure of a table, the position of the earlier published figure it is (-1: none).

    Parameters
    ----------
    zone_id, period, period_start_ns, origin : array-like
        The table's figures.
    ref : pandas.DataFrame
        :func:`add_earlier_zones`' published figures.

    Returns
    -------
    numpy.ndarray of int
        Positions into ``ref``.
    """
    key = pd.MultiIndex.from_arrays([ref["zone_id"].astype(str), ref["period"].astype(str), ref["period_start"].astype(np.int64),
                                     ref["origin"].astype(str)])
    mine = pd.MultiIndex.from_arrays([pd.Index(np.asarray(zone_id, dtype=object)).astype(str), pd.Index(np.asarray(period, dtype=object)).astype(str),
                                      pd.Index(np.asarray(period_start_ns, dtype=np.int64)), pd.Index(np.asarray(origin, dtype=object)).astype(str)])
    return key.get_indexer(mine)


def check_locked(observed: np.ndarray, at: np.ndarray, ref: pd.DataFrame, tolerance: float, where: str) -> None:
    """Refuse earlier runs whose published figures are not this run's figures for them.

    Parameters
    ----------
    observed : numpy.ndarray
        This run's figures (true observed).
    at : numpy.ndarray of int
        :func:`locked_rows`.
    ref : pandas.DataFrame
        :func:`add_earlier_zones`' published figures.
    tolerance : float
        0.5 (rounding), or the noise's largest value plus 0.5.
    where : str
        The earlier folders, for the message.
    """
    hit = at >= 0
    if hit.sum() < len(ref):
        raise ConfigError(f"{len(ref) - int(hit.sum())} figures an earlier run published are not among this run's figures: it counted "
                          "other periods or origins", path=where,
                          hint="give --earlier runs over these counts, or over counts these include (whole summary periods)")
    off = np.abs(np.round(observed[hit]) - ref["observed"].to_numpy()[at[hit]]) > tolerance + 1e-9
    if off.any():
        i = int(np.flatnonzero(hit)[np.flatnonzero(off)[0]])
        raise ConfigError(f"an earlier run published {ref['observed'].to_numpy()[at[i]]:g} for a figure this run counts "
                          f"{observed[i]:.1f}: it was not over these counts", path=where,
                          hint="give --earlier runs over these counts, or counts these include (whole summary periods), and the same "
                               "cell plan; the footprint model's density comes from all a run's counts, so there only the same counts do")


@dataclass
class Earlier:
    """Earlier runs, read and joined to a run's zones (:func:`prepare_earlier`)."""

    runs: list
    union: gpd.GeoDataFrame
    added: set
    figures: pd.DataFrame
    extra: gpd.GeoDataFrame
    zone_files: list
    level: str | None = None  # (the earlier runs' other origin level: other_level)

    def both_levels(self, own: pd.DataFrame, other: pd.DataFrame, level: str, residents=None) -> TwoLevels:
        """:func:`two_levels` of this run's table and the earlier runs' level's, the
        earlier figures' origins renamed to match it (for :meth:`locks`).
        """
        both = two_levels(own, other, level, self.level, residents)
        self.figures = both.locked(self.figures)
        return both

    def engine(self, requested: str, picked: str, why: str) -> tuple[str, str]:
        """The engine for this run: the memory engine where an earlier run is at another
        origin level (both levels' figures are audited as one table), ``(picked, why)`` else.

        Raises
        ------
        ConfigError
            Another engine was asked for.
        """
        if self.level is None or picked == "memory":
            return picked, why
        if requested != "auto":
            raise ConfigError(f"an earlier run at origin level {self.level!r} is audited with this run on the memory engine, "
                              f"not --engine {requested}", hint="drop --engine, or give --engine memory")
        import logging

        logging.getLogger("geozones").warning("an earlier run at origin level %r: this run reads its counts into memory to audit both "
                                              "levels (the memory engine); --memory-budget does not bound it", self.level)
        return "memory", f"the memory engine: an earlier run at origin level {self.level!r} is audited with this run's figures"

    def own_rows(self, checked: pd.DataFrame, levels: TwoLevels) -> pd.DataFrame:
        """The rows of a table checked with the earlier runs' that this run writes: not the
        earlier runs' own zones, nor the other origin level's figures (audited, never
        published again).
        """
        keep = ~checked["zone_id"].astype(str).isin(self.added) & ~checked["origin"].astype(str).isin(levels.audited_only)
        return checked[keep].reset_index(drop=True)

    def within(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` without the earlier runs' own zones' figures of periods no earlier run
        counted (a half year's second quarter beside a run of the first): no one published
        anything of those zones then, so they are neither rows nor targets of the audit.
        """
        if not self.added:
            return table
        covered = frozenset().union(*(r.periods for r in self.runs))
        starts = pd.DatetimeIndex(pd.to_datetime(table["period_start"], utc=True)).as_unit("ns").asi8
        counted = np.fromiter(((p, t) in covered for p, t in zip(table["period"].astype(str).tolist(), starts.tolist(), strict=True)),
                              bool, len(table))
        keep = counted | ~table["zone_id"].astype(str).isin(self.added).to_numpy()
        return table if keep.all() else table[keep].reset_index(drop=True)

    def locks(self, tolerance: float) -> Locks:
        """What locks this run's figures, checking them against the earlier ones to ``tolerance``."""
        return Locks(self.figures, tolerance, ", ".join(str(r.path) for r in self.runs), self.added)


@dataclass
class Locks:
    """Which figures of a table an earlier run published (checked: they are this run's).

    ``drop``: zones audited with this table and not written (an earlier run's own, or
    another part's of a table published in parts); ``hidden``: zones of them whose figures
    are all hidden in this audit (a later part's, not yet published: what this table
    publishes must not bound them); ``soft``: the figures are not out yet (an earlier part's
    of this run, staged, not merged): the audit may still hide them, and says which
    (:attr:`geozones.engine.publish.Published.late`).
    """

    figures: pd.DataFrame
    tolerance: float
    where: str
    drop: set
    hidden: set = dataclasses.field(default_factory=set)
    soft: bool = False

    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        """Per row of a zone table (``zone_id``, ``period``, ``period_start``, ``origin``, ``observed``)."""
        starts = pd.DatetimeIndex(pd.to_datetime(table["period_start"], utc=True)).as_unit("ns").asi8
        return self.of(table["zone_id"].to_numpy(), table["period"].to_numpy(), starts, table["origin"].to_numpy(),
                       table["observed"].to_numpy(dtype=float))

    def of(self, zone_ids, periods, starts_ns, origins, observed) -> np.ndarray:
        """Per figure given as arrays."""
        at = locked_rows(zone_ids, periods, starts_ns, origins, self.figures)
        check_locked(np.asarray(observed, dtype=float), at, self.figures, self.tolerance, self.where)
        return at >= 0


def prepare_earlier(cfg, zones: gpd.GeoDataFrame) -> Earlier:
    """Read ``cfg.earlier``'s runs (checked against this run's inputs) and join their zones.

    Parameters
    ----------
    cfg : geozones.RunConfig
    zones : geopandas.GeoDataFrame
        This run's zones.

    Returns
    -------
    Earlier
    """
    from .runfiles import describe_inputs

    inputs = describe_inputs({"cells": cfg.cells, "weights": cfg.weights, "counts": cfg.counts, "events": cfg.events})
    runs = [read_earlier(p, inputs) for p in cfg.earlier]
    level = other_level(runs, cfg.origin_level)
    if level is not None and cfg.kind == "presence" and cfg.stat == "max":  # (before any work)
        raise ConfigError(f"an earlier run at origin level {level!r}: maxima at two origin levels are not audited together",
                          path=runs[0].path, hint=f"give this run --origin-level {level}, or publish one origin level for these counts")
    union, added, figures = add_earlier_zones(zones, runs, homes=cfg.residents)
    files = sorted({p for r in runs for p in r.zone_files})
    return Earlier(runs, union, added, figures, union[union["zone_id"].isin(added)].reset_index(drop=True), files, level)
