"""Small input/output helpers shared by the modules: atomic writes and file formats."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .errors import GeozonesError, InputError, OutputError

log = logging.getLogger("geozones")

__all__ = ["atomic_path", "write_text_atomic", "file_format", "read_csv_text", "read_parquet_table", "row_label"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file keeps the final suffix, so that writers that pick a format
    from the extension still work. If the body raises, the temporary file is removed
    and ``path`` is left as it was: a failed run never leaves a half-written output.
    """
    final = Path(path)
    # (a symbolic link is replaced, never followed: docs/bad_input.md, "Symlinks are replaced")
    if final.exists() and not final.is_symlink() and not final.is_file():
        import stat

        kind = "a folder" if final.is_dir() else "a pipe" if stat.S_ISFIFO(final.stat().st_mode) else "a device or socket"
        # (a probe's 'coverage --out /dev/full', run as root, replaced the device with a GeoJSON file)
        raise OutputError(f"is {kind}, not a file: an output is written whole beside it and then renamed over it", path=Path(path),
                          hint="give the path of a file, and copy the file where it should go")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {final.parent}: {exc.strerror}", path=final,
                          hint="a file of that name is in the way" if final.parent.exists() or any(q.is_file() for q in final.parents)
                          else "check the path and that you may write there") from exc
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


def write_text_atomic(path: str | os.PathLike[str], text: str | Iterable[str]) -> Path:
    """Write ``text`` (or its pieces, in order: a page written as it is made) as UTF-8 to
    ``path`` atomically and return the path.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines([text] if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def file_format(path: str | os.PathLike[str]) -> str:
    """Return ``"csv"``, ``"parquet"``, ``"geojson"`` or ``"json"`` from a file name (a
    gzipped CSV, ``.csv.gz``, is ``"csv"``).
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".gz":
        inner = Path(Path(path).stem).suffix.lower()
        return "csv" if inner in (".csv", ".txt", ".tsv") else ""
    return {
        ".csv": "csv",
        ".txt": "csv",
        ".tsv": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".geojson": "geojson",
        ".json": "json",
    }.get(suffix, "")


def row_label(i: int, fmt: str) -> str:
    """Where row ``i`` (from 0) is, as a user sees it: a CSV line (the header is line 1) or a row."""
    return f"line {i + 2}" if fmt == "csv" else f"row {i}"


def csv_delimiter(header: str) -> str:
    """The delimiter of a CSV file from its header line: ``,`` ``;`` tab or ``|``, the most frequent."""
    return max([",", ";", "\t", "|"], key=header.count)


def read_csv_text(path: Path, *, error: type[GeozonesError] = InputError, what: str = "table"):
    """Read a CSV as text columns, whatever its delimiter (``,`` ``;`` tab ``|``) and encoding.

    UTF-8 with or without a byte-order mark is read as such, and UTF-16 with its mark
    (Excel's "Unicode text"); anything else as Windows-1252 (Latin-1), with a warning. Column names are stripped and lower-cased.

    Raises
    ------
    GeozonesError
        Of class ``error``: the file is missing, empty or not CSV.
    """
    import pandas as pd

    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise error("no such file", path=path, hint="check the path") from exc
    if Path(path).suffix.lower() == ".gz":  # (an operator's export.csv.gz)
        import gzip
        import zlib

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise error(f"not a readable gzip file: {exc}", path=path, hint=f"export the {what} again") from exc
    if not raw.strip():
        raise error("the file is empty", path=path, hint=f"export the {what} again")
    for magic, kind in ((b"PAR1", "a Parquet file"), (b"PK\x03\x04", "an Excel workbook (or another zip file)")):
        if raw.startswith(magic):  # (a probe's Parquet market-share table read as Latin-1 text: two lines, neither saying why)
            raise error(f"is {kind}, not a CSV", path=path, hint=f"give the {what} as a CSV file (Excel: save as CSV UTF-8)")
    try:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # (Excel's "Unicode text": UTF-16 with its byte-order mark)
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        log.warning("%s: not UTF-8; read as Windows-1252 (Latin-1)", path)
    sep = csv_delimiter(text.split("\n", 1)[0])
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        if "on source failed" in str(exc):  # (text in memory fails to read only when Ctrl-C cut the read short: a probe was told to export again)
            raise KeyboardInterrupt from exc
        said = " ".join(str(exc).split())
        if m := re.search(r"EOF inside string starting at row (\d+)", said):  # (pandas counts rows from 0, the header's included)
            said = f"a quote opened on line {int(m.group(1)) + 1} is never closed"
        raise error(f"not a readable CSV: {said}", path=path, hint=f"export the {what} again as CSV") from exc
    df.columns = [str(c).strip().lstrip("\ufeff").lower() for c in df.columns]
    return df


def read_parquet_table(path: str | os.PathLike[str], *, text: tuple[str, ...] = (), error: type[GeozonesError] = InputError):
    """Read a Parquet file with Arrow, row group by row group, into one ``pyarrow.Table``.

    Columns whose lower-case name is in ``text`` are read as dictionaries. A damaged file
    is one ``error`` naming the file, and the row group where a page cannot be read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    damaged = "the Parquet file is damaged: export it again"
    try:
        names = pq.read_schema(path).names
        f = pq.ParquetFile(path, read_dictionary=[n for n in names if n.lower() in text] or None)
        groups = f.metadata.num_row_groups
    except Exception as exc:  # Arrow raises several classes for a damaged footer
        raise error(f"cannot read the file: {' '.join(str(exc).split())}", path=path, hint=damaged) from exc
    tables = []
    for i in range(groups):
        try:
            tables.append(f.read_row_group(i))
        except Exception as exc:  # (Arrow's classes, OSError, and the codecs' own)
            raise error(f"cannot read row group {i}: {' '.join(str(exc).split())}", path=path, hint=damaged) from exc
    try:
        return pa.concat_tables(tables) if tables else f.schema_arrow.empty_table()
    except Exception as exc:  # row groups whose types disagree
        raise error(f"cannot read the file: {' '.join(str(exc).split())}", path=path, hint=damaged) from exc


def people_text(v: float) -> str:
    """A count of people as the pages and maps write it: whole, thousands apart by a comma
    (``18,400``, as the command line and the legend write them; a space let a narrow page
    break "7 007" across lines), empty when not a number.

    Parameters
    ----------
    v : float

    Returns
    -------
    str
    """
    return f"{v:,.0f}" if np.isfinite(v) else ""


def shown_value(v) -> str:
    """A value of a user's file as an error names it (``nan``, ``1e+20``, ``5000``, ``'abc'``):
    NumPy's scalars without their type (``np.float64(5000.0)``).
    """
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(v)


def read_run_json(path: str | os.PathLike[str], *, missing: object = None) -> dict:
    """A JSON file a run wrote (``manifest.json``, ``visitors_manifest.json``): ``missing``
    where there is none; a damaged one is an error naming it (a probe's truncated manifest
    made ``map`` and ``report`` stop on an internal error).
    """
    import json

    path = Path(path)
    if not path.is_file():
        return missing
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"is not a readable JSON file ({exc})", path=path,
                         hint="the run's files are damaged: run it again, or restore the folder") from None
    if not isinstance(out, dict):
        raise InputError("is not a JSON object", path=path, hint="the run's files are damaged: run it again, or restore the folder")
    return out


def read_run_zones(path: str | os.PathLike[str], **kwargs):
    """A run's ``zones.geojson`` as a GeoDataFrame; a damaged one is an error naming it."""
    import geopandas as gpd

    try:
        return gpd.read_file(path, **kwargs)
    except Exception as exc:  # (pyogrio raises several classes for a damaged file)
        raise InputError(f"cannot be read: {' '.join(str(exc).split())[:200]}", path=path,
                         hint="the run's files are damaged: run it again, or restore the folder") from None
