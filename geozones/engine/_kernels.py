"""The engine's compiled loops (numba), at module level so that numba's cache keeps them.

Every array index these loops use comes from values checked before the call (dictionary
codes within their dictionary, times within the minute table): numba does not check
bounds. numba's cache goes to a folder of the user's (:mod:`geozones._numba`), never into
the installed package.
"""

from __future__ import annotations

import numpy as np

from .._numba import numba

__all__ = ["accumulate", "extremes", "spread", "spread_serial"]

_jit = numba.njit(nogil=True, cache=True)


@_jit
def accumulate(ccodes, cell_of, ocodes, group_of, norm_of, times, to_ns, per_minute, m0, period_of, acc_of, counts, obs, ng, nc,
               seen, present, drop, bits, nbytes, ordered, utimes, uslot, state, buf, start):
    # one pass per row: published period (once per distinct time: rows in time order
    # repeat it), weight row, origin group, whether its key (time, cell, origin) came
    # before (see _Seen), sum, and which origins each period holds. The counts were
    # checked before (NumPy reductions), so the loop only adds. Returns (status, row,
    # dropped rows, total): 0 done, 1 an unknown cell, 2 a row back in time (ordered),
    # 3 the buffer of duplicate rows is full, 4 the keys of this period stop rising and
    # it needs its bits (for 3 and 4: call again from row, the row not yet read)
    dropped = 0
    last, base, pbase, sbase = -1, 0, 0, 0
    prev, rising = state[2], state[3] == 0
    total = counts[:1].sum() * 0  # (of the counts' type: integers are summed exactly)
    for i in range(start, len(ccodes)):
        t = times[i]
        if t != last:
            last = t
            m = t // per_minute - m0
            seen[m] = True
            b = acc_of[period_of[m]]
            base, pbase = b * nc * ng, b * ng
            if ordered:  # a new period: its keys are rising until one is not
                tn = t * to_ns
                if tn < state[0]:
                    state[2] = prev
                    return 2, i, dropped, total
                if tn > state[0]:
                    state[0], state[3], state[4] = tn, 0, i
                    prev, rising = -1, True
            else:
                sbase = uslot[np.searchsorted(utimes, t)] * nc * nbytes
        v = counts[i]
        c = cell_of[ccodes[i]]
        if c < 0:
            total += v
            if not drop:
                state[2] = prev
                return 1, i, dropped, total
            dropped += 1
            continue
        gn = norm_of[ocodes[i]]
        if rising:  # (cell, origin) above the row before's: no key can have come before
            key = (c << 20) | gn
            if key <= prev:
                state[2] = prev
                return 4, i, dropped, total
            prev = key
        else:
            k = sbase + c * nbytes + (gn >> 3)
            bit = np.uint8(1 << (gn & 7))
            if bits[k] & bit:  # the same time, cell and origin as an earlier row
                if state[1] == len(buf):
                    return 3, i, dropped, total
                buf[state[1]] = i
                state[1] += 1
                continue
            bits[k] |= bit
        total += v
        g = group_of[ocodes[i]]
        obs[base + c * ng + g] += v
        present[pbase + g] = True
    state[2] = prev
    return 0, -1, dropped, total

@_jit
def extremes(counts, times):
    # smallest and largest count and time, in one pass; a NaN anywhere makes the smallest
    # NaN (a comparison with NaN fails, so a later count would have taken its place)
    lo, hi = counts[0], counts[0]
    tlo, thi = times[0], times[0]
    nan = False
    for i in range(len(counts)):
        v, t = counts[i], times[i]
        if v != v:
            nan = True
        elif v < lo or lo != lo:
            lo = v
        if v > hi or hi != hi:
            hi = v
        tlo, thi = min(tlo, t), max(thi, t)
    if nan:
        lo = counts[0] * np.nan
    return lo, hi, tlo, thi


def _spread(bounds, indptr, indices, data, cells, origins, scale, out):
    # out[z, j] = scale[j] * sum over the zone's cells c of weight * cells[c, origins[j]].
    # A cell's origins lie side by side (cells is (cell, origin)), and so do a zone's
    # (out is (zone, origin)): the innermost loop runs over contiguous memory, in SIMD.
    # Zones are split into chunks of equal work, one chunk per task
    ng, no = cells.shape[1], len(origins)
    for ch in numba.prange(len(bounds) - 1):
        acc = np.empty(ng)
        for z in range(bounds[ch], bounds[ch + 1]):
            acc[:] = 0.0
            for k in range(indptr[z], indptr[z + 1]):
                c, w = indices[k], data[k]
                for j in range(ng):
                    acc[j] += w * cells[c, j]
            for j in range(no):
                out[z, j] = acc[origins[j]] * scale[j]


#: The zone product on threads over zones, and on the calling thread alone.
spread = numba.njit(parallel=True, nogil=True, cache=True)(_spread)
spread_serial = numba.njit(parallel=False, nogil=True, cache=True)(_spread)
