"""Publishing the zone figures of the stream and dask engines: whole, from arrays, or in
parts when the zone table does not fit in the memory budget.

A table in parts: the zones are cut into parts that each fit, keeping together the zones
nested in one another (disclosure control relates them; origins and periods relate
within a zone); each part goes through :func:`publish_cube` on its own, and the parts'
rows are merged back into the whole table's order. The figures and the files are those
of a run in one piece.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from ..aggregate import dedup_factor_for
from ..counts import parse_period, period_seconds
from ..density import PeriodWeights
from ..earlier import Locks
from ..errors import BudgetError, CountsError, InputError
from ..outputs import whole_numbers, zone_summary
from ..periods import not_nested
from ..privacy import AUDITED, SUPPRESSED
from ..weights import Weights
from ..zones import OUTSIDE
from .bins import CellBins, format_size, parse_size
from .publish import BYTES_PER_FIGURE as PUBLISH_BYTES_PER_FIGURE
from .publish import Published, publish_cube
from .sums import used_cells, zone_sums

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = ["BYTES_PER_FIGURE", "PANDAS_BYTES_PER_FIGURE", "table_fits", "figures_per_zone", "zone_parts", "fitted_parts", "figure_bytes", "publish_dense", "publish_in_parts", "conservation_of",
           "merge_parts", "check_split"]

log = logging.getLogger("geozones")


def check_split(periods: list[str], base_period: str, source: str | None, kind: str | None = None) -> None:
    """Refuse published periods shorter than the counts' own, and unique counts rolled up
    over time.

    Parameters
    ----------
    periods : list of str
        The published periods.
    base_period : str
        The counts' own period.
    source : str, optional
        The counts file, to name it.
    kind : str, optional
        The kind of count: ``unique`` counts (distinct people) do not add up over time.
    """
    for p in periods:
        problem = not_nested(base_period, p)
        if problem:
            raise InputError(problem[0], path=source, hint=problem[1])
        if kind == "unique" and period_seconds(p) > period_seconds(base_period):
            raise CountsError(f"unique counts per {base_period} cannot be rolled up to {p}: people seen in several periods would be counted again",
                              path=source, hint=f"give unique counts per {p}, or subscriber-level events, or --period {base_period}")


#: Memory a published figure takes on its way through disclosure control and the writers,
#: in arrays (stream and dask engines, :func:`geozones.engine.publish.publish_cube`; see
#: there) and in a pandas table (a run with a heat grid: measured 2.5 GB at the peak for
#: the 2.2 million figures of one day of the national case).
BYTES_PER_FIGURE = PUBLISH_BYTES_PER_FIGURE


PANDAS_BYTES_PER_FIGURE = 1000

#: What each weight of a zone beyond :data:`WEIGHTS_COUNTED` adds to its figures' memory
#: (the audit reads every figure through its zone's weights). Measured nationally in stop
#: 32: wedge weights (16 cells a zone) about 210 bytes a figure, footprint weights (51 a
#: zone) 520-690 bytes a figure in parts (2.46 M and 3.39 M figures with their halos).
BYTES_PER_WEIGHT = 12
WEIGHTS_COUNTED = 16


def figure_bytes(weights: Weights | PeriodWeights) -> int:
    """Memory a figure takes through disclosure control with these weights (bytes):
    :data:`BYTES_PER_FIGURE`, and :data:`BYTES_PER_WEIGHT` for each weight its zone has
    beyond :data:`WEIGHTS_COUNTED` (weights per period: the widest period's).
    """
    if isinstance(weights, PeriodWeights):
        return max(figure_bytes(w) for w in weights.parts)
    m = weights.matrix
    per_zone = m.nnz / max(1, m.shape[1])
    return int(BYTES_PER_FIGURE + BYTES_PER_WEIGHT * max(0.0, per_zone - WEIGHTS_COUNTED))


def figures_per_zone(bins: CellBins, periods: list[str]) -> tuple[int, int, int]:
    """(figures, periods, origins) that publishing makes for one zone: every published
    period (the summary period's: as many as the published ones span) times every origin.
    """
    t_used, o_used = (len(a) for a in used_cells(bins))
    summary = [min(t_used, -(-t_used * period_seconds(periods[0]) // period_seconds(p)) + 1) for p in periods[1:]]
    n_t = t_used + sum(summary)
    return n_t * o_used, n_t, o_used


def table_fits(bins: CellBins, weights: Weights, cfg: RunConfig, periods: list[str]) -> bool:
    """Whether the whole zone table fits through disclosure control in what the memory
    budget leaves beside what the process holds now.
    """
    figures = figures_per_zone(bins, periods)[0] * (len(weights.zone_ids) + 1)
    return resident_bytes(bins) + figures * figure_bytes(weights) <= parse_size(cfg.memory_budget)


def resident_bytes(bins: CellBins) -> int:
    """The memory this process holds now (Linux), or at least what the sums take."""
    return max(bins.sums.nbytes + sum(a.nbytes for a in bins.estimates.values()), process_bytes())


def process_bytes() -> int:
    """The memory this process holds now (its resident set; 0 where unknown: not Linux)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):  # pragma: no cover - not Linux
        return 0


def zone_parts(weights: Weights, nested: list, per_zone: int, room: int) -> list[np.ndarray]:
    """The zones (column indices of the weights) cut into parts that disclosure control can
    take one at a time: each part's figures fit in ``room`` bytes, and no relation crosses
    parts. Relations over origins and time stay within a zone; nested zones (and a zone
    family's members) are kept in one part. Parts follow the order of their first zone.
    """
    from scipy.sparse.csgraph import connected_components

    ids = np.asarray(weights.zone_ids).astype(str)
    index = {z: i for i, z in enumerate(ids)}
    outer, inner = [], []
    for pair in nested:
        members = [pair[1]] if len(pair) == 2 else pair[1]
        pos = [i for i in (index.get(str(z)) for z in (pair[0], *members)) if i is not None]
        outer += pos[:1] * (len(pos) - 1)
        inner += pos[1:]
    n = len(ids)
    graph = sparse.coo_array((np.ones(len(outer)), (np.asarray(outer, dtype=np.int64), np.asarray(inner, dtype=np.int64))), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    order = np.argsort(label, kind="stable")  # zones by component, in their order within it
    first = np.full(label.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, label, np.arange(n))
    comps = np.split(order, np.cumsum(np.bincount(label))[:-1]) if n else []
    zone_bytes = per_zone * figure_bytes(weights)
    cap = max(1, room // max(1, zone_bytes))  # zones a part may hold
    parts, current, held = [], [], 0
    for c in np.argsort(first, kind="stable"):
        zones = comps[c]
        if len(zones) > cap:
            raise BudgetError(
                f"zone {str(ids[zones[0]])!r} and the {len(zones) - 1} zones nested with it must go through disclosure control together, "
                f"and their {len(zones) * per_zone:,} figures need about {format_size(len(zones) * zone_bytes)}, "
                f"more than the {format_size(room)} the memory budget leaves",
                hint="raise --memory-budget, publish a longer --period or a coarser --origin-level, or split that zone set",
            )
        if held + len(zones) > cap:
            parts.append(np.concatenate(current))
            current, held = [], 0
        current.append(zones)
        held += len(zones)
    if current:
        parts.append(np.concatenate(current))
    return parts


def publish_dense(bins: CellBins, weights: Weights, cols: np.ndarray, cfg: RunConfig, residents, periods: list[str], nested: list, names: dict,
                   zone_order: dict, fit: pd.DataFrame, first: bool, rest_share: float | None = None,
                   perturbation=None, locks=None, figured=None) -> tuple[Published, np.ndarray, float]:
    """Publish the zones ``cols`` (column indices of the weights) from the bins, in arrays
    (:func:`geozones.engine.publish.publish_cube`); and the conservation check of their
    figures with ``outside`` (``first``: outside's figures go with these zones).
    ``rest_share``: the share of a total's hidden origins (:func:`geozones.extrapolate.rest_share`);
    ``perturbation``: the cell key method's noise (:class:`geozones.cellkey.Perturbation`);
    ``locks``: earlier runs' published figures (:class:`geozones.earlier.Locks`); ``figured``:
    called once the zone figures are made, before disclosure control (``-v``'s stages).
    """
    check_split(periods, bins.info["base_period"], cfg.counts, cfg.kind)
    factor = dedup_factor_for(cfg.kind, cfg.dedup_factor, source=cfg.counts)

    def columns(weights: Weights) -> Weights:
        outside = np.asarray(weights.outside, dtype=float) if first else np.zeros(len(weights.cell_ids))
        return Weights(sparse.csr_array(weights.matrix[:, cols]), weights.cell_ids, np.asarray(weights.zone_ids)[cols], outside, dict(weights.meta))

    if isinstance(weights, dict):  # (a density per period: each published period's figures from their own, --density period)
        by_level = {p: w.map(columns) if isinstance(w, PeriodWeights) else columns(w) for p, w in weights.items()}
        w = by_level[parse_period(periods[0])]
    else:
        w = by_level = columns(weights)
    obs, starts, origins, labels = zone_sums(bins, w, dedup_factor=factor)
    est = zone_sums(bins, w, dedup_factor=factor, estimate=True)[0]
    mine = ~np.isin(np.asarray(labels).astype(str), sorted(locks.drop)) if locks is not None and locks.drop else slice(None)
    sums = obs[:, :, mine].sum(axis=2)  # (zones audited with these but published elsewhere: not counted twice)
    keep = np.asarray(labels) != OUTSIDE
    cubes = None
    if isinstance(by_level, dict) and not (cfg.kind == "presence" and cfg.stat == "max"):  # (a maximum: from the periods before)
        cubes = [None] + [tuple(zone_sums(bins, by_level[parse_period(p)], dedup_factor=factor, estimate=e)[0][:, :, keep] for e in (False, True))
                          for p in periods[1:]]
    if figured is not None:
        figured()
    done = publish_cube(obs[:, :, keep], est[:, :, keep], starts, origins, np.asarray(labels)[keep], period=bins.period, periods=periods,
                        kind=cfg.kind, stat=cfg.stat, origin_level=cfg.origin_level, residents=residents, k=cfg.k, nested=nested, names=names,
                        zone_order=zone_order, fit=fit, weights=by_level, rest_share=rest_share, perturbation=perturbation, locks=locks,
                        level_cubes=cubes)
    return done, sums, factor


def conservation_of(bins: CellBins, weights: Weights, sums: np.ndarray, factor: float) -> float | None:
    """Largest difference between the zones plus outside and the counts, per period and
    origin (None where zones overlap: their figures add up to more than the counts).
    """
    if weights.meta.get("zones_overlap", True):
        return None
    want = bins.observed.sum(axis=2)[np.ix_(*used_cells(bins))] * factor
    return float(np.max(np.abs(sums - want))) if np.size(want) else 0.0


def publish_in_parts(bins: CellBins, weights: Weights, zones: gpd.GeoDataFrame, nested: list, cfg: RunConfig, residents,
                      periods: list[str], fit: pd.DataFrame, names: dict, zone_order: dict, stage: Path, rest_share: float | None = None,
                      intervals=None, perturbation=None, shares=None, shown=None) -> dict:
    """Disclosure control one part of the zones at a time, for a zone table that does not
    fit in the memory budget whole: the figures equal those of the whole table (no
    relation crosses parts), and memory holds one part's. Each part's published rows go
    to a file in ``stage``; :func:`merge_parts` then writes ``zone_counts.csv`` and
    ``.parquet`` from it in the order of the whole table. Returns the zones' summary and
    what the manifest says. ``intervals``: a function adding the estimates' intervals to
    a part's published table (:func:`geozones.intervals.add_intervals`); ``perturbation``: the
    cell key method's noise (the same key for a figure whichever part holds it); ``shares``:
    the market-share table (the summary totals' intervals, :func:`geozones.outputs.zone_summary`);
    ``shown``: the summary period the zones' summary shows (:func:`geozones.periods.shown_start`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    check_split(periods, bins.info["base_period"], cfg.counts, cfg.kind)
    zw = next(iter(weights.values())) if isinstance(weights, dict) else weights  # (weights per period: any of them names the zones)
    factor = dedup_factor_for(cfg.kind, cfg.dedup_factor, source=cfg.counts)
    _, n_t, n_o = figures_per_zone(bins, periods)
    per_zone = n_t * (n_o + 1)  # (the origins' total too)
    # (a fifth kept back: 1 kB a figure is a measured mean, not a bound; with a tenth the
    # national quarter peaked at 2.13 GB for a 2 GB budget)
    budget, held = parse_size(cfg.memory_budget), resident_bytes(bins)
    room = int(0.8 * (budget - held))
    zone_bytes = per_zone * figure_bytes(zw)
    if room < zone_bytes:
        raise BudgetError(
            f"publishing the zone table needs about {format_size(zone_bytes)} a zone ({per_zone:,} figures) beside "
            f"the {format_size(held)} this run holds, more than the memory budget of {format_size(budget)} leaves",
            hint="raise --memory-budget, or publish a longer --period or a coarser --origin-level",
        )
    parts, halos = fitted_parts(weights, zw, nested, per_zone, room)
    if len(parts) == 1:  # (a probe read "does not fit whole ... published in 1 parts")
        log.info("the zone table was published part by part, as one not known to fit the memory budget whole (%s held) is, and its "
                 "%d zones made one part", format_size(held), len(parts[0]))
    else:
        log.info("the zone table does not fit in the memory budget whole (%s held): published in %d parts of up to %d zones (each audited "
                 "with the up to %d zones of other parts that share its cells)", format_size(held), len(parts), max(map(len, parts)),
                 max(len(b) + len(f) for b, f in halos))
    in_order = pd.Index(list(zone_order))  # (zone ranks through an index: Series.map over Arrow strings went row by row)
    stats = {"figures": 0, "published": 0, "suppressed": 0}
    by_reason: dict[str, int] = {}
    got, writer, schema = 0.0, None, None
    lasts: list = []  # per part: its zones and its rows of the longest period (for the zones' summary)
    late: set = set()  # figures an earlier part published and a later part's audit hid
    blocks = []  # per part: (zone rank, rows) of its zones, in the order written
    part_of = {str(z): i for i, cols in enumerate(parts) for z in np.asarray(zw.zone_ids)[cols]}
    relations: list[list] = [[] for _ in parts]  # each part's nested zones (all of a relation's zones are in one part)
    for pair in nested:
        if str(pair[0]) in part_of:
            relations[part_of[str(pair[0])]].append(pair)
    tolerance = 0.5 if perturbation is None else perturbation.max_noise + 0.5
    ids = np.asarray(zw.zone_ids).astype(str)
    wanted = set(ids[np.concatenate([back for back, _ in halos])])  # (zones a later part is audited with)
    earlier: list[pd.DataFrame] = []  # their published figures, as a run's locks read them
    rows_in = stage / ".parts.parquet"
    bar = tqdm(total=len(zw.zone_ids), unit=" zones", disable=not sys.stderr.isatty(), file=sys.stderr, desc="publishing", leave=False)
    try:
        for i, cols in enumerate(parts):
            back, ahead = halos[i]
            locks = None
            if len(back) or len(ahead):  # (zones of other parts sharing its cells: audited with it, not written with it)
                seen = pd.concat(earlier, ignore_index=True) if earlier else published_figures(None)
                seen = seen[seen["zone_id"].isin(set(ids[back]))]  # (earlier parts: as they were published)
                locks = Locks(seen, tolerance, f"part {i} of this run", set(ids[back]) | set(ids[ahead]), hidden=set(ids[ahead]), soft=True)
            done, sums, _ = publish_dense(bins, weights, np.concatenate([cols, back, ahead]), cfg, residents, periods, relations[i], names,
                                          zone_order, fit, first=i == 0, rest_share=rest_share, perturbation=perturbation, locks=locks)
            got = got + sums
            for key, n in done.stats.items():
                stats[key] += n
            for key, n in done.by_reason.items():
                by_reason[key] = by_reason.get(key, 0) + n
            lasts.append((set(ids[cols]), done.last))
            if done.late is not None and len(done.late):  # (earlier parts' figures this part's audit hid: hidden in their rows too)
                hide = late_keys(done.late)
                late |= hide
                earlier = [f[~late_keys(f, hide)] for f in earlier]
                lasts = [(z, hidden_in(last, hide)) for z, last in lasts]
            arrow = whole_numbers(intervals(done.table) if intervals is not None else done.table)
            del done
            figures = published_figures(arrow)
            earlier.append(figures[figures["zone_id"].isin(wanted)])
            rank = in_order.get_indexer(arrow.column("zone_id").to_numpy(zero_copy_only=False))
            starts = np.flatnonzero(np.r_[True, rank[1:] != rank[:-1]]) if len(rank) else np.empty(0, np.int64)
            blocks.append((rank[starts], np.diff(np.r_[starts, len(rank)])))
            if writer is None:
                schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) or pa.types.is_dictionary(f.type) else f for f in arrow.schema])
                writer = pq.ParquetWriter(rows_in, schema)
            writer.write_table(arrow.cast(schema), row_group_size=MERGE_ROWS)
            del arrow
            give_back_memory()
            bar.update(len(cols))
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if late:
        log.info("%d figures published by earlier parts were hidden by later parts' audits (zones sharing cells)", len(late))
        stats["published"] -= len(late)
        stats["suppressed"] += len(late)
        by_reason[AUDITED] = by_reason.get(AUDITED, 0) + len(late)
    merge_parts(rows_in, blocks, stage, batch=max(1024, min(MERGE_ROWS, room // (400 * len(parts)))), late=late)
    rows_in.unlink()
    summary = pd.concat([zone_summary(zones[zones["zone_id"].isin(z)], last, periods[-1], shares, cfg.origin_level, shown) for z, last in lasts],
                        ignore_index=True)
    summary = summary.iloc[np.argsort(in_order.get_indexer(summary["zone_id"]), kind="stable")].reset_index(drop=True)
    conservation = conservation_of(bins, zw, got, factor)
    return {"summary": gpd.GeoDataFrame(summary, geometry="geometry", crs=zones.crs), "stats": stats, "by_reason": by_reason,
            "conservation": conservation, "parts": len(parts), "factor": factor}


def fitted_parts(weights, zw: Weights, nested: list, per_zone: int, room: int) -> tuple[list, list]:
    """:func:`zone_parts` whose zones fit in ``room`` with their halos (:func:`part_halos`,
    audited with them): cut smaller while the widest part and its halo do not fit, as long
    as that makes them narrower. Where the halos alone keep a part over the room (zones
    that share cells with very many others), the run goes on with the narrowest cut and
    warns.
    """
    zone_bytes = per_zone * figure_bytes(zw)
    cap, best = room, None
    for _ in range(8):
        try:
            parts = zone_parts(zw, nested, per_zone, cap)
        except BudgetError:
            if best is None:
                raise
            break  # (zones nested together: no smaller parts)
        halos = part_halos(weights, parts)
        widest = max(len(c) + len(b) + len(a) for c, (b, a) in zip(parts, halos))
        if best is not None and widest >= best[2]:
            break
        best = (parts, halos, widest)
        if widest * zone_bytes <= room:
            return parts, halos
        cap = int(cap * room / (widest * zone_bytes))
    log.warning("publishing in parts: the widest part with the zones of other parts that share its cells (%d zones) needs about %s, "
                "more than the %s the memory budget leaves (raise --memory-budget to stay within it)",
                best[2], format_size(best[2] * zone_bytes), format_size(room))
    return best[0], best[1]


def part_halos(weights, parts: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per part, the zones of earlier and of later parts that share a cell with one of its
    zones (its *halo*, column indices of the weights). Published figures of zones that
    share cells bound each other (the audit's bounds), so a part is audited with its halo:
    the earlier parts' zones with their figures as published, the later parts' hidden
    (not published yet: this part must not bound them; their own part then checks its
    figures against this one's). ``weights``: a Weights, or weights per period (a dict of
    Weights or :class:`~geozones.PeriodWeights`: cells shared in any of them).
    """
    every = weights.values() if isinstance(weights, dict) else [weights]
    mats = {id(w): w.matrix for v in every for w in (v.parts if isinstance(v, PeriodWeights) else [v])}
    pattern = sum(sparse.csc_array((np.ones(m.nnz), m.nonzero()), shape=m.shape) for m in mats.values())
    meet = (pattern.T @ pattern).tocsr()  # zones x zones: sharing a cell
    part_of = np.empty(meet.shape[0], np.int64)
    for i, cols in enumerate(parts):
        part_of[cols] = i
    halos = []
    for i, cols in enumerate(parts):
        near = np.unique(meet[cols].indices)
        halos.append((near[part_of[near] < i], near[part_of[near] > i]))
    return halos


def late_keys(figures: pd.DataFrame, among: set | None = None):
    """Figures (``zone_id``, ``period``, ``period_start`` in ns, ``origin``) as keys: a set,
    or with ``among`` whether each is in it.
    """
    keys = pd.MultiIndex.from_arrays([figures["zone_id"].astype(str).to_numpy(), figures["period"].astype(str).to_numpy(),
                                      np.asarray(figures["period_start"], np.int64), figures["origin"].astype(str).to_numpy()])
    return set(keys) if among is None else np.asarray(keys.isin(list(among)), bool)


def hidden_in(rows: pd.DataFrame, hide: set) -> pd.DataFrame:
    """A part's rows of the longest period with the figures ``hide`` suppressed."""
    starts = pd.DatetimeIndex(pd.to_datetime(rows["period_start"], utc=True)).as_unit("ns").asi8
    on = late_keys(rows.assign(period_start=starts), hide)
    if not on.any():
        return rows
    return rows.assign(observed=np.where(on, np.nan, rows["observed"]), estimate=np.where(on, np.nan, rows["estimate"]),
                       status=np.where(on, SUPPRESSED, rows["status"]))


def published_figures(table=None) -> pd.DataFrame:
    """A part's published figures (``zone_id``, ``period``, ``period_start`` in ns, ``origin``,
    ``observed``) from its output table, as :class:`geozones.earlier.Locks` reads them.
    """
    import pyarrow as pa

    if table is None:  # (none yet)
        return pd.DataFrame({"zone_id": [], "period": [], "period_start": np.zeros(0, np.int64), "origin": [], "observed": np.zeros(0)})

    def column(name: str) -> np.ndarray:
        c = table.column(name)
        return (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c).to_numpy(zero_copy_only=False)

    on = column("status").astype(str) == "published"
    starts = pd.DatetimeIndex(pd.to_datetime(column("period_start")[on], utc=True)).as_unit("ns").asi8
    return pd.DataFrame({"zone_id": column("zone_id")[on].astype(str), "period": column("period")[on].astype(str), "period_start": starts,
                         "origin": column("origin")[on].astype(str), "observed": column("observed")[on].astype(float)})


#: Rows of a row group of the parts' file, and at most of a batch of the merge (the merge
#: holds a row group of every part).
MERGE_ROWS = 1 << 14


#: Rows the merge writes at a time: a row group of ``zone_counts.parquet``.
FLUSH_ROWS = 1 << 18


def give_back_memory() -> None:
    """Return the memory freed by a part to the system (glibc keeps it otherwise, and the
    process would grow part after part).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def merge_parts(path: Path, blocks: list[tuple[np.ndarray, np.ndarray]], stage: Path, batch: int, late: set | None = None) -> None:
    """Write ``zone_counts.csv`` and ``.parquet`` into ``stage`` from the parts' rows in
    ``path``, zones in the order of the whole table: each part's rows are read in turn
    (a batch of each part at a time), so memory holds one batch a part.

    ``blocks``: per part, the rank of each of its zones in the zone files and its rows.
    ``late``: figures (:func:`late_keys`) a later part's audit hid: written suppressed.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from ..outputs import iso_times

    sep = "\x1f"
    hide = None
    if late:  # (the keys as the staged rows hold them: period starts in ISO text, all at once)
        zone, period, start, origin = (np.asarray(v) for v in zip(*late, strict=True))
        iso = iso_times(pd.to_datetime(start.astype(np.int64), utc=True))
        hide = pa.array([sep.join(key) for key in zip(zone, period, iso, origin, strict=True)])

    def hidden(table):
        if hide is None or not table.num_rows:
            return table
        key = pc.binary_join_element_wise(*(table.column(c).cast(pa.string()) for c in ("zone_id", "period", "period_start", "origin")), sep)
        on = pc.is_in(key, value_set=hide)
        if not pc.any(on).as_py():
            return table
        for name in ("observed", "estimate", "estimate_low", "estimate_high"):
            if name in table.column_names:
                col = table.column(name)
                table = table.set_column(table.column_names.index(name), name, pc.if_else(on, pa.scalar(None, col.type), col))
        status = table.column("status")
        return table.set_column(table.column_names.index("status"), "status", pc.if_else(on, pa.scalar(SUPPRESSED, status.type), status))

    f = pq.ParquetFile(path)
    groups = []  # the row groups of each part, in order
    sizes = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
    g = 0
    for ranks, rows in blocks:
        total, mine = int(rows.sum()), []
        while total > 0:
            mine.append(g)
            total -= sizes[g]
            g += 1
        groups.append(mine)
    readers = [f.iter_batches(batch_size=batch, row_groups=mine) if mine else iter(()) for mine in groups]
    held = [None] * len(blocks)  # per part: (batch, offset)
    part = np.concatenate([np.full(len(r), i) for i, (r, _) in enumerate(blocks)]) if blocks else np.empty(0, np.int64)
    ranks = np.concatenate([r for r, _ in blocks]) if blocks else np.empty(0, np.int64)
    rows = np.concatenate([c for _, c in blocks]) if blocks else np.empty(0, np.int64)
    order = np.argsort(ranks, kind="stable")
    options = pacsv.WriteOptions(quoting_style="needed")
    with pq.ParquetWriter(stage / "zone_counts.parquet", f.schema_arrow) as out, pacsv.CSVWriter(stage / "zone_counts.csv", f.schema_arrow, write_options=options) as csv:
        pending, count, first = [], 0, True

        def flush() -> None:
            nonlocal pending, count, first
            table = hidden(pa.Table.from_batches(pending, schema=f.schema_arrow))
            out.write_table(table)
            csv.write_table(table)
            pending, count, first = [], 0, False

        for p, need in zip(part[order], rows[order]):
            while need:
                if held[p] is None or held[p][1] == held[p][0].num_rows:
                    held[p] = (next(readers[p]), 0)
                b, at = held[p]
                take = min(int(need), b.num_rows - at)
                pending.append(b.slice(at, take))
                held[p] = (b, at + take)
                need -= take
                count += take
            if count >= max(batch, FLUSH_ROWS):
                flush()
        if pending or first:
            if not pending:
                pending = [pa.RecordBatch.from_pylist([], schema=f.schema_arrow)]
            flush()
