"""The ``geozones`` command line: a module per verb group over the public API.

``main`` is the console script's entry point; ``cli`` the click group (for click's
``CliRunner``). Shared options are in :mod:`geozones.cli.options`. The API never imports
this package.
"""

from .main import cli, main

__all__ = ["cli", "main"]
