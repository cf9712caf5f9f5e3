"""The docs view in-process: the page, its assets (Swagger UI's and jsonlfn's plugin)."""

from __future__ import annotations

import pytest
from django.test import AsyncClient


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
    plugin = await client.get("/api/docs/?asset=jsonlfn-docs.js")
    assert plugin["Content-Type"] == "text/javascript"
    assert b"window.JsonlfnDocs" in plugin.content
    assert b"plugins: [JsonlfnDocs.plugin]" in page.content
    assert (await client.get("/api/docs/?asset=../../settings.py")).status_code == 404
