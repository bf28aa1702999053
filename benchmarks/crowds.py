"""Accuracy where visitors crowd, and the coverage of the 90% intervals (issue 18).

Usage
-----
From the repository root::

    python3.11 benchmarks/crowds.py [--case kortrijk ...] [--seeds 0 1 2] [--scenario shopping ...]
        [--mismatch flat ...] [--share 0.4] [--perturb]

For every case (Kortrijk with a synthetic network of 260 irregular sites; Leuven and
Antwerpen with a real operator's plan), crowd scenario (:mod:`geozones.scenarios`), signal
model unlike the estimator's and seed, it simulates one hour, counts the operator's
subscribers (each person one with probability ``--share``) per cell, apportions them by
every method, scales by the share and scores each zone figure against everybody really
inside it. It prints Markdown tables (docs/accuracy.md) and writes them with the raw
errors' summary to ``benchmarks/results/crowds.json``.

With ``--perturb``, every figure is scored a second time with the cell key method's noise
(``--protection perturb`` at its default settings, a fixed benchmark secret) on its
observed count and the interval widened by it: the accuracy that noise costs, per method
and size class, on all figures and on those a run would publish (observed >= 30). Those
tables go to ``benchmarks/results/crowds_perturb.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from geozones.cellkey import Perturbation  # noqa: E402
from geozones.footprint import Footprints, footprint_weights  # noqa: E402
from geozones.intervals import apportioning_halfwidth, interval_factors  # noqa: E402
from geozones.weights import zone_fit  # noqa: E402

METHODS = ("voronoi", "wedge", "voronoi-dasymetric", "footprint")
CLASSES = (">= 1 km²", "0.25-1 km²", "< 0.25 km²")


def size_class(a: np.ndarray) -> np.ndarray:
    return np.where(a >= 1.0, CLASSES[0], np.where(a >= 0.25, CLASSES[1], CLASSES[2]))


#: The benchmark's cell key secret (fixed: the runs repeat).
BENCH_SECRET = b"geozones benchmark secret, not for use"


def run_case(name: str, seeds, scenarios, mismatches, share: float, shared=None, free_azimuths: bool = False,
             small_cells: float = 0.1, perturb: bool = False, register: str = "none") -> pd.DataFrame:
    frames = []
    for seed in seeds:
        case = C.crowd_case(name, seed=seed, shared=shared, free_azimuths=free_azimuths, small_cells=small_cells,
                            register=register != "none")  # (Kortrijk: a new network per seed)
        # (--register: which side knows the register's heights, tilts and powers: the phones, the plan, or both)
        bare = dataclasses.replace(case, cells=case.cells.drop(columns=list(W.REGISTER_COLUMNS), errors="ignore"))
        sim_case = bare if register == "plan" else case
        case = bare if register == "truth" else case
        z = case.zones.set_index("zone_id")
        centre = (z["zone_set"] == "city-centre") | (z["name"].astype(str) == "Binnenstad")
        weights = {m: S.method_weights(case, m) for m in METHODS}
        fits = {m: zone_fit(footprint_weights(w) if isinstance(w, Footprints) else w)["fit"] for m, w in weights.items()}
        for scen in scenarios:
            for mis in mismatches:
                sim = C.simulate_crowd(sim_case, scen, seed=seed, mismatch=mis, share=share)
                truth = sim.truth.set_index("zone_id")["count"]
                for m, w in weights.items():
                    est = S.estimate_counts(sim, w).set_index("zone_id")["estimate"].reindex(truth.index).fillna(0.0)
                    obs = est.to_numpy()
                    e = pd.DataFrame({"zone_id": truth.index, "true": truth.to_numpy(), "observed": obs, "estimate": obs / share})
                    e["area_km2"] = z["area_km2"].reindex(e["zone_id"]).to_numpy()
                    e["fit"] = fits[m].reindex(e["zone_id"]).to_numpy()
                    e["centre"] = centre.reindex(e["zone_id"]).to_numpy()
                    e["zone_set"] = z["zone_set"].reindex(e["zone_id"]).to_numpy()
                    h = apportioning_halfwidth(e["area_km2"], e["fit"], m.split("-")[0])
                    e["low"], e["high"] = interval_factors(e["observed"], e["estimate"], h, share=np.full(len(e), share))
                    if perturb:  # the same figures with the cell key method's noise (one hour; keyed by zone, scenario and seed)
                        pert = Perturbation(BENCH_SECRET)
                        n = len(e)
                        shown = pert.perturb(obs, np.ones(n, bool), zones=e["zone_id"].to_numpy(), periods=np.full(n, "1h"),
                                             starts_ns=np.full(n, seed * 3_600 * 10**9), origins=np.full(n, f"{scen}/{mis}/{m}"))
                        e["estimate_ckm"] = shown / share
                        e["low_ckm"], e["high_ckm"] = interval_factors(shown, e["estimate_ckm"], h, share=np.full(n, share),
                                                                       noise_sd=float(np.sqrt(pert.variance)))
                    e = e.assign(case=name, scenario=scen, mismatch=mis, seed=seed, method=m)
                    frames.append(e)
    out = pd.concat(frames, ignore_index=True)
    out = out[out["true"] >= S.MIN_TRUE].copy()
    out["rel_error"] = (out["estimate"] - out["true"]) / out["true"]
    out["log_error"] = np.log(np.maximum(out["estimate"], 0.5) / out["true"])
    out["inside"] = (out["true"] >= out["low"]) & (out["true"] <= out["high"])
    out["size_class"] = size_class(out["area_km2"].to_numpy())
    if perturb:
        out["rel_error_ckm"] = (out["estimate_ckm"] - out["true"]) / out["true"]
        out["inside_ckm"] = (out["true"] >= out["low_ckm"]) & (out["true"] <= out["high_ckm"])
    return out


def perturb_tables(raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Accuracy and interval coverage without and with the cell key method's noise."""
    a = raw.assign(abs_error=raw["rel_error"].abs(), abs_ckm=raw["rel_error_ckm"].abs(), noise_share=(raw["estimate_ckm"] - raw["estimate"]).abs() / raw["true"])
    agg = dict(figures=("zone_id", "size"), median_abs=("abs_error", "median"), median_abs_ckm=("abs_ckm", "median"),
               p90_abs=("abs_error", lambda v: v.quantile(0.9)), p90_abs_ckm=("abs_ckm", lambda v: v.quantile(0.9)),
               noise_median=("noise_share", "median"), noise_max=("noise_share", "max"), coverage=("inside", "mean"), coverage_ckm=("inside_ckm", "mean"))
    pub = a[a["observed"] >= 30]
    return {"cell key: every figure": a.groupby(["method", "size_class"], sort=False).agg(**agg),
            "cell key: figures a run publishes (observed >= 30)": pub.groupby(["method", "size_class"], sort=False).agg(**agg),
            "cell key: centre zones": a[a["centre"]].groupby(["case", "method"], sort=False).agg(**agg)}


def tables(raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    a = raw.assign(abs_error=raw["rel_error"].abs())
    by_size = a.groupby(["method", "size_class"], sort=False).agg(
        zones=("zone_id", "nunique"), median_abs=("abs_error", "median"), p90_abs=("abs_error", lambda v: v.quantile(0.9)),
        bias=("rel_error", "mean"), coverage=("inside", "mean"))
    c = a[a["centre"]]
    centre = c.groupby(["case", "method"], sort=False).agg(
        zones=("zone_id", "nunique"), median_abs=("abs_error", "median"), max_abs=("abs_error", "max"), bias=("rel_error", "mean"),
        coverage=("inside", "mean"))
    scen = a[a["area_km2"] >= 1].groupby(["scenario", "mismatch", "method"], sort=False).agg(median_abs=("abs_error", "median"))
    calib = a.assign(fit_class=np.where(a["fit"].fillna(0) >= 0.5, "good", "poor")).groupby(
        ["method", "size_class", "fit_class"]).agg(n=("zone_id", "size"), q90_log=("log_error", lambda v: v.abs().quantile(0.9)),
                                                   coverage=("inside", "mean"))
    return {"size class": by_size, "centre zones": centre, "zones >= 1 km² by scenario": scen, "calibration": calib}


def markdown(df: pd.DataFrame) -> str:
    d = df.reset_index()
    head = list(d.columns)
    fmt = lambda v: f"{100 * v:.1f}%" if isinstance(v, float) and abs(v) < 5 else (f"{v:,.0f}" if isinstance(v, (int, float, np.integer)) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", choices=W.CASES)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--scenario", action="append", choices=C.SCENARIOS)
    ap.add_argument("--mismatch", action="append", choices=list(C.MISMATCH))
    ap.add_argument("--share", type=float, default=0.4)
    ap.add_argument("--free-azimuths", action="store_true", help="Kortrijk's synthetic sectors point each their own random way")
    ap.add_argument("--small-cells", type=float, default=0.1, help="share of Kortrijk's synthetic sites that are small cells in the densest pixels")
    ap.add_argument("--shared", default=None)
    ap.add_argument("--register", choices=("none", "both", "truth", "plan"), default="none",
                    help="Leuven's and Antwerpen's register heights, tilts and powers: left out (none), known to the phones' "
                         "attachment and the plan (both), to the attachment only (truth) or to the plan only (plan)")
    ap.add_argument("--perturb", action="store_true", help="score every figure again with the cell key method's noise (crowds_perturb.json)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "crowds.json"))
    ap.add_argument("--raw", default=None, help="also write every zone figure to this Parquet file (benchmarks/calibrate.py reads it)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    raw = pd.concat([run_case(c, args.seeds, args.scenario or list(C.SCENARIOS), args.mismatch or list(C.MISMATCH), args.share, args.shared,
                              args.free_azimuths, args.small_cells, args.perturb, args.register)
                     for c in (args.case or ["kortrijk"])], ignore_index=True)
    elapsed = time.perf_counter() - t0
    if args.raw:
        raw.to_parquet(args.raw, index=False)
    out = perturb_tables(raw) if args.perturb else tables(raw)
    if args.perturb and args.out == ap.get_default("out"):
        args.out = str(ROOT / "benchmarks" / "results" / "crowds_perturb.json")
    text = [f"Cases: {', '.join(args.case or ['kortrijk'])}; seeds {' '.join(map(str, args.seeds))}; market share {args.share:g}; "
            f"{raw['zone_id'].nunique()} zones, {len(raw):,} zone figures; {elapsed:.0f} s."]
    for name, t in out.items():
        text.append(f"\n### {name}\n\n{markdown(t)}")
    print("\n".join(text))
    write_record(args.out, "benchmarks/crowds.py", argv, elapsed, {k: v.reset_index().round(4).to_dict(orient="records") for k, v in out.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
