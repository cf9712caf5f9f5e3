"""``MAX_STREAMS``: the streams this process has admitted, and refusing the next one.

A stream holds its slot from admission (before authentication, parsing and priming)
until its function has ended, whatever happens in between: an error response, a client
that leaves while the function primes, a response whose body was never sent.
"""

from __future__ import annotations

import logging
import threading

from jsonlfn._errors import Unavailable
from jsonlfn._stream import _collector

logger = logging.getLogger("jsonlfn")

_lock = threading.Lock()  # WSGI requests and test servers run loops in other threads
_admitted = [0]


class Slot:
    """One admitted stream's place; ``release()`` gives it back (once)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = True

    def release(self) -> None:
        with _lock:
            if self._held:
                self._held = False
                _admitted[0] -= 1
                _collector.adjust(_admitted[0])


def admit(limit: int | None, retry_after: int) -> Slot:
    """A slot for one more stream; ``Unavailable`` (503) when ``limit`` are admitted."""
    with _lock:
        full = limit is not None and _admitted[0] >= limit
        if not full:
            _admitted[0] += 1
            _collector.adjust(_admitted[0])
    if full:  # logged outside the lock: a handler may be slow
        logger.warning("jsonlfn: refused a stream: MAX_STREAMS=%s streams are open here", limit)
        raise Unavailable(retry_after)
    return Slot()


def admitted() -> int:
    """How many streams hold a slot now."""
    return _admitted[0]
