"""Maps at scale: size and load time of ``map.html`` for ~1,000 zones x 92 days.

Usage
-----
From the repository root::

    python3.11 benchmarks/bench_map.py [--case grid|wijken|all] [--zones 1000] [--days 92]
                                       [--repeat 3] [--shared ../shared/data] [--work DIR]

The script prints tables and writes every measurement to ``benchmarks/results/map.json``.
It is not a test (pytest collects ``tests/`` only). It needs the test extra (playwright)
and Debian's Chromium at ``/usr/bin/chromium``.

Cases
-----
grid
    The demo's seeded Kortrijk scenario (:func:`geozones.synth.demo_scenario`, seed 7: 60
    sites, hourly counts with origins, market shares) over a square grid of about
    ``--zones`` squares (:func:`geozones.square_grid` over the municipality, the size chosen
    to give that many), run by :func:`geozones.run` like ``geozones run``: daily figures,
    the quarter, disclosure control, and the 250 m heat grid with its daily frames.
wijken
    Real outlines: the ``--zones`` neighbourhoods of Flanders and Brussels
    (``flanders/ggw7.shp``, full detail) nearest to Kortrijk's centre, a synthetic network
    over them (:func:`geozones.synth.synthetic_cellplan` on ``population/POP.tif``, seeded,
    wedges) and seeded daily counts per cell and origin (Poisson, weekday profile), run the
    same way with a heat grid of 2,500 m squares (a 250 m grid over ~5,000 km² would be
    80,000 squares).

For each case the figures are made once (``map=False``), then ``map.html`` is drawn from
the run's outputs by :func:`geozones.map_from_run` and :func:`geozones.save_map` (what
``geozones map`` does), default and ``--self-contained``, under display settings:

``raw``
    no simplification, no snapping of coordinates;
``before``
    the display settings of maps.py before this benchmark (outlines simplified by 5 m,
    snapped to 1e-6 degrees; heat points at 6 decimals, weights at 4);
``after``
    the current settings of :mod:`geozones.maps` (a tolerance of 1% of each zone's size,
    at most 25 m; 1e-5 degrees; heat points at 5 decimals, weights at 3).

Every page is written ``--repeat`` times (best time kept), then opened ``--repeat`` times in
headless Chromium (Playwright, a fresh context each time), the variants taking turns: time
to the ``load`` event, time until every zone has its SVG path and the next frame is
painted, JS heap and DOM nodes (Chrome DevTools ``Performance.getMetrics``), the number of
SVG paths and of heat frames, and the time of one step of the day slider (its layer
switched on; median of ten steps, each until the next paint). The network is cut: a
self-contained page must request nothing; a default page's CDN scripts are served from
geozones' own copies (``geozones.offline``), as from a warm cache, and its basemap tiles
are refused, so its times leave out the network. Times are medians; ratios are against
``before`` in the same run. Each page's zone figures are checked against ``zone_counts.csv``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import geozones as gz
import geozones.maps as maps
from geozones import offline
from geozones.errors import OutputError
from geozones.synth import _data, demo_scenario, synthetic_cellplan

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "map.json"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
KORTRIJK = (3.2650, 50.8275)  # lon, lat of the Grote Markt

SETTINGS = {
    "raw": {"SIMPLIFY_SHARE": 0.0, "SIMPLIFY_M": (0.0, 0.0), "DISPLAY_PRECISION": 0.0, "HEAT_DECIMALS": (6, 15)},
    "before": {"SIMPLIFY_SHARE": 0.0, "SIMPLIFY_M": (5.0, 5.0), "DISPLAY_PRECISION": 1e-6, "HEAT_DECIMALS": (6, 4)},
    "after": {k: getattr(maps, k) for k in ("SIMPLIFY_SHARE", "SIMPLIFY_M", "DISPLAY_PRECISION", "HEAT_DECIMALS")},
}


# --------------------------------------------------------------------------- cases
def _grid_of(area: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    """A square grid over ``area`` with the size (whole metres) that gives closest to n squares."""
    metric = area.to_crs(gz.metric_crs(area.total_bounds))
    size = math.sqrt(float(metric.union_all().area) / n)
    best = None
    for s in np.arange(math.floor(size * 0.9), math.ceil(size * 1.2) + 1):
        g = gz.square_grid(area, float(s))
        if best is None or abs(len(g) - n) < abs(len(best) - n):
            best = g
    return best


def case_grid(work: Path, n_zones: int, days: int) -> tuple[gz.RunConfig, dict]:
    inputs = work / "inputs"
    made = demo_scenario(inputs, seed=7, days=days)
    muni = gpd.read_file(str(_data("kortrijk", "municipality.geojson")))
    zones = _grid_of(muni, n_zones)
    zpath = inputs / "grid_zones.geojson"
    gz.write_zones(zones, zpath)
    cfg = gz.RunConfig(zones=[str(zpath)], out=str(work / "out"), cells=made["cells"], counts=made["counts"],
                       market_share=made["market_share"], model="voronoi", period="1d", map=False)
    return cfg, {"zones": len(zones), "zone_kind": f"square grid of {zones['zone_id'].iloc[0].split('_')[0][2:]} m over Kortrijk",
                 "counts_rows": made["rows"], "heat_grid_m": cfg.heat_grid_m}


def case_wijken(work: Path, n_zones: int, days: int, shared: Path, seed: int = 0) -> tuple[gz.RunConfig, dict]:
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    nb = gpd.read_file(shared / "flanders" / "ggw7.shp")
    centre = gpd.GeoSeries([shapely.Point(*KORTRIJK)], crs="EPSG:4326").to_crs(nb.crs).iloc[0]
    d = shapely.distance(nb.geometry.values, centre)
    nb = nb.iloc[np.argsort(d, kind="stable")[:n_zones]]
    zones = gpd.GeoDataFrame({"zone_id": nb["geoitem"].astype(str).to_numpy(), "name": nb["naam"].astype(str).to_numpy()},
                             geometry=nb.geometry.values, crs=nb.crs).to_crs("EPSG:4326")
    zpath = inputs / "wijken.geojson"
    gz.write_zones(zones, zpath)
    area_km2 = float(zones.to_crs(gz.metric_crs(zones.total_bounds)).area.sum() / 1e6)
    n_sites = int(round(area_km2 / 4))  # one site per 4 km², as a rural-suburban network
    plan = synthetic_cellplan(shared / "population" / "POP.tif", zones, n_sites, seed=seed)
    cells_path = inputs / "cellplan.csv"
    plan.to_csv(cells_path, index=False)
    # seeded daily presence per cell and origin: a level per cell, a weekday profile, noise
    rng = np.random.default_rng(seed)
    level = rng.lognormal(np.log(120.0), 0.8, len(plan))
    weekday = np.array([0.9, 0.9, 1.0, 1.0, 1.05, 1.3, 0.85])
    starts = pd.date_range("2026-07-01", periods=days, freq="D", tz="Europe/Brussels")
    origins = {"30000": 0.70, "40000": 0.12, "10000": 0.06, "70000": 0.04, "208": 0.05, "204": 0.03}
    mix = np.array(list(origins.values()))
    lam = level[:, None, None] * weekday[starts.day_of_week][None, :, None] * rng.lognormal(0, 0.05, days)[None, :, None] * mix[None, None, :]
    n = rng.poisson(lam)
    ci, di, oi = np.nonzero(n)
    counts = pd.DataFrame({
        "cell_id": plan["cell_id"].to_numpy()[ci],
        "period_start": starts[di].tz_convert("UTC"),
        "period": "1d",
        "origin": np.asarray(list(origins), dtype=object)[oi],
        "count": n[ci, di, oi].astype("int32"),
    })
    counts_path = inputs / "counts.parquet"
    counts.to_parquet(counts_path, index=False)
    cfg = gz.RunConfig(zones=[str(zpath)], out=str(work / "out"), cells=str(cells_path), counts=str(counts_path),
                       model="wedge", period="1d", heat_grid_m=2500.0, map=False)
    return cfg, {"zones": len(zones), "zone_kind": "ggw7 neighbourhoods nearest to Kortrijk", "area_km2": round(area_km2),
                 "sites": n_sites, "cells": len(plan), "counts_rows": len(counts), "heat_grid_m": cfg.heat_grid_m}


# --------------------------------------------------------------------------- the page
def composition(page: str) -> dict:
    """Bytes of the page by part: zone outlines (coordinates, properties), reference
    outlines, the heat layer, the heat frames, inlined assets, the rest."""
    dec = json.JSONDecoder()
    parts = {"zone_coordinates": 0, "zone_properties": 0, "reference_outlines": 0, "heat": 0, "heat_frames": 0}
    counts = {"heat_frames": 0, "heat_frame_points": 0, "zone_vertices": 0}
    for m in re.finditer(r"geo_json_[0-9a-f]{32}_add\(", page):
        obj, end = dec.raw_decode(page, m.end())
        size = end - m.end()
        if obj["features"] and "figure" in obj["features"][0]["properties"]:
            props = sum(len(json.dumps(f["properties"])) for f in obj["features"])
            parts["zone_properties"] += props
            parts["zone_coordinates"] += size - props
            counts["zone_vertices"] += sum(int(shapely.get_num_coordinates(shapely.from_geojson(json.dumps(f["geometry"]))))
                                           for f in obj["features"])
        else:
            parts["reference_outlines"] += size
    for m in re.finditer(r"L\.heatLayer\(\s*", page):
        _, end = dec.raw_decode(page, m.end())
        parts["heat"] += end - m.end()
    for m in re.finditer(r"new TDHeatmap\(\s*", page):
        obj, end = dec.raw_decode(page, m.end())
        parts["heat_frames"] += end - m.end()
        counts["heat_frames"] += len(obj)
        counts["heat_frame_points"] += sum(len(f) for f in obj)
    inline = sum(len(b) for b in re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", page, re.S)
                 if len(b) > 20_000 and "_00000000000" not in b)
    parts["inlined_assets"] = inline
    parts["rest"] = len(page.encode()) - sum(parts.values())
    return {"bytes": parts, **counts}


_STEP_JS = """async () => {
  const map = Object.keys(window).filter(k => k.startsWith('map_') && window[k] && window[k].timeDimension).map(k => window[k])[0];
  const td = map.timeDimension, out = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await new Promise(done => { td.once('timeload', done); td.nextTime(1); });
    await new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
    out.push(performance.now() - t0);
  }
  return out;
}"""


def open_page(browser, path: Path, n_zones: int, timeout_ms: int = 120_000) -> dict:
    """Load a page with the network cut; times in ms from navigation start."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    refused, errors, served = [], [], []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:")):
            return r.continue_()
        try:  # a default page's CDN scripts: served from geozones' copies, as from a warm cache
            source = offline._lookup(url)
        except OutputError:  # anything else (basemap tiles) is refused
            refused.append(url)
            return r.abort()
        served.append(url)
        kind = "text/css" if url.endswith(".css") else "application/javascript"
        r.fulfill(status=200, content_type=kind, body=offline._content(source) if source else "")

    ctx.route("**/*", route)
    # from the first script on, watch every frame for the zones' paths
    ctx.add_init_script("""
      (() => {
        const n = %d;
        function tick() {
          if (document.querySelectorAll('path.leaflet-interactive').length >= n) {
            window.__pathsAt = performance.now();
            requestAnimationFrame(() => setTimeout(() => { window.__paintedAt = performance.now(); }, 0));
          } else requestAnimationFrame(tick);
        }
        requestAnimationFrame(tick);
      })();""" % n_zones)
    page = ctx.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    cdp = ctx.new_cdp_session(page)
    cdp.send("Performance.enable")
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load", timeout=timeout_ms)
    page.wait_for_function("() => window.__paintedAt !== undefined", timeout=timeout_ms, polling=50)
    wall = (time.perf_counter() - t0) * 1000
    nav = page.evaluate("""() => { const e = performance.getEntriesByType('navigation')[0];
        return {dcl: e.domContentLoadedEventEnd, load: e.loadEventEnd, paths: window.__pathsAt, painted: window.__paintedAt}; }""")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    dom = page.evaluate("""() => ({
        zone_paths: document.querySelectorAll('path.leaflet-interactive').length,
        svg_paths: document.querySelectorAll('svg path').length,
        frames: (() => { for (const k of Object.keys(window)) {
            if (k.startsWith('heat_map_') && window[k] && Array.isArray(window[k].data)) return window[k].data.length; }
            return 0; })() })""")
    # the heat per day: switch its layer on and step the slider ten days, each to its next paint
    steps = []
    slider = page.locator(".leaflet-control-layers-overlays label", has_text="slider")
    if slider.count():
        slider.first.click()
        steps = page.evaluate(_STEP_JS)
    ctx.close()
    return {
        "slider_step_ms": statistics.median(steps) if steps else float("nan"), "slider_steps_ms": steps,
        "dcl_ms": nav["dcl"], "load_ms": nav["load"], "zones_drawn_ms": nav["paths"], "painted_ms": nav["painted"],
        "wall_ms": wall, "js_heap_mb": metrics.get("JSHeapUsedSize", float("nan")) / 2**20,
        "dom_nodes": int(metrics.get("Nodes", 0)), "script_s": metrics.get("ScriptDuration"), "layout_s": metrics.get("LayoutDuration"),
        **dom, "errors": errors, "refused": refused, "served_from_copies": len(served),
    }


def render(run_dir: Path, dest: Path, settings: dict, self_contained: bool, repeat: int) -> dict:
    """Draw map.html from a run's outputs under display settings; best time of ``repeat``."""
    saved = {k: getattr(maps, k) for k in settings}
    try:
        for k, v in settings.items():
            setattr(maps, k, v)
        build, save = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            m = maps.map_from_run(run_dir, self_contained=self_contained)
            t1 = time.perf_counter()
            maps.save_map(m, dest, self_contained=self_contained)
            t2 = time.perf_counter()
            build.append(t1 - t0)
            save.append(t2 - t1)
    finally:
        for k, v in saved.items():
            setattr(maps, k, v)
    return {"build_s": min(build), "save_s": min(save), "write_s": min(b + s for b, s in zip(build, save)),
            "build_all_s": build, "save_all_s": save}


def check_figures(run_dir: Path, page: str) -> dict:
    """Every zone's tooltip figure on the page is its published figure in zone_counts.csv."""
    zones = gpd.read_file(run_dir / "zones.geojson")
    table = pd.read_csv(run_dir / "zone_counts.csv", dtype={"zone_id": str})
    q = table[(table["period"] == zones["period"].iloc[0]) & (table["origin"] == "all")].set_index("zone_id")
    dec = json.JSONDecoder()
    shown = {}
    for m in re.finditer(r"geo_json_[0-9a-f]{32}_add\(", page):
        obj, _ = dec.raw_decode(page, m.end())
        for f in obj["features"]:
            if "figure" in f["properties"]:
                shown[f["properties"]["zone_id"]] = f["properties"]["figure"]
    wrong = []
    for zid, fig in shown.items():
        est = q["estimate"].get(zid)
        want = "suppressed (fewer than k people)" if pd.isna(est) else f"{est:,.0f}".replace(",", " ")
        if fig != want:
            wrong.append((zid, fig, want))
    return {"zones_on_page": len(shown), "zones": len(zones), "mismatches": wrong[:5], "n_mismatches": len(wrong)}


# --------------------------------------------------------------------------- main
def machine() -> dict:
    import folium

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "?")
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "geozones"], capture_output=True, text=True).stdout.strip())
    return {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "chromium": chromium, "folium": folium.__version__, "shapely": shapely.__version__,
            "geos": ".".join(map(str, shapely.geos_version)), "geozones_commit": commit + ("+dirty" if dirty else ""),
            "load_average": os.getloadavg()}


def run_case(name: str, work: Path, args, browser) -> dict:
    t0 = time.perf_counter()
    if name == "grid":
        cfg, setup = case_grid(work, args.zones, args.days)
    else:
        cfg, setup = case_wijken(work, args.zones, args.days, args.shared)
    setup["inputs_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    manifest = gz.run(cfg).manifest
    setup["run_s"] = time.perf_counter() - t0
    setup["suppressed_share"] = manifest["disclosure_control"]["suppressed"] / manifest["disclosure_control"]["figures"]
    setup["heat_grid"] = manifest.get("heat_grid")
    run_dir = Path(cfg.out)
    print(f"\n== case {name}: {setup}", flush=True)
    # the variants take turns (write, then load in the browser), so that the machine's other
    # load falls on all of them alike
    pages = [(sc, variant, work / f"map_{variant}{'_sc' if sc else ''}.html") for sc in (False, True) for variant in SETTINGS]
    timings = {key: [] for key in pages}
    loads = {key: [] for key in pages}
    for _ in range(args.repeat):
        for key in pages:
            timings[key].append(render(run_dir, key[2], SETTINGS[key[1]], key[0], 1))
    for _ in range(args.repeat):
        for key in pages:
            loads[key].append(open_page(browser, key[2], setup["zones"]))
    rows = []
    for (sc, variant, dest) in pages:
        t = timings[(sc, variant, dest)]
        r = {"build_s": min(x["build_s"] for x in t), "save_s": min(x["save_s"] for x in t), "write_s": min(x["write_s"] for x in t),
             "write_all_s": [x["write_s"] for x in t]}
        page = dest.read_text(encoding="utf-8")
        r.update(variant=variant, self_contained=sc, settings=dict(SETTINGS[variant]),
                 html_bytes=dest.stat().st_size, composition=composition(page), figures=check_figures(run_dir, page))
        ld = loads[(sc, variant, dest)]
        r["browser_all"] = ld
        r["browser"] = {k: statistics.median(x[k] for x in ld)
                        for k in ("dcl_ms", "load_ms", "zones_drawn_ms", "painted_ms", "wall_ms", "js_heap_mb", "dom_nodes", "slider_step_ms")}
        r["browser"].update({k: ld[0][k] for k in ("zone_paths", "svg_paths", "frames")})
        r["browser"]["errors"] = sorted({e for x in ld for e in x["errors"]})
        r["browser"]["refused"] = sorted({u for x in ld for u in x["refused"]}) if sc else len({u for x in ld for u in x["refused"]})
        r["browser"]["served_from_copies"] = ld[0]["served_from_copies"]
        rows.append(r)
        b = r["browser"]
        print(f"{variant:7s} {'self-contained' if sc else 'default       '} {r['html_bytes'] / 1e6:7.2f} MB  write {r['write_s']:.2f} s  "
              f"load {b['load_ms']:7.0f} ms  zones drawn {b['zones_drawn_ms']:7.0f} ms  painted {b['painted_ms']:7.0f} ms  "
              f"heap {b['js_heap_mb']:6.1f} MB  slider step {b['slider_step_ms']:4.0f} ms  paths {b['zone_paths']}/{b['svg_paths']}  frames {b['frames']}  "
              f"figures ok {r['figures']['n_mismatches'] == 0}", flush=True)
    base = {(r["self_contained"]): r for r in rows if r["variant"] == "before"}
    for r in rows:
        b0 = base[r["self_contained"]]
        r["ratio_to_before"] = {
            "html_bytes": r["html_bytes"] / b0["html_bytes"],
            "write_s": r["write_s"] / b0["write_s"],
            "load_ms": r["browser"]["load_ms"] / b0["browser"]["load_ms"],
            "painted_ms": r["browser"]["painted_ms"] / b0["browser"]["painted_ms"],
            "js_heap_mb": r["browser"]["js_heap_mb"] / b0["browser"]["js_heap_mb"],
        }
    # the whole command, as a user runs it (process start and imports included)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "geozones.cli", "map", str(run_dir), "--self-contained"], capture_output=True, text=True)
    cli_s = time.perf_counter() - t0
    return {"setup": setup, "maps": rows, "cli_map_self_contained_s": cli_s, "cli_rc": proc.returncode, "cli_stderr": proc.stderr[-500:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=["grid", "wijken", "all"], default="all")
    ap.add_argument("--zones", type=int, default=1000)
    ap.add_argument("--days", type=int, default=92)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--work", type=Path, default=None, help="keep the runs and pages here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    cases = ["grid", "wijken"] if args.case == "all" else [args.case]
    out = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "settings": SETTINGS, "cases": {}}
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="geozones-bench-map-")
        args.work = Path(tmp.name)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                for name in cases:
                    out["cases"][name] = run_case(name, args.work / name, args, browser)
            finally:
                browser.close()
    finally:
        if tmp is not None:
            tmp.cleanup()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
