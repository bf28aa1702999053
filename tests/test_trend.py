"""The report's trend across runs: per quarter, change on the previous quarter and on a year
before with intervals, and progress to a target."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from geozones.errors import InputError
from geozones.trend import parse_target, quarter_series, trend_rows


def write_run(folder, start, end, level, *, model="footprint", noise=0.0, seed=0, rel=None):
    """A run folder whose zone Z has ``level`` visitors a day (all minus 500 residents);
    with ``rel``, every figure has the 90% interval (1 - rel, 1 + rel) x itself."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D", tz="Europe/Brussels")
    v = level + rng.normal(0, noise, len(days)) if noise else np.full(len(days), float(level))
    iso = days.strftime("%Y-%m-%dT%H:%M:%S+02:00")
    rows = [("Z", s, "1d", "all", x + 500, "published") for s, x in zip(iso, v)] + [("Z", s, "1d", "resident", 500.0, "published") for s in iso]
    folder.mkdir(parents=True)
    t = pd.DataFrame(rows, columns=["zone_id", "period_start", "period", "origin", "estimate", "status"])
    if rel is not None:
        t["estimate_low"], t["estimate_high"] = t["estimate"] * (1 - rel), t["estimate"] * (1 + rel)
    t.to_parquet(folder / "zone_counts.parquet")
    (folder / "manifest.json").write_text(json.dumps({"parameters": {"model": model}}))
    return folder


def test_quarters_changes_and_target(tmp_path):
    a = write_run(tmp_path / "a", "2025-07-01", "2025-09-30", 1000)
    b = write_run(tmp_path / "b", "2025-10-01", "2026-09-30", 1100)
    s = quarter_series([b, a], "Z")
    assert [q.strftime("%Y-%m-%d") for q in s.index] == ["2025-07-01", "2025-10-01", "2026-01-01", "2026-04-01", "2026-07-01"]
    assert s["mean"].iloc[0] == pytest.approx(1000) and s["mean"].iloc[-1] == pytest.approx(1100)
    t = trend_rows(s, target=2.0, by=2030)
    assert t["rows"][1]["previous"].startswith("+10.0%") and t["rows"][-1]["year"].startswith("+10.0%")
    assert "1,000 to 2,000" in t["target"] and "+14.9% a year" in t["target"]  # 2 ** (1/5) - 1
    assert t["target"].endswith("behind.")  # +10% in a year, exactly (no day-to-day spread)
    assert "on track" in trend_rows(s, target=1.5, by=2030)["target"]  # 1.5 ** (1/5) - 1 = 8.4% a year


def test_day_to_day_spread_and_a_change_of_model_widen_the_interval(tmp_path):
    a = write_run(tmp_path / "a", "2025-07-01", "2025-09-30", 1000, noise=150, seed=1)
    b = write_run(tmp_path / "b", "2025-10-01", "2025-12-31", 1000, noise=150, seed=2)
    c = write_run(tmp_path / "c", "2025-10-01", "2025-12-31", 1000, noise=150, seed=2, model="voronoi")

    def width(row):
        lo, hi = row["previous"].split("(")[1].rstrip(")").split(" to ")
        return float(hi.rstrip("%")) - float(lo.rstrip("%"))

    same = trend_rows(quarter_series([b, a], "Z"), halfwidth=0.3)["rows"][1]
    other = trend_rows(quarter_series([c, a], "Z"), halfwidth=0.3)["rows"][1]
    assert 2.0 < width(same) < 15.0  # about 2 x 1.645 x sqrt(2) x 150 / sqrt(92) / 1000
    assert width(other) > 3 * width(same)  # the apportioning error no longer cancels


@pytest.mark.parametrize("text,factor", [("2x", 2.0), ("2", 2.0), ("+50%", 1.5), ("x1.5", 1.5)])
def test_parse_target(text, factor):
    assert parse_target(text) == pytest.approx(factor)


def test_bad_target_and_base(tmp_path):
    with pytest.raises(InputError):
        parse_target("double")
    s = quarter_series([write_run(tmp_path / "a", "2025-07-01", "2025-09-30", 1000)], "Z")
    with pytest.raises(InputError):
        trend_rows(s, target=2.0, base="2024-01-01")
    with pytest.raises(InputError):
        quarter_series([tmp_path / "nothing"], "Z")


def test_a_quarter_level_carries_the_days_intervals(tmp_path):
    a = write_run(tmp_path / "a", "2025-07-01", "2025-09-30", 1000, rel=0.2)  # all 1,500 (1,200-1,800), residents 500 (400-600)
    row = trend_rows(quarter_series([a], "Z"))["rows"][0]
    assert row["visitors"] == "1,000 (684-1,316)"  # 1,000 -+ hypot(300, 100), as the report's visitors


def test_a_trend_over_runs_that_differ_in_residents_or_period_compares_like_with_like(small_case, tmp_path):
    """A probe compared a quarter with residents set apart and one without (its 'visitors'
    were everyone): the report read -21.5% where the zone grew by a quarter. And --compare
    with an hourly run stopped on an internal error."""
    from geozones.report import build_report

    from .conftest import run_cli

    spring = tmp_path / "spring.csv"
    spring.write_text(small_case["counts"].read_text().replace("2026-07-01", "2026-04-01"))
    common = ["--zones", small_case["zones"], "--cells", small_case["cells"], "--model", "voronoi", "--heat-grid", "0", "--k", "1"]
    runs = {"now": ["--counts", small_case["counts"]], "before": ["--counts", spring, "--no-residents"],
            "hours": ["--counts", spring, "--period", "1h"]}
    for name, extra in runs.items():
        r = run_cli("apportion", *common, *extra, "--out", tmp_path / name)
        assert r.returncode == 0, r.stderr
    html = build_report(tmp_path / "now", zone="east", compare=[tmp_path / "before"])
    assert "People in all per day" in html and "residents not set apart there" in html
    html = build_report(tmp_path / "now", zone="east", compare=[tmp_path / "hours"])  # (no internal error)
    assert "Quarter on quarter" in html and "2026 Q2" in html


def test_a_targets_verdict_says_when_the_zones_boundary_changed():
    """A probe's zone, its boundary moved by 16% of its area, still read "on track"."""
    from geozones.trend import trend_rows

    q = pd.to_datetime(["2026-07-01", "2027-07-01"])
    s = pd.DataFrame({"mean": [1000.0, 1500.0], "low": [950.0, 1425.0], "high": [1050.0, 1575.0], "se": [5.0, 5.0], "days": [92, 92],
                      "model": ["footprint", "footprint"]}, index=q)
    s.attrs["notes"] = ["r2027: the zone's boundary differs (1.100 km² against 1.000 km²; 16.4% of its area changed): ..."]
    s.attrs["moved"] = ["r2027"]
    t = trend_rows(s, target=2.0, by=2031)
    assert "on track, though the zone's boundary changed between them" in t["target"]
    s.attrs["notes"], s.attrs["moved"] = [], []
    assert "boundary" not in trend_rows(s, target=2.0, by=2031)["target"]


def test_a_partial_day_that_data_quality_lists_is_left_out_of_its_quarters_mean(tmp_path):
    """Stop 55's probe: the quarter-on-quarter trend averaged a day of a few hours (listed
    under the manifest's data_quality) with the whole days."""
    b = write_run(tmp_path / "b", "2025-10-01", "2025-12-31", 1000)
    t = pd.read_parquet(b / "zone_counts.parquet")
    last = t["period_start"].str.startswith("2025-12-31") & (t["origin"] == "all")
    t.loc[last, "estimate"] = 600.0  # (100 visitors in the 3 hours counted)
    t.to_parquet(b / "zone_counts.parquet")
    listed = {"partial_days": {"count": 1, "listed": [{"date": "2025-12-31", "periods": 3, "expected": 24}]}}
    (b / "manifest.json").write_text(json.dumps({"parameters": {"model": "footprint"}, "data_quality": listed}))
    s = quarter_series([b], "Z")
    assert s["mean"].iloc[0] == pytest.approx(1000) and s["days"].iloc[0] == 91
    assert any("2025-12-31: a partial day" in n for n in s.attrs["notes"]), s.attrs["notes"]
    alone = write_run(tmp_path / "alone", "2026-01-01", "2026-01-01", 700)  # (a quarter of one partial day keeps it)
    (alone / "manifest.json").write_text(json.dumps({"parameters": {"model": "footprint"}, "data_quality": {
        "partial_days": {"count": 1, "listed": [{"date": "2026-01-01", "periods": 5, "expected": 24}]}}}))
    s = quarter_series([b, alone], "Z")
    assert s["mean"].tolist() == pytest.approx([1000, 700]) and s["days"].tolist() == [91, 1]
