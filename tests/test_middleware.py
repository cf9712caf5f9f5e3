"""The project's ``MIDDLEWARE`` on the direct path (``registry.asgi()``), over real
sockets: CORS (django-cors-headers), security redirects and headers, gzip, sessions,
CSRF, sync-only middleware and view hooks give the answers Django's handler gives."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import requests
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonlfn._http._direct import ASGIApp
from jsonlfn.testing import LiveServer, jwt_token
from tests.settings_cors import BROWSER
from tests.streams import registry
from tests.test_servers import ServerProcess
from tests.tracker import tracker

APP = "https://app.example"  # the browser app's origin, allowed by CORS_ALLOWED_ORIGINS
HOST = "api.example"  # one Host for both servers, so redirects name the same place
BEHIND_TLS = {"Host": HOST, "X-Forwarded-Proto": "https"}
PREFLIGHT = {
    **BEHIND_TLS,
    "Origin": APP,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization, last-event-id",
}
UNCOMPARED = frozenset({"date", "server"})


def serve_both(
    direct: Callable[[ASGIApp], ASGIApp] = registry.asgi, **overrides: Any
) -> Iterator[dict[str, LiveServer]]:
    """Django's handler and ``direct`` of it (``registry.asgi()``), built under
    ``overrides``; stopped when the generator ends or is closed."""
    with override_settings(**overrides):
        servers = {
            "django": LiveServer(ASGIHandler()),
            "direct": LiveServer(direct(ASGIHandler())),
        }
        for server in servers.values():
            server.start()
        try:
            yield servers
        finally:
            for server in servers.values():
                server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[dict[str, LiveServer]]:
    yield from serve_both(**BROWSER)


@pytest.fixture(scope="module", params=["django", "direct"])
def path_server(request: pytest.FixtureRequest, browser: dict[str, LiveServer]) -> LiveServer:
    return browser[request.param]


def answer(
    server: LiveServer, method: str, path: str, headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (but the date and server name) and the decoded body."""
    response = httpx.request(method, server.url + path, headers=headers, timeout=10)
    kept = [(k, v) for k, v in response.headers.multi_items() if k not in UNCOMPARED]
    return response.status_code, sorted(kept), response.content


# --- CORS ---------------------------------------------------------------------------------


def test_a_cors_preflight_from_another_origin_is_answered(path_server: LiveServer) -> None:
    response = httpx.options(f"{path_server.url}/secure/", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    allowed = response.headers["access-control-allow-headers"].split(", ")
    assert {"authorization", "last-event-id"} <= set(allowed)
    assert "GET" in response.headers["access-control-allow-methods"]
    assert response.content == b""


def test_a_cross_origin_stream_carries_cors_headers(path_server: LiveServer) -> None:
    headers = {**BEHIND_TLS, "Origin": APP, "Last-Event-ID": "4"}
    url = f"{path_server.url}/resumable/"
    with requests.get(url, headers=headers, stream=True, timeout=10) as response:
        assert response.headers["access-control-allow-origin"] == APP
        assert response.headers["content-type"] == "application/jsonl"
        lines = [orjson.loads(line) for line in response.iter_lines()]
    assert lines == [{"i": 5}, {"i": 6}]


def test_an_authorized_cross_origin_stream(path_server: LiveServer) -> None:
    token = jwt_token(sub="carol")
    headers = {**BEHIND_TLS, "Origin": APP, "Authorization": f"Bearer {token}"}
    with httpx.stream("GET", f"{path_server.url}/secure/", headers=headers) as response:
        assert response.headers["access-control-allow-origin"] == APP
        lines = [orjson.loads(line) for line in response.iter_lines()]
    assert lines == [{"backend": "jwt", "sub": "carol", "same": True}]


def test_an_origin_not_allowed_gets_no_cors_headers(path_server: LiveServer) -> None:
    headers = {**BEHIND_TLS, "Origin": "https://evil.example"}
    response = httpx.get(f"{path_server.url}/resumable/", headers=headers)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# --- security -----------------------------------------------------------------------------


def test_plain_http_is_redirected_before_the_stream_opens(path_server: LiveServer) -> None:
    response = httpx.get(f"{path_server.url}/count/?n=2&label=plain", headers={"Host": HOST})
    assert response.status_code == 301
    assert response.headers["location"] == f"https://{HOST}/count/?n=2&label=plain"
    assert "start plain" not in tracker.events  # the stream function never started


def test_security_headers_on_streams(path_server: LiveServer) -> None:
    response = httpx.get(f"{path_server.url}/count/?n=1", headers=BEHIND_TLS)
    assert response.headers["strict-transport-security"] == "max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.content == b'{"i":0}\n'


def test_gzip_middleware_leaves_streams_alone(path_server: LiveServer) -> None:
    headers = {**BEHIND_TLS, "Accept-Encoding": "gzip"}
    with httpx.stream("GET", f"{path_server.url}/count/?n=3", headers=headers) as response:
        assert response.headers.get_list("content-encoding") == ["gzip"]  # jsonlfn's own
        raw = b"".join(response.iter_raw())
    assert gzip.decompress(raw) == b'{"i":0}\n{"i":1}\n{"i":2}\n'


# --- the two paths, compared ----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "OPTIONS", "POST"]),
    path=st.sampled_from(["/resumable/", "/count/?n=2", "/secure/", "/separators/", "/orders/"]),
    origin=st.sampled_from([None, APP, "https://evil.example", "http://app.example", "null"]),
    secure=st.booleans(),
    preflight=st.booleans(),
    authorized=st.booleans(),
    encoding=st.sampled_from(["gzip", "identity"]),
    last_event_id=st.sampled_from([None, "3", "x"]),
)
def test_both_paths_answer_alike(  # noqa: PLR0917 - one drawn value each
    browser: dict[str, LiveServer],
    method: str,
    path: str,
    origin: str | None,
    secure: bool,
    preflight: bool,
    authorized: bool,
    encoding: str,
    last_event_id: str | None,
) -> None:
    headers = {"Host": HOST, "Accept-Encoding": encoding}
    if secure:
        headers["X-Forwarded-Proto"] = "https"
    if origin is not None:
        headers["Origin"] = origin
    if preflight:
        headers["Access-Control-Request-Method"] = "GET"
        headers["Access-Control-Request-Headers"] = "authorization, last-event-id"
    if authorized:
        headers["Authorization"] = f"Bearer {jwt_token(sub='dan', expires_in=None)}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    django, direct = (answer(browser[p], method, path, headers) for p in ("django", "direct"))
    assert direct == django


# --- middleware of every kind ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hooked() -> Iterator[dict[str, LiveServer]]:
    middleware = ["tests.middleware.replacing", "tests.middleware.Refusing"]
    yield from serve_both(MIDDLEWARE=middleware)


@pytest.mark.parametrize("name", ["django", "direct"])
def test_a_sync_only_middleware_may_replace_the_stream(
    hooked: dict[str, LiveServer], name: str
) -> None:
    url = f"{hooked[name].url}/idle/?label=replaced-{name}"
    response = httpx.get(url, headers={"X-Replace": "1"})
    assert (response.status_code, response.content) == (418, b"replaced")
    deadline = time.monotonic() + 2
    while f"finish replaced-{name}" not in tracker.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert f"finish replaced-{name}" in tracker.events  # the opened stream was closed


@pytest.mark.parametrize("name", ["django", "direct"])
def test_view_and_exception_hooks_run(hooked: dict[str, LiveServer], name: str) -> None:
    url = hooked[name].url
    refused = httpx.get(f"{url}/count/?label=refused-{name}", headers={"X-Refuse": "1"})
    assert (refused.status_code, refused.content) == (403, b"refused")
    assert f"start refused-{name}" not in tracker.events
    failed = httpx.get(f"{url}/fail/?n=0")
    assert (failed.status_code, failed.content) == (503, b"unavailable")
    assert httpx.get(f"{url}/count/?n=1").content == b'{"i":0}\n'


# --- under the other servers ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["hypercorn", "daphne", "granian"])
def test_cors_and_redirects_under_other_servers(name: str) -> None:
    server = ServerProcess(name, "direct", settings="tests.settings_cors")
    url = f"http://127.0.0.1:{server.port}"
    try:
        preflight = httpx.options(f"{url}/resumable/", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert "last-event-id" in preflight.headers["access-control-allow-headers"]
        headers = {**BEHIND_TLS, "Origin": APP, "Last-Event-ID": "5"}
        with httpx.stream("GET", f"{url}/resumable/", headers=headers) as stream:
            assert stream.headers["access-control-allow-origin"] == APP
            assert [orjson.loads(line) for line in stream.iter_lines()] == [{"i": 6}]
        redirect = httpx.get(f"{url}/resumable/", headers={"Host": HOST})
        assert (redirect.status_code, redirect.headers["location"]) == (
            301,
            f"https://{HOST}/resumable/",
        )
    finally:
        server.stop()
