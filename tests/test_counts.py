"""Reading counts, events and opt-outs; origins; extrapolation factors."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import geozones as gz
from geozones.errors import CountsError, MarketShareError


def write(tmp_path, text, name="counts.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


HEAD = "cell_id,period_start,period,count,origin\n"


def test_local_times_and_offsets(tmp_path):
    p = write(tmp_path, HEAD + "A,2026-07-01T10:00,1h,5,34022\nB,2026-07-01T08:00Z,60min,3,208\nC,2026-01-15 10:00,1h,1,FR\n")
    c = gz.read_counts(p)
    # 10:00 in Brussels summer time is 08:00 UTC; winter time is UTC+1
    assert c["period_start"].dt.strftime("%H:%M").tolist() == ["08:00", "08:00", "09:00"]
    assert c["period"].unique().tolist() == ["1h"]
    assert c["origin"].tolist() == ["34022", "FR", "FR"]


def test_a_date_alone_is_local_midnight_on_every_engine(tmp_path):
    """A day's start written as a date ("2025-06-02") is midnight in Brussels, from CSV and
    Parquet alike (the date's own "-02" was taken for a UTC offset: 02:00 local, in the
    CSV's output only; a Leuven probe)."""
    text = HEAD + "A,2025-06-02,1d,500,206\nA,2025-12-02,1d,400,204\nB,2025-06-03T00:00+02:00,1d,3,206\n"
    c = gz.read_counts(write(tmp_path, text))
    local = c["period_start"].dt.tz_convert("Europe/Brussels").dt.strftime("%Y-%m-%d %H:%M").tolist()
    assert local == ["2025-06-02 00:00", "2025-12-02 00:00", "2025-06-03 00:00"]
    pq = tmp_path / "counts.parquet"
    pd.read_csv(write(tmp_path, text), dtype=str).to_parquet(pq)
    assert gz.read_counts(pq)["period_start"].tolist() == c["period_start"].tolist()


@pytest.mark.parametrize(
    "row, match",
    [
        ("A,2026-07-01T10:00,1h,-1,34022", "is negative"),
        ("A,2026-07-01T10:00,1h,many,34022", "is not a number"),
        ("A,2026-07-01T10:00,1h,nan,34022", "NaN"),
        ("A,2026-07-01T10:00,1h,inf,34022", "infinite"),
        ("A,yesterday,1h,1,34022", "not an ISO 8601 time"),
        ("A,2026-10-25T02:30,1h,1,34022", "happens twice"),
        ("A,2026-03-29T02:30,1h,1,34022", "does not exist"),
        ("A,2026-07-01T10:00,1h,1,Narnia", "is not a known NIS code"),
        ("A,2026-07-01T10:00,7min,1,34022", "minutes must divide an hour"),
    ],
)
def test_bad_count_rows_name_the_line(tmp_path, row, match):
    p = write(tmp_path, HEAD + "A,2026-07-01T09:00,1h,1,34022\n" + row + "\n")
    with pytest.raises(CountsError, match=match) as exc:
        gz.read_counts(p)
    assert "line 3" in str(exc.value) and str(p) in str(exc.value)


def test_missing_columns_empty_file_and_mixed_periods(tmp_path):
    with pytest.raises(CountsError, match="no count column"):
        gz.read_counts(write(tmp_path, "cell_id,period_start,period\nA,2026-07-01T10:00,1h\n"))
    with pytest.raises(CountsError, match="empty"):
        gz.read_counts(write(tmp_path, ""))
    with pytest.raises(CountsError, match="differs"):
        gz.read_counts(write(tmp_path, HEAD + "A,2026-07-01T10:00,1h,1,34022\nA,2026-07-01,1d,1,34022\n"))


def test_duplicates_exact_dropped_conflicting_refused(tmp_path):
    c = gz.read_counts(write(tmp_path, HEAD + "A,2026-07-01T10:00,1h,5,34022\nA,2026-07-01T10:00,1h,5,34022\n"))
    assert len(c) == 1 and "duplicate" in c.attrs["notes"][0]
    with pytest.raises(CountsError, match="different counts on line 2, line 3"):
        gz.read_counts(write(tmp_path, HEAD + "A,2026-07-01T10:00,1h,5,34022\nA,2026-07-01T10:00,1h,6,34022\n"))


def test_semicolons_bom_and_parquet(tmp_path):
    p = tmp_path / "c.csv"
    p.write_bytes("\ufeffcell_id;period_start;period;count\nA;2026-07-01T10:00;1h;5\n".encode())
    c = gz.read_counts(p)
    assert c["origin"].tolist() == ["all"] and c["count"].tolist() == [5.0]
    df = pd.DataFrame({"cell_id": ["A"], "period_start": pd.to_datetime(["2026-07-01 10:00"]), "period": ["1h"], "count": [2]})
    df.to_parquet(tmp_path / "c.parquet")
    c = gz.read_counts(tmp_path / "c.parquet")  # naive timestamps are Brussels local time
    assert c["period_start"].iloc[0] == pd.Timestamp("2026-07-01 08:00", tz="UTC")


def test_events_to_unique_counts_and_optout(tmp_path):
    p = write(
        tmp_path,
        "subscriber_id,cell_id,timestamp,origin\n"
        "s1,A,2026-07-01T10:05,34022\ns1,A,2026-07-01T10:40,34022\ns1,B,2026-07-01T10:50,34022\n"
        "s2,A,2026-07-01T10:10,208\ns3,A,2026-07-01T11:10,34022\n",
        "events.csv",
    )
    ev = gz.read_events(p)
    counts, info = gz.events_to_counts(ev, "1h")
    got = {(r.cell_id, r.period_start.hour, r.origin): r.count for r in counts.itertuples()}
    assert got == {("A", 8, "34022"): 1, ("A", 8, "FR"): 1, ("B", 8, "34022"): 1, ("A", 9, "34022"): 1}
    # 3 distinct people per (hour, origin) against 4 per-cell uniques: s1 was on two cells
    assert info["dedup_factor"] == pytest.approx(3 / 4)
    # (stop 56's attacker: fewer than k people-periods on a second cell are told by the factor's 4 digits: none then)
    assert gz.events_to_counts(ev, "1h", k=2)[1]["dedup_factor"] == 1.0 and gz.events_to_counts(ev, "1h", k=1)[1]["dedup_factor"] == 0.75
    optout = write(tmp_path, "# people who opted out\ns1\n\n", "optout.txt")
    counts, info = gz.events_to_counts(ev, "1h", optout=gz.read_optout(optout))
    assert info["removed_subscribers"] == 1 and info["removed_events"] == 3
    got = {(r.cell_id, r.period_start.hour, r.origin): r.count for r in counts.itertuples()}
    assert got == {("A", 8, "FR"): 1, ("A", 9, "34022"): 1}


def test_origins_roll_up():
    codes, levels = gz.origins.normalize_origins(pd.Series(["34022", "30000", "208", "fr", "", "21004", "4000"]))
    assert codes.tolist() == ["34022", "30000", "FR", "FR", "unknown", "21004", "04000"]
    assert levels.tolist()[:3] == ["municipality", "province", "country"]
    assert gz.origins.rollup_codes(codes, "province").tolist() == ["30000", "30000", "FR", "FR", "unknown", "04000", "04000"]
    assert gz.origins.rollup_codes(codes, "country").tolist() == ["BE", "BE", "FR", "FR", "unknown", "BE", "BE"]
    assert gz.origins.origin_names(["30000", "FR", "34022"]) == {"30000": "West-Vlaanderen", "FR": "France", "34022": "Kortrijk"}


def test_market_share_lookup(tmp_path):
    p = write(tmp_path, "origin,share\n30000,0.42\nBE,0.4\n208,0.3\n*,0.25\n", "ms.csv")
    ms = gz.read_market_share(p)
    f = gz.market_share_factors(["34022", "30000", "10000", "FR", "NL"], ms)
    assert f == {"34022": 0.42, "30000": 0.42, "10000": 0.4, "FR": 0.3, "NL": 0.25}
    strict = gz.read_market_share(write(tmp_path, "origin,share\n30000,0.42\n", "strict.csv"))
    with pytest.raises(MarketShareError, match="no market share for origin 'FR'"):
        gz.market_share_factors(["FR"], strict)
    with pytest.raises(MarketShareError, match="fraction"):
        gz.read_market_share(write(tmp_path, "origin,share\n30000,40\n", "pct.csv"))
    assert gz.market_share_factors(["FR"], None) == {"FR": 1.0}


def test_an_origin_as_published_takes_its_own_rows_share_and_unused_finer_rows_are_said(caplog):
    """Stop 56: a province's share pooled from its municipalities' shares over the run's own
    counts gave a municipality's people away; an origin as published now takes the table's
    row for itself (else its province's, BE's, *'s), and the rows it leaves unused are said."""
    from geozones.extrapolate import label_shares, rest_share, unused_rows, warn_unused_rows

    ms = pd.DataFrame({"origin": ["44021", "44019", "40000", "BE", "FR", "*"], "share": [0.5, 0.2, 0.41, 0.38, 0.3, 0.05]})
    assert label_shares(["40000", "44021", "BE", "FR", "all", "unknown", "30000"], ms) == {
        "40000": 0.41, "44021": 0.5, "BE": 0.38, "FR": 0.3, "all": 0.5, "unknown": 0.05, "30000": 0.38}
    assert rest_share(ms) == 0.5 and rest_share(None) == 1.0 and label_shares(["all", "FR"], None) == {"all": 1.0, "FR": 1.0}
    # (a total's rest at a level: the largest of the rows used there as they are, not a finer row the run says it leaves unused)
    assert rest_share(ms, "municipality") == 0.5 and rest_share(ms, "province") == 0.41 and rest_share(ms, "country") == 0.38
    parts = pd.DataFrame({"origin": ["34022", "34002", "FR"], "share": [0.4, 0.5, 0.02]})
    with pytest.raises(MarketShareError, match=r"no market share for origin '30000' \(West-Vlaanderen\) as --origin-level province "
                                               r"publishes it: the table has rows for its parts \(34022, 34002\)"):
        label_shares(["30000", "FR"], parts, "province")
    with pytest.raises(MarketShareError, match=r"'BE' \(Belgium\) as --origin-level country publishes it"):
        label_shares(["BE"], parts, "country")
    assert unused_rows(ms, "municipality") == {}
    assert unused_rows(ms, "province") == {"44021": ("40000", 0.5, 0.41), "44019": ("40000", 0.2, 0.41)}
    assert unused_rows(ms, "province", keep=frozenset({"44021"})) == {"44019": ("40000", 0.2, 0.41)}  # (a home kept apart: its own)
    assert set(unused_rows(ms, "country")) == {"44021", "44019", "40000"}
    with caplog.at_level("WARNING", logger="geozones"):
        warn_unused_rows(ms, "province")
    assert "2 market-share rows finer than --origin-level province are not used (e.g. 44021 at 0.5, whose people are published as 40000 at 0.41)" in caplog.text



@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.sampled_from("ABC"), st.integers(0, 179), st.sampled_from(["34022", "FR"])), min_size=1, max_size=80),
    st.sets(st.integers(0, 30)),
)
def test_optout_removes_exactly_the_listed_people(rows, optout):
    ev = pd.DataFrame(
        {
            "subscriber_id": [f"s{s}" for s, *_ in rows],
            "cell_id": [c for _, c, _, _ in rows],
            "timestamp": [pd.Timestamp("2026-07-01 08:00", tz="UTC") + pd.Timedelta(minutes=m) for *_, m, _ in rows],
            "origin": [o for *_, o in rows],
        }
    )
    listed = {f"s{i}" for i in optout}
    counts, info = gz.events_to_counts(ev, "1h", optout=listed)
    kept = ev[~ev["subscriber_id"].isin(listed)]
    # the same counts as if the listed people had never been in the data
    expect = kept.assign(period_start=kept["timestamp"].dt.floor("1h")).groupby(["cell_id", "period_start", "origin"])["subscriber_id"].nunique()
    got = counts.set_index(["cell_id", "period_start", "origin"])["count"]
    assert got.to_dict() == expect.astype(float).to_dict()
    assert info["removed_subscribers"] == len(listed & set(ev["subscriber_id"]))
    assert info["removed_events"] == int(ev["subscriber_id"].isin(listed).sum())


@pytest.mark.parametrize("code", ["UK", "QQ", "XX", "99999", "95001", "92000"])
def test_codes_that_name_no_country_or_arrondissement_are_refused(tmp_path, code):
    """Two letters are a country only if ISO 3166 has it (UK is GB); a Walloon NIS code must
    lie in an arrondissement (99999 was taken as the province of Namur). In the counts and in
    the market-share table alike."""
    from geozones.origins import normalize_origins

    assert normalize_origins(pd.Series([code]))[1].iloc[0] == "invalid"
    assert list(normalize_origins(pd.Series(["GB", "xk", "92094", "54007"]))[1]) == ["country", "country", "municipality", "municipality"]
    p = tmp_path / "c.csv"
    p.write_text(f"cell_id,period_start,period,count,origin\nA,2026-07-01T10:00,1h,40,34022\nA,2026-07-01T10:00,1h,40,{code}\n")
    with pytest.raises(CountsError, match=rf"line 3: origin '{code}' is not a known"):
        gz.read_counts(p)
    s = tmp_path / "s.csv"
    s.write_text(f"origin,share\n*,0.4\n{code},0.3\n")
    with pytest.raises(gz.errors.MarketShareError, match=rf"line 3: origin '{code}' is not a known code"):
        gz.read_market_share(s)


@pytest.mark.parametrize("count", [40, 41])
def test_two_codes_of_one_origin_in_one_cell_and_period_are_named(tmp_path, count):
    """208 and FR are both France: equal counts are not an exact duplicate to drop, nor are
    different ones a conflict of 'FR' alone; the error names both codes and both lines."""
    p = tmp_path / "c.csv"
    p.write_text(f"cell_id,period_start,period,count,origin\nA,2026-07-01T10:00,1h,40,208\nA,2026-07-01T10:00,1h,9,34022\n"
                 f"A,2026-07-01T10:00,1h,{count},FR\n")
    with pytest.raises(CountsError, match=r"origins '208' and 'FR' on line 2, line 4 are the same origin \(FR\)"):
        gz.read_counts(p)


def test_merged_municipalities_take_their_successors_code_and_unknown_codes_are_refused(tmp_path):
    from geozones.origins import normalize_origins

    norm, levels = normalize_origins(pd.Series(["44001", "44029", "34022", "73111", "4000", "57081", "34999"]))
    assert list(norm[:4]) == ["44084", "44084", "34022", "73111"]  # Aalter and Knesselare are Aalter since 2019; 2025's codes are known
    assert list(levels[:6]) == ["municipality"] * 4 + ["province", "municipality"]  # (a Walloon code: its province is known)
    assert levels.iloc[6] == "invalid"  # no municipality of West Flanders has code 34999
    p = tmp_path / "c.csv"
    p.write_text("cell_id,period_start,period,count,origin\nA,2026-07-01T10:00,1h,40,34022\nA,2026-07-01T10:00,1h,40,34999\n")
    with pytest.raises(CountsError, match=r"line 3: origin '34999' is not a known NIS code"):
        gz.read_counts(p)


def test_an_optout_list_is_read_however_a_spreadsheet_or_a_hash_tool_wrote_it(tmp_path):
    """A probe's lists in upper-case hex, in CSV quoting with a header, or in UTF-16 removed
    nobody, silently: the ids must be the same ids whichever way they are written."""
    ids = ["abd5e1f0", "0c9f77aa", "ffee0011"]
    ev = pd.DataFrame({"subscriber_id": ids + ["keep01"], "cell_id": "A", "origin": "34022",
                       "timestamp": pd.Timestamp("2026-07-01 08:00", tz="UTC")})
    forms = {
        "upper.txt": "\n".join(i.upper() for i in ids) + "\n",
        "quoted.csv": 'subscriber_id,reason\n' + "".join(f'"{i}",gdpr\n' for i in ids),
        "quoted_header.csv": '"subscriber_id";"reason"\r\n' + "".join(f'"{i.upper()}";"x"\r\n' for i in ids),
        "one_column.txt": "".join(f'"{i}"\n' for i in ids),
    }
    for name, text in forms.items():
        listed = gz.read_optout(write(tmp_path, text, name))
        _, info = gz.events_to_counts(ev, "1h", optout=listed)
        assert info["removed_subscribers"] == 3, name
    digits = gz.read_optout(write(tmp_path, "subscriber_id;note\n00123;x\n", "digits.csv"))
    assert digits == {"00123"}  # (text, not a number that loses its zeros)
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("\n".join(ids) + "\n", encoding="utf-16")
    assert gz.read_optout(utf16) == set(ids)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"abd5\xe9\n")
    with pytest.raises(CountsError, match="latin.txt.*not UTF-8"):
        gz.read_optout(latin)


def test_start_at_a_clock_change_says_why_not_that_it_is_no_iso_time():
    """A probe's --start 2026-10-25T02:00 and 2026-03-29T02:30 were "not an ISO 8601 date or time"."""
    from geozones.config import RunConfig
    from geozones.errors import ConfigError

    for value, words in (("2026-10-25T02:00", "happens twice in Europe/Brussels"), ("2026-03-29T02:30", "does not exist in Europe/Brussels"),
                         ("2026-13-01", "is not an ISO 8601 date or time")):
        with pytest.raises(ConfigError, match=words):
            RunConfig(zones=["z"], cells="c", counts="k", out="o", start=value).validate()
    RunConfig(zones=["z"], cells="c", counts="k", out="o", start="2026-10-25T02:00+01:00").validate()


def test_a_parquet_time_without_a_zone_at_a_clock_change_is_named_as_a_time_and_told_how_to_store_it(tmp_path):
    """A probe's typed column gave "period_start Timestamp('2026-10-25 02:00:00') happens twice"
    and advice to write an offset, which a typed column cannot hold."""
    from geozones.errors import CountsError

    p = tmp_path / "naive.parquet"
    pd.DataFrame({"cell_id": ["A"], "period_start": pd.to_datetime(["2026-10-25T02:00"]), "period": "1h", "count": [5], "origin": ["30000"]}).to_parquet(p)
    with pytest.raises(CountsError) as e:
        gz.read_counts(p)
    text = str(e.value)
    assert "'2026-10-25T02:00:00' happens twice" in text and "Timestamp(" not in text and "tz=UTC" in text


def test_a_number_for_a_time_is_quoted_as_the_file_has_it(tmp_path):
    """The memory engine wrote `period_start np.int64(1792792)` where the stream and Dask
    engines wrote '1792792' (a probe)."""
    p = tmp_path / "c.parquet"
    pd.DataFrame({"cell_id": ["A"], "period_start": [1792792], "period": ["1h"], "count": [5], "origin": ["FR"]}).to_parquet(p)
    with pytest.raises(gz.errors.CountsError, match=r"period_start '1792792' is not an ISO 8601 time"):
        gz.read_counts(p)


def test_a_time_far_in_the_future_is_named_on_its_own_line(tmp_path):
    """Stop 56's probe: 9999-12-31 on line 6 read "line 2: period_start '2026-09-14T00:00:00+02:00'
    is not an ISO 8601 time" (parsed in microseconds, the year 9999 overflowed every time)."""
    rows = "".join(f"A,2026-09-14T{h:02d}:00:00+02:00,1h,5,30000\n" for h in range(4))
    p = write(tmp_path, "cell_id,period_start,period,count,origin\n" + rows + "A,9999-12-31T23:00+01:00,1h,5,30000\n", "c.csv")
    with pytest.raises(CountsError, match=r"line 6: period_start '9999-12-31T23:00\+01:00' lies outside 1990 to 2199"):
        gz.read_counts(p)
    p = write(tmp_path, "cell_id,period_start,period,count,origin\nA,garbage,1h,5,30000\nA,2999-01-01T00:00,1h,5,30000\n", "d.csv")
    with pytest.raises(CountsError, match=r"line 2: period_start 'garbage' is not an ISO 8601 time"):
        gz.read_counts(p)


def test_counts_of_which_drop_leaves_nothing_say_so(small_case, tmp_path):
    """Stop 56's probe: every cell id unknown with --unknown-cells drop read "the counts mix
    several period lengths", naming no file."""
    from .conftest import run_cli

    counts = tmp_path / "other.csv"
    counts.write_text(small_case["counts"].read_text().replace("\nA,", "\nX1,").replace("\nB,", "\nX2,"))
    r = run_cli("apportion", "--zones", small_case["zones"], "--cells", small_case["cells"], "--counts", counts, "--unknown-cells", "drop",
                "--out", tmp_path / "o")
    assert r.returncode == 1 and "other.csv: none of its 2 cell ids is in the cell plan (e.g. 'X1')" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_a_parquet_or_excel_file_given_for_a_csv_and_an_unclosed_quote_say_what_and_where(tmp_path, caplog):
    """Stop 56's probe: a Parquet market-share table gave a 'not UTF-8' warning and then a
    tokenizing error; an unclosed quote on line 11 was 'row 10' (pandas' count from 0)."""
    pd.DataFrame({"origin": ["BE"], "share": [0.4]}).to_parquet(tmp_path / "ms.parquet")
    with caplog.at_level("WARNING", logger="geozones"), pytest.raises(MarketShareError, match=r"ms.parquet: is a Parquet file, not a CSV"):
        gz.read_market_share(tmp_path / "ms.parquet")
    assert "UTF-8" not in caplog.text
    (tmp_path / "ms.csv").write_bytes(b"PK\x03\x04\x14\x00\x06\x00rest of a workbook")
    with pytest.raises(MarketShareError, match="is an Excel workbook"):
        gz.read_market_share(tmp_path / "ms.csv")
    p = write(tmp_path, "cell_id,period_start,period,count,origin\nA,2026-07-01T00:00,1h,5,30000\nA,2026-07-01T01:00,1h,\"5,30000\n", "c.csv")
    with pytest.raises(CountsError, match="a quote opened on line 3 is never closed"):
        gz.read_counts(p)


def test_a_market_share_row_without_origin_is_refused(tmp_path):
    """Stop 56's probe: a row ',0.3' was taken silently as the share of 'unknown'."""
    p = write(tmp_path, "origin,share\n30000,0.4\n,0.3\n", "ms.csv")
    with pytest.raises(MarketShareError, match="line 3: origin is empty"):
        gz.read_market_share(p)
