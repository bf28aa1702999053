"""Self-contained HTML: inline every script and stylesheet a folium page would fetch.

A folium page loads Leaflet and friends from content-delivery networks. The operator's
and the city's machines may be offline, and a page that fetches nothing also leaks
nothing about who opens it. :func:`inline_assets` replaces each external ``<script>`` and
stylesheet ``<link>`` with the same file's content, taken from:

* ``geozones/vendor/``: copies from the npm registry, pinned, with their licences
  (refreshed by ``tools/vendor_web.py``; see ``geozones/vendor/README.md``);
* folium's own package, which ships the heat-map scripts it links to on GitHub.

Bootstrap, Font Awesome and the awesome-markers plugin are dropped: geozones' maps draw
no markers or icons, and Leaflet, the heat layers, the time slider and the legend work
without them. An external reference that is neither known nor droppable raises
:class:`~geozones.errors.OutputError` rather than staying in the page.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from .errors import OutputError

__all__ = ["inline_assets", "inline_unpinned", "external_references", "ASSETS"]

#: URL pattern -> where its content comes from: ("vendor", file), ("folium", file) or None (dropped).
ASSETS: list[tuple[str, tuple[str, str] | None]] = [
    (r"/leaflet@1\.9\.\d+/dist/leaflet\.js$", ("vendor", "leaflet.js")),
    (r"/leaflet@1\.9\.\d+/dist/leaflet\.css$", ("vendor", "leaflet.css")),
    (r"/jquery-3\.7\.\d+\.min\.js$", ("vendor", "jquery.min.js")),
    (r"/d3/3\.5\.5/d3\.min\.js$", ("vendor", "d3.min.js")),
    (r"/leaflet-timedimension@1\.1\.1/dist/leaflet\.timedimension\.min\.js$", ("vendor", "leaflet.timedimension.min.js")),
    (r"/leaflet-timedimension@1\.1\.1/dist/leaflet\.timedimension\.control\.css$", ("vendor", "leaflet.timedimension.control.css")),
    (r"/iso8601-js-period@0\.2\.1/iso8601(\.min)?\.js$", ("vendor", "iso8601.js")),
    (r"/leaflet\.draw/1\.0\.\d+/leaflet\.draw\.js$", ("vendor", "leaflet.draw.js")),
    (r"/leaflet\.draw/1\.0\.\d+/leaflet\.draw\.css$", ("vendor", "leaflet.draw.css")),
    (r"/folium(@[\w.]+)?/folium/templates/leaflet_heat\.min\.js$", ("folium", "leaflet_heat.min.js")),
    (r"/folium(@[\w.]+)?/folium/templates/pa7_hm\.min\.js$", ("folium", "pa7_hm.min.js")),
    (r"/folium(@[\w.]+)?/folium/templates/pa7_leaflet_hm\.min\.js$", ("folium", "pa7_leaflet_hm.min.js")),
    (r"/folium(@[\w.]+)?/folium/templates/leaflet\.awesome\.rotate\.min\.css$", None),
    (r"/bootstrap@5[\d.]*/dist/(css/bootstrap\.min\.css|js/bootstrap\.bundle\.min\.js)$", None),
    (r"/@fortawesome/fontawesome-free@[\d.]+/css/all\.min\.css$", None),
    (r"/Leaflet\.awesome-markers/[\d.]+/leaflet\.awesome-markers\.(css|js)$", None),
    (r"/bootstrap/3\.0\.0/css/bootstrap-glyphicons\.css$", None),
]

# The time slider's buttons use the Glyphicons web font from a CDN: draw them with text instead.
_TIMECONTROL_CSS = """
.leaflet-bar-timecontrol a:before { font-family: sans-serif !important; }
.timecontrol-play:before { content: "\\25B6" !important; }
.timecontrol-play.pause:before { content: "\\275A\\275A" !important; }
.timecontrol-play.loading:before, .timecontrol-date.loading:before { content: "\\2026" !important; animation: none !important; }
.timecontrol-backward:before { content: "\\25C0" !important; }
.timecontrol-forward:before { content: "\\25B6\\25B6" !important; }
.timecontrol-speed:before { content: "" !important; }
.timecontrol-loop:before { content: "\\21BB" !important; }
"""

_SCRIPT = re.compile(r'<script\s+src="([^"]+)"\s*>\s*</script>', re.IGNORECASE)
_LINK = re.compile(r'<link\s+[^>]*href="([^"]+)"[^>]*>', re.IGNORECASE)
# What a browser would fetch by itself: resource tags, CSS urls and imports, and tile layers.
_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe|link|source|embed|audio|video)\b[^>]*\b(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+"""
    r"""|url\(\s*["']?(?:https?:)?//[^)]+\)|@import\s+["'](?:https?:)?//[^"']+|L\.tileLayer\(""",
    re.IGNORECASE,
)
_FONT_FACE = re.compile(r"@font-face\s*{[^}]*}", re.IGNORECASE)
_SOURCE_MAP = re.compile(r"/[/*][#@]\s*sourceMappingURL=[^\s*]+(\s*\*/)?")


@lru_cache(maxsize=None)
def _content(source: tuple[str, str]) -> str:
    where, name = source
    package = "geozones" if where == "vendor" else "folium"
    folder = ("vendor",) if where == "vendor" else ("templates",)
    text = resources.files(package).joinpath(*folder, name).read_text(encoding="utf-8")
    text = _SOURCE_MAP.sub("", text)
    if name.endswith(".css"):
        text = _FONT_FACE.sub(lambda m: "" if _EXTERNAL.search(m.group(0)) else m.group(0), text)
        if name.startswith("leaflet.timedimension"):
            text += _TIMECONTROL_CSS
    return text


def _lookup(url: str) -> tuple[str, str] | None:
    for pattern, source in ASSETS:
        if re.search(pattern, url):
            return source
    raise OutputError(
        f"the map needs {url}, which geozones has no copy of",
        hint="add it to geozones/vendor with tools/vendor_web.py and to geozones.offline.ASSETS, or draw the map without --self-contained",
    )


def external_references(html: str) -> list[str]:
    """Every reference in ``html`` that a browser would fetch from another host."""
    return [m.group(0) for m in _EXTERNAL.finditer(html)]


#: folium's links to its own scripts on GitHub without a release (``folium@main``, or no tag at all): whatever is there when the page opens.
_UNPINNED = re.compile(r"/gh/python-visualization/folium(@main|@master)?/folium/templates/")


def inline_unpinned(html: str) -> str:
    """Inline the scripts a folium page would fetch from folium's GitHub branch rather than
    a release (the heat layers'), from the installed folium package, and leave out the
    stylesheets from there that the page does not use; every other link stays.

    A page that is not self-contained still runs only code of known versions: Leaflet and
    the slider are pinned by version, and the heat layer's script is the one folium shipped.

    Parameters
    ----------
    html : str
        A rendered folium page.

    Returns
    -------
    str
    """
    def one(m: re.Match) -> str:
        url = m.group(1)
        if not _UNPINNED.search(url):
            return m.group(0)
        try:
            return f"<script>{_content(_lookup(url))}</script>"
        except OutputError:  # (a script of a later folium that geozones does not know: linked as folium links it)
            return m.group(0)

    def sheet(m: re.Match) -> str:  # (a stylesheet from the branch: a probe found the markers' rotate CSS, unused here)
        url = m.group(1)
        if not _UNPINNED.search(url):
            return m.group(0)
        try:
            source = _lookup(url)
        except OutputError:
            return m.group(0)
        return "" if source is None else f"<style>{_content(source)}</style>"

    return _LINK.sub(sheet, _SCRIPT.sub(one, html))


def inline_assets(html: str) -> str:
    """Make a folium page self-contained: inline its scripts and stylesheets, drop the unneeded.

    Parameters
    ----------
    html : str
        A rendered folium page (``m.get_root().render()``), with no tile layer.

    Returns
    -------
    str
        The page with every external script and stylesheet inlined or removed.

    Raises
    ------
    OutputError
        If the page refers to an asset geozones has no copy of, or still refers to
        another host afterwards (a tile layer, an image).
    """
    blocks: list[str] = []

    def hold(text: str) -> str:
        blocks.append(text)
        return f"\x00{len(blocks) - 1}\x00"

    def script(m: re.Match) -> str:
        source = _lookup(m.group(1))
        if source is None:
            return ""
        return hold("<script>" + _content(source).replace("</script", "<\\/script") + "</script>")

    def link(m: re.Match) -> str:
        tag, url = m.group(0), m.group(1)
        if "stylesheet" not in tag.lower() or not re.match(r"(https?:)?//", url):
            return tag
        source = _lookup(url)
        if source is None:
            return ""
        css = _content(source)
        if external_references(css):
            raise OutputError(f"the stylesheet for {url} still refers to another host", hint="refresh geozones/vendor")
        return hold("<style>" + css.replace("</style", "<\\/style") + "</style>")

    skeleton = _LINK.sub(link, _SCRIPT.sub(script, html))
    # the page itself, without the inlined libraries, must fetch nothing
    left = external_references(skeleton)
    if left:
        raise OutputError(
            f"the page still refers to another host: {left[0][:120]}",
            hint="self-contained maps have no basemap tiles; leave --tiles unset",
        )
    return re.sub(r"\x00(\d+)\x00", lambda m: blocks[int(m.group(1))], skeleton)
