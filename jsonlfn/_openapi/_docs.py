"""The interactive documentation page: Swagger UI, served offline.

The assets come from the ``drf-spectacular-sidecar`` package (a maintained, Django-only
wheel that vendors Swagger UI 5, which reads OpenAPI 3.2), plus jsonlfn's own Swagger UI
plugin (``_docs_plugin.js``: item schemas, example lines, live streams with a Stop
button). They are served by the same view (``?asset=...``), so no static-files set-up
and no CDN are needed.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from importlib import resources
from typing import Any

import orjson
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
PLUGIN = "jsonlfn-docs.js"  # served from jsonlfn itself

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="?asset=favicon-32x32.png">
<link rel="stylesheet" href="?asset=swagger-ui.css">
<style>
.jsonlfn-lines {{ max-height: 24em; overflow-y: auto; white-space: pre; }}
.jsonlfn-status {{ font-family: monospace; margin-right: 1em; }}
</style>
</head>
<body>
<div id="swagger-ui"></div>
<script id="openapi-document" type="application/json">{document}</script>
<script src="?asset=swagger-ui-bundle.js"></script>
<script src="?asset=jsonlfn-docs.js"></script>
<script>
const openapi = JSON.parse(document.getElementById("openapi-document").textContent);
window.ui = SwaggerUIBundle({{
  spec: JsonlfnDocs.forDisplay(openapi),
  dom_id: "#swagger-ui",
  deepLinking: true,
  plugins: [JsonlfnDocs.plugin],
}});
</script>
</body>
</html>
"""


def docs_view(title: str, document: Callable[[], dict[str, Any]]) -> Callable[..., Any]:
    """A view for the page; ``?asset=name`` serves Swagger UI's own files."""
    folder = _asset_folder()

    async def docs(request: HttpRequest) -> HttpResponse:
        asset = request.GET.get("asset")
        if asset is not None:
            return _asset(folder, asset)
        # "</" cannot end the JSON's <script> element once written as "<\\/" (valid JSON)
        embedded = orjson.dumps(document()).decode().replace("</", "<\\/")
        page = _PAGE.format(title=html.escape(title), document=embedded)
        return HttpResponse(page, content_type="text/html; charset=utf-8")

    return docs


def _asset(folder: Any, name: str) -> HttpResponse:
    if name == PLUGIN:
        content = (resources.files("jsonlfn._openapi") / "_docs_plugin.js").read_bytes()
        response = HttpResponse(content, content_type="text/javascript")
    elif name in _ASSETS:
        response = HttpResponse((folder / name).read_bytes(), content_type=_ASSETS[name])
    else:
        return HttpResponse(status=404)
    response["Cache-Control"] = "public, max-age=86400"
    return response


def _asset_folder() -> Any:
    try:
        package = resources.files("drf_spectacular_sidecar")
    except ModuleNotFoundError as exc:
        raise ImproperlyConfigured(
            "registry.docs_view() serves Swagger UI from the drf-spectacular-sidecar "
            "package: pip install 'jsonlfn[docs]'."
        ) from exc
    return package / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"
