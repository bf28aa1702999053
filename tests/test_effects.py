"""What an event or a campaign adds over its baseline (the report's "What events add")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geozones.effects import added_by, effect_rows, read_campaigns
from geozones.errors import InputError


def series(days: pd.DatetimeIndex, values, rel: float = 0.1) -> pd.DataFrame:
    v = np.asarray(values, dtype=float)
    return pd.DataFrame({"estimate": v, "low": v * (1 - rel), "high": v * (1 + rel)}, index=days.strftime("%Y-%m-%d"))


def test_event_adds_its_rise_over_the_same_weekdays():
    days = pd.date_range("2026-07-01", "2026-09-30", freq="D")
    base = np.where(days.day_of_week >= 5, 3000.0, 1000.0)  # weekends busier: the baseline must be the same weekdays
    v = base.copy()
    event = ["2026-08-22", "2026-08-23"]  # Saturday and Sunday
    v[days.strftime("%Y-%m-%d").isin(event)] = 7500.0
    r = added_by(series(days, v), event, set(event))
    assert r["added"] == pytest.approx(4500.0) and r["ratio"] == pytest.approx(2.5)
    assert r["low"] < 4500.0 < r["high"] and r["low"] == pytest.approx(4500 * 0.9) and r["high"] == pytest.approx(4500 * 1.1)
    assert r["weekdays"] == ["Saturday", "Sunday"] and r["baseline_days"] == 16  # 8 weekends within 4 weeks either side


def test_noisy_baseline_widens_the_interval_and_suppressed_days_are_skipped():
    rng = np.random.default_rng(0)
    days = pd.date_range("2026-07-01", "2026-09-30", freq="D")
    v = 1000 + rng.normal(0, 100, len(days))
    s = series(days, v, rel=0.0)
    s.loc["2026-08-14", "estimate"] = np.nan  # a suppressed day: neither event nor baseline
    r = added_by(s, ["2026-08-21"], {"2026-08-21"})
    assert r["high"] - r["low"] > 2 * 1.645 * 100 / np.sqrt(r["baseline_days"]) * 0.5
    assert r["baseline_days"] == 7  # 8 Fridays within 4 weeks, one suppressed
    assert added_by(s, ["2026-12-25"], set()) is None  # no published day: nothing said


def test_campaign_baseline_lies_before_and_after(tmp_path):
    days = pd.date_range("2026-07-01", "2026-09-30", freq="D")
    in_campaign = (days >= "2026-08-01") & (days <= "2026-08-14")
    v = np.where(in_campaign, 1200.0, 1000.0)
    p = tmp_path / "campaigns.csv"
    p.write_text("name,start,end\nSummer sales,2026-08-01,2026-08-14\n")
    camp = read_campaigns(p)
    rows = effect_rows(series(days, v), {}, {}, {}, camp)
    assert rows[0]["kind"] == "campaign" and "added 200 visitors a day" in rows[0]["sentence"] and "1.2x" in rows[0]["sentence"]


@pytest.mark.parametrize("text", ["name,start\nx,2026-01-01\n", "name,start,end\nx,2026-13-01,2026-12-01\n", "name,start,end\nx,2026-02-01,2026-01-01\n"])
def test_bad_campaigns_file(tmp_path, text):
    p = tmp_path / "c.csv"
    p.write_text(text)
    with pytest.raises(InputError):
        read_campaigns(p)


def test_an_event_without_a_baseline_says_so_and_not_that_it_was_not_published():
    """A probe's "Carnaval: no published figure on its days or on comparable days" stood beside
    Carnaval's published day: the only other Saturday was an event day too."""
    days = pd.date_range("2026-03-02", "2026-03-15", freq="D")
    s = series(days, np.full(len(days), 1000.0))
    events = {"Carnaval": ["2026-03-07"], "Fair": ["2026-03-14"]}  # the run's two Saturdays
    s.loc["2026-03-09", "estimate"] = np.nan
    rows = effect_rows(s, {}, {}, events | {"Closed": ["2026-03-09"]})
    said = {r["name"]: r["sentence"] for r in rows}
    assert said["Carnaval"].startswith("Carnaval: no baseline: no other day of the same weekday within 28 days"), said
    assert said["Closed"] == "Closed: no published figure on its days", said


def test_an_origin_on_fewer_days_than_the_total_says_how_many():
    """A probe: Germany's Braderie baseline rested on 5 of the 12 days the sentence named
    (its figure is hidden on its smallest days), and read 1.90x beside the others' 2.35x."""
    days = pd.date_range("2026-07-01", "2026-09-30", freq="D")
    v = np.where(days.strftime("%Y-%m-%d").isin(["2026-08-22"]), 3000.0, 1000.0)
    de = series(days, v / 10)
    de.loc[de.index[::3], "estimate"] = np.nan  # (hidden on a third of its days)
    rows = effect_rows(series(days, v), {"DE": de, "FR": series(days, v / 5)}, {"DE": "Germany", "FR": "France"}, {"Fair": ["2026-08-22"]})
    origins = {r["name"]: r for r in rows[0]["origins"]}
    assert origins["France"]["days"] == "1 and 8" and not origins["France"]["fewer"]
    assert origins["Germany"]["days"] == "1 and 5" and origins["Germany"]["fewer"] and rows[0]["fewer"], origins


def test_a_campaigns_effect_leaves_out_the_events_inside_it(tmp_path):
    """A probe's July campaign "added 2,508 visitors a day": all of it the Braderie's and a
    market's inside it (-351 without them)."""
    days = pd.date_range("2026-06-01", "2026-09-30", freq="D")
    in_campaign = (days >= "2026-07-01") & (days <= "2026-07-31")
    v = np.where(in_campaign, 1100.0, 1000.0)
    braderie = ["2026-07-04", "2026-07-05"]
    v[days.strftime("%Y-%m-%d").isin(braderie)] = 30000.0
    p = tmp_path / "campaigns.csv"
    p.write_text("name,start,end\nZomer,2026-07-01,2026-07-31\n")
    rows = effect_rows(series(days, v), {}, {}, {"Braderie": braderie}, read_campaigns(p))
    camp = next(r for r in rows if r["kind"] == "campaign")
    assert "added 100 visitors a day" in camp["sentence"] and "2026-07-04" not in camp["days"]


def test_an_events_sentence_reads_as_the_issue_writes_it():
    """Issue 19's example: "the braderie added 31,000 visitors a day (27,000-35,000), 2.5x an
    ordinary Saturday": the interval as every interval of the page, the weekday named when
    the event's days share one (a probe's read "(12,082 to 38,626, 90% interval)")."""
    import re

    days = pd.date_range("2026-07-01", "2026-09-30", freq="D")
    v = np.where(days == "2026-07-04", 2500.0, 1000.0) + np.where(days.day_of_week == 5, 0.0, np.arange(len(days)) % 3)
    (row,) = effect_rows(series(days, v), {}, {}, {"Braderie": ["2026-07-04"]})
    assert re.fullmatch(r"Braderie added [\d,]+ visitors a day \([\d,]+-[\d,]+\), 2\.5x an ordinary Saturday", row["sentence"]), row["sentence"]
