"""``geozones apportion``, ``geozones run`` and ``geozones demo``: the main job, from flags, a TOML file or a seeded scenario."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .._io import write_text_atomic
from .._words import number
from ..config import RunConfig, load_config
from .options import out_folder, pipeline_options, protection_option, say, step, zone_files

log = logging.getLogger("geozones")


class _Without(logging.Filter):
    """Leave out the records of one message."""

    def __init__(self, msg: str) -> None:
        super().__init__()
        self.msg = msg

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg is not self.msg


def report_run(result, out: str) -> None:
    """Say what a run wrote and how many figures it published."""
    m = result.manifest
    dc = m["disclosure_control"]
    say(f"wrote {len(m['outputs'])} files to {out}: {dc['published']} figures published, {dc['suppressed']} suppressed (k = {number(dc['k'])})")


@click.command("apportion")
@zone_files()
@click.option("--cells", type=click.Path(), help="Cell plan, or coverage polygons (with --model given).")
@click.option("--weights", "weights_path", type=click.Path(), help="Prebuilt weights (from 'geozones weights') instead of --cells.")
@click.option("--counts", type=click.Path(), help="Counts per cell: CSV or Parquet with cell_id, period_start, period, count[, origin].")
@click.option("--events", type=click.Path(), help="Subscriber-level events (subscriber_id, cell_id, timestamp, origin) instead of --counts.")
@click.option("--optout", type=click.Path(), help="Opt-out list of subscriber ids, removed from --events before counting.")
@out_folder()
@click.option("--start", help="First time of the run (ISO 8601 date or time, Europe/Brussels): earlier counts are an error.")
@click.option("--end", help="End of the run, excluded (ISO 8601): counts at or after it are an error.")
@click.option("--earlier", multiple=True, type=click.Path(file_okay=False),
              help="The --out folder of an earlier run over the same counts (repeatable): its published figures are audited with "
                   "this run's, so that the two together reveal nobody under k; it may be at another --origin-level (docs/privacy.md).")
@pipeline_options
def apportion_cmd(zone_paths, cells, weights_path, counts, events, optout, out, start, end, earlier, model, density, kind, stat, dedup_factor, k, protection,
                  perturb_max, perturb_variance, secret_file, market_share,
                  period, summary_period, origin_level, residents, unknown_cells, strict_quality, heat_grid_m, heat_h3, make_map, self_contained,
                  cell_crs, metric_crs, ancillary, ancillary_column, prior, tile_m, engine, memory_budget, scheduler) -> int:
    """Apportion counts per cell to zones and publish privacy-safe figures into a folder.

    Writes zone_counts.csv and .parquet, zones.geojson, weights.parquet, map.html and
    manifest.json. Only figures resting on at least k observed people are published.
    """
    from ..pipeline import run

    if cells is None and weights_path is None:
        raise click.UsageError("give --cells CELLPLAN or --weights WEIGHTS")
    if (counts is None) == (events is None):
        raise click.UsageError("give --counts COUNTS or --events EVENTS (one of them)")
    cfg = RunConfig(
        zones=list(zone_paths), out=out, cells=cells, weights=weights_path, counts=counts, events=events, optout=optout, start=start, end=end,
        model=model, density=density, kind=kind, stat=stat, dedup_factor=dedup_factor, k=k, market_share=market_share, period=period,
        summary_period=None if summary_period.lower() == "none" else summary_period, origin_level=origin_level,
        residents=residents, unknown_cells=unknown_cells, strict_quality=strict_quality, heat_grid_m=heat_grid_m or None, heat_h3=heat_h3, map=make_map, self_contained=self_contained,
        cell_crs=cell_crs, metric_crs=metric_crs, ancillary=ancillary, ancillary_column=ancillary_column, prior=prior, tile_m=tile_m,
        engine=engine, memory_budget=memory_budget, scheduler=scheduler,
        protection=protection, perturb_max=perturb_max, perturb_variance=perturb_variance, secret_file=secret_file,
        earlier=list(earlier) or None,
    )
    with step("running the pipeline"):
        result = run(cfg)
    report_run(result, out)
    return 0


@click.command("run")
@click.argument("config", type=click.Path())
@out_folder("Output folder (overrides the config's 'out').", required=False)
@protection_option(None, "Overrides the config's 'protection'.")
def run_cmd(config: str, out: str | None, protection: str | None) -> int:
    """Run the pipeline as CONFIG.toml describes: zones -> weights -> counts -> figures -> outputs.

    The TOML file has the keys of 'geozones apportion' at its top level, e.g.

    \b
        zones = ["zones/"]
        cells = "cells.csv"
        counts = "counts.parquet"
        market_share = "market_share.csv"
        out = "out"
        model = "footprint"
        period = "1d"
        k = 30

    Paths are relative to the config file's folder.
    """  # noqa: D301 - click's \b keeps the example's lines as they are
    from ..pipeline import run

    # (--out, from where the command runs, stands for a config without 'out' too)
    cfg = load_config(config, protection=protection, out=str(Path(out).resolve()) if out else None)
    with step("running the pipeline"):
        result = run(cfg)
    report_run(result, cfg.out)
    return 0


@click.command("demo")
@out_folder()
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed of the scenario.")
@click.option("--days", type=click.IntRange(1, 366), default=92, show_default=True, help="Days from 1 July 2026.")
@click.option("--self-contained/--online", default=True, show_default=True,
              help="self-contained: map.html one file that loads nothing from other hosts (no basemap tiles), so the quick start's "
                   "map shows offline too; online: scripts from their CDNs and OpenStreetMap tiles.")
@protection_option("suppress")
def demo_cmd(out: str, seed: int, days: int, self_contained: bool, protection: str) -> int:
    """Make a seeded Kortrijk scenario and run the pipeline on it.

    A synthetic cell plan whose sites follow the population grid, hourly counts for a
    summer quarter (about 20,000 visitors a day in the centre, a braderie and a festival
    weekend), the operator's market shares, event days, card spending and the events of a
    sample of 10,000 subscribers are written to OUT/inputs/, with a run.toml that repeats the
    run; the published figures, the visitors, dwell and returning tables (geozones
    visitors), the map and the visitor report (report.html) go to OUT/.
    """
    from ..pipeline import STALE_REPORTS, run
    from ..synth import demo_scenario

    inputs = Path(out) / "inputs"
    with step(f"making the Kortrijk scenario ({days} days, seed {seed})"):
        made = demo_scenario(inputs, seed=seed, days=days)
    toml = (
        "# geozones demo: repeat with 'geozones run " + str(inputs / "run.toml") + "'\n"
        'zones = ["zones"]\n'
        'cells = "cellplan.csv"\ncounts = "counts.parquet"\nmarket_share = "market_share.csv"\n'
        'out = ".."\nmodel = "footprint"\nkind = "presence"\nperiod = "1d"\nk = 30\norigin_level = "province"\n'
        f"self_contained = {'true' if self_contained else 'false'}\n"
        + (f'protection = "{protection}"\n' if protection != "suppress" else "")
    )
    write_text_atomic(inputs / "run.toml", toml)
    cfg = load_config(inputs / "run.toml")
    remade = _Without(STALE_REPORTS)  # (the demo makes its report.html again below)
    log.addFilter(remade)
    try:
        with step("running the pipeline"):
            result = run(cfg)
    finally:
        log.removeFilter(remade)
    report_run(result, out)
    from ..visits import VisitorsConfig, run_visitors

    with step("counting residents, regulars and visitors from the sample of subscriber-level events"):
        run_visitors(VisitorsConfig(zones=[str(inputs / "zones")], cells=str(inputs / "cellplan.csv"), events=made["device_events"], out=out,
                                    market_share=str(inputs / "market_share.csv"), protection=protection))
    from ..report import build_report, write_report

    write_report(build_report(out, spend=made["spend"], events=made["events"]), Path(out) / "report.html")
    say(f"wrote {Path(out) / 'report.html'}")
    t = result.table
    q = t[(t["period"] == t["period"].iloc[-1]) & t["zone_id"].str.startswith("centre-")]
    for zid, g in q.groupby("zone_id", sort=False):
        g = g.set_index("origin")
        if "all" in g.index and g.loc["all", "status"] == "published":
            vis = g.loc["all", "estimate"] - (g.loc["resident", "estimate"] if "resident" in g.index and g.loc["resident", "status"] == "published" else 0)
            band = f" ({g.loc['all', 'estimate_low']:,.0f}-{g.loc['all', 'estimate_high']:,.0f}, 90% interval)" if "estimate_low" in g else ""
            click.echo(f"{zid}: {vis:,.0f} visitors and {g.loc['all', 'estimate']:,.0f}{band} people in all per day (the quarter's own figure, {days} days from 1 July)")
    return 0
