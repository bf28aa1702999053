"""What a benchmark writes beside its printout: the command that reproduces it, the
commit, its time and its tables, as one JSON file written atomically."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geozones._io import write_text_atomic  # noqa: E402


def write_record(out: str, script: str, argv: list[str] | None, seconds: float, tables: dict) -> None:
    """Write ``tables`` (already JSON-ready) with the command (``script`` and ``argv``, the
    script's own arguments: ``sys.argv[1:]`` when None), the commit and ``seconds`` to ``out``."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {"command": " ".join(["python3.11", script] + (argv if argv is not None else sys.argv[1:])),
              "commit": commit, "seconds": round(seconds, 1), **tables}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(record, default=str))
