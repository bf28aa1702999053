"""The footprint model's density per published period (geozones.density, ``--density period``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyproj
import pytest

import geozones as gz
from geozones.density import PeriodWeights, period_weights, split_by_period
from geozones.footprint import footprint_weights
from geozones.inputs import build_footprint_weights

from .attacker import lp_max
from .conftest import X0, Y0, run_cli
from .test_footprint import lattice, zone_grid

_LL = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
DAYS = ("2026-07-01", "2026-07-02")


def world(tmp_path, seed: int = 0, low: float = 0.0):
    """Nine omni cells on a 600 m lattice, 16 square zones over them, two days of hourly
    counts for two origins: on the first day a crowd at the western cells, on the second
    at the eastern ones. ``low``: a quarter of the cells then count only a few people."""
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
        crowd = np.where(xy[:, 0] == (0 if d == 0 else 1200), 6.0, 1.0)
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


def oracle(w_case, days=DAYS):
    """Each day's weights from that day's counts, and the run's from all of them, built
    here from the footprints (not through the run): ``{day: Weights}``, the run's, the
    counts and the footprints."""
    zone_files = [str(w_case["zones"])]
    _, _, fp = build_footprint_weights(gz.read_zones(zone_files), zone_files, w_case["cells"])
    counts = gz.read_counts(w_case["counts"])

    def totals(c):
        return c.groupby("cell_id", observed=True)["count"].sum().reindex(fp.cell_ids).fillna(0).to_numpy(dtype=float)

    local = counts["period_start"].dt.tz_convert("Europe/Brussels").dt.strftime("%Y-%m-%d")
    per_day = {d: footprint_weights(fp, totals(counts[local == d])) for d in days}
    return per_day, footprint_weights(fp, totals(counts)), counts, local


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


def test_each_day_is_placed_by_its_own_counts_and_the_quarter_by_all_of_them(tmp_path):
    c = world(tmp_path)
    per_day, whole, counts, local = oracle(c)
    t = run(c, tmp_path / "period", "--k", 1)
    runs = run(c, tmp_path / "run", "--k", 1, "--density", "run")
    moved = 0.0
    for day in DAYS:
        want, want_run = day_figures(per_day[day], counts, local, day), day_figures(whole, counts, local, day)
        for table, expect in ((t, want), (runs, want_run)):
            got = table[(table.period == "1d") & (table.origin == "all") & (table.day == day)].set_index("zone_id")["observed"].dropna()
            assert len(got) >= 4 and np.allclose(got, expect.reindex(got.index), atol=0.51), day
        moved = max(moved, float(np.abs(want - want_run).max()))
    assert moved > 2  # (the crowd moved: a day's own density places it elsewhere than the run's, beyond the rounding the checks allow)
    # the quarter: from the density of all its counts, under either setting
    for table in (t, runs):
        q = table[(table.period == "1q") & (table.origin == "all")].set_index("zone_id")["observed"].dropna()
        x = (counts.groupby("cell_id", observed=True)["count"].sum() / counts["period_start"].nunique()).reindex(whole.cell_ids).fillna(0)
        assert np.allclose(q, pd.Series(whole.matrix.T @ x.to_numpy(), index=whole.zone_ids).reindex(q.index), atol=0.51)
    m = json.loads((tmp_path / "period" / "manifest.json").read_text())
    assert m["parameters"]["density"] == "period" and json.loads((tmp_path / "run" / "manifest.json").read_text())["parameters"]["density"] == "run"
    assert m["counts"]["conservation_max_abs_error"] < 1e-6  # every period's figures plus outside are its counts


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


def test_period_weights_group_periods_and_refuse_a_period_they_do_not_hold():
    from scipy import sparse

    from geozones.weights import Weights

    starts = pd.DatetimeIndex(["2026-07-01T10:00", "2026-07-01T11:00", "2026-07-02T10:00"], tz="Europe/Brussels").tz_convert("UTC").as_unit("ns").asi8
    seen = []

    def refine(t):
        seen.append(t.copy())
        return Weights(sparse.csr_array(np.eye(2)), np.array(["a", "b"]), np.array(["z1", "z2"]), np.zeros(2))

    pw = period_weights(refine, starts, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), "1d")
    assert isinstance(pw, PeriodWeights) and len(pw.parts) == 2
    assert np.allclose(seen[0], [4.0, 6.0]) and np.allclose(seen[1], [5.0, 6.0])  # a day's cells' counts, its hours together
    assert pw.group(starts).tolist() == [0, 0, 1]
    assert [idx.tolist() for _, idx in split_by_period(pw, starts[::-1])] == [[1, 2], [0]]
    with pytest.raises(gz.WeightsError, match="no density"):
        pw.group(pd.DatetimeIndex(["2026-07-05"], tz="UTC").as_unit("ns").asi8)


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
    per_day, _, counts, local = oracle(c)
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
