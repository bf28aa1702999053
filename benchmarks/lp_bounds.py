"""How often an attacker's linear programme bounds a hidden zone figure under k, on random
one-slice cases: with the audit's bounds (``on``: the cap test and the audit's own
programme), with the cap test only (``caps``), or with neither (``off``).

Usage: ``python3.11 benchmarks/lp_bounds.py on|caps|off [--cases 300]`` (docs/privacy.md). The
attacker maximises each hidden figure under k over the published observed figures (to their
rounding: +-0.5) with counts >= 0 (scipy's HiGHS), apart from the audit's own code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geozones as gz  # noqa: E402
import geozones.audit as au  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Count the cases where the LP bounds a hidden figure under k."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("caps", choices=["on", "caps", "off"])
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--k", type=float, default=30)
    args = ap.parse_args(argv)
    if args.caps in ("off", "caps"):
        au.programme_bounded_figures = lambda a, sup, k: iter(())
    if args.caps == "off":
        au.capped_figures = lambda a, sup, k: iter(())
    t0 = pd.Timestamp("2026-07-15", tz="UTC")
    rng = np.random.default_rng(0)
    leaks = cases = 0
    for _ in range(args.cases):
        n_c, n_z = rng.integers(2, 6), rng.integers(2, 5)
        w = rng.choice([0.0, 0.0, 0.2, 0.25, 0.5, 0.8, 1.0], size=(n_c, n_z))
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1.0)
        x = rng.integers(0, 61, n_c).astype(float)
        y = w.T @ x
        t = pd.DataFrame({"zone_id": [f"z{j}" for j in range(n_z)], "period_start": t0, "period": "1d", "origin": "all", "observed": y})
        weights = gz.Weights(sparse.csr_array(w), np.array([f"c{i}" for i in range(n_c)]), np.array([f"z{j}" for j in range(n_z)]), 1.0 - w.sum(axis=1))
        pub = (gz.disclosure_control(t, args.k, weights=weights)["status"] == "published").to_numpy()
        hidden = np.flatnonzero(~pub & (y > 1e-7) & (y < args.k))
        if not len(hidden):
            continue
        cases += 1
        rows = w.T[pub]
        a_ub = np.vstack([rows, -rows]) if pub.any() else None
        b_ub = np.concatenate([np.round(y[pub]) + 0.5, -(np.round(y[pub]) - 0.5)]) if pub.any() else None
        bounded = False
        for j in hidden:
            r = linprog(-w[:, j], A_ub=a_ub, b_ub=b_ub, bounds=[(0, None)] * n_c, method="highs")
            bounded |= r.status == 0 and -r.fun < args.k - 1e-6
        leaks += bounded
    print(f"bounds {args.caps}: {cases} cases with a hidden figure under k; the LP bounds one under k in {leaks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
