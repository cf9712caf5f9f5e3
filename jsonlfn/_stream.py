"""The hot path: run the stream function, batch its lines, clean up after it.

The function's ``__anext__()`` step is driven by hand with ``send(None)``:

* ``StopIteration`` means the item was ready without waiting: it joins the batch.
* A yielded future means the function is about to wait: the batch is flushed first, so
  a slow producer's items are never held back, then the future goes to the event loop.

About 90% of a naive stream's cost is one ASGI message and one socket write per line;
batching ready lines removes it. A batch that fills up is flushed and followed by one
turn of the event loop, so a function that never awaits cannot starve the server.

Helpers would add a call or a generator layer per item, so the loop stays one flat
function. Pings and the send timeout use loop timers, never a task per stream.

A step abandoned half-way (client gone while the function awaits) cannot simply be
``aclose()``d: Python raises "asynchronous generator is already running" and the
function's ``finally`` never runs. It is finished first, as a cancelled task would be.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import types
from collections.abc import AsyncGenerator, Coroutine, Generator
from typing import Any

import msgspec

from jsonlfn._errors import InvalidItem, validation_detail
from jsonlfn._items import Writer
from jsonlfn._shutdown import stopping, track, untrack
from jsonlfn._spec import OnError

logger = logging.getLogger("jsonlfn")

Step = Coroutine[Any, None, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """Per-endpoint constants of the stream loop, built once."""

    name: str
    write: Writer
    write_extra: Writer
    on_error: OnError | None
    ping_line: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Per-request knobs of the stream loop (settings may change between requests)."""

    batch_bytes: int
    ping_every: float | None = None
    send_timeout: float | None = None


@dataclasses.dataclass(slots=True)
class Primed:
    """A stream function run up to its first line, or until priming timed out."""

    agen: AsyncGenerator[Any, None]
    head: bytes = b""
    step: Step | None = None  # started but unfinished __anext__() ...
    awaited: Any = None  # ... and what it waits for


async def prime(agen: AsyncGenerator[Any, None], plan: Plan, patience: float | None) -> Primed:
    """Run ``agen`` to its first item, waiting at most ``patience`` seconds for it.

    Raises whatever the function raises before its first item, and ``InvalidItem`` when
    that item does not match the model. On timeout the started step is carried over to
    ``pump``, never cancelled or restarted.
    """
    loop = asyncio.get_running_loop()
    deadline = None if patience is None else loop.time() + patience
    step: Step | None = agen.__anext__()
    awaited: Any = None
    try:
        while step is not None:
            try:
                awaited = step.send(None)
            except StopIteration as ready:
                item = ready.value
                break
            except StopAsyncIteration:
                return Primed(agen)
            except BaseException:
                step = None
                raise
            left = None if deadline is None else deadline - loop.time()
            if not await _settled(awaited, left):
                return Primed(agen, b"", step, awaited)
    except BaseException:
        await close(agen, step, awaited)
        raise
    return await _first_line(agen, plan, item)


async def _first_line(agen: AsyncGenerator[Any, None], plan: Plan, item: Any) -> Primed:
    head = bytearray()
    try:
        plan.write(item, head)
    except msgspec.ValidationError as exc:
        await close(agen, None, None)
        msg, path = validation_detail(exc)
        raise InvalidItem(
            f"The first item does not match the model: {msg}", loc=["item", *path]
        ) from exc
    except BaseException:
        await close(agen, None, None)
        raise
    return Primed(agen, bytes(head))


async def pump(  # noqa: PLR0912, PLR0915 - one flat loop on purpose: see the module doc
    primed: Primed, plan: Plan, limits: Limits
) -> AsyncGenerator[bytes, None]:
    """Yield the stream's bytes in batches of whole lines, closing the function at the end."""
    agen = primed.agen
    advance = agen.__anext__
    write = plan.write
    batch_bytes, every = limits.batch_bytes, limits.ping_every
    send = _SendTimer(plan.name, limits.send_timeout)
    loop = asyncio.get_running_loop()
    batch = bytearray(primed.head)
    size = len(batch)  # bytes of complete lines; a failed write is cut back to it
    step, awaited = primed.step, primed.awaited
    written = loop.time()  # when the last line left, for pings
    task = asyncio.current_task()
    if task is not None:
        track(task)
    try:
        while True:
            if step is None:
                step = advance()
            else:
                if size:
                    send.start()
                    yield bytes(batch)
                    send.stop()
                    batch.clear()
                    size = 0
                    written = loop.time()
                if every is None:
                    await _suspend(awaited)
                else:
                    while not await _settled(awaited, written + every - loop.time()):
                        send.start()
                        yield plan.ping_line
                        send.stop()
                        written = loop.time()
            try:
                awaited = step.send(None)
                continue
            except StopIteration as ready:
                item = ready.value
            except StopAsyncIteration:
                step = None
                break
            except BaseException:
                step = None
                raise
            step = None
            write(item, batch)
            size = len(batch)
            if size >= batch_bytes:
                send.start()
                yield bytes(batch)
                send.stop()
                batch.clear()
                size = 0
                written = loop.time()
                await _suspend(None)  # one loop turn per batch: disconnects, other requests
    except Exception as exc:
        del batch[size:]
        batch += _last_words(plan, exc)
    except asyncio.CancelledError:
        if not stopping() or task is None:
            raise  # the client left: nothing more to send
        task.uncancel()  # the server is stopping: end the response after whole lines
        del batch[size:]
    finally:
        send.stop()
        await close(agen, step, awaited)
        if task is not None:
            untrack(task)
    if batch:
        send.start()
        yield bytes(batch)
        send.stop()


class _SendTimer:
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
        logger.warning(
            "Stream %s: the client took no data for %ss; ending the stream",
            self._name,
            self._timeout,
        )
        task.cancel()


def _last_words(plan: Plan, exc: Exception) -> bytes:
    """The replacement line ``on_error`` offers for a mid-stream failure, or nothing."""
    if plan.on_error is None:
        logger.error("Stream %s failed mid-stream; ended it cleanly", plan.name, exc_info=exc)
        return b""
    logger.info("Stream %s failed mid-stream (%r); on_error ends it", plan.name, exc)
    line = bytearray()
    try:
        replacement = plan.on_error(exc)
        if replacement is not None:
            plan.write_extra(replacement, line)
    except Exception:
        logger.exception("on_error of stream %s failed; ended the stream without it", plan.name)
        return b""
    return bytes(line)


async def close(agen: AsyncGenerator[Any, None], step: Step | None, awaited: Any) -> None:
    """Close the stream function so its ``finally`` blocks run, whatever state it is in."""
    try:
        if step is not None:
            await _abandon(step, awaited)
        await agen.aclose()
    except Exception:
        logger.exception("Stream function raised while being closed")


async def _abandon(step: Step, awaited: Any) -> None:
    """Finish a step stopped mid-way the way a cancelled task would: cancel what it
    awaits, throw ``CancelledError`` in, and drive its (possibly async) cleanup to the end.
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
            await _suspend(awaited)
            error = None
        except BaseException as again:  # cancelled again during its cleanup: pass it on
            error = again


@types.coroutine
def _suspend(awaited: Any) -> Generator[Any, None, None]:
    """Hand what the stream function awaits to the event loop, as its own ``await`` would."""
    yield awaited


async def _settled(awaited: Any, within: float | None) -> bool:
    """Wait until ``awaited`` is done, at most ``within`` seconds: is it done?

    Uses a waiter future and a loop timer rather than ``wait_for`` (which would cancel
    the function's await) or ``shield`` (a task per wait).
    """
    if within is not None and within <= 0:
        return False
    if within is None or not isinstance(awaited, asyncio.Future):
        await _suspend(awaited)
        return True
    loop = awaited.get_loop()
    waiter: asyncio.Future[bool] = loop.create_future()

    def settle(result: bool) -> None:
        if not waiter.done():
            waiter.set_result(result)

    def wake(_: object) -> None:
        settle(True)

    awaited.add_done_callback(wake)
    timer = loop.call_later(within, settle, False)
    try:
        return await waiter
    finally:
        timer.cancel()
        awaited.remove_done_callback(wake)
