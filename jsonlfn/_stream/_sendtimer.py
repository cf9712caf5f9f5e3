"""The send timeout: ending a stream whose client stopped taking data."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from typing import Any

logger = logging.getLogger("jsonlfn")

_QUIET = contextvars.Context()  # what the timer runs in: it only cancels a task and logs
TIMED_OUT: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # cancelled by a SendTimer


class SendTimer:
    """Cancels the streaming task when one send takes longer than ``timeout`` seconds.

    Django's handler awaits the server's ``send`` between two batches; a client that
    stopped reading leaves it waiting for ever, and only cancelling the task frees it.

    One loop timer per stream, armed by a send and re-armed only when it fires during
    a later one: a send costs a clock read. (A timer armed and cancelled per batch left
    one cancelled handle in the loop's heap per subscriber per event of a topic.) An
    idle stream holds no timer. Nothing at all when the timeout is off. The timer calls
    the SendTimer itself, in one shared empty context: an armed timer is one object
    held, not three (a bound method and a copied context with it).
    """

    __slots__ = ("_began", "_handle", "_name", "_task", "_timeout")

    def __init__(self, name: str, timeout: float | None) -> None:
        self._name = name
        self._timeout = timeout
        self._began = 0.0  # time.monotonic() when the send under way began; 0: none
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        if self._timeout is None:
            return
        self._began = time.monotonic()
        if self._handle is None:
            task = self._task = asyncio.current_task()
            if task is not None:
                self._handle = task.get_loop().call_later(self._timeout, self, context=_QUIET)

    def stop(self) -> None:
        """The send has returned."""
        self._began = 0.0

    def close(self) -> None:
        """The stream has ended: the timer must not outlive it."""
        self._began = 0.0
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._task = None

    def __call__(self) -> None:
        self._handle = None
        began, task, timeout = self._began, self._task, self._timeout
        if not began or task is None or timeout is None:
            return  # no send under way: the next one arms the timer again
        left = began + timeout - time.monotonic()
        if left > 0:
            self._handle = task.get_loop().call_later(left, self, context=_QUIET)
            return
        TIMED_OUT.add(task)
        logger.warning(
            "Stream %s: the client took no data for %ss; ending the stream",
            self._name,
            self._timeout,
        )
        task.cancel()
