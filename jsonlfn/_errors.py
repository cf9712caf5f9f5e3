"""Errors raised by jsonlfn.

Two families, kept apart on purpose::

    TypeError
    └── SpecError                 a programming mistake, raised at import time

    Exception
    └── HttpError                 an HTTP error response with the JSON error body
        ├── BadRequest            400  a request component failed to parse
        ├── Unauthorized          401  credentials missing or invalid
        ├── Forbidden             403  authenticated, not allowed
        ├── MethodNotAllowed      405
        ├── NotAcceptable         406  ``Accept`` names no type the endpoint offers
        ├── RequestTimeout        408  the body did not arrive in time (``registry.asgi()``)
        ├── PayloadTooLarge       413
        ├── UnsupportedMediaType  415
        ├── HistoryGone           410  a topic no longer holds the events after that id
        ├── InvalidItem           422  the first item does not match the model
        ├── Unavailable           503  MAX_STREAMS streams are open, or the topics'
        │                              store did not answer or refused (Retry-After)
        └── ServerError           500  an unexpected exception (``registry.asgi()`` only)

    Exception
    └── TopicError                a topic could not take an event
        ├── InvalidEvent          the item does not match the topic's model (ValueError)
        └── PublishFailed         the topics' store is unreachable

Every ``HttpError`` renders as ``{"detail": [{"msg": ..., "type": ..., "loc": [...]}]}``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import orjson
from django.core.exceptions import BadRequest as DjangoBadRequest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse

Loc = Sequence[str | int]


class SpecError(TypeError):
    """A decorator or registry call that cannot work; raised when the module is imported."""


class HttpError(Exception):
    """Raise from a stream function (before its first item) to answer with an error.

    >>> raise HttpError(404, "no such org")

    After the first line has been sent the status can no longer change; the error then
    follows the mid-stream rules (``on_error`` or a clean end of the stream).
    """

    _logged = False  # already logged (a security event): Django logs its response no more

    def __init__(
        self,
        status: int,
        msg: str,
        *,
        type: str = "http_error",  # noqa: A002 - the field is called "type" on the wire
        loc: Loc | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.type = type
        self.loc = list(loc) if loc is not None else None
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body, as the reference shape ``{"detail": [...]}``."""
        detail: dict[str, Any] = {"msg": self.msg, "type": self.type}
        if self.loc is not None:
            detail["loc"] = self.loc
        return {"detail": [detail]}

    def response(self) -> HttpResponse:
        """This error as a Django response with ``Content-Type: application/json``."""
        content = orjson.dumps(self.body())
        response = HttpResponse(content, status=self.status, content_type="application/json")
        response["Content-Length"] = str(len(content))
        for name, value in self.headers.items():
            response[name] = value
        if self._logged:
            response._has_been_logged = True  # type: ignore[attr-defined]  # Django's mark
        return response


class BadRequest(HttpError):
    """400: a header, query, path, cookie or body value failed to parse or validate."""

    def __init__(self, msg: str, *, loc: Loc | None = None) -> None:
        super().__init__(400, msg, type="value_error", loc=loc)


class Unauthorized(HttpError):
    """401: credentials are missing or invalid; ``challenge`` fills ``WWW-Authenticate``."""

    def __init__(self, msg: str = "Not authenticated", *, challenge: str = "Bearer") -> None:
        super().__init__(401, msg, type="security", headers={"WWW-Authenticate": challenge})


class Forbidden(HttpError):
    """403: the caller is authenticated but not allowed (a scope is missing)."""

    def __init__(self, msg: str = "Not allowed") -> None:
        super().__init__(403, msg, type="security")


class MethodNotAllowed(HttpError):
    """405, with the ``Allow`` header listing the methods the route answers."""

    def __init__(self, method: str, allowed: Sequence[str]) -> None:
        allow = ", ".join(allowed)
        super().__init__(
            405,
            f"Method {method} is not allowed here; use {allow}",
            type="method_not_allowed",
            headers={"Allow": allow},
        )


class NotAcceptable(HttpError):
    """406: the ``Accept`` header allows none of the JSON Lines media types."""

    def __init__(self, offered: Sequence[str]) -> None:
        kinds = (
            "JSON Lines or Server-Sent Events" if "text/event-stream" in offered else "JSON Lines"
        )
        super().__init__(
            406,
            f"This endpoint streams {kinds}; send an Accept header that allows one of: "
            + ", ".join(offered),
            type="not_acceptable",
            headers={"Vary": "Accept"},
        )


class RequestTimeout(HttpError):
    """408 on the direct ASGI path: the request body took longer than ``BODY_TIMEOUT``."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            f"The request body did not arrive within {timeout:g} s",
            type="request_timeout",
            loc=["body"],
            headers={"Connection": "close"},
        )


class PayloadTooLarge(HttpError):
    """413: the request body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"Request body is larger than {limit} bytes",
            type="value_error",
            loc=["body"],
        )


class UnsupportedMediaType(HttpError):
    """415: the request body is not declared as JSON."""

    def __init__(self, content_type: str) -> None:
        super().__init__(
            415,
            f"Request body must be application/json, got {content_type or 'no Content-Type'}",
            type="unsupported_media_type",
            loc=["body"],
        )


class Unavailable(HttpError):
    """503, retry after ``retry_after`` s. ``type`` says why: ``overloaded`` (this
    process has ``MAX_STREAMS`` streams open), ``store_unreachable`` (the topics' Redis
    did not answer) or ``store_refused`` (it refused jsonlfn's credentials or command)."""

    def __init__(
        self,
        retry_after: int,
        msg: str = "Too many open streams on this server; retry later",
        *,
        type: str = "overloaded",  # noqa: A002 - the field is called "type" on the wire
    ) -> None:
        super().__init__(503, msg, type=type, headers={"Retry-After": str(retry_after)})


class HistoryGone(HttpError):
    """410: the client resumes after an event the topic no longer holds the sequel of.

    Streaming on would skip the events in between, so the client is told instead; it
    must fetch the current state another way, then subscribe without ``Last-Event-ID``.
    """

    def __init__(self, event_id: str, topic: str) -> None:
        super().__init__(
            410,
            f"Topic {topic!r} no longer holds the events after {event_id[:40]!r}; "
            "reload the current state, then resume without Last-Event-ID",
            type="history_gone",
            loc=["headers", "Last-Event-ID"],
        )


class TopicError(Exception):
    """A topic could not take an event."""


class InvalidEvent(TopicError, ValueError):
    """The item does not match the topic's model; nothing was published."""


class PublishFailed(TopicError, ConnectionError):
    """The topics' store could not be reached; the message says whether the event was
    not added or may have been (Redis took it but did not answer in time)."""


class ServerError(HttpError):
    """500 on the direct ASGI path: the exception is logged; its text is shown only
    with ``DEBUG = True``."""

    def __init__(self, exc: BaseException, *, debug: bool) -> None:
        msg = f"Internal Server Error: {type(exc).__name__}: {exc}" if debug else ""
        super().__init__(500, msg or "Internal Server Error", type="server_error")


class InvalidItem(HttpError):
    """422: the stream's first item does not match the declared model."""

    def __init__(self, msg: str, *, loc: Loc | None = None) -> None:
        super().__init__(422, msg, type="value_error", loc=loc)


def from_django(exc: BaseException) -> HttpError | None:
    """The JSON error for Django's own exceptions (``Http404``, ``PermissionDenied``,
    ``SuspiciousOperation``, ``BadRequest``) as Django would answer them, else None."""
    if isinstance(exc, Http404):
        return HttpError(404, str(exc) or "Not found", type="not_found")
    if isinstance(exc, PermissionDenied):
        return HttpError(403, str(exc) or "Permission denied", type="permission_denied")
    if isinstance(exc, SuspiciousOperation):  # logged as Django logs it; its text is not sent
        logging.getLogger(f"django.security.{type(exc).__name__}").error(str(exc))
        error = HttpError(400, "Bad request", type="bad_request")
        error._logged = True  # one record, as Django's handler logs it
        return error
    if isinstance(exc, DjangoBadRequest):
        return HttpError(400, str(exc) or "Bad request", type="bad_request")
    return None


_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def validation_detail(exc: msgspec.ValidationError) -> tuple[str, list[str | int]]:
    """Split msgspec's "Expected `int`, got `str` - at `$.a[0]`" into message and path."""
    msg, sep, where = str(exc).rpartition(" - at `")
    if not sep:
        msg, where = where, ""
    path: list[str | int] = []
    for match in _PATH_PART.finditer(where.rstrip("`").removeprefix("$")):
        name, index = match.groups()
        if name is not None:
            path.append(name)
        elif index is not None:
            path.append(int(index))
    missing = _MISSING.fullmatch(msg)
    if missing:
        path.append(missing[1])
    return msg, path


_MISSING = re.compile(r"Object missing required field `(.+)`")
