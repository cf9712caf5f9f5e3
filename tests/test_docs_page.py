"""The docs page in a real headless Chromium, against the demo served by uvicorn."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import AsyncClient

from tests.conftest import DEMO_PATHS, ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",  # also proves the page needs no CDN
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def browse(*args: str) -> str:
    assert BROWSER is not None
    result = subprocess.run(
        [BROWSER, *FLAGS, *args], capture_output=True, text=True, timeout=90, check=True
    )
    return result.stdout


@pytest.mark.skipif(BROWSER is None, reason="no Chromium here; .ci/run installs Debian's chromium")
def test_docs_page_renders_every_example_operation(demo_server: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{demo_server}/docs/"
    dom = browse("--dump-dom", url)
    for path in DEMO_PATHS:
        assert f'data-path="{path}"' in dom
    assert "OAS 3.2" in dom
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "docs-page.png"
    browse("--window-size=1280,1400", f"--screenshot={screenshot}", url)
    assert screenshot.stat().st_size > 10_000


@pytest.mark.anyio
async def test_docs_page_serves_its_assets_and_nothing_else() -> None:
    client = AsyncClient()
    page = await client.get("/api/docs/")
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert b"?asset=swagger-ui-bundle.js" in page.content
    assert b'"openapi":"3.2.0"' in page.content
    script = await client.get("/api/docs/?asset=swagger-ui-bundle.js")
    assert script["Content-Type"] == "text/javascript"
    assert len(script.content) > 100_000
    assert (await client.get("/api/docs/?asset=../../settings.py")).status_code == 404
