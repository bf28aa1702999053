"""Decode the flat columns of a counts file's Parquet row groups without Arrow's reader.

The stream engine reads hundreds of millions of rows whose ``cell_id`` and ``origin``
are dictionary-encoded strings and whose ``period_start`` and ``count`` are integers.
Arrow's reader spends most of its time on work the engine does not need: it builds a
memo table of each row group's 50,000 cell ids, copies the indices several times and
decodes the definition levels of columns that hold no nulls. This module reads the
column chunks' pages itself (the page headers in Thrift's compact protocol, the bodies
decompressed with cramjam into reused buffers, the RLE/bit-packed indices in compiled
code) and hands back the same Arrow arrays: ``dictionary<string>`` for text,
``timestamp`` and numbers for the rest.

It reads only what it fully understands: flat columns without nulls; data pages v1 or v2
in the PLAIN, PLAIN_DICTIONARY or RLE_DICTIONARY encodings; the codecs UNCOMPRESSED,
SNAPPY, GZIP, BROTLI, ZSTD and LZ4_RAW (not Hadoop's LZ4 framing); and only where the
Arrow type the dataset asks for is one it can give without a cast. For anything else :meth:`RowGroupReader.read` returns
None and the caller reads the row group with Arrow, so a file is never read differently,
only faster (``tests/test_parquet.py`` compares both readers on files written with every
combination of these options).

References: the Parquet format (``parquet.thrift``, "Encodings.md") and Thrift's
compact protocol specification.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

# page types and encodings of parquet.thrift
_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 2, 3
_PLAIN, _PLAIN_DICTIONARY, _RLE_DICTIONARY = 0, 2, 8
_CODECS = ("UNCOMPRESSED", "SNAPPY", "GZIP", "BROTLI", "ZSTD", "LZ4", "LZ4_RAW")  # (Arrow names LZ4_RAW "LZ4", Hadoop's framing "LZ4_HADOOP")
_WIDTH = {"INT32": 4, "INT64": 8, "FLOAT": 4, "DOUBLE": 8}
_UNITS = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}

#: What ``_decode.pages`` keeps of each page header (one row a page).
_H_TYPE, _H_USIZE, _H_CSIZE, _H_NVALUES, _H_ENCODING, _H_DEF_LEN, _H_REP_LEN, _H_COMPRESSED, _H_NULLS, _H_BODY = range(10)
_FIELDS = 10

#: Status of a decoding call: read, or not valid.
OK, CORRUPT = 0, 2


class ParquetDecodeError(Exception):
    """A page this reader cannot make sense of: the file is damaged or not Parquet."""


def _compiled():
    from . import _decode

    return _decode.pages, _decode.decode, _decode.all_defined, _decode.byte_arrays


class _Column:
    """How one column of a file is read: its Parquet description and the Arrow type asked."""

    def __init__(self, index: int, physical: str, logical: dict, max_def: int, max_rep: int, target) -> None:
        import pyarrow as pa

        self.index, self.max_def = index, max_def
        self.kind = None  # "text" | "fixed"
        self.dtype = None
        self.type = None
        t = target
        if max_rep or max_def > 1:
            return
        ltype = logical.get("Type", "None")
        if physical == "BYTE_ARRAY" and ltype in ("String", "None"):
            value = t.value_type if pa.types.is_dictionary(t) else t
            if pa.types.is_string(value) or pa.types.is_large_string(value):
                self.kind, self.type = "text", pa.dictionary(pa.int32(), pa.string())
            return
        if physical not in _WIDTH:
            return
        if pa.types.is_timestamp(t):
            if physical == "INT64" and ltype == "Timestamp" and _UNITS.get(logical.get("timeUnit")) == t.unit:
                self.kind, self.dtype, self.type = "fixed", np.int64, t
            return
        if ltype == "Int":
            if logical.get("bitWidth") != 8 * _WIDTH[physical] or not logical.get("isSigned", True):
                return
        elif ltype != "None":
            return
        wanted = {"INT32": pa.int32(), "INT64": pa.int64(), "FLOAT": pa.float32(), "DOUBLE": pa.float64()}[physical]
        if t == wanted:
            self.kind, self.dtype, self.type = "fixed", np.dtype(wanted.to_pandas_dtype()), t


class RowGroupReader:
    """Reads the given columns of a Parquet file's row groups as Arrow arrays.

    One reader per thread: it keeps buffers that it reuses from one row group to the next.

    Parameters
    ----------
    path
        The Parquet file.
    columns
        Names of the columns to read, as the file spells them.
    types
        The Arrow type the caller asks for each column (the dataset's schema). Text
        columns come back as ``dictionary<int32, string>`` whatever is asked.
    """

    def __init__(self, path: str | Path, columns: list[str], types: list) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self._md = pq.read_metadata(self.path)  # (the footer only: the reader opens the file itself)
        schema = self._md.schema
        names = [schema.column(i).path for i in range(len(schema))]
        self.columns: list[_Column | None] = []
        for name, target in zip(columns, types):
            if name not in names:
                self.columns.append(None)
                continue
            i = names.index(name)
            c = schema.column(i)
            try:
                logical = json.loads(c.logical_type.to_json())
            except Exception:  # (a logical type without a JSON form)
                logical = {"Type": "?"}
            col = _Column(i, c.physical_type, logical, c.max_definition_level, c.max_repetition_level, target)
            self.columns.append(col if col.kind else None)
        self._fh = None
        self._raw = np.empty(0, np.uint8)
        self._scratch = np.empty(1 << 20, np.uint8)
        self._dictionaries: dict[int, tuple] = {}  # column -> (dictionary page as stored, its values)

    def usable(self) -> bool:
        """Whether every column asked can be read here (else Arrow reads the file)."""
        return all(c is not None for c in self.columns)

    def _chunk(self, start: int, size: int) -> np.ndarray:
        """The bytes of a column chunk, read into a buffer reused from one chunk to the next.
        (Not a memory map of the file: its pages would count in the process's resident
        memory, which the memory budget watches.)"""
        if start < 0 or size < 0:
            raise ParquetDecodeError(f"a column chunk at byte {start} of {size} bytes: not in the file")
        if len(self._raw) < size + 64:
            self._raw = np.empty(max(size + 64, 2 * len(self._raw)), np.uint8)
        if self._fh is None:
            self._fh = open(self.path, "rb")
        self._fh.seek(start)
        got = self._fh.readinto(memoryview(self._raw)[:size])
        if got != size:
            raise ParquetDecodeError(f"a column chunk at byte {start} of {size} bytes ends with the file")
        return self._raw

    def __enter__(self) -> RowGroupReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (the reader opens it again if asked for more)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def read(self, row_group: int) -> list | None:
        """The row group's columns as Arrow arrays, or None where this reader cannot read it
        (Arrow then must): a codec, an encoding or nulls it does not handle.

        Raises
        ------
        ParquetDecodeError
            Where a page does not decode: the file is damaged.
        """
        if not self.usable():
            return None
        rg = self._md.row_group(row_group)
        arrays = []
        for col in self.columns:
            arr = self._read_chunk(rg, col)
            if arr is None:
                return None
            arrays.append(arr)
        return arrays

    def _read_chunk(self, rg, col: _Column):
        import cramjam
        import pyarrow as pa

        pages, decode, all_defined, byte_arrays = _compiled()
        meta = rg.column(col.index)
        if meta.compression not in _CODECS:
            return None
        n = meta.num_values
        if meta.is_stats_set and meta.statistics is not None and meta.statistics.null_count:
            return None
        start = meta.data_page_offset
        if meta.has_dictionary_page and meta.dictionary_page_offset is not None and 0 < meta.dictionary_page_offset < start:
            start = meta.dictionary_page_offset
        buf = self._chunk(start, meta.total_compressed_size)  # (offsets from here on are within the chunk)
        heads = pages(buf, 0, meta.total_compressed_size)
        if not len(heads):
            raise ParquetDecodeError(f"column chunk at byte {start}: a page header does not parse")
        # decompress the pages' values one after another into the scratch buffer
        usizes = heads[:, _H_USIZE] - heads[:, _H_DEF_LEN] - heads[:, _H_REP_LEN]
        need = int(np.maximum(usizes, 0).sum()) + int(heads[:, _H_CSIZE].sum()) + 64  # (+ uncompressed pages, and room to spare)
        if need > len(self._scratch):
            self._scratch = np.empty(max(need, 2 * len(self._scratch)), np.uint8)
        scratch = self._scratch
        codec = meta.compression
        dictionary, dict_size = None, 0
        starts, ends, counts, kinds = [], [], [], []
        o, total = 0, 0
        for h in heads:
            ptype, body, csize = int(h[_H_TYPE]), int(h[_H_BODY]), int(h[_H_CSIZE])
            if ptype not in (_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2):
                continue  # (an index page: nothing to read)
            nvalues, enc = int(h[_H_NVALUES]), int(h[_H_ENCODING])
            levels = 0
            if ptype == _DATA_PAGE_V2:
                if h[_H_NULLS] or h[_H_REP_LEN]:
                    return None
                levels = int(h[_H_DEF_LEN])  # v2: the levels stay uncompressed before the values
                if col.max_def and not all_defined(buf, body, body + levels, nvalues):
                    return None
            usize = int(h[_H_USIZE]) - levels - int(h[_H_REP_LEN])
            src = buf[body + levels : body + csize]
            if ptype == _DICTIONARY_PAGE and dictionary is None and enc in (_PLAIN, _PLAIN_DICTIONARY):
                last = self._dictionaries.get(col.index)
                if last is not None and len(last[0]) == len(src) and np.array_equal(last[0], src):
                    dictionary, dict_size = last[1], len(last[1])  # (the row group before's: its cells in the same order)
                    continue
            compressed = codec != "UNCOMPRESSED" and not (ptype == _DATA_PAGE_V2 and not h[_H_COMPRESSED])
            if compressed:
                try:
                    got = _decompress(cramjam, codec, src, scratch[o : o + usize])
                except Exception as exc:
                    raise ParquetDecodeError(f"page at byte {start + body}: {codec} data does not decompress ({exc})") from exc
                if got != usize:
                    raise ParquetDecodeError(f"page at byte {start + body}: {got} bytes decompressed, the header says {usize}")
                page = scratch
                p0, p1 = o, o + usize
            else:
                page = buf
                p0, p1 = body + levels, body + csize
            if ptype == _DICTIONARY_PAGE:
                if enc not in (_PLAIN, _PLAIN_DICTIONARY) or dictionary is not None:
                    return None
                dictionary = self._dictionary(col, page, p0, p1, nvalues, byte_arrays)
                dict_size = nvalues
                self._dictionaries[col.index] = (src.copy(), dictionary)
                continue
            if ptype == _DATA_PAGE:
                if col.max_def:  # v1: the levels are in the page: a 4-byte length, then RLE
                    if p1 - p0 < 4:
                        raise ParquetDecodeError(f"page at byte {start + body}: too short for its definition levels")
                    ln = int.from_bytes(bytes(page[p0 : p0 + 4]), "little")
                    if not all_defined(page, p0 + 4, min(p0 + 4 + ln, p1), nvalues):
                        return None
                    p0 += 4 + ln
            if enc in (_PLAIN_DICTIONARY, _RLE_DICTIONARY):
                if dictionary is None:
                    raise ParquetDecodeError(f"page at byte {start + body}: dictionary indices but no dictionary page")
                kinds.append(1)
            elif enc == _PLAIN and col.kind == "fixed":
                kinds.append(0)
            else:
                return None  # (text values in the page itself, or another encoding)
            if page is buf:  # an uncompressed page: copy it beside the others
                if o + (p1 - p0) > len(scratch):
                    return None
                scratch[o : o + (p1 - p0)] = buf[p0:p1]
                p0, p1 = o, o + (p1 - p0)
            starts.append(p0)
            ends.append(p1)
            counts.append(nvalues)
            total += nvalues
            o = p1
        if total != n:
            raise ParquetDecodeError(f"column chunk at byte {start}: {total} values in its pages, the metadata says {n}")
        starts, ends, counts, kinds = (np.asarray(x, np.int64) for x in (starts, ends, counts, kinds))
        # the result in Arrow's memory pool, which keeps the pages it has had (fresh pages
        # from the kernel cost about 0.5 ns a byte on this machine, as much as decoding)
        block = pa.allocate_buffer(n * (4 if col.kind == "text" else np.dtype(col.dtype).itemsize))
        if col.kind == "text":
            out = np.frombuffer(block, np.int32)
            status = decode(scratch, starts, ends, counts, kinds, np.empty(0, np.int32), out, 4, dict_size)
        else:
            out = np.frombuffer(block, col.dtype)
            values = dictionary if dictionary is not None else np.empty(0, col.dtype)
            if dictionary is not None and not len(values) and n:
                raise ParquetDecodeError(f"column chunk at byte {start}: an empty dictionary")
            status = decode(scratch, starts, ends, counts, kinds, values, out, np.dtype(col.dtype).itemsize, len(values))
        if status != OK:
            raise ParquetDecodeError(f"column chunk at byte {start}: a data page does not decode")
        if col.kind == "text":
            return pa.DictionaryArray.from_arrays(pa.Array.from_buffers(pa.int32(), n, [None, block]), dictionary)
        return pa.Array.from_buffers(col.type, n, [None, block])

    def _dictionary(self, col: _Column, page, p0: int, p1: int, n: int, byte_arrays):
        import pyarrow as pa

        if col.kind == "fixed":
            width = np.dtype(col.dtype).itemsize
            if p1 - p0 < n * width:
                raise ParquetDecodeError("a dictionary page ends too soon")
            return page[p0 : p0 + n * width].view(col.dtype).copy()
        offsets = np.empty(n + 1, np.int32)
        data = np.empty(max(p1 - p0 - 4 * n, 0), np.uint8)
        size = byte_arrays(page, p0, p1, n, offsets, data)
        if size < 0:
            raise ParquetDecodeError("a dictionary page ends too soon")
        values = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data[:size]))
        try:
            values.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise ParquetDecodeError(f"a dictionary holds text that is not UTF-8 ({exc})") from exc
        return values


def _decompress(cramjam, codec: str, src, dst) -> int:
    if codec == "SNAPPY":
        return cramjam.snappy.decompress_raw_into(src, dst)
    if codec == "ZSTD":
        return cramjam.zstd.decompress_into(src, dst)
    if codec == "GZIP":
        return cramjam.gzip.decompress_into(src, dst)
    if codec == "BROTLI":
        return cramjam.brotli.decompress_into(src, dst)
    return cramjam.lz4.decompress_block_into(src, dst)  # LZ4_RAW (a raw block, as Arrow names "LZ4")


_local = threading.local()


def reader(path: str | Path, columns: list[str], types: list) -> RowGroupReader:
    """This thread's reader of these columns of a file (kept for its next row groups)."""
    key = (str(path), tuple(columns), tuple(str(t) for t in types))
    cached = getattr(_local, "readers", None)
    if cached is None:
        cached = _local.readers = {}
    r = cached.get(key)
    if r is None:
        if len(cached) > 8:
            close_readers()
            cached = _local.readers
        r = cached[key] = RowGroupReader(path, columns, types)
    return r


def close_readers() -> None:
    """Close the files of this thread's readers, and forget them."""
    for r in getattr(_local, "readers", {}).values():
        r.close()
    _local.readers = {}
