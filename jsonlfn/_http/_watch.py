"""Noticing, with no task of its own, that the client of a direct-path request left."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from jsonlfn._http._send import Message

Receive = Callable[[], Awaitable[Message]]


async def _awaiting(awaitable: Awaitable[Message]) -> Message:
    return await awaitable


class ClientWatch:
    """Cancels the serving task when the client disconnects, with no task of its own.

    Django's handler runs a task per request just to await ``receive()``. Here that
    coroutine is stepped by hand from the done-callbacks of what it awaits, as a task
    would, and closed at the end.
    """

    __slots__ = ("_awaited", "_step", "_task", "left")

    def __init__(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        self.left = False
        self._task = task
        self._awaited: Any = None
        step = receive()
        # Coroutines (uvicorn, hypercorn, daphne) are stepped as they are; other
        # awaitables (granian's receive() is a Rust future) inside one.
        self._step: Any = step if hasattr(step, "send") else _awaiting(step)
        self(None)

    # The done-callback of what receive() awaits is the watch itself, not a bound method:
    # one object fewer held by every open stream (tests/test_stream_objects.py).
    def __call__(self, _: object) -> None:
        step = self._step
        if step is None:
            return
        try:
            awaited = step.send(None)
        except StopIteration as done:
            self._step = None
            if done.value.get("type") == "http.disconnect":
                self.left = True
                self._task.cancel()
            return
        except BaseException:
            self._step = None
            return
        if isinstance(awaited, asyncio.Future):
            awaited._asyncio_future_blocking = False
            self._awaited = awaited
            awaited.add_done_callback(self)
        else:  # a bare yield: asyncio.sleep(0) and the like
            self._task.get_loop().call_soon(self, None)

    def stop(self) -> None:
        step, self._step = self._step, None
        if step is None:
            return
        if self._awaited is not None:
            self._awaited.remove_done_callback(self)
        step.close()
