"""Stream functions the test suite serves (in-process and under a live uvicorn)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypedDict

import msgspec

from jsonlfn import (
    APIKeyAuth,
    Event,
    Handoff,
    HistoryGone,
    HttpError,
    Identity,
    JWTAuth,
    Registry,
    Topic,
    body,
    cookies,
    headers,
    jsonl_stream,
    ping,
    query,
    requires,
    resume,
)
from jsonlfn._stream._shutdown import LIVE
from tests.keys import IDP, JWKS_URL
from tests.semantics import CASES, report
from tests.tracker import tracker

registry = Registry(title="Test streams", version="0")


class Tick(msgspec.Struct):
    i: int


class Count(msgspec.Struct):
    n: int = 3
    delay: float = 0.0
    label: str = ""
    marker: str = ""  # a file the function's `finally` writes (servers in a subprocess)


class Resume(msgspec.Struct):
    last_event_id: int | None = msgspec.field(default=None, name="Last-Event-ID")


class Session(msgspec.Struct):
    theme: str = "light"


class Filter(msgspec.Struct):
    tags: list[str] = []
    limit: int = 10


class Order(msgspec.Struct):
    item: str
    quantity: int


@registry.get("count-uncompressed/")
@jsonl_stream(model=Tick, compress=False)
@query(Count)
async def count_uncompressed(request: Any, query: Count) -> AsyncIterator[Tick]:
    """``count/`` that is never gzipped (``compress=False``)."""
    for i in range(query.n):
        yield Tick(i)


@registry.get("count/")
@jsonl_stream(model=Tick)
@query(Count)
async def count(request: Any, query: Count) -> AsyncIterator[Tick]:
    """Yield ``n`` ticks, sleeping ``delay`` seconds between them (0: never awaits)."""
    tracker.start(query.label)
    try:
        for i in range(query.n):
            if query.delay:
                await asyncio.sleep(query.delay)
            yield Tick(i)
    finally:
        finished(query)


def finished(query: Count) -> None:
    """What a function's ``finally`` leaves behind: the tracker's count, and the marker
    file when the server runs in a subprocess."""
    tracker.finish(query.label)
    if query.marker:
        Path(query.marker).write_text("finally ran")


@registry.get("idle/")
@jsonl_stream(model=Tick)
@query(Count)
async def idle(request: Any, query: Count) -> AsyncIterator[Tick]:
    """One tick, then wait forever; the ``finally`` awaits too (async cleanup)."""
    tracker.start(query.label)
    try:
        yield Tick(0)
        await asyncio.Event().wait()
    finally:
        await asyncio.sleep(0.01)
        finished(query)


@registry.get("slow-first/")
@jsonl_stream(model=Tick)
@query(Count)
async def slow_first(request: Any, query: Count) -> AsyncIterator[Tick]:
    """Wait ``delay`` seconds before the first of ``n`` ticks (priming times out)."""
    tracker.start(query.label)
    try:
        await asyncio.sleep(query.delay)
        for i in range(query.n):
            yield Tick(i)
    finally:
        tracker.finish(query.label)


@registry.get("orgs/<int:org>/users/")
@jsonl_stream(model=Tick)
@headers(Resume)
async def org_users(request: Any, org: int, headers: Resume) -> AsyncIterator[Tick]:
    """404 before the first item for org 0; otherwise resumes after Last-Event-ID."""
    if org == 0:
        raise HttpError(404, "no such org")
    start = (headers.last_event_id or 0) + 1
    for i in range(start, start + 3):
        yield Tick(i)


def replace_error(exc: Exception) -> dict[str, str]:
    return {"error": type(exc).__name__}


async def _fail_after(n: int) -> AsyncIterator[Tick]:
    for i in range(n):
        yield Tick(i)
    raise RuntimeError("boom")


@registry.get("fail/")
@jsonl_stream(model=Tick)
@query(Count)
async def fail(request: Any, query: Count) -> AsyncIterator[Tick]:
    """``n`` ticks then a RuntimeError (before the first item when n == 0)."""
    async for tick in _fail_after(query.n):
        yield tick


@registry.get("fail-replaced/")
@jsonl_stream(model=Tick, on_error=replace_error)
@query(Count)
async def fail_replaced(request: Any, query: Count) -> AsyncIterator[Tick]:
    """Like ``fail/`` with an ``on_error`` replacement line."""
    async for tick in _fail_after(query.n):
        yield tick


@registry.get("invalid/")
@jsonl_stream(model=Tick)
@query(Count)
async def invalid(request: Any, query: Count) -> AsyncIterator[Any]:
    """``n`` valid items, then one that does not match the model."""
    for i in range(query.n):
        yield {"i": i}
    yield {"i": "not a number"}
    yield {"i": 99}


class Reading(msgspec.Struct):
    value: float


@registry.get("non-finite/")
@jsonl_stream(model=Reading)
@query(Count)
async def non_finite(request: Any, query: Count) -> AsyncIterator[Any]:
    """``n`` readings, then a NaN one (JSON has no NaN), then one more."""
    for i in range(query.n):
        yield {"value": i / 2}
    yield {"value": float("nan")}
    yield {"value": 1.0}


@registry.get("unencodable/")
@jsonl_stream(model=Tick, validate=False)
@query(Count)
async def unencodable(request: Any, query: Count) -> AsyncIterator[Any]:
    """``n`` items, then a Struct holding something JSON cannot encode (mid-line)."""
    for i in range(query.n):
        yield Tick(i)
    yield Tick(i=object())  # type: ignore[arg-type]


@registry.get("anything/")
@jsonl_stream()
async def anything(request: Any) -> AsyncIterator[Any]:
    """Untyped items of every JSON kind, including text with newlines."""
    for item in ({"a": 1}, "two\nlines", 3, 4.5, None, True, [1, "x"], "é ✓"):
        yield item


@registry.post("orders/")
@jsonl_stream(model=Order)
@body(Order)
@query(Filter)
@cookies(Session)
async def orders(request: Any, body: Order, query: Filter, cookies: Session) -> AsyncIterator[Any]:
    """Echo the decoded body ``quantity`` times, tagged with the query and cookies."""
    for _ in range(min(body.quantity, query.limit)):
        yield Order(item=f"{body.item}:{','.join(query.tags)}:{cookies.theme}", quantity=1)


@registry.get("multi/")
@jsonl_stream(model=str)
async def multi_get(request: Any) -> AsyncIterator[str]:
    yield "get"


@registry.post("multi/")
@jsonl_stream(model=str)
async def multi_post(request: Any) -> AsyncIterator[str]:
    yield "post"


@registry.get("empty/")
@jsonl_stream(model=Tick)
async def empty(request: Any) -> AsyncIterator[Tick]:
    return
    yield  # pragma: no cover


async def _first_then_idle(query: Count) -> AsyncIterator[Tick]:
    """Tick 0 (after ``delay``), then nothing for ever; tracked, with async cleanup."""
    tracker.start(query.label)
    try:
        await asyncio.sleep(query.delay)
        yield Tick(0)
        await asyncio.Event().wait()
    finally:
        await asyncio.sleep(0)
        tracker.finish(query.label)


def _first_then_idle_at(route: str, *decorators: Callable[[Any], Any]) -> None:
    """Register ``_first_then_idle`` on ``route`` with ``decorators`` (ping variants)."""

    async def stream(request: Any, query: Count) -> AsyncIterator[Tick]:
        async for tick in _first_then_idle(query):
            yield tick

    for decorate in (registry.get(route), jsonl_stream(model=Tick), query(Count), *decorators):
        decorate(stream)


_first_then_idle_at("pinged/", ping(every=0.2))
_first_then_idle_at("pinged-custom/", ping(every=0.2, item={"keepalive": True}))
_first_then_idle_at("never-pinged/", ping(every=None))
_first_then_idle_at("default-pinged/")


@registry.get("resumable/")
@jsonl_stream(model=Tick, id="i")
@resume(int)
async def resumable(request: Any, last_event_id: int | None) -> AsyncIterator[Tick]:
    """Ticks 1..6, continuing after ``Last-Event-ID``."""
    for i in range((last_event_id or 0) + 1, 7):
        yield Tick(i)


@registry.get("firehose/")
@jsonl_stream(model=Tick)
@query(Count)
async def firehose(request: Any, query: Count) -> AsyncIterator[Tick]:
    """Ticks as fast as possible, for ever, never awaiting."""
    tracker.start(query.label)
    try:
        i = 0
        while True:
            yield Tick(i)
            i += 1
    finally:
        tracker.finish(query.label)


@registry.get("tasks/")
@jsonl_stream(model=int)
async def tasks(request: Any) -> AsyncIterator[int]:
    """How many asyncio tasks the server's loop holds (this request's own included)."""
    yield len(asyncio.all_tasks())


def _secured(route: str, *backends: Any, scopes: tuple[str, ...] = ()) -> None:
    """Register a stream that yields who the caller is, behind ``backends``."""

    async def whoami(request: Any, auth: Identity) -> AsyncIterator[dict[str, Any]]:
        yield {"backend": auth.backend, "sub": auth.subject, "same": request.auth is auth}

    for decorate in (registry.get(route), jsonl_stream(), requires(*backends, scopes=scopes)):
        decorate(whoami)


_secured("secure/", JWTAuth())
_secured(
    "secure-rs/",
    JWTAuth(
        key=IDP.public_pem, algorithms=["RS256"], audience="events", issuer="https://idp.example"
    ),
    scopes=("events:read",),
)
_secured(
    "secure-jwks/",
    JWTAuth(jwks_url=JWKS_URL, algorithms=["RS256"], jwks_min_refresh=0.2, jwks_ttl=60),
)
_secured("secure-either/", APIKeyAuth(keys={"k3y-alice": "alice"}), JWTAuth())


@registry.get("secure-expiring/")
@jsonl_stream()
@requires(
    JWTAuth(
        secret="expiring-secret-of-at-least-32-bytes", algorithms=["HS256"], close_on_expiry=True
    )
)
async def secure_expiring(request: Any) -> AsyncIterator[str]:
    """Idle after one line; ends when the token expires."""
    yield "hello"
    await asyncio.Event().wait()


@registry.get("dropping/")
@jsonl_stream(model=Tick, id="i")
@resume(int)
async def dropping(request: Any, last_event_id: int | None) -> AsyncIterator[Tick]:
    """Ticks 1..10, but every connection is cut (no final chunk) after three of them."""
    start = (last_event_id or 0) + 1
    for i in range(start, min(start + 3, 11)):
        yield Tick(i)
    if start + 3 <= 10:
        await asyncio.sleep(0.05)  # let the three lines reach the client first
        cut_connection(int(request.META["REMOTE_PORT"]))  # no final chunk
        await asyncio.sleep(1)


def cut_connection(peer_port: int) -> None:
    """Shut down this process's socket whose peer is ``peer_port``, as a dying network
    would: the client reads the end of the connection without the final chunk."""
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue  # not a socket
        with sock:
            try:
                inet = sock.family in (socket.AF_INET, socket.AF_INET6)
                if inet and sock.getpeername()[1] == peer_port:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # a listening or unconnected socket


@registry.get("pinged-15/")
@jsonl_stream(model=Tick)
@ping(every=15)
async def pinged_15(request: Any) -> AsyncIterator[Tick]:
    yield Tick(0)
    await asyncio.Event().wait()


@registry.get("stats/")
@jsonl_stream()
async def stats(request: Any) -> AsyncIterator[dict[str, int]]:
    """The server's own counters, for the soak test (it runs uvicorn in a subprocess)."""
    yield {
        "started": tracker.started,
        "finished": tracker.finished,
        "live_streams": len(LIVE),
        "tasks": len(asyncio.all_tasks()),
        "fds": len(os.listdir("/proc/self/fd")),
    }


@registry.get("soak-idle/")
@jsonl_stream(model=Tick)
@ping(every=1)
async def soak_idle(request: Any) -> AsyncIterator[Tick]:
    """One tick, then idle with pings every second, tracked."""
    tracker.start()
    try:
        yield Tick(0)
        await asyncio.Event().wait()
    finally:
        tracker.finish()


@registry.get("via-django/", direct=False)
@jsonl_stream(model=Tick)
async def via_django(request: Any) -> AsyncIterator[Tick]:
    """A route that keeps Django's handler (and middleware) under ``registry.asgi()``."""
    yield Tick(0)


@registry.get("where/")
@jsonl_stream()
async def where(request: Any) -> AsyncIterator[dict[str, str]]:
    """What the request knows about its own URL (script prefixes and reverse())."""
    from django.urls import reverse

    yield {"path": request.path, "path_info": request.path_info, "reversed": reverse("where")}


@registry.get("orm/")
@jsonl_stream()
async def orm(request: Any) -> AsyncIterator[int]:
    """One ORM query through Django's async API (a sync thread and a connection)."""
    from django.contrib.contenttypes.models import ContentType

    yield await ContentType.objects.acount()


def _semantics_at(route: str, *decorators: Callable[[Any], Any]) -> None:
    """Serves every case of ``tests.semantics`` at ``route`` + ``<case>/``."""

    async def semantics(request: Any, case: str) -> AsyncIterator[Any]:
        if case not in CASES:
            raise HttpError(404, f"no case {case!r}")
        async for item in CASES[case]():
            yield item

    semantics.__name__ = semantics.__qualname__ = route.strip("/").replace("-", "_")
    stream = jsonl_stream(on_error=report)
    for decorate in (registry.get(route + "<str:case>/"), stream, *decorators):
        decorate(semantics)


_semantics_at("semantics/")
_semantics_at("semantics-pinged/", ping(every=0.01))


class Admitted:
    """How many ``slow-prime/`` functions run at once, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.entered = 0

    def enter(self) -> None:
        self.now += 1
        self.entered += 1
        self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        self.now -= 1


slow_primers = Admitted()


@registry.get("slow-prime/")
@jsonl_stream(model=int)
async def slow_prime(request: Any) -> AsyncIterator[int]:
    """One item after 0.3 s, counted while it runs (``MAX_STREAMS`` tests)."""
    slow_primers.enter()
    try:
        await asyncio.sleep(0.3)
        yield 1
    finally:
        slow_primers.leave()


@registry.get("echo/<int:n>/")
@jsonl_stream(model=int)
async def echo(request: Any, n: int) -> AsyncIterator[int]:
    """The path's integer back, however large (JSON has no limit; orjson stops at 64 bits)."""
    yield n


@dataclasses.dataclass
class Loose:
    anything: Any = None
    either: int | str | list[Any] | None = None


class Shape(TypedDict, total=False):
    nested: dict[str, Any]
    many: list[int]


class Kinds(msgspec.Struct):
    value: Any = None
    choice: int | float | str | None = None


@registry.post("bodies/struct/")
@jsonl_stream()
@body(Kinds)
async def struct_body(request: Any, body: Kinds) -> AsyncIterator[Any]:
    yield {"value": body.value, "choice": body.choice}


@registry.post("bodies/dataclass/")
@jsonl_stream()
@body(Loose)
async def dataclass_body(request: Any, body: Loose) -> AsyncIterator[Any]:
    yield {"anything": body.anything, "either": body.either}


@registry.post("bodies/typeddict/")
@jsonl_stream()
@body(Shape)
async def typeddict_body(request: Any, body: Shape) -> AsyncIterator[Any]:
    yield dict(body)


_secured(  # its key set URL is set by the test that serves it (tests/test_jwks.py)
    "secure-jwks-local/",
    JWTAuth(
        jwks_url="http://127.0.0.1:9/jwks.json",
        algorithms=["RS256"],
        jwks_min_refresh=0.5,
        jwks_ttl=60,
        jwks_timeout=3,
    ),
)


@registry.get("separators/")
@jsonl_stream(model=str)
async def separators(request: Any) -> AsyncIterator[str]:
    """Strings holding the characters ``str.splitlines`` splits on but JSON leaves raw."""
    yield "line\u2028separator"
    yield "paragraph\u2029separator"
    yield "next\x85line"


@registry.get("django-errors/<str:kind>/")
@jsonl_stream()
async def django_errors(request: Any, kind: str) -> AsyncIterator[Any]:
    """Django's own exceptions, raised before the first item."""
    from django.core.exceptions import PermissionDenied, SuspiciousOperation
    from django.http import Http404

    errors = {
        "404": Http404("no such thing"),
        "403": PermissionDenied(),
        "400": SuspiciousOperation("a secret detail"),
    }
    raise errors[kind]
    yield None


class Trade(msgspec.Struct, frozen=True):
    n: int
    note: str = ""


# 20,000: a minute of history at the checker's rates (tests/checker/), so that a slow
# resume in a storm is checked for gaps rather than ended by a 410 for trimmed history.
TRADES = Topic("trades", model=Trade, maxlen=20_000)


@registry.get("topics/trades/")
@jsonl_stream(model=Event[Trade], id="id")
@resume(str)
async def live_trades(request: Any, last_event_id: str | None) -> AsyncIterator[Handoff]:
    """The events of the ``trades`` topic, resumed after ``Last-Event-ID`` (the checker
    and the live topic tests read this one: the subscription handed off)."""
    yield TRADES.subscription(after=last_event_id)


@registry.get("topics/trades/iterated/")
@jsonl_stream(model=Event[Trade], id="id")
@resume(str)
async def iterated_trades(request: Any, last_event_id: str | None) -> AsyncIterator[Event[Trade]]:
    """The same events, iterated by the function itself (what ``subscription`` must
    stream alike)."""
    async for event in TRADES.subscribe(after=last_event_id):
        yield event


@registry.get("topics/trades/framed/")
@jsonl_stream(id="id")
@resume(str)
@query(Count)
async def framed_trades(
    request: Any, last_event_id: str | None, query: Count
) -> AsyncIterator[str | Handoff]:
    """``"first"``, the subscription, ``"gone"`` if its history is gone (caught at the
    yield), then ``"last"`` once the subscriber fell behind; tracked start and finish."""
    tracker.start(query.label)
    try:
        yield "first"
        try:
            yield TRADES.subscription(after=last_event_id)
        except HistoryGone:
            yield "gone"
        yield "last"
    finally:
        finished(query)
