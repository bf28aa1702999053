"""Fuzzing the readers: whatever the bytes, only geozones' own errors come out."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geozones as gz
from geozones.errors import GeozonesError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)), max_leaves=30)
numbers = st.floats(-400, 400, allow_nan=False)
ring = st.lists(st.tuples(numbers, numbers), min_size=0, max_size=6).map(lambda pts: [list(p) for p in pts])
geometry = st.one_of(
    json_values,
    st.fixed_dictionaries({"type": st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString", "Nonsense"]),
                           "coordinates": st.one_of(st.lists(ring, max_size=3), st.lists(st.lists(ring, max_size=2), max_size=2), json_values)}),
)
features = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Feature", "feature", "Other"]),
         "properties": st.one_of(st.none(), st.dictionaries(st.sampled_from(["zone_id", "name", "x"]), scalars, max_size=3)),
         "geometry": st.one_of(st.none(), geometry)}
    ),
    max_size=5,
)


def expect_own_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except GeozonesError:
        return None


@FUZZ
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                 features.map(lambda f: json.dumps({"type": "FeatureCollection", "features": f}).encode())))
def test_zone_reader(tmp_path, data):
    p = tmp_path / "z.geojson"
    p.write_bytes(data)
    report = gz.check_zones(p)
    assert all(isinstance(x, gz.Problem) for x in report.problems)
    expect_own_errors(gz.read_zones, p)


csv_cell = st.one_of(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=8), numbers.map(str), st.just(""))
headers = st.lists(st.sampled_from(["cell_id", "site_id", "lon", "lat", "x", "y", "azimuth", "beamwidth", "range_m", "period_start", "period", "count", "origin", "junk"]), min_size=1, max_size=8, unique=True)


@st.composite
def csv_files(draw):
    head = draw(headers)
    sep = draw(st.sampled_from([",", ";", "\t"]))
    rows = draw(st.lists(st.lists(csv_cell, min_size=len(head), max_size=len(head)), max_size=6))
    text = sep.join(head) + "\n" + "\n".join(sep.join(r) for r in rows)
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])), errors="replace")


@FUZZ
@given(st.one_of(csv_files(), st.binary(max_size=120)))
def test_cell_plan_reader(tmp_path, data):
    p = tmp_path / "cells.csv"
    p.write_bytes(data)
    expect_own_errors(gz.read_cellplan, p)
    expect_own_errors(gz.read_cellplan, p, crs="EPSG:31370")


@FUZZ
@given(st.one_of(csv_files(), st.binary(max_size=120)))
def test_counts_reader(tmp_path, data):
    p = tmp_path / "counts.csv"
    p.write_bytes(data)
    expect_own_errors(gz.read_counts, p)
    expect_own_errors(gz.read_market_share, p)


toml_values = st.one_of(st.booleans(), st.integers(-5, 100), st.floats(-1, 1e6, allow_nan=False), st.text(max_size=10),
                        st.lists(st.text(max_size=6), max_size=3))
toml_keys = st.sampled_from(["zones", "out", "cells", "counts", "kind", "k", "period", "stat", "model", "heat_grid_m", "heat_h3",
                             "origin_level", "residents", "colour", "map"])


def toml_text(d: dict) -> str:
    return "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + "\n"


@FUZZ
@given(st.one_of(st.dictionaries(toml_keys, toml_values, max_size=8).map(toml_text), st.text(max_size=80)))
def test_config_reader(tmp_path, text):
    p = tmp_path / "run.toml"
    p.write_text(text, encoding="utf-8")
    expect_own_errors(gz.load_config, p)
