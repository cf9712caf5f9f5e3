"""Scenario F's load side: one process holding many subscribers (``tests.bench.fanout``).

Each subscriber is a raw asyncio ``Protocol`` on uvloop (no HTTP library): it sends one
HTTP/1.1 GET, waits for the headers, then parses the chunked body itself. Every line's
delay is ``time.time()`` at ``data_received`` minus the line's ``t`` (stamped at
publish, same clock), counted in a histogram of 0.1 ms bins. A line's ``t`` is parsed
once per distinct line (every subscriber gets the same bytes), so a line costs the
client a ``split``, a dict lookup and an increment.

The parent drives it over a ``multiprocessing`` pipe: ``connect``, ``reset``,
``collect``, ``drop``, ``exit`` (see ``serve``).
"""

from __future__ import annotations

import asyncio
import json
import time
from multiprocessing.connection import Connection
from typing import Any, cast

import uvloop

BIN_S = 1e-4  # histogram resolution: 0.1 ms
CAP = 600_000  # the last bin holds every delay of 60 s or more
_CONNECTING = 200  # TCP connects in flight: well under the listen backlog (somaxconn)


class Lines:
    """What every subscriber of this process received since the last ``reset``."""

    def __init__(self) -> None:
        self.bins = [0] * (CAP + 1)
        self.sent_at: dict[bytes, float] = {}

    def reset(self) -> None:
        self.bins = [0] * (CAP + 1)
        self.sent_at.clear()

    def record(self, chunk: bytes, now: float) -> int:
        """Count the lines of ``chunk`` (whole lines: neither jsonlfn nor the bare floor,
        which sends each event's line as jsonlfn does, one chunk each, writes partial ones)."""
        bins, sent_at = self.bins, self.sent_at
        lines = chunk.split(b"\n")
        lines.pop()  # the chunk ends with a newline
        for line in lines:
            sent = sent_at.get(line)
            if sent is None:
                sent = sent_at[line] = json.loads(line)["data"]["t"]
            bins[min(max(int((now - sent) / BIN_S), 0), CAP)] += 1
        return len(lines)


class Subscriber(asyncio.Protocol):
    """One stream: sends the request, counts the lines of its chunked body."""

    def __init__(self, request: bytes, lines: Lines, headers: asyncio.Future[None]) -> None:
        self.request, self.lines, self.headers = request, lines, headers
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.started = False
        self.closed = False
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is no subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.headers.done():
            self.headers.set_exception(ConnectionError("closed before its headers"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.pending + data if self.pending else data
        if not self.started:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.pending = buffer
                return
            self._started(buffer[:end])
            buffer = buffer[end + 4 :]
        self.pending = buffer[self._chunks(buffer, now) :]

    def _started(self, head: bytes) -> None:
        self.started = True
        if not head.startswith(b"HTTP/1.1 200"):
            self.headers.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
        elif not self.headers.done():
            self.headers.set_result(None)

    def _chunks(self, buffer: bytes, now: float) -> int:
        """Record every whole chunk of ``buffer``; returns where the rest begins."""
        at = 0
        while (eol := buffer.find(b"\r\n", at)) >= 0:
            size = int(buffer[at:eol], 16)
            start = eol + 2
            if start + size + 2 > len(buffer):
                break
            if size:
                self.count += self.lines.record(buffer[start : start + size], now)
            at = start + size + 2
        return at


class Client:
    """This process's subscribers, all of one path on one server."""

    def __init__(self) -> None:
        self.lines = Lines()
        self.subscribers: list[Subscriber] = []
        self.cpu = self.wall = 0.0

    async def connect(self, port: int, path: str, n: int) -> dict[str, Any]:
        """Top up to ``n`` open subscribers, and wait until each has its headers."""
        self.subscribers = [s for s in self.subscribers if not s.closed]
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        gate = asyncio.Semaphore(_CONNECTING)
        new = await asyncio.gather(
            *(self._open(port, request, gate) for _ in range(n - len(self.subscribers)))
        )
        failed = [error for error in new if isinstance(error, BaseException)]
        self.subscribers += [s for s in new if isinstance(s, Subscriber)]
        return {"open": len(self.subscribers), "failed": len(failed), "error": repr(failed[:1])}

    async def _open(
        self, port: int, request: bytes, gate: asyncio.Semaphore
    ) -> Subscriber | BaseException:
        loop = asyncio.get_running_loop()
        headers: asyncio.Future[None] = loop.create_future()
        try:
            async with gate:
                _, subscriber = await loop.create_connection(
                    lambda: Subscriber(request, self.lines, headers), "127.0.0.1", port
                )
            await asyncio.wait_for(headers, 30)
        except (OSError, TimeoutError) as exc:
            return exc
        return subscriber

    def reset(self) -> None:
        self.lines.reset()
        for subscriber in self.subscribers:
            subscriber.count = 0
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    async def collect(self, expected: int, drain: float) -> dict[str, Any]:
        """Wait up to ``drain`` seconds for ``expected`` lines on each, then report."""
        deadline = time.perf_counter() + drain
        while time.perf_counter() < deadline and any(  # noqa: ASYNC110 - counts have no callback
            s.count < expected and not s.closed for s in self.subscribers
        ):
            await asyncio.sleep(0.02)
        counts = [s.count for s in self.subscribers]
        return {
            "bins": {i: n for i, n in enumerate(self.lines.bins) if n},
            "lines": sum(counts),
            "lost": sum(max(expected - c, 0) for c in counts),
            "extra": sum(max(c - expected, 0) for c in counts),
            "closed": sum(s.closed for s in self.subscribers),
            "cpu": time.process_time() - self.cpu,
            "wall": time.perf_counter() - self.wall,
        }

    def close(self) -> None:
        for subscriber in self.subscribers:
            if subscriber.transport is not None:
                subscriber.transport.close()
        self.subscribers = []


async def _serve(pipe: Connection) -> None:
    client = Client()
    loop = asyncio.get_running_loop()
    while True:
        command, *args = await loop.run_in_executor(None, pipe.recv)
        if command == "connect":
            pipe.send(await client.connect(*args))
        elif command == "reset":
            client.reset()
            pipe.send({})
        elif command == "collect":
            pipe.send(await client.collect(*args))
        else:  # "drop", or "exit"
            client.close()
            await asyncio.sleep(0.1)
            pipe.send({})
            if command == "exit":
                return


def serve(pipe: Connection) -> None:
    """A client process's main: obey ``pipe`` until told to ``exit``."""
    uvloop.run(_serve(pipe))
