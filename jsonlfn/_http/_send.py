"""Writing responses to an ASGI ``send`` on the direct path.

A stream's batches go out one message each, the last one ending the response. Any
other Django response (an error, or what a middleware answered instead of the stream:
a CORS preflight, a redirect) goes out as Django's ASGI handler sends it: its headers,
its cookies as ``Set-Cookie``, then its content, streamed when it is streaming.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from django.http import HttpResponseBase

from jsonlfn._http._response import Headers
from jsonlfn._stream._loop import Lines

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]


class Watch(Protocol):
    """What notices the client leave (``_watch.ClientWatch``)."""

    def stop(self) -> None: ...


async def send_stream(start: Message, lines: Lines | None, send: Send, watch: Watch) -> None:
    """Send ``start``, then each batch; the last one ends the response (one write).

    ``lines`` is None for HEAD. ``watch`` stops before the last write: servers report
    the finished response as a disconnect, which is no longer news then. (The watch,
    not its bound ``stop``: one object fewer held by every open stream.)
    """
    last = b""
    try:
        await send(start)
        if lines is not None:
            async for batch in lines:
                if lines.ended:
                    last = batch
                    break
                await send({"type": "http.response.body", "body": batch, "more_body": True})
    finally:
        if lines is not None:
            await lines.aclose()  # also when the headers never left: the function ends
    watch.stop()
    await send({"type": "http.response.body", "body": last, "more_body": False})


_START_HEADERS: dict[tuple[Headers, bool], RawHeaders] = {}


def stream_start(named: Headers, http11: bool) -> Message:
    """The start message of a stream that no middleware touched (cached per headers)."""
    headers = _START_HEADERS.get((named, http11))
    if headers is None:
        pairs = [*named, ("Connection", "keep-alive")] if http11 else list(named)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
        _START_HEADERS[(named, http11)] = headers
    return {"type": "http.response.start", "status": 200, "headers": headers}


def response_start(response: HttpResponseBase) -> Message:
    """The start message of a Django response: status, headers and cookies."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.OutputString().encode("latin-1")))
    return {"type": "http.response.start", "status": response.status_code, "headers": headers}


async def send_response(response: HttpResponseBase, send: Send) -> None:
    """Send a whole Django response; a streaming one chunk by chunk, as Django does."""
    await send(response_start(response))
    if not response.streaming:
        body: bytes = response.content  # type: ignore[attr-defined]
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    async for chunk in response:  # type: ignore[attr-defined]
        await send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
