"""The main job: zones -> weights -> counts -> published figures -> outputs, into one folder.

:func:`run` takes a :class:`RunConfig` (from flags, or from a TOML file with
:func:`load_config`) and writes into the output folder:

``zone_counts.csv``, ``zone_counts.parquet``
    ``zone_id``, ``zone_name``, ``period_start`` (ISO 8601, Europe/Brussels local time with
    its offset), ``period``, ``origin``, ``observed``, ``estimate``, ``status``
    (``published`` | ``suppressed``; the values of suppressed figures are empty), then
    how well the cells fit the zone: ``n_cells`` and ``fit`` (see :func:`geozones.zone_fit`).
``zones.geojson``
    The zones with summary attributes for QGIS (published figures only).
``weights.parquet``
    The apportioning weights used.
``grid_counts.csv``
    With a heat grid: the published figures of the grid squares behind the heat layer.
``map.html``
    Zones coloured by visitors per day, and the heat layer.
``manifest.json``
    Inputs with their SHA-256, parameters, the market-share factors used, and how many
    figures were suppressed and why.

All files are written to a staging folder inside the output folder and moved into place
only when the whole run has succeeded: a failed run leaves the previous outputs as they were.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from . import __version__
from ._words import plural, some
from .aggregate import add_totals, apportion, dedup_factor_for, rollup_counts, rollup_origins, rollup_time
from .audit import audit_record
from .cellkey import NOT_UNDER_NOISE, Perturbation, read_secret
from .config import RunConfig, load_config, pick_engine, run_span
from .counts import events_to_counts, parse_period, period_seconds, read_counts, read_events, read_optout, warn_if_no_optout_matched
from .density import PeriodWeights, density_note, period_weights, run_density
from .earlier import TwoLevels, check_settings, join_weights, prepare_earlier
from .engine import CellBins, apportion_bins, format_size, parse_size, stream_counts
from .engine.parts import PANDAS_BYTES_PER_FIGURE, check_split, conservation_of, figures_per_zone, process_bytes, publish_dense, publish_in_parts, table_fits
from .errors import BudgetError, ConfigError, WeightsError
from .extrapolate import label_bins, label_shares, read_market_share, rest_share, warn_unused_rows
from .footprint import REACH_FACTOR, refined_weights
from .inputs import beyond_reach, prebuilt_footprints, run_weights, warn_partly_unreached
from .intervals import add_intervals, apportioning_halfwidth, summary_intervals
from .origins import ALL, home_municipalities, homes_counted_in, homes_kept, rollup_codes
from .outfolder import claimed, filling, new_folder
from .outputs import ZONE_COUNT_COLUMNS, output_table, table_frame, zone_summary
from .periods import shown_start, warn_far_time_zone
from .privacy import PUBLISHED, SUPPRESSED, disclosure_control, nested_items, optout_summary, publish, safe_count
from .quality import check_strict, findings, quality_of_bins, quality_of_counts
from .runfiles import (
    check_inputs_are_not_outputs,
    check_rows,
    check_unchanged,
    counts_summary,
    describe_inputs,
    heat_fits,
    heat_table,
    input_stamps,
    last_of_several,
    library_versions,
    map_title,
    note_held,
    partial_periods,
    published_all_rows,
    published_periods,
    warn_foreign_nis,
    warn_hidden_holders,
    warn_outside_home,
    warn_unusable,
    write_outputs,
)
from .weights import Weights, zone_fit
from .weights_io import read_weights
from .zones import OUTSIDE, nested_zones, read_zones

__all__ = ["RunConfig", "RunResult", "load_config", "run", "ZONE_COUNT_COLUMNS"]

log = logging.getLogger("geozones")

#: The warning that a report in the output folder was made from the figures a run replaced
#: (the demo, which makes its report again at once, leaves it out).
STALE_REPORTS = "%s in %s %s made from the figures this run replaced: run 'geozones report %s' again"

@dataclass
class RunResult:
    """What :func:`run` produced: the published table, the manifest, the files written.

    ``arrow`` is the published zone table as written (:func:`geozones.outputs.output_table`;
    its intervals unrounded, the files' rounded), ``table`` the same as a pandas DataFrame,
    made on first use. Both are None for a table
    published in parts (too large for the memory budget whole:
    ``manifest["disclosure_control"]["parts"]`` says in how many); it is then in the files only.
    """

    arrow: object | None
    manifest: dict
    files: list[Path] = field(default_factory=list)
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def table(self) -> pd.DataFrame | None:
        """The published zone table as a pandas DataFrame (None for a table published in parts)."""
        if self._frame is None and self.arrow is not None:
            self._frame = table_frame(self.arrow)
        return self._frame


def _figures(counts: pd.DataFrame, weights: Weights, cfg: RunConfig, shares, residents, periods: list[str]):
    """Counts -> zone table at every published period, before disclosure control.

    Extrapolation and the roll-up of origins are linear, and so is a roll-up over time by
    sum or mean: they are done on the counts per cell, before apportioning, which keeps
    the zone table small. Residents' municipalities are kept apart until the zones are
    known. A maximum over time is taken after apportioning, from the counts' own periods.
    """
    per_level = weights if isinstance(weights, dict) else None  # (a density per period: each published period from its own)
    weights = per_level[parse_period(periods[0])] if per_level else weights
    rolled = rollup_codes(counts["origin"], cfg.origin_level, keep=homes_kept(residents, cfg.origin_level))  # (none: residents in 'all')
    known = pd.Index(weights.cell_ids).get_indexer(counts["cell_id"].to_numpy()) >= 0
    factors = label_shares(rolled, shares, cfg.origin_level)  # (one share per origin as published, the table's alone: no equation)
    values = counts.assign(estimate=counts["count"].to_numpy(dtype=float) / rolled.map(factors).to_numpy(dtype=float), origin=rolled.to_numpy())
    values = values.groupby(["cell_id", "period_start", "period", "origin"], sort=True, observed=True)[["count", "estimate"]].sum().reset_index()
    values.attrs = dict(counts.attrs)
    check_split(periods, values["period"].iloc[0] if len(values) else cfg.period, counts.attrs.get("source"))
    linear = cfg.kind == "events" or (cfg.kind == "presence" and cfg.stat == "mean")
    if linear:
        values = rollup_counts(values, periods[0], kind=cfg.kind)
    table, info = apportion(values, weights, kind=cfg.kind, dedup_factor=cfg.dedup_factor, unknown_cells=cfg.unknown_cells)
    check_split(periods, values["period"].iloc[0] if len(values) else cfg.period, counts.attrs.get("source"), cfg.kind)  # (after the dedup check)
    # (what was dropped and read, in the file's own rows and counts, as the stream engine says it: not the roll-up's)
    unknown = ~known
    info.update(input_total=float(counts["count"].sum()), dropped_rows=int(unknown.sum()),
                dropped_count=float(counts.loc[unknown, "count"].sum()) if unknown.any() else 0.0)
    conservation = None
    if not weights.meta.get("zones_overlap", True) and len(table):
        kept = values[values["cell_id"].isin(set(weights.cell_ids))]
        want = kept.groupby(["period_start", "origin"], observed=True)["count"].sum() * info["dedup_factor"]
        conservation = _conservation(table, want)
    tables = None
    if per_level and linear:
        tables = [table] + [apportion(values, per_level[parse_period(p)], kind=cfg.kind, dedup_factor=cfg.dedup_factor,
                                      unknown_cells=cfg.unknown_cells)[0] for p in periods[1:]]
    return _levels(table, cfg, residents, periods, tables), info, factors, conservation


def _conservation(table: pd.DataFrame, want: pd.Series) -> float:
    """Largest difference between the zones plus outside and the input, per period and origin."""
    got = table.groupby(["period_start", "origin"])["observed"].sum()
    return float(np.max(np.abs(got.reindex(want.index).to_numpy() - want.to_numpy()))) if len(want) else 0.0


def _stream(cfg: RunConfig, weights: Weights, shares, residents, periods: list[str]) -> CellBins:
    """Counts per cell added up per published period, origin and cell by the stream or dask engine
    (which keeps the counts' own period where the roll-up over time is not a sum or a mean).
    """
    held = process_bytes()
    bins = stream_counts(
        cfg.counts, weights, period=periods[0], kind=cfg.kind, stat=cfg.stat, origin_level=cfg.origin_level,
        keep=homes_kept(residents, cfg.origin_level), shares=shares, unknown_cells=cfg.unknown_cells,
        memory_budget=cfg.memory_budget, engine=cfg.engine, scheduler=cfg.scheduler, progress=None,
    )
    bins.info["held_before"] = held  # (said once the run has published: runfiles.note_held)
    label_bins(bins, shares, cfg.origin_level)  # (one share per origin as published, as _figures)
    return bins


def _check_table_budget(bins: CellBins, weights: Weights, cfg: RunConfig, periods: list[str], why: str = "") -> None:
    """Stop before the zone table is built when publishing it whole would not fit in the
    memory budget and it cannot be published in parts (``why`` says why not).
    """
    per_zone, n_t, o_used = figures_per_zone(bins, periods)
    zones = len(weights.zone_ids) + 1
    n = per_zone * zones
    budget = parse_size(cfg.memory_budget)
    if n * PANDAS_BYTES_PER_FIGURE <= budget:
        return
    raise BudgetError(
        f"publishing the zone table needs about {format_size(n * PANDAS_BYTES_PER_FIGURE)} ({n:,} figures: {n_t} periods x "
        f"{o_used} origins x {zones} zones, about {PANDAS_BYTES_PER_FIGURE} bytes a figure through disclosure control), more than the "
        f"memory budget of {format_size(budget)}{why}",
        hint="publish fewer zones, a longer --period, a coarser --origin-level or --summary-period none, split the counts by "
             "time, or raise --memory-budget (geozones.write_zone_table writes figures before disclosure control in bounded memory)",
    )


def _figures_from_bins(bins: CellBins, weights: Weights, cfg: RunConfig, residents, periods: list[str], why: str = ""):
    """:func:`_figures` for counts that the stream or dask engine has added up per cell."""
    check_split(periods, bins.info["base_period"], cfg.counts, cfg.kind)
    _check_table_budget(bins, weights, cfg, periods, why=why)
    factor = dedup_factor_for(cfg.kind, cfg.dedup_factor, source=cfg.counts)
    table = apportion_bins(bins, weights, dedup_factor=factor)
    info = _bins_info(bins, factor)
    conservation = None
    if not weights.meta.get("zones_overlap", True) and len(table):
        sums = bins.observed.sum(axis=2)
        t, o = np.nonzero(bins.present)
        idx = pd.MultiIndex.from_arrays([pd.to_datetime(bins.period_start[t], utc=True), bins.origins[o]], names=["period_start", "origin"])
        conservation = _conservation(table, pd.Series(sums[t, o] * factor, index=idx))
    return _levels(table, cfg, residents, periods), info, bins.info["factors"], conservation


def _bins_info(bins: CellBins, factor: float) -> dict:
    """What the manifest says of the counts that the stream or dask engine read."""
    return {k: bins.info[k] for k in ("input_total", "dropped_rows", "dropped_count", "unknown_cells")} | {"dedup_factor": factor}


def _tally(checked: pd.DataFrame, stats: dict, by_reason: dict) -> None:
    """Add a checked table's figures, published and suppressed, and the suppressed ones
    per reason, to ``stats`` and ``by_reason``.
    """
    suppressed = checked["status"] == SUPPRESSED
    stats["figures"] = stats.get("figures", 0) + len(checked)
    stats["published"] = stats.get("published", 0) + int((checked["status"] == PUBLISHED).sum())
    stats["suppressed"] = stats.get("suppressed", 0) + int(suppressed.sum())
    for reason, n in checked.loc[suppressed, "reason"].value_counts().items():
        by_reason[reason] = by_reason.get(reason, 0) + int(n)


def _levels(table: pd.DataFrame, cfg: RunConfig, residents, periods: list[str], tables: list | None = None) -> pd.DataFrame:
    """The zone table without outside, origins rolled up, totals added, at every published
    period: each rolled up from the one before, or (``tables``, a density per period) each
    from its own table at the counts' period.
    """
    def ready(t: pd.DataFrame) -> pd.DataFrame:
        return add_totals(rollup_origins(t[t["zone_id"] != OUTSIDE], cfg.origin_level, residents=residents))

    levels = []
    current = ready(table)
    for li, p in enumerate(periods):
        if tables is not None and li:
            current = ready(tables[li])
            for q in periods[:li]:
                current = rollup_time(current, q, kind=cfg.kind, stat=cfg.stat)
        current = rollup_time(current, p, kind=cfg.kind, stat=cfg.stat)
        levels.append(current)
    return pd.concat(levels, ignore_index=True)


def _cell_totals(counts: pd.DataFrame, cell_ids) -> tuple[np.ndarray, sparse.csr_array]:
    """The counts' period starts (UTC nanoseconds) and each cell's count in each, all
    origins together (periods x cells, in ``cell_ids`` order; unknown cells left out).
    """
    rows = pd.Index(np.asarray(cell_ids).astype(str)).get_indexer(counts["cell_id"].astype(str).to_numpy())
    codes, starts = pd.factorize(pd.DatetimeIndex(pd.to_datetime(counts["period_start"], utc=True)).as_unit("ns").asi8, sort=True)
    ok = rows >= 0
    m = sparse.csr_array((counts["count"].to_numpy(dtype=float)[ok], (codes[ok], rows[ok])), shape=(len(starts), len(cell_ids)))
    m.sum_duplicates()
    return np.asarray(starts, dtype=np.int64), m


def _counted_weights(cfg: RunConfig, fp, fp_x, weights: Weights, weights_x, periods: list[str], clock, totals, per_period):
    """The weights once the counts are known: ``(weights, fig_weights)``.

    ``weights`` names the cells and zones and says how it was made; ``fig_weights`` is what
    the figures and the audit are made with: the same weights, or with ``--density period``
    a dict of each published period length to its :class:`~geozones.density.PeriodWeights`.
    Without footprints (``fp``) the weights stand as they are; the earlier runs' other
    zones (``weights_x``, ``fp_x``) are joined on. ``totals()``: per cell, the run's
    counts; ``per_period()``: the counts' period starts and their counts per period and
    cell (called only when needed).
    """
    if fp is not None and cfg.density == "period":
        starts, per, *inside = per_period()
        fig = _period_densities(fp, fp_x, weights, weights_x, starts, per, periods, inside[0] if inside else None)
        clock.done("density per period")
        return next(iter(fig.values())).parts[0], fig
    if fp is not None:
        t = totals()
        weights = refined_weights(fp, weights, t)
        weights_x = refined_weights(fp_x, weights_x, t) if fp_x is not None else weights_x
        clock.done("density")
    weights = join_weights(weights, weights_x) if weights_x is not None else weights
    return weights, weights


def _period_densities(fp, fp_x, weights: Weights, weights_x, starts: np.ndarray, totals, periods: list[str], inside=None) -> dict:
    """``--density period``: per published period length, the weights of each of its
    periods from the density of that period's counts, started from the run's
    (:func:`geozones.density.period_weights`), with the earlier runs' other zones
    (``weights_x``, ``fp_x``) joined on.
    """
    whole = np.asarray(totals.sum(axis=0)).ravel()
    start = run_density(fp, weights, whole)
    start_x = run_density(fp_x, weights_x, whole) if fp_x is not None else None
    out = {}
    for p in periods:
        pw = period_weights(fp, weights, starts, totals, p, start=start, inside=inside)
        if fp_x is not None:
            px = period_weights(fp_x, weights_x, starts, totals, p, start=start_x, inside=inside)
            done: dict = {}  # (periods sharing both weights share the joined ones)
            for a, b in zip(pw.parts, px.parts, strict=True):
                if (id(a), id(b)) not in done:
                    done[id(a), id(b)] = join_weights(a, b)
            pw = PeriodWeights(pw.period, pw.starts, tuple(done[id(a), id(b)] for a, b in zip(pw.parts, px.parts, strict=True)), pw.steps)
        elif weights_x is not None:
            pw = pw.map(lambda w: join_weights(w, weights_x))
        moved = sum(1 for k in pw.steps if k)
        log.info("density per %s: %d of %d periods moved from the run's density (%d EM steps in all)", p, moved, len(pw.steps), sum(pw.steps))
        out[parse_period(p)] = pw
    return out


def _residents(zones: gpd.GeoDataFrame, cfg: RunConfig) -> dict[str, str] | None:
    return home_municipalities(zones) if cfg.residents else None


class _Stages:
    """Each stage's time and the process's peak memory so far, as notes (``geozones -v``)."""

    def __init__(self) -> None:
        import time

        self._now = time.perf_counter
        self.t = self._now()

    def done(self, name: str) -> None:
        now = self._now()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("stage %s: %.2f s, peak memory %s", name, now - self.t, format_size(_peak_bytes()))
        self.t = now


def _peak_bytes() -> int:
    """The most memory this process has held (resident), in bytes."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(cfg: RunConfig) -> RunResult:
    """Run the whole pipeline and write its outputs into ``cfg.out``.

    Parameters
    ----------
    cfg : RunConfig
        The settings (:func:`load_config`, or made directly). Validated first, which
        changes it in place: period labels made canonical, ``kind`` ``"unique"`` for
        subscriber-level events.

    Returns
    -------
    RunResult
        The published zone table (suppressed values empty), the manifest, the files.

    Raises
    ------
    GeozonesError
        Any problem with an input or a setting; nothing is written then.
    """
    with claimed(cfg.out), audit_record() as limits:  # (what the audit could not check or close: the manifest says so)
        return _run(cfg, limits)


def _run(cfg: RunConfig, limits: dict) -> RunResult:
    clock = _Stages()
    cfg.validate()
    check_inputs_are_not_outputs(cfg)
    # (hashed before anything is read, and checked unchanged before anything is written)
    inputs = describe_inputs({"zones": cfg.zones, "cells": cfg.cells, "weights": cfg.weights, "counts": cfg.counts, "events": cfg.events,
                              "optout": cfg.optout, "market_share": cfg.market_share, "ancillary": cfg.ancillary})
    stamps = input_stamps(inputs)
    secret = read_secret(cfg.secret_file) if cfg.protection == "perturb" else None  # (before any work: a bad secret file stops the run)
    engine, why = pick_engine(cfg)
    zones = read_zones(cfg.zones, repair=cfg.repair)
    early = prepare_earlier(cfg, zones) if cfg.earlier else None  # (earlier runs over the same counts: audited with this one)
    engine, why = early.engine(cfg.engine, engine, why) if early is not None else (engine, why)
    if cfg.engine == "auto":
        log.info(why)
        cfg = dataclasses.replace(cfg, engine=engine)
    clock.done("zones")
    model = cfg.model
    fp = None
    if cfg.weights:
        weights = read_weights(cfg.weights)
        missing = sorted(set(zones["zone_id"]) - set(weights.zone_ids))
        extra = sorted(set(weights.zone_ids) - set(zones["zone_id"]))
        if extra:
            raise WeightsError(f"the weights name zones that are not in the zone files, e.g. {extra[0]!r}", path=cfg.weights, hint="rebuild the weights for these zones")
        if missing:  # (weights tables from elsewhere, or written before 0.1.0 named only the zones cells reach): zero figures
            weights = weights.with_zones(zones["zone_id"].astype(str))
        if not (reached := np.diff(weights.matrix.tocsc().indptr) > 0).all():  # (as from the plan: prebuilt weights said nothing)
            log.warning("%s reached by no cell (their figures are zero): %s", plural(int((~reached).sum()), "zone"), some(np.asarray(weights.zone_ids)[~reached]))
        built = weights.meta.get("model")
        if built and model and built != model:
            raise WeightsError(f"these weights were built with --model {built}, not {model}", path=cfg.weights,
                               hint=f"drop --model (the weights' own model is used), or rebuild them with 'geozones weights --model {model}'")
        if not built and model == "footprint":
            raise WeightsError("these weights do not say how they were built (a CSV file, or made elsewhere): footprint weights "
                               "are the Parquet file 'geozones weights --model footprint' writes, with its footprints beside it",
                               path=cfg.weights, hint="drop --model footprint, or rebuild the weights as Parquet")
        model = built or model or "given"
        if model == "footprint":
            fp = prebuilt_footprints(cfg.weights, weights)
    else:  # (footprint: the density comes from the counts, below)
        weights, model, fp = run_weights(zones, cfg.zones, cfg.cells, model=model, cell_crs=cfg.cell_crs, metric_crs=cfg.metric_crs,
                                         ancillary=cfg.ancillary, ancillary_column=cfg.ancillary_column, prior=cfg.prior, tile_m=cfg.tile_m,
                                         scheduler=cfg.scheduler if cfg.engine == "dask" else None, on_dask=cfg.engine == "dask")
    # what is published about the weights (weights.parquet, the fit): never the counts' density
    public_weights = weights
    weights_x = fp_x = None
    if early is not None and len(early.extra):  # the earlier runs' other zones: weighed as this run's, never written
        if not cfg.cells:
            raise ConfigError("setting 'earlier': the earlier runs' zones are weighed from the cell plan: give cells with prebuilt weights")
        weights_x, _, fp_x = run_weights(early.extra, early.zone_files, cfg.cells, model=model, cell_crs=cfg.cell_crs, metric_crs=cfg.metric_crs,
                                         ancillary=cfg.ancillary, ancillary_column=cfg.ancillary_column, prior=cfg.prior, tile_m=cfg.tile_m)
    pert = None
    if cfg.protection == "perturb":  # (zones keyed by their composition under the cell plan, not by the counts)
        pert = Perturbation(secret, cfg.perturb_max, float(cfg.perturb_variance)).with_zones(public_weights)

    clock.done("weights")
    optout_info = None
    if cfg.events:
        events = read_events(cfg.events)
        check_rows(events, "timestamp", weights, cfg, cfg.events)
        optout = read_optout(cfg.optout) if cfg.optout else None
        counts, optout_info = events_to_counts(events, cfg.period, optout=optout, k=cfg.k)
        warn_if_no_optout_matched(optout, optout_info["removed_subscribers"], cfg.optout)
        counts.attrs["source"] = cfg.events
        if cfg.dedup_factor is None:
            cfg.dedup_factor = optout_info["dedup_factor"]
    elif cfg.engine != "memory":
        counts = None  # streamed below, in bounded memory
    else:
        counts = read_counts(cfg.counts)
        clock.done("read counts")
        check_rows(counts, "period_start", weights, cfg, cfg.counts)
    shares = read_market_share(cfg.market_share) if cfg.market_share else None
    residents = _residents(early.union if early is not None else zones, cfg)

    periods = published_periods(cfg)
    bins = None
    in_parts = dense = False
    heat = bool(cfg.heat_grid_m or cfg.heat_h3 is not None) and heat_fits(zones, cfg)
    linear_time = not (cfg.kind == "presence" and cfg.stat == "max")
    if counts is None:
        bins = _stream(cfg, weights, shares, residents, periods)
        clock.done("read and sum")
        check_split(periods, bins.info["base_period"], cfg.counts, cfg.kind)  # (before any density is made for them)
        quality = quality_of_bins(bins, weights, run_span(cfg), cfg.k)
        weights, fig_weights = _counted_weights(
            cfg, fp, fp_x, weights, weights_x, periods, clock, lambda: bins.sums.sum(axis=(0, 1)),
            lambda: (np.asarray(bins.period_start).astype("datetime64[ns]").astype(np.int64), bins.sums.sum(axis=1, dtype=float),
                     bins.info.get("periods_inside")))
        in_parts = not table_fits(bins, weights, cfg, periods)
        if in_parts and early is not None:
            raise ConfigError("setting 'earlier': the zone table is published in parts here, which audits part by part",
                              hint="raise --memory-budget to audit the runs together")
        dense = not in_parts  # (figures in arrays from end to end: publish_cube)
        heat_dropped = in_parts and heat
        heat = heat and not in_parts
    else:
        base = counts["period"].iloc[0] if len(counts) and "period" in counts else cfg.period
        check_split(periods, base, cfg.counts or cfg.events)  # (before any density is made for them; unique roll-ups: after the dedup check)
        quality = quality_of_counts(counts, weights, base, period_seconds(cfg.period), run_span(cfg), cfg.k)
        cell_ids = pd.Index(weights.cell_ids)
        weights, fig_weights = _counted_weights(
            cfg, fp, fp_x, weights, weights_x, periods, clock,
            lambda: counts.groupby("cell_id", observed=True)["count"].sum().reindex(cell_ids).fillna(0.0).to_numpy(dtype=float),
            lambda: _cell_totals(counts, cell_ids))
        figures, info, factors, conservation = _figures(counts, fig_weights, cfg, shares, residents, periods)
        levels = TwoLevels(figures, {}, frozenset())  # (with the earlier runs' origin level too: audited, never written)
        if early is not None and early.level:
            levels = early.both_levels(figures, _figures(counts, fig_weights, dataclasses.replace(cfg, origin_level=early.level), shares,
                                                         residents, periods)[0], cfg.origin_level, residents)
        clock.done("zone figures")
    origins = bins.origins if counts is None else counts["origin"].unique()
    homes_counted = homes_counted_in(residents, origins)
    warn_foreign_nis(origins, zones)
    rest = rest_share(shares, cfg.origin_level)  # (a total's hidden origins: one share of the table's, no equation)
    warn_unused_rows(shares, cfg.origin_level, homes_kept(residents, cfg.origin_level))
    beyond = beyond_reach(zones, fp) if fp is not None else None  # (said once the run has written)
    reach_factor = float(fp.meta.get("reach_factor", REACH_FACTOR)) if fp is not None else REACH_FACTOR
    footprinted, fp, fp_x = fp is not None, None, None  # (the footprints have made the weights: their memory goes back)
    if cfg.strict_quality:
        check_strict(quality, cfg.counts or cfg.events)
    elif not quality.get("ok", True):  # (the user reads stderr first: the manifest and the report list them)
        log.warning("data quality: %s; listed in the manifest's data_quality and the report", findings(quality))
    if quality.get("cells_never_counted"):  # (not a finding: a plan may list cells not on air)
        log.info("%d cells of the plan counted nobody in the whole run while cells sharing their zones counted", quality["cells_never_counted"])
    shapes = (early.union if early is not None else zones)[["zone_id", "area_km2", "geometry"]]
    locks = None
    if early is not None:  # the earlier runs' settings, now that this run's are known
        check_settings(early.runs, {"kind": cfg.kind, "stat": cfg.stat if cfg.kind == "presence" else None, "period": cfg.period, "periods": periods,
                                    "k": cfg.k, "model": model, "origin_level": cfg.origin_level, "residents_separated": residents is not None,
                                    "unknown_cells": cfg.unknown_cells, "dedup_factor": cfg.dedup_factor if cfg.kind == "unique" else None},
                       cfg.protection, pert.secret_id() if pert is not None else "")
        locks = early.locks(pert.max_noise + 0.5 if pert is not None else 0.5)
    nested = nested_zones(shapes, cfg.metric_crs)
    clock.done("nested zones")
    # how well the cells fit each zone: from the weights alone, no people count behind it
    fit = zone_fit(public_weights).reindex(zones["zone_id"].astype(str))
    fit["n_cells"] = fit["n_cells"].fillna(0).astype("int64")
    fit["fit"] = fit["fit"].round(3)
    names = dict(zip(zones["zone_id"], zones["name"]))
    zone_order = {z: i for i, z in enumerate(zones["zone_id"])}
    # the apportioning part of each zone's interval: from its size and fit (public), never counts
    h_zone = dict(zip(fit.index, apportioning_halfwidth(zones["area_km2"].to_numpy(), fit["fit"].to_numpy(), model)))
    noise_sd = float(np.sqrt(pert.variance)) if pert is not None else 0.0  # (the cell key method's noise widens every interval)
    stage = parts = None
    csum = counts_summary(counts, bins, from_events=cfg.events is not None)
    shown = shown_start(csum["first_period_start"], csum["last_period_start"], periods[-1], csum["period"])  # (the last whole summary period)
    if in_parts:
        stage = new_folder(cfg.out)
        with filling(stage, cfg.out):
            done = publish_in_parts(bins, fig_weights, zones, nested, cfg, residents, periods, fit, names, zone_order, stage, rest_share=rest, shares=shares,
                                    intervals=lambda t: add_intervals(t, h_zone, shares, noise_sd=noise_sd, rest_share=rest), perturbation=pert,
                                    shown=shown)
            clock.done("figures, disclosure control, tables (in parts)")
            if heat_dropped:
                log.warning("the zone table was published in parts: the map has no heat layer (add --heat-grid 0 to say so)")
        table, summary, stats, by_reason, conservation, parts = None, done["summary"], done["stats"], done["by_reason"], done["conservation"], done["parts"]
        info = _bins_info(bins, done["factor"])
        factors = bins.info["factors"]
        published_all = None
    elif dense:
        done, sums, factor = publish_dense(bins, fig_weights, np.arange(len(weights.zone_ids)), cfg, residents, periods, nested, names,
                                            zone_order, fit, first=True, rest_share=rest, perturbation=pert, locks=locks,
                                            figured=lambda: clock.done("zone figures"))
        clock.done("disclosure control")
        conservation = conservation_of(bins, weights, sums, factor)
        table, stats, by_reason = done.table, done.stats, done.by_reason
        summary = zone_summary(zones, done.last, periods[-1], shares, cfg.origin_level, shown)
        info = _bins_info(bins, factor)
        factors = bins.info["factors"]
        published_all = published_all_rows(table) if heat else None
    else:
        if early is not None:  # (the earlier runs' zones in the periods they counted alone)
            levels = dataclasses.replace(levels, table=early.within(levels.table))
        checked = disclosure_control(levels.table, cfg.k, nested=nested, weights=fig_weights, linear_time=linear_time, rest_share=rest,
                                     perturbation=pert, locked=None if locks is None else locks(levels.table), residents=residents,
                                     origin_groups=levels.groups, audited_only=levels.audited_only,
                                     audited_zones=frozenset(early.added) if early is not None else frozenset())
        checked = early.own_rows(checked, levels) if early is not None else checked
        clock.done("disclosure control")
        published = publish(checked)
        table = output_table(published, names, zone_order, fit)
        summary = zone_summary(zones, published, periods[-1], shares, cfg.origin_level, shown)
        stats, by_reason = {}, {}
        _tally(checked, stats, by_reason)
        published_all = published[published["origin"] == ALL] if heat else None
    if table is not None:
        table = add_intervals(table, h_zone, shares, noise_sd=noise_sd, rest_share=rest)
    summary = summary_intervals(summary, h_zone, shares, noise_sd=noise_sd, rest_share=rest)
    grid = None
    if published_all is not None:
        grid = heat_table(zones, published_all, cfg, cfg.metric_crs or weights.meta.get("crs") or "EPSG:3812")
        clock.done("heat layer")
    if info["dropped_rows"]:  # (how many rows and cells, never how many people: that may be under k)
        n_cells = info["unknown_cells"] if isinstance(info["unknown_cells"], int) else len(info["unknown_cells"])
        log.warning("%d rows of %d cells that are not in the cell plan were dropped (--unknown-cells drop; listed in the manifest)",
                    info["dropped_rows"], n_cells)
    summary["n_cells"] = summary["zone_id"].map(fit["n_cells"]).to_numpy(dtype="int64")
    summary["fit"] = summary["zone_id"].map(fit["fit"]).to_numpy(dtype=float)
    manifest = {
        "geozones_version": __version__,
        "library_versions": library_versions(),  # (a probe: '0.1.0' alone could not say what made the figures)
        "inputs": inputs,
        "parameters": {
            "kind": cfg.kind, "stat": cfg.stat if cfg.kind == "presence" else None, "period": cfg.period, "periods": periods,
            "k": cfg.k, "protection": cfg.protection, "model": model, "density": cfg.density if footprinted else None, "metric_crs": weights.meta.get("crs"), "measure": weights.meta.get("measure"),
            "origin_level": cfg.origin_level, "residents_separated": residents is not None, "residents_counted": homes_counted,
            "unknown_cells": cfg.unknown_cells, "dedup_factor": info["dedup_factor"] if cfg.kind == "unique" else None,
            "start": cfg.start, "end": cfg.end,
            "heat_grid": f"h3 resolution {cfg.heat_h3}" if cfg.heat_h3 is not None else (f"{cfg.heat_grid_m:g} m squares" if cfg.heat_grid_m else None),
        },
        "market_share": {
            "table": cfg.market_share,
            "note": "estimate = observed / share(origin)" if shares is not None else "no market-share table: estimate = observed",
            "factors": {k: factors[k] for k in sorted(factors)},
            "rest_share": rest,
            "rest_note": "the estimate of 'all' is its published origins' estimates plus the rest of its observed count divided by rest_share, "
                         "the largest share of the table's rows the run uses as they are",
        },
        "weights": public_weights.summary() | {"zones_overlap": bool(weights.meta.get("zones_overlap"))} | density_note(footprinted, weights, cfg.density),
        "counts": {
            **csum,
            "unknown_cells": {"policy": cfg.unknown_cells, "cells": info["unknown_cells"], "rows": info["dropped_rows"],
                               "count": 0 if not info["dropped_rows"] else NOT_UNDER_NOISE if pert is not None else safe_count(info["dropped_count"], cfg.k)},
            "conservation_max_abs_error": conservation,
        },
        "data_quality": quality,
        "optout": None if optout_info is None or not cfg.optout else optout_summary(optout_info["removed_subscribers"],
                                                                                      optout_info["removed_events"], cfg.k),
        "disclosure_control": {
            "k": cfg.k,
            "rule": "a figure is published only if its observed number of people is at least k; complementary suppression over origins, "
                    "time and nested zones; then an audit suppresses further figures until no cell, pair of cells, rest of a zone, suppressed "
                    "figure or part of a relation under k follows from all published figures together (docs/privacy.md)"
                    + ("; then every published count carries the cell key method's noise, at most perturbation.max_noise people either "
                       "way, and the audit's bounds read every published figure to within that noise plus 0.5" if pert is not None else ""),
            "nested_zones": [[outer, *inners] for outer, inners, _ in nested_items(nested)
                             if early is None or not {outer, *inners} & early.added],
            **stats,
            "suppressed_by_reason": {k: int(v) for k, v in sorted(by_reason.items())},
            "audit_limits": dict(sorted(limits.items())),
            "rounding": "published figures are rounded to whole numbers",
            "parts": parts or 1,
            "protection": cfg.protection,
            **({"perturbation": pert.describe()} if pert is not None else {}),
            **({"earlier_runs": [str(r.path) for r in early.runs]} if early is not None else {}),
        },
    }
    manifest["title"] = map_title(cfg, periods)
    c = manifest["counts"]
    partial = [partial_periods(c["first_period_start"], c["last_period_start"], p, c["period"]) for p in periods]
    if any(partial):  # (every published period: a probe's months from 15 January read January's 17 days as its month's)
        log.info("the counts cover part of a published period (%s): its figures are made from the days counted alone; a later "
                 "run over more of it publishes it again, and the two can be differenced (publish it once, whole, or run with "
                 "--summary-period none: docs/privacy.md, 'Publishing again')", "; ".join(p for p in partial if p))
    if partial[-1]:
        manifest["title"] += f" ({partial[-1]})"  # (the map's title: a quarter's mean from 14 of its days says so)
    if said := last_of_several(c["first_period_start"], c["last_period_start"], periods[-1], shown):
        manifest["title"] += f" ({said})"  # (a probe's two weeks: the map showed the second without a word)
    if grid is not None:
        manifest["heat_grid"] = {
            "drawn_from": "published zone figures only: each piece of the zones takes the people of the smallest published zone over it, less the smaller published zones inside that one, and a square the people of the pieces it covers",
            "figures": int(len(grid)),
            "published": int((grid["status"] == PUBLISHED).sum()),
            "suppressed": int((grid["status"] == SUPPRESSED).sum()),
        }
    check_unchanged(stamps)
    note_held(bins, cfg.memory_budget)
    files = write_outputs(Path(cfg.out), table, summary, public_weights, manifest, grid, cfg, stage=stage)
    clock.done("writing")
    where = os.path.normpath(cfg.out)  # (the demo's run.toml says out = ".."; "x/../out" is written whether x exists or not)
    stale = sorted(p.name for p in Path(where).glob("report*.html"))
    if stale:  # (a probe's new run at k = 100 kept the old report.html, which said k = 30, without a word)
        log.warning(STALE_REPORTS, ", ".join(stale), where, "was" if len(stale) == 1 else "were", where)
    # (advice on the zones, once the run has written: an error stops a run with its one line alone)
    warn_unusable(zones, fit)
    warn_partly_unreached(zones, beyond, reach_factor)
    warn_hidden_holders(table, nested)
    warn_outside_home(zones, residents)
    warn_far_time_zone(zones)
    for said in cfg.unused(cells_needed=early is not None and len(early.extra) > 0, model=model):
        log.warning(said)
    manifest["outputs"] = [f.name for f in files]
    return RunResult(arrow=table, manifest=manifest, files=files)
