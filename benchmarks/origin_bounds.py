"""How many hidden figures an attacker bounds under k through a period's origins and its
``all`` together, on a run's own audit (docs/privacy.md: 393 of 1,636 in the demo's first
3 days before ``geozones.crossorigin``, 0 with it).

Usage: ``python3.11 benchmarks/origin_bounds.py RUN.toml [--periods 3] [--protection perturb]``,
for example on the demo's ``out/inputs/run.toml``. With ``--protection perturb`` the figures
carry the cell key method's noise and the attacker, who knows its largest value D from the
manifest, reads each published figure to +-(D + 0.5). The run is made into a temporary folder with the
audit's input captured; then, per period (all its origins at once), the attacker's linear
programme over counts per origin and cell (>= 0), every published observed figure to its
rounding (+-0.5; an ``all`` figure sums the origins), maximises each hidden figure above
none and under k whose counts some published figure holds (``tests/attacker.py``,
apart from the audit's own code). Prints each figure bounded under k and the count.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geozones.audit as au  # noqa: E402
from geozones.cli.app import main as cli  # noqa: E402
from tests.attacker import lp_max, period_rows  # noqa: E402  (the attacker of the tests, apart from the audit)


def captured_audits(config: str, protection: str | None = None) -> list:
    """Run ``geozones run CONFIG`` into a temporary folder; every audit's (input, final mask, k)."""
    caps = []
    audit = au.audit

    def hooked(a, sup, k, **kw):
        out, rep = audit(a, sup, k, **kw)
        caps.append((a, out.copy(), k))
        return out, rep

    au.audit = hooked
    try:
        with tempfile.TemporaryDirectory() as d:
            try:
                cli(["-q", "run", config, "--out", d, *(["--protection", protection] if protection else [])])
            except SystemExit as e:
                if e.code:
                    raise
    finally:
        au.audit = audit
    return caps


def bounded(a, sup: np.ndarray, k: float, periods: int) -> tuple[list, int]:
    """Hidden figures the programme over a period's origins bounds under ``k``, in the
    first ``periods`` periods: ``[(period, zone, label, observed, maximum)]`` and the
    number of programmes solved.
    """
    key = a.level * (int(a.t.max()) + 1) + a.t
    found, n_lp = [], 0
    for s in np.unique(key)[:periods]:
        f = np.flatnonzero(key == s)
        pub = f[~sup[f]]
        targets = f[sup[f] & (a.obs[f] > 1e-7) & (a.obs[f] < k)]
        if not len(targets) or not len(pub):
            continue
        p = period_rows(a, pub)
        held = np.asarray(p.sum(axis=0)).ravel() > 0
        for i in targets:
            t = period_rows(a, [i]).toarray().ravel()
            if (t[~held] > 0).any():
                continue  # (a count no published figure holds: unbounded)
            n_lp += 1
            m = lp_max(p, a.values(pub), t, slack=a.slack)  # (what was published, to its rounding and noise)
            if m < k - 1e-6:
                found.append((int(s), int(a.zone[i]), int(a.lab[i]), float(a.obs[i]), m))
    return found, n_lp


def main(argv: list[str] | None = None) -> int:
    """Count the hidden figures bounded under k across a period's origins."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--periods", type=int, default=3)
    ap.add_argument("--protection", choices=["suppress", "perturb"])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    for a, sup, k in captured_audits(args.config, args.protection):
        found, n_lp = bounded(a, sup, k, args.periods)
        for f in found:
            print("bounded: period %d, zone %d, label %d, %.2f people, at most %.1f" % f)
        print(f"{len(found)} hidden figures bounded under k={k:g} of {n_lp} programmes, first {args.periods} periods, "
              f"{int((~sup).sum())} figures published, {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
