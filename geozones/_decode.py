"""Compiled loops of :mod:`geozones._parquet` (numba), in a module of their own so that
numba is imported only when a file is read, and so that numba's cache can keep them:
functions defined inside another function and calling each other were compiled again by
every process (13 to 24 s)."""

import numba
import numpy as np

from ._parquet import _FIELDS, _H_BODY, _H_COMPRESSED, _H_CSIZE, _H_DEF_LEN, _H_ENCODING, _H_NULLS, _H_NVALUES, _H_REP_LEN, _H_TYPE, _H_USIZE, CORRUPT, OK


@numba.njit(nogil=True, cache=True, error_model="numpy")
def varint(buf, pos):
    """A ULEB128 integer at pos: (value, the position after it). On damaged data it stops at
    the buffer's end (the position then says so to the caller, which checks it against
    the data's end) or after 63 bits, never reading past the buffer."""
    v, s = 0, 0
    while pos < len(buf) and s < 63:
        b = np.int64(buf[pos])
        pos += 1
        v |= (b & 0x7F) << s
        s += 7
        if b < 0x80:
            return v, pos
    return v, len(buf)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def zigzag(n):
    return (n >> 1) ^ -(n & 1)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def skip_value(buf, pos, t):
    # a value of compact type t that holds no nested structure; -1 for a nested one
    if t == 1 or t == 2:
        return pos
    if t == 3:
        return pos + 1
    if t == 4 or t == 5 or t == 6:
        return varint(buf, pos)[1]
    if t == 7:
        return pos + 8
    if t == 8:
        n, pos = varint(buf, pos)
        return pos + n if n <= len(buf) else -1
    return -1


#: Where :func:`header` keeps an integer field: by struct (0 PageHeader, 1 DataPageHeader or
#: DictionaryPageHeader, 2 DataPageHeaderV2) and field id (parquet.thrift); -1: not kept.
_SLOTS = np.full((3, 8), -1, np.int64)
_SLOTS[0, 1], _SLOTS[0, 2], _SLOTS[0, 3] = _H_TYPE, _H_USIZE, _H_CSIZE
_SLOTS[1, 1], _SLOTS[1, 2] = _H_NVALUES, _H_ENCODING
_SLOTS[2, 1], _SLOTS[2, 2], _SLOTS[2, 4], _SLOTS[2, 5], _SLOTS[2, 6] = _H_NVALUES, _H_NULLS, _H_ENCODING, _H_DEF_LEN, _H_REP_LEN


@numba.njit(nogil=True, cache=True, error_model="numpy")
def open_container(buf, pos, t, depth, kind, last, etype, vtype):
    """Open a struct (t 12), list or set (9, 10) or map (11) at ``depth`` of the stack of
    :func:`header`: its kind, and its elements' types and number; returns the position of
    its first field or element."""
    last[depth] = 0
    if t == 12:
        kind[depth] = 0
    elif t == 11:
        n, pos = varint(buf, pos)
        kind[depth] = 2
        if n:
            kt = np.int64(buf[pos])
            pos += 1
            etype[depth], vtype[depth] = kt >> 4, kt & 0x0F
        last[depth] = 2 * n
    else:
        h = np.int64(buf[pos])
        pos += 1
        n = h >> 4
        if n == 15:
            n, pos = varint(buf, pos)
        kind[depth], etype[depth], last[depth] = 1, h & 0x0F, n
    return pos


@numba.njit(nogil=True, cache=True, error_model="numpy")
def header(buf, pos, end, out):
    """Parse the PageHeader at pos into out (see _H_*); returns the body's offset, or -1."""
    out[:] = 0
    out[_H_COMPRESSED] = 1
    # a stack of open containers: kind (0 struct, 1 list, 2 map), last field id or
    # elements left, element type(s); depth 0 is the PageHeader itself
    kind = np.zeros(32, np.int64)
    last = np.zeros(32, np.int64)
    etype = np.zeros(32, np.int64)
    vtype = np.zeros(32, np.int64)
    owner = np.zeros(32, np.int64)  # field id of the PageHeader that holds this container
    depth = 0
    while True:
        if pos >= end:
            return -1
        if kind[depth] == 0:  # a struct: the next field, or its end
            b = np.int64(buf[pos])
            pos += 1
            if b == 0:
                if depth == 0:
                    return pos
                depth -= 1
                continue
            t = b & 0x0F
            d = b >> 4
            if d:
                fid = last[depth] + d
            else:
                v, pos = varint(buf, pos)
                fid = zigzag(v)
            last[depth] = fid
            f = fid if depth == 0 else owner[depth]
            if t == 4 or t == 5 or t == 6:  # an integer: keep the ones we need
                v, pos = varint(buf, pos)
                v = zigzag(v)
                g = 0 if depth == 0 else (1 if depth == 1 and (f == 5 or f == 7) else (2 if depth == 1 and f == 8 else -1))
                if g >= 0 and 0 <= fid < _SLOTS.shape[1] and _SLOTS[g, fid] >= 0:
                    out[_SLOTS[g, fid]] = v
                continue
            if t == 2 and depth == 1 and f == 8 and fid == 7:
                out[_H_COMPRESSED] = 0  # DataPageHeaderV2.is_compressed = false
            if t == 12 or t == 9 or t == 10 or t == 11:
                if depth == 31:
                    return -1
                depth += 1
                owner[depth] = f
                pos = open_container(buf, pos, t, depth, kind, last, etype, vtype)
                continue
            pos = skip_value(buf, pos, t)
            if pos < 0:
                return -1
        else:  # a list, set or map: its next element
            if last[depth] == 0:
                depth -= 1
                continue
            t = etype[depth]
            if kind[depth] == 2 and last[depth] % 2 == 1:
                t = vtype[depth]
            last[depth] -= 1
            if t == 1 or t == 2:  # booleans in a container take a byte each
                pos += 1
            elif t == 12 or t == 9 or t == 10 or t == 11:
                if depth == 31:
                    return -1
                depth += 1
                owner[depth] = owner[depth - 1]
                pos = open_container(buf, pos, t, depth, kind, last, etype, vtype)
            else:
                pos = skip_value(buf, pos, t)
                if pos < 0:
                    return -1


@numba.njit(nogil=True, cache=True, error_model="numpy")
def pages(buf, start, end):
    """The headers of a column chunk's pages (one row each, see _H_*), or an empty array
    if one cannot be parsed."""
    out = np.zeros((16, _FIELDS), np.int64)
    n = 0
    pos = start
    h = np.zeros(_FIELDS, np.int64)
    while pos < end:
        body = header(buf, pos, end, h)
        if body < 0 or h[_H_CSIZE] < 0 or body + h[_H_CSIZE] > end:
            return out[:0]
        if n == len(out):
            bigger = np.zeros((2 * n, _FIELDS), np.int64)
            bigger[:n] = out
            out = bigger
        out[n] = h
        out[n, _H_BODY] = body
        n += 1
        pos = body + h[_H_CSIZE]
    return out[:n]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def hybrid(buf, words, pos, end, bw, out, o, n, dictionary, lookup):
    """Decode n values of the RLE/bit-packed hybrid in buf[pos:end] (``words``: the same
    bytes as uint64, with 8 bytes to spare) into out[o:o+n], looked up in ``dictionary``
    if ``lookup``. Returns (values read: fewer if the data end too soon, largest value).
    Indices are unsigned: numba then checks no negative index, and the loops vectorise
    (0.8 instead of 2.4 ns a value here)."""
    nb = (bw + 7) // 8
    mask = np.uint64((1 << bw) - 1)
    ubw = np.uint64(bw)
    top = np.uint64(len(dictionary) - 1) if lookup else np.uint64(0)
    stop = o + n
    o0 = o
    high = np.uint64(0)
    while o < stop and pos < end:
        h, pos = varint(buf, pos)
        if h & 1:  # bit-packed groups of 8 values, least significant bit first
            cnt = (h >> 1) * 8
            run_end = pos + (cnt * bw) // 8
            take = min(cnt, stop - o)
            if pos + (take * bw + 7) // 8 > end:
                return o - o0, high
            base = np.uint64(pos) * np.uint64(8)
            uo = np.uint64(o)
            for k in range(np.uint64(take)):
                bp = base + k * ubw
                i = bp >> np.uint64(6)
                sh = bp & np.uint64(63)
                v = ((words[i] >> sh) | ((words[i + np.uint64(1)] << np.uint64(1)) << (np.uint64(63) - sh))) & mask
                high = max(high, v)
                if lookup:
                    out[uo + k] = dictionary[min(v, top)]
                else:
                    out[uo + k] = v
            o += take
            pos = run_end
        else:  # a run of one value
            cnt = h >> 1
            if pos + nb > end:
                return o - o0, high
            v = np.uint64(0)
            for j in range(nb):
                v |= np.uint64(buf[pos + j]) << np.uint64(8 * j)
            pos += nb
            take = min(cnt, stop - o)
            high = max(high, v)
            uo = np.uint64(o)
            if lookup:
                x = dictionary[min(v, top)]
                for k in range(np.uint64(take)):
                    out[uo + k] = x
            else:
                for k in range(np.uint64(take)):
                    out[uo + k] = v
            o += take
    return o - o0, high


@numba.njit(nogil=True, cache=True, error_model="numpy")
def all_defined(buf, pos, end, n):
    """Whether the n definition levels (bit width 1) in buf[pos:end] are all 1."""
    seen = 0
    while seen < n and pos < end:
        h, pos = varint(buf, pos)
        if h & 1:
            cnt = (h >> 1) * 8
            take = min(cnt, n - seen)
            if pos + (take + 7) // 8 > end:
                return False
            full = take // 8
            for j in range(full):
                if buf[pos + j] != 0xFF:
                    return False
            rest = take - 8 * full
            if rest and (buf[pos + full] & ((1 << rest) - 1)) != (1 << rest) - 1:
                return False
            pos += cnt // 8
            seen += take
        else:
            if pos >= end or buf[pos] != 1:
                return False
            pos += 1
            seen += min(h >> 1, n - seen)
    return seen == n


@numba.njit(nogil=True, cache=True, error_model="numpy")
def decode(data, starts, ends, counts, kinds, dictionary, out, width, limit):
    """Decode the values of a chunk's data pages into out; kinds: 0 PLAIN values of
    ``width`` bytes, 1 dictionary indices (below ``limit``), looked up in ``dictionary``
    unless it is empty. ``data`` has 16 bytes to spare past the last page. Returns a
    status (OK, CORRUPT)."""
    o = 0
    raw = out.view(np.uint8)
    words = data[: len(data) // 8 * 8].view(np.uint64)
    lookup = len(dictionary) > 0
    for p in range(len(starts)):
        pos, end, n = starts[p], ends[p], counts[p]
        if kinds[p] == 0:
            if end - pos < n * width:
                return CORRUPT
            raw[o * width : (o + n) * width] = data[pos : pos + n * width]
            o += n
            continue
        if n == 0:
            continue
        if pos >= end:
            return CORRUPT
        bw = np.int64(data[pos])
        if bw > 32:
            return CORRUPT
        got, high = hybrid(data, words, pos + 1, end, bw, out, o, n, dictionary, lookup)
        if got != n or high >= np.uint64(limit):
            return CORRUPT
        o += n
    return OK


@numba.njit(nogil=True, cache=True, error_model="numpy")
def byte_arrays(buf, pos, end, n, offsets, data):
    """PLAIN BYTE_ARRAY values: lengths into offsets (n + 1), bytes into data; returns the
    bytes written, or -1 if the page ends too soon."""
    o = 0
    offsets[0] = 0
    for k in range(n):
        if pos + 4 > end:
            return -1
        ln = np.int64(buf[pos]) | np.int64(buf[pos + 1]) << 8 | np.int64(buf[pos + 2]) << 16 | np.int64(buf[pos + 3]) << 24
        pos += 4
        if ln < 0 or pos + ln > end or o + ln > len(data):
            return -1
        data[o : o + ln] = buf[pos : pos + ln]
        o += ln
        pos += ln
        offsets[k + 1] = o
    return o
