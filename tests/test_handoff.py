"""A stream function that yields ``Topic.subscription()``: jsonlfn streams the events.

The routes are in tests/streams.py: ``topics/trades/`` yields the subscription,
``topics/trades/iterated/`` iterates ``subscribe()`` itself, ``topics/trades/framed/``
yields items around the subscription. Over real sockets on both serving paths and both
backends; in process where the test must hold the stream loop inside a ``send``.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from django.conf import settings
from django.test import override_settings

from jsonlfn import Event
from jsonlfn._topics._backends import close_loop_connections
from jsonlfn.client import stream
from jsonlfn.testing import LiveServer, _receiver, _scope, project_application
from tests.streams import TRADES, Trade
from tests.tracker import tracker

pytestmark = pytest.mark.anyio
FAST, ITERATED, FRAMED = "/topics/trades/", "/topics/trades/iterated/", "/topics/trades/framed/"


@pytest.fixture(autouse=True)
async def _closed_after() -> AsyncIterator[None]:
    yield
    await close_loop_connections()


async def joined(count: int) -> None:
    """Until ``count`` subscriptions have joined (the servers run in this process)."""
    async with asyncio.timeout(30):
        while TRADES.subscribers() < count:  # noqa: ASYNC110 - a join sets no event
            await asyncio.sleep(0.01)


async def read(url: str, n: int, **options: Any) -> list[Event[Trade]]:
    found: list[Event[Trade]] = []
    async with asyncio.timeout(20):
        async for event in stream(url, model=Event[Trade], id="id", **options):
            found.append(event)
            if len(found) == n:
                break
    return found


async def lines(response: httpx.Response, n: int) -> list[Any]:
    """The first ``n`` lines of a JSON Lines response, decoded."""
    found: list[Any] = []
    async with asyncio.timeout(20):
        async for line in response.aiter_lines():
            found.append(orjson.loads(line))
            if len(found) == n:
                break
    return found


async def finished(label: str) -> None:
    async with asyncio.timeout(10):
        while f"finish {label}" not in tracker.events:  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.01)


async def test_the_handed_off_and_the_iterated_shape_stream_the_same_events(
    topics: str, live_server: LiveServer
) -> None:
    first = [asyncio.ensure_future(read(live_server.url + path, 20)) for path in (FAST, ITERATED)]
    await joined(2)
    ids = [await TRADES.publish(Trade(n, f"note {n}")) for n in range(20)]
    fast, iterated = [await reading for reading in first]
    assert [e.id for e in fast] == [e.id for e in iterated] == ids
    assert (
        [e.data for e in fast]
        == [e.data for e in iterated]
        == [Trade(n, f"note {n}") for n in range(20)]
    )
    await joined_none()
    resumed = [
        asyncio.ensure_future(read(live_server.url + path, 19, headers={"Last-Event-ID": ids[5]}))
        for path in (FAST, ITERATED)
    ]
    await joined(2)
    more = [await TRADES.publish(Trade(n)) for n in range(20, 25)]
    fast, iterated = [await reading for reading in resumed]
    assert [e.id for e in fast] == [e.id for e in iterated] == [*ids[6:], *more]


async def joined_none() -> None:
    async with asyncio.timeout(10):
        while TRADES.subscribers():  # noqa: ASYNC110 - a leave sets no event
            await asyncio.sleep(0.01)


async def test_items_around_the_subscription_keep_their_order_and_the_finally_runs(
    topics: str, live_server: LiveServer
) -> None:
    label = uuid.uuid4().hex
    async with (
        httpx.AsyncClient(base_url=live_server.url, timeout=20) as client,
        client.stream("GET", FRAMED, params={"label": label}) as response,
    ):
        assert response.status_code == 200
        await joined(1)
        ids = [await TRADES.publish(Trade(n)) for n in range(3)]
        got = await lines(response, 4)
    assert got[0] == "first"
    assert [line["id"] for line in got[1:]] == ids
    await finished(label)  # the client left: the function's finally ran at its yield
    await joined_none()  # ... and the subscription left the topic
    assert tracker.events == [f"start {label}", f"finish {label}"]


async def test_history_gone_is_raised_at_the_yield_where_the_function_may_catch_it(
    topics: str, live_server: LiveServer
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=20) as client:
        answer = await client.get(FRAMED, headers={"Last-Event-ID": "1-0"})
    assert answer.status_code == 200
    assert [orjson.loads(line) for line in answer.text.splitlines()] == ["first", "gone", "last"]


async def test_bad_ids_and_gone_history_are_4xx_before_the_first_event(
    topics: str, live_server: LiveServer
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=20) as client:
        gone = await client.get(FAST, headers={"Last-Event-ID": "1-0"})
        bad = await client.get(FAST, headers={"Last-Event-ID": "yesterday"})
    assert gone.status_code == 410
    assert gone.json()["detail"][0]["type"] == "history_gone"
    assert bad.status_code == 400
    assert "is not an event id" in bad.json()["detail"][0]["msg"]


# --- in process: the stream loop held in a send ------------------------------------------


@functools.cache
def app(serving: str) -> Any:
    if serving == "django":
        return project_application()
    from tests.streams import registry

    return registry.asgi(project_application())


class HeldSend:
    """An ASGI ``send`` the test can hold: the stream loop then waits inside it."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.released = asyncio.Event()
        self.released.set()
        self.entered = asyncio.Event()  # a send began while held

    def hold(self) -> None:
        self.released.clear()
        self.entered.clear()

    async def __call__(self, message: dict[str, Any]) -> None:
        if not self.released.is_set():
            self.entered.set()
            await self.released.wait()
        await self.messages.put(message)

    async def body(self, until: bytes | None = None) -> bytes:
        """The body bytes received until one message holds ``until`` (None: the end)."""
        received = b""
        async with asyncio.timeout(20):
            while True:
                message = await self.messages.get()
                if message["type"] != "http.response.body":
                    continue
                received += message.get("body", b"")
                ended = not message.get("more_body", False)
                if ended or (until is not None and until in message.get("body", b"")):
                    return received


async def delivered() -> None:
    """Let the loop run what the memory backend queued (``call_soon_threadsafe``): each
    callback queued before this runs before it returns."""
    for _ in range(3):
        await asyncio.sleep(0)


@pytest.mark.parametrize("serving", ["django", "direct"])
async def test_a_subscriber_behind_gets_what_it_buffered_then_the_function_resumes(
    serving: str,
) -> None:
    label = uuid.uuid4().hex
    send = HeldSend()
    gone = asyncio.Event()
    scope = _scope("GET", FRAMED, {"label": label}, [("accept", "application/jsonl")])
    with override_settings(JSONLFN={**settings.JSONLFN, "TOPIC_BUFFER": 4}):
        serving_task = asyncio.create_task(app(serving)(scope, _receiver(b"", gone), send))
        try:
            assert b'"first"' in await send.body(until=b'"first"')
            await joined(1)
            send.hold()
            ids = [await TRADES.publish(Trade(0))]
            await asyncio.wait_for(send.entered.wait(), 20)  # the loop is sending trade 0
            ids += [await TRADES.publish(Trade(n)) for n in range(1, 10)]
            await delivered()  # trades 1-4 buffered, 5 put the subscriber behind
            send.released.set()
            body = await send.body()
        finally:
            gone.set()
            await asyncio.wait_for(serving_task, 20)
    got = [orjson.loads(line) for line in body.splitlines()]
    assert [line["id"] for line in got[:5]] == ids[:5]
    assert got[5:] == ["last"]
    assert f"finish {label}" in tracker.events
    assert TRADES.subscribers() == 0


@pytest.mark.parametrize("serving", ["django", "direct"])
async def test_events_buffered_while_the_loop_sends_go_in_the_next_batch(serving: str) -> None:
    send = HeldSend()
    gone = asyncio.Event()
    scope = _scope("GET", FAST, None, [("accept", "application/jsonl")])
    serving_task = asyncio.create_task(app(serving)(scope, _receiver(b"", gone), send))
    try:
        await joined(1)
        send.hold()
        ids = [await TRADES.publish(Trade(0))]
        await asyncio.wait_for(send.entered.wait(), 20)
        ids += [await TRADES.publish(Trade(n)) for n in range(1, 8)]
        await delivered()
        send.released.set()
        body = await send.body(until=ids[-1].encode())
        ids.append(await TRADES.publish(Trade(8)))  # and the stream carries on
        body += await send.body(until=ids[-1].encode())
    finally:
        gone.set()
        await asyncio.wait_for(serving_task, 20)
    assert [orjson.loads(line)["id"] for line in body.splitlines()] == ids
    assert TRADES.subscribers() == 0
