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
    assert r.returncode != 0 and "was not over these counts" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "b",
                "--earlier", tmp_path / "a")
    assert r.returncode != 0 and "period" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "b",
                "--earlier", tmp_path)
    assert r.returncode != 0 and "not the output folder" in r.stderr


def test_an_earlier_run_started_elsewhere_is_found_and_an_edited_zone_file_is_named(small_case, tmp_path):
    """A GIS probe: an earlier run made with relative paths, named from another folder, was
    refused as "gone or has changed" (the manifest's paths were relative to where it ran);
    a zone file edited in place is refused naming what to restore."""
    import shutil

    c = small_case
    project = tmp_path / "project"
    (project / "zones").mkdir(parents=True)
    shutil.copy(c["zones"], project / "zones" / "zones.geojson")
    args = ("-q", "apportion", "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0", "--period", "1h")
    r = run_cli(*args, "--zones", "zones", "--out", "q1", cwd=project)
    assert r.returncode == 0, r.stderr
    r = run_cli(*args, "--zones", project / "zones", "--out", tmp_path / "again", "--earlier", "project/q1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    edited = (project / "zones" / "zones.geojson").read_text().replace("West", "Westen")
    (project / "zones" / "zones.geojson").write_text(edited)
    r = run_cli(*args, "--zones", project / "zones", "--out", tmp_path / "third", "--earlier", project / "q1", cwd=tmp_path)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "has changed since" in r.stderr and "restore that file (SHA-256" in r.stderr, r.stderr


def test_a_run_over_counts_that_include_the_earlier_runs_is_audited_with_it(small_case, tmp_path):
    """A GIS probe: a half year over a quarter already published with other zones was
    refused by --earlier ("read other counts"), and without it the two gave 255 groups
    under k by subtraction. Counts that include the earlier run's, over whole summary
    periods, are taken: every figure the earlier run published is one this run computes,
    checked to the rounding. Day 1 published with 'west'; days 1 and 2 with 'west and a
    strip': no difference of day 1's figures is a group under k."""
    c = small_case
    one, two = _strip_zones(small_case, tmp_path)
    rows = c["counts"].read_text().splitlines()
    later = tmp_path / "two_days.csv"
    def doubled(r):  # (day 2: twice day 1's counts)
        cell, start, period, count, origin = r.split(",")
        return ",".join([cell, start.replace("2026-07-01", "2026-07-02"), period, str(2 * int(count)), origin])

    later.write_text("\n".join(rows + [doubled(r) for r in rows[1:]]) + "\n")
    args = ("--model", "voronoi", "--summary-period", "1d")
    first = _run(small_case, one, tmp_path / "r1", *args)
    r = run_cli("-q", "apportion", "--zones", two, "--cells", c["cells"], "--counts", later, "--out", tmp_path / "alone", "--heat-grid",
                "0", "--market-share", c["shares"], "--period", "1h", *args)
    assert r.returncode == 0, r.stderr
    alone = _differences(first, pd.read_csv(tmp_path / "alone" / "zone_counts.csv", dtype={"origin": str}))
    assert len(alone) >= 40 and ((alone > 0) & (alone < 30)).all()  # (the strip, by subtraction: the test can fail)
    r = run_cli("-q", "apportion", "--zones", two, "--cells", c["cells"], "--counts", later, "--out", tmp_path / "r2", "--heat-grid",
                "0", "--market-share", c["shares"], "--period", "1h", *args, "--earlier", tmp_path / "r1")
    assert r.returncode == 0, r.stderr
    second = pd.read_csv(tmp_path / "r2" / "zone_counts.csv", dtype={"origin": str})
    assert set(second["zone_id"]) == {"west_plus"} and second["period_start"].str.startswith("2026-07-02").any()
    diff = _differences(first, second)
    assert ((diff >= 30) | (diff.abs() < 0.5)).all(), diff[(diff < 30) & (diff.abs() >= 0.5)]
    # a quarter of one day against a quarter of two: the earlier quarter is not this run's, refused
    _run(small_case, one, tmp_path / "q1", "--model", "voronoi")
    r = run_cli("-q", "apportion", "--zones", two, "--cells", c["cells"], "--counts", later, "--out", tmp_path / "r3", "--heat-grid",
                "0", "--market-share", c["shares"], "--period", "1h", "--model", "voronoi", "--earlier", tmp_path / "q1")
    assert r.returncode != 0 and "was not over these counts" in r.stderr, r.stderr


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


@pytest.mark.parametrize(("key", "first", "then"), [("k", ["--k", "30"], ["--k", "10"]),
                                                    ("stat", ["--stat", "mean"], ["--stat", "max"]),
                                                    ("period", ["--period", "1h"], ["--period", "1d"]),
                                                    ("periods", ["--summary-period", "1q"], ["--summary-period", "none"]),
                                                    ("model", ["--model", "footprint"], ["--model", "voronoi"]),
                                                    ("unknown_cells", ["--unknown-cells", "error"], ["--unknown-cells", "drop"])])
def test_an_earlier_run_with_other_settings_is_refused(small_case, tmp_path, key, first, then):
    """Runs are audited together only under the same settings: an earlier run at k = 30 and
    this one at k = 10 would let differences of 10 to 29 people through, breaking the
    earlier run's promise (a mutation probe dropped k from the settings compared, and no
    test noticed). One line, naming the setting and both values; nothing written."""
    one, two = _strip_zones(small_case, tmp_path)
    _run(small_case, one, tmp_path / "r1", *first)
    c = small_case
    r = run_cli("-q", "apportion", "--zones", two, "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "r2", "--heat-grid", "0",
                "--market-share", c["shares"], "--period", "1h", *then, "--earlier", tmp_path / "r1")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"the earlier run had {key} = " in r.stderr and not (tmp_path / "r2").exists(), r.stderr


@pytest.mark.parametrize("level", ["country", "municipality"])
def test_an_earlier_run_of_other_zones_at_another_origin_level_is_audited_with_this_one(small_case, tmp_path, level):
    """Other zones and another --origin-level together (each alone worked) ended in an
    internal error (a probe's: the mask of the earlier level's figures was pandas'
    read-only array, then or-ed in place with the earlier zones')."""
    one, two = _strip_zones(small_case, tmp_path)
    first = _run(small_case, one, tmp_path / "r1b")
    second = _run(small_case, two, tmp_path / "r2", "--origin-level", level, "--earlier", tmp_path / "r1b")
    diff = _differences(first, second)  # (the origins both levels name: 'all', countries)
    assert ((diff >= 30) | (diff.abs() < 0.5)).all(), diff[(diff < 30) & (diff.abs() >= 0.5)]
    assert set(second["zone_id"]) == {"west_plus"} and json.loads((tmp_path / "r2" / "manifest.json").read_text())["parameters"]["origin_level"] == level


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


_PROVINCE = {"34022": "30000", "34027": "30000", "34041": "30000", "30000": "30000", "44021": "40000", "44083": "40000", "24062": "20001",
             "FR": "FR"}


def _levels_case(tmp_path):
    """Twelve cells on a grid, four zones (one small), three days of counts over eight
    origins: municipalities of three provinces (some few in every zone), people known by
    their province only (``30000``: at the municipality level an origin of its own, at
    the province level part of West Flanders) and France."""
    import geopandas as gpd
    import numpy as np
    import pyproj
    import shapely

    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    x0, y0 = 668_000.0, 667_000.0
    boxes = {"a": (0, 0, 1800, 2000), "b": (1800, 0, 3600, 2000), "c": (900, 1200, 2700, 3000), "tiny": (2900, 2200, 3300, 2600)}
    zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes)},
                             geometry=[shapely.box(x0 + a, y0 + b, x0 + c, y0 + d) for a, b, c, d in boxes.values()], crs=3812).to_crs(4326)
    gz.write_zones(zones, tmp_path / "zones.geojson")
    lines = ["cell_id,site_id,lon,lat,azimuth,beamwidth,range_m"]
    for i in range(12):
        lon, lat = to_ll.transform(x0 + 450 + 900 * (i % 4), y0 + 500 + 1000 * (i // 4))
        lines.append(f"C{i},S{i},{lon},{lat},,,900")
    (tmp_path / "cells.csv").write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(7)
    base = {"34022": 120, "34027": 50, "34041": 6, "30000": 4, "44021": 30, "44083": 5, "24062": 12, "208": 9}
    rows = ["cell_id,period_start,period,count,origin"]
    for d in range(3):
        for i in range(12):
            for o, m in base.items():
                rows.append(f"C{i},2026-07-0{d + 1}T00:00,1d,{int(rng.poisson(m * rng.uniform(0.3, 1.7)))},{o}")
    (tmp_path / "counts.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def _level_run(case, out, level, *extra):
    r = run_cli("-q", "apportion", "--zones", case / "zones.geojson", "--cells", case / "cells.csv", "--counts", case / "counts.csv",
                "--out", out, "--model", "voronoi", "--period", "1d", "--heat-grid", "0", "--origin-level", level, *extra)
    assert r.returncode == 0, r.stderr
    return out


def _attack_levels(case, runs, k=30.0):
    """The attacker over every run's published figures at once (the weights are public: each
    run's weights.parquet; counts are not negative): each hidden figure of a run whose
    truth is under k (above none), and the largest value the published figures leave it.
    Unknowns: the people of each cell, day and municipality-level origin; a province figure
    is a row over its municipalities, 'all' over every origin, the quarter the days' mean.
    """
    from .attacker import attack_days

    tables = [(out.name, pd.read_csv(out / "zone_counts.csv", dtype={"origin": str}),
               json.loads((out / "manifest.json").read_text())["parameters"]["origin_level"]) for out in runs]
    return attack_days(gz.read_counts(case / "counts.csv"), pd.read_parquet(runs[0] / "weights.parquet"), tables, sorted(_PROVINCE),
                       lambda origin, m, level: origin == (m if level == "municipality" else _PROVINCE[m]), k)


def test_runs_at_two_origin_levels_reveal_nobody_when_the_later_one_names_the_earlier(tmp_path):
    """A municipality run and a province run over the same counts: alone, a province less
    its published municipalities (and 'all' less the rest) bounds hidden figures under k,
    asserted so that the test can fail; with --earlier, in either order, the later run
    audits the other level's figures as sums of its own and nothing under k is bounded
    under k by everything both runs publish."""
    case = _levels_case(tmp_path)
    muni = _level_run(case, tmp_path / "muni", "municipality")
    prov = _level_run(case, tmp_path / "prov", "province")
    alone = [h for h in _attack_levels(case, [muni, prov]) if h[-1] < 30 - 1e-6]
    assert alone, "the two runs alone should leak (else this test cannot fail)"
    for first, later, level in ((muni, "prov_e", "province"), (prov, "muni_e", "municipality")):
        second = _level_run(case, tmp_path / later, level, "--earlier", first)
        found = [h[:5] + (h[-1],) for h in _attack_levels(case, [first, second]) if h[-1] < 30 - 1e-6]
        assert not found, found
        t = pd.read_csv(second / "zone_counts.csv", dtype={"origin": str})
        own = set(pd.read_csv((prov if level == "province" else muni) / "zone_counts.csv", dtype={"origin": str})["origin"])
        assert set(t["origin"]) == own  # (the other level's figures are audited, never written)


def test_origin_levels_audited_together_are_refused_where_they_cannot_be(tmp_path):
    case = _levels_case(tmp_path)
    _level_run(case, tmp_path / "muni", "municipality")
    _level_run(case, tmp_path / "prov", "province")
    base = ("-q", "apportion", "--zones", case / "zones.geojson", "--cells", case / "cells.csv", "--counts", case / "counts.csv",
            "--model", "voronoi", "--period", "1d", "--heat-grid", "0")
    r = run_cli(*base, "--out", tmp_path / "x", "--origin-level", "country", "--earlier", tmp_path / "muni", "--earlier", tmp_path / "prov")
    assert r.returncode != 0 and "at most two levels" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli(*base, "--out", tmp_path / "x", "--origin-level", "province", "--engine", "stream", "--earlier", tmp_path / "muni")
    assert r.returncode != 0 and "memory engine" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli(*base, "--out", tmp_path / "x", "--origin-level", "province", "--stat", "max", "--earlier", tmp_path / "muni")
    assert r.returncode != 0 and "maxima at two origin levels" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x").exists()
    # Parquet counts go to the stream engine by default: the memory engine instead, said with its budget
    from .test_stream import write_parquet

    pq = write_parquet(gz.read_counts(case / "counts.csv"), tmp_path / "counts.parquet")
    flags = ("--cells", case / "cells.csv", "--counts", pq, "--model", "voronoi", "--period", "1d", "--heat-grid", "0")
    assert run_cli("-q", "apportion", "--zones", case / "zones.geojson", *flags, "--out", tmp_path / "pm", "--origin-level", "municipality").returncode == 0
    r = run_cli("apportion", "--zones", case / "zones.geojson", *flags, "--out", tmp_path / "pp", "--origin-level", "province",
                "--earlier", tmp_path / "pm")
    assert r.returncode == 0 and "--memory-budget does not bound it" in r.stderr, r.stderr


def test_zones_of_the_same_shape_in_a_run_named_earlier(small_case, tmp_path):
    """Two zones of one shape (a centre drawn as one of the neighbourhoods, as in the demo):
    the run again with --earlier matches each earlier zone to its own id (this was an
    internal error) and publishes the same table."""
    import geopandas as gpd

    z = gpd.read_file(small_case["zones"])
    twin = z.iloc[[0]].assign(zone_id="west_again", name="West again")
    path = tmp_path / "twins.geojson"
    gz.write_zones(pd.concat([z, twin], ignore_index=True), path)
    first = _run(small_case, path, tmp_path / "a")
    again = _run(small_case, path, tmp_path / "b", "--earlier", tmp_path / "a")
    pd.testing.assert_frame_equal(first, again)


def test_an_earlier_run_whose_zone_had_another_home_is_refused_naming_it(small_case, tmp_path):
    """The same shapes with another 'municipality' on one zone: its residents and visitors are
    other people, so the figures differ; the refusal names the zone and both homes (it blamed
    the counts)."""
    import geopandas as gpd

    z = gpd.read_file(small_case["zones"])
    other = tmp_path / "other_home.geojson"
    gz.write_zones(z.assign(municipality=["34022", "34013"]), other)
    _run(small_case, small_case["zones"], tmp_path / "a")
    c = small_case
    r = run_cli("-q", "apportion", "--zones", other, "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "b",
                "--heat-grid", "0", "--market-share", c["shares"], "--period", "1h", "--earlier", tmp_path / "a")
    assert r.returncode != 0 and "'east': home municipality 34013 here, 34022 in the earlier run" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("-q", "apportion", "--zones", other, "--cells", c["cells"], "--counts", c["counts"], "--out", tmp_path / "b",
                "--heat-grid", "0", "--market-share", c["shares"], "--period", "1h", "--no-residents", "--earlier", tmp_path / "a")
    assert r.returncode != 0 and "residents_separated" in r.stderr  # (without residents the homes do not matter: the setting does)
