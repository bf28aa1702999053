"""The footprint model's density per published period (geozones.density, ``--density period``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyproj
import pytest

import geozones as gz
from geozones.density import PeriodWeights, period_weights, run_density, split_by_period
from geozones.footprint import footprint_weights
from geozones.inputs import build_footprint_weights

from .attacker import lp_max
from .conftest import X0, Y0, run_cli
from .test_footprint import lattice, zone_grid

_LL = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
DAYS = ("2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04")


def world(tmp_path, seed: int = 0, low: float = 0.0):
    """Nine omni cells on a 600 m lattice, 16 square zones over them, four days of hourly
    counts for two origins: three ordinary days, then an event day with a crowd at the
    western cells. ``low``: a quarter of the cells then count only a few people."""
    rng = np.random.default_rng(seed)
    xy = lattice(3, 600.0)
    lon, lat = _LL.transform(X0 + xy[:, 0], Y0 + xy[:, 1])
    cells = tmp_path / "cells.csv"
    pd.DataFrame({"cell_id": [f"c{i}" for i in range(len(xy))], "lon": lon, "lat": lat, "azimuth": "", "range_m": 500}).to_csv(cells, index=False)
    zones = tmp_path / "zones.geojson"
    gz.write_zones(zone_grid(4, 400.0, (-200.0, -200.0)).assign(name=lambda d: d["zone_id"]), zones)
    base = rng.uniform(40, 120, len(xy))
    rows = []
    for d, day in enumerate(DAYS):
        crowd = np.where((xy[:, 0] == 0) & (d == len(DAYS) - 1), 6.0, 1.0)
        for h in range(24):
            lam = base * crowd * (0.5 + np.sin(np.pi * h / 24))
            for origin, share in (("30000", 0.7), ("FR", 0.3)):
                n = rng.poisson(lam * share)
                if low:
                    n = np.where(np.arange(len(xy)) % 4 == seed % 4, rng.poisson(0.4, len(xy)), n)
                rows += [(f"c{i}", f"{day}T{h:02d}:00", "1h", int(v), origin) for i, v in enumerate(n) if v]
    counts = tmp_path / "counts.csv"
    pd.DataFrame(rows, columns=["cell_id", "period_start", "period", "count", "origin"]).to_csv(counts, index=False)
    return {"cells": cells, "zones": zones, "counts": counts, "tmp": tmp_path}


def oracle(w_case):
    """The days' weights as documented (geozones.density.period_weights from the run's
    density), the run's own density's weights, each day's own EM's, the counts, their
    local days, the footprints and the days' cell totals."""
    zone_files = [str(w_case["zones"])]
    _, _, fp = build_footprint_weights(gz.read_zones(zone_files), zone_files, w_case["cells"])
    counts = gz.read_counts(w_case["counts"])
    local = counts["period_start"].dt.tz_convert("Europe/Brussels").dt.strftime("%Y-%m-%d")

    def totals(c):
        return c.groupby("cell_id", observed=True)["count"].sum().reindex(fp.cell_ids).fillna(0).to_numpy(dtype=float)

    n = np.array([totals(counts[local == d]) for d in DAYS])
    prior = footprint_weights(fp)
    starts = pd.DatetimeIndex(list(DAYS), tz="Europe/Brussels").tz_convert("UTC").as_unit("ns").asi8
    lam = run_density(fp, prior, n.sum(axis=0))
    pw = period_weights(fp, prior, starts, n, "1d", start=lam)
    alone = {d: footprint_weights(fp, row) for d, row in zip(DAYS, n)}
    return dict(zip(DAYS, pw.parts)), footprint_weights(fp, n.sum(axis=0)), alone, counts, local, fp, n, pw, lam


def day_figures(w, counts, local, day) -> pd.Series:
    """Observed figure (origin ``all``, the mean over the day's hours) per zone, from the weights ``w``."""
    c = counts[local == day]
    x = (c.groupby("cell_id", observed=True)["count"].sum() / c["period_start"].nunique()).reindex(w.cell_ids).fillna(0).to_numpy()
    return pd.Series(w.matrix.T @ x, index=np.asarray(w.zone_ids).astype(str))


def run(c, out, *extra):
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", out, "--heat-grid", 0,
                "--no-map", *extra)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(out / "zone_counts.csv", dtype={"origin": str})
    t["day"] = pd.to_datetime(t["period_start"], utc=True).dt.tz_convert("Europe/Brussels").dt.strftime("%Y-%m-%d")
    return t


def test_an_event_day_moves_from_the_runs_density_and_ordinary_days_keep_it(tmp_path):
    c = world(tmp_path)
    per_day, whole, alone, counts, local, fp, n, pw, lam = oracle(c)
    t = run(c, tmp_path / "period", "--k", 1)
    runs = run(c, tmp_path / "run", "--k", 1, "--density", "run")
    for day in DAYS:  # the published figures: each day by the weights documented, or all by the run's
        for table, w in ((t, per_day[day]), (runs, whole)):
            got = table[(table.period == "1d") & (table.origin == "all") & (table.day == day)].set_index("zone_id")["observed"].dropna()
            assert len(got) >= 4 and np.allclose(got, day_figures(w, counts, local, day).reindex(got.index), atol=0.51), day
    # ordinary days that the run's density explains as well as a typical day keep it (at
    # least half of them: the median); the event day moves, towards its own counts
    event = DAYS[-1]
    assert pw.steps[-1] >= 1 and sum(k == 0 for k in pw.steps) >= len(DAYS) // 2
    for day, k in zip(DAYS, pw.steps):
        if k == 0:
            assert np.allclose(day_figures(per_day[day], counts, local, day), day_figures(whole, counts, local, day))
    f_event, f_run, f_alone = (day_figures(w, counts, local, event) for w in (per_day[event], whole, alone[event]))
    assert np.abs(f_event - f_run).max() > 2  # (it moved beyond the rounding the checks allow)
    assert np.abs(f_event - f_alone).sum() < np.abs(f_run - f_alone).sum()  # towards what the day's counts alone say
    # the quarter: from the density of all its counts, under either setting
    x = (counts.groupby("cell_id", observed=True)["count"].sum() / counts["period_start"].nunique()).reindex(whole.cell_ids).fillna(0)
    for table in (t, runs):
        q = table[(table.period == "1q") & (table.origin == "all")].set_index("zone_id")["observed"].dropna()
        assert len(q) and np.allclose(q, pd.Series(whole.matrix.T @ x.to_numpy(), index=whole.zone_ids).reindex(q.index), atol=0.51)
    m = json.loads((tmp_path / "period" / "manifest.json").read_text())
    assert m["parameters"]["density"] == "period" and json.loads((tmp_path / "run" / "manifest.json").read_text())["parameters"]["density"] == "run"
    assert m["counts"]["conservation_max_abs_error"] < 1e-6  # every period's figures plus outside are its counts


def test_a_days_density_explains_its_counts_as_well_as_a_typical_day_is_explained(tmp_path):
    """The stopping rule, checked from its definition: each day's density is the EM from
    the run's density, stopped at the first step whose Poisson deviance against the day's
    counts is at most the median over the days of (deviance against the run's density, per
    cell) times the day's cells."""
    c = world(tmp_path, seed=5)
    _, _, _, _, _, fp, n, pw, lam = oracle(c)
    P = fp.matrix
    q = P @ lam

    def dev(counts, mu):
        ok = mu > 0
        x, m = counts[ok], mu[ok]
        return 2 * float(np.sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1) / m), 0) - (x - m))), int(ok.sum())

    ratios = [d / k for d, k in (dev(row, q * row.sum() / q.sum()) for row in n)]
    bound = np.median(ratios)
    for row, steps in zip(n, pw.steps):
        # EM (Richardson-Lucy) from the run's density scaled to the day, step by step: the
        # day stops at the first step whose density explains it within the bound
        x = lam * row.sum() / q.sum()
        devs = []
        for _ in range(steps + 1):
            mu = P @ x
            devs.append(dev(row, mu))
            x = x * (P.T @ np.divide(row, mu, out=np.zeros_like(row), where=mu > 0))
        assert devs[-1][0] <= bound * devs[-1][1] + 1e-9
        assert all(d > bound * k for d, k in devs[:-1])
    assert max(ratios) > 2 * bound  # (the event day stands out)


def test_the_engines_agree_with_a_density_per_period(tmp_path):
    c = world(tmp_path, seed=3)
    pq = tmp_path / "counts.parquet"
    gz.read_counts(c["counts"]).to_parquet(pq)
    outs = {}
    for engine in ("memory", "stream", "dask"):
        outs[engine] = tmp_path / engine
        r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", pq, "--out", outs[engine], "--heat-grid", 0,
                    "--no-map", "--engine", engine, "--period", "1h", "--summary-period", "1d")
        assert r.returncode == 0, r.stderr
    assert (outs["memory"] / "zone_counts.csv").read_bytes() == (outs["stream"] / "zone_counts.csv").read_bytes()
    assert (outs["stream"] / "zone_counts.csv").read_bytes() == (outs["dask"] / "zone_counts.csv").read_bytes()


def test_period_weights_group_the_hours_of_a_day_and_refuse_a_period_they_do_not_hold(tmp_path):
    _, _, _, counts, _, fp, _, _, lam = oracle(world(tmp_path))
    prior = footprint_weights(fp)
    hours = np.sort(pd.DatetimeIndex(counts["period_start"].unique()).as_unit("ns").asi8)
    per_hour = np.vstack([counts[counts["period_start"] == pd.Timestamp(h, tz="UTC")].groupby("cell_id", observed=True)["count"].sum()
                          .reindex(prior.cell_ids).fillna(0).to_numpy() for h in hours])
    pw = period_weights(fp, prior, hours, per_hour, "1d", start=lam)
    assert isinstance(pw, PeriodWeights) and len(pw.parts) == len(DAYS) and len(pw.steps) == len(DAYS)
    assert np.bincount(pw.group(hours)).tolist() == [24] * len(DAYS)  # (a day's hours, in Belgian local time)
    assert [len(idx) for _, idx in split_by_period(pw, hours[::-1])] == [24] * len(DAYS)
    assert gz.PeriodWeights is PeriodWeights
    with pytest.raises(gz.WeightsError, match="no density"):
        pw.group(pd.DatetimeIndex(["2026-07-09"], tz="UTC").as_unit("ns").asi8)


def test_no_hidden_figure_is_bounded_under_k_with_each_days_own_weights(tmp_path):
    """The attacker, given each day's own weights (rebuilt here from the footprints and
    that day's counts: the strongest attacker), takes the published figures of a day and
    origin to their rounding, counts >= 0, and maximises every hidden figure above none
    and under k: it must be able to reach k (tests/attacker.py's programme)."""
    checked = 0
    for seed in range(4):
        checked += _attack(tmp_path / str(seed), seed)
    assert checked >= 5


def _attack(tmp_path, seed: int) -> int:
    tmp_path.mkdir()
    c = world(tmp_path, seed=seed, low=0.3)
    per_day, _, _, counts, local, *_ = oracle(c)
    t = run(c, tmp_path / "out", "--k", 30)
    checked = 0
    for day in DAYS:
        w = per_day[day].matrix.toarray()
        zi = {z: i for i, z in enumerate(np.asarray(per_day[day].zone_ids).astype(str))}
        c_day = counts[local == day]
        for origin in sorted(set(t["origin"])):
            s = t[(t.period == "1d") & (t.day == day) & (t.origin == origin)]
            rows = c_day if origin == "all" else c_day[c_day["origin"] == origin]
            x = (rows.groupby("cell_id", observed=True)["count"].sum() / 24).reindex(per_day[day].cell_ids).fillna(0).to_numpy()
            truth = pd.Series(w.T @ x, index=list(zi))
            pub = s[s.status == "published"]
            if not len(pub):
                continue
            a = w[:, [zi[z] for z in pub["zone_id"]]].T
            assert np.allclose(a @ x, pub["observed"], atol=0.51)  # the attacker's rows are the published figures
            for z in s.loc[s.status == "suppressed", "zone_id"]:
                if 1e-7 < truth[z] < 30 and not (w[:, zi[z]] > 0)[a.sum(axis=0) == 0].any():
                    assert lp_max(a, pub["observed"].to_numpy(), w[:, zi[z]]) >= 30 - 1e-6, (day, origin, z, truth[z])
                    checked += 1
    return checked


@pytest.mark.parametrize("days", [("2026-10-24", "2026-10-25", "2026-10-26"), ("2026-03-28", "2026-03-29", "2026-03-30")])
def test_a_day_of_25_or_23_hours_keeps_the_density_of_days_that_count_the_same(tmp_path, days):
    """A Gent probe counted the same people every hour: the 25-hour day of the clock change
    read 2.9% more in a small zone (its summed counts, 25/24 of a day's, were held to the
    deviance of a 24-hour day), and the report made it the peak day."""
    _, _, _, _, _, fp, _, _, _ = oracle(world(tmp_path))
    prior = footprint_weights(fp)
    rng = np.random.default_rng(3)
    hour = rng.poisson(rng.uniform(20, 200, len(prior.cell_ids))).astype(float)
    first = pd.Timestamp(days[0], tz="Europe/Brussels").tz_convert("UTC")
    end = (pd.Timestamp(days[-1], tz="Europe/Brussels") + pd.Timedelta(days=1)).tz_convert("UTC")
    hours = pd.date_range(first, end, freq="1h", inclusive="left").as_unit("ns").asi8
    per_hour = np.tile(hour, (len(hours), 1))
    # (started from the prior, which explains no day exactly: the run's own density would
    # explain these days to rounding, and every deviance would be nothing)
    pw = period_weights(fp, prior, hours, per_hour, "1d", start=np.asarray(fp.prior, dtype=float))
    assert sorted(np.bincount(pw.group(hours)).tolist()) == sorted([24, 24, 25 if days[0].startswith("2026-10") else 23])
    assert pw.steps == (0, 0, 0) and pw.parts[0] is pw.parts[1] is pw.parts[2]


def test_the_density_per_period_says_how_far_it_is_on_long_work(small_case, tmp_path, caplog, monkeypatch):
    """A probe's hourly fortnight spent 102 s on the densities per period without a word; the
    step now notes its progress as the audit does (here every step, the heartbeat set to 0)."""
    import geozones._progress as progress

    monkeypatch.setattr(progress, "HEARTBEAT_S", -1.0)
    c = small_case
    with caplog.at_level("INFO", logger="geozones"):
        r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "o",
                    "--period", "1h", "--heat-grid", 0, "--no-map")
    assert r.returncode == 0, r.stderr
    assert "density per 1h: 1 of 24 periods estimated" in r.stderr + caplog.text, r.stderr
