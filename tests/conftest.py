"""Shared fixtures: paths to the bundled and shared data, and small geometry builders."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

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
