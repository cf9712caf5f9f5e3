"""One event loop's command connections to Redis: at most a few commands under way, the
rest queued in order, and how long Redis has had to answer each one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio
from redis.asyncio.retry import Retry  # the asyncio clients want their own (redis-py 8.2 warns)
from redis.backoff import NoBackoff

from jsonlfn._topics._redis_faults import StoreDown, refused, translated

T = TypeVar("T")

# Commands under way at once. Replies are parsed in this loop's thread, so more in
# flight only makes each one wait longer for the loop: 32 XRANGEs of 300 entries took
# 515 ms to all arrive with redis-py's Python parser (55 ms with hiredis), past the
# join's timeout while Redis had answered each in a millisecond.
_CONNECTIONS = 8


def _checked_connections() -> dict[str, Any]:
    """Options that make redis-py's pool replace a connection Redis closed before it
    is used. redis-py 8 skips that check while "maintenance notifications" (a Redis
    Cloud feature, on by default over TCP) are enabled, so after a Redis restart the
    first command on each pooled connection failed: a publish "not added", or a 503."""
    try:
        from redis.maint_notifications import MaintNotificationsConfig  # noqa: PLC0415
    except ImportError:  # redis-py before 7: it always checks
        return {}
    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}


CLIENT_OPTIONS = {
    "retry": Retry(NoBackoff(), 0),  # no silent reconnects: a retried XADD adds twice
    **_checked_connections(),
}


class Commands:
    """The command client of one loop (the reader has a connection of its own)."""

    def __init__(self, url: str) -> None:
        # redis-py's own read timeout is the last resort only: a join's commands are
        # timed by _answer, which a starved process does not fool; a publish that times
        # out "may or may not" have been added either way.
        self.client = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=10, **CLIENT_OPTIONS
        )
        self._gate = asyncio.Semaphore(_CONNECTIONS)  # a join storm queues here, in order
        self._failing: tuple[float, BaseException] | None = None  # since when, and why
        self._answered = 0.0  # loop time of the newest answer Redis gave a command

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(
        self, command: Callable[..., Awaitable[T]], *args: Any, within: float | None = None
    ) -> T:
        """``command(*args)`` once one of the command slots is free, answered ``within``
        seconds of being sent (the wait for a slot does not count: a burst queues).

        Commands queued behind ones that Redis failed, with no success since, fail at
        once with ``StoreDown``. The command runs in a task of its own, which the
        caller's cancellation never enters: redis-py 8.1 can swallow a cancellation
        that lands inside a command (30 of 200 cancels of an ``XRANGE`` here), which
        would leave a stream function running after its client left. It keeps its
        slot until it has finished on its own.
        """
        loop = asyncio.get_running_loop()
        queued = loop.time()
        await self._gate.acquire()
        failing = self._failing
        if failing is not None and failing[0] >= queued:
            self._gate.release()
            raise StoreDown(f"Redis failed the commands before this one: {failing[1]!r}")
        running = asyncio.ensure_future(translated(command(*args)))
        running.add_done_callback(self._finished)
        try:
            return await self._answer(running, within)
        except BaseException:
            running.add_done_callback(_retrieve)
            raise

    async def _answer(self, running: asyncio.Future[T], within: float | None) -> T:
        """What ``running`` returns; ``TimeoutError`` once Redis has had ``within``
        seconds to answer and answered nothing on these connections meanwhile.

        Only time this loop was free to hear an answer counts, measured in ticks
        that fire on time: in a burst of 600 resumes full garbage collections stalled
        it for 230-860 ms ten times, and on a machine at load 20 the process itself
        went unscheduled for seconds. While other commands get answers the wait is
        this loop's, not Redis's.
        """
        if within is None:
            return await asyncio.shield(running)
        loop = asyncio.get_running_loop()
        tick = within / 8
        heard = 0.0
        while True:
            before = loop.time()
            await asyncio.wait((running,), timeout=tick)
            if running.done():
                return running.result()
            now = loop.time()
            if now - before < 2 * tick:  # on time: an answer would have been heard
                heard += now - before
            if heard >= within and self._answered < now - within:
                raise TimeoutError

    def _finished(self, command: asyncio.Future[Any]) -> None:
        self._gate.release()
        failure = None if command.cancelled() else command.exception()
        if failure is None or refused(failure):
            self._answered = asyncio.get_running_loop().time()
        if failure is None:
            self._failing = None
        elif not refused(failure) and self._failing is None:
            self._failing = (asyncio.get_running_loop().time(), failure)


def _retrieve(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()  # nobody awaits it any more: no "never retrieved" warning
