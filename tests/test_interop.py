"""What users combine jsonlfn with: Django's exceptions and settings, line readers of
every kind (httpx, requests, jsonlfn.client), HTTP's header rules, both serving paths."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
import requests
from django.test import override_settings

from jsonlfn import Registry, SpecError, jsonl_stream, ping
from jsonlfn.client import stream
from jsonlfn.testing import LiveServer, jwt_token
from tests.wire import fetch

SEPARATED = ["line\u2028separator", "paragraph\u2029separator", "next\x85line"]


def test_line_separators_are_escaped_on_the_wire(live_server: LiveServer) -> None:
    body = fetch(live_server.port, "/separators/").body
    assert body == b'"line\\u2028separator"\n"paragraph\\u2029separator"\n"next\\u0085line"\n'


def test_httpx_reads_one_item_per_line(live_server: LiveServer) -> None:
    async def read() -> list[Any]:
        async with (
            httpx.AsyncClient() as client,
            client.stream("GET", f"{live_server.url}/separators/") as response,
        ):
            return [orjson.loads(line) async for line in response.aiter_lines()]

    assert asyncio.run(read()) == SEPARATED


def test_requests_reads_one_item_per_line(live_server: LiveServer) -> None:
    with requests.get(f"{live_server.url}/separators/", stream=True, timeout=10) as response:
        lines = list(response.iter_lines(decode_unicode=True))
    assert [orjson.loads(line) for line in lines] == SEPARATED


def test_streams_and_406_vary_on_accept(live_server: LiveServer) -> None:
    assert fetch(live_server.port, "/count/?n=1").headers["vary"] == "Accept, Accept-Encoding"
    refused = fetch(live_server.port, "/count/?n=1", {"Accept": "text/html"})
    assert refused.status == 406
    assert refused.headers["vary"] == "Accept"


@pytest.mark.parametrize("value", ["4 ", " 4", "\t4\t"])
def test_header_values_are_trimmed_of_optional_whitespace(
    live_server: LiveServer, value: str
) -> None:
    response = fetch(live_server.port, "/resumable/", {"Last-Event-ID": value})
    assert response.status == 200
    assert orjson.loads(response.body.splitlines()[0]) == {"i": 5}


@pytest.mark.parametrize(
    ("kind", "status", "type_"),
    [("404", 404, "not_found"), ("403", 403, "permission_denied"), ("400", 400, "bad_request")],
)
def test_djangos_exceptions_before_the_first_item_are_json_errors(
    live_server: LiveServer, kind: str, status: int, type_: str
) -> None:
    response = fetch(live_server.port, f"/django-errors/{kind}/")
    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    detail = orjson.loads(response.body)["detail"][0]
    assert detail["type"] == type_
    assert "a secret detail" not in detail["msg"]  # SuspiciousOperation's text is logged only


def test_the_client_posts_json_bodies(live_server: LiveServer) -> None:
    async def read() -> list[Any]:
        items = stream(
            f"{live_server.url}/orders/?limit=2",
            method="POST",
            json={"item": "tea", "quantity": 5},
        )
        return [item async for item in items]

    assert asyncio.run(read()) == [{"item": "tea::light", "quantity": 1}] * 2


def test_jwt_auth_from_settings_follows_overridden_settings(live_server: LiveServer) -> None:
    secret = "another-secret-of-at-least-32-bytes-long"
    with override_settings(SECRET_KEY=secret):
        token = jwt_token(sub="zoe")
        response = fetch(live_server.port, "/secure/", {"Authorization": f"Bearer {token}"})
    assert response.status == 200
    assert orjson.loads(response.body)["sub"] == "zoe"


def test_registry_decorators_without_parentheses_fail_at_import() -> None:
    registry = Registry()
    with pytest.raises(SpecError, match=r'@registry.get\("api/events/"\)'):

        @registry.get  # type: ignore[arg-type]
        async def forgot(request: Any) -> Any:
            yield 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ping(lambda: None), r"without parentheses; write @ping\(every=15\)"),  # type: ignore[arg-type]
        (lambda: ping(every="15"), r"a number.*@ping\(every=15\)"),  # type: ignore[arg-type]
        (lambda: jsonl_stream(prime_timeout="1"), r"prime_timeout=1.5"),  # type: ignore[arg-type]
    ],
)
def test_mistyped_options_say_what_to_write(make: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make()
