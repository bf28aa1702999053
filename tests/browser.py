"""Headless Chromium for the tests of HTML pages: Debian's /usr/bin/chromium, the network cut.

Every request that is not a local file, a data: or a blob: URI is refused and recorded;
console errors are kept. The browser is driven by Playwright's Python API and is never
one that Playwright downloads.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """A Chromium for the module's tests (skipped where playwright or chromium is missing)."""
    playwright = pytest.importorskip("playwright.sync_api", reason="the test extra installs playwright")
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (CI installs it)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page opened with the network cut: console errors and refused requests are kept."""

    def __init__(self, browser, path, size=(1200, 900), *, accept_downloads: bool = False):
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context = browser.new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=accept_downloads)

        def route(r):
            if r.request.url.startswith(("file:", "data:", "blob:")):
                r.continue_()
            else:
                self.outside.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(400)

    def pixels(self) -> np.ndarray:
        """The page's screenshot as an RGB array."""
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(self.page.screenshot())).convert("RGB")).astype(int)

    def close(self):
        self.context.close()
