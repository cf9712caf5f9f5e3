"""Failures before the first item, on both serving paths, over real sockets: whatever
raises, wherever it raises, Django's handler and ``registry.asgi()`` answer alike (the
status, the kind of body, what is logged, ``got_request_exception``); a middleware
that edits ``view_kwargs`` or raises after the view leaves nothing behind for the next
request."""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import got_request_exception
from django.test import override_settings
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from jsonlfn._stream._capacity import admitted
from jsonlfn.testing import LiveServer
from tests import failing
from tests.wire import RawResponse, fetch, open_request

LOGGERS = ("django.request", "django.security", "jsonlfn")
_numbers = itertools.count()


class Heard(logging.Handler):
    """The records of ``LOGGERS`` and the ``got_request_exception`` signals, per path."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.signals = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def heard(self, **_: Any) -> None:
        self.signals += 1

    def take(self) -> tuple[list[tuple[str, int]], bool, int]:
        found = [(r.name, r.levelno) for r in self.records]
        traced = any(r.exc_info for r in self.records if r.name == "django.request")
        signals, self.records, self.signals = self.signals, [], 0
        return found, traced, signals


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, LiveServer]]:
    """Django's handler without and with the raising middleware, and the direct path
    (its chain follows ``MIDDLEWARE`` as it changes)."""
    with override_settings(MIDDLEWARE=failing.HOOKED):
        hooked = LiveServer(ASGIHandler())
    found = {
        "django": LiveServer(ASGIHandler()),
        "django-hooked": hooked,
        "direct": LiveServer(failing.registry.asgi(ASGIHandler())),
    }
    for server in found.values():
        server.start()
    yield found
    for server in found.values():
        server.stop()


@pytest.fixture(scope="module")
def heard() -> Iterator[Heard]:
    handler = Heard()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    got_request_exception.connect(handler.heard)
    yield handler
    got_request_exception.disconnect(handler.heard)
    for logger in loggers:
        logger.removeHandler(handler)


def answer(server: LiveServer, at: str, name: str) -> tuple[int, str, bytes]:
    number = next(_numbers)
    response = fetch(server.port, f"/failing/?at={at}&raise={name}&n={number}")
    return response.status, kind(response), response.body


def kind(response: RawResponse) -> str:
    media = response.headers.get("content-type", "").split(";")[0]
    return {"application/json": "json", "text/html": "html", "application/jsonl": "jsonl"}.get(
        media, media
    )


@settings(max_examples=80, deadline=None)
@example(name="TimeoutError", at="first", hooked=False)  # the issue's: swallowed on main
@example(name="SuspiciousOperation", at="params", hooked=False)  # logged twice on main
@example(name="Http404", at="auth", hooked=True)  # logged on Django's path only on main
@given(
    name=st.sampled_from(sorted(failing.EXCEPTIONS)),
    at=st.sampled_from(failing.STREAM_POINTS + failing.MIDDLEWARE_POINTS),
    hooked=st.booleans(),
)
def test_both_paths_answer_every_failure_alike(
    servers: dict[str, LiveServer], heard: Heard, name: str, at: str, hooked: bool
) -> None:
    """Any exception, before the first item or at the priming timeout, with or without
    middleware: the same status, body kind and records on both paths; a 4xx or 5xx is
    one ``django.request`` record (a 500's with its traceback and the signal sent), a
    failure after the headers one record of jsonlfn's; the direct path answers JSON
    where jsonlfn handles the failure, as Django's path answers with ``handler500``."""
    hooked = hooked or at in failing.MIDDLEWARE_POINTS
    # A sync hook's StopIteration cannot be set on asgiref's future: Django's own path
    # never answers then (nor could any path running Django's middleware).
    assume(not (name == "StopIteration" and at in failing.MIDDLEWARE_POINTS))
    django = servers["django-hooked" if hooked else "django"]
    with override_settings(MIDDLEWARE=failing.HOOKED) if hooked else contextlib.nullcontext():
        by_django, logged_django = answer(django, at, name), heard.take()
        by_direct, logged_direct = answer(servers["direct"], at, name), heard.take()
    status, body_kind, _ = by_direct
    assert status == by_django[0]
    assert logged_direct == logged_django
    records, traced, signals = logged_direct
    assert len(records) == 1, records  # one record of each answer, never none
    if status >= 400:
        assert records[0][0].startswith(("django.request", "django.security"))
    if status == 500:
        assert (traced, signals) == (True, 1)
    handled_by_jsonlfn = at in failing.STREAM_POINTS and status == 500
    if handled_by_jsonlfn:  # README: JSON on the direct path, handler500 on Django's
        assert (body_kind, by_django[1]) == ("json", "html")
    else:
        assert body_kind == by_django[1]
    if at == "late":
        assert (status, body_kind, by_direct[2]) == (200, "jsonl", b"")


@pytest.mark.parametrize("name", ["TimeoutError", "ConnectionRefusedError", "PublishFailed"])
def test_an_oserror_before_the_first_item_is_a_logged_json_500(
    servers: dict[str, LiveServer], heard: Heard, name: str
) -> None:
    """The issue's case: ``MIDDLEWARE = []`` and an ``OSError`` kind from the function
    (``asyncio.timeout``, a refused connection, a topic's store): not a client that left."""
    status, body_kind, _ = answer(servers["direct"], "first", name)
    assert (status, body_kind) == (500, "json")
    records, traced, signals = heard.take()
    assert (records, traced, signals) == ([("django.request", logging.ERROR)], True, 1)


@pytest.mark.parametrize("path", ["django", "direct"])
def test_each_request_gets_its_own_view_kwargs(
    servers: dict[str, LiveServer], heard: Heard, path: str
) -> None:
    """A ``process_view`` hook that edits ``view_kwargs`` edits them for its request
    only: Django passes the view what the hook left, and the next request to the same
    path has its own."""
    server = servers["django-hooked" if path == "django" else "direct"]
    with override_settings(MIDDLEWARE=failing.HOOKED):
        edited = fetch(server.port, "/kwargs/7/", {"X-Kwargs": "set"})
        assert (edited.status, edited.body) == (200, b'{"org":999}\n')
        assert fetch(server.port, "/kwargs/7/").body == b'{"org":7}\n'
        popped = fetch(server.port, "/kwargs/8/", {"X-Kwargs": "pop"})
        assert popped.status == 500  # the view misses its argument, on both paths
        after = fetch(server.port, "/kwargs/8/")
        assert (after.status, after.body) == (200, b'{"org":8}\n')
    heard.take()


PAIR = ("django-hooked", "direct")  # the two paths, with the raising middleware
EDITS = st.one_of(
    st.none(),
    st.sampled_from(["pop", "clear", "add:extra", "add:org2"]),
    st.integers(-(10**6), 10**6).map(lambda n: f"set:{n}"),
)


@settings(max_examples=25, deadline=None)
@given(requests=st.lists(st.tuples(st.integers(1, 3), EDITS), min_size=2, max_size=8))
def test_hook_edited_kwargs_are_the_same_answers_on_both_paths(
    servers: dict[str, LiveServer], heard: Heard, requests: list[tuple[int, str | None]]
) -> None:
    """Any sequence of requests to a few paths, each hook edit or none: both paths give
    each request the same answer, and one without an edit always its own ``org``."""
    with override_settings(MIDDLEWARE=failing.HOOKED):
        for org, edit in requests:
            headers = {} if edit is None else {"X-Kwargs": edit}
            answers = [fetch(servers[name].port, f"/kwargs/{org}/", headers) for name in PAIR]
            by_path = [(response.status, response.body) for response in answers]
            assert by_path[0][0] == by_path[1][0], (org, edit)
            if by_path[1][0] == 200:  # a 500's body is handler500's on Django's path
                assert by_path[0] == by_path[1], (org, edit)
            if edit is None:
                assert by_path[1] == (200, b'{"org":%d}\n' % org)
    heard.take()


@pytest.mark.parametrize("path", ["django", "direct"])
def test_a_middleware_raising_after_the_view_ends_the_stream_at_once(
    servers: dict[str, LiveServer], heard: Heard, path: str
) -> None:
    """The primed stream's Task ends and its ``MAX_STREAMS`` slot is free once the 500
    went out, without the garbage collector (off here)."""
    server = servers["django-hooked" if path == "django" else "direct"]
    before, first = admitted(), next(_numbers) + 1
    gc.disable()
    try:
        with override_settings(MIDDLEWARE=failing.HOOKED):
            for _ in range(5):
                assert answer(server, "after", "RuntimeError")[0] == 500
        mine = set(range(first, next(_numbers)))

        def open_() -> bool:
            return bool(mine & failing.running) or admitted() > before

        deadline = time.monotonic() + 10  # generous: it happens as each request ends
        while open_() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not mine & failing.running, "stream functions still running"
        assert admitted() == before
    finally:
        gc.enable()
        heard.take()


@pytest.mark.parametrize("path", ["django", "direct"])
def test_a_stream_answer_to_connection_close_never_says_keep_alive(
    servers: dict[str, LiveServer], path: str
) -> None:
    head = stream_head(servers[path].port, "/kwargs/1/", {"Connection": "close"})
    assert b"keep-alive" not in head.lower()
    assert b"connection: keep-alive" in stream_head(servers[path].port, "/kwargs/1/").lower()


def stream_head(port: int, path: str, headers: dict[str, str] | None = None) -> bytes:
    """The raw head of a stream answer (every header line, duplicates kept)."""
    with contextlib.closing(open_request(port, path, headers)) as sock:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 200"), head
    return head
