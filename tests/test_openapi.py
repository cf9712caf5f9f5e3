"""The OpenAPI 3.2 document: validated by openapi-spec-validator, shape as documented."""

from __future__ import annotations

import io
import json
import re
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from demo.events import registry as demo_registry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import AsyncClient, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV32SpecValidator

from jsonlfn import Registry, jsonl_stream
from jsonlfn._topics._event import format_id, parse_id
from tests.conftest import DEMO_PATHS
from tests.streams import registry

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorModel"}}}


def valid(document: dict[str, Any]) -> dict[str, Any]:
    """Every document the suite produces goes through the 3.2 validator."""
    OpenAPIV32SpecValidator(document).validate()
    return document


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return valid(registry.openapi())


def test_the_examples_document_is_valid() -> None:
    document = valid(demo_registry.openapi())
    assert list(document["paths"]) == DEMO_PATHS


def test_jsonl_response_uses_item_schema_for_each_media_type(doc: dict[str, Any]) -> None:
    ok = doc["paths"]["/count/"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {
        "application/jsonl",
        "application/x-ndjson",
        "application/json-lines",
    }
    assert ok["content"]["application/jsonl"] == {
        "itemSchema": {"$ref": "#/components/schemas/Tick"}
    }
    assert set(ok["headers"]) == {"Cache-Control", "X-Accel-Buffering", "Connection"}
    assert doc["components"]["schemas"]["Tick"]["properties"] == {"i": {"type": "integer"}}


def test_only_producible_errors_are_listed(doc: dict[str, Any]) -> None:
    def codes(path: str, method: str = "get") -> list[str]:
        return list(doc["paths"][path][method]["responses"])

    assert codes("/anything/") == ["200", "406"]  # untyped, parses nothing
    assert codes("/empty/") == ["200", "406", "422"]  # a model: the first item may fail
    assert codes("/unencodable/") == ["200", "400", "406"]  # validate=False: no 422
    assert codes("/orders/", "post") == ["200", "400", "406", "413", "415", "422"]
    assert doc["paths"]["/count/"]["get"]["responses"]["400"]["content"] == ERROR


def test_topic_streams_list_history_gone_and_unavailable(doc: dict[str, Any]) -> None:
    operation = doc["paths"]["/topics/trades/"]["get"]
    assert sorted(operation["responses"]) == ["200", "400", "406", "410", "422", "503"]
    assert "Last-Event-ID" in operation["responses"]["410"]["description"]
    item = operation["responses"]["200"]["content"]["application/jsonl"]["itemSchema"]
    name = item["$ref"].rsplit("/", 1)[1]
    event = doc["components"]["schemas"][name]
    assert event["required"] == ["id", "data"]
    assert event["properties"]["data"] == {"$ref": "#/components/schemas/Trade"}


@given(ms=st.integers(0, 2**64 - 1), seq=st.integers(0, 2**64 - 1))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_topic_streams_last_event_id_has_the_format_of_its_ids(
    doc: dict[str, Any], ms: int, seq: int
) -> None:
    """The document's pattern and maxLength admit every id a topic gives, and what
    they admit parses (so a client built from the document sends what the server takes)."""
    operation = doc["paths"]["/topics/trades/"]["get"]
    (header,) = [p for p in operation["parameters"] if p["name"] == "Last-Event-ID"]
    schema = header["schema"]
    event_id = format_id((ms, seq))
    assert re.fullmatch(schema["pattern"], event_id)
    assert len(event_id) <= schema["maxLength"]
    assert parse_id(event_id) == (ms, seq)
    assert all(re.fullmatch(schema["pattern"], e) for e in schema["examples"])


def test_untyped_items_have_an_empty_item_schema(doc: dict[str, Any]) -> None:
    media = doc["paths"]["/anything/"]["get"]["responses"]["200"]["content"]["application/jsonl"]
    assert media == {"itemSchema": {}}


def test_parameters_from_models_with_aliases_defaults_and_arrays(doc: dict[str, Any]) -> None:
    org = doc["paths"]["/orgs/{org}/users/"]["get"]["parameters"]
    assert org == [
        {
            "name": "org",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "schema": {"type": "integer"},  # optional: absent, never null
        },
    ]
    orders = doc["paths"]["/orders/"]["post"]
    by_name = {p["name"]: p for p in orders["parameters"]}
    assert by_name["tags"] == {
        "name": "tags",
        "in": "query",
        "required": False,
        "schema": {"type": "array", "items": {"type": "string"}, "default": []},
        "style": "form",
        "explode": True,
    }
    assert by_name["theme"]["in"] == "cookie"
    assert orders["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
    }


def test_resume_is_a_header_parameter_and_the_id_field_is_named(doc: dict[str, Any]) -> None:
    operation = doc["paths"]["/resumable/"]["get"]
    (resume,) = operation["parameters"]
    assert resume["name"] == "Last-Event-ID"
    assert resume["schema"] == {"type": "integer"}
    media = operation["responses"]["200"]["content"]["application/jsonl"]
    assert media["x-item-id"] == "i"


def test_pings_and_on_error_items_join_the_item_schema(doc: dict[str, Any]) -> None:
    def item(path: str) -> Any:
        return doc["paths"][path]["get"]["responses"]["200"]["content"]["application/jsonl"][
            "itemSchema"
        ]

    tick = {"$ref": "#/components/schemas/Tick"}
    assert item("/pinged/") == {"anyOf": [tick, {"$ref": "#/components/schemas/Ping"}]}
    assert item("/pinged-custom/") == {}  # a plain dict ping: any JSON
    assert item("/never-pinged/") == tick
    replaced = {"type": "object", "additionalProperties": {"type": "string"}}
    assert item("/fail-replaced/") == {"anyOf": [tick, replaced]}
    assert doc["components"]["schemas"]["Ping"]["properties"] == {"type": {"enum": ["ping"]}}


def test_operation_ids_are_unique_and_stable(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert doc["paths"]["/multi/"]["get"]["operationId"] == "multi_get"
    assert doc["paths"]["/multi/"]["post"]["operationId"] == "multi_post"
    assert [doc["paths"][p]["get"]["operationId"] for p in ("/pinged/", "/pinged-custom/")] == [
        "stream",
        "stream_2",
    ]
    assert registry.openapi() is registry.openapi()  # cached


@override_settings(ROOT_URLCONF="tests.urls_prefixed")
def test_paths_include_the_mount_prefix_and_typed_converters() -> None:
    from tests.urls_prefixed import registry as prefixed

    document = valid(prefixed.openapi())
    assert document["servers"] == [{"url": "https://api.example.com"}]
    (path,) = document["paths"]
    assert path == "/api/v1/orgs/{org}/events/{kind}/"
    operation = document["paths"][path]["get"]
    assert operation["summary"] == "Events of one organisation."
    assert operation["description"] == "Longer description, kept as the operation's description."
    kind = operation["parameters"][1]
    assert kind["schema"] == {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}


def test_models_sharing_a_name_get_qualified_component_names() -> None:
    other = types.ModuleType("other_models")
    exec("import msgspec\nclass Tick(msgspec.Struct):\n    label: str", other.__dict__)
    mine = Registry()

    @mine.get("a/")
    @jsonl_stream(model=msgspec.defstruct("Tick", [("i", int)], module="my_models"))
    async def a(request: Any) -> AsyncIterator[Any]:
        yield 1

    @mine.get("b/")
    @jsonl_stream(model=other.Tick)
    async def b(request: Any) -> AsyncIterator[Any]:
        yield 1

    schemas = valid(mine.openapi())["components"]["schemas"]
    assert {"my_models.Tick", "other_models.Tick"} <= set(schemas)


@pytest.mark.anyio
async def test_openapi_view_serves_the_document() -> None:
    response = await AsyncClient().get("/api/openapi.json")
    assert response["Content-Type"] == "application/json"
    assert orjson.loads(response.content) == registry.openapi()


def test_management_command_prints_and_writes_the_document(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("jsonlfn_openapi", "--registry", "tests.streams.registry", stdout=out)
    assert json.loads(out.getvalue()) == json.loads(orjson.dumps(registry.openapi()))
    target = tmp_path / "openapi.json"
    call_command("jsonlfn_openapi", "--registry", "demo.events.registry", "--output", str(target))
    assert valid(json.loads(target.read_text()))["info"]["title"] == "Demo events"


@pytest.mark.parametrize(
    ("dotted", "said"),
    [
        ("bad.path", "No module named 'bad'"),
        ("tests.streams.regsitry", 'does not define a "regsitry"'),
        ("nodots", "doesn't look like a module path"),
    ],
)
def test_management_command_says_what_a_bad_registry_path_is(dotted: str, said: str) -> None:
    with pytest.raises(CommandError, match="Give the dotted path of a jsonlfn Registry") as caught:
        call_command("jsonlfn_openapi", "--registry", dotted)
    assert said in str(caught.value)
    assert str(caught.value).startswith(f"--registry {dotted}: ")


def test_management_command_asks_which_registry_when_there_are_several() -> None:
    with pytest.raises(CommandError, match="name one with --registry"):
        call_command("jsonlfn_openapi")
    with pytest.raises(CommandError, match="not a jsonlfn Registry"):
        call_command("jsonlfn_openapi", "--registry", "tests.streams.Tick")


def test_public_operations_say_so_and_secured_ones_name_their_backends() -> None:
    document = demo_registry.openapi()
    assert document["paths"]["/api/user/events/"]["get"]["security"] == []
    assert document["paths"]["/api/user/events/secure/"]["get"]["security"] == [{"jwt": []}]


def test_info_license_and_a_relative_server_when_none_is_given() -> None:
    document = demo_registry.openapi()
    assert document["info"]["license"] == {"name": "MIT", "identifier": "MIT"}
    assert document["servers"] == [{"url": "/"}]
    licensed = Registry(license={"name": "Apache 2.0", "url": "https://example.com/LICENSE"})
    assert valid(licensed.openapi())["info"]["license"]["url"] == "https://example.com/LICENSE"
    assert "license" not in Registry().openapi()["info"]


def test_docstrings_become_markdown() -> None:
    mine = Registry(description="Uses ``Last-Event-ID``.")

    class Note(msgspec.Struct):
        """A note; see :class:`Event` and ``text``."""

        text: str

    @mine.get("notes/")
    @jsonl_stream(model=Note)
    async def notes(request: Any) -> AsyncIterator[Note]:
        """At most ``limit`` notes.

        Resumes after ``Last-Event-ID``; see :func:`events`.
        """
        yield Note("x")

    document = valid(mine.openapi())
    operation = document["paths"]["/notes/"]["get"]
    assert operation["summary"] == "At most `limit` notes."
    assert operation["description"] == "Resumes after `Last-Event-ID`; see `events`."
    assert document["info"]["description"] == "Uses `Last-Event-ID`."
    note = document["components"]["schemas"]["Note"]
    assert note["description"] == "A note; see `Event` and `text`."


def test_bounds_in_the_demo_models_are_in_the_document() -> None:
    document = demo_registry.openapi()
    (limit,) = document["paths"]["/api/orders/"]["post"]["parameters"]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
    (resume,) = document["paths"]["/api/events/"]["get"]["parameters"]
    assert resume["schema"] == {"type": "integer", "minimum": 0, "maximum": 1_000_000}
    order = document["components"]["schemas"]["Order"]["properties"]
    assert order["quantity"] == {"type": "integer", "minimum": 1, "maximum": 100}
