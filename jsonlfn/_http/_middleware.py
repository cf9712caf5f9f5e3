"""The project's ``MIDDLEWARE`` around the direct path's streams.

A project that wraps its app with ``registry.asgi()`` keeps what its middleware does to
responses (CORS, security redirects and headers, cookies, sessions): the direct path
runs the chain Django's ASGI handler would run, built the same way
(``BaseHandler.load_middleware(is_async=True)``, so sync-only middleware are adapted
as Django adapts them). Only the innermost step differs: instead of resolving the URL
again and calling the view, it runs the view hooks (``process_view``, and
``process_exception`` when the stream fails to open) and opens the stream. What the
chain sees is a ``DirectStream``, a ``StreamingHttpResponse`` with the stream's
headers. When the chain hands that same response back with its content untouched, the
direct path writes the batches itself, with whatever headers and cookies the
middleware set; any other answer (a preflight, a redirect, a 403) is sent instead, and
the stream, if it was opened, is closed.

An empty ``MIDDLEWARE`` builds no chain, so the direct path costs what it did. The
chain is rebuilt after any ``setting_changed`` (tests), because middleware such as
``SecurityMiddleware`` read their settings when they are built.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.base import BaseHandler
from django.core.signals import setting_changed
from django.http import HttpResponseBase
from django.urls import ResolverMatch

from jsonlfn._errors import HttpError, from_django
from jsonlfn._http import _lifecycle
from jsonlfn._http._response import JsonlResponse, keep_alive
from jsonlfn._http._view import Methods, Opened, open_stream

_STREAM = "_jsonlfn_stream"  # the request's DirectStream, once the stream is opened
_generation = [0]  # counts setting changes: a chain built before one is rebuilt


class DirectStream(JsonlResponse):
    """The response standing for an opened stream while the middleware handle it."""

    def __init__(self, opened: Opened, *, http11: bool) -> None:
        lines = opened.lines if opened.lines is not None else _nothing()
        super().__init__(lines, headers=opened.headers, http11=http11)
        self.opened = opened

    def untouched(self) -> bool:
        """Whether the content is still the stream's batches (no middleware wrapped it)."""
        return self._lines is not None and getattr(self, "_iterator", None) is self._lines


def opened_stream(request: ASGIRequest) -> DirectStream | None:
    """The stream opened for ``request`` inside the chain, if it got that far."""
    found: DirectStream | None = getattr(request, _STREAM, None)
    return found


class Chain(BaseHandler):
    """``MIDDLEWARE`` as Django's ASGI handler builds it, around opening a stream."""

    # Set by load_middleware (django-stubs leave Django's private attributes out).
    _middleware_chain: Callable[[ASGIRequest], Awaitable[HttpResponseBase]]
    _view_middleware: list[Callable[..., Awaitable[HttpResponseBase | None]]]
    _exception_middleware: list[Callable[..., HttpResponseBase | None]]

    def __init__(self, routes: Mapping[Callable[..., Any], Methods]) -> None:
        self._routes = routes
        self.load_middleware(is_async=True)

    async def __call__(self, request: ASGIRequest) -> HttpResponseBase:
        """The response for ``request`` (whose ``resolver_match`` is already set)."""
        return await self._middleware_chain(request)

    async def _get_response_async(self, request: Any) -> Any:
        if hasattr(request, "urlconf"):  # a middleware chose another urlconf: Django's way
            return await super()._get_response_async(request)  # type: ignore[misc]
        match: ResolverMatch = request.resolver_match
        for hook in self._view_middleware:
            response = await hook(request, match.func, match.args, match.kwargs)
            if response:
                return response
        try:
            return await self._open(request, match)
        except Exception as exc:
            return await self._failed(request, exc)

    async def _open(self, request: ASGIRequest, match: ResolverMatch) -> HttpResponseBase:
        try:
            endpoint = self._routes[match.func].pick(request.method or "")
            opened = await open_stream(endpoint, request, match.kwargs, asgi=True)
        except HttpError as exc:
            return exc.response()
        stream = DirectStream(opened, http11=keep_alive(request.scope))
        setattr(request, _STREAM, stream)
        return stream

    async def _failed(self, request: ASGIRequest, exc: Exception) -> HttpResponseBase:
        """``process_exception`` hooks first, as Django runs them; else the direct
        path's JSON 500 (or Django's 404/403/400 as JSON, raised by a view hook)."""
        if self._exception_middleware:
            answer = await sync_to_async(
                self.process_exception_by_middleware, thread_sensitive=True
            )(exc, request)
            if answer is not None:
                found: HttpResponseBase = answer
                return found
        error = from_django(exc)
        if error is not None:
            return error.response()
        return await _lifecycle.server_error(request, exc)


class Chains:
    """The chain of one ``registry.asgi()`` app, built when the settings change."""

    def __init__(self, routes: Mapping[Callable[..., Any], Methods]) -> None:
        self._routes = routes
        self._built: tuple[int, Chain | None] = (-1, None)
        self.current()  # a mistake in MIDDLEWARE surfaces at start-up, as Django's does

    def current(self) -> Chain | None:
        """The chain for the current settings; None while ``MIDDLEWARE`` is empty."""
        generation, chain = self._built
        if generation != _generation[0]:
            chain = Chain(self._routes) if settings.MIDDLEWARE else None
            self._built = (_generation[0], chain)
        return chain


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _settings_changed(**kwargs: Any) -> None:
    _generation[0] += 1


setting_changed.connect(_settings_changed)
