"""The public API: every name of ``geozones.__all__`` is there, loaded on first use."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_every_public_name_resolves_and_is_documented():
    code = """
import inspect, geozones as gz
for name in gz.__all__:
    obj = getattr(gz, name)
    if callable(obj) and not inspect.isclass(obj) and not name.isupper():
        assert inspect.getdoc(obj), name
assert sorted(set(gz.__all__) - set(dir(gz))) == []
# each name has its place in the lazy table (or is a module, or bound at import)
print(sorted(n for n in gz.__all__ if n not in gz._WHERE and n not in gz._MODULES and n not in ("__version__",)))
"""
    assert _run(code) == "[]"


def test_import_loads_no_geometry_or_map_library_until_asked():
    """``import geozones`` (the errors, the stream engine) stays light: geopandas, shapely
    and folium are loaded by the functions that need them."""
    out = _run("import sys, geozones as gz; gz.CountsError; print(sorted(m for m in ('geopandas', 'shapely', 'folium') if m in sys.modules))")
    assert out == "[]"
    # the stream engine reads weights and counts without geometry
    out = _run("import sys, geozones as gz; gz.stream_counts, gz.read_weights, gz.zone_sums; "
               "print(sorted(m for m in ('geopandas', 'shapely', 'folium') if m in sys.modules))")
    assert out == "[]"
    out = _run("import sys, geozones as gz; gz.visitor_map; print('folium' in sys.modules)")
    assert out == "True"


def test_a_module_and_a_function_of_one_name_stay_the_function():
    """``geozones.extrapolate`` and ``geozones.visitor_tables`` are the functions, also after
    their modules were imported by another (a probe's ``gz.visitor_tables`` was the module
    once ``gz.run_visitors`` had run), whether the function was asked for before or after."""
    out = _run("import geozones as gz, geozones.engine, geozones.pipeline, geozones.visits; "
               "print(type(gz.extrapolate).__name__, type(gz.visitor_tables).__name__)")
    assert out == "function function"
    out = _run("import geozones as gz; f = gz.visitor_tables; import geozones.visits; "
               "from geozones.visitor_tables import protect; print(gz.visitor_tables is f, callable(protect))")
    assert out == "True True"


def test_the_packages_docstring_example_runs(tmp_path):
    """A probe ran the package's example with doctest: write_weights' path was not expected."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name in ("zones", "examples"):
        (tmp_path / name).symlink_to(root / name)
    code = "import doctest, geozones; r = doctest.testmod(geozones); print(r.attempted, r.failed)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    attempted, failed = map(int, r.stdout.split())
    assert attempted >= 5 and failed == 0, r.stdout


def test_every_public_function_has_numpydoc_parameters_and_returns():
    """Each function of ``geozones.__all__`` documents its parameters and what it returns
    in numpydoc sections (annotations are strings: ``from __future__ import annotations``).
    """
    import inspect

    import geozones as gz

    offenders = []
    for name in gz.__all__:
        obj = getattr(gz, name)
        if not inspect.isfunction(obj):
            continue
        sig = inspect.signature(obj)
        doc = inspect.getdoc(obj) or ""
        missing = []
        if sig.parameters and "Parameters\n----------" not in doc:
            missing.append("Parameters")
        if sig.return_annotation not in (None, "None", inspect.Signature.empty) and "Returns\n-------" not in doc:
            missing.append("Returns")
        if missing:
            offenders.append(f"{obj.__module__}.{name} ({', '.join(missing)})")
    assert not offenders, "public functions without numpydoc sections: " + "; ".join(offenders)


def test_a_script_without_a_main_guard_runs_its_job_once(tmp_path):
    """A probe's script called ``gz.run`` at top level, as the README shows it, without
    ``if __name__ == "__main__":``; each of the audit's spawned workers ran the whole script
    again (its own job, its own pool, which failed), and the parent waited for ever."""
    import os

    script = tmp_path / "noguard.py"
    script.write_text("import sys\nimport numpy as np\nfrom geozones.crossorigin import map_periods\n"
                      "print('top level ran', file=sys.stderr)\n"
                      "print(sum(map_periods(np.add, [(i, 1) for i in range(16)], 2, ([], -1))))\n")
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "136", r.stderr
    assert r.stderr.count("top level ran") == 1 and "one process" not in r.stderr, r.stderr


def test_disclosure_control_without_weights_or_nested_zones_says_its_table_is_not_safe(caplog):
    """A probe called it as the README did (no weights, no nested zones): 428 figures more
    than a run publishes, zones inside others 24 to 29 people apart. It now warns, and
    ``nested_zones`` finds what a run finds."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    import geozones as gz

    zones = gpd.GeoDataFrame({"zone_id": ["big", "small"], "name": ["Big", "Small"]},
                             geometry=[box(3.26, 50.82, 3.28, 50.83), box(3.26, 50.82, 3.27, 50.83)], crs="EPSG:4326")
    assert gz.nested_zones(zones) == [("big", "small")]
    table = pd.DataFrame({"zone_id": ["big", "small"], "period_start": pd.Timestamp("2026-07-06", tz="UTC"), "period": "1d",
                          "origin": "all", "observed": [105.0, 100.0]})
    caplog.set_level("WARNING", logger="geozones")
    out = gz.disclosure_control(table, k=30)
    assert (out["status"] == "published").all()  # (big - small = 5 people: what the warning is for)
    assert "not safe to publish" in caplog.text and "weights and nested" in caplog.text
    caplog.clear()
    out = gz.disclosure_control(table, k=30, nested=gz.nested_zones(zones), audit=False)
    assert out.set_index("zone_id").loc["small", "status"] == "suppressed" and "not safe" not in caplog.text


def test_extrapolate_refuses_totals_and_residents_and_takes_origins_before_them():
    """A probe extrapolated a table with totals and residents: they took the default row's
    share (the roamers' 0.25), 1.6 to 1.7 times a run's. Extrapolated first, then totalled,
    each origin keeps its share."""
    import pandas as pd
    import pytest

    import geozones as gz
    from geozones.errors import MarketShareError

    shares = pd.DataFrame({"origin": ["206", "208", "*"], "share": [0.4, 0.05, 0.25]})
    table = pd.DataFrame({"zone_id": "z", "period_start": pd.Timestamp("2026-07-06", tz="UTC"), "period": "1d",
                          "origin": ["206", "208"], "observed": [40.0, 5.0]})
    with pytest.raises(MarketShareError, match="extrapolate the origins first"):
        gz.extrapolate(gz.add_totals(table), shares)
    est, _ = gz.extrapolate(table, shares)
    total = gz.add_totals(est).set_index("origin").loc["all", "estimate"]
    assert total == pytest.approx(40 / 0.4 + 5 / 0.05)


def test_apportion_checks_a_counts_frame_made_in_a_notebook():
    """A probe's frame reached the apportioning unchecked: a NaN count gave NaN figures that
    disclosure control published, a naive time was taken for UTC, integer cell ids matched
    none of the plan's ('1000'), and an empty frame "mixed several period lengths"."""
    import numpy as np
    import pandas as pd
    import pytest
    from scipy import sparse

    import geozones as gz
    from geozones.errors import CountsError, InputError

    w = gz.Weights(sparse.csr_array(np.array([[1.0], [0.5]])), np.array(["1000", "1001"], dtype=object), np.array(["z"], dtype=object),
                   np.array([0.0, 0.5]))
    good = pd.DataFrame({"cell_id": ["1000", "1001"], "period_start": pd.Timestamp("2026-07-06", tz="UTC"), "period": "1d",
                         "origin": "206", "count": [40.0, 20.0]})
    base, _ = gz.apportion(good, w)
    as_int, _ = gz.apportion(good.assign(cell_id=[1000, 1001]), w)
    pd.testing.assert_frame_equal(base, as_int)
    for frame, words in ((good.assign(count=[40.0, np.nan]), "not a number of at least 0"),
                         (good.assign(count=[40.0, -1.0]), "not a number of at least 0"),
                         (good.assign(period_start=pd.Timestamp("2026-07-06")), "with its zone"),
                         (good.drop(columns="origin"), "no origin column"),
                         (good.iloc[:0], "no rows")):
        with pytest.raises(CountsError, match=words):
            gz.apportion(frame, w)
    with pytest.raises(InputError, match="'error' or 'drop'"):
        gz.apportion(good, w, unknown_cells="ignore")


def test_a_share_table_given_as_a_frame_is_checked_as_a_file_is():
    """A probe's share of 0 made every estimate infinite; 5 (a percentage) and NaN were taken."""
    import pandas as pd
    import pytest

    import geozones as gz
    from geozones.errors import MarketShareError

    table = pd.DataFrame({"zone_id": "z", "period_start": pd.Timestamp("2026-07-06", tz="UTC"), "period": "1d", "origin": ["206"], "observed": [40.0]})
    for shares, words in (([0.0, 0.25], "share 0 of origin '206'"), ([5.0, 0.25], "share 5 of"), ([float("nan"), 0.25], "share nan of")):
        with pytest.raises(MarketShareError, match=words):
            gz.extrapolate(table, pd.DataFrame({"origin": ["206", "*"], "share": shares}))
    with pytest.raises(MarketShareError, match="several shares"):
        gz.market_share_factors(["206"], pd.DataFrame({"origin": ["206", "206"], "share": [0.4, 0.3]}))


def test_report_event_days_given_as_a_dict_are_checked_as_a_file_is():
    """A probe's {"Braderie": ["03/07/2026"]} left the report without its event, silently;
    the CSV route refused the same date."""
    import pytest

    from geozones.errors import InputError
    from geozones.report import _event_dates

    with pytest.raises(InputError, match="event 'Braderie': date '03/07/2026' is not a date"):
        _event_dates({"Braderie": ["03/07/2026"]})  # (what build_report does with a dict, before reading a run)
    assert _event_dates({"Braderie": ["2026-07-03", "2026-07-04"], "Feest": "2026-08-01"}) == {
        "Braderie": ["2026-07-03", "2026-07-04"], "Feest": ["2026-08-01"]}


def test_api_calls_with_bad_arguments_raise_geozones_errors(tmp_path):
    """A probe's notebook: daily counts rolled up "to 1h" came back labelled hourly, kind
    'visits' summed as events, k='30' or NaN gave a TypeError or a bare ValueError,
    write_zones wrote duplicate ids read_zones then refused, and read_zones(GeoDataFrame)
    said 'kind: no such file or folder'."""
    import geopandas as gpd
    import pandas as pd
    import pytest
    from shapely.geometry import box

    import geozones as gz
    from geozones.errors import CountsError, InputError, ZoneError

    daily = pd.DataFrame({"cell_id": ["A"], "period_start": pd.Timestamp("2026-07-01", tz="UTC"), "period": "1d", "origin": "206", "count": [5.0]})
    with pytest.raises(CountsError, match="cannot be split into periods of 1h"):
        gz.rollup_counts(daily, "1h")
    with pytest.raises(InputError, match="kind 'visits'"):
        gz.rollup_counts(daily, "1w", kind="visits")
    table = daily.rename(columns={"cell_id": "zone_id", "count": "observed"})
    with pytest.raises(CountsError, match="cannot be split"):
        gz.rollup_time(table, "1h")
    assert gz.disclosure_control(table, k="30", audit=False)["status"].tolist() == ["suppressed"]
    for k in (0, float("nan"), "x"):
        with pytest.raises(InputError, match="k must be a number of people above 0"):
            gz.disclosure_control(table, k=k, audit=False)
    zones = gpd.GeoDataFrame({"zone_id": ["a", "a"], "name": ["A", "B"]}, geometry=[box(3, 50, 3.1, 50.1), box(3.1, 50, 3.2, 50.1)], crs="EPSG:4326")
    with pytest.raises(ZoneError, match="zone_id 'a' is given twice"):
        gz.write_zones(zones, tmp_path / "z.geojson")
    assert not (tmp_path / "z.geojson").exists()
    with pytest.raises(ZoneError, match="already a table of zones"):
        gz.read_zones(zones)


def test_a_weights_csvs_bad_row_is_named_by_its_line(tmp_path):
    """A probe's weights CSV error said "row 2" for the third data line (0-based, where
    docs/bad_input.md promises a CSV's line, the header line 1)."""
    import pytest

    import geozones as gz
    from geozones.errors import WeightsError

    p = tmp_path / "w.csv"
    p.write_text("cell_id,zone_id,weight\nA,z,0.5\nA,outside,0.5\nA,z,0.1\n")
    with pytest.raises(WeightsError, match="line 4: cell 'A' and zone 'z' appear twice"):
        gz.read_weights(p)
    p.write_text("cell_id,zone_id,weight\nA,z,0.5\nA,outside,1.5\n")
    with pytest.raises(WeightsError, match="line 3: weight"):
        gz.read_weights(p)


def test_geometry_and_density_arguments_a_notebook_gets_wrong_are_refused():
    """A probe's negative prior gave a density adding to -24,752, a NaN zone_id a zone named
    'nan', a negative range_m a wedge, a NaN one a GEOS error."""
    import geopandas as gpd
    import numpy as np
    import pytest
    from scipy import sparse
    from shapely.geometry import box

    import geozones as gz
    from geozones.errors import CoverageError, WeightsError

    P = sparse.csr_array(np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]))
    assert gz.estimate_density(P, np.array([10.0, 20.0]), np.ones(3)).sum() == pytest.approx(30.0)
    for prior in (-np.ones(3), np.full(3, np.nan), np.ones(2)):
        with pytest.raises(WeightsError, match="the prior must be"):
            gz.estimate_density(P, np.array([10.0, 20.0]), prior)
    with pytest.raises(WeightsError, match="iterations at least 0"):
        gz.estimate_density(P, np.array([10.0, 20.0]), np.ones(3), iterations=-1)
    cov = gpd.GeoDataFrame({"cell_id": ["a"]}, geometry=[box(0, 0, 100, 100)], crs="EPSG:3812")
    zones = gpd.GeoDataFrame({"zone_id": [np.nan], "name": ["Z"]}, geometry=[box(0, 0, 50, 50)], crs="EPSG:3812")
    with pytest.raises(WeightsError, match="zone_id that is empty"):
        gz.compute_weights(cov, zones)
    cells = gpd.GeoDataFrame({"cell_id": ["a", "b"], "site_id": ["s", "t"], "azimuth": [90.0, 0.0], "beamwidth": [65.0, 65.0],
                              "range_m": [500.0, -5.0]}, geometry=gpd.points_from_xy([3.26, 3.27], [50.82, 50.82]), crs="EPSG:4326")
    with pytest.raises(CoverageError, match="cell 'b': range_m -5 is not a positive number"):
        gz.wedge_coverage(cells)
