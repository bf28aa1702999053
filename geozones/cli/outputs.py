"""``geozones map`` and ``geozones report``: the map and the visitor report of a run's output folder."""

from __future__ import annotations

from pathlib import Path

import click

from .options import say


@click.command("map")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="The HTML file to write (default: RUN_DIR/map.html).")
@click.option("--self-contained", is_flag=True, help="One file that loads nothing from other hosts; basemap tiles off, reference outlines on.")
@click.option("--tiles", default="default", show_default=True, help="Basemap tiles (a folium tiles name), or 'none'.")
def map_cmd(run_dir: str, out: str | None, self_contained: bool, tiles: str) -> int:
    """Draw the map of a run's output folder: zones coloured by visitors, heat layers, legend.

    Only published figures are drawn; suppressed zones are grey and say so.
    """
    from ..maps import map_from_run, save_map

    m = map_from_run(run_dir, self_contained=self_contained, tiles=None if tiles.lower() == "none" else tiles)
    target = out or str(Path(run_dir) / "map.html")
    save_map(m, target, self_contained=self_contained)
    say(f"wrote {target}")
    return 0


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("more", nargs=-1, type=click.Path(file_okay=False), metavar="[RUN_DIR...]")
@click.option("--out", type=click.Path(dir_okay=False), help="The HTML file to write (default: RUN_DIR/report.html).")
@click.option("--zone", help="The zone the report is about (default: the zone with the most visitors).")
@click.option("--spend", type=click.Path(), help="Payment-terminal aggregates: zone_id (or lon, lat), date, origin, transactions, amount.")
@click.option("--events", "events_path", type=click.Path(), help="Event days: CSV with name, date (one row per day).")
@click.option("--campaigns", type=click.Path(), help="Campaign periods: CSV with name, start, end (dates, both included).")
@click.option("--compare", multiple=True, type=click.Path(file_okay=False),
              help="Output folder of a run over other quarters (repeatable, or more folders after the first): the trend.")
@click.option("--target", help="Growth target on the base quarter, e.g. 2x or +50%: the trend says how far along the zone is.")
@click.option("--by", type=click.IntRange(2000, 2200), help="Year by which to reach --target (default: five years after the base quarter).")
@click.option("--base", help="Start of the base quarter of --target (YYYY-MM-DD; default: the first quarter).")
@click.option("--period-start", help="Which summary period to report on, as in zone_counts (default: the last).")
def report_cmd(run_dir: str, more: tuple[str, ...], out: str | None, zone: str | None, spend: str | None, events_path: str | None,
               campaigns: str | None, compare: tuple[str, ...], target: str | None, by: int | None, base: str | None, period_start: str | None) -> int:
    """Write the visitor report of a run's output folder: a self-contained HTML page per period.

    Folders after the first ('report RUN --compare Q1 Q2', or 'report RUN Q1 Q2') are
    runs over other quarters to compare, as --compare.

    Average daily visitors, a daily chart, peak days, origin shares, event days against
    ordinary days, all zones, spending per visitor, and how the figures were made. Only
    published figures are used. When the run covers several summary periods (quarters),
    each gets its own page, report-YYYY-MM-DD.html, unless --period-start picks one.
    """
    from ..report import build_report, report_periods, shown_page, write_report

    if (by or base) and not target:  # (a probe's --by alone was ignored in silence)
        raise click.UsageError("--by and --base go with --target (e.g. --target 2x --by 2031)")
    starts = [period_start] if period_start else report_periods(run_dir)
    # (a page per period, named by its day; periods shorter than a day by their time too, and at the autumn
    # clock change by their offset: a probe's 336 hourly pages were written over 14 files)
    width = next((n for n in (10, 16) if len({s[:n] for s in starts}) == len(starts)), None)
    main = shown_page(run_dir, starts)
    for start in starts:
        page = build_report(run_dir, zone=zone, spend=spend, events=events_path, period_start=start, campaigns=campaigns,
                            compare=[*compare, *more], target=target, by=by, base=base)
        if out and len(starts) == 1:
            page_path = out
        elif len(starts) == 1:
            page_path = str(Path(run_dir) / "report.html")
        else:
            first = Path(out) if out else Path(run_dir) / "report.html"
            page_path = str(first.with_name(f"{first.stem}-{start[:width].replace(':', '-').replace('+', 'p')}{first.suffix}"))
        write_report(page, page_path)
        say(f"wrote {page_path}")
        if len(starts) > 1 and start == main:  # (report.html, or --out, is the shown period's page too: where a reader looks first)
            write_report(page, first)
            which = "the last period's page" if main == starts[-1] else "the last whole period's page" if main == \
                shown_page(run_dir, starts, with_figures=False) else "the page of the last period with a published figure"
            say(f"wrote {first} ({which})")
    return 0
