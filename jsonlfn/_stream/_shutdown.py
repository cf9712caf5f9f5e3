"""Ending live streams when the server is asked to stop.

Servers stop gracefully by waiting for open responses to finish, and a JSON Lines stream
may never finish: uvicorn waits for ever, or, with ``--timeout-graceful-shutdown``,
cancels its own request tasks (Django's handler does not pass that on to the task that
streams the response) and re-raises the signal, so the process dies with every stream
function still open and no ``finally`` run.

So jsonlfn keeps the set of streaming tasks and, when the server's own signal handler
fires, chains one call that ends them all: each stream stops after its last complete
line, its function is closed, and the response ends properly, so the server sees the
connections finish and exits at once. The server's handler runs once the streams have
ended (at most ``_PATIENCE`` later): daphne drops every connection as soon as its own
handler has run. The hook is installed lazily, only in the main
thread, and only on top of a Python-level handler the server installed itself; a
process whose SIGTERM still has its default action is left alone.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

LIVE: set[asyncio.Task[Any]] = set()

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_state = {"stopping": False}
_hooked: list[asyncio.AbstractEventLoop | None] = [None]  # the loop whose signals we hooked

SignalHandler = Callable[[int, FrameType | None], Any]


def stopping() -> bool:
    """Whether ``stop_streams()`` was called: a cancelled stream then ends cleanly."""
    return _state["stopping"]


def stop_streams() -> int:
    """End every live stream cleanly (server shutdown); returns how many were told to.

    Called by the signal hook; call it yourself from a server without signal handlers.
    """
    _state["stopping"] = True
    for task in list(LIVE):
        task.cancel()
    return len(LIVE)


def track(task: asyncio.Task[Any]) -> None:
    """Count ``task`` as a live stream, hooking the server's stop signals once."""
    LIVE.add(task)
    if stopping():
        task.cancel()  # a stream that primed through the start of a shutdown
    _hook_signals(task.get_loop())


def untrack(task: asyncio.Task[Any]) -> None:
    LIVE.discard(task)


def _hook_signals(loop: asyncio.AbstractEventLoop) -> None:
    if _hooked[0] is loop or threading.current_thread() is not threading.main_thread():
        return  # a server installs its handlers before it serves: once per loop is enough
    _hooked[0] = loop
    for signum in _SIGNALS:
        previous = signal.getsignal(signum)
        if not callable(previous) or previous is signal.default_int_handler:
            continue  # not a server's own handler: leave the process's signals alone
        if not getattr(previous, "_jsonlfn_chained", False):
            signal.signal(signum, _chained(previous, loop))


# How long the server's own handler waits for the streams to end. uvicorn waits for open
# responses anyway; daphne (Twisted) drops every connection the moment its handler runs.
_PATIENCE = 1.0


def _chained(previous: SignalHandler, loop: asyncio.AbstractEventLoop) -> SignalHandler:
    def handler(signum: int, frame: FrameType | None) -> Any:
        if loop.is_closed() or not LIVE:
            return previous(signum, frame)
        loop.call_soon_threadsafe(_stop_then, previous, signum, loop.time() + _PATIENCE)
        return None

    handler._jsonlfn_chained = True  # type: ignore[attr-defined]
    return handler


def _stop_then(previous: SignalHandler, signum: int, deadline: float) -> None:
    """End every stream, then run the server's handler once they have ended."""
    stop_streams()
    _when_ended(previous, signum, deadline)


def _when_ended(previous: SignalHandler, signum: int, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    if LIVE and loop.time() < deadline:
        loop.call_later(0.01, _when_ended, previous, signum, deadline)
    else:
        previous(signum, None)
