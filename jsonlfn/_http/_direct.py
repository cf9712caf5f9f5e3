"""Serving registry routes straight from the ASGI server (``registry.asgi(app)``).

Django's ASGI handler costs about 400 µs of CPU per request, most of it in thread hops
(its sync signal receivers, ``response.close()``) and two tasks per request. Streams
don't need most of it: this app resolves the URL with Django's own resolver, and when
the match is a direct route of the registry it builds the ``ASGIRequest``, runs the
same code as the Django view (``open_stream``) and writes the batches to ``send``
itself. Everything else (other views, admin, websockets, lifespan) goes to the wrapped
application untouched.

Kept from Django's handler: the project's ``MIDDLEWARE``, run around the stream (see
``_middleware``: nothing to run, no cost, while it is empty), the body read before the
view runs (bounded here by ``DATA_UPLOAD_MAX_MEMORY_SIZE``: 413 without reading the
rest), ``ALLOWED_HOSTS`` (400), the script prefix from
``root_path``/``FORCE_SCRIPT_NAME``, ``request.resolver_match``, a
``ThreadSensitiveContext`` per request, the request signals (see ``_lifecycle``),
cancelling the stream when the client leaves, a logged answer for every failure (4xx
and 5xx to ``django.request``; only the client's own disconnect is silent), and a
``ResolverMatch`` of each request's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from io import BytesIO
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.http import HttpResponseBase
from django.urls import ResolverMatch, set_script_prefix
from django.utils.log import log_response

from jsonlfn._errors import BadRequest, HttpError, PayloadTooLarge, RequestTimeout
from jsonlfn._http import _lifecycle
from jsonlfn._http._middleware import Chain, Chains, opened_stream
from jsonlfn._http._resolutions import Resolutions
from jsonlfn._http._response import keep_alive
from jsonlfn._http._send import (
    Message,
    Send,
    Watch,
    response_start,
    send_response,
    send_stream,
    stream_start,
)
from jsonlfn._http._view import Methods, Opened, open_stream
from jsonlfn._http._watch import ClientWatch
from jsonlfn._settings import conf
from jsonlfn._stream._sendtimer import TIMED_OUT

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DirectApp:
    """An ASGI app serving the registry's direct routes itself, the rest through ``app``."""

    def __init__(self, app: ASGIApp, routes: Mapping[Callable[..., Any], Methods]) -> None:
        self.app = app
        self._routes = routes  # the registry's direct route views; filled by urls()
        self._resolved = Resolutions(routes)
        self._chains = Chains(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = self._resolve(scope)
            if match is not None:
                methods, chain = self._routes[match.func], self._chains.current()
                await _serve(match, methods, scope, receive, send, chain=chain)
                return
        await self.app(scope, receive, send)

    def _resolve(self, scope: Scope) -> ResolverMatch | None:
        prefix = get_script_prefix(scope)
        path: str = scope["path"]
        return self._resolved.match(path.removeprefix(prefix) if prefix else path)


async def _serve(
    match: ResolverMatch,
    methods: Methods,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    chain: Chain | None,
) -> None:
    # Entered and left by hand, not with `async with`: that would hold a bound __aexit__
    # for the whole stream (one object more per open stream; it ignores the exception).
    context = ThreadSensitiveContext()
    await context.__aenter__()  # type: ignore[no-untyped-call]  # asgiref: untyped
    try:
        try:
            body = await _read_body(scope, receive)
        except HttpError as exc:
            with contextlib.suppress(OSError):  # the client left
                await _answer(exc.response(), None, send, scope["path"])
            return
        if body is None:
            return  # the client left before its body arrived
        set_script_prefix(get_script_prefix(scope))
        await _lifecycle.started(scope)
        request = ASGIRequest(scope, BytesIO(body))
        request.resolver_match = match
        try:
            await _respond(request, match, methods, receive, send, chain=chain)
        finally:
            await _lifecycle.finished(context)
    finally:
        await context.__aexit__(None, None, None)  # type: ignore[no-untyped-call]


async def _respond(
    request: ASGIRequest,
    match: ResolverMatch,
    methods: Methods,
    receive: Receive,
    send: Send,
    *,
    chain: Chain | None,
) -> None:
    task = asyncio.current_task()
    assert task is not None
    watch = ClientWatch(receive, task)
    try:
        refused = _refused_host(request)
        if refused is not None:
            await _answer(refused, request, send)
            return
        if chain is not None:  # the chain answers every failure itself, as Django's does
            await _through(chain, request, send, watch)
            return
        opened = await _opened(request, match, methods)
        if isinstance(opened, HttpResponseBase):
            await _answer(opened, request, send)
            return
        start, lines = stream_start(opened.headers, keep_alive(request.scope)), opened.lines
        del opened  # an open stream holds one object fewer (tests/test_stream_objects.py)
        await send_stream(start, lines, send, watch)
    except asyncio.CancelledError:
        stalled = task in TIMED_OUT
        TIMED_OUT.discard(task)
        if not (watch.left or stalled) or task.uncancel():
            raise  # cancelled by the server, not because the client left or stalled
    except OSError:
        pass  # only sends are left in here: the client left (servers raise OSError kinds)
    except Exception as exc:  # a bug of jsonlfn's, or a server's, once the headers left
        await _lifecycle.server_error(request, exc)
    finally:
        watch.stop()


async def _opened(
    request: ASGIRequest, match: ResolverMatch, methods: Methods
) -> Opened | HttpResponseBase:
    """The primed stream, or the answer instead: the mapped 4xx, or a logged 500 for
    anything else the stream raised while opening (``OSError`` kinds included:
    ``TimeoutError``, ``ConnectionRefusedError``... are the function's, not the client's)."""
    try:
        endpoint = methods.pick(request.method)
        return await open_stream(endpoint, request, match.kwargs, asgi=True)
    except HttpError as exc:
        return exc.response()
    except Exception as exc:
        return await _lifecycle.server_error(request, exc)


async def _answer(
    response: HttpResponseBase, request: ASGIRequest | None, send: Send, path: str = ""
) -> None:
    """Send an answer other than the stream, logged to ``django.request`` when it is
    4xx/5xx, as Django's handler logs every such response (once)."""
    if response.status_code >= 400:
        log_response(
            "%s: %s",
            response.reason_phrase,
            request.path if request is not None else path,
            response=response,  # type: ignore[arg-type]  # any response, in Django
            request=request,
        )
    await send_response(response, send)


async def _through(chain: Chain, request: ASGIRequest, send: Send, watch: Watch) -> None:
    """The project's middleware around the stream: the batches go out with the headers
    the middleware set, unless they answered otherwise (then the stream is closed)."""
    try:
        response = await chain(request)
        stream = opened_stream(request)
        if response is stream and stream is not None and stream.untouched():
            opened = stream.opened
            await send_stream(response_start(stream), opened.lines, send, watch)
            return
        if stream is not None and response is not stream and stream.opened.lines is not None:
            await stream.opened.lines.aclose()  # answered without it: the function ends now
        await _answer(response, request, send)  # a middleware's own answer, or wrapped content
    finally:
        stream = opened_stream(request)
        if stream is not None and stream.opened.lines is not None:
            await stream.opened.lines.aclose()  # a no-op once the stream was sent


def _refused_host(request: ASGIRequest) -> HttpResponseBase | None:
    """The 400 for a ``Host`` outside ``ALLOWED_HOSTS`` (logged as Django logs it)."""
    try:
        request.get_host()
    except DisallowedHost as exc:
        logging.getLogger("django.security.DisallowedHost").error(
            str(exc), extra={"status_code": 400, "request": request}
        )
        error = BadRequest("Invalid Host header", loc=["headers", "Host"])
        error._logged = True  # one record, as Django's handler logs it
        return error.response()
    return None


async def _read_body(scope: Scope, receive: Receive) -> bytes | None:
    """The whole request body, or None when the client left; 413 past the limit, 408
    when it takes longer than ``BODY_TIMEOUT`` (a client dripping it byte by byte)."""
    limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    declared = _declared_length(scope)
    if limit is not None and declared is not None and declared > limit:
        raise PayloadTooLarge(limit)
    timeout = conf().BODY_TIMEOUT
    if declared == 0 or timeout is None:  # no body: servers answer receive() at once
        return await _receive_body(receive, limit)
    try:
        async with asyncio.timeout(timeout):
            return await _receive_body(receive, limit)
    except TimeoutError:
        raise RequestTimeout(timeout) from None


async def _receive_body(receive: Receive, limit: int | None) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if limit is not None and size > limit:
                raise PayloadTooLarge(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _declared_length(scope: Scope) -> int | None:
    """The body's ``Content-Length`` (0 without one), or None when it is chunked."""
    length = 0
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else 0
        elif name == b"transfer-encoding":
            return None
    return length
