"""Periods of the calendar (a probe of stop 52): weeks do not make months, months and
quarters are their own lengths, a week across the autumn clock change has seven days, and
a partial month is said when months are published."""

from __future__ import annotations

import pandas as pd
import pytest

from geozones.errors import InputError
from geozones.periods import nests, not_nested, parse_period, period_end
from geozones.quality import network_checks

from .conftest import run_cli


def test_which_periods_nest_in_which():
    assert nests("1h", "1d") and nests("15min", "2h") and nests("1d", "1mo") and nests("1mo", "1q") and nests("1w", "1w")
    assert not nests("1w", "1mo") and not nests("1w", "1q") and not nests("2h", "3h") and not nests("1d", "1h")
    assert "do not nest" in not_nested("1w", "1mo")[0] and "1d" in not_nested("1w", "1mo")[1]
    assert "cannot be split" in not_nested("1q", "1mo")[0]


@pytest.mark.parametrize("label", ["5h", "7h", "16h", "48h", "7min", "2d"])
def test_periods_that_do_not_divide_a_day_or_an_hour_are_refused(label):
    """A 16-hour period straddles days, so every day figure made of them would be wrong: a
    mutation probe let 16h and 48h through and no test noticed (5h, refused either way, was
    the only one tried)."""
    with pytest.raises(InputError, match="must divide|one at a time"):
        parse_period(label)


def test_periods_that_divide_a_day_are_taken():
    assert [parse_period(p) for p in ("1h", "2h", "3h", "4h", "6h", "8h", "12h", "24h", "15min", "60min")] == \
        ["1h", "2h", "3h", "4h", "6h", "8h", "12h", "1d", "15min", "1h"]


def test_a_week_and_a_day_across_the_autumn_clock_change_end_at_local_midnight():
    """The week from 19 October 2026 ends at midnight on the 26th, 169 hours later: the
    partial-period note called it a week of 6 days (start + 7 x 86,400 s is Sunday 23:00)."""
    assert period_end(pd.Timestamp("2026-10-19T00:00:00+02:00"), "1w") == pd.Timestamp("2026-10-26T00:00:00+01:00")
    assert period_end(pd.Timestamp("2026-10-25T00:00:00+02:00"), "1d") == pd.Timestamp("2026-10-26T00:00:00+01:00")
    assert period_end(pd.Timestamp("2026-03-29T00:00:00+01:00"), "1d") == pd.Timestamp("2026-03-30T00:00:00+02:00")
    assert period_end(pd.Timestamp("2026-10-25T01:00:00+02:00"), "1h") == pd.Timestamp("2026-10-25T02:00:00+02:00")


def test_months_and_quarters_are_missing_only_where_none_came():
    """Six whole months of counts: a month counted as 31 days made February end on 3 March
    and three complete months "missing" (and --strict-quality refused the counts)."""
    months = pd.date_range("2028-01-01", periods=6, freq="MS", tz="Europe/Brussels").tz_convert("UTC")
    assert network_checks(pd.Series(1000.0, index=months), "1mo")["missing_periods"] == []
    quarters = pd.date_range("2027-01-01", periods=8, freq="QS", tz="Europe/Brussels").tz_convert("UTC")
    assert network_checks(pd.Series(1000.0, index=quarters), "1q")["missing_periods"] == []
    out = network_checks(pd.Series(1000.0, index=months.delete(2)), "1mo")
    assert out["missing_periods"] == [{"start": "2028-03-01T00:00:00+01:00", "end": "2028-04-01T00:00:00+02:00", "periods": 1}]
    span = (pd.Timestamp("2027-11-01", tz="Europe/Brussels").tz_convert("UTC"), pd.Timestamp("2028-09-01", tz="Europe/Brussels").tz_convert("UTC"))
    got = network_checks(pd.Series(1000.0, index=months), "1mo", span)["missing_periods"]
    assert [(g["start"][:10], g["periods"]) for g in got] == [("2027-11-01", 2), ("2028-07-01", 2)]


def _counts(tmp, period: str, starts: list[str]) -> str:
    rows = ["cell_id,period_start,period,count,origin"]
    rows += [f"{cell},{s},{period},700,30000" for s in starts for cell in ("A", "B")]
    path = tmp / "counts.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_weekly_counts_are_refused_for_months(small_case, engine):
    """A probe's weekly counts published per month: the week of 26 October went whole to
    October, and November lost its first day, under a plain '1mo' label."""
    c = small_case
    counts = _counts(c["tmp"], "1w", ["2026-10-12", "2026-10-19", "2026-10-26", "2026-11-02"])
    if engine == "stream":
        frame = pd.read_csv(counts, dtype={"origin": str})
        frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.tz_localize("Europe/Brussels")
        counts = c["tmp"] / "counts.parquet"
        frame.to_parquet(counts)
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts, "--out", c["tmp"] / "o", "--kind", "events",
                "--period", "1mo", "--heat-grid", 0, "--model", "voronoi", "--engine", engine)
    assert r.returncode == 1 and "do not nest in periods of 1mo" in r.stderr, r.stderr
    assert not (c["tmp"] / "o").exists()


def test_a_partial_month_is_said_when_months_are_published(small_case):
    """Daily counts from 15 January published per month: only the quarters' partial cover
    was said; January's 17 days read as its month's."""
    c = small_case
    counts = _counts(c["tmp"], "1d", [str(d.date()) for d in pd.date_range("2028-01-15", "2028-02-29")])
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts, "--out", c["tmp"] / "o", "--kind", "events",
                "--period", "1mo", "--heat-grid", 0, "--model", "voronoi")
    assert r.returncode == 0, r.stderr
    assert "the 1mo from 2028-01-01 holds 17 of its 31 days" in r.stderr, r.stderr
    assert "the 1mo from 2028-02-01" not in r.stderr  # (a leap February, whole)
    assert "missing" not in r.stderr, r.stderr


def test_the_report_takes_a_date_for_its_period(small_case):
    """README: `geozones report out/ --period-start 2026-07-01`; it wanted the start as the
    table writes it, with its offset."""
    c = small_case
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", c["tmp"] / "o",
                "--heat-grid", 0, "--model", "voronoi", "--k", 1)
    assert r.returncode == 0, r.stderr
    r = run_cli("report", c["tmp"] / "o", "--period-start", "2026-07-01", "--out", c["tmp"] / "r.html")
    assert r.returncode == 0, r.stderr
    r = run_cli("report", c["tmp"] / "o", "--period-start", "2026-07-02", "--out", c["tmp"] / "r2.html")
    assert r.returncode == 1 and "no 1q period starts at '2026-07-02'" in r.stderr, r.stderr


def test_a_summary_period_shorter_than_the_period_is_said(small_case):
    """`--period 1mo --summary-period 1w` published no week without a word (the reverse,
    weeks and a month, was warned about)."""
    c = small_case
    counts = _counts(c["tmp"], "1d", [str(d.date()) for d in pd.date_range("2028-01-01", "2028-01-31")])
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts, "--out", c["tmp"] / "o", "--kind", "events",
                "--period", "1mo", "--summary-period", "1w", "--heat-grid", 0, "--model", "voronoi")
    assert r.returncode == 0 and "the summary period 1w is shorter than --period 1mo: it is not published" in r.stderr, r.stderr


def test_zones_far_from_brussels_time_zone_are_warned_about(caplog):
    """A probe's Tokyo zones were published in days from 07:00 to 07:00 local time (days are
    Brussels' for every city) without a word; Milan, Madrid or Kortrijk are not warned about."""
    import geopandas as gpd
    import shapely

    from geozones.periods import warn_far_time_zone

    def said(lon: float) -> list[str]:
        caplog.clear()
        with caplog.at_level("WARNING", logger="geozones"):
            warn_far_time_zone(gpd.GeoDataFrame(geometry=[shapely.box(lon, 45.0, lon + 0.02, 45.02)], crs="EPSG:4326"))
        return [r.getMessage() for r in caplog.records]

    assert said(3.26) == said(9.19) == said(-3.7) == []
    tokyo = said(139.7)
    assert len(tokyo) == 1 and "longitude 140" in tokyo[0] and "about 8 hours after local midnight" in tokyo[0]
    assert "before local midnight" in said(-74.0)[0]
