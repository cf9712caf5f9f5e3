"""Driving coroutines by hand: pass on what they await, wait with a deadline, and
finish one that was abandoned half-way.

The stream loop drives the user's generator itself (see ``_stream``), so it has to do
what an asyncio task would: hand awaited futures to the event loop, and deliver
cancellation. These pieces do that without creating tasks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import types
import weakref
from collections.abc import AsyncGenerator, Coroutine, Generator
from typing import Any

logger = logging.getLogger("jsonlfn")

Step = Coroutine[Any, Any, Any]


@types.coroutine
def suspend(awaited: Any) -> Generator[Any, None, None]:
    """Hand what a driven coroutine awaits to the event loop, as its own ``await`` would."""
    yield awaited


@types.coroutine
def resume(step: Step, awaited: Any) -> Generator[Any, Any, Any]:
    """Finish a started step as if it had been awaited from here all along."""
    while True:
        try:
            sent = yield awaited
        except BaseException as exc:
            try:
                awaited = step.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                awaited = step.send(sent)
            except StopIteration as done:
                return done.value


async def settled(awaited: Any, within: float | None) -> bool:
    """Wait until ``awaited`` is done, at most ``within`` seconds: is it done?

    A waiter future and a loop timer, rather than ``wait_for`` (which would cancel the
    driven coroutine's await) or ``shield`` (a task per wait). Module-level callbacks
    keep an idle stream with pings at about 0.7 KiB more than one without
    (``tests/bench/idle_memory.py``).
    """
    if within is not None and within <= 0:
        return False
    if within is None or not isinstance(awaited, asyncio.Future):
        await suspend(awaited)
        return True
    waiter: asyncio.Future[bool] = awaited.get_loop().create_future()
    wake = functools.partial(_wake, waiter)
    awaited.add_done_callback(wake)
    timer = waiter.get_loop().call_later(within, _expire, waiter)
    try:
        return await waiter
    finally:
        timer.cancel()
        awaited.remove_done_callback(wake)


def _wake(waiter: asyncio.Future[bool], _: object) -> None:
    if not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


async def abandon(step: Step, awaited: Any) -> None:
    """Finish a step stopped mid-way the way a cancelled task would: cancel what it
    awaits, throw ``CancelledError`` in, and drive its (possibly async) cleanup to the end.

    ``aclose()`` on a generator in that state fails with "asynchronous generator is
    already running" and its ``finally`` never runs.
    """
    if isinstance(awaited, asyncio.Future):
        awaited.cancel()
    error: BaseException | None = asyncio.CancelledError()
    while True:
        try:
            awaited = step.send(None) if error is None else step.throw(error)
        except (StopIteration, StopAsyncIteration, asyncio.CancelledError):
            return
        try:
            await suspend(awaited)
            error = None
        except BaseException as again:  # cancelled again during its cleanup: pass it on
            error = again


async def close(agen: AsyncGenerator[Any, None], step: Step | None, awaited: Any) -> None:
    """Close a stream function so its ``finally`` blocks run, whatever state it is in."""
    try:
        if step is not None:
            await abandon(step, awaited)
        await agen.aclose()
    except Exception:
        logger.exception("Stream function raised while being closed")


TIMED_OUT: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # cancelled by a SendTimer


class SendTimer:
    """Cancels the streaming task when the client takes no batch for ``timeout`` seconds.

    Django's handler awaits the server's ``send`` between two batches; a client that
    stopped reading leaves it waiting for ever, and only cancelling the task frees it.
    One loop timer per batch; nothing when the timeout is off.
    """

    __slots__ = ("_handle", "_name", "_timeout")

    def __init__(self, name: str, timeout: float | None) -> None:
        self._name = name
        self._timeout = timeout
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._timeout is not None:
            task = asyncio.current_task()
            if task is not None:
                loop = task.get_loop()
                self._handle = loop.call_later(self._timeout, self._expire, task)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self, task: asyncio.Task[Any]) -> None:
        TIMED_OUT.add(task)
        logger.warning(
            "Stream %s: the client took no data for %ss; ending the stream",
            self._name,
            self._timeout,
        )
        task.cancel()
