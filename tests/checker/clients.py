"""The clients of a checker run: asyncio tasks reading ``topics/trades/`` over httpx.

Each client records every connection it makes (``record.Connection``): the id it
resumed with, every event it got, in order, and how the connection ended. After a
clean end or a dropped connection it resumes with its last id, on another worker;
after a 503 it retries with the same id; after a 410 it starts afresh without one (a
real client would reload its state first). Kinds of client:

- ``follow``: reads until the run ends, hopping to another worker every so many events;
- ``follow_with_library``: the same through ``jsonlfn.client.stream(resume=True,
  follow=True)``, whose connections an httpx response hook records;
- ``read``: reads k events, leaves, and resumes later elsewhere, a few times;
- ``probe``: reads a few events, then resumes on the idle worker (which has no feed);
- ``storm``: sits on one worker until it dies, then resumes on another at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import msgspec

from jsonlfn.client import MalformedLine, StreamError, stream
from tests.checker.record import Connection, Ending, Key, Payload, Recording, key

PATH = "/topics/trades/"
_PING = b'{"type":"ping"}'


class Trade(msgspec.Struct, frozen=True):
    n: int  # the publisher's sequence number
    note: str  # the publisher's name


class Line(msgspec.Struct, frozen=True):
    id: str
    data: Trade


_decode = msgspec.json.Decoder(Line).decode


class _Error(msgspec.Struct):
    type: str = ""


class _ErrorBody(msgspec.Struct):
    detail: list[_Error]


def error_type(body: bytes) -> str:
    """The ``type`` of a JSON error body's first detail, or ``"not JSON"``."""
    try:
        details = msgspec.json.decode(body, type=_ErrorBody).detail
    except msgspec.DecodeError:
        return "not JSON"
    return details[0].type if details else ""


@dataclass
class Endpoints:
    """Where clients connect: each worker with a port of its own, and the shared socket
    (``"shared"``). The run marks what is ``down``; no client picks ``idle`` by itself."""

    urls: dict[str, str]
    idle: str
    down: set[str] = field(default_factory=set)

    def pick(self, rng: random.Random, avoid: str | None = None) -> str:
        usable = [name for name in self.urls if name not in (self.idle, avoid)]
        up = [name for name in usable if name not in self.down]
        return rng.choice(sorted(up or usable or [self.idle]))


Shared = tuple[tuple[str, Payload], Key]  # an event as recorded, and its key


@dataclass
class Context:
    """What every client of a run shares."""

    http: httpx.AsyncClient
    endpoints: Endpoints
    recording: Recording
    held: Callable[[str], Awaitable[bool | None]]  # whether Redis still holds an id
    _lines: dict[bytes, Shared] = field(default_factory=dict)
    _events: dict[tuple[str, Payload], Shared] = field(default_factory=dict)

    def line(self, line: bytes) -> Shared:
        """The event a line carries, decoded once per distinct line: every client
        records the same object (a soak records millions of deliveries)."""
        found = self._lines.get(line)
        if found is None:
            found = self._lines[line] = self.event(_decode(line))
        return found

    def event(self, line: Line) -> Shared:
        event = (line.id, (line.data.note, line.data.n))
        found = self._events.get(event)
        if found is None:
            found = self._events[event] = (event, key(line.id))
        return found


class Client:
    """One consumer of the topic and the chain of connections it is on."""

    def __init__(self, name: str, rng: random.Random, context: Context) -> None:
        self.name, self.rng, self.context = name, rng, context
        self.last: str | None = None  # the id the next connection resumes with
        self.last_key: Key | None = None
        self.joined = asyncio.Event()  # set at its first 200
        self.refusals = 0  # 503s in a row

    # ---- kinds of client

    async def follow(self, hop: tuple[int, int] | None) -> None:
        endpoint = self.context.endpoints.pick(self.rng)
        while True:
            ending, _ = await self.connect(endpoint, self.rng.randint(*hop) if hop else None)
            if ending.kind == "left":  # a hop
                endpoint = self.context.endpoints.pick(self.rng, avoid=endpoint)
            else:
                endpoint = await self.recover(ending, endpoint)

    async def read(self, cycles: int, k: tuple[int, int]) -> None:
        endpoint = self.context.endpoints.pick(self.rng)
        for _ in range(cycles):
            await self.read_some(endpoint, self.rng.randint(*k))
            await asyncio.sleep(self.rng.uniform(0.05, 0.5))
            endpoint = self.context.endpoints.pick(self.rng, avoid=endpoint)

    async def probe(self, k: tuple[int, int]) -> None:
        await self.read_some(self.context.endpoints.pick(self.rng), self.rng.randint(*k))
        await self.read_some(self.context.endpoints.idle, self.rng.randint(*k))

    async def storm(self, victim: str, target: str, k: int) -> None:
        """Join on ``victim`` (again after a refusal) and stay until it dies, then resume
        on ``target`` and read ``k`` events."""
        while victim not in self.context.endpoints.down:
            ending, _ = await self.connect(victim, None)
            await self.recover(ending, victim)
            if self.joined.is_set():
                break
        await self.read_some(target, k)

    async def follow_with_library(self, endpoint: str) -> None:
        """``jsonlfn.client.stream`` resumes by itself; after a 410 (or when it gives
        up) this starts it again, afresh or with the last id."""
        watcher = _Watcher(self, endpoint)
        timeout = httpx.Timeout(10.0, read=None)
        hooks = {"response": [watcher.response]}
        async with httpx.AsyncClient(timeout=timeout, event_hooks=hooks) as http:
            try:
                while True:
                    await self._library_stream(http, watcher, endpoint)
                    await asyncio.sleep(0.05)
            finally:
                watcher.end(Ending("stopped"))

    # ---- connections

    async def read_some(self, endpoint: str, k: int) -> None:
        """``k`` events from ``endpoint`` (resuming elsewhere if need be), then leave."""
        while k > 0:
            ending, got = await self.connect(endpoint, k)
            k -= got
            if ending.kind == "left":
                return
            endpoint = await self.recover(ending, endpoint)

    async def connect(self, endpoint: str, stop_after: int | None) -> tuple[Ending, int]:
        """One request, resuming with ``self.last``, until the stream ends or it has
        ``stop_after`` events; returns its ending and how many events it got."""
        connection = self.open_connection(endpoint, self.last)
        headers = {"Accept-Encoding": "identity"}  # jsonlfn.client's clients take gzip
        if self.last is not None:
            headers["Last-Event-ID"] = self.last
        url = self.context.endpoints.urls[endpoint] + PATH
        try:
            async with self.context.http.stream("GET", url, headers=headers) as response:
                ending = await self._response(connection, response, stop_after)
        except httpx.TransportError as exc:
            ending = Ending("transport", detail=type(exc).__name__)
        except asyncio.CancelledError:
            self.close_connection(connection, Ending("stopped"))
            raise
        self.close_connection(connection, ending)
        return ending, len(connection.events)

    async def recover(self, ending: Ending, endpoint: str) -> str:
        """Where to go after ``ending``: the same worker after a 503 (a moment later),
        another after a drop or an end; a refusal other than 503 ends the chain."""
        if ending.kind == "status":
            if ending.status == 503:  # backing off as jsonlfn.client does, up to 2 s
                self.refusals += 1
                backoff = min(2.0, 0.1 * 2 ** (self.refusals - 1))
                await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.5))
                return endpoint
            self.last = self.last_key = None  # history gone: reload, start afresh
            return endpoint
        if ending.kind == "transport":
            await asyncio.sleep(self.rng.uniform(0.01, 0.1))  # the worker may be down
        return self.context.endpoints.pick(self.rng, avoid=endpoint)

    async def _response(
        self, connection: Connection, response: httpx.Response, stop_after: int | None
    ) -> Ending:
        if response.status_code != 200:
            return await self.refused(connection, response)
        self.joined.set()
        self.refusals = 0
        pending = b""
        async for chunk in response.aiter_raw():
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if not line or line == _PING:
                    continue
                try:
                    self.receive(connection, self.context.line(line))
                except msgspec.DecodeError:
                    return Ending("malformed", detail=repr(line[:120]))
                if stop_after is not None and len(connection.events) >= stop_after:
                    return Ending("left")
        return Ending("truncated", detail=repr(pending[:120])) if pending else Ending("clean")

    async def refused(self, connection: Connection, response: httpx.Response) -> Ending:
        status = response.status_code
        kind = error_type(await response.aread())
        held = None
        if status == 410 and connection.after is not None:
            held = await self.context.held(connection.after)
        return Ending("status", status, kind, held=held)

    def receive(self, connection: Connection, shared: Shared) -> None:
        event, self.last_key = shared
        connection.events.append(event)
        self.last = event[0]

    def open_connection(self, endpoint: str, after: str | None) -> Connection:
        connection = Connection(self.name, endpoint, after, time.monotonic())
        self.context.recording.connections.append(connection)
        return connection

    def close_connection(self, connection: Connection, ending: Ending) -> None:
        connection.ending, connection.closed = ending, time.monotonic()

    async def _library_stream(
        self, http: httpx.AsyncClient, watcher: _Watcher, endpoint: str
    ) -> None:
        url = self.context.endpoints.urls[endpoint] + PATH
        headers = {} if self.last is None else {"Last-Event-ID": self.last}
        lines: AsyncIterator[Line] = stream(
            url, model=Line, id="id", resume=True, follow=True, headers=headers, client=http,
            backoff=0.05, max_backoff=0.5, max_retries=50,
        )  # fmt: skip
        try:
            async for line in lines:
                watcher.receive(line)
        except MalformedLine as exc:
            watcher.end(Ending("malformed", detail=str(exc)[:200]))
        except StreamError as exc:
            if exc.status is not None:  # a refusal, which the hook recorded
                self.last = self.last_key = None
            else:  # it gave up retrying
                watcher.end(Ending("transport", detail=str(exc)[:200]))


class _Watcher:
    """Records the connections ``jsonlfn.client.stream`` makes for a client, from an
    httpx response hook: each response opens one."""

    def __init__(self, client: Client, endpoint: str) -> None:
        self.client, self.endpoint = client, endpoint
        self.current: Connection | None = None

    async def response(self, response: httpx.Response) -> None:
        self.end(Ending("resumed"))
        after = response.request.headers.get("Last-Event-ID")
        connection = self.client.open_connection(self.endpoint, after)
        if response.status_code == 200:
            self.current = connection
            self.client.joined.set()
            return
        ending = await self.client.refused(connection, response)
        self.client.close_connection(connection, ending)

    def receive(self, line: Line) -> None:
        if self.current is None:  # cannot happen: a line comes after its response
            raise RuntimeError("jsonlfn.client.stream yielded a line before a response")
        self.client.receive(self.current, self.client.context.event(line))

    def end(self, ending: Ending) -> None:
        if self.current is not None:
            self.client.close_connection(self.current, ending)
            self.current = None
