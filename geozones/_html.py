"""Text from users' files made safe for the pages folium writes.

folium (through branca) renders each element's script a second time as a Jinja2
template, so a zone name such as ``{{ 7*7 }}`` became ``49`` on the map, ``{# ...``
stopped the run, and a name could run code on the machine drawing the map (stop 51).
Every string from an input that reaches a folium page goes through one of these:
:func:`html_text` where the page shows it as HTML (tooltips, popups, labels) and
:func:`script_json` where it sits in a script as JSON.
"""

from __future__ import annotations

import html
import json
import re

__all__ = ["html_text", "script_json"]

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def html_text(value) -> str:
    """``value`` as HTML text: ``& < > " '`` escaped, and the braces as character
    references (``&#123;``, ``&#125;``), which the browser shows as braces and no template
    reads as its own.
    """
    return html.escape(str(value)).replace("{", "&#123;").replace("}", "&#125;")


def script_json(value=None, *, text: str | None = None) -> str:
    r"""JSON for a script: ``value`` dumped (or JSON ``text`` as it is) with every brace
    inside a string written ``\u007b``/``\u007d`` and ``</`` as ``<\/``: the same
    values to the browser, no template syntax and no end of the script.
    """
    text = json.dumps(value) if text is None else text
    text = _JSON_STRING.sub(lambda m: m.group(0).replace("{", "\\u007b").replace("}", "\\u007d"), text)
    return text.replace("</", "<\\/")
