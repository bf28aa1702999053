"""Accuracy: the zone fit indicator, and the simulation with ground truth (geozones.simulate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

import geozones as gz

from .conftest import X0, Y0, metric_gdf


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


# ------------------------------------------------------------------ zone fit
def test_zone_fit_on_hand_made_geometry():
    # cells: c0 = [0,100]², c1 = [100,200]x[0,100], c2 = [0,400]x[100,200] (400 m wide)
    cov = [box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 400, 200)]
    # z0 (an L) holds c0 whole, 3/4 of c1 and 1/8 of c2 (50 of its 400 m): weights 1, 0.75, 0.125
    # z1 holds 1/4 of c1 and 1/4 of c2 (100 m): weights 0.25 and 0.25
    # z2 is reached by no cell
    z0 = shapely.union(box(0, 0, 175, 100), box(0, 100, 50, 200))
    zones = [z0, box(175, 0, 275, 200), box(5000, 5000, 5100, 5100)]
    w = gz.compute_weights(
        metric_gdf(cov, ["c0", "c1", "c2"], "cell_id"), metric_gdf(zones, ["z0", "z1", "z2"], "zone_id"), crs="EPSG:3812"
    )
    np.testing.assert_allclose(w.matrix.toarray(), [[1, 0, 0], [0.75, 0.25, 0], [0.125, 0.25, 0]], atol=1e-12)
    f = gz.zone_fit(w, pd.Series({"z2": 0.01, "z0": 0.02625, "z1": 0.02}))
    assert f.index.tolist() == ["z0", "z1", "z2"]
    assert f["n_cells"].tolist() == [3, 2, 0]
    assert f["cells_inside"].tolist() == [2, 0, 0]
    assert f.loc["z0", "cell_share"] == pytest.approx(1.875, abs=1e-12)
    assert f.loc["z0", "fit"] == pytest.approx(1.75 / 1.875, abs=1e-12)
    assert f.loc["z1", "fit"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(f.loc["z2", "fit"]) and np.isnan(f.loc["z2", "cell_share"])
    assert f["area_km2"].tolist() == pytest.approx([0.02625, 0.02, 0.01])


def test_zone_fit_is_one_when_cells_and_zones_coincide_and_half_is_inside():
    # a cell exactly half in a zone counts as inside (fit = 1): "mostly outside" is strictly more than half
    cov = [box(0, 0, 100, 100), box(100, 0, 200, 100)]
    zones = [box(0, 0, 100, 100), box(100, 0, 150, 100)]
    w = gz.compute_weights(metric_gdf(cov, ["a", "b"], "cell_id"), metric_gdf(zones, ["za", "zb"], "zone_id"), crs="EPSG:3812")
    f = gz.zone_fit(w)
    assert f["fit"].tolist() == pytest.approx([1.0, 1.0])
    assert f["n_cells"].tolist() == [1, 1]
    assert "area_km2" not in f.columns
