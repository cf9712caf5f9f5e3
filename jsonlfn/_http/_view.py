"""From a stream function's spec to an async Django view.

Per request: method (405), server check, negotiation (406), request components (400),
then the function is primed to its first item (its ``HttpError`` or an invalid first
item become real error responses) and the rest is streamed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase

from jsonlfn._auth._backends import AuthOptions, Identity, authenticate
from jsonlfn._errors import (
    HistoryGone,
    HttpError,
    MethodNotAllowed,
    NotAcceptable,
    SpecError,
    from_django,
)
from jsonlfn._http import _lifecycle
from jsonlfn._http._negotiation import JSONL_TYPES, SSE_TYPE, SSE_TYPES, accepts_gzip, negotiate
from jsonlfn._http._params import Parser, build_parsers, parse_components
from jsonlfn._http._response import Headers, JsonlResponse, keep_alive, stream_headers
from jsonlfn._settings import conf
from jsonlfn._signature import accepts, check_call, path_parameters
from jsonlfn._spec import RESUME_KEYWORD, PingOptions, Spec, describe, get_spec
from jsonlfn._stream._capacity import Slot, admit
from jsonlfn._stream._loop import Limits, Lines, Plan, prime, pump
from jsonlfn._stream._producer import Producer
from jsonlfn._stream._sse import HISTORY_GONE_EVENT, named_event

StreamFunction = Callable[..., AsyncGenerator[Any, None]]
View = Callable[..., Coroutine[Any, Any, HttpResponseBase]]


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """A stream function compiled for serving: parsers and stream plan built once."""

    fn: StreamFunction
    parsers: Mapping[str, Parser]
    plan: Plan
    sse_plan: Plan | None  # with @sse: the plan for Server-Sent Events
    prime_timeout: float | None
    ping_every: float | None
    ping_from_settings: bool  # no @ping: the PING_INTERVAL setting decides
    auth: AuthOptions | None
    pass_auth: bool  # the function declares an `auth` parameter
    compress: bool | None = None  # jsonl_stream(compress=...); None: the COMPRESS setting

    @property
    def offered(self) -> tuple[str, ...]:
        """The media types this endpoint answers with (``Accept`` chooses)."""
        return JSONL_TYPES if self.sse_plan is None else SSE_TYPES

    def limits(self, *, gzip: bool = False) -> tuple[float, Limits]:
        """Priming patience and stream-loop limits under the current settings."""
        settings = conf()
        ping_every = settings.PING_INTERVAL if self.ping_from_settings else self.ping_every
        patience = self.prime_timeout
        if patience is None:
            patience = settings.PRIME_TIMEOUT
        if ping_every is not None:
            patience = min(patience, ping_every)  # headers before the first ping is due
        scale = settings.TIME_SCALE
        if scale != 1.0:
            patience *= scale
            ping_every = None if ping_every is None else ping_every * scale
        send_timeout = settings.SEND_TIMEOUT
        if send_timeout is not None:
            send_timeout *= scale
        return patience, _shared_limits(settings.BATCH_BYTES, ping_every, send_timeout, gzip)


@functools.lru_cache(maxsize=64)  # keys come from settings and specs, never from requests
def _shared_limits(
    batch_bytes: int, ping_every: float | None, send_timeout: float | None, gzip: bool
) -> Limits:
    """One frozen ``Limits`` for all the streams alike: an open stream holds one object
    fewer (tests/test_stream_objects.py)."""
    return Limits(batch_bytes, ping_every, send_timeout, gzip=gzip)


def compile_endpoint(fn: StreamFunction, route: str) -> Endpoint:
    """Check ``fn``'s spec against ``route`` and build what serving it needs."""
    spec = get_spec(fn)
    if spec.stream is None:
        raise SpecError(
            f"{describe(fn)} is registered on {route!r} but has no @jsonl_stream(...); "
            "add @jsonl_stream(model=YourItem) (or model=Any for untyped items)."
        )
    supplied = [*path_parameters(route), *spec.keywords(), *(["auth"] if spec.auth else [])]
    check_call(fn, supplied, route)
    options = spec.stream
    pings = spec.ping or PingOptions(every=None)
    plan = Plan.build(
        describe(fn),
        options.model,
        validate=options.validate,
        on_error=options.on_error,
        ping_item=pings.item,
    )
    parsers = build_parsers(spec)
    pass_auth = spec.auth is not None and accepts(fn, "auth")
    return Endpoint(
        fn,
        parsers,
        plan,
        _sse_plan(fn, spec),
        options.prime_timeout,
        pings.every,
        spec.ping is None,
        spec.auth,
        pass_auth,
        options.compress,
    )


def _sse_plan(fn: StreamFunction, spec: Spec) -> Plan | None:
    if spec.sse is None or spec.stream is None:
        return None
    options = spec.stream
    return Plan.build_sse(
        describe(fn),
        options.model,
        validate=options.validate,
        on_error=options.on_error,
        id_field=options.id,
        retry=spec.sse.retry,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Methods:
    """The endpoints of one route by HTTP method (HEAD answered by GET)."""

    by_method: Mapping[str, Endpoint]
    allowed: tuple[str, ...]

    @classmethod
    def of(cls, endpoints: Mapping[str, Endpoint]) -> Methods:
        by_method = dict(endpoints)
        if "GET" in by_method:
            by_method.setdefault("HEAD", by_method["GET"])
        return cls(by_method, tuple(sorted(by_method)))

    def pick(self, method: str) -> Endpoint:
        """The endpoint serving ``method``; raises ``MethodNotAllowed`` (405)."""
        endpoint = self.by_method.get(method)
        if endpoint is None:
            raise MethodNotAllowed(method, self.allowed)
        return endpoint


@dataclasses.dataclass(frozen=True, slots=True)
class Opened:
    """A primed stream, ready for its response headers."""

    headers: Headers  # Content-Type, Content-Encoding, Vary, ...
    lines: Lines | None  # None for HEAD: nothing follows the headers


def route_view(methods: Methods) -> View:
    """One async view serving every method registered on a route (405 for the rest)."""

    async def view(request: HttpRequest, **path: Any) -> HttpResponseBase:
        return await respond(methods, request, path)

    view.csrf_exempt = True  # type: ignore[attr-defined]  # see README, "CSRF"
    return view


async def respond(methods: Methods, request: HttpRequest, path: dict[str, Any]) -> HttpResponseBase:
    """Serve one request through Django: errors before the first item are real responses."""
    asgi = _require_asgi(request)
    try:
        endpoint = methods.pick(request.method or "")
        opened = await open_stream(endpoint, request, path, asgi=asgi)
    except HttpError as exc:
        return exc.response()
    http11 = asgi and keep_alive(request.scope)  # type: ignore[attr-defined]
    if opened.lines is None:
        return JsonlResponse(_nothing(), headers=opened.headers, http11=http11)
    if not asgi:  # each sync-to-async call has its own loop: finish the stream in this one
        try:
            async with asyncio.timeout(WSGI_PATIENCE):
                lines = [batch async for batch in opened.lines]
        except TimeoutError:
            return _NOT_UNDER_WSGI.response()
        finally:
            await opened.lines.aclose()  # whatever happened, the function has ended
        return JsonlResponse(lines, headers=opened.headers, http11=False)
    _lifecycle.end_with_request(opened.lines)
    return JsonlResponse(opened.lines, headers=opened.headers, http11=http11)


async def open_stream(
    endpoint: Endpoint, request: HttpRequest, path: Mapping[str, Any], *, asgi: bool
) -> Opened:
    """Everything before the response headers: capacity, negotiation, auth, request
    components, then priming. Raises ``HttpError`` for an error response instead."""
    current = conf()
    slot = admit(current.MAX_STREAMS, current.RETRY_AFTER)
    try:
        return await _open(endpoint, request, path, asgi, slot)
    except BaseException as exc:
        slot.release()
        error = from_django(exc)
        if error is not None:
            raise error from exc
        raise


async def _open(
    endpoint: Endpoint, request: HttpRequest, path: Mapping[str, Any], asgi: bool, slot: Slot
) -> Opened:
    offered = endpoint.offered
    media_type = negotiate(request.META.get("HTTP_ACCEPT"), offered)
    if media_type is None:
        raise NotAcceptable(offered)
    plan = endpoint.sse_plan if media_type == SSE_TYPE else endpoint.plan
    assert plan is not None  # SSE_TYPE is offered only with an SSE plan
    identity = await _authenticate(endpoint, request)
    kwargs = parse_components(endpoint.parsers, request)
    if endpoint.pass_auth:
        kwargs["auth"] = identity
    compressible = conf().COMPRESS if endpoint.compress is None else endpoint.compress
    gzip = compressible and accepts_gzip(request.META.get("HTTP_ACCEPT_ENCODING"))
    patience, limits = endpoint.limits(gzip=gzip)
    if identity is not None and identity.expires_at is not None:
        limits = dataclasses.replace(limits, ends_at=identity.expires_at)
    headers = stream_headers(media_type, gzip=gzip, compressible=compressible)
    wait = patience if asgi else None
    call = functools.partial(endpoint.fn, request, **path)
    if plan is endpoint.plan or kwargs.get(RESUME_KEYWORD) is None:
        producer, head = await prime(call(**kwargs), plan, limits, wait, slot), plan.head
    else:
        producer, head = await _resumed_events(call, kwargs, plan, limits, patience=wait, slot=slot)
    if request.method == "HEAD":
        await producer.stop()
        return Opened(headers, None)
    return Opened(headers, Lines(producer, pump(producer, plan, limits, head)))


async def _resumed_events(
    call: Callable[..., AsyncGenerator[Any, None]],
    kwargs: dict[str, Any],
    plan: Plan,
    limits: Limits,
    *,
    patience: float | None,
    slot: Slot,
) -> tuple[Producer, bytes]:
    """Prime a Server-Sent Events resume. ``EventSource`` cannot read a 410 (it gives
    up for good and tells the page nothing), so when the function raises
    ``HistoryGone`` before its first item, the stream starts with a ``history_gone``
    event carrying the 410's body, then the function runs again without the id, as a
    JSON Lines client does after the 410, and its items follow.
    """
    try:
        producer = await prime(call(**kwargs), plan, limits, patience)  # no slot: it may rerun
    except HistoryGone as gone:
        kwargs[RESUME_KEYWORD] = None
        head = plan.head + named_event(HISTORY_GONE_EVENT, gone.body())
        return await prime(call(**kwargs), plan, limits, patience, slot), head
    producer.slot = slot
    return producer, plan.head


async def _authenticate(endpoint: Endpoint, request: HttpRequest) -> Identity | None:
    if endpoint.auth is None:
        return None
    identity = await authenticate(endpoint.auth, request)
    request.auth = identity  # type: ignore[attr-defined]
    return identity


# Under WSGI (runserver, Django's test Client) a stream is collected whole before it is
# sent; one that has not ended by then (an endless one) gets this answer instead.
WSGI_PATIENCE = 10.0
_NOT_UNDER_WSGI = HttpError(
    500,
    f"This stream did not end within {WSGI_PATIENCE:g} s. Under WSGI (manage.py runserver) "
    "jsonlfn collects a stream whole before sending it, so endless streams cannot work: "
    "serve the project with an ASGI server, e.g. `uvicorn yourproject.asgi:application`.",
    type="wsgi_stream",
)


def _require_asgi(request: HttpRequest) -> bool:
    """Whether the request came over ASGI; under WSGI only DEBUG or Django's test client."""
    if isinstance(request, ASGIRequest):
        return True
    if settings.DEBUG or _from_test_client(request):
        return False
    raise RuntimeError(
        "jsonlfn streams need an ASGI server (uvicorn, daphne, hypercorn): under WSGI each "
        "open stream holds a worker for its whole life. Serve the project with, e.g., "
        "`uvicorn yourproject.asgi:application`. With DEBUG = True, WSGI is allowed for "
        "local development: each stream is then collected whole before it is sent."
    )


def _from_test_client(request: HttpRequest) -> bool:
    from django.test.client import FakePayload  # noqa: PLC0415 - only on the WSGI path

    return isinstance(request.META.get("wsgi.input"), FakePayload)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator
