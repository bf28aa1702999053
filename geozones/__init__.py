"""geozones: mobile-network counts per cell, apportioned to zones drawn by a city.

The pipeline is a chain of plain functions over plain data:

>>> import geozones as gz
>>> zones = gz.read_zones("zones/")                       # GeoDataFrame, EPSG:4326
>>> cells = gz.read_cellplan("examples/data/kortrijk_cellplan.csv")
>>> cov = gz.build_coverage(cells, "wedge")               # polygons in a metric CRS
>>> w = gz.compute_weights(cov, zones)                    # sparse cell x zone weights
>>> path = gz.write_weights(w, "weights.parquet")         # cell_id, zone_id, weight

The command line (``geozones --help``) calls the same functions.
"""

from __future__ import annotations

import sys as _sys
import types as _types
from pathlib import Path as _Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), so that a program that needs a
# part of geozones (the stream engine, the errors) does not load geopandas, shapely and
# folium: ``import geozones`` took 1.4 s with every module loaded.
_SUBMODULES = {
    "cellplan": ("read_cellplan", "read_sites"),
    "coverage": ("MODELS", "build_coverage", "read_coverage", "voronoi_coverage", "wedge_coverage"),
    "authoring": ("draw_map", "preview_map"),
    "authoring_checks": ("authoring_problems", "thin_differences", "zone_contributions", "zone_resolution"),
    "aggregate": ("add_totals", "apportion", "rollup_counts", "rollup_origins", "rollup_time"),
    "counts": ("KINDS", "events_to_counts", "parse_period", "read_counts", "read_events", "read_optout"),
    "crs": ("metric_crs",),
    "extrapolate": ("extrapolate", "market_share_factors", "read_market_share"),
    "maps": ("map_from_run", "save_map", "visitor_map"),
    "report": ("build_report", "read_event_days", "write_report"),
    "spend": ("read_spend",),
    "pipeline": ("RunConfig", "RunResult", "load_config", "run"),
    "privacy": ("DEFAULT_K", "disclosure_control", "publish"),
    "cellkey": ("Perturbation", "perturbation_table", "read_secret"),
    "engine": ("CellBins", "apportion_bins", "stream_counts", "stream_zone_sums", "stream_zone_table", "write_zone_table", "zone_sums"),
    "synth": ("national_case",),
    "errors": ("BudgetError", "CellPlanError", "ConfigError", "CountsError", "CoverageError", "CRSError", "GeozonesError", "InputError", "MarketShareError", "OutputError", "Problem", "WeightsError", "ZoneError"),
    "weights": ("Weights", "compute_weights", "compute_weights_dask", "zone_fit"),
    "ancillary": ("read_ancillary",),
    "weights_io": ("read_footprints", "read_weights", "write_footprints", "write_weights"),
    "footprint": ("Footprints", "estimate_density", "footprint_weights", "footprints"),
    "density": ("PeriodWeights", "period_weights"),
    "intervals": ("add_intervals",),
    "visitors": ("device_sums",),
    "visitor_tables": ("visitor_tables",),
    "visits": ("VisitorsConfig", "run_visitors"),
    "zones": ("OUTSIDE", "ZoneReport", "check_zones", "h3_grid", "read_zones", "square_grid", "write_zones", "zone_overlaps", "nested_zones"),
}
_WHERE = {name: module for module, names in _SUBMODULES.items() for name in names}
# submodules reached as attributes (gz.origins, gz.engine), as when every one was imported
_MODULES = {p.stem for p in _Path(__file__).parent.glob("*.py")} - {"__init__"} | {"engine"}

# ``extrapolate`` and ``visitor_tables`` are both a module and its function: importing the
# module (the stream engine imports geozones.extrapolate, geozones.visits imports
# geozones.visitor_tables) sets it as an attribute of the package, which must not take the
# function's place (a probe's ``gz.visitor_tables(...)`` failed, "'module' object is not
# callable", once ``gz.run_visitors`` had run).
_BOTH = {"extrapolate", "visitor_tables"}


class _Package(_types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        if name in _BOTH and isinstance(value, _types.ModuleType):
            return  # (the function is found by __getattr__; the module stays in sys.modules)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # for type checkers and IDEs: the names as plain imports
    from . import origins, simulate
    from .aggregate import add_totals, apportion, rollup_counts, rollup_origins, rollup_time
    from .ancillary import read_ancillary
    from .authoring import draw_map, preview_map
    from .authoring_checks import authoring_problems, thin_differences, zone_contributions, zone_resolution
    from .cellkey import Perturbation, perturbation_table, read_secret
    from .cellplan import read_cellplan, read_sites
    from .counts import KINDS, events_to_counts, parse_period, read_counts, read_events, read_optout
    from .coverage import MODELS, build_coverage, read_coverage, voronoi_coverage, wedge_coverage
    from .crs import metric_crs
    from .density import PeriodWeights, period_weights
    from .engine import CellBins, apportion_bins, stream_counts, stream_zone_sums, stream_zone_table, write_zone_table, zone_sums
    from .errors import (
        BudgetError,
        CellPlanError,
        ConfigError,
        CountsError,
        CoverageError,
        CRSError,
        GeozonesError,
        InputError,
        MarketShareError,
        OutputError,
        Problem,
        WeightsError,
        ZoneError,
    )
    from .extrapolate import market_share_factors, read_market_share
    from .footprint import Footprints, estimate_density, footprint_weights, footprints
    from .intervals import add_intervals
    from .maps import map_from_run, save_map, visitor_map
    from .pipeline import RunConfig, RunResult, load_config, run
    from .privacy import DEFAULT_K, disclosure_control, publish
    from .report import build_report, read_event_days, write_report
    from .spend import read_spend
    from .synth import national_case
    from .visitor_tables import visitor_tables
    from .visitors import device_sums
    from .visits import VisitorsConfig, run_visitors
    from .weights import Weights, compute_weights, compute_weights_dask, zone_fit
    from .weights_io import read_footprints, read_weights, write_footprints, write_weights
    from .zones import (
        OUTSIDE,
        ZoneReport,
        check_zones,
        h3_grid,
        nested_zones,
        read_zones,
        square_grid,
        write_zones,
        zone_overlaps,
    )


def __getattr__(name: str):
    import importlib

    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    # zones
    "OUTSIDE",
    "ZoneReport",
    "check_zones",
    "read_zones",
    "zone_overlaps",
    "nested_zones",
    "square_grid",
    "h3_grid",
    "write_zones",
    # authoring
    "zone_resolution",
    "zone_contributions",
    "thin_differences",
    "authoring_problems",
    "preview_map",
    "draw_map",
    # coverage
    "MODELS",
    "read_cellplan",
    "read_sites",
    "read_coverage",
    "wedge_coverage",
    "voronoi_coverage",
    "build_coverage",
    # weights
    "Weights",
    "compute_weights",
    "read_ancillary",
    "read_weights",
    "write_weights",
    "zone_fit",
    # the footprint model and intervals
    "Footprints",
    "PeriodWeights",
    "period_weights",
    "footprints",
    "estimate_density",
    "footprint_weights",
    "read_footprints",
    "write_footprints",
    "add_intervals",
    # counts
    "KINDS",
    "parse_period",
    "read_counts",
    "read_events",
    "read_optout",
    "events_to_counts",
    # aggregate
    "apportion",
    "stream_counts",
    "stream_zone_sums",
    "stream_zone_table",
    "compute_weights_dask",
    "apportion_bins",
    "write_zone_table",
    "zone_sums",
    "CellBins",
    "national_case",
    "BudgetError",
    "rollup_counts",
    "rollup_time",
    "rollup_origins",
    "add_totals",
    "origins",
    # accuracy: simulation with ground truth
    "simulate",
    # extrapolate
    "read_market_share",
    "market_share_factors",
    "extrapolate",
    # privacy
    "DEFAULT_K",
    "disclosure_control",
    "Perturbation",
    "perturbation_table",
    "read_secret",
    "publish",
    # pipeline
    "visitor_map",
    "save_map",
    "map_from_run",
    "build_report",
    "write_report",
    "read_spend",
    "read_event_days",
    "RunConfig",
    "RunResult",
    "load_config",
    "run",
    # device-level indicators (geozones visitors)
    "VisitorsConfig",
    "run_visitors",
    "device_sums",
    "visitor_tables",
    # crs
    "metric_crs",
    # errors
    "GeozonesError",
    "InputError",
    "ZoneError",
    "CellPlanError",
    "CountsError",
    "ConfigError",
    "MarketShareError",
    "CoverageError",
    "WeightsError",
    "CRSError",
    "OutputError",
    "Problem",
]
