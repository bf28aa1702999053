"""Shared fixtures: paths to the bundled and shared data, and small geometry builders."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from pathlib import Path

import click
import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

import geozones as gz

from .browser import browser  # noqa: F401 - the headless Chromium fixture of the browser tests

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GEOZONES_SHARED", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A file in ../shared/data; the test is skipped (loudly) only when shared/ is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found: {p}")
    return p


@pytest.fixture
def to_ll():
    """Transform EPSG:3812 metres to lon/lat: build shapes in metres, store them as GeoJSON does."""
    t = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    return lambda geom: shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def metric_gdf(geoms, ids, key: str, crs: str = "EPSG:3812") -> gpd.GeoDataFrame:
    """A GeoDataFrame of metric geometries with an id column."""
    return gpd.GeoDataFrame({key: ids}, geometry=list(geoms), crs=crs)


# Somewhere in Kortrijk, in Belgian Lambert 2008 metres.
X0, Y0 = 668_000.0, 667_000.0


@pytest.fixture
def small_case(tmp_path):
    """Two square zones side by side, two omnidirectional cells, hourly counts."""
    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    x0, y0 = 668_000.0, 667_000.0

    def ll(geom):
        return shapely.transform(geom, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))

    zones = gpd.GeoDataFrame(
        {"zone_id": ["west", "east"], "name": ["West <b>side</b>", "East"], "municipality": ["34022", "34022"]},
        geometry=[ll(shapely.box(x0 - 2000, y0 - 2000, x0, y0 + 2000)), ll(shapely.box(x0, y0 - 2000, x0 + 2000, y0 + 2000))],
        crs="EPSG:4326",
    )
    zpath = tmp_path / "zones.geojson"
    gz.write_zones(zones, zpath)
    # cell A sits on the border (half in each zone), cell B in the east zone
    (ax, ay), (bx, by) = to_ll.transform(x0, y0), to_ll.transform(x0 + 1000, y0)
    cells = tmp_path / "cells.csv"
    cells.write_text(f"cell_id,site_id,lon,lat,azimuth,beamwidth,range_m\nA,S1,{ax},{ay},,,500\nB,S2,{bx},{by},,,500\n")
    rows = ["cell_id,period_start,period,count,origin"]
    for h in range(24):
        rows.append(f"A,2026-07-01T{h:02d}:00,1h,200,30000")
        rows.append(f"A,2026-07-01T{h:02d}:00,1h,80,208")
        rows.append(f"B,2026-07-01T{h:02d}:00,1h,100,34022")
        rows.append(f"B,2026-07-01T{h:02d}:00,1h,60,10000")
    counts = tmp_path / "counts.csv"
    counts.write_text("\n".join(rows) + "\n")
    shares = tmp_path / "shares.csv"
    shares.write_text("origin,share\n30000,0.4\nFR,0.25\n*,0.5\n")
    return {"zones": zpath, "cells": cells, "counts": counts, "shares": shares, "tmp": tmp_path}


# ------------------------------------------------------------------ the command line
@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _entry(args: tuple[str, ...]) -> None:
    """``geozones ARGS`` through the console script's entry point, with its exit codes."""
    from geozones.cli import main

    main(list(args))


@contextlib.contextmanager
def _logger_kept():
    """Give the ``geozones`` logger back as it was: the CLI sets its handler, level and
    propagation, and a test after it that reads the log through caplog would see nothing."""
    logger = logging.getLogger("geozones")
    handlers, propagate, level = logger.handlers[:], logger.propagate, logger.level
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def _each_test_keeps_the_logger():
    """Every test, whatever it calls (``main`` directly too), leaves the logger as it found it."""
    with _logger_kept():
        yield


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """Run ``geozones ARGS`` in this process with click's ``CliRunner`` (stdout and stderr
    apart), in ``cwd`` if given: the exit code, stdout and stderr a process would give.
    An exception the command line lets through is raised here, with its traceback."""
    from click.testing import CliRunner

    argv = [str(a) for a in args]
    with _logger_kept(), contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(_entry, argv, catch_exceptions=False)
    return subprocess.CompletedProcess(["geozones", *argv], result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli():
    """The command line in this process (:func:`run_cli`)."""
    return run_cli


def pytest_sessionfinish(session, exitstatus):
    """Under CI=true a skipped test fails the run: a skip is not a pass (the chromium
    and shared data that tests need are CI's to install)."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped under CI=true: failing the run (see the skip summary above)", red=True)
        session.exitstatus = 1
