"""Helpers for testing jsonlfn endpoints (the pytest plugin's fixtures use them).

>>> async with StreamClient().stream("/api/events/", model=Event) as response:
...     assert response.status == 200
...     first = await anext(response)  # reads lazily: endless streams are fine
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import jwt
import msgspec
import orjson
from django.conf import settings

from jsonlfn.client import (
    PING_LINE,
    SSE_TYPE,
    ErrorModel,
    ServerSentEvent,
    SSEDecoder,
    decode_error,
    decode_event,
    decode_line,
)

__all__ = ["LiveServer", "StreamClient", "StreamResponse", "jwt_token", "project_application"]


def jwt_token(
    *,
    sub: str = "user",
    scopes: Iterable[str] = (),
    expires_in: float | None = 3600,
    key: Any = None,
    algorithm: str = "HS256",
    headers: Mapping[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed JWT for tests. By default HS256 with ``SECRET_KEY``, what ``JWTAuth()``
    accepts without configuration; pass ``key``/``algorithm`` (and ``headers`` such as a
    ``kid``) for other set-ups. ``expires_in=None`` leaves ``exp`` out."""
    payload: dict[str, Any] = {"sub": sub, "iat": int(time.time()), **claims}
    if scopes:
        payload["scope"] = " ".join(scopes)
    if expires_in is not None:
        payload["exp"] = int(time.time() + expires_in)
    signing_key = settings.SECRET_KEY if key is None else key
    return jwt.encode(payload, signing_key, algorithm=algorithm, headers=dict(headers or {}))


class StreamResponse:
    """A response being read: ``status``, ``headers``, ``error`` (for 4xx/5xx with the
    JSON error body), and an async iterator of decoded items (pings skipped).

    A ``text/event-stream`` response yields each event's decoded ``data``
    (``last_event`` is that event: name, id, retry), or its events themselves from
    ``events()``; jsonlfn's ``history_gone`` event raises ``StreamError`` (410) there.
    """

    def __init__(
        self, status: int, headers: dict[str, str], messages: asyncio.Queue[Any], decode: Any
    ) -> None:
        self.status = status
        self.headers = headers
        self.error: ErrorModel | None = None
        self._messages = messages
        self._decode = decode
        self._lines: list[bytes] = []
        self._pending = b""
        self._number = 0
        self._ended = False
        media = headers.get("content-type", "").partition(";")[0].strip()
        self._sse = SSEDecoder() if media == SSE_TYPE else None
        self.last_event: ServerSentEvent | None = None

    def __aiter__(self) -> StreamResponse:
        return self

    async def __anext__(self) -> Any:
        if self._sse is not None:
            event = await self._next_event()
            return decode_event(self._decode, event, self._number)
        while True:
            while self._lines:
                line = self._lines.pop(0)
                self._number += 1
                if line and line != PING_LINE:
                    return decode_line(self._decode, line, self._number)
            if self._ended:
                raise StopAsyncIteration
            await self._read()

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        """The events of a ``text/event-stream`` response, as ``EventSource`` sees them."""
        if self._sse is None:
            raise TypeError(f"not a {SSE_TYPE} response: {self.headers.get('content-type')}")
        while True:
            try:
                yield await self._next_event()
            except StopAsyncIteration:
                return

    async def _next_event(self) -> ServerSentEvent:
        assert self._sse is not None
        while True:
            while self._lines:
                self._number += 1
                event = self._sse.feed(self._lines.pop(0))
                if event is not None:
                    self.last_event = event
                    return event
            if self._ended:
                raise StopAsyncIteration  # an event the end cut off is discarded
            await self._read()

    async def body(self) -> bytes:
        """The rest of the body, raw (for error responses and finite streams)."""
        data = self._pending + b"".join(line + b"\n" for line in self._lines)
        self._lines, self._pending = [], b""
        while not self._ended:
            message = await self._messages.get()
            data += message.get("body", b"")
            self._ended = not message.get("more_body", False)
        return data

    async def _read(self) -> None:
        message = await self._messages.get()
        self._pending += message.get("body", b"")
        *complete, self._pending = self._pending.split(b"\n")
        self._lines += complete
        if not message.get("more_body", False):
            self._ended = True
            if self._pending:
                self._lines.append(self._pending)
                self._pending = b""


def project_application() -> Any:
    """The project's ASGI app: ``settings.ASGI_APPLICATION`` (a dotted path, as Daphne and
    Channels name it) when set, e.g. one wrapped by ``registry.asgi()``; else Django's."""
    from django.conf import settings  # noqa: PLC0415

    dotted = getattr(settings, "ASGI_APPLICATION", None)
    if dotted:
        from django.utils.module_loading import import_string  # noqa: PLC0415

        return import_string(dotted)
    from django.core.asgi import get_asgi_application  # noqa: PLC0415

    return get_asgi_application()


class StreamClient:
    """Drives the project's ASGI application in-process (no sockets), reading lazily.

    httpx's ASGI transport reads whole bodies, which never ends on an endless stream;
    this client hands each body message over as it comes, and leaving ``stream()``
    disconnects, so the stream function is closed before the block exits.
    """

    def __init__(self, app: Any = None) -> None:
        self.app = project_application() if app is None else app

    @contextlib.asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        method: str = "GET",
        model: Any = Any,
        headers: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None = None,
        query: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
    ) -> AsyncIterator[StreamResponse]:
        """Send a request; ``headers`` may be pairs (to repeat a header) and their values
        bytes (sent as they are), ``json`` a value to send as a JSON body, ``content``
        raw body bytes."""
        body = orjson.dumps(json) if json is not None else (content or b"")
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        names = {name.lower() for name, _ in pairs}
        if "accept" not in names:
            pairs.append(("accept", "application/jsonl"))
        if json is not None and "content-type" not in names:
            pairs.append(("content-type", "application/json"))
        if body:
            pairs.append(("content-length", str(len(body))))
        scope = _scope(method, path, query, pairs)
        messages: asyncio.Queue[Any] = asyncio.Queue()
        gone = asyncio.Event()
        task = asyncio.create_task(self.app(scope, _receiver(body, gone), messages.put))
        try:
            start = await _response_start(messages, task)
            response = StreamResponse(
                start["status"],
                {k.decode().lower(): v.decode() for k, v in start["headers"]},
                messages,
                msgspec.json.Decoder(model).decode,
            )
            if response.status >= 400:
                response.error = decode_error(await response.body())
            yield response
        finally:
            gone.set()  # the client leaves: the app sees http.disconnect
            await asyncio.wait_for(task, timeout=10)


async def _response_start(messages: asyncio.Queue[Any], app: asyncio.Task[Any]) -> Any:
    """The app's first message; the app's own exception if it ends before sending one
    (a failing app would otherwise leave the test waiting for ever)."""
    getting = asyncio.ensure_future(messages.get())
    await asyncio.wait({getting, app}, return_when=asyncio.FIRST_COMPLETED)
    if getting.done():
        return getting.result()
    getting.cancel()
    app.result()  # raises what the application raised
    raise RuntimeError("the ASGI application returned without starting a response")


def _scope(
    method: str,
    path: str,
    query: Mapping[str, str] | None,
    headers: list[tuple[str, str | bytes]],
) -> dict[str, Any]:
    route, _, query_string = path.partition("?")
    if query:
        query_string = "&".join(filter(None, [query_string, urlencode(query)]))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query_string.encode(),
        "root_path": "",
        "headers": [
            (k.lower().encode(), v if isinstance(v, bytes) else v.encode())
            for k, v in [("host", "testserver"), *headers]
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def _receiver(body: bytes, gone: asyncio.Event) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive


class LiveServer:
    """uvicorn serving an ASGI app on a free loopback port, in a background thread.

    >>> server = LiveServer(get_asgi_application()); server.start()
    >>> server.url  # "http://127.0.0.1:<port>"
    >>> server.stop()
    """

    def __init__(self, app: Any, **config: Any) -> None:
        import uvicorn  # noqa: PLC0415 - a test-time dependency only

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        options = {"lifespan": "off", "log_level": "warning", "timeout_graceful_shutdown": 2}
        self.server = uvicorn.Server(uvicorn.Config(app, **{**options, **config}))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
