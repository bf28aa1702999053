"""numba, with its cache in a folder of the user's (``$XDG_CACHE_HOME/geozones/numba``, or
``NUMBA_CACHE_DIR`` when set), never in the installed package: every module that compiles
takes numba from here (a probe's ``geozones weights`` wrote the clipper's cache into
``geozones/__pycache__``, as only the engine's kernels set the folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import numba

if not os.environ.get("NUMBA_CACHE_DIR"):  # (read when a function is compiled, not when numba is imported)
    numba.config.CACHE_DIR = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "geozones" / "numba")

__all__ = ["numba"]
