"""What Django's handler does around each request, for the direct ASGI path.

Django sends ``request_started`` and ``request_finished`` with ``Signal.asend``, which
runs every sync receiver in the request's own thread (a ``sync_to_async`` hop). Its two
built-in receivers, ``reset_queries`` and ``close_old_connections``, are the reason
every request pays that hop, and under ASGI they mostly look after a thread that is
new and has no connections yet.

jsonlfn keeps what they are for, in the thread that needs it: the database connections
a request opened live in that request's thread (Django runs each request's
``sync_to_async`` calls, the async ORM included, in a thread of their own), so when
the request ends and that thread exists, its connections are closed there, before the
thread goes away. A request that never ran sync code has no thread and pays no hop.
Django's other two, ``close_caches`` and ``reset_urlconf``, touch context-local state
and no database: they are called in the event loop, where that context is. Every other
receiver, yours and third-party apps', is called as Django calls it (sync ones in the
request's thread, which costs a hop per request while one is connected).

An exception nothing handled is logged to ``django.request`` as Django logs it, and
``got_request_exception`` is sent, so error reporters hear of it; the answer is the
JSON 500. Every other 4xx/5xx answer is logged there too, as Django's handler logs it.

On Django's own path, a stream primed by the view ends when its request finishes
unless a server iterated it (``end_with_request``): a middleware that raised or
answered otherwise after the view dropped it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, MutableMapping
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.cache import close_caches
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import reset_urlconf
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, connections, reset_queries
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse

from jsonlfn._errors import ServerError
from jsonlfn._stream._loop import Lines

_REPLACED = (reset_queries, close_old_connections)  # done by close_connections instead
SENDER = ASGIHandler  # receivers filtering on Django's handler still hear the direct path

logger = logging.getLogger("django.request")  # where Django's handler logs 500s


async def started(scope: MutableMapping[str, Any]) -> None:
    """``request_started``, as Django sends it, minus its database receivers."""
    sync, async_ = _receivers(request_started)
    if sync:
        await sync_to_async(_call_all)(sync, request_started, {"scope": scope})
    for receiver in async_:
        await receiver(signal=request_started, sender=SENDER, scope=scope)


async def finished(context: ThreadSensitiveContext) -> None:
    """``request_finished``; then the request's thread, if it has one, closes its
    database connections (in one hop with any sync receivers)."""
    sync, async_ = _receivers(request_finished)
    for receiver in _IN_LOOP:
        if receiver in sync:
            sync.remove(receiver)
            receiver(signal=request_finished, sender=SENDER)
    if sync or _has_thread(context):
        await sync_to_async(_finish_in_thread)(sync)
    for receiver in async_:
        await receiver(signal=request_finished, sender=SENDER)


def _receivers(signal: Signal) -> tuple[list[Callable[..., Any]], list[Callable[..., Any]]]:
    if not signal.receivers:
        return [], []
    sync, async_ = signal._live_receivers(SENDER)
    return [r for r in sync if r not in _REPLACED], async_


def _has_thread(context: ThreadSensitiveContext) -> bool:
    executors = getattr(SyncToAsync, "context_to_thread_executor", None)
    return executors is None or context in executors  # unknown asgiref: assume it has one


def _call_all(receivers: list[Callable[..., Any]], signal: Signal, named: dict[str, Any]) -> None:
    for receiver in receivers:
        receiver(signal=signal, sender=SENDER, **named)


def _finish_in_thread(receivers: list[Callable[..., Any]]) -> None:
    try:
        _call_all(receivers, request_finished, {})
    finally:
        close_connections()


def close_connections() -> None:
    """Close this thread's database connections: the thread ends with the request, so
    even ``CONN_MAX_AGE`` connections could never be reused (pools take theirs back)."""
    for connection in connections.all(initialized_only=True):
        connection.close()


# Django's path: the streams each request's view primed, until the request finishes.
_primed: weakref.WeakKeyDictionary[ThreadSensitiveContext, list[Lines]] = (
    weakref.WeakKeyDictionary()
)
_primed_lock = threading.Lock()  # request_finished comes from a sync thread


def end_with_request(lines: Lines) -> None:
    """On Django's path, end ``lines``' function when its request finishes, unless a
    server iterated them: a middleware that raises, or answers otherwise, after the view
    drops the response, and its Task (and ``MAX_STREAMS`` slot) would wait for the
    garbage collector. ``request_finished`` comes once the answer sent has closed."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is not None:  # Django's ASGI handler always has one
        with _primed_lock:
            _primed.setdefault(context, []).append(lines)


def _end_unsent(**_: Any) -> None:
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None:
        return
    with _primed_lock:
        found = _primed.pop(context, ())
    for lines in found:
        lines.close()  # from any thread; nothing to do once a server iterated them


request_finished.connect(_end_unsent, dispatch_uid="jsonlfn-end-unsent-streams")
_IN_LOOP = (close_caches, reset_urlconf, _end_unsent)  # no thread affinity, no I/O


async def server_error(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """Log ``exc`` as Django's handler does, tell error reporters, return the JSON 500."""
    logger.error(
        "Internal Server Error: %s",
        request.path,
        exc_info=exc,
        extra={"status_code": 500, "request": request},
    )
    await got_request_exception.asend(sender=None, request=request)
    response = ServerError(exc, debug=settings.DEBUG).response()
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's mark: logged once
    return response
