"""The ``text/event-stream`` media type of an ``@sse`` stream, in OpenAPI 3.2.

Its ``itemSchema`` describes one event as the fields a client reads (``data``, ``event``,
``id``, ``retry``), as OpenAPI 3.2 does in its own ``text/event-stream`` example. On the
wire ``data`` is text, so it is ``{"type": "string"}`` with ``contentMediaType:
application/json`` and the item model as ``contentSchema`` (JSON Schema's keywords for
string-encoded data, which the 3.2 specification points to for this case), rather than
the item schema itself: an ``EventSource`` page gets a string and ``JSON.parse``\\ s it.
"""

from __future__ import annotations

from typing import Any

from jsonlfn._openapi._schemas import Schemas
from jsonlfn._spec import ERROR_EVENT, HISTORY_GONE_EVENT, Spec, event_names
from jsonlfn._topics._event import event_data_model, is_event_model

ERROR_REF = {"$ref": "#/components/schemas/ErrorModel"}


def sse_media(spec: Spec, schemas: Schemas) -> dict[str, Any]:
    """The media type object: an ``itemSchema`` of the stream's events."""
    assert spec.stream is not None
    assert spec.sse is not None
    model = spec.stream.model
    topic = is_event_model(model)
    data_model = event_data_model(model) if topic else model
    message = _event(schemas.of(data_model), "Each item, as JSON")
    properties = message["properties"]
    names = sorted(event_names(data_model).values())
    if names:
        properties["event"] = {"type": "string", "enum": names, "description": "The item's tag"}
    if topic or spec.stream.id is not None:
        field = "the topic's event id" if topic else f"the item's `{spec.stream.id}`"
        properties["id"] = {"type": "string", "description": f"{field}, sent back as Last-Event-ID"}
    if spec.sse.retry is not None:
        retry = round(spec.sse.retry * 1000)
        properties["retry"] = {
            "type": "integer",
            "const": retry,
            "description": "The reconnection delay in ms, with the first event",
        }
    variants = [message]
    if spec.stream.on_error is not None:
        variants.append(_named(ERROR_EVENT, schemas.on_error(spec), "The on_error item, last"))
    if topic and spec.resume is not None:
        gone = "Instead of the 410: Last-Event-ID is older than the topic's history; reload "
        gone += "the state, the live events follow"
        variants.append(_named(HISTORY_GONE_EVENT, ERROR_REF, gone))
    return {"itemSchema": variants[0] if len(variants) == 1 else {"anyOf": variants}}


def _event(content: dict[str, Any], description: str) -> dict[str, Any]:
    data = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": content,
        "description": description,
    }
    return {"type": "object", "required": ["data"], "properties": {"data": data}}


def _named(name: str, content: dict[str, Any], description: str) -> dict[str, Any]:
    found = _event(content, description)
    found["required"] = ["event", "data"]
    found["properties"]["event"] = {"type": "string", "const": name}
    return found
