"""Weights files: :class:`~geozones.weights.Weights` written to and read from Parquet or
CSV (``cell_id``, ``zone_id``, ``weight``; a row ``outside`` per cell), checked on reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._io import atomic_path, file_format
from .errors import WeightsError
from .weights import Weights, check_weight_range

__all__ = ["write_weights", "read_weights", "footprints_path", "write_footprints", "read_footprints"]


def write_weights(weights: Weights, path: str | os.PathLike[str]) -> Path:
    """Write weights as Parquet (``cell_id``, ``zone_id``, ``weight``), atomically.

    The ``meta`` dict is kept in the file's schema metadata under ``geozones``.
    A ``.csv`` path writes CSV instead (without the metadata).

    Parameters
    ----------
    weights : Weights
        The weights to write, as the rows of :meth:`Weights.to_frame`: every non-zero
        weight, a ``zone_id`` ``"outside"`` row per cell, a row of weight 0 per zone that
        no cell reaches.
    path : str or os.PathLike
        The output file: Parquet, or CSV (weights with 17 significant digits, so that they
        read back exactly) for a ``.csv`` name.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    df = weights.to_frame()
    with atomic_path(path) as tmp:
        if file_format(path) == "csv":
            df.to_csv(tmp, index=False, float_format="%.17g")
        else:
            table = pa.Table.from_pandas(df, preserve_index=False)
            md = dict(table.schema.metadata or {})
            md[b"geozones"] = json.dumps(weights.meta, sort_keys=True).encode()
            pq.write_table(table.replace_schema_metadata(md), tmp)
    return Path(path)


def read_weights(path: str | os.PathLike[str]) -> Weights:
    """Read weights written by :func:`write_weights` (Parquet or CSV).

    Parameters
    ----------
    path : str or os.PathLike
        A table with ``cell_id``, ``zone_id`` and ``weight`` (a number in [0, 1]): Parquet,
        or CSV for a ``.csv`` name.

    Returns
    -------
    Weights
        Cells and zones sorted by id. The ``"outside"`` rows give :attr:`Weights.outside`
        (a cell without one gets ``max(0, 1 - sum of its weights)``); a zone named only by
        a row of weight 0 is an empty column. ``meta`` is the Parquet file's ``geozones``
        metadata; empty for CSV.

    Raises
    ------
    WeightsError
        If the file cannot be read or is not a weights table.
    """
    path = Path(path)
    try:
        if file_format(path) == "csv":
            df = pd.read_csv(path, dtype={"cell_id": str, "zone_id": str}, keep_default_na=False)
            meta = {}
        else:
            table = pq.read_table(path)
            raw = (table.schema.metadata or {}).get(b"geozones")
            meta = json.loads(raw) if raw else {}
            fast = _from_arrow(table, str(path), meta)
            if fast is not None:
                return fast
            df = table.to_pandas()
    except FileNotFoundError as exc:
        raise WeightsError("no such file", path=path, hint="check the path") from exc
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot read weights: {exc}", path=path, hint="give a weights.parquet written by 'geozones weights'") from exc
    return Weights.from_frame(df, source=str(path), meta=meta)


def _from_arrow(table, source: str, meta: dict) -> Weights | None:
    """Weights from an Arrow table of string ids and float weights, with the ids encoded by
    Arrow (3x faster than through pandas for the national case's 381,189 rows: a whole
    process reads them); None for other column types (:meth:`Weights.from_frame` reads those).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = table.schema.names
    if not {"cell_id", "zone_id", "weight"} <= set(names):
        return None
    cols = {n: table.column(n) for n in ("cell_id", "zone_id", "weight")}
    if not all(pa.types.is_string(c.type) or pa.types.is_large_string(c.type) for n, c in cols.items() if n != "weight"):
        return None
    if not pa.types.is_floating(cols["weight"].type) or any(c.null_count for c in cols.values()):
        return None

    def codes(col) -> tuple[np.ndarray, np.ndarray]:  # (code per row into the sorted distinct values, those values)
        enc = pc.dictionary_encode(col.combine_chunks())
        values = enc.dictionary
        order = pc.sort_indices(values).to_numpy()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank[enc.indices.to_numpy()], np.asarray(values.take(pa.array(order)).to_pylist(), dtype=object)

    w = cols["weight"].to_numpy()
    check_weight_range(w, source, shown=lambda i: float(w[i]))
    ci, cell_ids = codes(cols["cell_id"])
    zc, zone_all = codes(cols["zone_id"])
    return Weights._from_codes(ci, cell_ids, zc, zone_all, w, source=source, meta=meta)


# ------------------------------------------------------------------------------ footprints
#: The parts of a footprints file: the footprints P (cell, tile), the tiles' zone shares A
#: (tile, zone) and the tiles' own columns (tile, 0: x, 1: y, 2: share in any zone, 3: prior).
_PARTS = ("P", "A", "tile")


def footprints_path(weights_path: str | os.PathLike[str]) -> Path:
    """The footprints file beside a weights file: ``w.parquet`` -> ``w.footprints.parquet``.

    Parameters
    ----------
    weights_path : str or os.PathLike

    Returns
    -------
    pathlib.Path
    """
    p = Path(weights_path)
    return p.with_name(p.name.rsplit(".", 1)[0] + ".footprints.parquet")


def write_footprints(fp, path: str | os.PathLike[str]) -> Path:
    """Write :class:`~geozones.footprint.Footprints` as one Parquet table, atomically.

    Rows ``part``, ``row``, ``col``, ``value``: the non-zero entries of the footprints
    (``P``: cell, tile), of the tiles' zone shares (``A``: tile, zone) and the tiles' columns
    (``tile``: tile, 0 x, 1 y, 2 share in any zone, 3 prior). Cell and zone ids and the
    parameters are in the schema metadata under ``geozones``.

    Parameters
    ----------
    fp : Footprints
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path
    """
    from scipy import sparse

    parts, rows, cols, vals = [], [], [], []
    for name, m in (("P", fp.matrix), ("A", fp.zone_shares)):
        coo = sparse.coo_array(m)
        parts.append(np.full(coo.nnz, _PARTS.index(name), np.int8))
        rows.append(coo.row.astype(np.int64))
        cols.append(coo.col.astype(np.int64))
        vals.append(coo.data.astype(np.float64))
    n = fp.n_tiles
    tiles = np.stack([fp.x, fp.y, fp.in_zones, fp.prior])
    parts.append(np.full(4 * n, 2, np.int8))
    rows.append(np.tile(np.arange(n, dtype=np.int64), 4))
    cols.append(np.repeat(np.arange(4, dtype=np.int64), n))
    vals.append(tiles.ravel().astype(np.float64))
    part = pa.DictionaryArray.from_arrays(pa.array(np.concatenate(parts)), pa.array(list(_PARTS)))
    row, col = np.concatenate(rows), np.concatenate(cols)
    small = max(row.max(initial=0), col.max(initial=0)) < 2**31  # (int32 indices: a third smaller national files)
    table = pa.table({"part": part, "row": row.astype(np.int32) if small else row, "col": col.astype(np.int32) if small else col,
                      "value": np.concatenate(vals)})
    md = {b"geozones": json.dumps({"kind": "footprints", "cell_ids": [str(c) for c in fp.cell_ids],
                                   "zone_ids": [str(z) for z in fp.zone_ids], "meta": fp.meta}, sort_keys=True).encode()}
    # lossless encodings that suit the columns: indices that rise (delta) and probabilities
    # split by byte (zstd then finds the shared exponents): a third smaller nationally,
    # read four times faster, the same values
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(md), tmp, compression="zstd", use_dictionary=["part"],
                       column_encoding={"row": "DELTA_BINARY_PACKED", "col": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"})
    return Path(path)


def read_footprints(path: str | os.PathLike[str]):
    """Read a footprints file written by :func:`write_footprints`, checked.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Footprints

    Raises
    ------
    WeightsError
        If the file cannot be read, is not a footprints file, or holds an index out of
        range or a value that is not a probability or a share.
    """
    from .footprint import Footprints

    path = Path(path)
    hint = "write it again with 'geozones weights --model footprint'"
    try:
        f = pq.ParquetFile(path)
        head = json.loads((f.schema_arrow.metadata or {}).get(b"geozones", b"{}"))
    except FileNotFoundError as exc:
        raise WeightsError("no such file", path=path, hint=hint) from exc
    except Exception as exc:
        raise WeightsError(f"cannot read footprints: {exc}", path=path, hint=hint) from exc
    names = f.schema_arrow.names
    if head.get("kind") != "footprints" or not {"part", "row", "col", "value"} <= set(names):
        raise WeightsError("is not a footprints file", path=path, hint=hint)
    cells = np.asarray(head.get("cell_ids", []), dtype=object)
    zones = np.asarray(head.get("zone_ids", []), dtype=object)
    which, row, col, val = _footprint_columns(f, path, hint)
    # the parts in the writer's order (P, A, tiles), each a slice; any other order is sorted once
    if len(which) > 1 and (which[1:] < which[:-1]).any():
        order = np.argsort(which, kind="stable")
        which, row, col, val = which[order], row[order], col[order], val[order]
        del order
    lo = np.searchsorted(which, np.arange(len(_PARTS) + 1))
    t = slice(lo[2], lo[3])
    n = int(row[t].max()) + 1 if lo[3] > lo[2] else 0
    bounds = {0: (len(cells), n), 1: (n, len(zones)), 2: (n, 4)}
    for k, (nr, nc) in bounds.items():
        r, c = row[lo[k]:lo[k + 1]], col[lo[k]:lo[k + 1]]
        if len(r) and (r.min() < 0 or r.max() >= nr or c.min() < 0 or c.max() >= nc):
            raise WeightsError(f"part {_PARTS[k]} holds an index out of range", path=path, hint=hint)
    bad = ~np.isfinite(val)
    bad[:lo[2]] |= (val[:lo[2]] < 0) | (val[:lo[2]] > 1 + 1e-9)
    if bad.any():
        raise WeightsError(f"row {int(np.flatnonzero(bad)[0])} holds {val[bad][0]!r}, not a probability or share", path=path, hint=hint)
    del bad
    if np.bincount(col[t], minlength=4).tolist() != [n] * 4:
        raise WeightsError("the tiles' columns are incomplete", path=path, hint=hint)
    cols4 = np.zeros((4, n))
    cols4[col[t], row[t]] = val[t]
    P = _csr(row[lo[0]:lo[1]], col[lo[0]:lo[1]], val[lo[0]:lo[1]], (len(cells), n))
    A = _csr(row[lo[1]:lo[2]], col[lo[1]:lo[2]], val[lo[1]:lo[2]].copy(), (n, len(zones)))
    del row
    pa.default_memory_pool().release_unused()  # (the row groups' buffers, back to the system)
    return Footprints(P, cells, cols4[0], cols4[1], A, cols4[2], zones, cols4[3], dict(head.get("meta", {})))


def _footprint_columns(f: pq.ParquetFile, path: Path, hint: str):
    """The footprints file's columns as arrays (part as its index in ``_PARTS``), filled one
    row group at a time: a national file's table and its copies are never held at once.
    """
    types = {name: f.schema_arrow.field(name).type for name in ("row", "col", "value")}
    if not (pa.types.is_integer(types["row"]) and pa.types.is_integer(types["col"]) and pa.types.is_floating(types["value"])):
        raise WeightsError("is not a footprints file (its row, col and value columns are not numbers)", path=path, hint=hint)
    small = types["row"].bit_width <= 32 and types["col"].bit_width <= 32
    n = f.metadata.num_rows
    which = np.empty(n, np.int8)
    row, col = np.empty(n, np.int32 if small else np.int64), np.empty(n, np.int32 if small else np.int64)
    val = np.empty(n, np.float64)
    at = 0
    try:
        for g in range(f.num_row_groups):
            t = f.read_row_group(g, columns=["part", "row", "col", "value"])
            if any(t.column(c).null_count for c in t.column_names):
                raise WeightsError(f"row group {g} holds an empty value", path=path, hint=hint)
            pos = at
            for chunk in t.column("part").chunks:
                names = chunk.dictionary.to_pylist() if pa.types.is_dictionary(chunk.type) else None
                if names is None or not set(names) <= set(_PARTS):
                    raise WeightsError("has an unknown part", path=path, hint=hint)
                lut = np.asarray([_PARTS.index(x) for x in names], dtype=np.int8)
                which[pos:pos + len(chunk)] = lut[chunk.indices.to_numpy(zero_copy_only=False)]
                pos += len(chunk)
            for name, out in (("row", row), ("col", col), ("value", val)):
                out[at:at + t.num_rows] = t.column(name).to_numpy()
            at += t.num_rows
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot read footprints: {exc}", path=path, hint=hint) from exc
    return which, row, col, val


def _csr(row: np.ndarray, col: np.ndarray, val: np.ndarray, shape: tuple[int, int]):
    """A CSR array of checked entries: built on the entries themselves when they come in
    row-major order without repeats (as written), through COO (summing repeats) otherwise.
    """
    from scipy import sparse

    if len(row) > 1:
        step = row[1:] < row[:-1]
        ordered = not step.any()
        if ordered:
            np.equal(row[1:], row[:-1], out=step)
            step &= col[1:] <= col[:-1]
            ordered = not step.any()
        del step
    else:
        ordered = True
    if not ordered or max(shape[1], len(row)) >= 2**31:
        return sparse.csr_array((val, (row.astype(np.int64), col.astype(np.int64))), shape=shape)
    indptr = np.zeros(shape[0] + 1, np.int32)  # (larger ones went through COO above)
    np.cumsum(np.bincount(row, minlength=shape[0]), out=indptr[1:])
    return sparse.csr_array((val, col.astype(indptr.dtype, copy=False), indptr), shape=shape)

