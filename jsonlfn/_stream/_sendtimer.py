"""The send timeout: ending a stream whose client stopped taking data."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

logger = logging.getLogger("jsonlfn")

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
