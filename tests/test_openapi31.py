"""The OpenAPI 3.1 document, for tools that don't read 3.2 yet (openapi-python-client)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from demo.events import registry as demo_registry
from django.core.management import call_command
from openapi_spec_validator import OpenAPIV31SpecValidator

from jsonlfn import JSONL_TYPES, Registry
from tests.streams import registry

BIN = Path(sys.executable).parent
GENERATOR = shutil.which("openapi-python-client", path=str(BIN)) or shutil.which(
    "openapi-python-client"
)


def valid31(document: dict[str, Any]) -> dict[str, Any]:
    OpenAPIV31SpecValidator(document).validate()
    return document


def test_documents_are_valid_31() -> None:
    for source in (registry, demo_registry):
        assert valid31(source.openapi("3.1"))["openapi"] == "3.1.1"
    assert registry.openapi("3.1") is registry.openapi("3.1")  # cached too
    assert registry.openapi()["openapi"] == "3.2.0"  # the 3.2 document is left as it is


def test_jsonl_responses_are_arrays_of_items_and_the_item_schema_is_kept() -> None:
    ok = demo_registry.openapi("3.1")["paths"]["/api/events/"]["get"]["responses"]["200"]
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in ("Event", "Ping")]
    item = {"anyOf": refs}
    for name in JSONL_TYPES:  # text/event-stream beside them: tests/test_sse_openapi.py
        media = ok["content"][name]
        assert media["schema"] == {"type": "array", "items": item}
        assert media["x-jsonl-item-schema"] == item
        assert "itemSchema" not in media


def test_query_operations_become_an_extension() -> None:
    document = valid31(registry.openapi("3.1"))
    assert not any("query" in item for item in document["paths"].values())


def test_http_auth_schemes_are_lower_case_as_31_validators_require() -> None:
    schemes = registry.openapi("3.1")["components"]["securitySchemes"]
    http = [scheme for scheme in schemes.values() if scheme["type"] == "http"]
    assert http
    assert {scheme["scheme"] for scheme in http} == {"bearer"}
    assert "Bearer" in json.dumps(registry.openapi())  # 3.2 keeps what JWTAuth was given


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r'"3.2" or "3.1", not \'3.0\''):
        Registry().openapi("3.0")


def test_management_command_writes_the_31_document() -> None:
    out = io.StringIO()
    call_command(
        "jsonlfn_openapi", "--registry", "demo.events.registry", "--openapi-version", "3.1",
        stdout=out,
    )  # fmt: skip
    assert json.loads(out.getvalue())["openapi"] == "3.1.1"


@pytest.mark.skipif(GENERATOR is None, reason="openapi-python-client is in the dev extra")
def test_openapi_python_client_builds_the_item_models(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(demo_registry.openapi("3.1")))
    command = [str(GENERATOR), "generate", "--path", str(spec), "--meta", "none"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # its ruff hook
    subprocess.run(
        [*command, "--output-path", str(tmp_path / "demo_client")],
        cwd=tmp_path, env=env, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    script = (
        "from demo_client.models import Event, Ping, Receipt, Tick, User\n"
        "print(Event.from_dict({'id': 3, 'text': 'x'}).id,"
        " Ping.from_dict({'type': 'ping'}).type_.value,"
        " Tick(n=1).to_dict(), User(email='a@b').email, Receipt.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.stdout.split() == ["3", "ping", "{'n':", "1}", "a@b", "Receipt"], result.stderr
