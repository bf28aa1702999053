"""Which targets follow from a large sparse set of published rows, without a dense SVD.

The audit's dense checks (:mod:`geozones.audit`) take an SVD of a group's weights; a
national zone set is one group of thousands of zones over tens of thousands of cells, too
large for that. :class:`Span` answers the same question there with sparse algebra:

- **Certificates that a target cannot follow.** A target ``t`` (a vector over the cells)
  follows from the rows ``A`` when ``t = A.T @ beta + r`` with a residual ``r`` under
  :data:`TOL` ``* (1 + ||t||)`` (what the dense checks and tests/attacker.py call
  following: a near miss recovers the count too). Then for every unit ``v``, ``|t @ v| <=
  ||beta|| * ||A @ v|| + ||r||``. A random ``v`` projected (nearly) onto the null space of
  ``A`` has a tiny ``||A @ v||`` (measured, not assumed), and a target with ``|t @ v|``
  above ``BOUND * ||A @ v|| + TOL * (1 + ||t||)`` could only follow with coefficients of
  norm above :data:`BOUND`: each published figure is rounded by up to 0.5, so such a
  recovery carries an error of order ``BOUND / 2`` people and tells nothing. The projection
  uses one sparse LU of ``A @ A.T + lam * I`` (the rows' Gram matrix, a few thousand zones
  square), so a national group takes well under a second; where zones outnumber cells (a
  fine grid over a sparse plan) the cells' ``A.T @ A + lam * I``, the smaller, does the same.
- **The rest, solved.** Targets without a certificate are solved for ``beta`` with the same
  factorisation (iterated Tikhonov, converging to the least-squares solution of least
  norm), and follow when ``A.T @ beta`` reproduces them, a few hundred at a time.
- **Many targets.** Where most cells follow (more zones than cells), :meth:`Span.spans`
  draws enough probes to span the null space when it is small; then a target follows
  exactly when every probe misses it, and :meth:`Span.values` gives every cell's worth
  from one solve per slice, so only the targets that matter are solved.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

__all__ = ["Span"]

#: Coefficients above this norm tell nothing (each rounded figure is off by up to 0.5).
BOUND = 1e6
#: A target follows when the rows reproduce it within this share of ``1 + ||t||`` (the
#: audit's dense checks and tests/attacker.py use the same).
TOL = 1e-6


class Span:
    """The row space of the sparse ``rows`` (published zones x cells), for membership tests.

    Parameters
    ----------
    rows : scipy.sparse array, shape (n_rows, n_cols)
        One published figure's weights over the cells per row.
    probes : int, default 2
        Random vectors projected onto the null space (one certifies with probability one;
        two guard against an unlucky draw).
    seed : int, default 0
        Seed of the probes: the audit is deterministic.
    passes : int, default 3
        Projections of the probes (each shrinks what is left of them in the row space by
        the regularisation's factor; their ``||A v||`` is measured after, not assumed).
    """

    def __init__(self, rows, *, probes: int = 2, seed: int = 0, passes: int = 3) -> None:
        self.rows = sparse.csr_array(rows, dtype=float)
        self.rows_t = sparse.csr_array(self.rows.T)
        n_rows, n_cols = self.rows.shape
        # the Gram matrix of the smaller side: more zones than cells (a fine grid over a
        # sparse plan) factorise the cells' A.T @ A, else the rows' A @ A.T
        self._by_cols = n_rows > n_cols
        gram = sparse.csc_array(self.rows_t @ self.rows if self._by_cols else self.rows @ self.rows_t)
        top = float(gram.diagonal().max()) if gram.shape[0] else 0.0
        self._gram = gram
        self._lu = None
        if top > 0:
            lam = 1e-12 * top
            self._lu = splu(sparse.csc_array(gram + lam * sparse.identity(gram.shape[0], format="csc")), permc_spec="COLAMD")
        v = np.random.default_rng(seed).standard_normal((n_cols, probes))
        for _ in range(passes if self._lu is not None else 0):
            v = self._deflate(v)
        self.null = v / np.maximum(np.linalg.norm(v, axis=0), 1e-300)  # (unit probes)
        self.slack = np.linalg.norm(self.rows @ self.null, axis=0)  # ||A v|| per probe, measured

    def _deflate(self, v: np.ndarray) -> np.ndarray:
        """One projection of ``v`` (n_cols x m) towards the null space: ``v - A.T (A A.T +
        lam)^-1 A v``, or ``v - (A.T A + lam)^-1 A.T A v`` by the cells' side (the same).
        """
        if self._by_cols:
            return v - self._lu.solve(self._gram @ v)
        return v - self.rows_t @ self._lu.solve(self.rows @ v)

    def _open(self, dots: np.ndarray, norms) -> np.ndarray:
        """Targets whose ``|t @ v|`` stays within what a recovery with coefficients of norm
        up to :data:`BOUND` and a residual up to ``TOL * (1 + ||t||)`` leaves, for every probe.
        """
        limit = BOUND * self.slack[None, :] + TOL * (1.0 + np.asarray(norms, float).reshape(-1, 1))
        return (np.abs(dots) <= limit).all(axis=1)

    def open(self, targets) -> np.ndarray:
        """Which targets (columns of ``targets``, n_cols x m) have no certificate: they may
        follow and must be solved.
        """
        t = sparse.csc_array(targets, dtype=float)
        return self._open(np.asarray(t.T @ self.null), np.sqrt(np.asarray((t * t).sum(axis=0)).reshape(-1)))

    def open_units(self) -> np.ndarray:
        """:meth:`open` for every cell's indicator at once."""
        return self._open(self.null, 1.0)

    def open_sums(self, pairs: np.ndarray) -> np.ndarray:
        """:meth:`open` for the sums of two cells (rows of ``pairs``, column indices)."""
        return self._open(self.null[pairs[:, 0]] + self.null[pairs[:, 1]], np.sqrt(2.0))

    def spans(self, most: int = 256, seed: int = 1) -> bool:
        """Whether ``most`` probes span the whole null space (their rank is below their
        number): then :meth:`open` says exactly which targets follow (within :data:`TOL`
        and :data:`BOUND`), with no solve. When they do, they become an orthonormal basis of
        it. False when the null space has ``most`` dimensions or more.
        """
        if self._lu is None:
            return False
        v = np.random.default_rng(seed).standard_normal((self.rows.shape[1], most))
        for _ in range(3):
            v = self._deflate(v)
        u, sv, _ = np.linalg.svd(v, full_matrices=False)
        d = int((sv > sv[0] * 1e-8).sum()) if len(sv) and sv[0] > 0 else 0
        if d >= most:
            return False
        self.null = u[:, :d]
        self.slack = np.linalg.norm(self.rows @ self.null, axis=0)
        return True

    def free_rows(self, *, probes: int = 4, passes: int = 3, seed: int = 2) -> np.ndarray:
        """Which rows no dependency among the rows involves (no ``z`` with ``A.T @ z = 0``
        has weight on them): a recovery of a target that uses such a row cannot do without
        it. Random vectors over the rows, projected onto that null space, vanish exactly
        on them (with probability one). Where the rows are nearly dependent (singular
        values close to the regularisation, as smooth footprints give) the projection
        leaves something on those rows: they are not called free, the safe side.
        """
        n_rows = self.rows.shape[0]
        if self._lu is None:
            return np.zeros(n_rows, bool)
        v = np.random.default_rng(seed).standard_normal((n_rows, probes))
        for _ in range(passes):  # (v - A pinv(A) v: what A.T maps to nothing)
            if self._by_cols:
                v = v - self.rows @ self._lu.solve(self.rows_t @ v)
            else:
                v = v - self._lu.solve(self.rows @ (self.rows_t @ v))
        return (np.abs(v) <= 1e-6).all(axis=1)

    def values(self, y: np.ndarray, *, passes: int = 6) -> np.ndarray:
        """What the published figures ``y`` (n_rows x s) say of each cell where its
        indicator follows: ``A.T @ pinv(A @ A.T) @ y`` (n_cols x s); a target ``t`` that
        follows is worth ``t @ values``.
        """
        y = np.asarray(y, float).reshape(self.rows.shape[0], -1)
        if self._lu is None:
            return np.zeros((self.rows.shape[1], y.shape[1]))
        if self._by_cols:  # (least squares A x = y by iterated Tikhonov: x -> A^+ y)
            aty = self.rows_t @ y
            x = np.zeros_like(aty)
            for _ in range(passes):
                x = x + self._lu.solve(aty - self._gram @ x)
            return x
        z = np.zeros_like(y)
        for _ in range(passes):
            z = z + self._lu.solve(y - self.rows @ (self.rows_t @ z))
        return self.rows_t @ z

    def solve(self, targets, *, tol: float = TOL, passes: int = 6) -> tuple[np.ndarray, np.ndarray]:
        """The targets (columns, n_cols x m) that follow, and their coefficients over the
        rows (n_rows x m): ``A.T @ beta`` reproduces ``t`` within ``tol * (1 + ||t||)``.
        """
        targets = sparse.csc_array(targets, dtype=float)
        m = targets.shape[1]
        beta = np.zeros((self.rows.shape[0], m))
        ok = np.zeros(m, bool)
        if self._lu is None:
            return ok, beta
        for a in range(0, m, 256):  # (a few hundred at a time: memory)
            t = targets[:, a:a + 256].toarray()
            b = np.zeros((self.rows.shape[0], t.shape[1]))
            res = t
            if self._by_cols:  # (x -> (A.T A)^+ t, and beta = A x)
                x = np.zeros_like(t)
                for _ in range(passes):
                    x = x + self._lu.solve(res)
                    res = t - self._gram @ x
                b = self.rows @ x
                res = t - self.rows_t @ b
            else:
                for _ in range(passes):
                    b = b + self._lu.solve(self.rows @ res)
                    res = t - self.rows_t @ b
            ok[a:a + 256] = np.linalg.norm(res, axis=0) <= tol * (1.0 + np.linalg.norm(t, axis=0))
            beta[:, a:a + 256] = b
        return ok, beta
