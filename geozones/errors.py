"""Exceptions raised by geozones.

Every error that a user can cause (a bad file, a bad setting) is one of the classes
below, never a bare ``ValueError`` or a library's own exception. Each message names
the file, the row or feature, and what to do about it, so that the command line can
print it as a single line and exit with a non-zero code.

The hierarchy follows rasterio's and fiona's ``errors`` modules: one base class to
catch everything, and a subclass per kind of input.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

__all__ = [
    "GeozonesError",
    "InputError",
    "ZoneError",
    "CountsError",
    "ConfigError",
    "MarketShareError",
    "CellPlanError",
    "CoverageError",
    "WeightsError",
    "CRSError",
    "OutputError",
    "BudgetError",
    "Problem",
]


class GeozonesError(Exception):
    """Base class of every error raised by geozones.

    Parameters
    ----------
    message : str
        What is wrong, in plain words.
    path : str or os.PathLike, optional
        The file the problem is in.
    where : str, optional
        The place in that file: ``"row 12"``, ``"feature 3 (zone_id 'W08')"``, ``"line 4, column 7"``.
    hint : str, optional
        What the user can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.where = where
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        head = ": ".join(p for p in (self.path, self.where) if p)
        text = f"{head}: {self.message}" if head else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class InputError(GeozonesError):
    """An input file cannot be read or does not have the expected content."""


class ZoneError(InputError):
    """A zone file has one or more problems.

    The ``problems`` attribute lists every :class:`Problem` found, not only the first.
    """

    def __init__(self, message: str, *, problems: list[Problem] | None = None, **kwargs) -> None:
        self.problems = list(problems or [])
        super().__init__(message, **kwargs)


class CountsError(InputError):
    """A counts, events or opt-out file is unusable."""


class MarketShareError(InputError):
    """A market-share table is unusable or lacks a share for an origin."""


class ConfigError(GeozonesError):
    """A run configuration has unknown keys, wrong types or unsafe paths."""


class CellPlanError(InputError):
    """A cell plan (cells with positions, azimuths, beamwidths, ranges) is unusable."""


class CoverageError(InputError):
    """Coverage areas cannot be built or read."""


class WeightsError(InputError):
    """A weights table is malformed or does not match the zones or cells."""


class CRSError(GeozonesError):
    """A coordinate reference system is unknown, missing, or unsuited to the task."""


class OutputError(GeozonesError):
    """An output cannot be written."""


class BudgetError(GeozonesError):
    """A run would need more memory than its budget (``--memory-budget``)."""


@dataclass(frozen=True)
class Problem:
    """One problem found while checking an input.

    Attributes
    ----------
    path : str
        The file.
    where : str
        The feature or row (``"feature 3 (zone_id 'W08')"``), or ``""`` for the whole file.
    code : str
        A short stable identifier, e.g. ``"duplicate-zone-id"``.
    message : str
        What is wrong.
    hint : str
        What to do about it.
    severity : str
        ``"error"`` (the file cannot be used) or ``"warning"`` (usable, but look at it).
    """

    path: str
    where: str
    code: str
    message: str
    hint: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        head = ": ".join(p for p in (self.path, self.where) if p)
        text = f"{head}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text
