"""Project-wide defaults, read from ``settings.JSONLFN`` (a dict) and cached.

>>> JSONLFN = {"PRIME_TIMEOUT": 0.5, "PING_INTERVAL": 15, "SEND_TIMEOUT": 30}
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.util
import logging
import re
from typing import Annotated, Any

import msgspec
from django.conf import settings
from django.core.signals import setting_changed

logger = logging.getLogger("jsonlfn")


@dataclasses.dataclass(frozen=True, slots=True)
class Conf:
    """The effective jsonlfn settings."""

    # Seconds to wait for the first item before starting the 200 response anyway.
    PRIME_TIMEOUT: float = 1.0
    # Flush a batch of ready lines once it reaches this size. Django's ASGI handler
    # splits bodies at 64 KiB, so staying under it keeps one message per batch.
    BATCH_BYTES: int = 60 * 1024
    # Seconds without a written line before a ping line; None: only where @ping says.
    PING_INTERVAL: float | None = None
    # End a stream whose client has not taken a batch for this many seconds.
    SEND_TIMEOUT: float | None = 60.0
    # Multiplies every jsonlfn interval (pings, priming, send timeout): 0.01 in tests
    # makes @ping(every=15) ping every 0.15 s.
    TIME_SCALE: float = 1.0
    # Refuse new streams (503 + Retry-After) while this many are open in the process.
    MAX_STREAMS: int | None = None
    RETRY_AFTER: int = 5
    # registry.asgi(): seconds a request's whole body may take to arrive (408 after).
    BODY_TIMEOUT: float | None = 30.0
    # gzip streams for clients whose Accept-Encoding allows it (one stream per response,
    # flushed after every batch); Django's GZipMiddleware then leaves them alone.
    COMPRESS: bool = True
    # JWTAuth()'s keywords (see JWTAuth); without them HS256 with SECRET_KEY.
    JWT: dict[str, Any] | None = None
    # Where Topic events live: "memory" (this process) or a Redis URL shared by every
    # process, e.g. "redis://127.0.0.1:6379/0" (pip install jsonlfn[redis]).
    TOPICS: Annotated[str, msgspec.Meta(pattern=r"^(memory|(rediss?|unix)://.+)$")] = "memory"
    # Events a subscriber may have unread before it is ended (its client then resumes).
    TOPIC_BUFFER: Annotated[int, msgspec.Meta(ge=1)] = 1024
    # Seconds Redis may take to answer each command of a subscription's join before the
    # request is a 503 (waiting for a free connection does not count: bursts queue).
    # Below PRIME_TIMEOUT, so that a Redis that does not answer is a 503 before the
    # stream's headers rather than a 200 whose stream ends at once.
    TOPIC_JOIN_TIMEOUT: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    # registry.asgi(): the project's own MiddlewareMixin classes (dotted paths) whose hooks
    # do no I/O, called in the event loop instead of a thread (two hops saved per hook).
    IO_FREE_MIDDLEWARE: tuple[str, ...] = ()
    # From 500 open streams on, raise the garbage collector's first threshold ten times
    # (CPython's defaults only; restored below 250): see _stream/_collector.py.
    GC_TUNING: bool = True


@functools.cache
def conf() -> Conf:
    """The current settings (re-read when a test overrides ``JSONLFN``).

    A mistake in ``JSONLFN`` never fails a request: the key is ignored (its default
    applies) and logged here, and ``manage.py check`` reports it (``jsonlfn.E001``).
    """
    given = _given()
    bad = _bad_keys(given)
    for _, problem in bad:
        logger.error("%s", problem)
    ignored = {key for key, _ in bad}
    return _convert({key: value for key, value in given.items() if key not in ignored})


def problems(given: dict[str, Any] | None = None) -> list[str]:
    """Sentences naming each unknown or mistyped ``JSONLFN`` key and what to write."""
    given = _given() if given is None else given
    found = [text for _, text in _bad_keys(given)]
    topics = given.get("TOPICS", "memory")
    if _TOPICS_URL.fullmatch(str(topics)) and importlib.util.find_spec("redis") is None:
        found.append(f"JSONLFN['TOPICS'] = {topics!r} needs redis-py: pip install jsonlfn[redis]")
    return found


def _topics_problem(topics: Any) -> str:
    close = difflib.get_close_matches(str(topics), ["memory"], n=1)
    hint = "did you mean 'memory'? " if close else ""
    return (
        f"JSONLFN['TOPICS'] = {topics!r} is neither 'memory' nor a Redis URL; {hint}"
        "write 'memory' (this process) or e.g. 'redis://127.0.0.1:6379/0'."
    )


_TOPICS_URL = re.compile(r"(rediss?|unix)://.+")


def _given() -> dict[str, Any]:
    value = getattr(settings, "JSONLFN", None) or {}
    return dict(value) if isinstance(value, dict) else {"": value}


def _bad_keys(given: dict[str, Any]) -> list[tuple[str, str]]:
    known = [field.name for field in dataclasses.fields(Conf)]
    found = []
    for key, value in given.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            found.append((key, f"JSONLFN has no setting {key!r}; {hint}known ones: {known}."))
            continue
        try:
            _convert({key: value})
        except msgspec.ValidationError as exc:
            if key == "TOPICS":
                found.append((key, _topics_problem(value)))
                continue
            default = getattr(Conf(), key)
            found.append(
                (key, f"JSONLFN[{key!r}] = {value!r} is invalid ({exc}); e.g. {default!r}.")
            )
    return found


def _convert(values: dict[str, Any]) -> Conf:
    return msgspec.convert(values, Conf)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "JSONLFN":
        conf.cache_clear()


setting_changed.connect(_reload)
