"""A typed client for JSON Lines streams, with resume.

>>> async for user in stream("https://api.example.com/events/", model=User, id="id",
...                          resume=True, headers={"Authorization": "Bearer ..."}):
...     handle(user)

Each line is decoded and validated by msgspec into ``model``. With ``resume=True`` a
dropped connection is reopened with exponential backoff and jitter, sending
``Last-Event-ID`` of the last item yielded, so the caller sees no gap and no duplicate
(the server must honour the header, e.g. with jsonlfn's ``@resume``). Pings are
skipped. A line that does not decode raises ``MalformedLine`` with its number.

A ``text/event-stream`` response (ask for it with ``headers={"Accept":
"text/event-stream"}``) is read as Server-Sent Events: each event's ``data`` is the
item, its ``id`` is sent back as ``Last-Event-ID``, and the server's ``retry:`` sets the
first reconnection delay (doubled after each failure in a row).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx
import msgspec

from jsonlfn._client._failover import Failover, GiveUp, Urls, retry_after
from jsonlfn._client._sse import ServerSentEvent, SSEDecoder

__all__ = [
    "ErrorDetail",
    "ErrorModel",
    "MalformedLine",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamError",
    "stream",
]

T = TypeVar("T")

PING_LINE = b'{"type":"ping"}'
SSE_TYPE = "text/event-stream"
HISTORY_GONE_EVENT = "history_gone"  # jsonlfn's in-band 410 on Server-Sent Events
_sleep = asyncio.sleep  # the reconnection delays (tests record them)


class ErrorDetail(msgspec.Struct):
    msg: str
    type: str = ""
    loc: list[str | int] = []


class ErrorModel(msgspec.Struct):
    """The JSON error body of a refused request: ``{"detail": [...]}``."""

    detail: list[ErrorDetail]


class StreamError(Exception):
    """The server refused the stream (4xx), or it could not be (re)opened."""

    def __init__(self, msg: str, *, status: int | None = None, error: ErrorModel | None = None):
        super().__init__(msg)
        self.status = status
        self.error = error


class MalformedLine(StreamError):
    """A line that is not valid JSON for the model; ``line_number`` counts from 1."""

    def __init__(self, line_number: int, line: bytes, reason: str) -> None:
        super().__init__(f"line {line_number} does not decode: {reason}: {line[:200]!r}")
        self.line_number = line_number
        self.line = line


class _Retry(Exception):
    """A 5xx or 429: worth another try, after ``retry_after`` seconds if it said so."""

    def __init__(self, msg: str, retry_after: float | None = None) -> None:
        super().__init__(msg)
        self.retry_after = retry_after


class _Reading:
    """What one response told the reconnection loop: the last id, the retry delay."""

    __slots__ = ("last_id", "retry")

    def __init__(self) -> None:
        self.last_id: Any = None
        self.retry: float | None = None


async def stream(
    url: Urls,
    *,
    method: str = "GET",
    json: Any = None,
    content: bytes | None = None,
    model: type[T] | Any = Any,
    id: str | None = None,  # noqa: A002 - mirrors jsonl_stream(id=...)
    resume: bool = False,
    follow: bool = False,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    timeout: float | httpx.Timeout = 30.0,  # noqa: ASYNC109 - httpx's HTTP timeouts
    max_retries: int = 5,
    give_up_after: float | None = None,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    skip_pings: bool = True,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[T]:
    """Yield the items of the JSON Lines (or Server-Sent Events) stream at ``url``.

    ``resume`` reconnects after a dropped connection or a 5xx/429, sending the last
    item's ``id`` as ``Last-Event-ID``; ``follow`` also reconnects after a clean end
    (for endless streams, e.g. across a server restart). ``url`` may be several URLs
    of one deployment (each failure moves on to the next, skipping one whose
    ``Retry-After`` still runs) or a function of the attempt number (0, 1, ...) that
    picks one. The wait between tries grows from ``backoff`` seconds, doubled after
    each failure in a row, with jitter, up to ``max_backoff`` (a server's SSE
    ``retry:`` replaces ``backoff``), and is at least the ``Retry-After`` a 503 or 429
    asked for when every URL has one running. It gives up with ``StreamError`` after
    ``max_retries`` failures in a row, or once failing has lasted (or would last, by
    the next try) ``give_up_after`` seconds. A 4xx other than 429 (a 410 included) is
    ``StreamError`` at once. ``method``, ``json`` (a value sent as a JSON body) and
    ``content`` (raw body bytes) shape the request; each reconnection sends the same
    body. Pass ``client`` to reuse an ``httpx.AsyncClient``.
    """
    body = msgspec.json.encode(json) if json is not None else content
    decode = msgspec.json.Decoder(model).decode
    owned = client is None
    http = client if client is not None else httpx.AsyncClient(timeout=timeout)
    failover = Failover(
        url,
        max_retries=max_retries,
        give_up_after=give_up_after,
        backoff=backoff,
        max_backoff=max_backoff,
    )
    reading = _Reading()
    try:
        while True:
            target = failover.url()
            sent = dict(headers or {})
            if json is not None:
                sent.setdefault("Content-Type", "application/json")
            if reading.last_id is not None:
                sent["Last-Event-ID"] = str(reading.last_id)
            try:
                request = http.stream(method, target, headers=sent, params=params, content=body)
                async with request as response:
                    await _check(response)
                    sse = _is_sse(response)
                    items = (
                        _events(response, decode, reading)
                        if sse
                        else _items(response, decode, skip_pings)
                    )
                    async for item in items:
                        if id is not None and not sse:  # SSE: the event's id
                            reading.last_id = _field(item, id)
                        failover.connected()
                        yield item
                if not follow:
                    return
            except (httpx.TransportError, _Retry) as exc:
                if not resume:
                    raise StreamError(f"stream {target} failed after 1 attempt(s)") from exc
                failover.retry = reading.retry
                try:
                    wait = failover.failed(target, getattr(exc, "retry_after", None))
                except GiveUp as why:
                    tries = failover.failures
                    msg = f"stream {target} failed after {tries} attempt(s): {why}"
                    raise StreamError(msg) from exc
                await _sleep(wait)
    finally:
        if owned:
            await http.aclose()


async def _check(response: httpx.Response) -> None:
    status = response.status_code
    if status >= 500 or status == 429:
        raise _Retry(f"HTTP {status}", retry_after(response.headers.get("retry-after")))
    if status >= 400:
        body = await response.aread()
        error = decode_error(body)
        raise StreamError(f"HTTP {status}: {body[:200]!r}", status=status, error=error)


async def _items(response: httpx.Response, decode: Any, skip_pings: bool) -> AsyncIterator[Any]:
    """Items of complete lines; a partial line at a drop is discarded (the transport
    error propagates), and at a clean end it is the last line (JSON Lines allows it)."""
    pending = b""
    number = 0
    async for chunk in response.aiter_bytes():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            number += 1
            if line and not (skip_pings and line == PING_LINE):
                yield decode_line(decode, line, number)
    if pending.strip():
        yield decode_line(decode, pending, number + 1)


def _is_sse(response: httpx.Response) -> bool:
    media: str = response.headers.get("content-type", "")
    return media.partition(";")[0].strip().lower() == SSE_TYPE


async def _events(response: httpx.Response, decode: Any, reading: _Reading) -> AsyncIterator[Any]:
    """Items of a Server-Sent Events response: each event's ``data``; its id and the
    ``retry:`` delay go to ``reading``. An event cut off by a drop is discarded."""
    decoder = SSEDecoder()
    pending = b""
    number = 0
    async for chunk in response.aiter_bytes():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            number += 1
            event = decoder.feed(line)
            if event is None:
                continue
            if event.retry is not None:
                reading.retry = event.retry / 1000
            item = decode_event(decode, event, number)
            if event.id:
                reading.last_id = event.id
            yield item


def decode_event(decode: Any, event: ServerSentEvent, number: int) -> Any:
    """An event's ``data`` through ``decode``; ``StreamError`` (410) for jsonlfn's
    ``history_gone`` event, ``MalformedLine`` (with the line that ended the event)."""
    if event.event == HISTORY_GONE_EVENT:
        error = decode_error(event.data.encode())
        raise StreamError(f"HTTP 410 (in-band): {event.data[:200]!r}", status=410, error=error)
    return decode_line(decode, event.data.encode(), number)


def decode_line(decode: Any, line: bytes, number: int) -> Any:
    """One line through ``decode``, or ``MalformedLine`` naming its number."""
    try:
        return decode(line)
    except msgspec.MsgspecError as exc:
        raise MalformedLine(number, line, str(exc)) from exc


def decode_error(body: bytes) -> ErrorModel | None:
    """The JSON error body ``{"detail": [...]}``, or ``None`` for any other body."""
    try:
        return msgspec.json.decode(body, type=ErrorModel)
    except msgspec.MsgspecError:
        return None


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)
