"""No output of any kind carries a figure that disclosure control suppressed; user strings are escaped.

The canary: a handful of French visitors (17 observed, below k) with a made-up market share
so small that their estimate is a number seen nowhere else (17 / 0.0001234 = 137 763).
If that number, in any spelling, turns up in a table, the GeoJSON, the map, the report, the
manifest or the log, a suppressed figure has leaked.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from .conftest import run_cli

CANARY = round(17 / 0.0001234)  # 137763


def spellings(v: int) -> list[str]:
    return [str(v), f"{v:,}", f"{v:,}".replace(",", " "), f"{v:,}".replace(",", "."), f"{v:,}".replace(",", "\u202f")]


@pytest.fixture
def canary_run(small_case, tmp_path):
    c = small_case
    rows = ["cell_id,period_start,period,count,origin"]
    for h in range(24):
        rows += [f"A,2026-07-01T{h:02d}:00,1h,200,30000", f"B,2026-07-01T{h:02d}:00,1h,300,34022",
                 f"B,2026-07-01T{h:02d}:00,1h,90,10000", f"B,2026-07-01T{h:02d}:00,1h,17,FR"]
    counts = tmp_path / "canary.csv"
    counts.write_text("\n".join(rows) + "\n")
    shares = tmp_path / "ms.csv"
    shares.write_text("origin,share\nFR,0.0001234\n*,0.4\n")
    out = tmp_path / "out"
    r = run_cli("-v", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts,
         "--market-share", shares, "--out", out, "--heat-grid", "500")
    assert r.returncode == 0, r.stderr
    rep = run_cli("report", out)
    assert rep.returncode == 0, rep.stderr
    mp = run_cli("map", out, "--out", out / "map2.html")
    assert mp.returncode == 0, mp.stderr
    return out, r.stdout + r.stderr + rep.stdout + rep.stderr


def test_the_canary_is_suppressed(canary_run):
    out, _ = canary_run
    t = pd.read_csv(out / "zone_counts.csv", dtype={"origin": str})
    fr = t[(t.zone_id == "east") & (t.origin == "FR")]
    assert (fr["status"] == "suppressed").all() and fr["estimate"].isna().all()


def test_no_output_carries_a_suppressed_figure(canary_run):
    out, log = canary_run
    texts = {"log": log}
    for f in sorted(out.iterdir()):
        if f.is_file():
            texts[f.name] = f.read_bytes().decode("utf-8", errors="replace") if f.suffix != ".parquet" else pd.read_parquet(f).to_csv()
    assert {"zone_counts.csv", "zone_counts.parquet", "zones.geojson", "map.html", "map2.html", "report.html", "manifest.json", "grid_counts.csv"} <= set(texts)
    for name, text in texts.items():
        for s in spellings(CANARY):
            assert s not in text, f"suppressed figure {s} appears in {name}"


def test_user_strings_are_escaped_in_every_html(small_case, tmp_path):
    import geopandas as gpd

    import geozones as gz

    c = small_case
    z = gpd.read_file(c["zones"])
    evil = "<img src=x onerror=alert(1)>"
    z.loc[0, "name"] = evil
    z.loc[0, "zone_id"] = "w<script>alert(2)</script>"
    zp = tmp_path / "evil.geojson"
    gz.write_zones(z, zp)
    out = tmp_path / "evil_out"
    r = run_cli("apportion", "--zones", zp, "--cells", c["cells"], "--counts", c["counts"], "--out", out)
    assert r.returncode == 0, r.stderr
    assert run_cli("report", out).returncode == 0
    for page in ("map.html", "report.html"):
        html = (out / page).read_text()
        assert evil not in html and "<script>alert(2)" not in html, page
        # the name is there, as HTML entities (written \u0026 inside the map's JSON)
        assert re.search(r"(&|\\u0026)(amp;)?lt;img src=x onerror=alert\(1\)(&|\\u0026)(amp;)?gt;", html), page


def test_event_names_and_spend_rows_are_escaped_in_the_report(small_case, tmp_path):
    c = small_case
    out = tmp_path / "ev"
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--out", out)
    assert r.returncode == 0, r.stderr
    events = tmp_path / "events.csv"
    events.write_text('name,date\n"<script>alert(3)</script>Braderie",2026-07-01\n')
    spend = tmp_path / "spend.csv"
    spend.write_text("zone_id,date,origin,transactions,amount\neast,2026-07-01,resident,40,900\n")
    rep = run_cli("report", out, "--events", events, "--spend", spend)
    assert rep.returncode == 0, rep.stderr
    html = (out / "report.html").read_text()
    assert "<script>alert(3)" not in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;Braderie" in html
    # a spend row of origin 'all' is everyone's, residents included: not read as spend per visitor
    spend.write_text("zone_id,date,origin,transactions,amount\neast,2026-07-01,all,40,900\n")
    rep = run_cli("report", out, "--spend", spend, "--zone", "east")
    assert rep.returncode == 0, rep.stderr
    html = (out / "report.html").read_text()
    assert "<td>all origins, residents included</td>" in html and "Spend per person per day" in html and "per visitor" not in html


@pytest.mark.parametrize("width, scale", [(50, 1), (1.5, 50)])
def test_a_zone_and_the_same_zone_plus_a_strip_do_not_reveal_the_strip(small_case, tmp_path, width, scale):
    """The differencing attack: publish 'west' and 'west plus a strip'; the strip holds fewer
    than k people a day, which subtraction must not reveal. The 1.5 m strip is 0.075% of
    the zone's area (under the 0.1% once taken for 'the same zone twice'), on a zone whose
    busy cell makes that sliver hold people."""
    import geopandas as gpd
    import numpy as np
    import shapely

    import geozones as gz

    c = small_case
    counts_path = tmp_path / "counts.csv"
    raw = pd.read_csv(c["counts"], dtype=str)
    raw["count"] = (raw["count"].astype(int) * np.where(raw["cell_id"] == "A", scale, 1)).astype(str)
    raw.to_csv(counts_path, index=False)
    z = gpd.read_file(c["zones"])
    west = z.to_crs(3812).geometry.iloc[0]
    minx, miny, maxx, maxy = west.bounds
    plus = shapely.union_all([west, shapely.box(maxx, miny, maxx + width, maxy)])
    extra = gpd.GeoDataFrame({"zone_id": ["west_plus"], "name": ["West and a strip"], "municipality": ["34022"]}, geometry=[plus], crs=3812).to_crs(4326)
    zones = gpd.GeoDataFrame(pd.concat([z, extra], ignore_index=True), crs=4326)
    zp = tmp_path / "nested.geojson"
    gz.write_zones(zones, zp)
    out = tmp_path / "nested"
    r = run_cli("apportion", "--zones", zp, "--cells", c["cells"], "--counts", counts_path, "--out", out)
    assert r.returncode == 0, r.stderr
    # the true difference, from the unpublished pipeline (the run's default model): below k, and not zero
    w = gz.compute_weights(gz.build_coverage(gz.read_cellplan(c["cells"])), gz.read_zones(zp))
    col = {zid: i for i, zid in enumerate(w.zone_ids)}
    counts = gz.read_counts(counts_path)
    per_cell = counts.groupby("cell_id")["count"].sum() / 24
    v = per_cell.reindex(w.cell_ids).fillna(0).to_numpy()
    strip = float(v @ (w.matrix[:, [col["west_plus"]]].toarray().ravel() - w.matrix[:, [col["west"]]].toarray().ravel()))
    assert 0 < strip < 30
    t = pd.read_csv(out / "zone_counts.csv", dtype={"origin": str})
    key = ["period", "period_start", "origin"]
    pairs = t[t.zone_id == "west"][key + ["observed"]].merge(t[t.zone_id == "west_plus"][key + ["observed"]], on=key, suffixes=("_w", "_wp"))
    pairs = pairs.rename(columns={"observed_w": "west", "observed_wp": "west_plus"})
    both = pairs.dropna()
    diff = both["west_plus"] - both["west"]
    # wherever both are published, their difference holds no small group
    assert ((diff >= 30) | (diff.abs() < 0.5)).all(), both[(diff < 30) & (diff.abs() >= 0.5)]
    assert len(pairs) > len(both)  # something had to be withheld
    m = json.loads((out / "manifest.json").read_text())
    assert ["west_plus", "west"] in m["disclosure_control"]["nested_zones"]
    assert np.isfinite(strip)


def test_the_heat_layer_is_drawn_from_published_zone_figures(small_case, tmp_path):
    """The heat grid adds no equation: every point takes the density of the smallest
    published zone over it, that zone's figure less the people of the smaller published
    zones inside it spread over the rest of it; a square holds the people of the area it
    covers, and a square over no published zone is empty (checked with shapely's set
    operations, apart from geozones.heat). Where zones nest, the squares add up to the
    outermost zones' figures (they counted a crowded inner zone twice: 11% over the
    network on the demo)."""
    import geopandas as gpd
    import numpy as np
    import shapely

    import geozones as gz

    c = small_case
    # the two zones, a market square inside the east one and a strip across their border
    zones = gpd.read_file(c["zones"]).to_crs(3812)
    x0, y0 = 668_000.0, 667_000.0
    more = gpd.GeoDataFrame({"zone_id": ["market", "strip"], "name": ["Market", "Strip"], "municipality": ["34022", "34022"]},
                            geometry=[shapely.box(x0 + 700, y0 - 300, x0 + 1300, y0 + 300), shapely.box(x0 - 400, y0 - 900, x0 + 400, y0 + 900)],
                            crs=3812)
    zones = pd.concat([zones, more], ignore_index=True)
    path = tmp_path / "zones4.geojson"
    gz.write_zones(zones.to_crs(4326), path)
    out = tmp_path / "grid"
    r = run_cli("apportion", "--zones", path, "--cells", c["cells"], "--counts", c["counts"], "--out", out, "--heat-grid", "250", "--k", "1")
    assert r.returncode == 0, r.stderr
    zones = gpd.read_file(path).to_crs(3812)
    grid = gz.square_grid(gpd.read_file(path), 250, crs="EPSG:3812").to_crs(3812).set_index("zone_id")
    t = pd.read_csv(out / "zone_counts.csv", dtype={"origin": str})
    g = pd.read_csv(out / "grid_counts.csv", dtype={"zone_id": str})
    assert (g["status"] == "published").sum() > 0
    allrows = t[t.origin == "all"]
    by_size = sorted(zip(zones.geometry.area, zones["zone_id"], zones.geometry))
    nested = False
    for (period, start), rows in g.groupby(["period", "period_start"]):
        figs = allrows[(allrows.period == period) & (allrows.period_start == start)].set_index("zone_id")
        owned, taken = [], shapely.Polygon()
        for _, zid, z in by_size:
            if figs.loc[zid, "status"] != "published":
                continue
            mine = z.difference(taken)
            inside = sum(rate * shapely.intersection(other, z).area for other, rate in owned)
            nested |= inside > 0
            owned.append((mine, max(figs.loc[zid, "observed"] - inside, 0.0) / mine.area if mine.area > 0 else 0.0))
            taken = taken.union(z)
        for row in rows.itertuples():
            sq = grid.geometry[row.zone_id]
            parts = [(shapely.intersection(sq, mine).area, rate) for mine, rate in owned]
            if not any(a > 1e-3 for a, _ in parts):
                assert row.status == "suppressed" and np.isnan(row.observed)
            else:
                want = sum(a * rate for a, rate in parts)
                assert row.status == "published" and abs(row.observed - want) <= 0.05 + 1e-6 * want, (row, want)  # (one decimal)
        # the squares hold every published piece's people once
        assert abs(rows["observed"].sum() - sum(rate * mine.area for mine, rate in owned)) <= 0.05 * len(rows) + 1e-6
    assert nested  # (the case has zones over zones)
    # the squares add up to their zone's figure: a probe's sparse zone of 406 squares of 0.4
    # people each, rounded to whole numbers, read 0 observed in all
    pub = g[g.status == "published"]
    day = pub["period_start"].iloc[0]
    one = pub[(pub.period_start == day) & (pub.period == pub["period"].iloc[0])]
    assert one["observed"].sum() > 0 and (one["observed"] % 1 != 0).any()
    m = json.loads((out / "manifest.json").read_text())
    assert m["heat_grid"]["drawn_from"].startswith("published zone figures")


@pytest.mark.parametrize(("inner_published", "hidden_figures"), [(True, None), (False, None), (False, (220.0, 550.0))])
def test_heat_squares_add_up_to_nested_zones_figures(inner_published, hidden_figures):
    """A 1 km square zone holding a published street of one 250 m square: the street's
    square holds the street's people, the other 15 the rest of the zone's, and the squares
    add up to the zone's figure (each square took its zone's density: the demo's grid read
    11% over the network, and a square larger than a small zone took that zone's density
    times the square). With the street hidden, every square takes the zone's density, also
    when the hidden row still carries its figures (the status decides, not an empty cell:
    a mutation probe drew from any row with a figure and no test noticed)."""
    import geopandas as gpd
    import numpy as np
    import shapely

    import geozones as gz
    from geozones.heat import heat_from_zones

    outer, street = shapely.box(668_000, 667_000, 669_000, 668_000), shapely.box(668_250, 667_250, 668_500, 667_400)
    zones = gpd.GeoDataFrame({"zone_id": ["n", "s"]}, geometry=[outer, street], crs=3812).to_crs(4326)
    grid = gz.square_grid(zones, 250, crs="EPSG:3812")
    status = ["published", "published" if inner_published else "suppressed"]
    published = pd.DataFrame({"zone_id": ["n", "s"], "period_start": "2026-07-01T00:00:00+02:00", "period": "1d", "origin": "all",
                              "observed": [400.0, 220.0 if inner_published else (hidden_figures or (np.nan,))[0]],
                              "estimate": [1000.0, 550.0 if inner_published else (hidden_figures or (None, np.nan))[1]], "status": status})
    heat = heat_from_zones(grid, zones, published)
    assert len(heat) == 16 and (heat["status"] == "published").all()
    assert heat["estimate"].sum() == pytest.approx(1000.0) and heat["observed"].sum() == pytest.approx(400.0)
    values = sorted(heat["estimate"].round(6))
    if inner_published:  # one square: the street (550) and 0.6 of a square of the rest (450 over 15.4 squares' area)
        assert values[-1] == pytest.approx(550.0 + 0.4 * 450 / 15.4) and values[0] == pytest.approx(450 / 15.4)
    else:
        assert values[0] == values[-1] == pytest.approx(1000.0 / 16)




def test_spend_rows_are_protected_as_counts_are_and_added_up_per_zone_day_and_origin(small_case, tmp_path):
    """A probe's spend table: a hidden origin's 12 transactions were all less the published
    ones; two rows of one origin and day (retail, hospitality) halved its spend per person;
    rows of other days or zones were lumped into 'no published visitor figure'."""
    import re

    c = small_case
    out = tmp_path / "sp"
    assert run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--model", "voronoi", "--out", out).returncode == 0
    spend = tmp_path / "spend.csv"
    rows = ["zone_id,date,origin,transactions,amount", "east,2026-07-01,all,500,10000", "east,2026-07-01,30000,150,1500",
            "east,2026-07-01,30000,150,1500", "east,2026-07-01,FR,12,600", "east,2026-07-01,resident,100,2000", "east,2026-07-01,10000,88,4400",
            "east,2026-06-30,30000,999,99", "station,2026-07-01,30000,50,500"]
    spend.write_text("\n".join(rows) + "\n")
    rep = run_cli("report", out, "--spend", spend, "--zone", "east")
    assert rep.returncode == 0, rep.stderr
    html = (out / "report.html").read_text()
    table = html[html.index("What visitors spend"):]
    cells = re.findall(r'<tr><td>East</td><td>([^<]*)</td><td class="n">\d+</td><td class="n">([^<]*)</td>', table)
    shown = {o: t for o, t in cells}
    assert shown["all origins, residents included"] == "500"
    assert shown["France"] == "suppressed"
    published = sum(int(t.replace(",", "")) for o, t in cells if t != "suppressed" and not o.startswith("all"))
    assert 500 - published >= 30  # (the attacker's all less the published origins: the hidden ones together)
    assert "300" in shown.values()  # (the two rows of 30000 as one)
    assert "are of days outside this page" in table and "name a zone that is not in this run" in table


def test_spend_by_terminal_position_and_the_counts_own_codes_reads_as_by_zone_and_published_codes(small_case, tmp_path):
    """Issue 4's payment aggregates come per zone or per terminal location, and with origin
    codes as the operator's counts have them: a probe's terminals (lon, lat) were refused
    and its rows of 208, 204, 11002 left out while the counts of those codes were published
    as France, Netherlands, Antwerpen. A terminal counts in the zones it lies in (one in no
    zone is said); the codes are taken to the run's level (the zone's own municipality is
    its residents). The table must read as the same payments given per zone in the
    published codes."""
    import pyproj

    from .conftest import X0, Y0

    c = small_case
    out = tmp_path / "sp"
    assert run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--model", "voronoi", "--out", out).returncode == 0
    lon, lat = pyproj.Transformer.from_crs(3812, 4326, always_xy=True).transform([X0 + 1000, X0 + 50_000], [Y0, Y0])
    rows = [("all", 500, 10000), ("31005", 150, 1500), ("30000", 150, 1500), ("208", 40, 600), ("34022", 100, 2000), ("10000", 60, 4400)]
    by_position = tmp_path / "terminals.csv"
    by_position.write_text("lon,lat,date,origin,transactions,amount\n" + "".join(f"{lon[0]},{lat[0]},2026-07-01,{o},{t},{a}\n" for o, t, a in rows)
                           + f"{lon[1]},{lat[1]},2026-07-01,all,77,770\n")
    published = {"31005": "30000", "208": "FR", "34022": "resident"}
    by_zone = tmp_path / "zones.csv"
    by_zone.write_text("zone_id,date,origin,transactions,amount\n" + "".join(f"east,2026-07-01,{published.get(o, o)},{t},{a}\n" for o, t, a in rows))
    pages = []
    for spend in (by_position, by_zone):
        rep = run_cli("report", out, "--spend", spend, "--zone", "east", "--out", tmp_path / f"{spend.stem}.html")
        assert rep.returncode == 0, rep.stderr
        page = (tmp_path / f"{spend.stem}.html").read_text()
        pages.append(page[page.index("What visitors spend"):].split("</table>")[0])
    assert pages[0] == pages[1] and "France" in pages[0] and "West-Vlaanderen" in pages[0], pages
    page = (tmp_path / "terminals.html").read_text()
    assert "Left out: 1 spending row of terminals in no zone of this run." in page


@pytest.mark.parametrize("inner_all", [480, 400])
def test_spend_of_a_zone_inside_another_is_no_difference_under_k(small_case, tmp_path, inner_all):
    """A terminal counts in every zone it lies in (and an operator's file may give nested
    zones, as the demo's three centre zones): the outer zone's transactions less the inner
    one's are the payments of the ring between them. An attacker's subtraction over the
    published table (written here) finds no ring of 1 to k - 1 transactions."""
    import geopandas as gpd
    import pyproj
    import shapely

    import geozones as gz

    from .conftest import X0, Y0

    c = small_case
    zones = gpd.read_file(c["zones"])
    to_ll = pyproj.Transformer.from_crs(3812, 4326, always_xy=True)
    kiosk = shapely.transform(shapely.box(X0 + 500, Y0 - 500, X0 + 1500, Y0 + 500), lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    zones = pd.concat([zones, gpd.GeoDataFrame({"zone_id": ["kiosk"], "name": ["Kiosk"], "municipality": ["34022"]}, geometry=[kiosk], crs=4326)])
    gz.write_zones(zones, tmp_path / "three.geojson")
    out = tmp_path / "sp"
    r = run_cli("apportion", "--zones", tmp_path / "three.geojson", "--cells", c["cells"], "--counts", c["counts"], "--model", "voronoi", "--out", out)
    assert r.returncode == 0, r.stderr
    spend = tmp_path / "spend.csv"
    rows = [("east", "all", 500), ("kiosk", "all", inner_all), ("east", "30000", 300), ("kiosk", "30000", 200), ("east", "10000", 150)]
    spend.write_text("zone_id,date,origin,transactions,amount\n" + "".join(f"{z},2026-07-01,{o},{t},{10 * t}\n" for z, o, t in rows))
    rep = run_cli("report", out, "--spend", spend, "--zone", "east")
    assert rep.returncode == 0, rep.stderr
    table = (out / "report.html").read_text().split("What visitors spend")[1].split("</table>")[0]
    shown = {(z, o): int(t.replace(",", "")) for z, o, t in re.findall(r'<tr><td>([^<]*)</td><td>([^<]*)</td><td class="n">\d+</td><td class="n">([\d,]+)</td>', table)}
    for (z, o), t in shown.items():
        if z == "East" and ("Kiosk", o) in shown:
            assert t - shown[("Kiosk", o)] == 0 or t - shown[("Kiosk", o)] >= 30, (o, t, shown[("Kiosk", o)])
    both = ("East", "all origins, residents included") in shown and ("Kiosk", "all origins, residents included") in shown
    assert both == (inner_all == 400), shown  # (a ring of 100 transactions may stand; of 20, not)


def test_an_hourly_runs_spend_joins_each_days_payments_once(small_case, tmp_path):
    """A probe's hourly run joined a day's payments to each of its hours: 2 French
    transactions read as 40 and passed k."""
    c = small_case
    out = tmp_path / "hourly"
    r = run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--model", "voronoi", "--period", "1h", "--out", out)
    assert r.returncode == 0, r.stderr
    spend = tmp_path / "spend.csv"
    spend.write_text("zone_id,date,origin,transactions,amount\neast,2026-07-01,all,40,800\neast,2026-07-01,FR,2,10\n")
    rep = run_cli("report", out, "--spend", spend, "--zone", "east")
    assert rep.returncode == 0, rep.stderr
    table = (out / "report.html").read_text().split("What visitors spend")[1]
    assert '<td class="n">40</td>' in table and '<td class="n">960</td>' not in table
    assert "France" not in table or "suppressed" in table.split("France")[1][:200]


def test_top_origins_name_published_origins_only():
    """A zone's top origins are shares of its total: a hidden origin's share would give its
    figure away. A mutation probe let hidden origins in, and every test passed (the run's
    table has their values emptied, but the function takes any table)."""
    from geozones.outputs import top_origins

    level = pd.DataFrame({"zone_id": ["z"] * 5, "origin": ["all", "30000", "FR", "NL", "DE"],
                          "estimate": [1000.0, 600.0, 350.0, 40.0, 10.0],
                          "status": ["published", "published", "suppressed", "published", "suppressed"]})
    shown = top_origins(level)["z"]
    assert "FR" not in shown and "France" not in shown and "35%" not in shown and "DE" not in shown
    assert shown.count("%") == 2 and "60%" in shown and "4%" in shown
    level.loc[0, "status"] = "suppressed"  # no published total: no shares at all
    assert top_origins(level) == {}


def test_the_zone_summary_is_the_last_period_and_a_zone_without_a_row_is_hidden():
    """zones.geojson and the map show each zone's last summary period (a mutation probe
    showed the first, and no test noticed); a zone the table has no row for is not shown as
    published; the top origins are three of the published ones."""
    import geopandas as gpd
    import shapely

    from geozones.outputs import top_origins, zone_summary

    zones = gpd.GeoDataFrame({"zone_id": ["z", "y"], "name": ["Z", "Y"]},
                             geometry=[shapely.box(3.2, 50.8, 3.21, 50.81), shapely.box(3.21, 50.8, 3.22, 50.81)], crs=4326)
    rows = pd.DataFrame([{"zone_id": "z", "period_start": start, "period": "1q", "origin": "all", "observed": v, "estimate": 2 * v,
                          "status": "published"} for start, v in (("2026-07-01T00:00:00+02:00", 100.0), ("2026-10-01T00:00:00+02:00", 200.0))])
    s = zone_summary(zones, rows, "1q").set_index("zone_id")
    assert s.loc["z", "visitors"] == 400 and str(s.loc["z", "period_start"]).startswith("2026-10-01")
    assert s.loc["y", "status"] == "suppressed" and pd.isna(s.loc["y", "visitors"])
    level = pd.DataFrame({"zone_id": ["z"] * 6, "origin": ["all", "30000", "10000", "20001", "FR", "NL"],
                          "estimate": [1000.0, 400.0, 200.0, 150.0, 100.0, 50.0], "status": ["published"] * 6})
    shown = top_origins(level)["z"]
    assert shown.count("%") == 3 and "40%" in shown and "20%" in shown and "15%" in shown and "France" not in shown, shown


def counts_file(folder, name: str, rows: list[str], engine: str):
    """Counts rows (with their header) written as the engine reads them: CSV, or Parquet for the stream engine."""
    path = folder / f"{name}.csv"
    path.write_text("\n".join(rows) + "\n")
    if engine == "stream":
        pd.read_csv(path, dtype={"cell_id": str, "origin": str}).to_parquet(path := path.with_suffix(".parquet"))
    return path


@pytest.mark.parametrize("engine", ["memory", "stream"])
@pytest.mark.parametrize("level", ["province", "country", "none"])
def test_an_origin_of_codes_with_different_shares_gives_no_second_equation(small_case, tmp_path, engine, level):
    """A probe's market shares per municipality (Gent 0.5, Evergem 0.2) at --origin-level
    province: each published province row's estimate was Gent/0.5 + Evergem/0.2 beside its
    observed Gent + Evergem, and the two gave Evergem's people (5.67 for a true 5.83, under
    k). The attacker's view: two inputs that move people between the two municipalities in
    opposite ways in two cells (each cell's total and each municipality's total unchanged)
    differ in every zone's split, and must publish the same tables. And a third that moves
    people from one to the other in the whole input (stop 56's probe: the share pooled over
    the input, in the manifest to 6 decimals, gave a municipality's 5 people exactly) must
    publish the same tables and manifest too."""
    c = small_case
    shares = tmp_path / "shares.csv"
    shares.write_text("origin,share\n44021,0.5\n44019,0.2\nBE,0.38\n*,0.3\n")

    def counts(d: int):
        rows = ["cell_id,period_start,period,count,origin"]
        m, e = (10, 0) if d < 0 else (0, d)  # (-1: 10 people of Evergem read as Gent's in cell A, the whole input's mix moved)
        for h in range(24):
            rows += [f"A,2026-07-01T{h:02d}:00,1h,{100 + e + m},44021", f"A,2026-07-01T{h:02d}:00,1h,{20 - e - m},44019",
                     f"B,2026-07-01T{h:02d}:00,1h,{60 - e},44021", f"B,2026-07-01T{h:02d}:00,1h,{40 + e},44019"]
        return counts_file(tmp_path, f"counts{d}", rows, engine)

    tables, manifests = [], []
    for d in (0, 15, -1):
        out = tmp_path / f"o{d}"
        r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts(d), "--market-share", shares,
                    "--k", "10", "--origin-level", level, "--no-residents", "--heat-grid", "0", "--no-map", "--summary-period", "none",
                    "--engine", engine, "--out", out)
        assert r.returncode == 0, r.stderr
        tables.append((out / "zone_counts.csv").read_bytes())
        manifests.append(json.loads((out / "manifest.json").read_text())["market_share"])
    t = pd.read_csv(tmp_path / "o0" / "zone_counts.csv", dtype={"origin": str})
    code = {"province": "40000", "country": "BE", "none": "all"}[level]
    rows = t[(t["origin"] == code) & (t["status"] == "published")]
    assert len(rows) == 2  # (both zones publish the mixed origin: the test has something to compare)
    assert tables[0] == tables[1] == tables[2]  # (every figure, estimate and interval alike: the split cannot be solved for)
    assert manifests[0] == manifests[1] == manifests[2]
    share = {"province": 0.38, "country": 0.38, "none": 0.5}[level]  # (40000: no row, BE's; all: the table's largest)
    assert manifests[0]["factors"] == {code: share} and manifests[0]["rest_share"] == {"province": 0.38, "country": 0.38, "none": 0.5}[level]
    np.testing.assert_allclose(rows["estimate"] * share, rows["observed"], rtol=1e-6, atol=0.5)


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_a_totals_hidden_origins_take_a_share_of_the_table_not_of_the_input(small_case, tmp_path, engine):
    """Stop 56's probe: 4 French roamers (share 0.02) among people at 0.4, hidden in every
    figure, were bounded to 0.7-2.1 a day by the manifest's rest_share, the input's observed
    total over its estimated total to 3 decimals. Two inputs whose hidden people differ in
    origin alone (French at 0.02, Dutch at 0.3) now publish the same totals and rest_share
    (their intervals differ: they span the shares of the origins the table shows hidden)."""
    c = small_case
    shares = tmp_path / "shares.csv"
    shares.write_text("origin,share\n30000,0.4\nFR,0.02\nNL,0.3\n*,0.25\n")

    def counts(hidden: str):
        rows = ["cell_id,period_start,period,count,origin"]
        for h in range(24):
            rows += [f"A,2026-07-01T{h:02d}:00,1h,120,30000", f"B,2026-07-01T{h:02d}:00,1h,90,30000"]
        rows += [f"A,2026-07-01T{h:02d}:00,1h,4,{hidden}" for h in range(6)]
        return counts_file(tmp_path, f"counts{hidden}", rows, engine)

    totals, rests = [], []
    for hidden in ("FR", "NL"):
        out = tmp_path / hidden
        r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", counts(hidden), "--market-share", shares,
                    "--k", "10", "--no-residents", "--heat-grid", "0", "--no-map", "--engine", engine, "--out", out)
        assert r.returncode == 0, r.stderr
        t = pd.read_csv(out / "zone_counts.csv", dtype={"origin": str})
        assert (t.loc[t["origin"] == hidden, "status"] != "published").all() and (t.loc[t["origin"] == hidden, "estimate"].isna()).all()
        totals.append(t.loc[t["origin"] == "all", ["zone_id", "period_start", "observed", "estimate", "status"]].to_csv(index=False))
        rests.append(json.loads((out / "manifest.json").read_text())["market_share"]["rest_share"])
    assert "published" in totals[0] and totals[0] == totals[1]
    assert rests == [0.4, 0.4]  # (the table's largest share)


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_residents_folded_into_all_take_all_s_share(small_case, tmp_path, engine):
    """Stop 56's attacker: at --origin-level none, with zones naming their municipality, the
    residents kept their municipality's share (0.4) inside 'all' beside the rest's (0.5), and
    'all''s observed and estimate gave each zone's 5 residents as 5-7 and 3-5. Two inputs whose
    5 people differ in home alone must publish the same files."""
    c = small_case
    shares = tmp_path / "shares.csv"
    shares.write_text("origin,share\n34022,0.4\n34002,0.5\n*,0.3\n")
    outs = []
    for home in ("34022", "34002"):
        rows = ["cell_id,period_start,period,count,origin"]
        for h in range(24):
            rows += [f"A,2026-07-01T{h:02d}:00,1h,100,34003", f"A,2026-07-01T{h:02d}:00,1h,5,{home}", f"B,2026-07-01T{h:02d}:00,1h,210,34003"]
        path = counts_file(tmp_path, f"counts{home}", rows, engine)
        out = tmp_path / home
        r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", path, "--market-share", shares,
                    "--origin-level", "none", "--heat-grid", "0", "--no-map", "--engine", engine, "--out", out)
        assert r.returncode == 0, r.stderr
        outs.append(((out / "zone_counts.csv").read_bytes(), json.loads((out / "manifest.json").read_text())["market_share"]))
    assert outs[0] == outs[1]
    assert outs[0][1]["factors"] == {"all": 0.5}


def test_a_spend_ring_round_inner_zones_or_an_overlap_is_not_left_under_k():
    """Stop 56's attacker on the report's spend table (pairs alone were checked): an outer
    zone less its two inner zones gave a ring's 5 transactions; (outer's all less its origins)
    less (inner's all less its origins) gave the ring's hidden origins' 5; two overlapping
    zones less the zone holding both gave the overlap's 5. Each such ring hides the inner
    zones now; a ring of k or more leaves them."""
    from geozones.spend import _hide_small_rings

    def run(rows, nested, k=30):
        g = pd.DataFrame(rows, columns=["zone_id", "origin", "transactions"])
        tr = g["transactions"].to_numpy(dtype=float)
        sup = _hide_small_rings(g, tr, tr < k, nested, k)
        return {(z, o) for z, o, s in zip(g["zone_id"], g["origin"], sup) if not s}

    family = [("outer", "in1"), ("outer", "in2"), ("outer", ["in1", "in2"], True)]
    shown = run([("outer", "all", 205), ("in1", "all", 100), ("in2", "all", 100)], family)
    assert shown == {("outer", "all")}
    assert len(run([("outer", "all", 240), ("in1", "all", 100), ("in2", "all", 100)], family)) == 3  # (a ring of 40: kept)
    hidden = run([("outer", "all", 245), ("outer", "30000", 200), ("inner", "all", 140), ("inner", "30000", 100)], [("outer", "inner")])
    assert hidden == {("outer", "all"), ("outer", "30000")}  # ((245 - 200) - (140 - 100) = 5: the ring's hidden origins)
    overlap = run([("u", "all", 205), ("p", "all", 105), ("q", "all", 105)], [("u", "p"), ("u", "q")])
    assert overlap == {("u", "all")}  # (105 + 105 - 205 = 5 in the overlap of p and q)


def test_a_suppressed_spend_row_does_not_say_its_origin_paid(small_case, tmp_path):
    """Stop 56's attacker: 'West | France | 1 | suppressed' with no France row for East told 1
    to k - 1 French transactions in West (rows were listed where payments were). Every zone
    and origin of the table with a published figure is listed now, its days those with a
    published figure, payments or not."""
    import re

    c = small_case
    out = tmp_path / "sp"
    assert run_cli("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--model", "voronoi", "--k", "5",
                   "--out", out).returncode == 0
    spend = tmp_path / "spend.csv"
    spend.write_text("zone_id,date,origin,transactions,amount\nwest,2026-07-01,30000,3,100\nwest,2026-07-01,all,100,900\n"
                     "east,2026-07-01,all,100,900\n")
    rep = run_cli("report", out, "--spend", spend, "--zone", "east")
    assert rep.returncode == 0, rep.stderr
    table = (out / "report.html").read_text().split("What visitors spend")[1]
    rows = set(re.findall(r'<tr><td>([^<]*)</td><td>([^<]*)</td><td class="n">(\d+)</td><td class="n">([^<]*)</td>', table))
    assert ("West &lt;b&gt;side&lt;/b&gt;", "West-Vlaanderen", "1", "suppressed") in rows, rows
    assert ("East", "West-Vlaanderen", "1", "suppressed") in rows, rows  # (no payment of theirs in East: listed all the same)


def _spans(published: dict, holds: dict, target: set) -> bool:
    """The attacker's least squares: whether ``target`` (a set of places) is a combination of
    the published zones (zone -> the places it holds)."""
    names = sorted({p for ps in holds.values() for p in ps})
    a = np.array([[1.0 if p in holds[z] else 0.0 for p in names] for z in published])
    t = np.array([1.0 if p in target else 0.0 for p in names])
    coef = np.linalg.lstsq(a.T, t, rcond=None)[0] if len(a) else np.zeros(0)
    return bool(len(a)) and bool(np.allclose(a.T @ coef, t, atol=1e-9))


@pytest.mark.parametrize("case", ["row", "mixed", "many", "zone_id", "zone_id_metric"])
def test_no_set_of_spend_places_under_k_follows_from_the_published_rows(case):
    """Stop 56's probe F on the spend table: three zones in a row (P, Q overlapping, Q and R
    overlapping or touching) and the zone holding them gave 105 + 105 + 100 - 305 = the 5
    transactions of a shop in the overlap of P and Q; with 51 zones inside the outer one the
    pair check's cap of 50 let the overlap of two through. The table is audited over its
    places now (terminals by position: their sets of zones; rows by zone_id: the regions of
    the zones' overlay). Checked by the attacker's algebra: no set of places holding 1 to
    k - 1 transactions is a combination of the published rows."""
    import itertools

    import geopandas as gpd
    import shapely

    from geozones.spend import places, spend_table
    from geozones.zonegeo import nested_zones

    k = 30.0
    boxes = {"whole": (0, 0, 60, 20), "pz": (0, 0, 25, 20), "qz": (20, 0, 40, 20), "rz": (35 if case != "mixed" else 40, 0, 60, 20)}
    shops = {"a": (10, 10, 100), "b": (30, 10, 100), "c": (50, 10, 100), "d": (22, 10, 5)}  # (d: in the overlap of pz and qz)
    if case == "many":  # (51 small zones inside whole, larger than pz and qz, no shops)
        boxes = {"whole": (0, 0, 60, 60), "pz": (0, 0, 4, 2), "qz": (2, 0, 6, 2)}
        boxes |= {f"t{i:02d}": (1 + (i % 9) * 6.5, 10 + (i // 9) * 8, 6 + (i % 9) * 6.5, 17 + (i // 9) * 8) for i in range(51)}
        shops = {"a": (1, 1, 100), "b": (5, 1, 100), "d": (3, 1, 5)}
    zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes)},
                             geometry=[shapely.box(3 + a / 1000, 50 + b / 1000, 3 + c / 1000, 50 + d / 1000) for a, b, c, d in boxes.values()],
                             crs="EPSG:4326")
    pts = gpd.GeoDataFrame({"shop": list(shops)}, geometry=[shapely.Point(3 + x / 1000, 50 + y / 1000) for x, y, _ in shops.values()], crs="EPSG:4326")
    if case == "zone_id_metric":  # (stop 57's probe: zones drawn in metres, the outer one's edges with more vertices than
        # the inner ones': in degrees their edges part by 0.3 m, and each strip was a place that broke the nesting)
        def metric(x, y):
            return 668_000 + 100 * x, 667_000 + 100 * y

        zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes)}, crs="EPSG:3812", geometry=[
            shapely.segmentize(shapely.box(*metric(a, b), *metric(c, d)), 500 if z == "whole" else 1e9) for z, (a, b, c, d) in boxes.items()]).to_crs(4326)
        pts = gpd.GeoDataFrame({"shop": list(shops)}, crs="EPSG:3812", geometry=[shapely.Point(*metric(x, y)) for x, y, _ in shops.values()]).to_crs(4326)
    hit = gpd.sjoin(pts, zones, predicate="within")
    holds = {z: set(hit.loc[hit["zone_id"] == z, "shop"]) for z in boxes}
    n = {s: v for s, (_, _, v) in shops.items()}
    spend = pd.DataFrame({"zone_id": hit["zone_id"].to_numpy(), "date": "2026-07-01", "origin": "all",
                          "transactions": [float(n[s]) for s in hit["shop"]], "amount": 10.0})
    if not case.startswith("zone_id"):
        spend["place"] = pd.factorize(hit["shop"])[0]
    table = pd.DataFrame({"zone_id": list(boxes), "period": "1d", "period_start": "2026-07-01T00:00:00+02:00", "origin": "all",
                          "status": "published", "estimate": 1000.0})
    rows, _ = spend_table(spend, table, "1d", k, {}, {}, ("2026-07-01", "2026-07-02"), nested=nested_zones(zones),
                          places=places(spend, zones))
    published = {r["zone"] for r in rows if r["transactions"] != "suppressed"}
    assert "whole" in published  # (something to protect)
    for size in range(1, len(shops) + 1):
        for group in itertools.combinations(shops, size):
            if 0 < sum(n[s] for s in group) < k:
                assert not _spans({z: holds[z] for z in published}, holds, set(group)), (group, sorted(published))


def test_spend_rows_over_different_days_give_no_group_under_k():
    """Stop 57's probe: W holds P and P2, which overlap; on a page of four days P was
    published on days 1 and 4, P2 on days 2 and 3, and W - P - P2 = 403 - 200 - 200 = the 3
    transactions of W outside them (the audit had read every row as one period). Checked by
    the attacker's least squares over (shop, day) cells: no set of them holding 1 to k - 1
    transactions is a combination of the published rows."""
    import itertools

    import geopandas as gpd
    import shapely

    from geozones.spend import places, spend_table
    from geozones.zonegeo import nested_zones

    k = 30.0
    boxes = {"whole": (0, 0, 60, 40), "pz": (20, 15, 32, 25), "p2z": (28, 15, 40, 25)}
    zones = gpd.GeoDataFrame({"zone_id": list(boxes), "name": list(boxes)}, crs="EPSG:4326",
                             geometry=[shapely.box(3 + a / 1000, 50 + b / 1000, 3 + c / 1000, 50 + d / 1000) for a, b, c, d in boxes.values()])
    days = [f"2026-07-0{d}" for d in (1, 2, 3, 4)]
    sales = {("p", d): 100.0 for d in days} | {("r", days[0]): 2.0, ("r", days[1]): 1.0}  # (p in the overlap, r in whole alone)
    holds = {"whole": {"p", "r"}, "pz": {"p"}, "p2z": {"p"}}
    rows = [(z, d, s, n) for (s, d), n in sales.items() for z in holds if s in holds[z]]
    spend = pd.DataFrame(rows, columns=["zone_id", "date", "shop", "transactions"]).assign(origin="all", amount=10.0)
    spend["place"] = pd.factorize(spend["shop"])[0]
    pub = {"whole": days, "pz": [days[0], days[3]], "p2z": [days[1], days[2]]}
    table = pd.DataFrame([(z, f"{d}T00:00:00+02:00", "published" if d in pub[z] else "suppressed") for z in boxes for d in days],
                         columns=["zone_id", "period_start", "status"]).assign(period="1d", origin="all", estimate=500.0)
    out, _ = spend_table(spend.drop(columns="shop"), table, "1d", k, {}, {}, (days[0], "2026-07-05"), nested=nested_zones(zones),
                         places=places(spend, zones))
    published = {r["zone"] for r in out if r["transactions"] != "suppressed"}
    assert "whole" in published
    cells = sorted(sales)
    a = np.array([[1.0 if s in holds[z] and d in pub[z] else 0.0 for s, d in cells] for z in published])
    for size in range(1, len(cells) + 1):
        for group in itertools.combinations(cells, size):
            if 0 < sum(sales[c] for c in group) < k:
                t = np.array([1.0 if c in group else 0.0 for c in cells])
                coef = np.linalg.lstsq(a.T, t, rcond=None)[0]
                assert not np.allclose(a.T @ coef, t, atol=1e-9), (group, sorted(published))
