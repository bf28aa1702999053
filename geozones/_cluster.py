"""A Dask cluster's client for ``--scheduler``, with an error that names the scheduler."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .errors import ConfigError


@contextlib.contextmanager
def cluster(scheduler: str) -> Iterator:
    """A ``distributed.Client`` of the scheduler at ``scheduler``, closed at the end.

    Raises
    ------
    ConfigError
        When the scheduler cannot be reached (a probe's unreachable scheduler was told to
        check a path, its permissions and the disk).
    """
    from distributed import Client

    try:
        client = Client(scheduler)
    except (OSError, ValueError) as exc:  # (a timeout is an OSError; a malformed address a ValueError)
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r}: {' '.join(str(exc).split())}",
                          hint="start the scheduler and its workers ('dask scheduler', 'dask worker ADDRESS'), or correct --scheduler; "
                               "without --scheduler the run uses this machine's threads") from exc
    with client:
        yield client
