"""Small input/output helpers shared by the modules: atomic writes and file formats."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_path", "write_text_atomic", "file_format"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file keeps the final suffix, so that writers that pick a format
    from the extension still work. If the body raises, the temporary file is removed
    and ``path`` is left as it was: a failed run never leaves a half-written output.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {final.parent}: {exc.strerror}", path=final) from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as GDAL refuse to overwrite; let them create it
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise OutputError("the writer produced no file", path=final)
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def file_format(path: str | os.PathLike[str]) -> str:
    """Return ``"csv"``, ``"parquet"``, ``"geojson"`` or ``"json"`` from a file name."""
    suffix = Path(path).suffix.lower()
    return {
        ".csv": "csv",
        ".txt": "csv",
        ".tsv": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".geojson": "geojson",
        ".json": "json",
    }.get(suffix, "")
