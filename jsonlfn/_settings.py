"""Project-wide defaults, read from ``settings.JSONLFN`` (a dict) and cached.

>>> JSONLFN = {"PRIME_TIMEOUT": 0.5, "PING_INTERVAL": 15, "SEND_TIMEOUT": 30}
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


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


@functools.cache
def conf() -> Conf:
    """The current settings (re-read when a test overrides ``JSONLFN``)."""
    given: dict[str, Any] = dict(getattr(settings, "JSONLFN", None) or {})
    known = {field.name for field in dataclasses.fields(Conf)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown JSONLFN settings {unknown}; known ones are {sorted(known)}."
        )
    return Conf(**given)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "JSONLFN":
        conf.cache_clear()


setting_changed.connect(_reload)
