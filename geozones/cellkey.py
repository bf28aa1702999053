"""The cell key method: published figures carry noise keyed to the people behind them.

With ``protection = "perturb"`` (``--protection perturb``) every published figure's observed
count ``n`` (rounded) becomes ``n + d``, where the noise ``d`` is drawn from a
*perturbation table* ``p(d | n)`` by the figure's *cell key*, a number in ``[0, 1)`` that
is a keyed hash of what the figure counts. The method is the one statistical offices use
for census tables (Giessing 2016, "Computational issues in the design of transition
probabilities and disclosure risk estimation for additive noise"; the ``ptable`` and
``cellKey`` R packages of sdcTools); it has no maintained Python implementation, so the
two pieces are written here, small:

* **The perturbation table** (:func:`perturbation_table`): for every count ``n`` the
  distribution of the noise with the most entropy such that ``|d| <= D`` (``max_noise``),
  the mean is 0 (no bias), the variance is ``V`` (``variance``) and ``n + d >= 0``. Counts
  of ``D`` or more share one symmetric row; smaller counts have their own rows (their
  variance capped at ``0.9 n D`` where ``V`` cannot be reached).
* **The cell key** (:meth:`Perturbation.keys`): BLAKE2b keyed with the run's secret hashes
  each zone (its *composition*: the cells it holds and their weights, not its name), each
  period length, period start and origin; a 64-bit mixer combines them with the count.
  The same group of people in the same period and origin, published twice (the same zone
  under another name, in another zone set, in a later run), gets the same noise, so
  repeating a question averages nothing away; two different groups get independent
  noise, so differencing them yields the difference plus noise. Without the secret the
  keys cannot be computed, so the noise cannot be removed: the secret is never written
  to an output (the manifest holds a one-way id of it, to tell whether two runs share it).

The noise is applied after disclosure control, which decides on the true observed counts
exactly as without it (docs/privacy.md): the threshold, complementary suppression and the
audit are unchanged, and what they guarantee holds against an attacker who knows ``D``
(the published figures only move within it, so every set of counts the audit allowed
still agrees with them). A published figure may therefore read below ``k`` (a true 31 may
read 27); origins no longer add up to ``all`` exactly, nor hours to their day.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import optimize

from .errors import ConfigError

__all__ = ["DEFAULT_MAX_NOISE", "DEFAULT_VARIANCE", "PROTECTIONS", "NOT_UNDER_NOISE", "Perturbation", "perturbation_table", "read_secret", "default_secret_path"]

#: What a manifest says of an exact count under ``--protection perturb``: beside noisy tables an exact
#: count tells two runs' difference exactly (stop 56's attacker: 3 devices).
NOT_UNDER_NOISE = "not given under --protection perturb"

log = logging.getLogger("geozones")

#: The largest change the noise makes to a published count (people).
DEFAULT_MAX_NOISE = 5
#: The noise's variance (people²): a standard deviation of 1.7 people.
DEFAULT_VARIANCE = 3.0
#: How published figures are protected: ``suppress`` (threshold, complementary suppression
#: and the audit) or ``perturb`` (the same, then the cell key method's noise).
PROTECTIONS = ("suppress", "perturb")
_SECRET_BYTES = 32
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def perturbation_table(max_noise: int = DEFAULT_MAX_NOISE, variance: float = DEFAULT_VARIANCE) -> np.ndarray:
    """The noise's distribution for every count: row ``n`` (``0 .. D``; row ``D`` serves
    every larger count) over the noise ``d = -D .. D`` (column ``d + D``).

    Parameters
    ----------
    max_noise : int, default 5
        ``D``: no count moves by more than this.
    variance : float, default 3.0
        ``V``: the noise's variance, ``0 < V < D²``.

    Returns
    -------
    numpy.ndarray
        Shape ``(D + 1, 2 D + 1)``, rows summing to 1; each row the maximum-entropy
        distribution with mean 0, variance ``min(V, 0.9 n D)`` and no mass below ``-n``.

    Raises
    ------
    ConfigError
        ``D`` not a whole number of at least 1, or ``V`` outside ``(0, D²)``.
    """
    if isinstance(max_noise, bool) or not isinstance(max_noise, (int, np.integer)) or max_noise < 1:
        raise ConfigError(f"setting 'perturb_max': {max_noise!r} is not a whole number of at least 1")
    if isinstance(variance, bool) or not isinstance(variance, (int, float)) or not 0 < variance < max_noise ** 2:
        raise ConfigError(f"setting 'perturb_variance': {variance!r} is not between 0 and perturb_max² ({max_noise ** 2})",
                          hint="the noise's variance must be positive and below the square of its largest value")
    big_d = int(max_noise)
    d = np.arange(-big_d, big_d + 1, dtype=float)
    table = np.zeros((big_d + 1, len(d)))
    table[0, big_d] = 1.0  # (a count of none stays none)
    for n in range(1, big_d + 1):
        ok = d >= -n
        table[n, ok] = _max_entropy(d[ok], min(float(variance), 0.9 * n * big_d))
    return table


def _max_entropy(d: np.ndarray, v: float) -> np.ndarray:
    """The distribution over ``d`` of most entropy with mean 0 and variance ``v``:
    ``p ∝ exp(a d + b d²)``, ``(a, b)`` minimising the convex dual ``log Z - b v``.
    """
    s = d / max(abs(d).max(), 1.0)  # (scaled, for the solver)
    vs = v / max(abs(d).max(), 1.0) ** 2

    def dual(lam):
        z = lam[0] * s + lam[1] * s * s
        m = z.max()
        p = np.exp(z - m)
        tot = p.sum()
        p /= tot
        return m + np.log(tot) - lam[1] * vs, np.array([p @ s, p @ (s * s) - vs])

    res = optimize.minimize(dual, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-12, "maxiter": 500})
    z = res.x[0] * s + res.x[1] * s * s
    p = np.exp(z - z.max())
    return p / p.sum()


def default_secret_path() -> Path:
    """Where the secret is kept when none is named: ``$GEOZONES_SECRET_FILE``, else
    ``cell-key.secret`` in ``$XDG_CONFIG_HOME/geozones`` (``~/.config/geozones``).
    """
    env = os.environ.get("GEOZONES_SECRET_FILE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "geozones" / "cell-key.secret"


def read_secret(path: str | os.PathLike[str] | None = None) -> bytes:
    """The secret behind the cell keys.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A file holding it (64 hexadecimal digits, or any text of 16 bytes or more). Without
        it, :func:`default_secret_path`, made with a new random secret (readable by its
        owner only) the first time, which the run says.

    Returns
    -------
    bytes

    Raises
    ------
    ConfigError
        A named file that cannot be read, or a secret shorter than 16 bytes.
    """
    named = path is not None
    p = Path(path) if named else default_secret_path()
    if not p.exists() and not named:
        _make_secret(p)
    try:
        text = p.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the cell key secret: {exc.strerror or exc}", path=p,
                          hint="name a readable file with secret_file / --secret-file") from exc
    if len(text) < 16:
        raise ConfigError(f"the cell key secret holds {len(text)} bytes; it needs 16 or more", path=p,
                          hint="e.g. python3 -c 'import secrets; print(secrets.token_hex(32))' > FILE")
    return text


def _make_secret(p: Path) -> None:
    """A new random secret at ``p``, readable by its owner only; written whole and linked
    into place, so that two runs starting at once keep the one that got there first.
    """
    tmp = p.with_name(p.name + f".{os.getpid()}.tmp")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(_SECRET_BYTES) + "\n")
        try:
            os.link(tmp, p)
        except FileExistsError:
            return
        log.warning("made a new secret for the cell key method at %s: keep it, and keep it private (a new secret gives new "
                    "noise, and runs over the same counts with different secrets can be averaged)", p)
    except OSError as exc:
        raise ConfigError(f"cannot make a secret for the cell key method: {exc.strerror or exc}", path=p,
                          hint="name a file holding one with secret_file / --secret-file, or set GEOZONES_SECRET_FILE") from exc
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # (its folder may not exist)
            pass


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of 64-bit words that spreads every input bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class Perturbation:
    """The cell key method's settings and secret (:func:`read_secret`).

    Attributes
    ----------
    secret : bytes
        Never written anywhere.
    max_noise : int
        ``D``.
    variance : float
        ``V``.
    zones : dict
        Zone id -> 64-bit hash of its composition (:meth:`with_zones`); a zone not in it is
        hashed by its id.
    """

    secret: bytes = field(repr=False)
    max_noise: int = DEFAULT_MAX_NOISE
    variance: float = DEFAULT_VARIANCE
    zones: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", perturbation_table(self.max_noise, self.variance))

    @property
    def table(self) -> np.ndarray:
        """:func:`perturbation_table` of these settings."""
        return self._table  # type: ignore[attr-defined]

    def _hash(self, values, domain: str) -> np.ndarray:
        """BLAKE2b keyed with the secret of each distinct value, as 64-bit words."""
        key = hashlib.blake2b(self.secret, digest_size=32, person=b"geozones-ckm").digest()
        return np.array([int.from_bytes(hashlib.blake2b(f"{domain}\x1f{v}".encode(), key=key, digest_size=8).digest(), "little")
                         for v in values], dtype=np.uint64)

    def with_zones(self, weights) -> Perturbation:
        """These settings with every zone of ``weights`` hashed by its composition.

        Parameters
        ----------
        weights : geozones.Weights
            The zones' weights under the cell plan (the public ones: a zone's composition
            must not depend on the counts).

        Returns
        -------
        Perturbation
        """
        from scipy import sparse

        m = sparse.csc_array(weights.matrix)
        m.sum_duplicates()
        cell_h = self._hash(np.asarray(weights.cell_ids).astype(str), "cell")
        # per weight: its cell's hash and the weight to 1e-6; a zone the wrapped sum of them
        q = np.round(np.asarray(m.data, dtype=float) * 1e6).astype(np.int64).view(np.uint64)
        term = _mix(cell_h[m.indices] ^ _mix(q))
        col = np.repeat(np.arange(m.shape[1]), np.diff(m.indptr))
        comp = np.zeros(m.shape[1], np.uint64)
        np.add.at(comp, col, term)
        fp = self._hash([f"{c:016x}" for c in comp.tolist()], "zone")
        return Perturbation(self.secret, self.max_noise, self.variance, dict(zip(np.asarray(weights.zone_ids).astype(str), fp)))

    def keys(self, zone_ids, periods, starts_ns, origins, counts) -> np.ndarray:
        """The cell key of every figure, in ``[0, 1)``.

        Parameters
        ----------
        zone_ids, periods, origins : array-like of str, or tuple
            Per figure; or ``(codes, labels)``, each figure's code into ``labels``.
        starts_ns : array-like of int
            Per figure, its period's start (UTC nanoseconds).
        counts : array-like of int
            Per figure, its rounded observed count.

        Returns
        -------
        numpy.ndarray of float
        """
        parts = []
        for values, domain in ((zone_ids, "zone-id"), (periods, "period"), (origins, "origin")):
            codes, uniq = _coded(values)
            h = self._hash(uniq, domain)
            if domain == "zone-id":  # (a zone's composition where it is known)
                h = np.array([self.zones.get(str(u), x) for u, x in zip(uniq, h)], dtype=np.uint64)
            parts.append(h[codes])
        # (a start is mixed with a keyed word, not hashed on its own: hourly quarters hold thousands)
        start = _mix(np.asarray(starts_ns, dtype=np.int64).view(np.uint64) ^ self._hash(["start"], "start")[0])
        x = _mix(np.asarray(counts, dtype=np.int64).view(np.uint64) ^ start)
        for h in parts[:3]:
            x = _mix(x ^ h)
        return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)

    def noise(self, keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The noise the perturbation table gives each count at its key.

        Parameters
        ----------
        keys : numpy.ndarray of float
            Cell keys (:meth:`keys`).
        counts : numpy.ndarray of int
            Rounded observed counts (not negative).

        Returns
        -------
        numpy.ndarray of int
        """
        big_d = self.max_noise
        keys = np.asarray(keys, dtype=float)
        row = np.minimum(np.maximum(np.asarray(counts, dtype=np.int64), 0), big_d)
        cdf = np.cumsum(self.table, axis=1)
        cdf[:, -1] = 1.0
        pick = np.empty(len(keys), np.int64)
        for r in np.unique(row):  # (one search per row of the table: at most D + 1)
            on = row == r
            pick[on] = np.searchsorted(cdf[r], keys[on], side="right")
        return np.minimum(pick, 2 * big_d) - big_d

    def perturb(self, observed, published, *, zones, periods, starts_ns, origins) -> np.ndarray:
        """Published observed figures with their noise (others unchanged).

        Parameters
        ----------
        observed : array-like of float
            True observed figures.
        published : array-like of bool
            Which figures are published.
        zones, periods, starts_ns, origins
            Per figure, as for :meth:`keys`.

        Returns
        -------
        numpy.ndarray of float
            ``round(observed) + d`` where published, ``observed`` elsewhere.
        """
        obs = np.asarray(observed, dtype=float)
        pub = np.asarray(published, bool) & np.isfinite(obs)
        out = obs.copy()
        idx = np.flatnonzero(pub)
        if not len(idx):
            return out

        def sel(v):
            codes, uniq = _coded(v)
            return codes[idx], uniq

        n = np.maximum(np.round(obs[idx]), 0).astype(np.int64)
        k = self.keys(sel(zones), sel(periods), np.asarray(starts_ns, dtype=np.int64)[idx], sel(origins), n)
        out[idx] = n + self.noise(k, n)
        return out

    def secret_id(self) -> str:
        """A one-way id of the secret (to tell whether two runs share it)."""
        return hashlib.blake2b(self.secret, digest_size=6, person=b"geozones-ckm-id").hexdigest()

    def describe(self) -> dict:
        """What the manifest says of the perturbation (never the secret)."""
        return {
            "method": "cell key (docs/privacy.md)",
            "max_noise": int(self.max_noise),
            "variance": float(self.variance),
            "table": {"noise": list(range(-self.max_noise, self.max_noise + 1)),
                      "rows": {(f"{n}" if n < self.max_noise else f"{n}+"): [round(float(p), 6) for p in row] for n, row in enumerate(self.table)}},
            "key": "BLAKE2b keyed with a secret of the operator's over the zone's cells and weights, the period, its start, the origin "
                   "and the count; the secret is not published",
            "secret_id": self.secret_id(),
            "applied_to": "observed; each estimate is its perturbed observed count times its origin's factor (a total's from its "
                          "published origins and rest_share)",
        }


def _coded(values) -> tuple[np.ndarray, list]:
    """``(codes, labels)`` of a column given as labels per figure or already coded."""
    if isinstance(values, tuple):
        return np.asarray(values[0], dtype=np.int64), [str(v) for v in values[1]]
    import pandas as pd

    codes, uniq = pd.factorize(pd.Series(np.asarray(values, dtype=object)).astype(str))
    return codes.astype(np.int64), list(uniq)
