"""The Django project of scenario F (``tests.bench.fanout``): one topic, five ways to stream it.

uvicorn tests.bench.fanout_project:application   (registry.asgi(), the direct path, behind
a small ASGI callable that serves ``/fanout/bare/`` itself)

- ``fanout/ticks/``: ``yield TICKS.subscription()``, on the backend
  ``JSONLFN_BENCH_TOPICS`` names (``memory``, the default, or a Redis URL): jsonlfn
  streams the events itself (one wake-up per line);
- ``fanout/iterated/``: the same events through ``async for event in TICKS.subscribe():
  yield event`` (two wake-ups per line: the function's Task, then the stream loop);
- ``/fanout/bare/``: the floor, no jsonlfn code: a plain ASGI stream that waits on a
  future of its own, which the in-process publisher resolves with each event's line
  (the bytes jsonlfn sends for it, encoded once per event): one wake-up and one
  ``http.response.body`` per line. In-process publisher only;
- ``fanout/handwritten/``: what a user writes without topics, one ``XREAD BLOCK`` loop
  on a Redis connection of its own per stream (``JSONLFN_BENCH_REDIS``);
- ``fanout/gc-freeze/``: ``gc.freeze()`` (``--gc-freeze``), answering the count frozen;
- ``fanout/publish/?rate=R&seconds=S``: publishes ``R`` ticks a second for ``S`` seconds
  from inside this process (the in-process backend needs that) and hands each one's
  line to the open bare streams, then yields one line,
  ``{"published": n, "seconds": elapsed, "late_ms": most behind schedule}``.

``python -m tests.bench.fanout_project`` is the publisher for the Redis variants: it
reads ``RATE SECONDS`` lines on stdin and answers each with that same JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import django
import msgspec
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        # SEND_TIMEOUT as users get it (60 s): each stream's send timer is part of the cost
        JSONLFN={
            "TOPICS": os.environ.get("JSONLFN_BENCH_TOPICS", "memory"),
        },
    )
    django.setup()

import redis.asyncio
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from jsonlfn import Event, Handoff, Registry, Topic, jsonl_stream, query, resume

REDIS_URL = os.environ.get("JSONLFN_BENCH_REDIS", "")

registry = Registry(title="bench fan-out")


class Tick(msgspec.Struct):
    seq: int
    t: float  # time.time() at publish


class Rate(msgspec.Struct):
    rate: float = 50.0
    seconds: float = 5.0


TICKS: Topic[Tick] = Topic("bench-ticks", model=Tick, maxlen=100_000)
_decode_tick = msgspec.json.Decoder(Tick).decode
_encode = msgspec.json.Encoder().encode


@registry.get("fanout/ticks/")
@jsonl_stream(model=Event[Tick], id="id")
@resume(str)
async def ticks(request: Any, last_event_id: str | None) -> AsyncIterator[Handoff]:
    yield TICKS.subscription(after=last_event_id)


@registry.get("fanout/iterated/")
@jsonl_stream(model=Event[Tick], id="id")
@resume(str)
async def iterated(request: Any, last_event_id: str | None) -> AsyncIterator[Event[Tick]]:
    async for event in TICKS.subscribe(after=last_event_id):
        yield event


@registry.get("fanout/handwritten/")
@jsonl_stream(model=Event[Tick], id="id")
@resume(str)
async def handwritten(request: Any, last_event_id: str | None) -> AsyncIterator[Event[Tick]]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)  # BLOCK holds its connection
    try:
        last: Any = last_event_id or await _newest_id(client)
        while True:
            # under redis-py's default socket_timeout (5 s), which a longer BLOCK trips
            reply: Any = await client.xread({TICKS.channel.key: last}, block=2_000, count=100)
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    last = entry_id
                    yield Event(entry_id.decode(), _decode_tick(fields[b"d"]))
    finally:
        await client.aclose()


async def _newest_id(client: redis.asyncio.Redis) -> bytes:
    """The newest entry's id: reading after ``$`` again after a timeout could skip one."""
    newest: Any = await client.xrevrange(TICKS.channel.key, count=1)
    found: bytes = newest[0][0] if newest else b"0-0"
    return found


@registry.get("fanout/publish/")
@jsonl_stream()
@query(Rate)
async def publish(request: Any, query: Rate) -> AsyncIterator[dict[str, Any]]:
    count, late = _count(query), 0.0
    began = time.perf_counter()
    for seq in range(count):
        delay = began + seq / query.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        late = max(late, -delay)
        tick = Tick(seq, time.time())
        event_id = await TICKS.publish(tick)
        if _BARE:
            _to_bare(_encode(Event(event_id, tick)) + b"\n")
    yield _published(count, began, late)


@registry.get("fanout/gc-freeze/")
@jsonl_stream(model=int)
async def gc_freeze(request: Any) -> AsyncIterator[int]:
    """``gc.freeze()``: what is alive now (the open streams) is left out of collections."""
    gc.freeze()
    yield gc.get_freeze_count()


def _count(rate: Rate) -> int:
    return max(1, round(rate.rate * rate.seconds))


def _published(count: int, began: float, late: float) -> dict[str, Any]:
    """The publisher's answer; ``late_ms``: the most an event was published behind
    schedule (the in-process publisher shares the server's loop, so its ``t`` is taken
    only once that loop gets to it)."""
    return {"published": count, "seconds": time.perf_counter() - began, "late_ms": late * 1e3}


def publish_sync(rate: Rate) -> dict[str, Any]:
    """``publish`` from a process of its own, with ``Topic.publish_sync``."""
    count, late = _count(rate), 0.0
    began = time.perf_counter()
    for seq in range(count):
        delay = began + seq / rate.rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        late = max(late, -delay)
        TICKS.publish_sync(Tick(seq, time.time()))
    return _published(count, began, late)


def plain(request: HttpRequest) -> HttpResponse:
    """A plain Django view: how long the worker takes to answer one while it fans out."""
    return HttpResponse(b"ok")


urlpatterns = [path("fanout/plain/", plain), path("", include(registry.urls()))]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _BareStream:
    """One open ``/fanout/bare/``: the lines not sent yet, the future it waits on."""

    __slots__ = ("closed", "lines", "waiter")

    def __init__(self) -> None:
        self.lines: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


_BARE: set[_BareStream] = set()
_BARE_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/jsonl")],
}


def _to_bare(line: bytes) -> None:
    """Queue ``line`` on every open bare stream and wake the ones waiting."""
    for stream in _BARE:
        stream.lines.append(line)
        stream.wake()


async def _bare(receive: Receive, send: Send) -> None:
    """The floor: one wake-up and one ``send`` per line, until the client disconnects."""
    await send(_BARE_START)
    stream, loop = _BareStream(), asyncio.get_running_loop()
    watcher = loop.create_task(_disconnected(receive, stream))
    _BARE.add(stream)
    try:
        lines = stream.lines
        while not stream.closed:
            if not lines:
                stream.waiter = loop.create_future()
                await stream.waiter
                continue
            line = lines.popleft()  # lines arriving while this sends wait in the deque
            await send({"type": "http.response.body", "body": line, "more_body": True})
    finally:
        _BARE.discard(stream)
        watcher.cancel()


async def _disconnected(receive: Receive, stream: _BareStream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.closed = True
    stream.wake()


_jsonlfn = registry.asgi(get_asgi_application())


async def application(scope: Message, receive: Receive, send: Send) -> None:
    """``/fanout/bare/`` served here; everything else by ``registry.asgi()``."""
    if scope["type"] == "http" and scope["path"] == "/fanout/bare/":
        await _bare(receive, send)
    else:
        await _jsonlfn(scope, receive, send)


def main() -> None:
    TICKS.publish_sync(Tick(-1, time.time()))  # connected, and the stream exists
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        rate, seconds = (float(word) for word in line.split())
        print(json.dumps(publish_sync(Rate(rate, seconds))), flush=True)


if __name__ == "__main__":
    main()
