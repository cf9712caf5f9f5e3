"""The hot path: run the stream function, batch its lines, clean up after it.

The function's ``__anext__()`` step is driven by hand with ``send(None)``:

* ``StopIteration`` means the item was ready without waiting: it joins the batch.
* A yielded future means the function is about to wait: the batch is flushed first, so
  a slow producer's items are never held back, then the future goes to the event loop.

About 90% of a naive stream's cost is one ASGI message and one socket write per line;
batching ready lines removes it. A batch that fills up is flushed and followed by one
turn of the event loop, so a function that never awaits cannot starve the server.

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


async def pump(primed: Primed, plan: Plan, batch_bytes: int) -> AsyncGenerator[bytes, None]:
    """Yield the stream's bytes in batches of whole lines, closing the function at the end."""
    agen = primed.agen
    advance = agen.__anext__
    write = plan.write
    batch = bytearray(primed.head)
    size = len(batch)  # bytes of complete lines; a failed write is cut back to it
    step, awaited = primed.step, primed.awaited
    try:
        while True:
            if step is None:
                step = advance()
            else:
                if size:
                    yield bytes(batch)
                    batch.clear()
                    size = 0
                await _suspend(awaited)
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
                yield bytes(batch)
                batch.clear()
                size = 0
                await _suspend(None)  # one loop turn per batch: disconnects, other requests
    except Exception as exc:
        del batch[size:]
        batch += _last_words(plan, exc)
    finally:
        await close(agen, step, awaited)
    if batch:
        yield bytes(batch)


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
