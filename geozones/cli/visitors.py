"""``geozones visitors``: device-level indicators (who visits, how long, how often) from subscriber-level events."""

from __future__ import annotations

import click

from .._words import number
from ..cellkey import DEFAULT_MAX_NOISE, DEFAULT_VARIANCE
from ..config import ENGINE_CHOICES
from ..privacy import DEFAULT_K
from .options import cell_crs, metric_crs, model_option, out_folder, protection_option, say, step, zone_files


@click.command("visitors")
@zone_files()
@click.option("--cells", required=True, type=click.Path(), help="Cell plan, or coverage polygons (with --model given).")
@model_option
@click.option("--events", required=True, type=click.Path(), help="Subscriber-level events: subscriber_id, cell_id, timestamp[, origin] (CSV or Parquet).")
@out_folder("Output folder: visitors, dwell and returning tables (CSV and Parquet) and visitors_manifest.json; other files there are kept.")
@click.option("--municipalities", type=click.Path(), help="Municipality polygons with nis and name: each cell's municipality (default: the zones' 'municipality' property).")
@click.option("--regular-days", type=click.IntRange(1, 31), default=12, show_default=True,
              help="A non-resident in a zone on at least this many distinct days of a calendar month is a regular.")
@click.option("--night", default="22:00-06:00", show_default=True, help="Night window (local time) for homes and overnight stays.")
@click.option("--k", type=float, default=DEFAULT_K, show_default=True, help="Disclosure threshold: least observed devices behind a published figure.")
@click.option("--market-share", type=click.Path(), help="CSV with columns origin, share: the operator's share per origin (for the estimate).")
@click.option("--period", default="1d", show_default=True, help="Period of the visitors and dwell tables: 1d, 1w, 1mo, 1q.")
@click.option("--summary-period", default="1q", show_default=True, help="Period of the returning table; 'none' for none.")
@click.option("--optout", type=click.Path(), help="Opt-out list of subscriber ids, removed before anything is counted.")
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="auto", show_default=True,
              help="memory: the events in one piece; stream (auto): buckets of whole devices spilled to disk when the file is large; "
                   "dask: those buckets counted on Dask.")
@click.option("--scheduler", help="dask engine: address of a distributed scheduler whose workers see this machine's temporary folder; default: threads.")
@cell_crs
@metric_crs()
@protection_option("suppress")
@click.option("--perturb-max", type=click.IntRange(1), default=DEFAULT_MAX_NOISE, show_default=True,
              help="--protection perturb: the largest change the noise makes to a published count.")
@click.option("--perturb-variance", type=float, default=DEFAULT_VARIANCE, show_default=True,
              help="--protection perturb: the noise's variance (below --perturb-max squared).")
@click.option("--home-country", default="BE", show_default=True,
              help="The operator's own country (ISO or mobile country code): its phones may have a home; others roam.")
@click.option("--secret-file", type=click.Path(dir_okay=False),
              help="--protection perturb: the file holding the secret behind the cell keys (as for apportion).")
def visitors_cmd(zone_paths, cells, model, events, out, municipalities, regular_days, night, k, market_share, period, summary_period, optout,
                 engine, scheduler, cell_crs, metric_crs, protection, perturb_max, perturb_variance, home_country, secret_file) -> int:
    """Count residents, regulars, overnight and day visitors per zone, their dwell and how often they return.

    From subscriber-level events (the operator's data team): a device's home is the
    municipality of the most nights it is seen in (at least 3); classes, dwell bands and
    days present are weighted counts of distinct devices, extrapolated by market share and
    protected by disclosure control across the three tables (docs/tourism.md).
    """
    from ..visits import VisitorsConfig, run_visitors

    cfg = VisitorsConfig(zones=list(zone_paths), cells=cells, events=events, out=out, model=model, municipalities=municipalities,
                         regular_days=regular_days, night=night, k=k, market_share=market_share, period=period,
                         summary_period=None if str(summary_period).lower() == "none" else summary_period, optout=optout,
                         cell_crs=cell_crs, metric_crs=metric_crs, engine=engine, scheduler=scheduler, protection=protection,
                         perturb_max=perturb_max, perturb_variance=perturb_variance, secret_file=secret_file, home_country=home_country)
    cfg.validate()  # (a bad setting: one line, before any work is announced)
    import logging
    import sys

    with step("counting visitors"):  # (a progress bar on a terminal, not with -q)
        m = run_visitors(cfg, progress=sys.stderr.isatty() and logging.getLogger("geozones").isEnabledFor(logging.INFO))
    dc = m["disclosure_control"]
    pub = sum(dc[n]["published"] for n in ("visitors", "dwell", "returning"))
    sup = sum(dc[n]["suppressed"] for n in ("visitors", "dwell", "returning"))
    say(f"wrote visitors, dwell and returning tables to {out}: {pub} figures published, {sup} suppressed (k = {number(k)})")
    return 0
