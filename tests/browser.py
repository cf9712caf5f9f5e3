"""Debian's headless Chromium, driven by Playwright for the docs-page tests.

Playwright's Python package talks to the browser over the DevTools protocol, and with
``executable_path`` it drives the system's Chromium: no browser is downloaded. Its
waits (``wait_for_function``) keep the tests to seconds without sleeping.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None

SKIP_REASON = (
    "needs Chromium and Playwright: .ci/run installs Debian's chromium, "
    "the dev extra installs playwright"
)
needs_browser = pytest.mark.skipif(BROWSER is None or sync_playwright is None, reason=SKIP_REASON)


@pytest.fixture(scope="module", name="page")
def browser_page() -> Iterator[Any]:
    """One page of one headless Chromium for the module, offline but for 127.0.0.1."""
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=BROWSER,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        found = browser.new_page(viewport={"width": 1280, "height": 1600})
        found.set_default_timeout(10_000)
        requested: list[str] = []
        found.on("request", lambda request: requested.append(request.url))
        yield found
        browser.close()
    elsewhere = [url for url in requested if not url.startswith("http://127.0.0.1:")]
    assert not elsewhere, f"the page must work offline; it asked for {elsewhere}"
