"""``registry.asgi()``: what Django's handler did, kept or replaced on the direct path.

The shared acceptance suite (every test taking ``live_server``) already runs on both
paths; these are the direct path's own promises.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import connections
from django.test import override_settings

from jsonlfn._http._direct import DirectApp
from jsonlfn.testing import LiveServer, StreamClient
from tests.streams import registry
from tests.tracker import tracker
from tests.wire import StreamReader, dechunk, open_request, reset

TICK0 = b'{"i":0}\n'


class Recorder:
    """Stands in for the wrapped Django app: records what reaches it, answers 204."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


# --- what reaches the wrapped application ------------------------------------------------


@pytest.mark.anyio
async def test_everything_but_direct_routes_reaches_the_wrapped_app_unchanged() -> None:
    wrapped = Recorder()
    app = registry.asgi(wrapped)
    for scope in ({"type": "lifespan"}, {"type": "websocket", "path": "/count/"}):
        await app(scope, _no_receive, _no_send)
        assert wrapped.seen[-1] is scope
    client = StreamClient(app)
    for path in ("/api/openapi.json", "/no-such-page/", "/via-django/"):
        async with client.stream(path) as response:
            assert response.status == 204
        assert wrapped.seen[-1]["path"] == path
    async with client.stream("/count/?n=2") as response:
        assert [tick async for tick in response] == [{"i": 0}, {"i": 1}]
    assert len(wrapped.seen) == 5  # the registry's own route never reached it


@pytest.mark.anyio
async def test_middleware_runs_on_both_paths() -> None:
    with override_settings(MIDDLEWARE=["tests.middleware.stamp"]):
        client = StreamClient(registry.asgi(ASGIHandler()))
        async with client.stream("/via-django/") as kept:  # direct=False
            assert kept.headers["x-middleware"] == "ran"
        async with client.stream("/count/?n=1") as direct:
            assert direct.headers["x-middleware"] == "ran"
            assert [tick async for tick in direct] == [{"i": 0}]


@pytest.mark.anyio
async def test_an_empty_middleware_setting_builds_no_chain() -> None:
    app = registry.asgi(Recorder())
    assert isinstance(app, DirectApp)
    assert app._chains.current() is None  # nothing to run, nothing paid per request
    with override_settings(MIDDLEWARE=["tests.middleware.stamp"]):
        assert app._chains.current() is not None
    assert app._chains.current() is None


async def _no_receive() -> dict[str, Any]:
    raise AssertionError("not called")


async def _no_send(message: dict[str, Any]) -> None:
    raise AssertionError("not called")


# --- Django's request handling, kept -----------------------------------------------------


@pytest.mark.parametrize("middleware", [[], ["tests.middleware.stamp"]])
def test_disallowed_host_is_a_400(
    direct_server: LiveServer, middleware: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(ALLOWED_HOSTS=["good.example"], MIDDLEWARE=middleware):
        bad = httpx.get(f"{direct_server.url}/count/?n=1", headers={"Host": "evil.example"})
        logged = [r.name for r in caplog.records if r.name.startswith("django.")]
        assert logged == ["django.security.DisallowedHost"]  # once, as Django logs it
        good = httpx.get(f"{direct_server.url}/count/?n=1", headers={"Host": "good.example"})
    assert bad.status_code == 400
    assert bad.json() == {
        "detail": [
            {"msg": "Invalid Host header", "type": "value_error", "loc": ["headers", "Host"]}
        ]
    }
    assert (good.status_code, good.content) == (200, TICK0)


def test_body_over_the_limit_is_a_413(live_server: LiveServer) -> None:
    order = {"item": "x" * 200, "quantity": 1}
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=64):
        response = httpx.post(f"{live_server.url}/orders/", json=order)
    assert response.status_code == 413
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_declared_oversized_body_is_refused_before_it_is_read(
    direct_server: LiveServer,
) -> None:
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=64):
        sock = socket.create_connection(("127.0.0.1", direct_server.port), timeout=5)
        sock.sendall(
            b"POST /orders/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"  # and not one byte of it
        )
        head = sock.recv(65536)
        sock.close()
    assert head.startswith(b"HTTP/1.1 413 ")


def test_root_path_gives_the_same_urls_on_both_paths() -> None:
    app = get_asgi_application()
    seen = []
    for served in (app, registry.asgi(app)):
        server = LiveServer(served, root_path="/mount")
        server.start()
        try:
            response = httpx.get(f"{server.url}/where/")  # a proxy stripped /mount
        finally:
            server.stop()
        assert response.status_code == 200
        seen.append(orjson.loads(response.content))
    assert seen[0] == seen[1]
    assert seen[0] == {"path": "/mount/where/", "path_info": "/where/", "reversed": "/mount/where/"}


def test_unexpected_exception_is_a_logged_json_500(
    direct_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    reported = []

    def report(sender: object, request: Any, **_: Any) -> None:
        reported.append(request.path)

    got_request_exception.connect(report)
    try:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            hidden = httpx.get(f"{direct_server.url}/fail/?n=0")
            with override_settings(DEBUG=True):
                shown = httpx.get(f"{direct_server.url}/fail/?n=0")
    finally:
        got_request_exception.disconnect(report)
    assert reported == ["/fail/"] * 2  # as Sentry and other error reporters hear it
    assert hidden.status_code == shown.status_code == 500
    assert hidden.json() == {"detail": [{"msg": "Internal Server Error", "type": "server_error"}]}
    assert shown.json()["detail"][0]["msg"] == "Internal Server Error: RuntimeError: boom"
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in records] == ["Internal Server Error: /fail/"] * 2
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in records)


def test_request_signals_fire_once_per_request(direct_server: LiveServer) -> None:
    calls: list[tuple[str, str, object]] = []

    def on_started(sender: object, scope: dict[str, Any], **_: Any) -> None:
        calls.append(("started", threading.current_thread().name, sender))

    async def on_started_async(sender: object, **_: Any) -> None:
        calls.append(("started async", threading.current_thread().name, sender))

    def on_finished(sender: object, **_: Any) -> None:
        calls.append(("finished", threading.current_thread().name, sender))

    receivers = [
        (request_started, on_started),
        (request_started, on_started_async),
        (request_finished, on_finished),
    ]
    for signal, receiver in receivers:
        signal.connect(receiver)
    try:
        with httpx.Client(base_url=direct_server.url) as client:
            for _ in range(3):
                assert client.get("/count/?n=1").content == TICK0
        deadline = time.monotonic() + 2  # request_finished follows the response's last byte
        while [kind for kind, _, _ in calls].count("finished") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver)
    kinds = [kind for kind, _, _ in calls]
    assert sorted(kinds) == sorted(["started", "started async", "finished"] * 3)
    assert {sender for _, _, sender in calls} == {ASGIHandler}
    loop_thread = direct_server.thread.name
    sync_threads = {name for kind, name, _ in calls if kind != "started async"}
    assert loop_thread not in sync_threads  # sync receivers run in the request's thread
    assert {name for kind, name, _ in calls if kind == "started async"} == {loop_thread}


# --- database connections ----------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@pytest.fixture(params=[0, 60], ids=["CONN_MAX_AGE=0", "CONN_MAX_AGE=60"])
def conn_max_age(request: pytest.FixtureRequest) -> Iterator[int]:
    """Set on the settings dict each new connection reads (overriding DATABASES warns)."""
    database = connections.settings["default"]
    previous = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = request.param
    yield request.param
    database["CONN_MAX_AGE"] = previous


def _open_database_files() -> int:
    name = str(Path(settings.DATABASES["default"]["NAME"]).resolve())
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}") == name
        except OSError:
            continue  # closed while listing
    return found


@pytest.mark.usefixtures("migrated")
def test_orm_connections_do_not_leak_over_300_requests(
    direct_server: LiveServer, conn_max_age: int
) -> None:
    """Each request runs its ORM call in its own thread; the connection opened there is
    closed before the thread ends, even one that CONN_MAX_AGE would keep (the thread
    could never reuse it). The garbage collector is off, so nothing closes by luck."""
    before = _open_database_files()
    gc.disable()
    try:
        with httpx.Client(base_url=direct_server.url) as client:
            bodies = {client.get("/orm/").content for _ in range(300)}
        # The last request closes its connection just after its response has been sent.
        deadline = time.monotonic() + 1.0
        while (during := _open_database_files()) > before and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        gc.enable()
    assert len(bodies) == 1
    assert int(bodies.pop()) > 0  # the query ran
    assert during <= before


# --- connections -------------------------------------------------------------------------


def test_keep_alive_connection_serves_one_stream_after_another(
    direct_server: LiveServer,
) -> None:
    sock = socket.create_connection(("127.0.0.1", direct_server.port), timeout=5)
    for n in (1, 3, 2):
        sock.sendall(f"GET /count/?n={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert dechunk(body) == b"".join(b'{"i":%d}\n' % i for i in range(n))
    sock.close()


def test_a_client_leaving_is_not_an_error(
    direct_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        reader = StreamReader(open_request(direct_server.port, "/idle/?label=direct-leave"))
        assert reader.next_line() == TICK0
        reset(reader.sock)
        tracker.wait_all_finished()
    assert "finish direct-leave" in tracker.events
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
