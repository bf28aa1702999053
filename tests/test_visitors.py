"""geozones visitors: a hand-made month gives exact tables; no suppressed figure of the three
tables can be bounded under k by an attacker's linear programme over everything published."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from geozones import read_events, read_zones
from geozones.errors import ConfigError, InputError
from geozones.inputs import build_weights
from geozones.visitor_tables import protect
from geozones.visitors import CLASSES, DWELL_BANDS, RETURN_BANDS, device_sums, parse_night
from geozones.visits import VisitorsConfig, municipality_codes, run_visitors

from .visitor_world import write_world

DAY10 = "2026-07-10T00:00:00+02:00"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return write_world(tmp_path_factory.mktemp("visitors"))


def _sums(world, **kw):
    cfg = VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out="unused", municipalities=world["municipalities"])
    zones = read_zones(cfg.zones)
    w, _, _ = build_weights(zones, cfg.zones, cfg.cells)
    cell_m, zone_m, codes = municipality_codes(zones, w, cfg)
    ev = read_events(world["events"])
    ev = ev[ev["subscriber_id"] != "x1"]
    return device_sums(ev, w, cell_m, zone_m, **kw), w, codes


def _table(frame, key, labels, w):
    out = frame.assign(zone=np.asarray(w.zone_ids)[frame["zone"]], day=pd.to_datetime(frame["period_start"], utc=True).dt.tz_convert("Europe/Brussels").dt.day)
    out[key] = np.asarray(labels)[out[key]]
    return out.set_index(["zone", "day", key])["observed"]


def test_hand_made_month_gives_exact_tables(world):
    s, w, codes = _sums(world)
    assert codes == ["34013", "34022"]
    assert s.stats["homes"] == 5 and s.stats["devices"] == 7
    v = _table(s.visitors, "class", CLASSES, w)
    # day 1: the two residents and the regular; day 10: regular, overnight, three day visitors
    assert v[("A", 1)].to_dict() == {"resident": 2.0, "regular": 1.0}
    assert v[("A", 10)].to_dict() == {"regular": 1.0, "overnight_visitor": 1.0, "day_visitor": 3.0}
    assert v[("A", 11)].to_dict() == {"regular": 1.0, "day_visitor": 1.0}
    assert v[("B", 10)].to_dict() == {"day_visitor": 1.0}
    assert ("A", 13) not in v.index.droplevel(2)
    d = _table(s.dwell, "dwell", DWELL_BANDS, w)
    # g1 one event (0 s), d1 20 min, d2 one event, d3 two stays of 0 s: < 30 min; o1 1 h
    assert d[("A", 10)].to_dict() == {"<30m": 4.0, "1h-2h": 1.0}
    assert "2h-4h" not in d[("A", 1)]  # the residents' 2 h stays are not in the dwell table
    assert d[("A", 1)].to_dict() == {"<30m": 1.0}
    r = _table(s.returning, "days_present", RETURN_BANDS, w)
    assert r[("A", 1)].to_dict() == {"1": 3.0, "2-3": 1.0, "4+": 1.0}


def test_regular_days_and_night_window_are_used(world):
    s, w, _ = _sums(world, regular_days=13)
    v = _table(s.visitors, "class", CLASSES, w)
    assert v[("A", 10)].to_dict() == {"overnight_visitor": 1.0, "day_visitor": 4.0}  # g1 is no longer a regular
    s, w, _ = _sums(world, night=parse_night("00:00-05:00"))  # the 23:00 events are not at night: no home, no overnight stay
    assert s.stats["homes"] == 0
    v = _table(s.visitors, "class", CLASSES, w)
    assert v[("A", 1)].to_dict() == {"regular": 1.0, "day_visitor": 2.0}


def test_weekly_period_takes_first_class_and_largest_weight(world):
    s, w, _ = _sums(world, period="1w")
    v = s.visitors.assign(zone=np.asarray(w.zone_ids)[s.visitors["zone"]])
    week = v[(v["zone"] == "A")].groupby("period_start")["observed"].sum()
    assert week.iloc[0] == 3.0  # 29 June - 5 July: r1, r2, g1 (each once, not once a day)


def test_a_device_whose_class_changes_in_a_week_takes_its_first_and_three_days_return_as_two_to_three(tmp_path):
    """A visitor from the Netherlands in zone A on 10 July with the night in Kortrijk (an
    overnight visitor), and again on 11 and 12 July without one: in the week of 6 July it
    counts once, as an overnight visitor (its first class), and among those present on 2-3
    days of the month. A mutation probe took its last class ('day visitor') and moved the
    '4+' band's edge to 3 days; no test noticed (no device changed class within a week, and
    none came on exactly 3 days)."""
    world = write_world(tmp_path)
    extra = pd.DataFrame({"subscriber_id": ["o2"] * 4, "cell_id": ["A1", "KH", "A1", "A1"],
                          "timestamp": ["2026-07-10T14:00:00", "2026-07-10T23:00:00", "2026-07-11T10:00:00", "2026-07-12T10:00:00"],
                          "origin": ["NL"] * 4})
    pd.concat([pd.read_csv(world["events"]), extra]).to_csv(world["events"], index=False)
    s, w, _ = _sums(world, period="1w", summary_period="1mo")
    v = s.visitors.assign(zone=np.asarray(w.zone_ids)[s.visitors["zone"]], cls=np.asarray(CLASSES)[s.visitors["class"]])
    week = v[(v["zone"] == "A") & (pd.to_datetime(v["period_start"], utc=True) == pd.Timestamp("2026-07-06", tz="Europe/Brussels"))]
    assert week.groupby("cls")["observed"].sum().to_dict() == {"regular": 1.0, "overnight_visitor": 2.0, "day_visitor": 3.0}
    r = s.returning.assign(zone=np.asarray(w.zone_ids)[s.returning["zone"]], band=np.asarray(RETURN_BANDS)[s.returning["days_present"]])
    assert r[r["zone"] == "A"].groupby("band")["observed"].sum().to_dict() == {"1": 3.0, "2-3": 2.0, "4+": 1.0}


@pytest.mark.parametrize("text", ["22-06", "25:00-06:00", "10:00-14:00", "06:00-06:00"])
def test_bad_night_window_is_refused(text):
    with pytest.raises(InputError):
        parse_night(text)


def test_cli_writes_tables_keeps_other_files_and_never_publishes_under_k(world, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "zone_counts.csv").write_text("kept\n")
    cmd = [sys.executable, "-m", "geozones", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events", world["events"],
           "--optout", world["optout"], "--municipalities", world["municipalities"], "--k", "2", "--out", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert (out / "zone_counts.csv").read_text() == "kept\n"
    v = pd.read_csv(out / "visitors.csv")
    assert list(v.columns) == ["zone_id", "zone_name", "period_start", "period", "class", "observed", "estimate", "status"]
    assert list(pd.read_csv(out / "dwell.csv").columns)[4] == "dwell"
    assert list(pd.read_csv(out / "returning.csv").columns)[4] == "days_present"
    pub = v[v["status"] == "published"]
    assert (pub["observed"] >= 2).all() and v.loc[v["status"] != "published", "observed"].isna().all()
    a10 = v[(v["zone_id"] == "A") & (v["period_start"] == DAY10)].set_index("class")
    assert a10.loc["all", "observed"] == 5 and a10.loc["day_visitor", "observed"] == 3
    r = pd.read_csv(out / "returning.csv").set_index(["zone_id", "days_present"])
    assert r.loc[("A", "all"), "observed"] == 5 and r.loc[("A", "1"), "observed"] == 3
    m = json.loads((out / "visitors_manifest.json").read_text())
    # one subscriber opted out, under k = 2: neither how many nor their events are given
    assert m["optout"] == {"listed_subscribers_removed": "fewer than 2", "events_removed": "not given: fewer than 2 subscribers"}
    assert m["devices"]["seen"] == 7
    # the opted-out device is in no figure: zone A on day 10 would have 6 people in all
    assert "x1" not in (out / "visitors.csv").read_text()


def test_cli_refuses_bad_settings_in_one_line(world, tmp_path):
    base = [sys.executable, "-m", "geozones", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events", world["events"],
            "--out", str(tmp_path / "o")]
    for extra, word in ((["--period", "1h"], "shorter than a day"), (["--night", "late"], "HH:MM-HH:MM"), (["--summary-period", "1d", "--period", "1w"], "shorter")):
        p = subprocess.run(base + extra, capture_output=True, text=True)
        assert p.returncode == 1 and word in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / "o").exists()


def test_no_municipality_anywhere_warns_and_counts_no_resident(tmp_path):
    w = write_world(tmp_path / "w", zone_municipality=False)
    m = run_visitors(VisitorsConfig(zones=[w["zones"]], cells=w["cells"], events=w["events"], out=str(tmp_path / "o"), k=1))
    v = m["tables"]["visitors"]
    assert not (v.loc[v["class"] == "resident", "observed"].fillna(0) > 0).any()


def test_config_checks():
    with pytest.raises(ConfigError):
        VisitorsConfig(zones=[], cells="c", events="e", out="o", regular_days=40).validate()


def test_market_share_estimate_is_one_factor_per_zone_and_class(world, tmp_path):
    shares = tmp_path / "ms.csv"
    shares.write_text("origin,share\n*,0.4\nBE,0.5\n34013,0.25\n")
    m = run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(tmp_path / "o"), k=1,
                                    municipalities=world["municipalities"], optout=world["optout"], market_share=str(shares)))
    v = m["tables"]["visitors"]
    pub = v[(v["status"] == "published") & (v["observed"] > 0)]
    by = [pub["zone_id"], pub["class"]]
    # each estimate is its factor times the count as published, so it tells the count no finer
    # than its rounding: one factor per zone and class fits every published figure to +-0.5
    lo = ((pub["estimate"] - 0.5) / pub["observed"]).groupby(by).max()
    hi = ((pub["estimate"] + 0.5) / pub["observed"]).groupby(by).min()
    assert (lo <= hi + 1e-12).all()
    # each class at its own people's share: zone A's residents (34022, share BE 0.5) x 2 and its
    # day visitors (mostly 34013, 0.25) above the zone's mix, not all at it (a probe's residents
    # took a zone's mix with tourists at 3-5%: three times too many)
    assert lo[("A", "resident")] <= 2.0 <= hi[("A", "resident")], (lo, hi)
    assert lo[("A", "day_visitor")] > hi[("A", "all")] > hi[("A", "resident")], (lo, hi)


def test_origins_under_k_take_the_tables_largest_share_so_the_classes_add_up_to_all(world, tmp_path, caplog):
    """A probe's demo read every published regular at x 4.00, the market-share table's '*'
    row (0.25, the roamers'), since each origin had fewer than k regular devices in a zone:
    the classes added up to 114% of all. They took the run's own pooled share (stops 49-55),
    which is one equation over the whole input (stop 56); now the table's largest share, the
    operator's at home, as the zone tables' rest does. And a quarter the events cover in
    part is said (a probe's returning table of a quarter from 28 days, unsaid)."""
    shares = tmp_path / "ms.csv"
    shares.write_text("origin,share\n*,0.05\nBE,0.5\n")
    m = run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(tmp_path / "o"), k=5,
                                    municipalities=world["municipalities"], market_share=str(shares), summary_period=None))
    rest = m["market_share"]["rest_share"]
    assert rest == 0.5, rest  # (the table's largest: far from the roamers' 0.05)
    v = m["tables"]["visitors"]
    pub = v[(v["status"] == "published") & (v["observed"] > 0)]
    assert (pub["estimate"] / pub["observed"]).max() < 1 / rest + 0.1, pub.assign(f=pub["estimate"] / pub["observed"]).nlargest(3, "f")
    assert len(pub)  # (each figure's factor is a mix of its origins' shares and the rest's: none at the roamers' x 20)
    assert "cover part of a published period" not in caplog.text
    with caplog.at_level("INFO", logger="geozones"):
        run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(tmp_path / "q"), k=5,
                                    municipalities=world["municipalities"]))
    assert "the events cover part of a published period (the 1q from 2026-" in caplog.text, caplog.text


def test_a_days_total_takes_the_mix_of_a_days_devices_not_of_the_runs(world, tmp_path):
    """A probe's Antwerpen zone read 2,856 people a day in all beside 974 residents and 916
    non-residents: the total's factor was the mix of the run's distinct devices, where a
    month's one-day tourists (share 5%) outnumber the residents seen every day (40%). A
    day's devices are mostly residents. Here 40 residents every day and 20 new tourists a
    day: 100 + 400 people a day, not 60 devices at the run's mix (x 18.8: 1,130)."""
    rows = []
    for r in range(40):
        for d in range(1, 29):
            rows.append((f"r{r}", "KH", f"2026-07-{d:02d}T23:00:00", "34022"))
            rows.append((f"r{r}", "A1", f"2026-07-{d:02d}T11:00:00", "34022"))
    for t in range(28 * 20):
        rows.append((f"t{t}", "A1", f"2026-07-{t // 20 + 1:02d}T14:00:00", "NL"))
    ev = tmp_path / "events.csv"
    pd.DataFrame(rows, columns=["subscriber_id", "cell_id", "timestamp", "origin"]).to_csv(ev, index=False)
    shares = tmp_path / "ms.csv"
    shares.write_text("origin,share\n*,0.4\nBE,0.4\nNL,0.05\n")
    m = run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=str(ev), out=str(tmp_path / "o"), k=10,
                                    municipalities=world["municipalities"], market_share=str(shares), summary_period=None))
    v = m["tables"]["visitors"]
    a = v[(v["zone_id"] == "A") & (v["status"] == "published")].pivot_table(index="period_start", columns="class", values="estimate")
    assert len(a) == 28
    assert np.allclose(a["resident"], 100, atol=0.5), a  # (the day visitors are hidden beside the empty classes)
    assert np.allclose(a["all"], 500, atol=0.5), a["all"].describe()


def test_events_in_unknown_cells_are_counted_only_where_their_devices_are_k_or_more(world, tmp_path, caplog):
    """Like the opted-out people's events: one phone's events in a cell the plan lacks are
    how active that phone was, so the manifest and the log give no number under k devices."""
    ev = pd.read_csv(world["events"], dtype=str)
    extra = pd.DataFrame({"subscriber_id": ["r1"] * 7, "cell_id": ["ZZ9"] * 7,
                          "timestamp": [f"2026-07-0{d}T08:00:00" for d in range(1, 8)], "origin": ["34022"] * 7})
    path = tmp_path / "events.csv"
    pd.concat([ev, extra], ignore_index=True).to_csv(path, index=False)
    for k, said in ((30, "events of fewer than 30 devices"), (1, 7)):
        with caplog.at_level("WARNING", logger="geozones"):
            caplog.clear()
            m = run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=str(path), out=str(tmp_path / f"o{k}"), k=k,
                                            municipalities=world["municipalities"]))
        assert m["events"]["in_unknown_cells"] == said
        assert (" 7 events are in cells" in caplog.text) == (k == 1), caplog.text


# ----------------------------------------------------------------------- the attacker
def _group(draw, k):
    small = st.one_of(st.just(0.0), st.floats(0.1, k - 0.1), st.floats(k, 4 * k))
    vals = [round(draw(small), 1) for _ in range(4)]
    n = sum(vals[1:])

    def split(total, parts):
        if total == 0:
            return [0.0] * parts
        cuts = sorted(draw(st.lists(st.floats(0, 1), min_size=parts - 1, max_size=parts - 1)))
        edges = [0.0] + [c * total for c in cuts] + [total]
        return [edges[i + 1] - edges[i] for i in range(parts)]

    return vals, split(n, len(DWELL_BANDS)), split


@st.composite
def cases(draw):
    k = draw(st.sampled_from([3.0, 10.0, 30.0]))
    same = draw(st.booleans())
    n_groups = draw(st.integers(1, 3))
    groups = []
    for _ in range(n_groups):
        vals, bands, split = _group(draw, k)
        total_r = sum(vals[1:]) if same else round(draw(st.one_of(st.just(0.0), st.floats(0.1, 3 * k))), 1)
        groups.append((vals, bands, split(total_r, len(RETURN_BANDS))))
    return k, same, groups


def _frames(groups):
    v, d, r = [], [], []
    for g, (vals, bands, ret) in enumerate(groups):
        for i, x in enumerate(vals + [sum(vals)]):
            v.append((g, 0, i, x))
        for i, x in enumerate(bands + [sum(bands)]):
            d.append((g, 0, i, x))
        for i, x in enumerate(ret + [sum(ret)]):
            r.append((g, 0, i, x))
    return {"visitors": pd.DataFrame(v, columns=["zone", "period_start", "class", "observed"]),
            "dwell": pd.DataFrame(d, columns=["zone", "period_start", "dwell", "observed"]),
            "returning": pd.DataFrame(r, columns=["zone", "period_start", "days_present", "observed"])}


def _attack(vals, bands, ret, st_v, st_d, st_r, same, k) -> list[str]:
    """Per suppressed figure under k, the attacker's largest value for it, over the LP of
    every published figure of the group (rounded: +-0.5) and the tables' relations."""
    nv, nd, nr = 4, len(DWELL_BANDS), len(RETURN_BANDS)
    n = nv + nd + nr
    figures, truth, status = [], [], []

    def row(idx):
        a = np.zeros(n)
        a[list(idx)] = 1.0
        return a

    for i in range(nv):
        figures.append(row([i])), truth.append(vals[i]), status.append(st_v[i])
    figures.append(row(range(nv))), truth.append(sum(vals)), status.append(st_v[nv])
    for i in range(nd):
        figures.append(row([nv + i])), truth.append(bands[i]), status.append(st_d[i])
    figures.append(row(range(nv, nv + nd))), truth.append(sum(bands)), status.append(st_d[nd])
    for i in range(nr):
        figures.append(row([nv + nd + i])), truth.append(ret[i]), status.append(st_r[i])
    figures.append(row(range(nv + nd, n))), truth.append(sum(ret)), status.append(st_r[nr])
    eq = [row([1, 2, 3]) - row(range(nv, nv + nd))]  # non-residents = the dwell bands
    if same:
        eq.append(row([1, 2, 3]) - row(range(nv + nd, n)))
    a_ub, b_ub = [], []
    for f, t, s in zip(figures, truth, status):
        if s == "published":
            a_ub += [f, -f]
            b_ub += [round(t) + 0.5, -(round(t) - 0.5)]
    leaks = []
    for f, t, s in zip(figures, truth, status):
        if s == "published" or t >= k:
            continue
        res = linprog(-f, A_ub=np.array(a_ub) if a_ub else None, b_ub=np.array(b_ub) if b_ub else None, A_eq=np.array(eq), b_eq=np.zeros(len(eq)),
                      bounds=[(0, None)] * n, method="highs")
        if res.status == 0 and -res.fun < k - 1e-6:
            leaks.append(f"figure {f} true {t:.1f} bounded by {-res.fun:.2f} < k={k}")
    return leaks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_no_suppressed_figure_is_bounded_under_k(case):
    k, same, groups = case
    done = protect(_frames(groups), k, same_period=same)
    for g, (vals, bands, ret) in enumerate(groups):
        sts = [done[name].loc[done[name]["zone"] == g, "status"].tolist() for name in ("visitors", "dwell", "returning")]
        leaks = _attack(vals, bands, ret, *sts, same, k)
        assert not leaks, leaks
    for name, t in done.items():  # and nothing under k is published
        assert not ((t["status"] == "published") & (t["observed"] < k)).any()


def test_buckets_on_disk_give_the_same_tables_on_every_engine_and_errors_name_the_file_line(world, tmp_path, monkeypatch):
    import geozones.engine.events as E
    import geozones.visits as VS

    def tables(out, engine="auto"):
        cfg = VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(out), k=1,
                             municipalities=world["municipalities"], optout=world["optout"], engine=engine)
        return run_visitors(cfg)

    whole = tables(tmp_path / "a")
    monkeypatch.setattr(VS, "BATCH_EVENTS", 15)  # 71 events: five buckets spilled to disk
    monkeypatch.setattr(E, "READ_ROWS", 7)  # and read 7 rows at a time
    for engine in ("stream", "dask", "memory"):
        spilled = tables(tmp_path / engine, engine)
        assert spilled["events"]["read"] == whole["events"]["read"] and spilled["optout"] == whole["optout"]
        for name in ("visitors", "dwell", "returning"):
            pd.testing.assert_frame_equal(spilled["tables"][name], whole["tables"][name])
    ev = pd.read_csv(world["events"])
    ev.loc[40, "timestamp"] = "soon"
    bad = tmp_path / "bad.csv"
    ev.to_csv(bad, index=False)
    with pytest.raises(InputError, match="line 42"):  # header line 1, row 0 on line 2
        run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=str(bad), out=str(tmp_path / "c")))
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("change,where,words", [
    (lambda e: e.assign(origin=e["origin"].where(e.index != 3, "XX9")), "line 5", "origin 'XX9'"),
    (lambda e: e.assign(subscriber_id=e["subscriber_id"].where(e.index != 4, "")), "line 6", "subscriber_id is empty"),
    (lambda e: e.drop(columns="cell_id"), "", "has no cell_id column"),
    (lambda e: e.assign(timestamp=e["timestamp"].where(e.index != 10, "2026-03-29T02:30:00")), "line 12", "does not exist"),
])
def test_bad_events_are_one_line_naming_the_row(world, tmp_path, change, where, words):
    ev = change(pd.read_csv(world["events"], dtype=str))
    bad = tmp_path / "bad.csv"
    ev.to_csv(bad, index=False)
    p = subprocess.run([sys.executable, "-m", "geozones", "-q", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events", str(bad),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert words in p.stderr and where in p.stderr and "bad.csv" in p.stderr
    assert not (tmp_path / "o").exists()


def test_damaged_parquet_events_are_a_clean_error(world, tmp_path):
    ev = pd.read_csv(world["events"], dtype=str)
    good = tmp_path / "ev.parquet"
    ev.to_parquet(good)
    raw = bytearray(good.read_bytes())
    for i in range(200, 400):
        raw[i] ^= 0x5A
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(raw))
    p = subprocess.run([sys.executable, "-m", "geozones", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events", str(bad),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 1 and "bad.parquet" in p.stderr and "cannot read the file" in p.stderr, p.stderr


def test_everyone_opted_out_gives_empty_tables(world, tmp_path):
    ids = pd.read_csv(world["events"], dtype=str)["subscriber_id"].unique()
    opt = tmp_path / "all.txt"
    opt.write_text("\n".join(ids) + "\n")
    m = run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(tmp_path / "o"), optout=str(opt)))
    assert all(len(t) == 0 for t in m["tables"].values())
    assert m["optout"] == {"listed_subscribers_removed": "fewer than 30", "events_removed": "not given: fewer than 30 subscribers"}
    assert pd.read_csv(tmp_path / "o" / "visitors.csv").empty


def test_perturbed_visitor_tables_keep_their_statuses_and_the_same_devices_share_their_noise(world, tmp_path):
    """``--protection perturb`` on the device-level tables: the same figures hidden, the
    published ones within the noise, estimates following the published counts, and the
    dwell table's ``all`` (non-residents) and the returning table's (the same devices, with
    one period) reading the same."""
    secret = tmp_path / "secret"
    secret.write_text("9" * 64)
    base = dict(zones=[world["zones"]], cells=world["cells"], events=world["events"], municipalities=world["municipalities"], k=2,
                period="1q", summary_period="1q")
    plain = run_visitors(VisitorsConfig(out=str(tmp_path / "plain"), **base))["tables"]
    noisy = run_visitors(VisitorsConfig(out=str(tmp_path / "noisy"), protection="perturb", secret_file=str(secret), perturb_max=2,
                                        perturb_variance=1.0, **base))
    m = json.loads((tmp_path / "noisy" / "visitors_manifest.json").read_text())
    assert m["disclosure_control"]["protection"] == "perturb" and m["disclosure_control"]["perturbation"]["max_noise"] == 2
    # (stop 56's attacker: exact device and event counts beside the noisy tables told two runs' difference, 3 devices, exactly)
    assert set(m["devices"].values()) == {"not given under --protection perturb", "BE"} and m["events"]["read"] == "not given under --protection perturb"
    moved = 0
    for name, t in noisy["tables"].items():
        p = plain[name]
        assert (t["status"] == p["status"]).all()
        pub = t["status"] == "published"
        d = t.loc[pub, "observed"] - p.loc[pub, "observed"]
        assert (d.abs() <= 2).all() and t.loc[~pub, "observed"].isna().all()
        moved += int((d != 0).sum())
        ratio = (p.loc[pub, "estimate"] / p.loc[pub, "observed"]).to_numpy()
        assert np.allclose(t.loc[pub, "estimate"], t.loc[pub, "observed"] * ratio, atol=1.0, rtol=0.02)
    assert moved >= 1
    dw = noisy["tables"]["dwell"].set_index(["zone_id", "dwell"])["observed"]
    rt = noisy["tables"]["returning"].set_index(["zone_id", "days_present"])["observed"]
    both = [z for z in dw.index.get_level_values(0).unique() if np.isfinite(dw.get((z, "all"), np.nan)) and np.isfinite(rt.get((z, "all"), np.nan))]
    assert both and all(dw[(z, "all")] == rt[(z, "all")] for z in both)


def test_an_optout_list_in_upper_case_removes_the_same_people_and_one_that_matches_nobody_is_said(world, tmp_path):
    lower = run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(tmp_path / "a"),
                                        optout=world["optout"]))
    upper = tmp_path / "upper.txt"
    upper.write_text(Path(world["optout"]).read_text().upper())
    up = run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(tmp_path / "b"),
                                     optout=str(upper)))
    assert up["optout"] == lower["optout"] and up["optout"]["listed_subscribers_removed"] != 0
    assert (tmp_path / "a" / "visitors.csv").read_bytes() == (tmp_path / "b" / "visitors.csv").read_bytes()
    stranger = tmp_path / "none.txt"
    stranger.write_text("00000000deadbeef\n")
    p = subprocess.run([sys.executable, "-m", "geozones", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events",
                        world["events"], "--optout", str(stranger), "--out", str(tmp_path / "c")], capture_output=True, text=True)
    assert p.returncode == 0 and "none.txt: none of the 1 listed ids is a subscriber of the events" in p.stderr, p.stderr
    empty = tmp_path / "empty.txt"  # (a probe's 0-byte list, a failed export, was taken without a word)
    empty.write_bytes(b"")
    p = subprocess.run([sys.executable, "-m", "geozones", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events",
                        world["events"], "--optout", str(empty), "--out", str(tmp_path / "d")], capture_output=True, text=True)
    assert p.returncode == 0 and "empty.txt: the opt-out list holds no id, so nobody was removed" in p.stderr, p.stderr


def test_a_cell_that_barely_reaches_a_zone_adds_as_little_time_and_as_few_days():
    """A probe's footprint run: a device seen once in the zone's cell, then for hours (or on
    five more days) only on a cell 1.8 km away whose weight for the zone is 0.0014, was
    counted as staying 4 hours and more (or coming back on 4+ days); Voronoi said under 30
    minutes (and 1 day). Each segment now counts by its weight against the day's largest."""
    from scipy import sparse

    from geozones.visitors import DWELL_BANDS, RETURN_BANDS, device_sums_arrays
    from geozones.weights import Weights

    for far in (0.0, 0.0014):  # (Voronoi: the far cell does not reach the zone; footprint: barely)
        m = sparse.csr_array(np.array([[1.0], [far]]))
        w = Weights(m, np.array(["in", "far"]), np.array(["Z"]), np.array([0.0, 1.0 - far]))
        t = [pd.Timestamp("2026-07-01 09:00", tz="Europe/Brussels")]
        cells = [0]
        t += [pd.Timestamp("2026-07-01 09:05", tz="Europe/Brussels") + pd.Timedelta(minutes=30 * i) for i in range(16)]  # 8 hours away
        cells += [1] * 16
        for d in range(2, 7):  # five more days, only on the far cell
            t += [pd.Timestamp(f"2026-07-0{d} 12:00", tz="Europe/Brussels")]
            cells += [1]
        utc = pd.DatetimeIndex(t).tz_convert("UTC").as_unit("ns").asi8
        n = len(t)
        s = device_sums_arrays(np.array(["d1"] * n), np.array(cells), utc, np.array(["FR"] * n), w, np.full(2, -1), np.full(1, -1),
                               period="1d", summary_period="1q")
        first = s.dwell[s.dwell["period_start"] == s.dwell["period_start"].min()]
        assert [DWELL_BANDS[c] for c in first["dwell"]] == [DWELL_BANDS[0]], far  # under 30 minutes
        ret = s.returning
        assert [RETURN_BANDS[c] for c in ret["days_present"]] == ["1"] and ret["observed"].tolist() == [1.0], far


def test_latin1_events_are_read_with_a_warning_and_a_late_bad_byte_is_a_clean_error(world, tmp_path):
    """``visitors`` read a Latin-1 file as ``apportion --events`` does (docs/bad_input.md); a
    probe's got Arrow's "invalid UTF8" with no hint."""
    text = Path(world["events"]).read_text().replace("x1,", "x\u00e91,")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.encode("cp1252"))
    p = subprocess.run([sys.executable, "-m", "geozones", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events", str(latin),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 0 and "latin.csv: not UTF-8; read as Windows-1252" in p.stderr, p.stderr
    late = tmp_path / "late.csv"
    big = text.encode("utf-8") + (text.split("\n", 1)[1].encode("utf-8")) * 400 + b"x\xe92,A1,2026-07-03T10:00:00,34013\n"
    late.write_bytes(big)
    p = subprocess.run([sys.executable, "-m", "geozones", "visitors", "--zones", world["zones"], "--cells", world["cells"], "--events", str(late),
                        "--out", str(tmp_path / "o2")], capture_output=True, text=True)
    assert p.returncode == 1 and "late.csv" in p.stderr and "not UTF-8" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert sum("error" in line for line in p.stderr.splitlines()) == 1 and not (tmp_path / "o2").exists()


def test_a_roaming_phone_staying_some_nights_is_a_visitor_not_a_resident():
    """A probe's French phones with three hotel nights in the zone's municipality became its
    residents, and left the tourism tables; a Belgian phone with the same nights does."""
    from scipy import sparse

    from geozones.visitors import CLASSES, device_sums_arrays
    from geozones.weights import Weights

    w = Weights(sparse.csr_array(np.array([[1.0]])), np.array(["c"]), np.array(["Z"]), np.array([0.0]))
    t = []
    for d in range(1, 6):  # five nights and days on the zone's only cell
        t += [pd.Timestamp(f"2026-07-0{d} 23:00", tz="Europe/Brussels"), pd.Timestamp(f"2026-07-0{d + 1} 10:00", tz="Europe/Brussels")]
    utc = pd.DatetimeIndex(t).tz_convert("UTC").as_unit("ns").asi8
    n = len(t)
    for origin, want in (("FR", "overnight_visitor"), ("34022", "resident")):
        s = device_sums_arrays(np.array(["d"] * n), np.zeros(n, np.int64), utc, np.array([origin] * n), w, np.zeros(1, np.int64),
                               np.zeros(1, np.int64), period="1d", summary_period="1q")
        got = {CLASSES[c] for c in s.visitors.loc[s.visitors["observed"] > 0, "class"]}
        assert got == {want}, (origin, got)
        assert s.stats["homes"] == (origin != "FR")


def test_an_operators_own_country_is_home_whatever_it_is_and_only_other_countries_roam():
    """A Milan probe: an Italian operator's subscribers (origin 222, IT) sleeping in Milan
    every night had no home, as roaming phones, so Milan read no residents and 1,705
    overnight visitors. ``--home-country`` names the operator's country (default BE)."""
    from scipy import sparse

    from geozones.visitors import CLASSES, device_sums_arrays
    from geozones.weights import Weights

    w = Weights(sparse.csr_array(np.array([[1.0]])), np.array(["c"]), np.array(["Z"]), np.array([0.0]))
    t = []
    for d in range(1, 6):
        t += [pd.Timestamp(f"2026-07-0{d} 23:00", tz="Europe/Brussels"), pd.Timestamp(f"2026-07-0{d + 1} 10:00", tz="Europe/Brussels")]
    utc = pd.DatetimeIndex(t).tz_convert("UTC").as_unit("ns").asi8
    n = len(t)
    for own, origins in (("IT", ["IT", "IT", "FR"]), ("BE", ["34022", "34022", "FR"])):
        devices = np.repeat([f"d{i}" for i in range(3)], n)
        s = device_sums_arrays(devices, np.zeros(3 * n, np.int64), np.tile(utc, 3), np.repeat(origins, n), w, np.zeros(1, np.int64),
                               np.zeros(1, np.int64), period="1d", summary_period="1q", home_country=own)
        assert s.stats["homes"] == 2 and s.stats[f"devices_from:{own}"] == 2 and s.stats["devices_from:FR"] == 1
        day = s.visitors[s.visitors["observed"] > 0].groupby("class")["observed"].max()
        assert {CLASSES[c]: v for c, v in day.items()} == {"resident": 2, "overnight_visitor": 1}, (own, day)


def test_shares_that_do_not_add_up_are_said():
    """A probe read the demo's dwell shares 16 + 16 + 15 + 6 + 67 = 120% without a word:
    each is over its own published days, and a band is hidden on its smallest days."""
    from geozones.tourism import shares_note

    rows = [{"name": n, "_share": s} for n, s in (("a", 0.16), ("b", 0.16), ("c", 0.15), ("d", 0.06), ("e", 0.67), ("all", np.nan))]
    assert "add up to 120%" in shares_note(rows)
    assert shares_note([{"name": "a", "_share": 0.4}, {"name": "b", "_share": 0.61}]) == ""
    assert shares_note([{"name": "a", "_share": 0.4}, {"name": "b", "_share": np.nan}]) == ""


def test_the_report_says_why_unique_counts_from_events_read_below_the_visitor_tables(world, tmp_path):
    """A probe's report put '960 people in all per day' (apportion --events: unique people per
    cell, one network-wide deduplication factor) beside 'all 3,006' (geozones visitors, the
    same events and day), and blamed 'a sample of subscribers', which it was not."""
    from geozones.report import build_report

    from .conftest import run_cli

    out = tmp_path / "o"
    r = run_cli("apportion", "--zones", world["zones"], "--cells", world["cells"], "--events", world["events"], "--k", "1", "--period", "1d",
                "--heat-grid", "0", "--no-map", "--out", out)
    assert r.returncode == 0, r.stderr
    run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(out), k=1))
    zone = pd.read_csv(out / "zone_counts.csv")["zone_id"].iloc[0]
    html = build_report(out, zone=zone)
    assert "From subscriber-level events" in html and "deduplicated by one factor for the whole network, read low" in html


def test_visitors_of_zones_far_from_brussels_are_warned_about_its_nights(world, tmp_path, caplog):
    """A probe's Tokyo visitors had their nights read on Brussels' clock (Tokyo's daytime)
    without a word; the world near Kortrijk is not warned about."""
    def shifted(name: str) -> str:
        fc = json.loads(Path(world[name]).read_text())
        for f in fc["features"]:
            f["geometry"]["coordinates"] = [[[x + 136.0, y - 15.0] for x, y in ring] for ring in f["geometry"]["coordinates"]]
        fc.pop("crs", None)
        out = tmp_path / Path(world[name]).name
        out.write_text(json.dumps(fc))
        return str(out)

    with caplog.at_level("WARNING", logger="geozones"):
        run_visitors(VisitorsConfig(zones=[world["zones"]], cells=world["cells"], events=world["events"], out=str(tmp_path / "here"), k=1))
        assert "Europe/Brussels' time zone" not in caplog.text
        run_visitors(VisitorsConfig(zones=[shifted("zones")], cells=shifted("cells"), events=world["events"], out=str(tmp_path / "tokyo"), k=1))
    assert "far from Europe/Brussels' time zone" in caplog.text and "hours after local midnight" in caplog.text


def test_a_ring_round_two_inner_zones_is_protected_not_only_each_pair(tmp_path):
    """Stop 56's attacker: an outer zone holding two disjoint inner zones published 105, 50 and
    50 devices, and the ring outside both held 5 (outer less both), while each pair's
    difference (55) passed: the zones' families are protected now, as in the zone tables."""
    import geopandas as gpd
    import pyproj
    import shapely

    import geozones as gz

    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    x0, y0 = 668_000.0, 667_000.0

    def ll(g):
        return shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))

    boxes = {"outer": (-3000, -3000, 3000, 3000), "in1": (-2000, -600, -800, 600), "in2": (800, -600, 2000, 600)}
    zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes), "municipality": "34022"},
                             geometry=[ll(shapely.box(x0 + a, y0 + b, x0 + c, y0 + d)) for a, b, c, d in boxes.values()], crs="EPSG:4326")
    gz.write_zones(zones, tmp_path / "zones.geojson")
    cells = ["cell_id,site_id,lon,lat,azimuth,beamwidth,range_m"]
    for i, (c, (x, y)) in enumerate({"A": (-1400, 0), "B": (1400, 0), "C": (0, 2000)}.items()):
        lon, lat = to_ll.transform(x0 + x, y0 + y)
        cells.append(f"{c},S{i},{lon},{lat},,,400")
    (tmp_path / "cells.csv").write_text("\n".join(cells) + "\n")
    ev = ["subscriber_id,cell_id,timestamp,origin"]
    for who, cell, n in (("a", "A", 50), ("b", "B", 50), ("c", "C", 5)):
        ev += [f"{who}{i},{cell},2026-07-01T{h}:00:00+02:00,34002" for i in range(n) for h in (10, 14)]
    (tmp_path / "events.csv").write_text("\n".join(ev) + "\n")
    m = run_visitors(VisitorsConfig(zones=[str(tmp_path / "zones.geojson")], cells=str(tmp_path / "cells.csv"), model="wedge",
                                    events=str(tmp_path / "events.csv"), out=str(tmp_path / "o"), summary_period=None))
    v = m["tables"]["visitors"]
    shown = v[(v["class"] == "all") & (v["status"] == "published")].set_index("zone_id")["observed"].to_dict()
    assert shown.get("outer") == 105  # (the test has something to protect)
    assert not {"outer", "in1", "in2"} <= set(shown), shown  # (the ring's 5 devices do not follow from outer less both)


def _published_rows_span(rows: dict, places: dict, target: set) -> bool:
    """Whether the indicator of ``target`` (a set of places) lies in the span of the
    published zones' indicators (zone -> set of places): the attacker's least squares."""
    names = sorted({p for ps in places.values() for p in ps})
    a = np.array([[1.0 if p in places[z] else 0.0 for p in names] for z in rows])
    t = np.array([1.0 if p in target else 0.0 for p in names])
    coef = np.linalg.lstsq(a.T, t, rcond=None)[0]
    return bool(np.allclose(a.T @ coef, t, atol=1e-9))


@pytest.mark.parametrize("third", ["overlapping", "disjoint"])
def test_three_zones_in_a_row_and_the_zone_holding_them_give_no_overlap(tmp_path, third):
    """Stop 56's probe F: zones P, Q (overlapping in a strip) and a third zone (overlapping Q,
    or touching it) whose union is a zone W published 105, 105, 100 and 305 devices: 105 +
    105 + 100 - 305 = the 5 devices of a cell in the overlap of P and Q, exactly. The rules'
    pairs and families held no such relation; the tables now pass the zone tables' audit.
    Checked by the attacker's algebra over the published 'all' rows: the overlap's cell does
    not follow from them."""
    import geopandas as gpd
    import pyproj
    import shapely

    import geozones as gz

    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    x0, y0 = 668_000.0, 667_000.0

    def ll(g):
        return shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))

    r0 = 500 if third == "overlapping" else 1000
    boxes = {"whole": (-3000, -1000, 3000, 1000), "pz": (-3000, -1000, -500, 1000), "qz": (-1000, -1000, 1000, 1000), "rz": (r0, -1000, 3000, 1000)}
    zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes), "municipality": "34022"},
                             geometry=[ll(shapely.box(x0 + a, y0 + b, x0 + c, y0 + d)) for a, b, c, d in boxes.values()], crs="EPSG:4326")
    gz.write_zones(zones, tmp_path / "zones.geojson")
    at = {"A": (-2000, 0), "B": (0, 0), "C": (2000, 0), "D": (-750, 0)}
    cells = ["cell_id,site_id,lon,lat,azimuth,beamwidth,range_m"]
    for i, (c, (x, y)) in enumerate(at.items()):
        lon, lat = to_ll.transform(x0 + x, y0 + y)
        cells.append(f"{c},S{i},{lon},{lat},,,100")
    (tmp_path / "cells.csv").write_text("\n".join(cells) + "\n")
    ev = ["subscriber_id,cell_id,timestamp,origin"]
    for cell, n in (("A", 100), ("B", 100), ("C", 100), ("D", 5)):
        ev += [f"{cell}{i},{cell},2026-07-01T{h}:00:00+02:00,34002" for i in range(n) for h in (10, 12)]
    (tmp_path / "events.csv").write_text("\n".join(ev) + "\n")
    m = run_visitors(VisitorsConfig(zones=[str(tmp_path / "zones.geojson")], cells=str(tmp_path / "cells.csv"), model="wedge",
                                    events=str(tmp_path / "events.csv"), out=str(tmp_path / "o"), summary_period=None))
    v = m["tables"]["visitors"]
    shown = v[(v["class"] == "all") & (v["status"] == "published")].set_index("zone_id")["observed"].to_dict()
    assert shown.get("whole") == 305 and shown.get("pz") == 105  # (the test has something to protect)
    holds = {"whole": {"A", "B", "C", "D"}, "pz": {"A", "D"}, "qz": {"B", "D"}, "rz": {"C"}}
    assert not _published_rows_span({z: holds[z] for z in shown}, holds, {"D"}), shown


def test_devices_seen_in_two_zones_that_tile_a_third_are_no_difference_under_k(tmp_path):
    """Stop 57's probe: W = P u Q (two halves, no rest) published 203, 103 and 103 devices:
    103 + 103 - 203 = the 3 devices seen in both halves (a device counts once in W). A
    family's difference either way is a hidden part now. Checked by the attacker's sum."""
    import geopandas as gpd
    import pyproj
    import shapely

    import geozones as gz

    to_ll = pyproj.Transformer.from_crs("EPSG:3812", "EPSG:4326", always_xy=True)
    x0, y0 = 668_000.0, 667_000.0

    def ll(g):
        return shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))

    boxes = {"whole": (-2000, -1000, 2000, 1000), "pz": (-2000, -1000, 0, 1000), "qz": (0, -1000, 2000, 1000)}
    zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes), "municipality": "34022"},
                             geometry=[ll(shapely.box(x0 + a, y0 + b, x0 + c, y0 + d)) for a, b, c, d in boxes.values()], crs="EPSG:4326")
    gz.write_zones(zones, tmp_path / "zones.geojson")
    cells = ["cell_id,site_id,lon,lat,azimuth,beamwidth,range_m"]
    for i, (c, x) in enumerate((("A", -1000), ("B", 1000))):
        lon, lat = to_ll.transform(x0 + x, y0)
        cells.append(f"{c},S{i},{lon},{lat},,,100")
    (tmp_path / "cells.csv").write_text("\n".join(cells) + "\n")
    ev = ["subscriber_id,cell_id,timestamp,origin"]
    ev += [f"{c}{i},{c},2026-07-01T{h}:00:00+02:00,34002" for c in "AB" for i in range(100) for h in (10, 12)]
    ev += [f"m{i},{c},2026-07-01T{h}:00:00+02:00,34002" for i in range(3) for c, h in (("A", 10), ("B", 14))]
    (tmp_path / "events.csv").write_text("\n".join(ev) + "\n")
    m = run_visitors(VisitorsConfig(zones=[str(tmp_path / "zones.geojson")], cells=str(tmp_path / "cells.csv"), model="wedge",
                                    events=str(tmp_path / "events.csv"), out=str(tmp_path / "o"), summary_period=None))
    v = m["tables"]["visitors"]
    shown = v[(v["class"] == "all") & (v["status"] == "published")].set_index("zone_id")["observed"].to_dict()
    assert shown.get("whole") == 203  # (something to protect)
    assert not {"whole", "pz", "qz"} <= set(shown), shown  # (else pz + qz - whole: the 3 seen in both)


def test_a_total_the_audit_hides_does_not_come_back_as_its_published_parts():
    """Stop 57's probe: the audit hid two zones' visitors 'all', and each came back as its
    published residents plus the dwell table's 'all' (the non-residents). The attacker's sum
    over what is published: no hidden total equals published parts that add up to it."""
    from geozones.visitor_tables import protect

    start = 1_782_856_800_000_000_000
    vis = pd.DataFrame({"zone": 0, "period_start": start, "class": np.arange(5), "observed": [40.0, 0.0, 0.0, 135.0, 175.0]})
    dwell = pd.DataFrame({"zone": 0, "period_start": start, "dwell": np.arange(6), "observed": [0.0, 0.0, 0.0, 0.0, 135.0, 135.0]})
    ret = pd.DataFrame({"zone": pd.Series([], dtype=np.int64), "period_start": pd.Series([], dtype=np.int64),
                        "days_present": pd.Series([], dtype=np.int64), "observed": pd.Series([], dtype=float)})
    hidden = np.zeros(len(vis) + len(dwell), bool)
    hidden[4] = True  # (the visitors' all, as the audit would hide it)
    out = protect({"visitors": vis, "dwell": dwell, "returning": ret}, 30, same_period=False, hidden=hidden)
    v, d = (out[n].assign(shown=out[n]["status"] == "published") for n in ("visitors", "dwell"))
    assert not v["shown"].iloc[4]
    assert not (v["shown"].iloc[0] and d["shown"].iloc[5])  # (residents + non-residents = the hidden all)
