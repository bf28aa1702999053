"""The ``geozones`` command line: a module per verb group over the public API.

``main`` is the console script's entry point; ``cli`` the click group (for click's
``CliRunner``). Shared options are in :mod:`geozones.cli.options`. The API never imports
this package.
"""

from __future__ import annotations

import sys

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Run the command line (:func:`geozones.cli.app.main`), a Ctrl-C while its modules
    load included: it printed a traceback in the first second or two (a probe's).
    """
    try:
        from .app import main as run
    except KeyboardInterrupt:
        sys.stderr.write("geozones: interrupted\n")
        sys.exit(130)
    run(argv)


def __getattr__(name: str):
    if name == "cli":  # (the click group: loads the verbs)
        from .app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
