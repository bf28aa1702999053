"""The ``geozones`` command group and its entry point: verbs over the library, in the
manner of rasterio's ``rio``.

Every command calls the same public functions as a notebook user would. Errors that a
user can cause come out as one line on stderr and a non-zero exit code:

* 0: success (``zones check``: no problem that makes a zone unusable);
* 1: a problem with an input (``zones check``: a zone file has a problem);
* 2: a usage error (unknown option, missing argument);
* 3: an internal error (a bug: set ``GEOZONES_DEBUG=1`` for the traceback, and report it).
"""

from __future__ import annotations

import logging
import os
import sys

import click

from .. import __version__
from ..errors import GeozonesError
from .cells import coverage_cmd, weights_cmd
from .options import guard_out
from .outputs import map_cmd, report_cmd
from .run import apportion_cmd, demo_cmd, run_cmd
from .visitors import visitors_cmd
from .zones import zones

log = logging.getLogger("geozones")


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "note"
        click.echo(f"{level}: {record.getMessage()}", err=True)


def _setup_logging(verbosity: int) -> None:
    log.handlers[:] = [_StderrHandler()]
    log.propagate = False
    log.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="geozones")
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="Print debugging notes on stderr, and each stage's time and peak memory.")
def cli(quiet: bool, verbose: bool) -> None:
    """Turn mobile-network counts per cell into visitor counts for zones.

    Zones are GeoJSON polygons drawn by GIS staff; cells come from the operator's cell
    plan. See 'geozones COMMAND --help'.
    """
    _setup_logging(-1 if quiet else (1 if verbose else 0))


for _command in (zones, coverage_cmd, weights_cmd, apportion_cmd, run_cmd, demo_cmd, map_cmd, report_cmd, visitors_cmd):
    cli.add_command(_command)
for _command in (coverage_cmd, weights_cmd, map_cmd, report_cmd, *(c for n, c in zones.commands.items() if n != "check")):
    guard_out(_command)  # (an --out file that is one of the command's inputs is refused; 'zones check --repair' says it its own way)


def _terminated(signum, frame) -> None:
    """SIGTERM (a scheduler or ``kill`` stopping the job) stops a run as Ctrl-C does: its
    half-made output folder is taken away and the old outputs stay.
    """
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Run the command line; exit with 0, 1 (input problem), 2 (usage), 3 (internal error)
    or 130 (interrupted: Ctrl-C or SIGTERM).
    """
    import signal
    import threading

    previous = signal.signal(signal.SIGTERM, _terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        _run(argv)
    finally:  # (main called in a process of the caller's, as the tests do: its handler back)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="geozones", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("geozones: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "geozones"
        click.echo(f"{cmd}: usage error: {exc.format_message()} (see '{cmd} --help')", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"geozones: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except GeozonesError as exc:
        click.echo("geozones: error: " + " ".join(str(exc).split()), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("geozones: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:  # a file we could not read or write: the user's to fix, not a bug
        click.echo(f"geozones: error: {_os_error(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug: one line, unless asked for the traceback
        if os.environ.get("GEOZONES_DEBUG"):
            raise
        click.echo(
            f"geozones: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(set GEOZONES_DEBUG=1 for the traceback, and please report it)",
            err=True,
        )
        sys.exit(3)
    sys.exit(rv if isinstance(rv, int) else 0)


def _os_error(exc: OSError) -> str:
    """An OSError in one line with what to do: a full disk is not a permission problem (a
    probe's full disk was told to check permissions; Arrow's errors carry the errno in
    their text only).
    """
    import errno

    from ..outfolder import error_words

    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    code, what = error_words(exc)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        hint = "free space on the disk that holds the output folder, or write it elsewhere; the earlier outputs are kept"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "check the path and its permissions"
    else:
        hint = "check the path, its permissions and the disk"
    return f"{where}{what} ({hint})"


if __name__ == "__main__":  # pragma: no cover
    main()
