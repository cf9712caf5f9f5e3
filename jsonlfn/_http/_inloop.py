"""Which middleware hooks the direct path calls in the event loop instead of a thread.

Django runs each sync hook of a ``MiddlewareMixin`` through
``sync_to_async(thread_sensitive=True)``: two thread hops per hook, fourteen per request
with ``django-admin startproject``'s ``MIDDLEWARE``, where they cost the direct path
four fifths of its speed (issue 24). A hook that does no I/O answers the same in
either thread, so for the middleware named here the direct path calls it in the loop,
and keeps the thread for the calls that can reach a database, a cache, a template or
a project's view:

- ``SecurityMiddleware``, ``CommonMiddleware``, ``XFrameOptionsMiddleware``,
  ``GZipMiddleware``, ``ConditionalGetMiddleware``: headers and redirects computed
  from the request and the settings. (An exception they raise, such as
  ``CommonMiddleware``'s 403 for ``DISALLOWED_USER_AGENTS``, is turned into a
  response by Django's own wrapper, in a thread as before.)
- ``SessionMiddleware`` with a database, cache or signed-cookie engine: the store is
  created lazily; its ``process_response`` goes to the thread when the session was
  accessed or modified (or ``SESSION_SAVE_EVERY_REQUEST``), since it then loads or saves.
- ``AuthenticationMiddleware``: installs ``request.user`` as a lazy object (loading it
  is the code that reads it, as on Django's path).
- ``MessageMiddleware`` with Django's storages: built without reading; its
  ``process_response`` goes to the thread when messages were read or added (the
  session storage then reads or writes the session).
- ``CsrfViewMiddleware`` with the CSRF cookie (not ``CSRF_USE_SESSIONS``):
  ``process_view`` in the loop when it accepts without a check (a safe method, a
  ``csrf_exempt`` view such as jsonlfn's), in the thread when it may reject, since it
  then calls ``CSRF_FAILURE_VIEW``.

Only these exact classes: a subclass may override a hook with I/O. A project adds its
own in ``JSONLFN["IO_FREE_MIDDLEWARE"]``, all their hooks in the loop. Any other sync
middleware keeps Django's adaptation.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from jsonlfn._settings import conf

logger = logging.getLogger("jsonlfn")

# Whether one call of a hook may run in the loop, from the hook's arguments (None: always).
When = Callable[..., bool] | None
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@dataclasses.dataclass(frozen=True, slots=True)
class InLoop:
    """When each hook of one middleware may be called in the loop."""

    request: When = None
    view: When = None
    response: When = None


def _never(request: Any) -> bool:
    return False


def _csrf_accepts(request: Any, view: Any, *args: Any) -> bool:
    """Whether ``process_view`` accepts without a check (nothing it could reject)."""
    return (
        request.method in SAFE_METHODS
        or getattr(view, "csrf_exempt", False)  # jsonlfn's views: SessionAuth checks CSRF
        or getattr(request, "csrf_processing_done", False)
    )


def _session_untouched(request: Any) -> bool:
    session = getattr(request, "session", None)
    return session is None or not (
        getattr(session, "accessed", True) or getattr(session, "modified", True)
    )


def _no_messages_stored(request: Any) -> bool:
    storage = getattr(request, "_messages", None)
    return storage is None or not (
        getattr(storage, "used", True) or getattr(storage, "added_new", True)
    )


def _plain() -> InLoop | None:
    return InLoop()


def _csrf() -> InLoop | None:
    return None if settings.CSRF_USE_SESSIONS else InLoop(view=_csrf_accepts)


_SESSION_ENGINES = {f"django.contrib.sessions.backends.{name}" for name in ("db", "signed_cookies")}
_CACHED_SESSION_ENGINES = {
    f"django.contrib.sessions.backends.{name}" for name in ("cache", "cached_db")
}


def _session() -> InLoop | None:
    engine = settings.SESSION_ENGINE
    if engine in _CACHED_SESSION_ENGINES:
        backend = settings.CACHES.get(settings.SESSION_CACHE_ALIAS, {}).get("BACKEND", "")
        if not backend.startswith("django.core.cache.backends."):
            return None  # a third-party cache may connect when it is created
    elif engine not in _SESSION_ENGINES:
        return None  # the file engine checks its folder; others are unknown
    return InLoop(response=_never if settings.SESSION_SAVE_EVERY_REQUEST else _session_untouched)


_MESSAGE_STORAGES = {
    f"django.contrib.messages.storage.{name}"
    for name in ("fallback.FallbackStorage", "cookie.CookieStorage", "session.SessionStorage")
}


def _messages() -> InLoop | None:
    if settings.MESSAGE_STORAGE not in _MESSAGE_STORAGES:
        return None
    return InLoop(response=_no_messages_stored)


KNOWN: dict[str, Callable[[], InLoop | None]] = {
    "django.middleware.security.SecurityMiddleware": _plain,
    "django.middleware.common.CommonMiddleware": _plain,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": _plain,
    "django.middleware.gzip.GZipMiddleware": _plain,
    "django.middleware.http.ConditionalGetMiddleware": _plain,
    "django.contrib.auth.middleware.AuthenticationMiddleware": _plain,
    "django.middleware.csrf.CsrfViewMiddleware": _csrf,
    "django.contrib.sessions.middleware.SessionMiddleware": _session,
    "django.contrib.messages.middleware.MessageMiddleware": _messages,
}


class Policies:
    """The ``InLoop`` of each middleware class under the current settings."""

    def __init__(self) -> None:
        self._declared = _declared()
        self._found: dict[type, InLoop | None] = {}

    def of(self, middleware: object) -> InLoop | None:
        """How ``middleware``'s hooks run; None: all in a thread, as Django runs them."""
        if not isinstance(middleware, MiddlewareMixin):
            return None
        kind = type(middleware)
        if kind not in self._found:
            self._found[kind] = self._policy(kind)
        return self._found[kind]

    def _policy(self, kind: type) -> InLoop | None:
        if kind in self._declared:
            return InLoop()
        known = KNOWN.get(f"{kind.__module__}.{kind.__qualname__}")
        return None if known is None else known()


def _declared() -> set[type]:
    found = set()
    for path in conf().IO_FREE_MIDDLEWARE:
        try:
            found.add(import_string(path))
        except ImportError:  # manage.py check reports it (jsonlfn.E003)
            logger.error("JSONLFN['IO_FREE_MIDDLEWARE']: %r cannot be imported", path)
    return found


def declared_problems(paths: list[str]) -> list[str]:
    """Sentences for the ``IO_FREE_MIDDLEWARE`` entries that cannot be run in the loop."""
    found = []
    for path in paths:
        try:
            kind = import_string(path)
        except ImportError as exc:
            found.append(f"JSONLFN['IO_FREE_MIDDLEWARE']: {path!r} cannot be imported ({exc}).")
            continue
        if not (isinstance(kind, type) and issubclass(kind, MiddlewareMixin)):
            found.append(
                f"JSONLFN['IO_FREE_MIDDLEWARE']: {path!r} is not a MiddlewareMixin subclass; "
                "list only those (other middleware are run as Django runs them)."
            )
    return found
