"""OpenAPI for ``@sse`` streams: a ``text/event-stream`` beside the JSON Lines types, its
``itemSchema`` the event (``data`` as string-encoded JSON of the item), in 3.2 and 3.1."""

from __future__ import annotations

from typing import Any

from demo.events import registry as demo_registry
from openapi_spec_validator import OpenAPIV31SpecValidator, OpenAPIV32SpecValidator

from tests.sse_streams import registry

REF = "#/components/schemas/{}"


def events(document: dict[str, Any], path: str) -> dict[str, Any]:
    content = document["paths"][path]["get"]["responses"]["200"]["content"]
    assert list(content)[:3] == [
        "application/jsonl",
        "application/x-ndjson",
        "application/json-lines",
    ]
    schema: dict[str, Any] = content["text/event-stream"]["itemSchema"]
    return schema


def test_documents_with_sse_are_valid_in_32_and_31() -> None:
    for source in (registry, demo_registry):
        OpenAPIV32SpecValidator(source.openapi()).validate()
        OpenAPIV31SpecValidator(source.openapi("3.1")).validate()


def test_an_event_is_its_fields_with_the_item_as_json_in_data() -> None:
    schema = events(registry.openapi(), "/sse/ticks/")
    assert schema["required"] == ["data"]
    data = schema["properties"]["data"]
    assert data["type"] == "string"
    assert data["contentMediaType"] == "application/json"
    assert data["contentSchema"] == {"$ref": REF.format("Tick")}
    assert schema["properties"]["id"]["type"] == "string"
    assert schema["properties"]["retry"]["const"] == 250


def test_tags_name_events_and_on_error_is_an_error_event() -> None:
    document = registry.openapi()
    room = events(document, "/sse/room/")
    assert room["properties"]["event"]["enum"] == ["joined", "said"]
    assert "retry" not in room["properties"]
    assert "id" not in room["properties"]
    _, error = events(document, "/sse/fails/")["anyOf"]
    assert error["properties"]["event"] == {"type": "string", "const": "error"}
    assert error["properties"]["data"]["contentSchema"] == {"$ref": REF.format("Failed")}


def test_a_topic_stream_documents_its_data_and_history_gone_in_band() -> None:
    document = demo_registry.openapi()
    message, gone = events(document, "/api/chat/")["anyOf"]
    assert message["properties"]["data"]["contentSchema"] == {"$ref": REF.format("Message")}
    assert "id" in message["properties"]
    assert gone["properties"]["event"]["const"] == "history_gone"
    assert gone["properties"]["data"]["contentSchema"] == {"$ref": REF.format("ErrorModel")}
    responses = document["paths"]["/api/chat/"]["get"]["responses"]
    assert "history_gone event instead" in responses["410"]["description"]
    assert "text/event-stream" in responses["406"]["description"]
    ok = responses["200"]
    assert ok["description"].endswith("Server-Sent Events")


def test_the_31_export_keeps_the_event_schema_as_an_extension() -> None:
    media = demo_registry.openapi("3.1")["paths"]["/api/chat/"]["get"]["responses"]["200"]
    sse = media["content"]["text/event-stream"]
    assert "itemSchema" not in sse
    assert sse["schema"] == {"type": "array", "items": sse["x-sse-event-schema"]}
    assert "x-jsonl-item-schema" in media["content"]["application/jsonl"]
