"""Earlier runs over the same counts (``--earlier``): a run's figures and an earlier run's
together reveal nobody under k (issue 17: the attacker holds earlier runs' outputs too)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import geozones as gz

from .conftest import run_cli
from .test_cellkey import _differences, _strip_zones
from .test_stream import write_parquet


def _run(small_case, zones, out, *extra):
    c = small_case
    counts = c.get("parquet", c["counts"])
    r = run_cli("-q", "apportion", "--zones", zones, "--cells", c["cells"], "--counts", counts, "--out", out, "--heat-grid", "0",
                "--market-share", c["shares"], "--period", "1h", *extra)
    assert r.returncode == 0, r.stderr
    return pd.read_csv(out / "zone_counts.csv", dtype={"origin": str})


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_a_later_run_with_its_earlier_one_reveals_no_strip(small_case, tmp_path, engine):
    """Run 1 publishes 'west'; run 2, over the same counts, 'west and a strip'. Alone,
    their difference gives the strip's people for every origin and hour (asserted, so the
    test can fail); with --earlier run 2 audits itself with run 1's published figures
    (locked: they are out) and hides its own, so no difference of published figures is a
    group under k."""
    if engine == "stream":  # (Parquet counts: the stream engine, figures published from arrays)
        counts = gz.read_counts(small_case["counts"])
        small_case = small_case | {"parquet": write_parquet(counts.assign(count=counts["count"].astype("int64")), tmp_path / "c.parquet")}
    one, two = _strip_zones(small_case, tmp_path)
    first = _run(small_case, one, tmp_path / "r1")
    alone = _differences(first, _run(small_case, two, tmp_path / "r2"))
    assert len(alone) >= 40 and ((alone > 0) & (alone < 30)).all()
    second = _run(small_case, two, tmp_path / "r2e", "--earlier", tmp_path / "r1")
    diff = _differences(first, second)
    assert ((diff >= 30) | (diff.abs() < 0.5)).all(), diff[(diff < 30) & (diff.abs() >= 0.5)]
    assert set(second["zone_id"]) == {"west_plus"}  # (the earlier zone is audited, never written again)
    m = json.loads((tmp_path / "r2e" / "manifest.json").read_text())
    assert m["disclosure_control"]["earlier_runs"] == [str(tmp_path / "r1")]
    assert all("earlier" not in z for item in m["disclosure_control"]["nested_zones"] for z in item)


def test_the_same_zones_again_keep_what_was_published(small_case, tmp_path):
    """The same zone set run again with --earlier: every figure published before is
    published again (it is out), with the same value."""
    c = small_case
    first = _run(small_case, c["zones"], tmp_path / "a")
    again = _run(small_case, c["zones"], tmp_path / "b", "--earlier", tmp_path / "a")
    pd.testing.assert_frame_equal(first, again)


def test_an_earlier_run_over_other_counts_is_refused(small_case, tmp_path):
    c = small_case
    _run(small_case, c["zones"], tmp_path / "a")
    other = tmp_path / "other.csv"
    other.write_text(c["counts"].read_text().replace(",200,", ",201,"))
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", other, "--out", tmp_path / "b",
                "--period", "1h", "--earlier", tmp_path / "a")
    assert r.returncode != 0 and "other counts" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "b",
                "--earlier", tmp_path / "a")
    assert r.returncode != 0 and "period" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "b",
                "--earlier", tmp_path)
    assert r.returncode != 0 and "not the output folder" in r.stderr
    # another origin level: refused, saying why (a province less its municipalities: docs/privacy.md)
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "b",
                "--period", "1h", "--market-share", c["shares"], "--origin-level", "municipality", "--earlier", tmp_path / "a")
    assert r.returncode != 0 and "origin_level" in r.stderr and "publish one origin level" in r.stderr, r.stderr


def test_with_noise_the_earlier_run_must_share_the_secret(small_case, tmp_path):
    """Under --protection perturb the same figure reads the same in both runs only under one
    secret (two secrets: two noisy readings to average); the runs are audited together then,
    and another secret is refused."""
    one, two = _strip_zones(small_case, tmp_path)
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    s1.write_text("1" * 64)
    s2.write_text("2" * 64)
    noisy = ("--protection", "perturb", "--secret-file")
    first = _run(small_case, one, tmp_path / "r1", *noisy, s1)
    second = _run(small_case, two, tmp_path / "r2", *noisy, s1, "--earlier", tmp_path / "r1")
    diff = _differences(first, second)
    assert ((diff >= 30 - 2 * 5 - 1) | (diff.abs() <= 2 * 5 + 1)).all()
    c = small_case
    r = run_cli("-q", "apportion", "--zones", two, "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "r3", "--period", "1h",
                "--market-share", c["shares"], *noisy, s2, "--earlier", tmp_path / "r1")
    assert r.returncode != 0 and "another secret" in r.stderr


def test_a_period_whose_targets_nothing_bounds_gives_no_culprit_and_nothing_left():
    """The programme across origins on a period where no published figure holds a hidden
    one's counts (so it has no target): no culprit and no target left, with or without
    locked figures (the same answer shape either way)."""
    import numpy as np
    from scipy import sparse

    from geozones import crossorigin

    from .test_audit import origin_table

    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    t, _ = origin_table(w, np.array([[10.0, 40.0], [5.0, 3.0]]), ["resident", "BE"])
    lab = pd.factorize(t["origin"])[0]
    zone = pd.factorize(t["zone_id"])[0]
    obs = t["observed"].to_numpy()
    sup = np.ones(len(t), bool)  # (nothing published: every hidden figure is unbounded)
    crossorigin._hold([sparse.csc_array(w)], int(list(pd.unique(t["origin"])).index("all")))
    for locked in (None, np.zeros(len(t), bool)):
        culprits, left = crossorigin.period_culprits(zone, lab, obs, sup, 30.0, None, 0.5, locked)
        assert len(culprits) == 0 and left == 0
