"""Accuracy of the apportioning methods against a simulated truth (issue 7).

Usage
-----
From the repository root::

    python3.11 benchmarks/accuracy.py [--case kortrijk --case leuven ...] [--seeds 0 1 2]
        [--attach signal --attach sector] [--operator pxs] [--shared ../shared/data]

For every case, attach model and seed it simulates a day (:func:`geozones.simulate.simulate`),
apportions the per-cell counts by every method, and scores each zone figure against the
true count. It prints Markdown tables (the ones in ``docs/accuracy.md``) and writes every
per-seed statistic to ``benchmarks/results/accuracy.json``. Each table cell is the median
over the seeds, with the lowest and highest seed in brackets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geozones import simulate as S  # noqa: E402
from geozones import simworld as W  # noqa: E402
from geozones._io import write_text_atomic  # noqa: E402

FIT_BINS = (0.0, 0.25, 0.5, 0.75, 1.0 + 1e-9)
FIT_LABELS = ("< 0.25", "0.25-0.5", "0.5-0.75", ">= 0.75")


def _cell(values: pd.Series, pct: bool = True) -> str:
    v = values.to_numpy(dtype=float)
    f = (lambda x: f"{100 * x:.0f}%") if pct else (lambda x: f"{x:.0f}")
    mid = f(np.median(v))
    return mid if len(v) == 1 or np.ptp(v) < 0.005 else f"{mid} [{f(v.min())}-{f(v.max())}]"


def _markdown(per_seed: pd.DataFrame, by: list[str]) -> str:
    """One row per group: n zones, then median, p90 and bias (median over seeds [min-max])."""
    rows = []
    for key, g in per_seed.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append(list(key) + [f"{int(g['n_zones'].median())}", _cell(g["median_abs"]), _cell(g["p90_abs"]), _cell(g["bias"])])
    head = by + ["zones", "median abs. error", "p90 abs. error", "bias"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _order(df: pd.DataFrame) -> pd.DataFrame:
    classes = [c[2] for c in S.SIZE_CLASSES]
    key = {}
    if "method" in df:
        key["method"] = df["method"].map({m: i for i, m in enumerate(S.METHODS)})
    if "size_class" in df:
        key["size_class"] = df["size_class"].map({c: i for i, c in enumerate(classes)})
    if "fit_bin" in df:
        key["fit_bin"] = df["fit_bin"].map({c: i for i, c in enumerate(FIT_LABELS)})
    cols = [c for c in ("case", "attach", "method", "size_class", "fit_bin") if c in df]
    tmp = df.assign(**{f"_{k}": v for k, v in key.items()})
    return tmp.sort_values([f"_{c}" if c in key else c for c in cols] + ["seed"]).drop(columns=[f"_{k}" for k in key])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", choices=W.CASES)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--attach", action="append", choices=W.ATTACH_MODELS)
    ap.add_argument("--operator", default="pxs", help="operator of the Leuven and Antwerpen plans: pxs, org or tnt")
    ap.add_argument("--shared", default=None, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "accuracy.json"))
    ap.add_argument("--raw", default=None, help="also write every zone figure to this Parquet file (benchmarks/calibrate.py reads it)")
    args = ap.parse_args(argv)
    cases = args.case or list(W.CASES)
    attach = args.attach or ["signal", "sector"]
    t0 = time.perf_counter()
    stats, fits, zone_sets, raws = [], [], [], []
    setup = {}
    for name in cases:
        case = S.load_case(name, operator=args.operator, shared=args.shared)
        weights = {m: S.method_weights(case, m) for m in S.METHODS}
        setup[name] = {
            "cells": int(len(case.cells)),
            "sites": int(case.cells["site_id"].nunique()),
            "study_area_km2": round(case.area.area / 1e6, 1),
            "zones": case.zones.groupby("zone_set").size().to_dict(),
            "events": list(case.events),
        }
        for att in attach:
            for seed in args.seeds:
                sim = S.simulate(case, seed=seed, attach=att)
                setup[name].setdefault("people_per_step", {})[str(seed)] = sim.people.groupby("step").size().tolist()
                err = S.evaluate(case, sim, weights=weights)
                err["case"], err["attach"], err["seed"] = name, att, seed
                err["fit_bin"] = pd.cut(err["fit"], FIT_BINS, right=False, labels=FIT_LABELS).astype(str)
                for by, out in ((["method", "size_class"], stats), (["method", "fit_bin"], fits), (["method", "zone_set"], zone_sets)):
                    t = S.accuracy_table(err, by).reset_index()
                    t["case"], t["attach"], t["seed"] = name, att, seed
                    out.append(t)
                raws.append(err[["method", "size_class", "fit", "n_cells", "rel_error", "zone_id", "area_km2", "true", "estimate"]]
                            .assign(case=name, attach=att, seed=seed))
    elapsed = time.perf_counter() - t0
    st = pd.concat(stats, ignore_index=True)
    raw = pd.concat(raws, ignore_index=True)
    if args.raw:
        raw.to_parquet(args.raw, index=False)
    fb = pd.concat(fits, ignore_index=True)
    zs = pd.concat(zone_sets, ignore_index=True)
    # pooled over cases: recompute from the raw errors per seed
    raw["fit_bin"] = pd.cut(raw["fit"], FIT_BINS, right=False, labels=FIT_LABELS).astype(str)
    pooled = []
    for (att, seed), g in raw.groupby(["attach", "seed"]):
        for by in (["method", "size_class"], ["method", "fit_bin"]):
            t = S.accuracy_table(g, by).reset_index()
            t["attach"], t["seed"], t["by"] = att, seed, by[1]
            pooled.append(t)
    pooled = pd.concat(pooled, ignore_index=True)
    # pooled size class x fit (fit >= 0.5 or not), for the usability rule
    raw["fit_half"] = np.where(raw["fit"] >= 0.5, "fit >= 0.5", "fit < 0.5")
    cross = []
    for (att, seed), g in raw.groupby(["attach", "seed"]):
        t = S.accuracy_table(g, ["method", "size_class", "fit_half"]).reset_index()
        t["attach"], t["seed"] = att, seed
        cross.append(t)
    cross = pd.concat(cross, ignore_index=True)

    # the 90% intervals (issue 18): the apportioning part only (every person counted: no sampling, no share)
    from geozones.intervals import apportioning_halfwidth

    raw["h"] = np.nan
    for m, idx in raw.groupby("method", sort=False).groups.items():
        g = raw.loc[idx]
        raw.loc[idx, "h"] = apportioning_halfwidth(g["area_km2"].to_numpy(), g["fit"].to_numpy(), m.split("-")[0])
    raw["log_error"] = np.log(np.maximum(raw["estimate"], 0.5) / raw["true"])
    raw["inside"] = raw["log_error"].abs() <= raw["h"]
    raw["fit_class"] = np.where(raw["fit"].fillna(0) >= 0.5, "good", "poor")
    coverage = (raw[raw["attach"] == "signal"].groupby(["method", "size_class", "fit_class"])
                .agg(n=("inside", "size"), coverage=("inside", "mean"), q90_log=("log_error", lambda v: v.abs().quantile(0.9))).reset_index())

    out = []
    out.append(f"Cases: {', '.join(cases)}; attach models: {', '.join(attach)}; seeds: {' '.join(map(str, args.seeds))}; "
               f"operator {args.operator}; {elapsed:.0f} s.\n")
    for att in attach:
        p = _order(pooled[(pooled["attach"] == att) & (pooled["by"] == "size_class")])
        out.append(f"\n### All cases pooled, attach model `{att}`\n\n" + _markdown(p, ["method", "size_class"]))
    for name in cases:
        for att in attach:
            p = _order(st[(st["case"] == name) & (st["attach"] == att)])
            out.append(f"\n### {name}, attach model `{att}`\n\n" + _markdown(p, ["method", "size_class"]))
    for att in attach:
        p = _order(pooled[(pooled["attach"] == att) & (pooled["by"] == "fit_bin")])
        out.append(f"\n### By fit (all cases pooled), attach model `{att}`\n\n" + _markdown(p, ["method", "fit_bin"]))
        c = cross[cross["attach"] == att]
        c = c[c["method"].isin(["wedge", "voronoi", "voronoi-dasymetric"])]
        c = _order(c).sort_values(["method", "fit_half"], kind="stable")
        out.append(f"\n### By size and fit (all cases pooled), attach model `{att}`\n\n" + _markdown(c, ["method", "fit_half", "size_class"]))
        z = _order(zs[(zs["attach"] == att) & zs["method"].isin(["tower", "wedge", "voronoi", "voronoi-dasymetric"])])
        z = z.sort_values(["case", "zone_set"], kind="stable")
        out.append(f"\n### By zone set, attach model `{att}`\n\n" + _markdown(z, ["case", "zone_set", "method"]))
    lines = ["| method | size_class | fit | figures | coverage | q90 abs. log error |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.method} | {r.size_class} | {r.fit_class} | {r.n} | {100 * r.coverage:.0f}% | {r.q90_log:.2f} |" for r in coverage.itertuples()]
    out.append("\n### 90% intervals: share of figures whose truth lies inside, attachment `signal`\n\n" + "\n".join(lines))
    text = "\n".join(out)
    print(text)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {
        "command": " ".join(["python3.11", "benchmarks/accuracy.py"] + (argv if argv is not None else sys.argv[1:])),
        "commit": commit,
        "seconds": round(elapsed, 1),
        "setup": setup,
        "size_class": st.round(4).to_dict(orient="records"),
        "fit_bin": fb.round(4).to_dict(orient="records"),
        "zone_set": zs.round(4).to_dict(orient="records"),
        "pooled": pooled.round(4).to_dict(orient="records"),
        "size_x_fit": cross.round(4).to_dict(orient="records"),
        "interval_coverage": coverage.round(4).to_dict(orient="records"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(record, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
