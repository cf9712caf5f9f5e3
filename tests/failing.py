"""Failures on demand, for ``tests/test_failures.py``: ``?raise=<name>&at=<point>`` makes
the stream's auth backend, its query parameters, a middleware hook or the function
itself raise the exception named, where the query says. Served on both paths
(``tests/urls.py``, ``tests/asgi.py``), in process and under every server.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from jsonlfn import HttpError, Identity, PublishFailed, Registry, Unauthorized, jsonl_stream, query
from jsonlfn import requires as requires_auth

registry = Registry(title="Failures", version="0")


class Custom(Exception):
    """An application's own exception."""


def _builtin() -> dict[str, Callable[[], Exception]]:
    """Every built-in ``Exception`` kind that takes a message (the ``OSError`` family too)."""
    found: dict[str, Callable[[], Exception]] = {}
    for name, kind in vars(builtins).items():
        if isinstance(kind, type) and issubclass(kind, Exception) and not issubclass(kind, Warning):
            try:
                kind("boom")
            except Exception:
                continue
            found[name] = lambda kind=kind: kind("boom")
    return found


EXCEPTIONS: dict[str, Callable[[], Exception]] = {
    **_builtin(),
    "ExceptionGroup": lambda: ExceptionGroup("two", [OSError("inner"), ValueError("inner")]),
    "Custom": lambda: Custom("boom"),
    "PublishFailed": lambda: PublishFailed("not added"),
    "Http404": lambda: Http404("no such thing"),
    "PermissionDenied": lambda: PermissionDenied("no"),
    "SuspiciousOperation": lambda: SuspiciousOperation("odd"),
    "HttpError": lambda: HttpError(409, "conflict"),
    "Unauthorized": lambda: Unauthorized("who are you"),
}
# Where a failure can be asked for; the last four need the middleware (HOOKED).
STREAM_POINTS = ("auth", "params", "first", "late")
MIDDLEWARE_POINTS = ("request", "view", "response", "after")
HOOKED = ["tests.failing.Raising"]
LATE = 0.05  # the function's priming patience: "late" raises once its headers left

running: set[int] = set()  # the failing streams whose function has not ended yet
_lock = threading.Lock()


def failure(request: HttpRequest, point: str) -> Exception | None:
    """The exception the request asks for at ``point``, if it asks for one there."""
    if request.GET.get("at") != point:
        return None
    return EXCEPTIONS[request.GET.get("raise", "Custom")]()


class Failure(msgspec.Struct):
    at: str = ""
    raise_: str = msgspec.field(default="Custom", name="raise")
    n: int = 0  # which request this is, for the tests' bookkeeping

    def __post_init__(self) -> None:
        if self.at == "params":
            raise EXCEPTIONS[self.raise_]()


class RaisingBackend:
    name = "raising"
    challenge = "Raising"

    async def authenticate(self, request: HttpRequest) -> Identity | None:
        exc = failure(request, "auth")
        if exc is not None:
            raise exc
        return Identity(backend=self.name, subject="anyone")

    def security_scheme(self) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "X-Anything"}


@registry.get("failing/")
@jsonl_stream(prime_timeout=LATE)
@requires_auth(RaisingBackend())
@query(Failure)
async def failing(request: Any, query: Failure) -> AsyncIterator[dict[str, int]]:
    """Raises as asked; with ``at=after`` (a middleware raises after the view) it
    stays open after its first item, so that only the end of the request ends it."""
    with _lock:
        running.add(query.n)
    try:
        if query.at == "first":
            raise EXCEPTIONS[query.raise_]()
        if query.at == "late":
            await asyncio.sleep(LATE * 4)  # past the patience: its headers left
            raise EXCEPTIONS[query.raise_]()
        yield {"i": 0}
        if query.at == "after":
            await asyncio.Event().wait()
    finally:
        with _lock:
            running.discard(query.n)


@registry.get("kwargs/<int:org>/")
@jsonl_stream()
async def kwargs(request: Any, org: int) -> AsyncIterator[dict[str, int]]:
    """Its path's ``org`` back, as the view got it (``Raising.process_view`` may edit it)."""
    yield {"org": org}


class Raising(MiddlewareMixin):
    """Every hook raises when the query asks for it there; ``process_view`` also edits
    ``view_kwargs`` as the request's ``X-Kwargs`` says: ``set`` (org 999), ``set:<n>``,
    ``pop``, ``clear``, ``add:<name>`` (a keyword the view does not take)."""

    def process_request(self, request: HttpRequest) -> None:
        _raise(request, "request")

    def process_view(
        self, request: HttpRequest, view: object, args: object, kwargs: dict[str, Any]
    ) -> None:
        edit, _, value = request.headers.get("X-Kwargs", "").partition(":")
        if edit == "set":
            kwargs["org"] = int(value or 999)
        elif edit == "pop":
            kwargs.pop("org", None)
        elif edit == "clear":
            kwargs.clear()
        elif edit == "add":
            kwargs[value] = 1
        _raise(request, "view")

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        _raise(request, "response")
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await super().__acall__(request)
        _raise(request, "after")  # after the view (and process_response) gave its answer
        return response


def _raise(request: HttpRequest, point: str) -> None:
    exc = failure(request, point)
    if exc is not None:
        raise exc
