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
    assert silent_cells(days, x, nb2) == [{"date": "2026-07-05", "cells": 1}]
    got = silent_cells(days, x, nb)
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
    measured against the same hour of the day; in a run of 2 to 4 days a cell silent on one
    day while its zone counts is found (it had to count on 80% of the days, which takes 5)."""
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
        assert silent_cells(days, x, nb) == [{"date": "2026-07-02", "cells": 1}], n
        x[0, 1] = 0.0  # silent on two days of a short run: a cell that rarely counts, not an outage
        assert silent_cells(days, x, nb) == [], n


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
    assert len(said) == 1 and "1 missing periods" in said[0] and "1 days with silent cells (first: 2026-07-03)" in said[0], r.stderr
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
    assert r3.returncode != 0 and "data quality: 1 missing periods" in r3.stderr and not strict.exists()


def test_the_stream_engine_finds_the_same(gappy, tmp_path):
    c, counts = gappy
    pq = tmp_path / "gappy.parquet"
    pd.read_csv(counts, dtype=str).to_parquet(pq)
    out = tmp_path / "s"
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", pq, "--out", out, "--heat-grid", 0,
                "--engine", "stream")
    assert r.returncode == 0, r.stderr
    assert "days with silent cells (first: 2026-07-03)" in r.stderr
    a = json.loads((out / "manifest.json").read_text())["data_quality"]
    assert a["missing_periods"]["count"] == 1 and a["silent_cells"]["listed"] == [{"date": "2026-07-03", "cells": 1}]
    assert gz.read_counts(pq) is not None
