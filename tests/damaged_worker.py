"""Run ``geozones apportion`` on many damaged counts files in one process (see test_damaged_counts.py).

Usage: ``python damaged_worker.py ENGINE WEIGHTS ZONES RESULTS FILE...``. Each file is
run through the CLI in process; its exit code, what it printed on stderr and the files it
left are appended to RESULTS as one JSON line, and the file's name is written to
RESULTS.current first, so a process killed by a signal still says which file did it. A run
longer than 120 s ends the process with an alarm (a hang).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    engine, weights, zones, results, *files = argv
    from geozones.cli import main as cli

    results = Path(results)
    current = results.with_suffix(".current")
    with results.open("a") as out:
        for f in files:
            current.write_text(f)
            dest = Path(f).with_suffix(".out")
            err = io.StringIO()
            signal.alarm(120)
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    cli(["-q", "apportion", "--zones", zones, "--weights", weights, "--counts", f, "--engine", engine, "--k", "5",
                         "--no-map", "--out", str(dest)])
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException as exc:  # what the CLI let through: the test shows it
                    import traceback

                    code = "raised"
                    err.write("".join(traceback.format_exception(exc)))
            signal.alarm(0)
            left = sorted(p.name for p in dest.iterdir()) if dest.exists() else []
            out.write(json.dumps({"file": f, "code": code, "stderr": err.getvalue(), "left": left}) + "\n")
            out.flush()
            shutil.rmtree(dest, ignore_errors=True)
    current.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
