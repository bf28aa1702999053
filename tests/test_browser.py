"""The HTML exports in a real browser: Debian's Chromium, headless, with the network cut.

Every request that is not a local file or a data: URI is refused and recorded; the pages
must load with no console error and no such request, and screenshots are checked by their
pixels. The browser is driven by Playwright's Python API, pointed at /usr/bin/chromium
(never a browser that Playwright downloads).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="the test extra installs playwright")
if not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)

from .browser import Page  # noqa: E402 - (the browser fixture is in conftest.py)
from .conftest import run_cli  # noqa: E402


def geozones(*args):
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    return r


def heat_pixels(img: np.ndarray) -> int:
    """Pixels greener or bluer than red: the heat layer's gradient (blue, cyan, green, over
    the zones since stop 51's opacity floor of 0.2 a pale mint), in no colour of the zones'
    yellow-to-red palette nor the grey ground."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return int((((g - r) > 30) | ((b - r) > 30)).sum())


def fill_pixels(img: np.ndarray) -> int:
    """Orange and red pixels of the zones' choropleth."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return int(((r > 200) & (g > 80) & (g < 200) & (b < 120)).sum())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser_demo")
    geozones("demo", "--out", out, "--days", 7, "--self-contained")
    return out


def test_self_contained_map_loads_offline_and_draws_zones_and_heat(browser, demo):
    from geozones.offline import external_references

    html = (demo / "map.html").read_text()
    assert external_references(html) == []
    p = Page(browser, demo / "map.html")
    try:
        assert p.errors == [] and p.outside == []
        img = p.pixels()
        zones, heat = fill_pixels(img), heat_pixels(img)
        assert zones > 2000, zones
        assert heat > 200, heat
        # the green is the heat layer's: switch it off in the layer control and it is gone
        p.page.locator(".leaflet-control-layers-overlays label", has_text="Heat (").first.click()
        p.page.wait_for_timeout(200)
        without = p.pixels()
        assert heat_pixels(without) < heat / 10
        assert fill_pixels(without) > 1000  # the zones keep their own colours
        # the day slider exists, shown only while its layer is on (it read as the date of the quarterly layers)
        assert p.page.locator(".timecontrol-date").count() == 1
        assert not p.page.locator(".leaflet-bar-timecontrol").is_visible()
        p.page.locator(".leaflet-control-layers-overlays label", has_text="(slider)").first.click()
        p.page.wait_for_timeout(200)
        assert p.page.locator(".leaflet-bar-timecontrol").is_visible()
        assert p.errors == []
    finally:
        p.close()


def test_report_loads_offline_with_its_chart(browser, demo):
    from geozones.offline import external_references

    html = (demo / "report.html").read_text()
    assert external_references(html) == []
    p = Page(browser, demo / "report.html", size=(1000, 1400))
    try:
        assert p.errors == [] and p.outside == []
        assert p.page.locator("svg").count() >= 2  # the daily series and the origin bars
        img = p.pixels()
        red = ((img[..., 0] > 160) & (img[..., 1] < 60) & (img[..., 2] < 80)).sum()  # the visitors line, #bd0026
        assert red > 200, red
        assert "Visitors to" in p.page.locator("h1").inner_text()
        # the device-level sections (geozones visitors on the demo's sample of subscribers)
        heads = p.page.locator("h2").all_inner_texts()
        for h in ("Who visits", "How long they stay", "How often they come back"):
            assert h in heads, heads
        who = p.page.locator("h2:text('Who visits') + table").inner_text()
        assert "Residents" in who and "Day visitors" in who
        resident_row = p.page.locator("h2:text('Who visits') + table tr", has_text="Residents").inner_text()
        assert any(ch.isdigit() for ch in resident_row.split("\t")[1]), resident_row  # a published figure
    finally:
        p.close()


def test_hostile_zone_names_show_as_text_and_run_nothing(browser, small_case, tmp_path):
    import geopandas as gpd

    import geozones as gz

    c = small_case
    z = gpd.read_file(c["zones"])
    payload = "<img src=x onerror=\"window.__pwned=1\">"
    template = "Oost {{ 7*7 }} {# x"  # (folium renders scripts again as Jinja2: stop 51)
    z.loc[0, "name"], z.loc[1, "name"] = payload, template
    zp = tmp_path / "evil.geojson"
    gz.write_zones(z, zp)
    out = tmp_path / "evil"
    geozones("apportion", "--zones", zp, "--cells", c["cells"], "--counts", c["counts"], "--out", out, "--self-contained")
    geozones("report", out)

    p = Page(browser, out / "map.html")
    try:
        # hover over every zone, as a reader would, and read its tooltip
        points = p.page.evaluate(
            """() => {
              const out = [];
              for (const k of Object.keys(window)) {
                const group = window[k];
                if (!k.startsWith('geo_json_') || !group || !group.eachLayer || !group.getTooltip()) continue;
                group.eachLayer(l => { const pt = group._map.latLngToContainerPoint(l.getCenter()); out.push([pt.x, pt.y]); });
              }
              return out;
            }"""
        )
        assert len(points) == 2
        texts = []
        for x, y in points:
            p.page.mouse.move(x, y)
            p.page.wait_for_timeout(100)
            texts.append(p.page.locator(".leaflet-tooltip").inner_text())
        assert any(payload in t for t in texts) and any(template in t for t in texts), texts
        assert p.page.evaluate("() => window.__pwned === undefined")
        assert p.page.locator(".leaflet-tooltip img").count() == 0
        assert p.errors == [] and p.outside == []
    finally:
        p.close()
    p = Page(browser, out / "report.html")
    try:
        assert payload in p.page.locator("body").inner_text()
        assert p.page.evaluate("() => window.__pwned === undefined")
        assert p.outside == []  # the <img src=x> was never created, so never requested
    finally:
        p.close()
