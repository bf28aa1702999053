"""The apportioning part of the 90% intervals (``geozones.intervals.APPORTIONING``), from the
accuracy studies' zone figures (issue 18).

Usage
-----
From the repository root, with the two studies' figures written by their ``--raw`` option::

    python3.11 benchmarks/crowds.py --case kortrijk --case leuven --case antwerpen --seeds 0 1 2 3 4 --raw crowds.parquet
    python3.11 benchmarks/accuracy.py --seeds 0 1 2 --raw day.parquet
    python3.11 benchmarks/calibrate.py --crowds crowds.parquet --day day.parquet [--check crowds_heldout.parquet ...]

Per coverage model (the method's name before ``-``: ``voronoi-dasymetric`` counts as
``voronoi``), size class (>= 1, 0.25-1, < 0.25 km²) and fit class (>= 0.5 "good", "poor"),
the 90th percentile of |log(estimate / true)| in each study (the day simulations' signal
attach model); the bound is the larger of the two, rounded up to 0.01 and made monotone (a
smaller class never narrower; zones of poor fit one bound for every size, never narrower
than a good fit's). It prints the
table to paste into ``geozones/intervals.py`` and, for the bounds in the package and the new
ones, the share of figures in their 90% interval per study (and per ``--check`` file: figures
held out of the calibration). A study of the package, not a setting of it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _record import write_record  # noqa: E402

from geozones import intervals as I  # noqa: E402

MODELS = ("footprint", "voronoi", "wedge")  # (coverage models a run can use; others take voronoi's)
SIZES = (">= 1", "0.25-1", "< 0.25")
FITS = ("good", "poor")


def load(path: str, study: str) -> pd.DataFrame:
    """A study's zone figures of the run's models with their size and fit class and |log error|."""
    d = pd.read_parquet(path)
    if "attach" in d:
        d = d[d["attach"] == "signal"]
    d = d[d["method"].str.split("-").str[0].isin(MODELS)]
    a = d["area_km2"].to_numpy(dtype=float)
    d = d.assign(study=study, model=d["method"].str.split("-").str[0],
                 size=np.where(a >= 1.0, SIZES[0], np.where(a >= 0.25, SIZES[1], SIZES[2])),
                 fit_class=np.where(d["fit"].fillna(0.0).to_numpy() >= 0.5, "good", "poor"),
                 abs_log=np.abs(np.log(np.maximum(d["estimate"].to_numpy(dtype=float), 0.5) / d["true"].to_numpy(dtype=float))))
    if "observed" not in d:
        d["observed"] = d["estimate"]  # (the day simulations count everyone: no sampling)
    return d


def calibrate(figures: pd.DataFrame) -> dict[str, dict[tuple[str, str], float]]:
    """Per model, the larger study's 90th percentile, rounded up: per size class for zones of
    good fit (a smaller class never narrower), one for every zone of poor fit (their errors
    hardly depend on size, and a poor class of one size holds a few dozen figures: too few
    for a percentile of its own), never narrower than the same size's good fit.
    """
    up = lambda v: float(np.ceil(v * 100) / 100)  # noqa: E731
    table = {}
    for model, g in figures.groupby("model"):
        good = g[g["fit_class"] == "good"].groupby(["study", "size"])["abs_log"].quantile(0.9).groupby(level="size").max()
        poor = up(g[g["fit_class"] == "poor"].groupby("study")["abs_log"].quantile(0.9).max())
        h, floor = {}, 0.0
        for size in SIZES:
            floor = max(floor, up(good.get(size, 0.0)))
            h[(size, "good")], h[(size, "poor")] = floor, max(poor, floor)
        table[model] = h
    return table


def coverage(figures: pd.DataFrame, table) -> pd.Series:
    """The share of figures whose truth is in their 90% interval (counting noise included)."""
    out = []
    for model, g in figures.groupby("model"):
        bounds = table.get(model, table.get("voronoi"))
        h = np.array([bounds[(s, f)] for s, f in zip(g["size"], g["fit_class"])])
        share = np.where(g["estimate"] > 0, g["observed"] / g["estimate"], 1.0)
        low, high = I.interval_factors(g["observed"], g["estimate"], h, share=share)
        out.append(g.assign(inside=(g["true"] >= low) & (g["true"] <= high)))
    d = pd.concat(out)
    return d.groupby(["model", "study", "size", "fit_class"])["inside"].agg(["size", "mean"])


def main(argv: list[str] | None = None) -> int:
    """Print the bounds and their coverage; write them to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crowds", required=True, help="benchmarks/crowds.py --raw output (the calibration's seeds)")
    ap.add_argument("--day", required=True, help="benchmarks/accuracy.py --raw output (the calibration's seeds)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="the seeds calibrated on; the files' other seeds are held out")
    ap.add_argument("--check", action="append", default=[], help="more --raw files held out of the calibration (crowds or day)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "calibration.json"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    both = pd.concat([load(args.crowds, "crowds"), load(args.day, "day")], ignore_index=True)
    fit_on = both["seed"].isin(args.seeds)
    new = calibrate(both[fit_on])
    held = [both[~fit_on].assign(study=both["study"][~fit_on] + " (held out)")]
    held += [load(p, f"{'crowds' if 'scenario' in pd.read_parquet(p, columns=None).columns else 'day'} (held out: {Path(p).name})") for p in args.check]
    every = pd.concat([both[fit_on]] + held, ignore_index=True)
    q90 = every.groupby(["model", "study", "size", "fit_class"])["abs_log"].quantile(0.9).rename("q90_log")
    now, then = coverage(every, I.APPORTIONING), coverage(every, new)
    table = pd.concat([now["size"].rename("figures"), q90, now["mean"].rename("in interval (package)"),
                       then["mean"].rename("in interval (new)")], axis=1).reset_index()
    table["q90_log"] = table["q90_log"].round(2)
    for c in ("in interval (package)", "in interval (new)"):
        table[c] = (100 * table[c]).round(1)
    print(table.to_string(index=False))
    print("\nAPPORTIONING = {")
    for model, h in new.items():
        print(f"    {model!r}: {{" + ", ".join(f"({s!r}, {f!r}): {v:.2f}" for (s, f), v in h.items()) + "},")
    print("}")
    elapsed = time.perf_counter() - t0
    write_record(args.out, "benchmarks/calibrate.py", argv, elapsed,
                 {"bounds": {m: {f"{s} km², {f}": v for (s, f), v in h.items()} for m, h in new.items()},
                  "coverage": table.to_dict(orient="records")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
