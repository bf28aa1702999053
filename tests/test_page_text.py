"""Text from a user's files is shown on the pages, never run as a template.

folium renders each element's script a second time as a Jinja2 template: a zone named
``{{ 7*7 }}`` read ``49`` on the map, ``{# ...`` stopped the run with an internal error,
and a name could run any command on the machine that drew the map (stop 51's probe ran
``id`` through ``lipsum.__globals__``). Zone names, ids, extra properties, cell and site
ids reach every page (origins are codes, checked as they are read) (the run's map, ``geozones map``, ``zones preview``,
``zones draw``) as the text they are.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pytest

import geozones as gz
from geozones._html import html_text, script_json

from .conftest import run_cli

NAME = "Noord {{ 7*7 }} {# x"
ZONE_ID = "id{% if 1 %}yes{% endif %}"


def geozones(*args):
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def hostile(small_case, tmp_path):
    c = small_case
    z = gpd.read_file(c["zones"])
    z.loc[0, "name"], z.loc[0, "zone_id"] = NAME, ZONE_ID
    z["note"] = ["{{ lipsum }}", "plain"]
    path = tmp_path / "hostile.geojson"
    gz.write_zones(z, path)
    cells = tmp_path / "cells.csv"
    cells.write_text(c["cells"].read_text().replace("\nA,S1,", "\nA{{1+1}},S{#1,"))
    counts = tmp_path / "counts.csv"
    counts.write_text(c["counts"].read_text().replace("\nA,", "\nA{{1+1}},"))
    return {**c, "zones": path, "cells": cells, "counts": counts}


def _shown(page: str) -> str:
    """The page's text with character references and JSON escapes read as the browser reads them."""
    return page.replace("\\u0026", "&").replace("&#123;", "{").replace("&#125;", "}").replace("\\u007b", "{").replace("\\u007d", "}")


def test_template_syntax_in_zone_and_cell_text_is_shown_as_text(hostile, tmp_path):
    out = tmp_path / "run"
    geozones("apportion", "--zones", hostile["zones"], "--cells", hostile["cells"], "--counts", hostile["counts"],
             "--out", out, "--self-contained", "--k", "1")
    geozones("map", out, "--out", tmp_path / "again.html", "--self-contained")
    geozones("zones", "preview", "--zones", hostile["zones"], "--cells", hostile["cells"], "--out", tmp_path / "preview.html",
             "--self-contained")
    geozones("zones", "draw", "--zones", hostile["zones"], "--cells", hostile["cells"], "--out", tmp_path / "draw.html")
    for page in (out / "map.html", tmp_path / "again.html", tmp_path / "preview.html", tmp_path / "draw.html"):
        text = page.read_text()
        assert "Noord 49" not in text and "idyes" not in text and "A2,S" not in text and "A2<" not in text, page.name
        assert not re.search(r"\{\{ ?(7\*7|lipsum|1\+1)", text), page.name  # (no template syntax left to read)
        assert NAME in _shown(text), page.name
    drawn = (tmp_path / "draw.html").read_text()
    initial = json.loads(re.search(r"var initial = (.*);\n", drawn).group(1))  # (the editor's zones, exactly as in the file)
    props = {f["properties"]["zone_id"]: f["properties"] for f in initial["features"]}
    assert props[ZONE_ID]["name"] == NAME and props[ZONE_ID]["note"] == "{{ lipsum }}"
    published = gpd.read_file(out / "zones.geojson")
    assert NAME in set(published["name"]) and ZONE_ID in set(published["zone_id"])  # (the files keep the text as it is)


def test_the_helpers_keep_the_text():
    assert html_text("a{{b}}<c>") == "a&#123;&#123;b&#125;&#125;&lt;c&gt;"
    value = {"k{": ["{{ x }}", "</script>", 1]}
    text = script_json(value)
    assert "{{" not in text.replace("{", "", 1) and "</" not in text
    assert json.loads(text) == value
