"""The audit's checks across zones on groups too large for an SVD (geozones.spatial's sparse
path and geozones.span), checked by an attacker written apart from them."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse.linalg import lsqr

import geozones as gz
from geozones import _progress, spatial
from geozones.span import Span

from .attacker import exposures, follows
from .test_audit import T0, cases, checked, make_table


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.integers(3, 40), st.integers(1, 40))
def test_span_finds_what_follows_as_least_squares_does(seed, n_cols, n_rows):
    """Random sparse rows, some cells planted to follow: the cells Span leaves open and
    solves are exactly those whose indicator lies in the rows' span (dense least squares)."""
    rng = np.random.default_rng(seed)
    a = rng.random((n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.25)
    for c in rng.choice(n_cols, size=min(3, n_cols), replace=False):  # a row of one cell: it follows
        if rng.random() < 0.5:
            a = np.vstack([a, np.eye(1, n_cols, c)[0] * rng.random()])
    truth = follows(a, np.eye(n_cols))  # (the attacker's least squares)
    span = Span(sparse.csr_array(a))
    opened = span.open_units()
    assert opened[truth].all()  # (no certificate is given to a cell that follows)
    ok, beta = span.solve(sparse.identity(n_cols, format="csc"))
    assert (ok & opened).tolist() == truth.tolist()
    assert np.allclose(a.T @ beta[:, truth], np.eye(n_cols)[:, truth], atol=1e-6)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from([None, 0.4]))
def test_nothing_under_k_follows_through_the_sparse_checks(case, rest):
    """tests/test_audit.py's attacker case, with every group taking the sparse path."""
    w, x, origins, factors, mean = case
    with mock.patch.object(spatial, "DENSE_LIMIT", 0):
        t = checked(make_table(w, x, origins, factors, mean), w, 30, rest_share=rest)
    hours = list(range(x.shape[1]))
    assert exposures(t, w, x, hours, origins, factors, 30, mean, estimates=rest is None) == []


def test_a_block_and_a_strip_through_the_sparse_checks():
    """The issue's hand case (a zone = block + strip, the block's squares published) with
    the sparse path: the strip's 10 people no longer follow."""
    w = np.array([[1.0, 0.25, 0.25, 0.25, 0.25], [1.0, 0, 0, 0, 0]])
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    x = np.array([[[400.0]], [[10.0]]])
    with mock.patch.object(spatial, "DENSE_LIMIT", 0):
        t = checked(make_table(w, x, ["10000"], {"10000": 2.5}, False), w, 30)
    assert exposures(t, w, x, [0], ["10000"], {"10000": 2.5}, 30, False) == []
    assert (t["reason"] == gz.privacy.AUDITED).any()


def _chain(n: int, extra: bool):
    """``n`` cells in a row, zone ``z{i}`` holding 0.4 of cells ``i`` and ``i+1`` (one group of
    ``n - 1`` zones): the rows leave an alternating null vector, so no cell follows. Zone
    ``p`` holds 0.2 of cells 10 and 11, and with ``extra`` zone ``r`` 0.2 of cell 10 alone:
    then ``(p - r) / 0.2`` is cell 11 (10 people)."""
    rows, cols, vals = [], [], []
    for i in range(n - 1):
        rows += [i, i + 1]
        cols += [i, i]
        vals += [0.4, 0.4]
    rows += [10, 11]
    cols += [n - 1, n - 1]
    vals += [0.2, 0.2]
    names = [f"z{i}" for i in range(n - 1)] + ["p"]
    if extra:
        rows.append(10)
        cols.append(n)
        vals.append(0.2)
        names.append("r")
    w = sparse.csr_array((vals, (rows, cols)), shape=(n, len(names)))
    x = np.full(n, 100.0)
    x[10], x[11] = 400.0, 10.0
    return w, x, names


def _published_rows(n: int, extra: bool, audit: bool):
    w, x, names = _chain(n, extra)
    y = w.T @ x
    table = pd.DataFrame({"zone_id": names, "period": "1d", "period_start": T0, "origin": "all",
                          "observed": y, "estimate": y * 2.5})
    weights = gz.Weights(w, np.array([f"c{i}" for i in range(n)]), np.array(names), 1.0 - w.sum(axis=1), {"crs": "EPSG:3812"})
    out = gz.disclosure_control(table, 30, weights=weights, audit=audit)
    pub = (out.set_index("zone_id").loc[names, "status"] == "published").to_numpy()
    return w, x, pub


def _recovered(w, x, pub, cell: int) -> float | None:
    """The attacker: cell ``cell`` by least squares over the published zones' rows, or None
    when it does not follow."""
    a = sparse.csr_array(w[:, np.flatnonzero(pub)])  # cells x published zones
    beta = lsqr(a, np.eye(1, w.shape[0], cell)[0], atol=1e-14, btol=1e-14, iter_lim=100_000)[0]
    if np.linalg.norm(a @ beta - np.eye(1, w.shape[0], cell)[0]) > 1e-6:
        return None
    return float(beta @ (a.T @ x))


def test_a_cell_under_k_in_a_national_sized_group_is_closed():
    """4,100 cells in one group (above DENSE_LIMIT, so the sparse path at default flags):
    without the audit the attacker recovers cell 11's 10 people from two published zones;
    with it, nothing under k follows."""
    n = spatial.DENSE_LIMIT + 100
    w, x, pub = _published_rows(n, True, audit=False)
    assert pub.all()
    got = _recovered(w, x, pub, 11)
    assert got is not None and abs(got - 10.0) < 1e-3
    w, x, pub = _published_rows(n, True, audit=True)
    assert not pub.all()
    got = _recovered(w, x, pub, 11)
    assert got is None or got >= 30


def test_many_targets_are_decided_as_least_squares_decides_them():
    """More targets than one solve takes (the national case's cells): with a null space
    too large for the probes to span (solved a few hundred at a time) and one small enough
    (decided by the probes, worth from one solve per slice), the targets that follow are
    the attacker's, and the coefficients and worth kept for those under k reproduce them."""
    rng = np.random.default_rng(3)
    n = 600
    for n_rows in (200, 700):  # null space of about 400 dimensions; then of none
        a = rng.random((n_rows, n)) * (rng.random((n_rows, n)) < 0.01)
        rows = rng.choice(n_rows, 60, replace=False)
        a[rows] = 0.0
        a[rows, rng.choice(n, 60, replace=False)] = 1.0  # (60 cells follow at least)
        x = rng.integers(0, 60, n).astype(float)
        x[x == 30] = 31  # (none at k itself, where rounding decides)
        y = (a @ x)[:, None]
        span = Span(sparse.csr_array(a))
        t = sparse.identity(n, format="csc")
        ok, coef = spatial._solved(span, t, y, n, np.zeros(n, bool), 30.0)
        truth = follows(a, np.eye(n))
        assert ok.tolist() == truth.tolist()
        under = truth & (x > 1e-6) & (x < 30)
        assert sorted(coef) == np.flatnonzero(under).tolist() and under.sum() > 5
        for i, (b, worth) in coef.items():
            assert np.allclose(a.T @ b, np.eye(1, n, i)[0], atol=1e-6) and abs(b @ y[:, 0] - x[i]) < 1e-6
            assert abs(worth[0] - x[i]) < 1e-6


@pytest.mark.parametrize("dense_limit", [spatial.DENSE_LIMIT, 0])
def test_a_fine_grid_over_few_cells_is_closed_in_a_few_rounds(caplog, dense_limit):
    """More zones than cells, with smooth weights (footprints): every recovery can do
    without any one figure, so hiding one figure per exposure closed one exposure a
    round, and Milan's 10,000 squares over 1,650 cells did not converge (200 rounds of
    minutes). A cut (every figure on one cell of the target) closes each for certain:
    the audit ends in a few rounds, and the attacker finds nothing under k. The same on
    the sparse path (``dense_limit`` 0: a national grid), which took 40 rounds before
    it cut too."""
    rng = np.random.default_rng(5)
    n_c, n_z = 8, 48
    cells_at = (np.arange(n_c) + 0.5) * 10 / n_c + rng.normal(0, 0.2, n_c)
    zones_at = (np.arange(n_z) + 0.5) * 10 / n_z
    w = np.clip(1 - ((cells_at[:, None] - zones_at[None, :]) / 2.5) ** 2, 0, None) ** 2
    w = w / w.sum(axis=1, keepdims=True)  # (each cell's people spread over the zones near it)
    x = rng.integers(2000, 5000, (n_c, 2, 1)).astype(float)
    x[2] = [[9.0], [12.0]]  # (a cell under k)
    with caplog.at_level("INFO", logger="geozones"), mock.patch.object(spatial, "DENSE_LIMIT", dense_limit):
        t = checked(make_table(w, x, ["10000"], {"10000": 2.5}, False), w, 30)
    rounds = [int(m.split(" rounds")[0].rsplit(" ", 1)[1]) for m in caplog.messages if "more figures suppressed in" in m]
    assert rounds and rounds[-1] <= 4, caplog.messages
    assert (t["status"] == "published").sum() > 0
    assert exposures(t, w, x, [0, 1], ["10000"], {"10000": 2.5}, 30, False) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_nothing_under_k_follows_when_the_dense_checks_take_pairs_a_few_at_a_time(case):
    """The dense checks take pairs of cells a slice at a time (an operator's municipalities
    over a national plan: 700,000 pairs, whose arrays at once passed 6 GB). One pair at a
    time, the attacker of tests/test_audit.py still finds nothing."""
    w, x, origins, factors, mean = case
    with mock.patch.object(spatial, "PAIR_ENTRIES", 1):
        t = checked(make_table(w, x, origins, factors, mean), w, 30)
    hours = list(range(x.shape[1]))
    assert exposures(t, w, x, hours, origins, factors, 30, mean, estimates=True) == []


def test_a_long_group_check_says_how_far_it_is(caplog):
    """An operator's national run was silent for 15 minutes inside the audit's checks of
    one group of zones; each path now notes how many sets of published zones it has done."""
    rng = np.random.default_rng(3)
    w = rng.random((12, 5)) * (rng.random((12, 5)) < 0.5)
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    x = rng.integers(5, 200, (12, 3, 1)).astype(float)
    for limit in (spatial.DENSE_LIMIT, 0):
        caplog.clear()
        with caplog.at_level("INFO", logger="geozones"), mock.patch.object(_progress, "HEARTBEAT_S", -1.0), \
                mock.patch.object(spatial, "DENSE_LIMIT", limit):
            checked(make_table(w, x, ["10000"], {"10000": 2.5}, False), w, 30)
        assert any("sets of published zones checked in a group of" in m for m in caplog.messages), (limit, caplog.messages)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 14), st.integers(1, 14), st.floats(0.0, 0.5))
def test_groups_of_zones_sharing_cells_are_the_components_of_the_zones_own_graph(seed, n_cells, n_zones, density):
    """The audit's groups of zones come from the graph of cells and zones (an edge per weight):
    the zones' own graph W'W took half of a city grid's audit to build at every round. Same
    groups, numbered alike (by their first zone), a zone that no cell reaches alone."""
    from geozones.spatial import zone_groups

    rng = np.random.default_rng(seed)
    w = sparse.csc_array((rng.uniform(size=(n_cells, n_zones)) < density) * rng.uniform(0.01, 1.0, (n_cells, n_zones)))
    n, groups = zone_groups(w)
    n_want, want = sparse.csgraph.connected_components((w.T @ w) != 0, directed=False)
    assert n == n_want and groups.tolist() == want.tolist()
