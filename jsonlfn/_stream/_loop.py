"""The stream loop: prime the function, send its lines in batches, end it cleanly.

The stream function runs in a Task of its own (``_producer``), so it sees exactly what
a coroutine of a plain Task sees. This loop runs in the server's task: it waits until
the function has produced something, then sends every line written by then as one
batch. It is woken at the first item after it began to wait and runs on the next loop
turn, once the function is suspended, so lines that were ready together leave in one
write and a slow producer's lines are never held back.

About 90% of a naive stream's cost is one ASGI message and one socket write per line;
a ready item costs here one ``list.append`` and a length check in the function's Task,
no task and no exception. Pings and the send timeout use loop timers, never a task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from jsonlfn._spec import OnError
from jsonlfn._stream._capacity import Slot
from jsonlfn._stream._gzip import IDENTITY, Gzip
from jsonlfn._stream._items import (
    LinesWriter,
    Writer,
    line_writer,
    lines_writer,
    one_line_each,
    unvalidated_writer,
)
from jsonlfn._stream._producer import Producer
from jsonlfn._stream._sendtimer import SendTimer
from jsonlfn._stream._shutdown import stopping, track, untrack
from jsonlfn._stream._sse import (
    ERROR_EVENT,
    PING,
    event_writer,
    events_writer,
    named_event,
    retry_field,
)

logger = logging.getLogger("jsonlfn")


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """Per-endpoint constants of the stream loop, built once per representation."""

    name: str
    write: Writer  # one item: the first, checked before the response starts
    write_lines: LinesWriter  # the items that were ready together, after it
    write_extra: Writer  # the on_error item
    on_error: OnError | None
    ping_line: bytes
    head: bytes = b""  # before the first item (SSE: the retry: field)

    @classmethod
    def build(
        cls,
        name: str,
        model: Any,
        *,
        validate: bool,
        on_error: OnError | None = None,
        ping_item: Any = None,
    ) -> Plan:
        """The plan for items of ``model``, with ``ping_item`` as the ping line."""
        write_extra = unvalidated_writer()
        ping_line = bytearray()
        if ping_item is not None:
            write_extra(ping_item, ping_line)
        return cls(
            name,
            line_writer(model, validate=validate),
            lines_writer(model, validate=validate),
            write_extra,
            on_error,
            one_line_each(bytes(ping_line)),
        )

    @classmethod
    def build_sse(
        cls,
        name: str,
        model: Any,
        *,
        validate: bool,
        on_error: OnError | None = None,
        id_field: str | None = None,
        retry: float | None = None,
    ) -> Plan:
        """The plan for items of ``model`` as Server-Sent Events (``_sse``): pings are
        comments, the ``on_error`` item an ``error`` event."""
        return cls(
            name,
            event_writer(model, validate=validate, id_field=id_field),
            events_writer(model, validate=validate, id_field=id_field),
            _write_error_event,
            on_error,
            PING,
            retry_field(retry),
        )


def _write_error_event(item: Any, batch: bytearray) -> None:
    batch += named_event(ERROR_EVENT, item)


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Per-request knobs of the stream loop (settings may change between requests)."""

    batch_bytes: int
    ping_every: float | None = None
    send_timeout: float | None = None
    ends_at: float | None = None  # Unix time the stream must end (an expiring token)
    gzip: bool = False  # the response is one gzip stream (``_gzip``)


async def prime(
    agen: AsyncGenerator[Any, None],
    plan: Plan,
    limits: Limits,
    patience: float | None,
    slot: Slot | None = None,
) -> Producer:
    """Start ``agen`` in its own Task and wait at most ``patience`` seconds for its first
    line.

    Raises whatever the function raises before its first item, and ``InvalidItem`` when
    that item does not match the model. On timeout the function runs on, never
    cancelled or restarted, and ``pump`` sends its lines when they come.
    """
    producer = Producer(
        agen, plan.write, plan.write_lines, limits.batch_bytes, plan.name, slot=slot
    )
    try:
        # One bare yield first: the Task's first step runs in this loop turn, and most
        # first items are ready then. A waiter future costs one more turn (10-item
        # streams: 25 µs each instead of 18 µs, in process).
        await asyncio.sleep(0)
        if not (producer.batch or producer.task.done()) and (patience is None or patience > 0):
            await producer.waiter(patience)
    except BaseException:
        await producer.stop()
        raise
    producer.priming = False  # a first item after the patience is a mid-stream item
    if not producer.batch and producer.task.done():
        failure = producer.failure()
        if failure is not None:
            raise failure
    return producer


class Lines:
    """A primed stream's batches (``pump``), for a server to iterate once.

    When no server ever iterates them (the client left between the headers and the
    body), the function's Task would run on: ``close()``, which Django calls when a
    response ends, or the garbage collector then ends it.
    """

    __slots__ = ("_batches", "_producer")

    def __init__(self, producer: Producer, batches: AsyncGenerator[bytes, None]) -> None:
        self._producer = producer
        self._batches = batches

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return self._batches

    @property
    def ended(self) -> bool:
        """True once the batch just yielded is the last (the function has ended by
        then), so a server can send it as the end of the response."""
        return self._producer.ended

    async def aclose(self) -> None:
        """Close the batches, and end the function if they were never iterated."""
        await self._batches.aclose()
        if not self._producer.owned:
            await self._producer.stop()

    def close(self) -> None:
        """``aclose()`` for any thread, without waiting for the function to end."""
        self._producer.abandon()

    __del__ = close


async def pump(  # noqa: PLR0912, PLR0915 - one flat loop: a frame per wait costs an idle stream
    producer: Producer,
    plan: Plan,
    limits: Limits,
    head: bytes | None = None,
) -> AsyncGenerator[bytes, None]:
    """Yield the stream's bytes in batches of whole lines, ending the function at the end.

    ``head`` (default: the plan's) leads the first bytes of the body. ``producer.ended``
    becomes true before the last batch is yielded (the function has ended by then), so
    a server can send that batch as the end of the response.
    """
    if head is None:
        head = plan.head
    task = _own(producer)
    coding = Gzip() if limits.gzip else IDENTITY
    every = limits.ping_every
    send = SendTimer(plan.name, limits.send_timeout)
    loop = asyncio.get_running_loop()
    written = loop.time()  # when the last line left, for pings
    expiry = _NEVER if limits.ends_at is None else _Expiry(task, limits.ends_at)
    last = b""
    try:
        if not (producer.batch or producer.task.done()):
            # Priming timed out. Some servers (daphne, granian) write the headers with
            # the first body bytes: an empty body message sends them now, and uvicorn
            # and hypercorn write nothing for it.
            yield coding.batch(head)
            head = b""
        while True:
            if producer.source is not None:  # handed off: the live items wait there
                producer.gather()
            if producer.items:  # fewer than a chunk, left when the function suspended
                producer.write()
            if producer.batch:
                lines = producer.take()
                if head:
                    lines, head = head + lines, b""
            elif producer.task.done():
                break
            elif await producer.waiter(None if every is None else written + every - loop.time()):
                continue  # an item, or the end
            else:
                lines = plan.ping_line
            send.start()
            yield coding.batch(lines)
            send.stop()
            written = loop.time()
        last = _last_words(plan, producer.failure())
    except Exception as exc:  # an item that fails validation or encoding
        last = _last_words(plan, exc)
    except asyncio.CancelledError:
        if not (stopping() or expiry.expired) or task is None:
            raise  # the client left: nothing more to send
        task.uncancel()  # server stopping or token expired: end after whole lines
        last = _write_rest(plan, producer)  # with the items yielded by now
    finally:
        await _end(producer, task, expiry, send)
    producer.ended = True
    final = coding.last(head + producer.take() + last)  # gzip: never empty, the stream's end
    if final:
        send.start()
        try:
            yield final
        finally:
            send.close()  # also when closed here: the timer must not outlive the stream


def _own(producer: Producer) -> asyncio.Task[Any] | None:
    """This loop ends ``producer``'s function; its task counts as a live stream."""
    producer.owned = True
    task = asyncio.current_task()
    if task is not None:
        track(task)
    return task


def _write_rest(plan: Plan, producer: Producer) -> bytes:
    """Write the items yielded but not written yet; on a failing one, its last words."""
    try:
        producer.gather()
        if producer.items:
            producer.write()
    except Exception as exc:
        return _last_words(plan, exc)
    return b""


async def _end(
    producer: Producer, task: asyncio.Task[Any] | None, expiry: _Expiry, send: SendTimer
) -> None:
    """Disarm the stream's timers, end the function's Task, stop counting it as live."""
    expiry.cancel()
    send.close()
    try:
        await producer.stop()
    finally:
        if task is not None:
            untrack(task)  # whatever happened: a stale entry would eat a MAX_STREAMS slot


class _Expiry:
    """Ends the stream (cleanly, like a shutdown) when its credentials expire."""

    __slots__ = ("_handle", "expired")

    def __init__(self, task: asyncio.Task[Any] | None, ends_at: float | None) -> None:
        self.expired = False
        self._handle: asyncio.TimerHandle | None = None
        if task is not None and ends_at is not None:
            delay = max(0.0, ends_at - time.time())
            self._handle = task.get_loop().call_later(delay, self._expire, task)

    def _expire(self, task: asyncio.Task[Any]) -> None:
        self.expired = True
        task.cancel()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


_NEVER = _Expiry(None, None)  # shared by the streams whose credentials never expire


def _last_words(plan: Plan, exc: Exception | None) -> bytes:
    """The replacement line ``on_error`` offers for a mid-stream failure, or nothing."""
    if exc is None:
        return b""
    if plan.on_error is None:
        logger.error("Stream %s failed mid-stream; ended it cleanly", plan.name, exc_info=exc)
        return b""
    logger.info("Stream %s failed mid-stream (%r); on_error ends it", plan.name, exc)
    line = bytearray()
    try:
        replacement = plan.on_error(exc)
        if replacement is not None:
            plan.write_extra(replacement, line)
            return one_line_each(bytes(line))
    except Exception:
        logger.exception("on_error of stream %s failed; ended the stream without it", plan.name)
        return b""
    return bytes(line)
