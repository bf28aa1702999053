"""``benchmarks/attack_run.py``, the attacker over a whole run's published files, can fail:
on a run whose audit is switched off it recovers a cell of 10 people, and a suppressed zone
figure of them, from two zones that are not nested (one reaches beyond the other into land
no cell covers), by an SVD and by LSQR; on the same run with the audit (default flags) it
finds nothing under k.
"""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import geozones as gz

from .conftest import ROOT, X0, Y0

# the run through the CLI with geozones.audit.audit replaced by "suppress nothing more"
NO_AUDIT = (
    "import sys, numpy as np\n"
    "import geozones.audit as au\n"
    "au.audit = lambda a, sup, k, *r, **kw: (np.asarray(sup, bool).copy(), {'suppressed': 0, 'rounds': 0, 'exposures': {}})\n"
    "from geozones.cli import main\n"
    "sys.exit(main())\n"
)


@pytest.fixture
def leaky_case(tmp_path):
    t = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)

    def ll(g):
        return shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))

    # three omnidirectional cells 3 km apart, 500 m coverage each: disjoint discs
    sites = [(X0, Y0), (X0 + 3000, Y0), (X0 + 6000, Y0)]
    rows = ["cell_id,site_id,lon,lat,azimuth,beamwidth,range_m"]
    for i, (x, y) in enumerate(sites):
        lon, lat = t.transform(x, y)
        rows.append(f"c{i},s{i},{lon},{lat},,,500")
    (tmp_path / "cells.csv").write_text("\n".join(rows) + "\n")
    # A holds all three discs; B the first two and a strip south of A where no cell reaches
    a = shapely.box(X0 - 1000, Y0 - 1000, X0 + 7000, Y0 + 1000)
    b = shapely.box(X0 - 1000, Y0 - 3000, X0 + 4000, Y0 + 1000)
    # C: the third disc alone (under k: suppressed), reaching north beyond A
    c = shapely.box(X0 + 5400, Y0 - 700, X0 + 6600, Y0 + 1500)
    zones = gpd.GeoDataFrame({"zone_id": ["A", "B", "C"], "name": ["A", "B", "C"]}, geometry=[ll(a), ll(b), ll(c)], crs="EPSG:4326")
    gz.write_zones(zones, tmp_path / "zones.geojson")
    counts = ["cell_id,period_start,period,count,origin"]
    for h in range(24):
        for c, n in (("c0", 400), ("c1", 400), ("c2", 10)):
            counts.append(f"{c},2026-07-01T{h:02d}:00:00+02:00,1h,{n},30000")
    (tmp_path / "counts.csv").write_text("\n".join(counts) + "\n")
    return tmp_path


def _run(case, out, audit: bool):
    args = [
        "-q",
        "apportion",
        "--zones",
        str(case / "zones.geojson"),
        "--cells",
        str(case / "cells.csv"),
        "--counts",
        str(case / "counts.csv"),
        "--model",
        "voronoi",
        "--kind",
        "presence",
        "--k",
        "30",
        "--period",
        "1d",
        "--no-map",
        "--out",
        str(out),
    ]
    cmd = [sys.executable, "-m", "geozones", *args] if audit else [sys.executable, "-c", NO_AUDIT, *args]
    subprocess.run(cmd, check=True, cwd=case)


def _attack(case, out, *extra):
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "attack_run.py"), str(out), "--counts", str(case / "counts.csv"), *extra], capture_output=True, text=True
    )


def test_the_run_attacker_finds_a_cell_the_audit_would_hide(leaky_case):
    _run(leaky_case, leaky_case / "bare", audit=False)
    got = _attack(leaky_case, leaky_case / "bare")
    assert got.returncode == 1, got.stdout + got.stderr
    # the cell and zone C's suppressed figure, each at 1d and 1q, for its origin and all
    assert "('cell', ['c2']" in got.stdout and "('suppressed figure', ['C']" in got.stdout, got.stdout
    assert "exposed (bound under k = 30): 8" in got.stdout, got.stdout
    got = _attack(leaky_case, leaky_case / "bare", "--dense", "0")  # the LSQR path of large components
    assert got.returncode == 1 and "(0 solves in SVD components, 8 by LSQR)" in got.stdout, got.stdout + got.stderr
    got = _attack(leaky_case, leaky_case / "bare", "--bounds", "10")  # C's figures bounded by A and B: 10 +- 1
    assert "4 bounded under k = 30" in got.stdout, got.stdout + got.stderr
    _run(leaky_case, leaky_case / "audited", audit=True)
    # one of A and B is enough to hide: B, with fewer people (both, before stop 37: two exposures
    # from the same two zones each closed one, the second after the first had closed it)
    t = pd.read_parquet(leaky_case / "audited" / "zone_counts.parquet")
    assert sorted(t.loc[t.status == "published", "zone_id"].astype(str).unique()) == ["A"]
    got = _attack(leaky_case, leaky_case / "audited")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "exposed (bound under k = 30): 0" in got.stdout
    got = _attack(leaky_case, leaky_case / "audited", "--bounds", "10")  # C under A alone: at most 810.5
    assert got.returncode == 0 and "0 bounded under k = 30 (the lowest bound 810.5" in got.stdout, got.stdout + got.stderr


def test_the_run_attacker_reads_a_provinces_estimate_made_of_municipalities_with_their_own_shares(leaky_case, tmp_path):
    """A probe's run with shares per municipality at --origin-level province: the attacker
    looked each published origin's factor up by its code ('40000', not in the manifest) and
    stopped ("estimates not made from published figures alone"); each such estimate was
    also an equation of its own. Now the province takes one pooled share, which the manifest
    gives, and every published estimate follows from published figures."""
    rows = ["cell_id,period_start,period,count,origin"]
    for h in range(24):
        for c, gent, evergem in (("c0", 300, 100), ("c1", 150, 250), ("c2", 10, 5)):
            rows += [f"{c},2026-07-01T{h:02d}:00:00+02:00,1h,{gent},44021", f"{c},2026-07-01T{h:02d}:00:00+02:00,1h,{evergem},44019"]
    (leaky_case / "counts.csv").write_text("\n".join(rows) + "\n")
    (leaky_case / "shares.csv").write_text("origin,share\n44021,0.5\n44019,0.2\n*,0.3\n")
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "geozones", "-q", "apportion", "--zones", "zones.geojson", "--cells", "cells.csv", "--counts", "counts.csv",
                    "--model", "voronoi", "--period", "1d", "--no-map", "--market-share", "shares.csv", "--out", str(out)], check=True, cwd=leaky_case)
    r = _attack(leaky_case, out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "estimates not made from published figures alone (within their rounding): 0" in r.stdout, r.stdout
