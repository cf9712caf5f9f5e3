"""The OpenAPI 3.1 form of the 3.2 document, for tools that don't read 3.2 yet.

3.1 has no ``itemSchema``. OpenAPI 3.2 says that ``schema`` on a sequential media type
such as JSON Lines describes the whole stream as if it were an array of its items, so
that is the 3.1 form written here: ``{"type": "array", "items": <item schema>}``. The
item schema is also kept as ``x-jsonl-item-schema`` (``text/event-stream``: the event
schema as ``x-sse-event-schema``), and the item models stay
``components/schemas``, which is what code generators build classes from. 3.2's
``query`` operations become ``x-query`` (3.1 has no QUERY method). HTTP auth scheme
names are written in lower case (``bearer``): they are case-insensitive, and 3.1
validators such as @apidevtools/swagger-parser accept only the registry's lower-case form.
"""

from __future__ import annotations

import copy
from typing import Any

VERSION = "3.1.1"


def downgrade(document: dict[str, Any]) -> dict[str, Any]:
    """A 3.1 copy of the 3.2 ``document``; the original is left as it is."""
    found = copy.deepcopy(document)
    found["openapi"] = VERSION
    for item in found["paths"].values():
        if "query" in item:
            item["x-query"] = item.pop("query")
        for operation in item.values():
            for response in operation["responses"].values():
                _media_types(response.get("content", {}))
    for scheme in found.get("components", {}).get("securitySchemes", {}).values():
        if scheme.get("type") == "http" and isinstance(scheme.get("scheme"), str):
            scheme["scheme"] = scheme["scheme"].lower()
    return found


def _media_types(content: dict[str, Any]) -> None:
    for name, media in content.items():
        if "itemSchema" in media:
            item = media.pop("itemSchema")
            media["schema"] = {"type": "array", "items": item}
            kept = "x-sse-event-schema" if name == "text/event-stream" else "x-jsonl-item-schema"
            media[kept] = item
