"""geozones' own Parquet decoder (``geozones._parquet``) against Arrow's reader.

For every file it reads, the decoder must give Arrow's values; for every file it does
not understand it must say so (None) rather than guess, and the stream engine then reads
with Arrow. The files are written by Arrow with the options other writers use too:
codecs, data pages v1 and v2, dictionaries that overflow to PLAIN, nulls, page sizes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import geozones as gz
import geozones.stream as stream_module
from geozones import _parquet
from geozones.errors import CountsError

COLUMNS = ["cell_id", "period_start", "count", "origin"]
CODECS = ["NONE", "SNAPPY", "GZIP", "BROTLI", "ZSTD", "LZ4"]


def _table(n: int, cells: int, seed: int, *, count_type=pa.int32(), unit: str = "us", nulls: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = int(pd.Timestamp("2026-07-01", tz="UTC").value // {"ms": 10**6, "us": 10**3, "ns": 1}[unit])
    step = {"ms": 3_600_000, "us": 3_600_000_000, "ns": 3_600_000_000_000}[unit]
    ids = np.array([f"cell-{i:05d}-é" for i in range(cells)], dtype=object)
    origins = np.array(["34022", "11002", "FR", "NL", "262", "unknown"], dtype=object)
    counts = rng.integers(0, 5000, n)
    cell = pa.array(ids[rng.integers(0, cells, n)])
    if nulls:
        mask = rng.random(n) < 0.01
        cell = pa.array(ids[rng.integers(0, cells, n)], mask=mask)
    return pa.table({
        "cell_id": cell,
        "period_start": pa.array(start + step * np.sort(rng.integers(0, 48, n)), pa.timestamp(unit, tz="UTC")),
        "period": pa.array(["1h"] * n),
        "count": pa.array(counts.astype(count_type.to_pandas_dtype()), count_type),
        "origin": pa.array(origins[rng.integers(0, len(origins), n)]).dictionary_encode(),
    })


def _weights(cells: int) -> gz.Weights:
    """Each cell its own zone (the cells of :func:`_table`)."""
    ids = np.array([f"cell-{i:05d}-é" for i in range(cells)], dtype=object)
    return gz.Weights(sparse.csr_array(np.eye(cells)), ids, np.array([f"z{i}" for i in range(cells)], dtype=object), np.zeros(cells))


def _plain(arr: pa.Array) -> pa.Array:
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr.cast(arr.type.value_type) if pa.types.is_dictionary(arr.type) else arr


def _compare(path, columns=COLUMNS) -> int:
    """Each row group through both readers: the same values where ours reads it. Returns
    how many row groups ours read."""
    f = pq.ParquetFile(path)
    types = [f.schema_arrow.field(c).type for c in columns]
    with _parquet.RowGroupReader(path, columns, types) as reader:
        return _compare_with(f, reader, columns)


def _compare_with(f, reader, columns) -> int:
    read = 0
    for i in range(f.num_row_groups):
        ours = reader.read(i)
        if ours is None:
            continue
        read += 1
        theirs = f.read_row_group(i, columns=columns)
        for c, a in zip(columns, ours):
            assert len(a) == theirs.num_rows
            if pa.types.is_dictionary(a.type):
                assert a.type == pa.dictionary(pa.int32(), pa.string())
            else:
                assert a.type == theirs.schema.field(c).type
            assert _plain(a).equals(_plain(theirs.column(c))), (c, i)
    return read


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_every_codec_and_page_version_decodes_to_arrows_values(tmp_path, codec, version):
    path = tmp_path / "c.parquet"
    pq.write_table(_table(30_000, 700, 1), path, compression=codec, data_page_version=version, row_group_size=7_000)
    read = _compare(path)
    # (Arrow writes "LZ4" as LZ4_RAW, a raw block)
    assert read == pq.ParquetFile(path).num_row_groups


@given(
    n=st.integers(1, 5000),
    cells=st.integers(1, 3000),
    seed=st.integers(0, 2**16),
    codec=st.sampled_from(CODECS),
    version=st.sampled_from(["1.0", "2.0"]),
    dictionary=st.sampled_from([True, False, ["cell_id", "origin"]]),
    dict_limit=st.sampled_from([None, 200, 4000]),
    page_size=st.sampled_from([None, 64, 1000]),
    rows=st.integers(1, 6000),
    count_type=st.sampled_from([pa.int32(), pa.int64(), pa.float64()]),
    unit=st.sampled_from(["ms", "us", "ns"]),
    nulls=st.booleans(),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_writer_options_read_as_arrow_reads_them_or_left_to_arrow(tmp_path, n, cells, seed, codec, version, dictionary, dict_limit,
                                                                     page_size, rows, count_type, unit, nulls):
    path = tmp_path / "h.parquet"
    opts = {}
    if dict_limit:
        opts["dictionary_pagesize_limit"] = dict_limit
    if page_size:
        opts["data_page_size"] = page_size
    pq.write_table(_table(n, cells, seed, count_type=count_type, unit=unit, nulls=nulls), path, compression=codec,
                   data_page_version=version, use_dictionary=dictionary, row_group_size=rows, **opts)
    read = _compare(path)
    if not nulls and dictionary is True and dict_limit is None:
        assert read == pq.ParquetFile(path).num_row_groups  # the common layout is ours


def test_what_it_does_not_understand_is_left_to_arrow(tmp_path):
    path = tmp_path / "d.parquet"
    t = _table(5000, 50, 2)
    pq.write_table(t, path, use_dictionary=False, column_encoding={"count": "DELTA_BINARY_PACKED", "cell_id": "PLAIN"})
    f = pq.ParquetFile(path)
    with _parquet.RowGroupReader(path, ["count"], [pa.int32()]) as r:
        assert r.read(0) is None
    with _parquet.RowGroupReader(path, ["cell_id"], [pa.string()]) as r:
        assert r.read(0) is None  # text in the pages
    # an Arrow type that needs a cast, or a column that is not there
    assert not _parquet.RowGroupReader(path, ["count"], [pa.int64()]).usable()
    assert not _parquet.RowGroupReader(path, ["nope"], [pa.int32()]).usable()
    assert f.num_row_groups == 1
    # nulls
    pq.write_table(_table(5000, 50, 2, nulls=True), path)
    with _parquet.RowGroupReader(path, ["cell_id"], [pa.string()]) as r:
        assert r.read(0) is None


def test_a_damaged_page_is_never_read_as_numbers(tmp_path):
    """Bytes changed inside the column chunks: ours either gives Arrow's values (the
    change fell where neither reader looks), says it cannot read the chunk, or raises
    ParquetDecodeError; it never hands back other values without saying so where Arrow
    reads the file."""
    path = tmp_path / "e.parquet"
    pq.write_table(_table(20_000, 400, 3), path, compression="NONE", row_group_size=20_000)
    good = path.read_bytes()
    md = pq.ParquetFile(path).metadata.row_group(0)
    lo = md.column(0).dictionary_page_offset
    hi = md.column(4).data_page_offset + md.column(4).total_compressed_size
    rng = np.random.default_rng(4)
    outcomes = set()
    for _ in range(60):
        data = bytearray(good)
        for k in rng.integers(lo, hi, 3):
            data[k] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(data))
        f = pq.ParquetFile(path)
        types = [f.schema_arrow.field(c).type for c in COLUMNS]
        try:
            with _parquet.RowGroupReader(path, COLUMNS, types) as r:
                ours = r.read(0)
        except _parquet.ParquetDecodeError:
            outcomes.add("error")
            continue
        if ours is None:
            outcomes.add("arrow")
            continue
        try:
            theirs = f.read_row_group(0, columns=COLUMNS)
        except (pa.ArrowException, OSError):
            outcomes.add("only ours read it")
            continue
        same = all(_plain(a).equals(_plain(theirs.column(c))) for c, a in zip(COLUMNS, ours))
        outcomes.add("same" if same else "differs")
    # an uncompressed page's values have no checksum: a flipped bit in an index is another
    # valid index for both readers alike, so "differs" would be our bug, never the file's
    assert "differs" not in outcomes
    assert outcomes & {"error", "same"}


def test_the_stream_engine_gives_the_same_sums_with_either_reader(tmp_path, monkeypatch):
    path = tmp_path / "s.parquet"
    rng = np.random.default_rng(5)
    keys = np.sort(rng.choice(48 * 300 * 6, 40_000, replace=False))  # (hour, cell, origin): each key once, in time order
    hour, cell, origin = keys // 1800, keys // 6 % 300, keys % 6
    origins = np.array(["34022", "11002", "FR", "NL", "262", "unknown"], dtype=object)
    t = pa.table({
        "cell_id": pa.array(np.array([f"cell-{i:05d}-é" for i in range(300)], dtype=object)[cell]).dictionary_encode(),
        "period_start": pa.array(pd.Timestamp("2026-07-01", tz="UTC").value // 1000 + 3_600_000_000 * hour, pa.timestamp("us", tz="UTC")),
        "period": pa.array(["1h"] * len(keys)),
        "count": pa.array(rng.integers(0, 5000, len(keys)).astype(np.int32)),
        "origin": pa.array(origins[origin]).dictionary_encode(),
    })
    pq.write_table(t, path, row_group_size=9_000)
    w = _weights(300)
    sums = {}
    for own in (True, False):
        monkeypatch.setattr(stream_module, "_OWN_DECODER", own)
        sums[own] = gz.stream_zone_sums(path, w, period="1d", kind="presence", progress=False)[:4]
    for a, b in zip(sums[True], sums[False]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_damaged_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(_table(20_000, 400, 6), path, compression="SNAPPY", row_group_size=20_000)
    data = bytearray(path.read_bytes())
    md = pq.ParquetFile(path).metadata.row_group(0).column(0)
    start = md.data_page_offset + 40
    data[start : start + 400] = bytes(400)  # a stretch of the cell ids' compressed page zeroed
    path.write_bytes(bytes(data))
    w = _weights(400)
    with pytest.raises(CountsError) as e:
        gz.stream_counts(path, w, period="1d", kind="presence", progress=False)
    assert "x.parquet" in str(e.value) and "\n" not in str(e.value)


def test_times_and_dates_stay_exact(tmp_path):
    path = tmp_path / "t.parquet"
    times = pd.date_range("2026-03-29 00:00", periods=50, freq="15min", tz="Europe/Brussels")
    t = pa.table({"period_start": pa.array(times), "count": pa.array(np.arange(50, dtype=np.int64))})
    pq.write_table(t, path)
    assert _compare(path, ["period_start", "count"]) == 1
    assert str(pq.ParquetFile(path).schema_arrow.field("period_start").type.tz) == "Europe/Brussels"


def test_a_thread_keeps_its_readers_past_its_ninth_file(tmp_path):
    paths = []
    for i in range(11):
        paths.append(tmp_path / f"f{i}.parquet")
        pq.write_table(_table(100, 10, i), paths[-1])
    types = [pq.ParquetFile(paths[0]).schema_arrow.field(c).type for c in COLUMNS]
    try:
        for p in paths:
            first = _parquet.reader(p, COLUMNS, types)
            assert _parquet.reader(p, COLUMNS, types) is first  # (kept: a row group after the first does not open the file again)
    finally:
        _parquet.close_readers()


def test_a_chunk_of_garbage_is_an_error_not_a_crash(tmp_path):
    """Bytes that never end a varint, or claim lengths past the chunk, stop at the chunk's
    end: the reader says the chunk does not parse."""
    path = tmp_path / "g.parquet"
    pq.write_table(_table(5000, 50, 7), path, compression="NONE")
    md = pq.ParquetFile(path).metadata.row_group(0).column(0)
    good = path.read_bytes()
    for fill in (b"\xff", b"\x18\xff\xff\xff\xff\xff\xff\xff\x7f"):  # continuation bits; a binary field of a huge length
        data = bytearray(good)
        lo, hi = md.dictionary_page_offset, md.dictionary_page_offset + md.total_compressed_size
        data[lo:hi] = (fill * (hi - lo))[: hi - lo]
        path.write_bytes(bytes(data))
        with _parquet.RowGroupReader(path, ["cell_id"], [pa.string()]) as r, pytest.raises(_parquet.ParquetDecodeError):
            r.read(0)
