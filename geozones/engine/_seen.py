"""The accumulator of sums per period, origin and cell, and the keys seen (duplicate rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BudgetError, CountsError
from ._batch import _Batch, _Context, _raw_origins, _row_where
from .bins import DEFAULT_BUDGET, CellBins, format_size


class _Unordered(Exception):
    """A row earlier in time than the rows before it (the run starts again keeping the keys
    of every counts period: see :class:`_Seen`).
    """


class _Seen:
    """Which keys (counts period, cell, origin) the rows read so far hold, a bit each, so
    that exact duplicate rows are found as the memory engine finds them without keeping
    the rows.

    Rows in time order (as operators export them) need the keys of the newest period
    only (``ordered``). While that period's keys rise from row to row (cell, then origin,
    as an export sorted by time, cell and origin has them) none can repeat one before, and
    one comparison a row proves it; the keys so far are held (:meth:`hold`). When a key
    does not rise, they become bits (:meth:`to_bits`: 1 bit per cell and origin, 150 kB
    for 50,000 cells x 19 origins) and each row is looked up. A row that goes back in time
    raises :class:`_Unordered`, and the run starts again with the bits of every period
    (within the memory budget). A row whose key came before is left out; at the end its
    count is compared with the first row of that key (:func:`_check_duplicates`): the
    same count is an exact duplicate, dropped as the memory engine drops it, another
    count an error.
    """

    def __init__(self, n_cells: int, n_origins: int, *, ordered: bool = True, room=lambda: DEFAULT_BUDGET) -> None:
        self.nc = n_cells
        self.nbytes = -(-n_origins // 8)
        self.ordered = ordered
        self.room = room  # bytes of the memory budget the sums leave for the bits
        self.slots: dict[int, int] = {}  # (not ordered) UTC ns of a counts period -> its bits
        self.bits = np.zeros((1 if ordered else 4, n_cells, self.nbytes), dtype=np.uint8)
        # newest time (UTC ns), rows in buffer, last key, 0 while keys rise (1: in the bits),
        # where the newest period starts in the batch
        self.state = np.array([np.iinfo(np.int64).min, 0, -1, 0 if ordered else 1, -1], dtype=np.int64)
        self.buffer = np.empty(4096, dtype=np.int64)
        self.held: list[tuple[np.ndarray, np.ndarray]] = []  # (ordered, keys rising) the newest period's keys
        self.dups: list[pd.DataFrame] = []

    #: Rows of the newest period held as keys at most; past that they become bits.
    HOLD = 1 << 22

    def hold(self, c: np.ndarray, gn: np.ndarray, *, earlier: bool) -> None:
        """Hold the newest period's keys of a batch (``earlier``: the period began in an
        earlier batch, whose keys are held too).
        """
        self.held = (self.held if earlier else []) + [(c, gn)]
        if sum(len(k[0]) for k in self.held) > self.HOLD:
            self.to_bits(np.empty(0, np.int64), np.empty(0, np.int64), earlier=True)

    def to_bits(self, c: np.ndarray, gn: np.ndarray, *, earlier: bool) -> None:
        """The newest period's keys from now on in its bits: these and (``earlier``) those held."""
        keys = (self.held if earlier else []) + [(c, gn)]
        c, gn = np.concatenate([k[0] for k in keys]), np.concatenate([k[1] for k in keys])
        flat = self.bits[0].reshape(-1)
        flat[:] = 0
        np.bitwise_or.at(flat, c * self.nbytes + (gn >> 3), (1 << (gn & 7)).astype(np.uint8))
        self.held = []
        self.state[3] = 1

    def fit(self, n_origins: int) -> None:
        """Room for ``n_origins`` normalised origins (a later dictionary may bring new ones)."""
        if n_origins <= 8 * self.nbytes:
            return
        nbytes = -(-n_origins // 8)
        bits = np.zeros((len(self.bits), self.nc, nbytes), dtype=np.uint8)
        bits[:, :, : self.nbytes] = self.bits
        self.bits, self.nbytes = bits, nbytes

    def slots_of(self, ns: np.ndarray) -> np.ndarray:
        """(Not ordered) the bits' index of each of these counts periods (UTC ns), made room for."""
        out = np.array([self.slots.setdefault(int(t), len(self.slots)) for t in ns], dtype=np.int64)
        if len(self.slots) > len(self.bits):
            n = max(len(self.slots), 2 * len(self.bits))
            room = self.room()
            if n * self.nc * self.nbytes > room:
                n = len(self.slots)
            if n * self.nc * self.nbytes > room:
                raise BudgetError(
                    f"finding duplicate rows in counts that are not in time order needs {format_size(n * self.nc * self.nbytes, room)} "
                    f"({n} periods x {self.nc} cells) besides the sums, more than the memory budget leaves ({format_size(room, n * self.nc * self.nbytes)})",
                    hint="sort the counts by period_start (rows in time order need almost no memory for it), or raise --memory-budget")
            bits = np.zeros((n, self.nc, self.nbytes), dtype=np.uint8)
            bits[: len(self.bits)] = self.bits
            self.bits = bits
        return out

    def record(self, row0: int, rows: np.ndarray, *, cells, ns, norm, counts) -> None:
        """Rows (of the batch at ``row0``) left out because their key came before."""
        self.dups.append(pd.DataFrame({"row": row0 + np.asarray(rows, dtype=np.int64), "cell_id": np.asarray(cells, dtype=object),
                                       "ns": np.asarray(ns, dtype=np.int64), "norm": np.asarray(norm, dtype=np.int64),
                                       "count": np.asarray(counts, dtype=float)}))

    def filter(self, b: _Batch, row0: int, cell_ids: np.ndarray) -> None:
        """Leave out of a batch (the NumPy path) the rows whose key came before."""
        if not len(b.cell):
            return
        ns, c, gn = b.ns, b.cell.astype(np.int64), b.norm.astype(np.int64)
        self.fit(int(gn.max()) + 1)
        byte, mask = c * self.nbytes + (gn >> 3), (1 << (gn & 7)).astype(np.uint8)
        flat = self.bits.reshape(-1)
        if self.ordered:
            back = np.flatnonzero(np.diff(ns) < 0)
            if ns[0] < self.state[0] or len(back):  # (the row named: the first earlier than the one before it)
                raise _Unordered(row0 + int(b.index[0 if ns[0] < self.state[0] else back[0] + 1]))
            if self.state[3] == 0:  # the newest period's keys were held: in its bits now
                self.to_bits(np.empty(0, np.int64), np.empty(0, np.int64), earlier=ns[0] == self.state[0])
            u, run = np.unique(ns, return_inverse=True)
            key = (run * self.nc + c) * (8 * self.nbytes) + gn
            old = (ns == self.state[0]) & ((flat[byte] & mask) != 0)
        else:
            u, run = np.unique(ns, return_inverse=True)
            slot = self.slots_of(u)[run]
            flat = self.bits.reshape(-1)
            byte = slot * (self.nc * self.nbytes) + byte
            key = byte * 8 + (gn & 7)
            old = (flat[byte] & mask) != 0
        first = np.zeros(len(key), dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True
        dup = old | ~first
        if self.ordered:
            if u[-1] != self.state[0]:
                flat[:] = 0
                self.state[0] = u[-1]
            self.state[2], self.state[3] = -1, 1  # (the newest period's keys are in the bits)
            new = (ns == u[-1]) & ~dup
        else:
            new = ~dup
        np.bitwise_or.at(flat, byte[new], mask[new])
        if dup.any():
            self.record(row0, b.index[dup], cells=cell_ids[c[dup]], ns=ns[dup], norm=gn[dup], counts=b.count[dup])
            b.drop(dup)


class _Accumulator:
    """Sums per (period, origin group, cell), grown as periods and origins appear.

    The observed sums are one dense array laid out (period, cell, origin) in memory, so
    that one cell's origins share a cache line (exposed as (period, origin, cell)). Estimates are the observed sums divided by the
    group's share when every raw origin of the group has the same share (the usual case:
    one share per province or country), so they need no memory of their own; a group
    whose raw origins have different shares gets its own estimate array.
    """

    def __init__(self, n_cells: int, budget: int, periods: int = 0, integral: bool = False) -> None:
        self.n_cells = n_cells
        self.budget = budget
        # whole-number counts are summed in int32 (exact, half the memory and traffic) while
        # an upper bound per period shows that no sum can overflow; then in float64
        self.bound = np.zeros(periods)
        self.starts: dict[int, int] = {}  # period start (ns) -> index (its slot in the sums)
        self.free: list[int] = []  # slots given back by :meth:`release`, for new periods
        self.slots = 0  # slots handed out so far
        self.groups: dict[str, int] = {}  # origin code -> index
        self.factor: dict[int, float] = {}  # group index -> share (NaN: several)
        self.obs = np.zeros((periods, n_cells, 0), dtype=np.int32 if integral else np.float64)  # (period, cell, origin)
        self.est: dict[int, np.ndarray] = {}  # group index -> (periods, cells)
        self.present = np.zeros((periods, 0), dtype=bool)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(periods, origins, cells) of room."""
        b, c, g = self.obs.shape
        return b, g, c

    def _need(self, nb: int, ng: int, extra_est: int = 0, itemsize: int | None = None) -> int:
        size = self.obs.itemsize if itemsize is None else itemsize
        return (nb * ng * size + (len(self.est) + extra_est) * nb * 8) * self.n_cells

    def guard(self, periods: np.ndarray, max_count: float, rows: int) -> None:
        """Before adding ``rows`` counts of at most ``max_count`` to these periods: keep the
        int32 sums only while no sum can reach 2**31 (each is at most the period's bound).
        """
        if self.obs.dtype != np.int32 or not len(periods):
            return
        new = self.bound[periods] + float(max_count) * rows
        if new.max() < np.iinfo(np.int32).max:
            self.bound[periods] = new
            return
        self.to_float()

    def to_float(self) -> None:
        """Sum in float64 from now on (exact: the int32 sums are whole numbers below 2**31)."""
        if self.obs.dtype == np.float64:
            return
        b, g, _ = self.shape
        if self._need(b, g, itemsize=8) > self.budget:
            raise self._over(b, g)
        self.obs = self.obs.astype(np.float64)

    def _over(self, nb: int, ng: int) -> BudgetError:
        need = self._need(nb, ng)
        return BudgetError(
            f"adding up the counts per period, origin and cell needs {format_size(need, self.budget)} "
            f"({nb} periods x {ng} origins x {self.n_cells} cells), more than the memory budget of {format_size(self.budget, need)}",
            hint="raise --memory-budget, choose a coarser --origin-level or a longer --period, or split the counts by time",
        )

    def reserve(self, nb: int, ng: int) -> None:
        """Make room for ``nb`` periods and ``ng`` origins at once (no copies later), within the budget."""
        nb, ng = max(nb, self.shape[0]), max(ng, self.shape[1])
        if self._need(nb, ng) <= self.budget:
            self._grow(nb, ng, exact=True)

    def _grow(self, nb: int, ng: int, exact: bool = False) -> None:
        b, g, _ = self.shape
        if nb <= b and ng <= g:
            return
        if self._need(nb, ng) > self.budget:
            raise self._over(nb, ng)
        # room to grow, within the budget
        nb, ng = max(nb, b), max(ng, g)
        nb2 = nb if (nb == b or exact) else max(nb, b + b // 4, 4)
        ng2 = ng if (ng == g or exact) else max(ng, g + 4)
        while self._need(nb2, ng2) > self.budget and (nb2 > nb or ng2 > ng):
            nb2, ng2 = max(nb, nb2 - 1), max(ng, ng2 - 1)
        new = np.zeros((nb2, self.n_cells, ng2), dtype=self.obs.dtype)
        new[:b, :, :g] = self.obs
        self.obs = new
        bound = np.zeros(nb2)
        bound[:b] = self.bound[:b]
        self.bound = bound
        p = np.zeros((nb2, ng2), dtype=bool)
        p[:b, :g] = self.present
        self.present = p
        for gi, arr in self.est.items():
            e = np.zeros((nb2, self.n_cells))
            e[:b] = arr
            self.est[gi] = e

    def register(self, starts: np.ndarray, groups: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of these periods (UTC ns) and origin groups (with their shares) in the
        accumulators, which grow to hold them; a group met with another share gets its own
        estimate sums from now on.
        """
        for s in map(int, starts):
            if s not in self.starts:
                if self.free:
                    self.starts[s] = self.free.pop()
                else:
                    self.starts[s], self.slots = self.slots, self.slots + 1
        bmap = np.array([self.starts[int(s)] for s in starts], dtype=np.int64)
        for g in sorted(set(map(str, groups)) - self.groups.keys()):  # new groups in order (a first batch: all in order)
            self.groups[g] = len(self.groups)
        gmap = np.array([self.groups[str(g)] for g in groups], dtype=np.int64)
        self._grow(self.slots, len(self.groups))
        mixed = []
        for local, gi in enumerate(gmap):
            f = float(factors[local])
            old = self.factor.setdefault(int(gi), f)
            if gi not in self.est and not (old == f):  # NaN != NaN: a mixed group
                mixed.append(int(gi))
        for gi in mixed:  # from now on this group's estimates are summed row by row
            if self._need(*self.shape[:2], extra_est=1) > self.budget:
                raise self._over(*self.shape[:2])
            f = self.factor[gi]
            self.est[gi] = self.obs[:, :, gi] / f if np.isfinite(f) and f > 0 else np.zeros(self.obs.shape[:2])
            self.factor[gi] = np.nan
        return bmap, gmap

    def add(self, batch: _Batch, before=None) -> None:
        """Add a batch; ``before`` (if given) is called once the sums have room for it, and
        may leave rows out of it (duplicates: :meth:`_Seen.filter`).
        """
        if not len(batch.cell):
            return
        used_b = np.flatnonzero(np.bincount(batch.bucket, minlength=len(batch.starts)))
        bmap = np.full(len(batch.starts), -1, dtype=np.int64)
        bmap[used_b], gmap = self.register(batch.starts[used_b], batch.groups, batch.factors)
        if before is not None:
            before()
            if not len(batch.cell):
                return
        bidx, g = bmap[batch.bucket], gmap[batch.group]
        if self.obs.dtype == np.int32 and not np.array_equal(batch.count, np.floor(batch.count)):
            self.to_float()  # counts that are not whole numbers
        self.guard(bmap[used_b], float(batch.count.max()), len(batch.count))
        _, ng, nc = self.shape
        flat = (bidx * nc + batch.cell) * ng + g
        np.add.at(self.obs.reshape(-1), flat, batch.count.astype(self.obs.dtype))
        self.present.reshape(-1)[np.flatnonzero(np.bincount(bidx * ng + g, minlength=self.present.size))] = True
        for gi in self.est:
            rows = g == gi
            if rows.any():
                np.add.at(self.est[gi].reshape(-1), bidx[rows] * nc + batch.cell[rows], batch.estimate[rows])

    def release(self, start: int) -> None:
        """Give back the slot of a finished period (its sums read): zeroed, for a new period."""
        i = self.starts.pop(start)
        self.obs[i] = 0
        self.present[i] = False
        self.bound[i] = 0
        for arr in self.est.values():
            arr[i] = 0
        self.free.append(i)

    def view(self, start: int, period: str, divisor: float, cell_ids: np.ndarray) -> CellBins:
        """One period's sums as :class:`CellBins` (views, not copies)."""
        i, ng = self.starts[start], len(self.groups)
        return CellBins(period, np.array([start], dtype="datetime64[ns]"), np.array(list(self.groups), dtype=object),
                        self.obs[i : i + 1, :, :ng].transpose(0, 2, 1), self._factors(), {g: arr[i : i + 1] for g, arr in self.est.items()},
                        self.present[i : i + 1, :ng], np.asarray(cell_ids), np.array([divisor], dtype=float), {})

    def _factors(self) -> np.ndarray:
        return np.array([self.factor.get(g, np.nan) if g not in self.est else np.nan for g in range(len(self.groups))], dtype=float)

    def bins(self, period: str, info: dict, cell_ids: np.ndarray) -> CellBins:
        """The sums as :class:`CellBins`: views of the accumulators, not copies."""
        nb, ng = len(self.starts), len(self.groups)
        starts = np.asarray(list(self.starts), dtype=np.int64).astype("datetime64[ns]")
        names = np.array(list(self.groups), dtype=object)
        factors = self._factors()
        estimates = {g: arr[:nb] for g, arr in self.est.items()}
        sums = self.obs[:nb, :, :ng].transpose(0, 2, 1)  # a view, (period, origin, cell)
        return CellBins(period, starts, names, sums, factors, estimates, self.present[:nb, :ng], np.asarray(cell_ids), np.ones(nb), info)


def _duplicate_error(ctx: _Context, cell: str, ns: int, norm: int | str, rows: list[int]) -> CountsError:
    """The memory engine's error for one key (cell, period, normalised origin: its index
    in ``ctx.norm_index`` or its code) with different counts on these rows.
    """
    when = pd.Timestamp(ns, tz="UTC").isoformat()
    origin = norm if isinstance(norm, str) else next(code for code, i in ctx.norm_index.items() if i == norm)
    return CountsError(f"cell {cell!r}, period {when!r}, origin {origin!r} has different counts on "
                       f"{', '.join(_row_where(ctx, x) for x in sorted(rows)[:3])}", path=ctx.source,
                       hint="each cell, period and origin must appear once; remove or merge the duplicates")


def _same_origin_error(ctx: _Context, cell: str, ns: int, norm: int | str, rows: list[int], codes: list[str]) -> CountsError:
    """The memory engine's error for one key given under two codes of one origin (208 and
    FR, a merged municipality and its successor) on these rows, whatever their counts.
    """
    when = pd.Timestamp(ns, tz="UTC").isoformat()
    origin = norm if isinstance(norm, str) else next(code for code, i in ctx.norm_index.items() if i == norm)
    return CountsError(f"cell {cell!r}, period {when!r}: origins {' and '.join(repr(c) for c in dict.fromkeys(codes))} on "
                       f"{', '.join(_row_where(ctx, x) for x in sorted(rows)[:3])} are the same origin ({origin})", path=ctx.source,
                       hint="give each origin once, under one code; add their counts if they are different people")


def _twins(keys: pd.DataFrame, on: list[str]) -> np.ndarray:
    """Rows of ``keys`` whose key (``on``) other rows hold under another code (``raw``)."""
    return keys.groupby(on, sort=False)["raw"].transform("nunique").to_numpy() > 1


def _drop_duplicates_in(ctx: _Context, b: _Batch, row0: int, batch) -> int:
    """Leave out the exact duplicate rows of one batch held whole (a Dask partition, the
    Arrow ``batch`` it was binned from): how many; different counts for one key, or one
    key under two codes of its origin, are an error, as in the memory engine.
    """
    if not len(b.cell):
        return 0
    key = pd.DataFrame({"ns": b.ns, "c": b.cell, "g": b.norm, "count": b.count})
    again = key.duplicated(["ns", "c", "g"]).to_numpy()
    if not again.any():
        return 0
    held = np.flatnonzero(key.duplicated(["ns", "c", "g"], keep=False).to_numpy())
    keys = key.iloc[held].assign(raw=_raw_origins(batch, b.index[held]))
    twin = _twins(keys, ["ns", "c", "g"])
    if twin.any():
        r = keys.iloc[int(np.flatnonzero(twin)[0])]
        on = held[(keys["ns"] == r["ns"]).to_numpy() & (keys["c"] == r["c"]).to_numpy() & (keys["g"] == r["g"]).to_numpy()]
        raise _same_origin_error(ctx, str(ctx.weights.cell_ids[int(r["c"])]), int(r["ns"]), int(r["g"]), (row0 + b.index[on]).tolist(),
                                 list(keys["raw"].to_numpy()[np.isin(held, on)]))
    differ = key.groupby(["ns", "c", "g"])["count"].transform("nunique").to_numpy() > 1
    if differ.any():
        i = int(np.flatnonzero(differ)[0])
        same = np.flatnonzero(differ & (b.ns == b.ns[i]) & (b.cell == b.cell[i]) & (b.norm == b.norm[i]))
        raise _duplicate_error(ctx, str(ctx.weights.cell_ids[b.cell[i]]), int(b.ns[i]), int(b.norm[i]), (row0 + b.index[same]).tolist())
    b.drop(again)
    return int(again.sum())
