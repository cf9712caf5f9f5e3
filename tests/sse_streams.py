"""Stream functions the Server-Sent Events tests serve: each one a plain JSON Lines stream
function with ``@sse()`` on top (none of them knows which representation it feeds)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from jsonlfn import (
    Event,
    HttpError,
    JWTAuth,
    Registry,
    Topic,
    Unavailable,
    cookies,
    jsonl_stream,
    ping,
    query,
    requires,
    resume,
    sse,
)
from tests.streams import TRADES, Trade
from tests.tracker import tracker

registry = Registry(title="SSE test streams", version="0")


class Tick(msgspec.Struct):
    i: int
    text: str = ""


class Count(msgspec.Struct):
    n: int = 3
    delay: float = 0.0
    text: str = ""
    fail_first: bool = False
    busy_after: bool = False  # a resume gets 503 (the client's retry delays)
    per_connection: int = 0  # end after this many (EventSource reconnects), 0: all


@registry.get("sse/ticks/")
@sse(retry=0.25)
@jsonl_stream(model=Tick, id="i")
@resume(int)
@query(Count)
@ping(every=0.1)
async def ticks(request: Any, query: Count, last_event_id: int | None) -> AsyncIterator[Tick]:
    """``n`` ticks after ``Last-Event-ID``, ``delay`` seconds apart."""
    if query.fail_first:
        raise HttpError(404, "no such ticks")
    if query.busy_after and last_event_id is not None:
        raise Unavailable(1, "busy")
    last = query.n
    if query.per_connection:
        last = min(last, (last_event_id or 0) + query.per_connection)
    for i in range((last_event_id or 0) + 1, last + 1):
        if query.delay:
            await asyncio.sleep(query.delay)
        yield Tick(i=i, text=query.text)


@registry.get("sse/plain/")
@jsonl_stream(model=Tick)
@query(Count)
@sse()
async def plain(request: Any, query: Count) -> AsyncIterator[dict[str, Any]]:
    """Items without ids or names: dicts validated against ``Tick``."""
    for i in range(1, query.n + 1):
        yield {"i": i, "text": query.text}


class Joined(msgspec.Struct, tag="joined"):
    user: str


class Said(msgspec.Struct, tag="said"):
    user: str
    text: str


@registry.get("sse/room/")
@sse()
@jsonl_stream(model=Joined | Said)
async def room(request: Any) -> AsyncIterator[Joined | Said]:
    """A tagged union: each event is named by its tag."""
    yield Joined(user="ann")
    yield Said(user="ann", text="hi")


class Failed(msgspec.Struct):
    error: str


def failed(exc: Exception) -> Failed:
    return Failed(error=str(exc))


@registry.get("sse/fails/")
@jsonl_stream(model=Tick, on_error=failed)
@sse()
async def fails(request: Any) -> AsyncIterator[Tick]:
    """One tick, then a failure that ``on_error`` turns into the last item."""
    yield Tick(i=1)
    await asyncio.sleep(0)
    raise RuntimeError("upstream went away")


@registry.get("sse/ids/")
@jsonl_stream(id="id")
@sse()
async def ids(request: Any) -> AsyncIterator[dict[str, Any]]:
    """Untyped items whose id field holds whatever the query says."""
    for value in request.GET.getlist("id"):
        yield {"id": value}


@registry.get("sse/secure/")
@sse()
@requires(JWTAuth(), scopes=["ticks:read"])
@jsonl_stream(model=Tick, id="i")
async def secure(request: Any) -> AsyncIterator[Tick]:
    """One tick for callers with the ``ticks:read`` scope."""
    yield Tick(i=1, text=request.auth.subject)


class Note(msgspec.Struct):
    text: str


notes = Topic("sse-notes", model=Note, maxlen=3)


@registry.get("sse/notes/")
@sse()
@jsonl_stream(model=Event[Note], id="id")
@resume(str)
@ping(every=0.2)
async def note_events(request: Any, last_event_id: str | None) -> AsyncIterator[Event[Note]]:
    """A topic's events: ``id:`` the entry id, ``data:`` the note."""
    async for event in notes.subscribe(after=last_event_id):
        yield event


@registry.post("sse/notes/")
@jsonl_stream(model=str)
@query(Count)
async def post_notes(request: Any, query: Count) -> AsyncIterator[str]:
    """Publish ``n`` notes ``text 1`` ... ``text n``; one line with each id."""
    for i in range(1, query.n + 1):
        yield await notes.publish(Note(text=f"{query.text} {i}"))


@registry.get("sse/trades/")
@sse(retry=0.1)
@jsonl_stream(model=Event[Trade], id="id")
@resume(str)
@ping(every=1)
async def trades(request: Any, last_event_id: str | None) -> AsyncIterator[Event[Trade]]:
    """tests.streams' ``trades`` topic (``tests.topic_publisher`` publishes to it)."""
    async for event in TRADES.subscribe(after=last_event_id):
        yield event


class Who(msgspec.Struct):
    who: str = "nobody"


@registry.get("sse/whoami/")
@sse()
@jsonl_stream(model=str)
@cookies(Who)
async def whoami(request: Any, cookies: Who) -> AsyncIterator[str]:
    """The ``who`` cookie: it came along when the browser sent credentials."""
    yield cookies.who


@registry.get("sse/firehose/")
@sse()
@jsonl_stream(model=Tick)
@query(Count)
async def firehose(request: Any, query: Count) -> AsyncIterator[Tick]:
    """Ticks as fast as possible, for ever, never awaiting."""
    tracker.start(query.text)
    try:
        i = 0
        while True:
            yield Tick(i=i)
            i += 1
    finally:
        tracker.finish(query.text)
