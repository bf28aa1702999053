"""Options shared by the verbs, with choices and defaults taken from the API, and the
status lines every verb prints (in the manner of rasterio's ``rio/options.py``).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path

import click

from ..aggregate import STATS
from ..cellkey import PROTECTIONS
from ..config import DEFAULTS, ENGINE_CHOICES, UNKNOWN_CELLS
from ..counts import KINDS
from ..coverage import MODELS
from ..density import DENSITIES
from ..errors import InputError
from ..extrapolate import DEFAULT_SHARE
from ..footprint import PRIORS, TILE_M, TILE_RANGE_M
from ..origins import LEVELS
from ..privacy import DEFAULT_K

log = logging.getLogger("geozones")

#: Coverage models that build areas from a cell plan (``given`` reads them).
BUILT_MODELS = tuple(m for m in MODELS if m not in ("given", "footprint"))
_METRIC_CRS = "Metric CRS for areas (default: EPSG:3812 in Belgium, else the local UTM zone)."
MODEL_HELP = (
    "Coverage model: wedge (sector wedges), voronoi (best-server areas split by sector), "
    "footprint (signal footprints over a 100 m grid and the density the counts imply) or "
    "given (the cell file holds coverage polygons with cell_id). "
    "Default: given when the file holds polygons, else footprint (the most accurate: docs/accuracy.md)."
)


def metric_crs(help: str = _METRIC_CRS):
    """``--metric-crs``: the metric CRS areas are measured in."""
    return click.option("--metric-crs", help=help)


def cell_crs(f):
    """``--crs``: the CRS of x, y columns in a cell plan."""
    return click.option("--crs", "cell_crs", help="CRS of x, y columns in the cell plan, e.g. EPSG:31370.")(f)


def zone_files(required: bool = True, help: str = "Zone file or folder (repeatable)."):
    """``--zones``, repeatable."""
    return click.option("--zones", "zone_paths", required=required, multiple=True, type=click.Path(), help=help)


def out_file(help: str, required: bool = True):
    """``--out``: a file to write."""
    return click.option("--out", required=required, type=click.Path(dir_okay=False), help=help)


def out_folder(help: str = "Output folder.", required: bool = True):
    """``--out``: a folder to write into."""
    return click.option("--out", required=required, type=click.Path(file_okay=False), help=help)


def model_option(f):
    """``--model`` of commands that build weights (any model; default from the cell file)."""
    return click.option("--model", type=click.Choice(MODELS), help=MODEL_HELP)(f)


def judged_model(help: str):
    """``--model`` of the checks that judge zones: the run's models, and ``given`` for coverage
    polygons (default: given for a file of them, else the run's default, footprint).
    """
    return click.option("--model", type=click.Choice(("footprint", *BUILT_MODELS, "given")), default=None,
                        help=help + " Default: footprint; given for a file of coverage polygons.")


def check_model(f):
    """``--model`` of ``zones check --cells``: a run's models, and ``given`` for coverage polygons (the default for a file of them)."""
    return click.option("--model", type=click.Choice(("footprint", *BUILT_MODELS, "given")), default=None,
                        help="With --cells: the model the zones are judged by (the run's default: footprint; given for a file of "
                             "coverage polygons).")(f)


def drawn_model(help: str):
    """``--model`` of the authoring pages (models built from a cell plan; given for coverage polygons)."""
    return click.option("--model", type=click.Choice((*BUILT_MODELS, "given")), default=None,
                        help=help + " Default: voronoi; given for a file of coverage polygons.")


def authoring_k(help: str = "Disclosure threshold (subscribers)."):
    """``--k`` of the authoring checks (whole subscribers)."""
    return click.option("--k", type=click.IntRange(1), default=int(DEFAULT_K), show_default=True, help=help)


def market_share(help: str = "The operator's market share."):
    """``--share`` of the authoring checks."""
    return click.option("--share", type=click.FloatRange(0, 1, min_open=True), default=DEFAULT_SHARE, show_default=True, help=help)


def self_contained(help: str = "Make map.html one file that loads nothing from other hosts (no basemap tiles)."):
    """``--self-contained``: HTML that requests nothing from other hosts."""
    return click.option("--self-contained", is_flag=True, help=help)


def strict(help: str):
    """``--strict``: exit with 1 on warnings."""
    return click.option("--strict", is_flag=True, help=help)


def protection_option(default: str | None, more: str = ""):
    """``--protection``: suppression alone, or suppression and the cell key method's noise."""
    return click.option("--protection", type=click.Choice(PROTECTIONS), default=default, show_default=default is not None,
                        help="suppress: threshold, complementary suppression and the attacker's audit; perturb: the same, then the "
                             "cell key method's noise on every published figure (docs/privacy.md). " + more)


def prior_option(default: str | None):
    """``--prior``: the footprint model's starting density (an ancillary layer multiplies it)."""
    return click.option("--prior", type=click.Choice(PRIORS), default=default, show_default=default is not None,
                        help="--model footprint: the density the estimate starts from: plan (the density of the cell plan's sites: "
                             "operators put sites where people are) or uniform; --ancillary multiplies it by up to 4 where the layer is densest (docs/accuracy.md).")


def tile_option(default: float = TILE_M):
    """``--tile-size``: the footprint model's grid."""
    lo, hi = TILE_RANGE_M
    return click.option("--tile-size", "tile_m", type=click.FloatRange(lo, hi), default=default, show_default=True,
                        help=f"--model footprint: side in metres of the grid's tiles ({lo:g}-{hi:g}); finer places people closer "
                             "and costs memory and time with the square of the ratio.")


def pipeline_options(f):
    """The options shared by ``apportion`` and ``run`` (RunConfig's keys), with its defaults."""
    d = DEFAULTS
    opts = [
        model_option,
        click.option("--density", type=click.Choice(DENSITIES), default=d["density"], show_default=True,
                     help="--model footprint: place each published period's people by the density of that period's own counts "
                          "(an event day's crowd where it stood), or by one density from the whole run's counts."),
        click.option("--kind", type=click.Choice(KINDS), default=d["kind"], show_default=True,
                     help="What the counts count: presence (devices attached), unique (distinct devices), events."),
        click.option("--stat", type=click.Choice(STATS), default=d["stat"], show_default=True,
                     help="Presence counts: a longer period is the mean or the maximum of the shorter ones."),
        click.option("--dedup-factor", type=float, help="Unique counts: share of the per-cell sum that is distinct people (0-1)."),
        click.option("--k", "k", type=float, default=d["k"], show_default=True, help="Disclosure threshold: least observed people behind a published figure."),
        protection_option(d["protection"]),
        click.option("--perturb-max", type=click.IntRange(1), default=d["perturb_max"], show_default=True,
                     help="--protection perturb: the largest change the noise makes to a published count."),
        click.option("--perturb-variance", type=float, default=d["perturb_variance"], show_default=True,
                     help="--protection perturb: the noise's variance (below --perturb-max squared)."),
        click.option("--secret-file", type=click.Path(dir_okay=False),
                     help="--protection perturb: the file holding the secret behind the cell keys (default $GEOZONES_SECRET_FILE, "
                          "else ~/.config/geozones/cell-key.secret, made at first use). Keep it private and keep it."),
        click.option("--market-share", type=click.Path(), help="CSV with columns origin, share: the operator's share per origin (for the estimate)."),
        click.option("--period", default=d["period"], show_default=True, help="Period of the published figures: 1h, 1d, 1w..."),
        click.option("--summary-period", default=d["summary_period"], show_default=True,
                     help="Also publish this longer period (the zones' summary): 1w, 1mo (calendar months), 1q (calendar quarters); 'none' for none."),
        click.option("--origin-level", type=click.Choice(LEVELS), default=d["origin_level"], show_default=True, help="Origins are rolled up to this level."),
        click.option("--residents/--no-residents", default=d["residents"], show_default=True,
                     help="Set apart people whose home is the zone's own municipality (zone property 'municipality')."),
        click.option("--unknown-cells", type=click.Choice(UNKNOWN_CELLS), default=d["unknown_cells"], show_default=True,
                     help="Counts for cells that are not in the cell plan: refuse them, or drop them and report it."),
        click.option("--strict-quality", is_flag=True, default=d["strict_quality"],
                     help="Refuse counts with missing periods, partial days, drops or silent cells (listed in the manifest otherwise)."),
        click.option("--heat-grid", "heat_grid_m", type=float, default=d["heat_grid_m"], show_default=True,
                     help="Side in metres of the grid behind the heat layer; 0 for none."),
        click.option("--heat-h3", type=click.IntRange(0, 15), help="Draw the heat layer from H3 cells of this resolution instead of squares."),
        click.option("--map/--no-map", "make_map", default=d["map"], show_default=True, help="Write map.html."),
        self_contained(),
        cell_crs,
        metric_crs(),
        click.option("--ancillary", type=click.Path(), help="Where people are: a population raster (GeoTIFF) or polygons (dasymetric weights; --model footprint: a factor on the prior)."),
        click.option("--ancillary-column", help="Value column of a polygon ancillary layer."),
        prior_option(d["prior"]),
        tile_option(d["tile_m"]),
        click.option("--engine", type=click.Choice(ENGINE_CHOICES), default=d["engine"], show_default=True,
                     help="How counts are read: auto (stream for Parquet, memory for CSV, events or --start/--end); in memory; "
                          "streamed from Parquet in bounded memory; or on Dask."),
        click.option("--memory-budget", default=d["memory_budget"], show_default=True,
                     help="stream/dask engines: most memory for the sums per period, origin and cell (e.g. 500MB, 4GB); a zone table "
                          "too large for what it leaves beside the process (a few hundred MB before any counts: "
                          "geozones -v says) is published in parts (not with a heat grid)."),
        click.option("--scheduler", help="dask engine: address of a distributed scheduler (tcp://host:8786); default: threads in process."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def say(message: str) -> None:
    """A status line on stderr, silenced by -q."""
    if log.isEnabledFor(logging.INFO):
        click.echo(message, err=True)


class step:
    """Say what is being done and, at the end, how long it took (on stderr, not with -q)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __enter__(self) -> step:
        self.t0 = time.perf_counter()
        say(f"{self.message}...")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            say(f"  done in {time.perf_counter() - self.t0:.2f} s")


#: Suffixes of the files a verb may read from an input folder: an ``--out`` that is one of them is refused.
_DATA_SUFFIXES = {".geojson", ".json", ".csv", ".tsv", ".txt", ".parquet", ".gpkg", ".shp", ".dbf", ".shx", ".kml", ".toml"}


def _paths(value) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, (list, tuple)):
        return [os.fspath(v) for v in value if isinstance(v, (str, os.PathLike))]
    return []


def check_out_is_no_input(out: str | None, inputs: dict) -> None:
    """Refuse an ``--out`` file that is one of the verb's inputs, or a data file inside an
    input folder: writing it would destroy what the verb reads (a probe's ``weights --out
    cellplan.csv`` replaced the cell plan, and the next command blamed the plan).

    Parameters
    ----------
    out : str or None
        The file the verb writes.
    inputs : dict
        The verb's other parameters by the name the user gave them (``--cells``, ``CELLPLAN``):
        every value that names an existing file or folder is an input.

    Raises
    ------
    InputError
        Naming the file and the parameter.
    """
    if not out or not os.path.exists(out) or os.path.isdir(out):
        return
    target = Path(out).resolve()
    for name, value in inputs.items():
        for item in _paths(value):
            p = Path(item)
            if not p.exists():
                continue
            if p.is_dir():
                hit = p.resolve() in target.parents and target.suffix.lower() in _DATA_SUFFIXES
            else:
                hit = os.path.samefile(p, target)
            if hit:
                raise InputError(
                    f"--out is {'a file in ' if p.is_dir() else ''}the input given as {name} ({item}); "
                    "writing it would destroy what this command reads",
                    path=out,
                    hint="write to another file: inputs are never modified",
                )


def guard_out(command: click.Command) -> click.Command:
    """Make ``command`` refuse an ``--out`` file that is one of its inputs (:func:`check_out_is_no_input`)."""
    callback = command.callback
    if callback is None or not any(p.name == "out" for p in command.params):
        return command

    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        out = kwargs.get("out")
        if out and not any(p.name == "out" and isinstance(p.type, click.Path) and not p.type.file_okay for p in command.params):
            shown = {p.name: p.opts[0] if isinstance(p, click.Option) else p.human_readable_name for p in command.params}
            check_out_is_no_input(out, {shown.get(k, k): v for k, v in kwargs.items() if k != "out"})
        return callback(*args, **kwargs)

    command.callback = guarded
    return command
