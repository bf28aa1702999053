"""Data quality: missing hours, partial days, drops and silent cells (geozones.quality)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import geozones as gz
from geozones.quality import network_checks, silent_cells

from .conftest import run_cli


def hours(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start, tz="Europe/Brussels"), periods=n, freq="1h").tz_convert("UTC")


def test_network_checks_find_missing_hours_partial_days_and_drops():
    t = hours("2026-07-01 00:00", 24 * 21)
    total = pd.Series(1000.0, index=t)
    total = total.drop(t[24 * 3 + 5: 24 * 3 + 8])  # 3 hours missing on 4 July, 05:00-08:00
    total[t[24 * 10 + 14]] = 200.0  # a drop on 11 July at 14:00
    total = total.drop(t[-6:])  # the last day ends at 18:00
    out = network_checks(total, 3600)
    assert out["missing_periods"] == [{"start": "2026-07-04T05:00:00+02:00", "end": "2026-07-04T08:00:00+02:00", "periods": 3}]
    assert [d["date"] for d in out["partial_days"]] == ["2026-07-04", "2026-07-21"]
    assert out["partial_days"][0] == {"date": "2026-07-04", "periods": 21, "expected": 24}
    assert out["drops"] == [{"start": "2026-07-11T14:00:00+02:00", "share_of_usual": 0.2}]
    # (stop 56's attacker: the share and the usual, which published totals give, told a hidden network total
    # of 8 people as 8 or 9; under k the drop is listed without its share)
    assert network_checks(total, 3600, k=200)["drops"] == [{"start": "2026-07-11T14:00:00+02:00", "share_of_usual": 0.2}]
    assert network_checks(total, 3600, k=201)["drops"] == [{"start": "2026-07-11T14:00:00+02:00", "share_of_usual": None}]
    from geozones.report import _quality_lines

    lines = _quality_lines({"drops": {"count": 1, "listed": [{"start": "2026-07-11T14:00:00+02:00", "share_of_usual": None}]}})
    assert lines == ["2026-07-11 14:00: the network counted under half its usual (a sudden drop)."], lines


def test_a_clock_change_day_is_not_partial():
    t = hours("2026-10-24 00:00", 24 * 3)  # 25 October has 25 hours
    out = network_checks(pd.Series(500.0, index=t[:-1]).drop(t[-1:], errors="ignore"), 3600)
    assert out["missing_periods"] == [] and out["drops"] == []
    assert [d["date"] for d in out["partial_days"]] == ["2026-10-26"]  # (the series ends an hour early)
    # a Gent probe: 29 March 2026, all its 23 hours counted, was "23 of its 24 periods", a gap in
    # the report and an error under --strict-quality (24 hours after midnight is not the next midnight)
    spring = hours("2026-03-28 00:00", 24 + 23 + 24)
    assert network_checks(pd.Series(500.0, index=spring), 3600)["partial_days"] == []
    autumn = hours("2026-10-24 00:00", 24 + 25 + 24)
    assert network_checks(pd.Series(500.0, index=autumn), 3600)["partial_days"] == []
    assert network_checks(pd.Series(500.0, index=autumn.delete(30)), 3600)["partial_days"] == [
        {"date": "2026-10-25", "periods": 24, "expected": 25}]


def test_a_silent_cell_is_counted_not_named_and_a_quiet_area_is_not_silent():
    days = pd.date_range("2026-07-01", periods=10, freq="1D", tz="Europe/Brussels").tz_convert("UTC")
    x = np.full((10, 4), 100.0)
    x[4, 1] = 0.0  # cell 1 silent on 5 July while cells 0 and 2 (its zone) count
    x[7, 2] = x[7, 3] = 0.0  # cells 2 and 3 (alone in their zone) both quiet on 8 July: an empty area, not an outage
    nb = sparse.csr_array(np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 1]]))
    nb2 = sparse.csr_array(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]))
    assert silent_cells(days, x, nb2) == ([{"date": "2026-07-05", "cells": 1}], [])
    got = silent_cells(days, x, nb)[0]
    assert got[0] == {"date": "2026-07-05", "cells": 1} and all("cell" not in str(k) or k == "cells" for g in got for k in g)


def test_days_are_days_of_the_calendar_across_a_clock_change():
    """Daily counts over 26 October 2025 (a day of 25 hours): a probe's run listed the three
    days after it as missing, and --strict-quality refused valid counts."""
    days = pd.date_range("2025-10-20", "2025-10-29", freq="D", tz="Europe/Brussels").tz_convert("UTC")
    total = pd.Series(1000.0, index=days)
    assert network_checks(total, 86400)["missing_periods"] == []
    out = network_checks(total.drop(days[[6, 7]]), 86400)  # 26 and 27 October missing
    assert out["missing_periods"] == [{"start": "2025-10-26T00:00:00+02:00", "end": "2025-10-28T00:00:00+01:00", "periods": 2}]
    weeks = pd.date_range("2025-10-06", periods=6, freq="7D", tz="Europe/Brussels").tz_convert("UTC")
    assert network_checks(pd.Series(1.0, index=weeks), 7 * 86400)["missing_periods"] == []


def test_short_runs_find_drops_and_silent_cells_too():
    """A run of under three weeks has no three of an hour of the week: its drops are
    measured against the same hour of a weekday or of a weekend day; in a run of 2 to 4 days
    a cell silent on one day while its zone counts is found."""
    t = hours("2026-07-01 00:00", 24 * 15)
    total = pd.Series(1000.0, index=t)
    total[t[24 * 9 + 14]] = 100.0  # a network hour cut to 10% on 10 July at 14:00
    assert network_checks(total, 3600)["drops"] == [{"start": "2026-07-10T14:00:00+02:00", "share_of_usual": 0.1}]
    assert network_checks(total[: 24 * 2], 3600)["drops"] == []  # (two days: too few to say what is usual)
    for n in (2, 3, 4):
        days = pd.date_range("2026-07-01", periods=n, freq="1D", tz="Europe/Brussels").tz_convert("UTC")
        x = np.full((n, 3), 100.0)
        x[1, 1] = 0.0
        nb = sparse.csr_array(np.ones((3, 3)))
        assert silent_cells(days, x, nb)[0] == [{"date": "2026-07-02", "cells": 1}], n
        x[0, 1] = 0.0  # silent on two days of a short run: under half its days counted, so no usual to miss
        assert silent_cells(days, x, nb)[0] == ([] if n < 4 else [{"date": "2026-07-01", "cells": 1}, {"date": "2026-07-02", "cells": 1}]), n


@pytest.fixture
def gappy(small_case):
    """The small case's counts over a week, with a missing hour and a silent cell B on day 3."""
    c = small_case
    rows = ["cell_id,period_start,period,count,origin"]
    for d in range(7):
        for h in range(24):
            if d == 1 and h == 9:
                continue
            t = f"2026-07-{d + 1:02d}T{h:02d}:00"
            rows.append(f"A,{t},1h,200,30000")
            if d != 2:
                rows.append(f"B,{t},1h,100,34022")
    p = c["tmp"] / "gappy.csv"
    p.write_text("\n".join(rows) + "\n")
    return c, p


def test_a_run_lists_the_findings_and_strict_quality_refuses_them(gappy):
    c, counts = gappy
    out = c["tmp"] / "q"
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts, "--out", out, "--heat-grid", 0)
    assert r.returncode == 0, r.stderr
    # the user reads stderr first: the findings are said there too, in one line
    said = [line for line in r.stderr.splitlines() if "data quality" in line]
    assert len(said) == 1 and "1 missing period " in said[0] and "1 day with silent cells (first: 2026-07-03)" in said[0], r.stderr
    q = json.loads((out / "manifest.json").read_text())["data_quality"]
    assert q["ok"] is False
    assert q["missing_periods"]["listed"] == [{"start": "2026-07-02T09:00:00+02:00", "end": "2026-07-02T10:00:00+02:00", "periods": 1}]
    assert q["partial_days"]["listed"][0]["date"] == "2026-07-02"
    assert q["silent_cells"]["listed"] == [{"date": "2026-07-03", "cells": 1}]
    assert "B" not in json.dumps(q)  # no cell is named
    report = (out / "report.html").read_text() if (out / "report.html").exists() else ""
    r2 = run_cli("report", out, "--out", c["tmp"] / "r.html")
    assert r2.returncode == 0, r2.stderr
    page = (c["tmp"] / "r.html").read_text()
    assert "Data quality" in page and "2026-07-02" in page and "silent" in page
    del report
    strict = c["tmp"] / "strict"
    r3 = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts, "--out", strict, "--heat-grid", 0,
                 "--strict-quality")
    assert r3.returncode != 0 and "data quality: 1 missing period " in r3.stderr and not strict.exists()


def test_the_stream_engine_finds_the_same(gappy, tmp_path):
    c, counts = gappy
    pq = tmp_path / "gappy.parquet"
    pd.read_csv(counts, dtype=str).to_parquet(pq)
    out = tmp_path / "s"
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", pq, "--out", out, "--heat-grid", 0,
                "--engine", "stream")
    assert r.returncode == 0, r.stderr
    assert "1 day with silent cells (first: 2026-07-03)" in r.stderr
    a = json.loads((out / "manifest.json").read_text())["data_quality"]
    assert a["missing_periods"]["count"] == 1 and a["silent_cells"]["listed"] == [{"date": "2026-07-03", "cells": 1}]
    assert gz.read_counts(pq) is not None


def days_of(n: int, start: str = "2026-07-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="1D", tz="Europe/Brussels").tz_convert("UTC")


def test_cells_out_for_days_or_counting_little_are_found_and_chance_zeros_are_not():
    """Stop 51's probe: a cell silent 3 days of 14 was not 'active' (it had to count on 80%
    of the days) and never said, nor one at a fifth of its usual (only none was looked for);
    a cell of 2 to 7 people a day, none on one day by chance, failed --strict-quality, and so
    did one that never counts on Sundays."""
    n = 28
    days = days_of(n)
    x = np.full((n, 5), 400.0)
    nb = sparse.csr_array(np.ones((5, 5)))
    x[10:13, 0] = 0.0  # out for three days
    x[20, 1] = 70.0  # a fifth of its usual, still counting
    x[:, 2] = np.tile([5, 3, 7, 2, 6, 4, 3], 4)
    x[15, 2] = 0.0  # a quiet cell's day of none: chance
    x[np.asarray(days.tz_convert("Europe/Brussels").day_of_week) == 6, 3] = 0.0  # never counts on Sundays
    silent, low = silent_cells(days, x, nb)
    assert silent == [{"date": f"2026-07-{d:02d}", "cells": 1} for d in (11, 12, 13)]
    assert low == [{"date": "2026-07-21", "cells": 1}]
    # the same over 14 days (each day of the week twice) finds the three days, and no Sunday
    assert silent_cells(days[:14], x[:14], nb)[0] == [{"date": f"2026-07-{d:02d}", "cells": 1} for d in (11, 12, 13)]


def test_drops_in_days_weeks_and_months_and_no_weekend_false_alarm():
    """Daily counts of 14 days (a day at 30%) and months (one at 30%) had no drop check; a
    fortnight of hours compared Saturday mornings with weekday ones and called them drops."""
    d = days_of(14)
    total = pd.Series(1000.0, index=d)
    total.iloc[8] = 300.0
    assert network_checks(total, 86400)["drops"] == [{"start": "2026-07-09T00:00:00+02:00", "share_of_usual": 0.3}]
    months = pd.DatetimeIndex([pd.Timestamp(f"2026-{m:02d}-01", tz="Europe/Brussels") for m in range(1, 7)]).tz_convert("UTC")
    monthly = pd.Series(30000.0, index=months)
    monthly.iloc[4] = 9000.0
    assert [x["start"][:10] for x in network_checks(monthly, 30 * 86400)["drops"]] == ["2026-05-01"]
    t = hours("2026-07-06 00:00", 24 * 14)  # Monday 6 July, two weeks
    local = t.tz_convert("Europe/Brussels")
    hourly = pd.Series(np.where(local.day_of_week >= 5, 350.0, 1000.0), index=t)  # weekends at 35% of weekdays
    assert network_checks(hourly, 3600)["drops"] == []
    hourly.iloc[24 * 12 + 10] = 100.0  # Saturday 18 July 10:00 at 29% of a weekend hour
    assert [x["start"][:16] for x in network_checks(hourly, 3600)["drops"]] == ["2026-07-18T10:00"]


def test_missing_periods_are_looked_for_over_start_and_end():
    """A last day without rows inside --end was not said (only the gaps between rows were)."""
    t = hours("2026-07-01 00:00", 24 * 3)
    span = (pd.Timestamp("2026-06-30 22:00", tz="UTC"), pd.Timestamp("2026-07-04 22:00", tz="UTC"))  # 1 to 4 July, local days
    out = network_checks(pd.Series(1.0, index=t[6:]), 3600, span)
    assert out["missing_periods"] == [
        {"start": "2026-07-01T00:00:00+02:00", "end": "2026-07-01T06:00:00+02:00", "periods": 6},
        {"start": "2026-07-04T00:00:00+02:00", "end": "2026-07-05T00:00:00+02:00", "periods": 24}]
    daily = network_checks(pd.Series(1.0, index=days_of(3)), 86400, span)
    assert daily["missing_periods"] == [{"start": "2026-07-04T00:00:00+02:00", "end": "2026-07-05T00:00:00+02:00", "periods": 1}]
    # the line a run prints counts the periods, not the gaps (a probe's 85 missing days read "1 missing period")
    from geozones.quality import data_quality, findings

    assert findings(data_quality(out, None)).startswith("30 missing periods in 2 gaps (first: 2026-07-01T00:00:00+02:00)")
    assert findings(data_quality(daily, None)).startswith("1 missing period (first: 2026-07-04T00:00:00+02:00)")


def test_the_engines_agree_on_weeks_and_dropped_cells(gappy, tmp_path):
    """Published weeks: the stream engine could not check cells day by day and the memory
    engine did, so their manifests differed; both now say the cells were not checked. Rows of
    cells not in the plan, dropped, were in the memory engine's network totals only."""
    c, counts = gappy
    text = counts.read_text() + "".join(f"X,2026-07-{d + 1:02d}T{h:02d}:00,1h,5000,30000\n" for d in range(7) for h in range(24) if d != 4)
    counts.write_text(text)
    pq = tmp_path / "gappy.parquet"
    pd.read_csv(counts, dtype=str).to_parquet(pq)
    got = {}
    for engine, path in (("memory", counts), ("stream", pq)):
        for period in ("1d", "1w"):
            out = tmp_path / f"{engine}{period}"
            r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", path, "--out", out, "--heat-grid", 0,
                        "--engine", engine, "--unknown-cells", "drop", "--period", period, "--summary-period", "none")
            assert r.returncode == 0, r.stderr
            got[engine, period] = json.loads((out / "manifest.json").read_text())["data_quality"]
    for period in ("1d", "1w"):
        assert got["memory", period] == got["stream", period], period
    assert got["memory", "1w"]["cells_checked"] is False and got["memory", "1d"]["cells_checked"] is True
    assert got["memory", "1d"]["drops"]["count"] == 0  # (cell X's day without rows is no network drop: X is not counted)


def test_the_report_lists_the_findings_of_its_own_days():
    from geozones.report import _quality_lines

    q = {"missing_periods": {"count": 2, "listed": [
        {"start": "2026-07-02T09:00:00+02:00", "end": "2026-07-02T10:00:00+02:00", "periods": 1},
        {"start": "2026-10-03T00:00:00+02:00", "end": "2026-10-04T00:00:00+02:00", "periods": 24}]},
        "silent_cells": {"count": 1, "listed": [{"date": "2026-10-05", "cells": 2}]}}
    july = _quality_lines(q, "2026-07-01", "2026-10-01")
    assert any("2026-07-02 09:00" in x for x in july) and not any("2026-10" in x for x in july)
    october = _quality_lines(q, "2026-10-01", "2027-01-01")
    assert any("2026-10-03" in x for x in october) and any("2 cells silent" in x for x in october)


def test_hours_without_events_are_found_in_a_run_published_per_day(small_case, tmp_path):
    """Counts made from subscriber-level events per day held no hours: a probe's 8 daytime
    hours without a single event went unsaid. A sample's quiet hours (a few events, none on
    some nights) are no gap."""
    c = small_case
    rng = np.random.default_rng(3)
    rows = ["subscriber_id,cell_id,timestamp,origin"]
    for d in range(1, 6):
        for h in range(24):
            if d == 3 and 10 <= h < 14:
                continue  # four hours lost on 3 July
            n = 150 if 7 <= h < 23 else int(rng.integers(0, 3))  # nights: 0 to 2 events
            rows += [f"s{i % 400},{'AB'[i % 2]},2026-07-{d:02d}T{h:02d}:{i % 60:02d},34022" for i in range(n)]
    ev = tmp_path / "events.csv"
    ev.write_text("\n".join(rows) + "\n")
    out = tmp_path / "o"
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--events", ev, "--out", out, "--period", "1d",
                "--kind", "unique", "--heat-grid", 0, "--no-residents")
    assert r.returncode == 0, r.stderr
    q = json.loads((out / "manifest.json").read_text())["data_quality"]
    assert q["missing_periods"]["listed"] == [{"start": "2026-07-03T10:00:00+02:00", "end": "2026-07-03T14:00:00+02:00", "periods": 4}]
    assert [p["date"] for p in q["partial_days"]["listed"]] == ["2026-07-03"]


def test_cells_that_never_count_are_said_not_found():
    """A cell in the plan without a row for the whole run put its zone at 0.26x with nothing
    said (probe O). It is no finding (plans list cells not yet on air), but the manifest and
    the report say how many."""
    from geozones.quality import data_quality, never_counted

    x = np.full((10, 4), 100.0)
    x[:, 1] = 0.0  # never counts; its zone neighbours do
    x[:, 3] = 0.0  # never counts, alone in its zone
    nb = sparse.csr_array(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    assert never_counted(x, nb) == 1
    q = data_quality({"missing_periods": [], "partial_days": [], "drops": []}, silent_cells(days_of(10), x, nb), never_counted(x, nb))
    assert q["ok"] is True and q["cells_never_counted"] == 1
