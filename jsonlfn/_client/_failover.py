"""Where and when ``jsonlfn.client.stream`` reconnects: which URL next, how long to wait,
when to give up."""

from __future__ import annotations

import datetime
import email.utils
import random
import time
from collections.abc import Callable, Sequence

Urls = str | Sequence[str] | Callable[[int], str]


class GiveUp(Exception):
    """The policy says to stop trying; the message says why."""


class Failover:
    """Reconnection by the rules ``stream`` documents.

    ``urls`` is one URL, several (a failure moves on to the next, round and round, each
    one skipped while its ``Retry-After`` lasts), or a function of the attempt number
    (0 for the first connection) that picks one. The wait after a failure is
    exponential with jitter from ``backoff`` (a server's SSE ``retry:`` replaces it, as
    ``EventSource`` does), at least the ``Retry-After`` the server sent when there is
    nowhere else to go, at most ``max_backoff`` otherwise. It gives up after
    ``max_retries`` failures in a row, or once failing has lasted ``give_up_after``
    seconds (or would, before the next try).
    """

    def __init__(
        self,
        urls: Urls,
        *,
        max_retries: int,
        give_up_after: float | None,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self._pick = _picker(urls)
        self.max_retries = max_retries
        self.give_up_after = give_up_after
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.attempt = 0  # connections opened so far
        self.failures = 0  # in a row
        self._failing_since: float | None = None
        self._blocked: dict[str, float] = {}  # URL -> monotonic time its Retry-After ends
        self.retry: float | None = None  # the server's SSE retry:, in seconds

    def url(self) -> str:
        """The URL of the next connection: the next one not waiting out a Retry-After."""
        now = time.monotonic()
        for _ in range(16):  # a picker that only offers blocked URLs: take its last one
            found = self._pick(self.attempt)
            self.attempt += 1
            if self._blocked.get(found, 0.0) <= now:
                return found
        return found

    def connected(self) -> None:
        """An item arrived: failing starts afresh."""
        self.failures = 0
        self._failing_since = None

    def failed(self, url: str, retry_after: float | None) -> float:
        """Seconds to wait before the next try, or ``GiveUp``."""
        now = time.monotonic()
        self.failures += 1
        if self._failing_since is None:
            self._failing_since = now
        if self.failures > self.max_retries:
            raise GiveUp(f"{self.failures} failures in a row (max_retries={self.max_retries})")
        if retry_after is not None:
            self._blocked[url] = now + retry_after
        wait = max(self._backoff(), self._reopens(url) - now)
        if self.give_up_after is not None and now + wait - self._failing_since > self.give_up_after:
            raise GiveUp(f"failing for longer than give_up_after={self.give_up_after} s")
        return wait

    def _backoff(self) -> float:
        step = 2.0 ** (self.failures - 1)
        if self.retry is not None:
            return min(self.max_backoff, self.retry * step)
        return min(self.max_backoff, self.backoff * step) * random.uniform(0.5, 1.5)

    def _reopens(self, url: str) -> float:
        """When some URL may be tried again: now if one of several has no Retry-After
        running; a function's pick is unknown, so the one that answered counts."""
        known = self._pick.known or (url,)
        return min(self._blocked.get(each, 0.0) for each in known)


class _Picker:
    __slots__ = ("known", "pick")

    def __init__(self, pick: Callable[[int], str], known: Sequence[str] | None) -> None:
        self.pick = pick
        self.known = known  # every URL it can offer, if that is known

    def __call__(self, attempt: int) -> str:
        return self.pick(attempt)


def _picker(urls: Urls) -> _Picker:
    if isinstance(urls, str):
        return _Picker(lambda _: urls, (urls,))
    if callable(urls):
        return _Picker(urls, None)
    listed = tuple(urls)
    if not listed or not all(isinstance(each, str) for each in listed):
        raise TypeError(f"stream() needs a URL, a list of URLs or a function, got {urls!r}")
    return _Picker(lambda attempt: listed[attempt % len(listed)], listed)


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())
