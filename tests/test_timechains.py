"""The programme over a longer period and its shorter ones at once (geozones.timechains):
chains through one cell's counts over several periods, checked by the attacker of
tests/attacker.py over every period and origin at once."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import geozones.audit as au
from geozones.auditinput import AuditInput
from geozones.timechains import chain_bounded_figures

from .test_audit import checked, make_table
from .test_relbounds import K, lowest_maximum, world

#: Worlds of tests/test_relbounds.py::world that leaked through one cell's counts over
#: several hours before this programme (lowest maxima 28.0, 23.9 and 29.2; 141 a sum of
#: its hours, the others a mean)
CHAINED = [74, 141, 143]


@pytest.mark.parametrize("seed", CHAINED)
def test_a_chain_through_one_cells_counts_over_several_periods_bounds_nothing_under_k(seed):
    """Seed 74: in hour 2 zone z2's hidden French figure is its `all` less its published
    `10000`, and z1's published `all` caps z1's French people, so the French people of the
    cell z2 holds and z1 does not are at least 22.9 that hour; the day's mean of that cell
    then bounds z1's hidden French day at 28. No figure's interval holds that link; the
    programme over the hours and their day does."""
    assert lowest_maximum(*world(seed)) >= K - 1e-6


def test_without_the_programme_over_periods_those_worlds_leak(monkeypatch):
    """The same worlds without it (as before): the attacker bounds a hidden figure under k
    in each, so the test above can fail."""
    monkeypatch.setattr(au, "chain_bounded_figures", lambda *a, **kw: iter(()))
    for seed in CHAINED:
        assert lowest_maximum(*world(seed)) < K - 1e-6, seed


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)  # (the same seeds each run: CI's verdict does not depend on a draw)
@given(st.integers(600, 10**6))
def test_no_random_world_leaks_through_its_periods(seed):
    """Random small worlds (3-6 cells, 2-4 zones often nested, 2-4 hours and their day, a
    mean or a sum, one or two origins): nothing hidden above none and under k can be bounded
    under k by the attacker over every published figure at once (0 of seeds 0-599 at this
    stop, 8 before it; these are further seeds)."""
    assert lowest_maximum(*world(seed)) >= K - 1e-6


def lowest_long_maximum(w, x, origins, factors, mean) -> float:
    """:func:`lowest_maximum` over the day's hidden figures alone (the longer period)."""
    from .attacker import lp_max, rows_of

    out = checked(make_table(w, x, origins, factors, mean), w, K)
    rows, _ = rows_of(out, w, list(range(x.shape[1])), origins, factors, mean)
    pub = (out["status"] == "published").to_numpy()
    y = rows @ x.reshape(-1)
    vals = np.round(out["observed"].to_numpy())
    day = (out["hour"] < 0).to_numpy()
    return min((lp_max(rows[pub], vals[pub], rows[j]) for j in np.flatnonzero(~pub & day & (y > 1e-7) & (y < K))), default=np.inf)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.integers(600, 10**6) | st.sampled_from(CHAINED))
def test_a_block_over_the_guard_still_checks_its_longer_periods_figures(seed):
    """A block over ``max_entries`` was not checked at all: a probe's attacker over 92 days
    and their quarter bounded a hidden quarter figure at 28.1 (its days' figures together;
    the quarter alone allowed 36.7). Up to ``max_long_entries`` the whole block is now the
    programme with the longer period's hidden figures as its only targets: the attacker
    bounds none of them under k (seed 74 bounded its hidden day at 28 with nothing run)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(au, "chain_bounded_figures", functools.partial(chain_bounded_figures, max_entries=1))
        assert lowest_long_maximum(*world(seed)) >= K - 1e-6


def test_a_block_left_unchecked_leaks_a_longer_figure():
    """The same with the block left unchecked (above both guards): seed 74's day is bounded
    under k, so the test above can fail."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(au, "chain_bounded_figures", functools.partial(chain_bounded_figures, max_entries=1, max_long_entries=1))
        assert lowest_long_maximum(*world(74)) < K - 1e-6


def audit_input(seed: int, scale_day: float = 1.0) -> tuple:
    """World ``seed`` as the audit reads it (hours at level 0, the day at 1, origins then
    ``all``; ``scale_day``: the day's figures times this), with its table and weights."""
    w, x, origins, factors, mean = world(seed)
    table = make_table(w, x, origins, factors, mean)
    lab = table["origin"].map({o: i for i, o in enumerate([*origins, "all"])}).to_numpy(np.int64)
    level = (table["hour"] < 0).to_numpy(np.int64)
    obs = table["observed"].to_numpy(float) * np.where(level == 1, scale_day, 1.0)
    n_h = x.shape[1]
    a = AuditInput(zone=table["z"].to_numpy(np.int64), level=level, t=np.where(level == 1, 0, table["hour"]).astype(np.int64), lab=lab,
                   obs=obs, est=table["estimate"].to_numpy(float), parent=[np.arange(n_h), np.zeros(n_h, np.int64)],
                   all_label=len(origins), cells=sparse.csc_array(w))
    return a, table, w


def _suppressed_before(seed: int) -> np.ndarray:
    a, table, w = audit_input(seed)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(au, "chain_bounded_figures", lambda *a, **kw: iter(()))
        out = checked(table, w, K)
    return np.array(out["status"] != "published", bool)


@pytest.mark.parametrize("seed", CHAINED)
def test_the_programme_suppresses_a_published_figure_of_the_chain(seed):
    """On the table the run published before, the programme suppresses at least one figure,
    each a published one, and says each once."""
    a, _, _ = audit_input(seed)
    sup = _suppressed_before(seed)
    before = sup.copy()
    got = list(chain_bounded_figures(a, sup, K))
    went = [f for kind, _z, f in got if kind == "bounded over several periods"]
    assert went and not before[went].any() and sup[went].all()
    assert (sup & ~before).sum() == len(went)


def test_a_block_too_large_is_left_and_said(caplog, monkeypatch):
    """A block over the size guard is not checked: nothing suppressed for it, and the run
    says so once (a note: each period was still checked on its own)."""
    a, _, _ = audit_input(74)
    sup = _suppressed_before(74)
    before = sup.copy()
    assert [k for k, _, _ in chain_bounded_figures(a, sup, K, max_entries=1, max_long_entries=1)] == ["programme over periods too large"]
    assert (sup == before).all()
    monkeypatch.setattr(au, "chain_bounded_figures", functools.partial(chain_bounded_figures, max_entries=1, max_long_entries=1))
    with caplog.at_level(logging.INFO, logger="geozones"):
        au.audit(a, before.copy(), K)
    said = [r for r in caplog.records if "over a longer period and its shorter ones" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO and "1 block" in said[0].getMessage()


def test_a_day_that_is_neither_the_mean_nor_the_sum_of_its_hours_is_not_read_as_either():
    """The programme's model (a day's cells the mean, or the sum, of its hours') is checked
    on the true figures: where neither holds, it is not run (said), and nothing is
    suppressed on a model the figures do not follow."""
    sup = _suppressed_before(74)
    before = sup.copy()
    for per_period in (False, True):  # (one set of weights: the figures say it; a set per period: a programme says it)
        a, _, _ = audit_input(74, scale_day=1.7)
        if per_period:
            a.cell_groups = (a.level.copy(), [a.cells, a.cells.copy()])
        assert [k for k, _, _ in chain_bounded_figures(a, sup, K)] == ["programme over periods not consistent"]
        assert (sup == before).all()
    # the same world as published: the mean holds (and for world 141, the sum)
    for seed in (74, 141):
        a, _, _ = audit_input(seed)
        assert "programme over periods not consistent" not in [k for k, _, _ in chain_bounded_figures(a, _suppressed_before(seed), K)]


def _attack_density_run(tmp_path, seed: int, k: float = 30.0, kind: str = "presence") -> tuple[int, list]:
    """tests/test_density.py's world (nine cells, 16 zones, four days of two origins and
    their quarter, ``--density period``: each day's figures by its own weights, the quarter's
    by the whole run's) through the CLI, and the attacker over every published figure at
    once, in the counts per cell, day and origin, given each period's weights (rebuilt from
    the footprints and the counts: the strongest attacker). ``kind``: ``events`` counts
    sums (a day the sum of its hours, the quarter of its days). Returns how many hidden
    figures (above half a person, under k) it maximised, and those it bounds under k."""
    from .attacker import lp_max
    from .test_density import DAYS, oracle, run
    from .test_density import world as density_world

    c = density_world(tmp_path, seed=seed)
    per_day, whole, _, counts, local, *_ = oracle(c)
    t = run(c, tmp_path / "out", "--k", k, "--kind", kind)
    per = 1 if kind == "events" else 24  # (hours in a day: a day's mean, or their sum)
    cells, origins = list(whole.cell_ids), ["30000", "FR"]
    x = np.zeros((len(cells), len(DAYS), len(origins)))
    for d, day in enumerate(DAYS):
        for o, origin in enumerate(origins):
            c_day = counts[(local == day) & (counts["origin"].astype(str) == origin)]
            x[:, d, o] = (c_day.groupby("cell_id", observed=True)["count"].sum() / per).reindex(cells).fillna(0).to_numpy()

    def column(w, zone):
        return w.matrix.toarray()[:, list(np.asarray(w.zone_ids).astype(str)).index(str(zone))]

    rows, vals, hidden = [], [], []
    for r in t.itertuples():
        v = np.zeros(x.shape)
        on = range(len(origins)) if r.origin == "all" else [origins.index(str(r.origin))]
        for o in on:
            if r.period == "1d":
                v[:, DAYS.index(r.day), o] = column(per_day[r.day], r.zone_id)
            else:  # (the quarter: the mean (or sum) of the days, by the whole run's weights)
                v[:, :, o] = column(whole, r.zone_id)[:, None] / (1 if kind == "events" else len(DAYS))
        truth = float(v.reshape(-1) @ x.reshape(-1))
        if r.status == "published":
            assert abs(truth - r.observed) <= 0.51  # (the attacker's rows are the published figures)
            rows.append(v.reshape(-1))
            vals.append(r.observed)
        elif 0.5 < truth < k:
            hidden.append((r.period, r.day, r.origin, r.zone_id, truth, v.reshape(-1)))
    a, vals = np.array(rows), np.array(vals)
    return len(hidden), [(h[:5], m) for h in hidden if (m := lp_max(a, vals, h[5])) < k - 1e-6]


def test_a_run_with_a_density_per_period_reveals_nothing_through_its_cells_over_the_days(tmp_path):
    """Each day has its own weights, so the quarter is not the mean of its days' figures,
    while its cells' counts are the mean of theirs: before this programme the attacker
    bounded four hidden quarter figures of zone z0 under k here (the lowest at 28.3, true
    7.3; 5 of 12 such worlds leaked, seeds 8-19)."""
    n, leaks = _attack_density_run(tmp_path, seed=11)
    assert n >= 50 and leaks == []


def test_a_run_of_events_with_a_density_per_period_reveals_nothing_through_its_cells(tmp_path):
    """The same with events: a day is the sum of its hours, the quarter of its days, and the
    programme reads the sum (the figures are nearer it than the mean). Before, the attacker
    bounded 33 hidden figures under k here (k = 700: a day's events run to thousands; 4 of
    seeds 8-13 leaked)."""
    n, leaks = _attack_density_run(tmp_path, seed=13, k=700.0, kind="events")
    assert n >= 50 and leaks == []


def test_the_manifest_counts_the_checks_the_audit_did_not_run(tmp_path, monkeypatch):
    """What the audit could not check was said only in the log: the manifest now counts it
    per kind (a block of periods over the size guard here), and is empty when all ran."""
    from geozones.config import RunConfig
    from geozones.pipeline import run

    from .test_density import world as density_world

    c = density_world(tmp_path, seed=11)
    base = dict(zones=[str(c["zones"])], cells=str(c["cells"]), counts=str(c["counts"]), heat_grid_m=None, map=False, k=30)
    full = run(RunConfig(out=str(tmp_path / "full"), **base)).manifest["disclosure_control"]
    assert full["audit_limits"] == {}
    monkeypatch.setattr(au, "chain_bounded_figures", functools.partial(chain_bounded_figures, max_entries=1, max_long_entries=1))
    small = run(RunConfig(out=str(tmp_path / "small"), **base)).manifest["disclosure_control"]
    assert small["audit_limits"] == {"programme over periods too large": 1}
    assert small["published"] > full["published"]  # (the chain the programme closes stays open: figures it hid are out)


@pytest.mark.parametrize(("seed", "mean"), [(74, True), (141, False)])
def test_with_weights_per_period_the_closer_model_is_tried_first(monkeypatch, seed, mean):
    """With a set of weights per period the model is checked by a programme, which may find
    counts for either where the weights leave room: the model closer to the figures (a
    mean for presence, a sum for events) is tried first, and kept when it holds."""
    import geozones.timechains as tc

    a, _, _ = audit_input(seed)
    a.cell_groups = (a.level.copy(), [a.cells, a.cells.copy()])
    tried = []
    real = tc._expanded
    monkeypatch.setattr(tc, "_expanded", lambda *args: tried.append(args[-1]) or real(*args))
    kinds = [k for k, _, _ in chain_bounded_figures(a, _suppressed_before(seed), K)]
    assert tried[0] is mean and "programme over periods not consistent" not in kinds


def test_a_long_programme_says_how_far_it_is(caplog):
    """A probe's hourly run of 4 days sat for 20 minutes on one programme with nothing on
    stderr after 'stage nested zones': the programme says how many figures it has checked."""
    import geozones._progress as progress

    with pytest.MonkeyPatch.context() as m, caplog.at_level(logging.INFO, logger="geozones"):
        m.setattr(progress, "HEARTBEAT_S", -1.0)  # (a note at every step)
        m.setattr(au, "chain_bounded_figures", functools.partial(chain_bounded_figures, max_entries=1))
        lowest_long_maximum(*world(74))
    assert "hidden figures of a programme checked" in caplog.text
