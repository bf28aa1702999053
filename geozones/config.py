"""A run's settings: :class:`RunConfig`, from flags or from a TOML file (:func:`load_config`).

The command line takes its defaults and choices from here, so that a flag and a TOML key
always mean the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .aggregate import STATS
from .cellkey import DEFAULT_MAX_NOISE, DEFAULT_VARIANCE, PROTECTIONS, perturbation_table
from .counts import KINDS, TIMEZONE, parse_period
from .coverage import MODELS
from .density import DENSITIES
from .engine import ENGINES, parse_size
from .errors import ConfigError, CountsError, InputError
from .footprint import PRIORS, TILE_M, TILE_RANGE_M
from .origins import LEVELS
from .periods import clock_change
from .privacy import DEFAULT_K

__all__ = ["RunConfig", "load_config", "pick_engine", "range_bound", "run_span", "footprint_only", "DEFAULTS", "ENGINE_CHOICES", "UNKNOWN_CELLS", "PATH_KEYS"]

#: ``engine`` may also be ``auto``: the stream engine for Parquet counts, the memory engine
#: for CSV counts, subscriber-level events or a ``start``/``end`` range (see :func:`pick_engine`).
ENGINE_CHOICES = ("auto", *ENGINES)
#: What to do with counts for cells that are not in the cell plan.
UNKNOWN_CELLS = ("error", "drop")


@dataclass
class RunConfig:
    """Everything a run needs. Paths are strings; see ``geozones run --help`` for each key."""

    zones: list[str]
    out: str
    cells: str | None = None
    counts: str | None = None
    events: str | None = None
    optout: str | None = None
    weights: str | None = None
    model: str | None = None
    density: str = "period"
    cell_crs: str | None = None
    metric_crs: str | None = None
    ancillary: str | None = None
    ancillary_column: str | None = None
    prior: str = "plan"
    tile_m: float = TILE_M
    kind: str = "presence"
    stat: str = "mean"
    dedup_factor: float | None = None
    period: str = "1d"
    summary_period: str | None = "1q"
    start: str | None = None
    end: str | None = None
    k: float = DEFAULT_K
    market_share: str | None = None
    origin_level: str = "province"
    residents: bool = True
    unknown_cells: str = "error"
    strict_quality: bool = False
    heat_grid_m: float | None = 250.0
    heat_h3: int | None = None
    map: bool = True
    self_contained: bool = False
    repair: bool = False
    engine: str = "auto"
    memory_budget: str = "2GB"
    scheduler: str | None = None
    protection: str = "suppress"
    perturb_max: int = DEFAULT_MAX_NOISE
    perturb_variance: float = DEFAULT_VARIANCE
    secret_file: str | None = None
    earlier: list[str] | None = None

    def validate(self) -> None:
        """Check values and combinations; raise ConfigError naming the setting."""
        def bad(key: str, why: str, hint: str = "") -> None:
            raise ConfigError(f"setting {key!r}: {why}", hint=hint or None)

        if not self.zones:
            bad("zones", "no zone file given")
        if self.weights is None and self.cells is None:
            bad("cells", "give a cell plan (or prebuilt weights)")
        if (self.counts is None) == (self.events is None):
            bad("counts", "give either counts or subscriber-level events, not both or neither")
        if self.optout and not self.events:
            bad("optout", "an opt-out list needs subscriber-level events", "opt-outs must be removed before counting: give events")
        if self.model is not None and self.model not in MODELS:
            bad("model", f"{self.model!r} is not one of {', '.join(MODELS)}")
        if self.kind not in KINDS:
            bad("kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        if self.events and self.kind != "unique":
            self.kind = "unique"
        if self.engine not in ENGINE_CHOICES:
            bad("engine", f"{self.engine!r} is not one of {', '.join(ENGINE_CHOICES)}")
        if self.engine not in ("memory", "auto") and self.events:
            bad("engine", f"subscriber-level events are counted in memory, not with the {self.engine} engine", "use --engine memory with --events")
        if self.engine not in ("memory", "auto") and (self.start or self.end):
            bad("start" if self.start else "end", f"a range is checked by the memory engine, not by the {self.engine} engine", "use --engine memory with --start/--end")
        if self.counts is not None and Path(self.counts).is_dir() and (self.engine == "memory" or (self.engine == "auto" and (self.start or self.end))):
            # (before the zones and weights are read: a folder of parts is the stream engine's)
            why = "as asked" if self.engine == "memory" else "which alone checks a start/end range"
            raise CountsError(f"is a folder: the memory engine ({why}) reads one file", path=self.counts,
                              hint="give one .csv or .parquet file, or read the folder's Parquet files with --engine stream"
                              + (", without --start/--end: cut the folder to the range instead" if self.start or self.end else ""))
        try:
            parse_size(self.memory_budget)
        except InputError as exc:
            bad("memory_budget", exc.message)
        if self.stat not in STATS:
            bad("stat", f"{self.stat!r} is not one of {', '.join(STATS)}")
        if self.origin_level not in LEVELS:
            bad("origin_level", f"{self.origin_level!r} is not one of {', '.join(LEVELS)}")
        if self.unknown_cells not in UNKNOWN_CELLS:
            bad("unknown_cells", f"{self.unknown_cells!r} is not error or drop")
        if not (isinstance(self.k, (int, float)) and not isinstance(self.k, bool) and 0 < self.k < float("inf")):
            bad("k", f"{self.k!r} is not a positive number")  # (inf: every figure hidden, and a manifest JSON cannot hold)
        if self.k < 1:  # (under one person every figure is published: a unit slip, 0.3 for 30)
            bad("k", f"{self.k:g} is under 1: it would publish every figure", "k counts people: at least 1 (the default is 30)")
        if self.density not in DENSITIES:
            bad("density", f"{self.density!r} is not one of {', '.join(DENSITIES)}")
        if self.prior not in PRIORS:
            bad("prior", f"{self.prior!r} is not one of {', '.join(PRIORS)}")
        if self.protection not in PROTECTIONS:
            bad("protection", f"{self.protection!r} is not one of {', '.join(PROTECTIONS)}")
        if self.protection == "perturb":
            try:
                perturbation_table(self.perturb_max, self.perturb_variance)
            except ConfigError as exc:
                bad("perturb_max" if "perturb_max'" in exc.message else "perturb_variance", exc.message.split(": ", 1)[-1], exc.hint or "")
        if self.protection == "perturb" and self.kind == "presence" and self.stat == "max":
            bad("stat", "a maximum is published only where its peak (a figure it is the maximum of) is, so that its value tells nothing "
                "new; with the cell key method's noise on each the two would differ (docs/privacy.md, 'Maxima')",
                "use --stat mean, or --protection suppress")
        self.k = float(self.k)  # (30 and 30.0 are one setting: the manifest says 30.0 for both)
        if self.dedup_factor is not None and not 0 < self.dedup_factor <= 1:
            bad("dedup_factor", f"{self.dedup_factor!r} is not in (0, 1]")
        lo, hi = TILE_RANGE_M
        if isinstance(self.tile_m, bool) or not isinstance(self.tile_m, (int, float)) or not lo <= self.tile_m <= hi:
            bad("tile_m", f"{self.tile_m!r} is not a tile side from {lo:g} to {hi:g} metres",
                "the footprint model's grid: 100 m by default; finer costs memory with the square of the ratio (docs/scale.md)")
        self.tile_m = float(self.tile_m)
        if self.heat_grid_m is not None and not self.heat_grid_m > 0:
            bad("heat_grid_m", f"{self.heat_grid_m!r} is not a positive number of metres")
        if self.heat_h3 is not None and not (isinstance(self.heat_h3, int) and 0 <= self.heat_h3 <= 15):
            bad("heat_h3", f"{self.heat_h3!r} is not an H3 resolution from 0 to 15")
        if isinstance(self.summary_period, str) and self.summary_period.strip().lower() == "none":
            self.summary_period = None  # (as the command line's --summary-period none: TOML has no null)
        for key in ("period", "summary_period"):
            value = getattr(self, key)
            if value is not None:
                try:
                    setattr(self, key, parse_period(value))
                except InputError as exc:
                    bad(key, exc.message)
        for key in ("start", "end"):
            value = getattr(self, key)
            if value is not None and range_bound(value) is None:
                why = _clock_change(value)
                bad(key, f"{value!r} {why}" if why else f"{value!r} is not an ISO 8601 date or time",
                    ("give it with an offset: 02:00+02:00 is the first, 02:00+01:00 the second" if "twice" in why
                     else "the clocks skip that hour: give a time after it (03:00), or with an offset") if why else "e.g. 2026-07-01 or 2026-07-01T06:00 (Europe/Brussels), or with an offset")
        if self.start is not None and self.end is not None and not range_bound(self.start) < range_bound(self.end):
            bad("end", f"{self.end!r} is not after start {self.start!r}", "the range is start <= period_start < end")

    def unused(self, *, cells_needed: bool = False, model: str | None = None) -> list[str]:
        """Settings given that the run did not use, each a sentence (warned once it has written).

        Only settings that differ from their defaults are named: a default cannot be told
        from a value given.

        Parameters
        ----------
        cells_needed : bool, default False
            Whether the cell plan served the run beside prebuilt weights (an earlier run's
            other zones are weighed from it).
        model : str, optional
            The coverage model the run used (the footprint model's settings are unused under another).

        Returns
        -------
        list of str
        """
        said = []
        if self.dedup_factor is not None and self.kind != "unique":  # (a probe's was taken without a word)
            said.append(f"--dedup-factor {self.dedup_factor:g} was not used: it is for unique counts of counts files (--kind unique), "
                        f"not {self.kind} counts")
        if self.stat != "mean" and self.kind != "presence":
            said.append(f"--stat {self.stat} was not used: it is for presence counts, and these are "
                        + ("subscriber-level events (distinct people per period)" if self.events else f"{self.kind} counts"))
        if self.weights:
            given = [f"--{name}" for name, value in (("cells", self.cells if not cells_needed else None), ("ancillary", self.ancillary))
                     if value is not None] + _footprint_given(self.prior, self.tile_m) + (["--cell-crs"] if self.cell_crs is not None and not cells_needed else [])
            if given:
                said.append(f"{', '.join(given)} {'was' if len(given) == 1 else 'were'} not used: the prebuilt weights ({self.weights}) "
                            "place the cells as they were built" + (" (a cell plan serves only an --earlier run's other zones)"
                                                                    if "--cells" in given else ""))
        elif model and model != "footprint":
            said += footprint_only(self.prior, self.tile_m, model)
        return said


def _footprint_given(prior: str, tile_m: float) -> list[str]:
    """The footprint model's settings given, not their defaults (``--prior``, ``--tile-size``)."""
    return [f"--{name}" for name, default in (("prior", prior == "plan"), ("tile-size", tile_m == TILE_M)) if not default]


def footprint_only(prior: str, tile_m: float, model: str) -> list[str]:
    """The footprint model's settings given (not their defaults) to a run or ``geozones
    weights`` of another model, in a sentence (or none).
    """
    given = _footprint_given(prior, tile_m)
    return [f"{', '.join(given)} {'was' if len(given) == 1 else 'were'} not used: settings of --model footprint, not {model}"] if given else []


def range_bound(value: str) -> pd.Timestamp | None:
    """``start`` or ``end`` as a UTC time (a date is local midnight in Europe/Brussels); None if unreadable."""
    try:
        # (ISO 8601 only: pandas reads 07/03/2026 as 3 July and 26/10/2025 as 26 October)
        t = pd.Timestamp(datetime.datetime.fromisoformat(str(value).strip()))
        if t.tzinfo is None:
            t = t.tz_localize(TIMEZONE, ambiguous="raise", nonexistent="raise")
        return t.tz_convert("UTC")
    except Exception:  # noqa: BLE001 - pandas and pytz raise several classes for a bad time
        return None


def run_span(cfg) -> tuple | None:
    """``--start`` and ``--end`` as UTC times (None where not given, or both None): the data
    quality checks look for missing periods over them.
    """
    if cfg.start is None and cfg.end is None:
        return None
    return (range_bound(cfg.start) if cfg.start is not None else None, range_bound(cfg.end) if cfg.end is not None else None)


def _clock_change(value: str) -> str:
    """Why a local time cannot be read, where a clock change is the reason (else "")."""
    try:
        t = pd.Timestamp(datetime.datetime.fromisoformat(str(value).strip()))
    except ValueError:
        return ""
    change = clock_change(t) if t.tzinfo is None else ""
    return {"forward": "does not exist in Europe/Brussels (clocks go forward)", "back": "happens twice in Europe/Brussels (clocks go back)"}.get(change, "")


#: TOML keys named as the command line's options where the two differ.
_ALIASES = {"crs": "cell_crs", "heat_grid": "heat_grid_m", "tile_size": "tile_m"}
_TYPES = {f.name: f.type for f in dataclasses.fields(RunConfig)}
PATH_KEYS = ("zones", "cells", "counts", "events", "optout", "weights", "ancillary", "market_share")


def load_config(path: str | os.PathLike[str], **overrides: Any) -> RunConfig:
    """Read a run configuration from TOML.

    Keys are the fields of :class:`RunConfig` at the top level (``zones`` a path or a list
    of paths). Relative paths are taken from the config file's folder. ``out`` must be
    a folder; unknown keys and wrong types are refused.

    Parameters
    ----------
    path : str or os.PathLike
        The TOML file (UTF-8).
    **overrides
        Settings that replace the file's (the command line's flags); those that are None
        are ignored; paths may be text or path objects. Their relative paths are taken from the config file's folder too.

    Returns
    -------
    RunConfig
        Validated (:meth:`RunConfig.validate`): paths joined to the config file's folder,
        ``zones`` a list, ``start`` and ``end`` text, ``k`` a float, period labels
        canonical.

    Raises
    ------
    ConfigError
        Unreadable TOML (with line and column), unknown keys, wrong types, bad values.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise ConfigError("no such file", path=path, hint="check the path") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8 text", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path, hint="see https://toml.io for the syntax") from exc
    def plain(v: Any) -> Any:  # (paths given as path objects, as the API's other functions take them)
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v

    # keys as the command line spells them are taken too (--heat-grid, --crs, --market-share)
    for key in list(data):
        name = _ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name != key and name in _TYPES:
            if name in data:
                raise ConfigError(f"keys {key!r} and {name!r} say the same", path=path, hint=f"keep one of them ({name!r})")
            data[name] = data.pop(key)
    if data.get("heat_grid_m") == 0:  # (no heat layer, as --heat-grid 0: TOML has no null)
        data["heat_grid_m"] = None
    data.update({k: plain(v) for k, v in overrides.items() if v is not None})
    unknown = sorted(set(data) - set(_TYPES))
    if unknown:
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
            path=path,
            hint=f"known keys: {', '.join(_TYPES)}",
        )
    if "zones" in data and isinstance(data["zones"], str):
        data["zones"] = [data["zones"]]
    for key in ("start", "end"):  # TOML dates and times are accepted as well as text
        if isinstance(data.get(key), (datetime.date, datetime.datetime)):
            data[key] = data[key].isoformat()
    for key, value in data.items():
        if not _type_ok(_TYPES[key], value):
            raise ConfigError(f"key {key!r} has the wrong type ({type(value).__name__})", path=path, hint=f"expected {_TYPES[key]}")
    for key in ("zones", "out"):
        if key not in data:
            raise ConfigError(f"missing key {key!r}", path=path)
    base = path.parent
    for key in PATH_KEYS + ("out", "secret_file", "earlier"):
        if key in data and data[key] is not None:
            if isinstance(data[key], list):
                data[key] = [str(base / p) for p in data[key]]
            else:
                data[key] = str(base / data[key])
    if "k" in data:
        data["k"] = float(data["k"])
    cfg = RunConfig(**data)
    try:
        cfg.validate()
    except ConfigError as exc:
        exc.path = str(path)
        raise ConfigError(exc.message, path=path, hint=exc.hint) from None
    return cfg


def _type_ok(annotation: str, value: Any) -> bool:
    ann = str(annotation)
    if value is None:
        return "None" in ann
    if ann.startswith("list"):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if "bool" in ann:
        return isinstance(value, bool)
    if ann.startswith("int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if "float" in ann:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if "str" in ann:
        return isinstance(value, str)
    return True



#: The default of every setting that has one, for the command line's options.
DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}


def pick_engine(cfg: RunConfig) -> tuple[str, str]:
    """The engine a run with ``engine = "auto"`` uses, and why, in words for the user.

    The stream engine for Parquet counts (a file or a folder of files: bounded memory,
    whatever their size); the memory engine for CSV counts, for subscriber-level events
    and for a ``start``/``end`` range, which only it checks. A setting other than ``auto``
    is kept as it is.
    """
    if cfg.engine != "auto":
        return cfg.engine, f"engine {cfg.engine} (as asked)"
    if cfg.events:
        return "memory", "engine memory: subscriber-level events are counted in memory"
    if cfg.start or cfg.end:
        return "memory", "engine memory: only it checks a start/end range"
    p = Path(cfg.counts)
    if p.is_dir() or p.suffix.lower() in (".parquet", ".pq"):
        return "stream", "engine stream: Parquet counts are read in bounded memory (--engine memory to read them whole)"
    why = "engine memory: CSV counts are read whole"
    size, free = _size(p), _available_memory()
    if size and free and 10 * size > free:  # (a CSV takes about 9 times its size in memory: 2.5 GB for an operator's 270 MB)
        why += (f"; this one ({size / 1e9:.1f} GB) may not fit in the {free / 1e9:.1f} GB of free memory: "
                "convert it to Parquet and the stream engine reads it in bounded memory")
    elif size > 100e6:
        why += (f"; this one ({size / 1e9:.1f} GB) takes about {9 * size / 1e9:.0f} GB of memory: "
                "converted to Parquet, the stream engine reads it in bounded memory")
    return "memory", why


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux; 0 where unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
