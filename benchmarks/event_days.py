"""A week with an event day: the footprint model's density per run or per period (issue 18).

Usage
-----
From the repository root::

    python3.11 benchmarks/event_days.py [--case kortrijk ...] [--seeds 1 2] [--share 0.4]

For every case and seed, one world (:func:`geozones.scenarios.simulate_crowd`, scenario
``event``: residents, visitors on the shopping streets and in the centre, and an event
crowd on a square) gives seven days: six ordinary ones (each with 90% of the world's
people other than the event crowd, drawn anew) and one event day (everybody). The
operator counts its subscribers (each person one with probability ``--share``) per cell
and day; every day's zone figures are then made by three densities:

* ``run``: one density from the week's counts (``--density run``);
* ``period``: each day's density started from the run's and moved by EM until it
  explains that day's counts as well as the run's explains a typical day's
  (``--density period``, the default: :func:`geozones.density.period_weights`);
* ``alone``: each day's own EM from the uniform prior, 100 steps (the crowd study's
  one-period estimate).

Median absolute errors per size class and day kind, for the Kortrijk centre zones, and
the share of figures whose truth lies in their 90% interval (:mod:`geozones.intervals`,
as a run computes it) go to stdout (Markdown) and ``benchmarks/results/event_days.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _record import write_record  # noqa: E402

from geozones import scenarios as C  # noqa: E402
from geozones import simulate as S  # noqa: E402
from geozones import simworld as W  # noqa: E402
from geozones.density import period_weights, run_density  # noqa: E402
from geozones.footprint import footprint_weights  # noqa: E402
from geozones.intervals import apportioning_halfwidth, interval_factors  # noqa: E402
from geozones.weights import zone_fit  # noqa: E402

DAYS = 7


def run_case(name: str, seed: int, share: float) -> pd.DataFrame:
    case = C.crowd_case(name, seed=seed)
    fp = S.method_weights(case, "footprint")
    prior = footprint_weights(fp)
    people = C.simulate_crowd(case, "event", seed=seed, share=1.0).people
    base = people.iloc[:-C.EVENT_PEOPLE]  # (the event crowd comes last)
    rng = np.random.default_rng(seed + 77)
    order = pd.Index(case.cells["cell_id"].astype(str)).get_indexer(np.asarray(prior.cell_ids).astype(str))
    counts, truths = [], []
    for d in range(DAYS):
        ppl = people if d == DAYS - 1 else base.iloc[np.flatnonzero(rng.random(len(base)) < 0.9)]
        sub = rng.random(len(ppl)) < share
        counts.append(np.bincount(ppl["cell"].to_numpy()[sub], minlength=len(case.cells))[order].astype(float))
        truths.append(C.true_counts(ppl, case.zones, 1)[0])
    counts = np.array(counts)
    starts = pd.date_range("2026-07-01", periods=DAYS, freq="D", tz="Europe/Brussels").tz_convert("UTC").as_unit("ns").asi8
    whole = counts.sum(axis=0)
    lam = run_density(fp, prior, whole)
    by = {
        "run": [footprint_weights(fp, whole, density=lam)] * DAYS,
        "period": list(period_weights(fp, prior, starts, counts, "1d", start=lam).parts),
        "alone": list(period_weights(fp, prior, starts, counts, "1d").parts),
    }
    ids = case.zones["zone_id"].astype(str).to_numpy()
    fit = zone_fit(prior)["fit"].reindex(ids).to_numpy()
    h = apportioning_halfwidth(case.zones["area_km2"].to_numpy(), fit, "footprint")  # (public: size and fit)
    frames = []
    for method, ws in by.items():
        for d, w in enumerate(ws):
            obs = pd.Series(w.matrix.T @ counts[d], index=np.asarray(w.zone_ids).astype(str)).reindex(ids).to_numpy()
            est = obs / share
            low, high = interval_factors(obs, est, h, share=np.full(len(ids), share))
            frames.append(pd.DataFrame({"zone_id": ids, "true": truths[d], "estimate": est, "low": low, "high": high,
                                        "area_km2": case.zones["area_km2"].to_numpy(),
                                        "zone_set": case.zones["zone_set"].to_numpy(), "method": method,
                                        "day": "event" if d == DAYS - 1 else "ordinary", "case": name, "seed": seed}))
    return pd.concat(frames, ignore_index=True)


def tables(raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    r = raw[raw["true"] >= S.MIN_TRUE].copy()
    r["abs_error"] = (r["estimate"] - r["true"]).abs() / r["true"]
    r["size_class"] = np.where(r["area_km2"] >= 1, ">= 1 km²", np.where(r["area_km2"] >= 0.25, "0.25-1 km²", "< 0.25 km²"))
    r["inside"] = (r["true"] >= r["low"]) & (r["true"] <= r["high"])
    by_class = r.groupby(["case", "day", "size_class", "method"])["abs_error"].agg(["size", "median"]).unstack("method")
    coverage = r.groupby(["size_class", "day", "method"])["inside"].agg(["size", "mean"]).unstack("method")
    centre = r[r["zone_set"] == "city-centre"].groupby(["case", "day", "method"])["abs_error"].agg(["size", "median", "max"]).unstack("method")
    return {"median abs. error by size class": by_class, "centre zones": centre, "90% interval coverage (all cases)": coverage}


def markdown(df: pd.DataFrame) -> str:
    flat = df.copy()
    flat.columns = [" ".join(map(str, c)) for c in flat.columns]
    flat = flat.reset_index()
    cells = [[f"{v:.1%}" if isinstance(v, float) and not c.startswith("size") else str(v) for c, v in zip(flat.columns, row)] for row in flat.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(flat.columns) + " |", "|" + "---|" * len(flat.columns)] + ["| " + " | ".join(r) + " |" for r in cells])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", choices=W.CASES)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--share", type=float, default=0.4)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "event_days.json"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    raw = pd.concat([run_case(c, s, args.share) for c in (args.case or ["kortrijk"]) for s in args.seeds], ignore_index=True)
    elapsed = time.perf_counter() - t0
    out = tables(raw)
    print(f"Cases: {', '.join(args.case or ['kortrijk'])}; seeds {' '.join(map(str, args.seeds))}; market share {args.share:g}; {elapsed:.0f} s.")
    for name, t in out.items():
        print(f"\n### {name}\n\n{markdown(t)}")
    write_record(args.out, "benchmarks/event_days.py", argv, elapsed, {k: json.loads(v.round(4).to_json(orient="split")) for k, v in out.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
