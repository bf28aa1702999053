"""Refresh the JavaScript and CSS that self-contained maps inline, from the npm registry.

Run from the repository root (needs ``npm``)::

    python tools/vendor_web.py

It packs each pinned package with ``npm pack``, copies the files listed in ``FILES`` into
``geozones/vendor/`` (Leaflet's images become data: URIs inside its stylesheet), keeps each
package's licence in ``geozones/vendor/LICENSES/``, and prints the external URLs that the
installed folium emits for a map with every layer geozones draws, so that a maintainer sees
at once when a folium upgrade asks for a new asset (add it to ``FILES`` and to
``geozones.offline.ASSETS``). Nothing is downloaded when geozones runs.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

# npm package -> [(file in the package, file in geozones/vendor)]
FILES = {
    "leaflet@1.9.3": [("dist/leaflet.js", "leaflet.js"), ("dist/leaflet.css", "leaflet.css")],
    "jquery@3.7.1": [("dist/jquery.min.js", "jquery.min.js")],
    "d3@3.5.5": [("d3.min.js", "d3.min.js")],
    "leaflet-timedimension@1.1.1": [
        ("dist/leaflet.timedimension.min.js", "leaflet.timedimension.min.js"),
        ("dist/leaflet.timedimension.control.css", "leaflet.timedimension.control.css"),
    ],
    "iso8601-js-period@0.2.1": [("iso8601.js", "iso8601.js")],
    "leaflet-draw@1.0.4": [("dist/leaflet.draw.js", "leaflet.draw.js"), ("dist/leaflet.draw.css", "leaflet.draw.css")],
}
LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "license")
VENDOR = Path(__file__).resolve().parents[1] / "geozones" / "vendor"
_MIT = """Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def _inline_images(css: str, root: Path) -> str:
    def sub(m: re.Match) -> str:
        ref = m.group(1).strip("'\"")
        f = root / ref
        if ref.startswith(("data:", "#")) or not f.is_file():
            return m.group(0)
        mime = "image/svg+xml" if f.suffix == ".svg" else "image/png"
        return f"url(data:{mime};base64,{base64.b64encode(f.read_bytes()).decode()})"

    return re.sub(r"url\(([^)]+)\)", sub, css)


def main() -> None:
    VENDOR.mkdir(parents=True, exist_ok=True)
    (VENDOR / "LICENSES").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, files in FILES.items():
            name = spec.rsplit("@", 1)[0]
            tgz = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True, capture_output=True, text=True).stdout.split()[-1]
            dest = Path(tmp) / name.replace("/", "_")
            with tarfile.open(Path(tmp) / tgz) as tf:
                tf.extractall(dest, filter="data")
            pkg = dest / "package"
            for src, target in files:
                text = (pkg / src).read_text(encoding="utf-8")
                if target.endswith(".css"):
                    text = _inline_images(text, (pkg / src).parent)
                text = re.sub(r"\n?/[/*][#@] sourceMappingURL=\S+( \*/)?", "", text)
                (VENDOR / target).write_text(text, encoding="utf-8")
            lic = next((pkg / f for f in LICENCE_FILES if (pkg / f).is_file()), None)
            if lic:
                shutil.copyfile(lic, VENDOR / "LICENSES" / f"{name}.txt")
            elif json.loads((pkg / "package.json").read_text(encoding="utf-8")).get("license") == "MIT":
                # no licence text in the package (leaflet-draw): MIT asks for the notice, so
                # write the MIT text with the copyright line of the first file's header
                head = (pkg / files[0][0]).read_text(encoding="utf-8")[:400]
                holder = next((ln.strip() for ln in head.splitlines() if ln.strip().startswith("(c)")), "")
                (VENDOR / "LICENSES" / f"{name}.txt").write_text(
                    f"{spec}: MIT, as its package.json declares (the package ships no licence text).\n"
                    f"Copyright {holder}\n\n{_MIT}", encoding="utf-8"
                )
            print(f"vendored {spec}")
    _print_folium_urls()


def _print_folium_urls() -> None:
    import folium
    from branca.colormap import LinearColormap
    from folium.plugins import Draw, HeatMap, HeatMapWithTime

    m = folium.Map(tiles=None)
    folium.GeoJson({"type": "FeatureCollection", "features": []}, tooltip=folium.GeoJsonTooltip(fields=[])).add_to(m)
    LinearColormap(["#ffffff", "#ff0000"], vmin=0, vmax=1).add_to(m)
    HeatMap([[50.8, 3.2, 1]]).add_to(m)
    HeatMapWithTime([[[50.8, 3.2, 1]], [[50.8, 3.2, 1]]]).add_to(m)
    Draw().add_to(m)
    folium.LayerControl().add_to(m)
    html = m.get_root().render()
    print("external URLs the installed folium emits:")
    for url in sorted(set(re.findall(r'(?:src|href)="(https?://[^"]+)"', html))):
        print("  ", url)


if __name__ == "__main__":
    main()
