"""The stream function's own asyncio Task, and the items it leaves for the stream loop.

A stream function runs as the coroutine of a plain Task: every ``await`` in it gets the
result or the exception of what it awaited, and the cancellations its own code asks for
(``asyncio.timeout``, ``wait_for``, anyio cancel scopes, ``TaskGroup``) land at that
``await``, because that Task is what they cancel. jsonlfn never throws into the
function, never drives it by hand, and cancels its Task only to end the stream (client
gone, send timeout, shutdown, expired credentials), as ``Task.cancel`` does.

The Task appends what the function yields to ``items`` and writes them into ``batch``
a chunk at a time. It wakes the stream loop, which runs in the server's task, at the
first item after the loop started waiting: the loop then runs on the next loop turn,
once the function is suspended, so it flushes everything that was ready together. When
the batch is full the Task waits until the loop has taken it, which bounds memory and
lets other tasks run while a function that never awaits keeps producing.

A function that yields a ``Handoff`` (``_handoff``) stays suspended at that ``yield``
while the Task opens the source, writes its backlog and parks. The source then notifies
the stream loop of each live item, and the loop gathers them itself: one wake-up
per line instead of two. The Task resumes the function once the source has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec

from jsonlfn._errors import InvalidItem, validation_detail
from jsonlfn._handoff import Handoff, Opener, Source
from jsonlfn._stream._capacity import Slot
from jsonlfn._stream._items import LinesWriter, Writer, one_line_each

logger = logging.getLogger("jsonlfn")

# Items written together. Fewer cost more calls per item; more keep enough young objects
# (each item, its containers, the Struct validated from it) alive at once that the
# garbage collector's generation-0 runs (every 700 allocations) find survivors to
# promote, and older generations get collected far more often. On the benchmark item
# (4 containers with its Struct), per item: 16 items 0.55 µs, 64 0.49, 128 0.48, 256 0.69
# with the collector on, 0.47 with it off. 64 leaves room for items with more containers.
MAX_CHUNK = 64


class Producer:
    """Runs a stream function in a Task of its own and collects what it yields."""

    __slots__ = (
        "_closing",
        "_loop",
        "_parked",
        "_paused",
        "_timer",
        "_waiter",
        "_write_first",
        "_write_lines",
        "batch",
        "chunk",
        "ended",
        "items",
        "limit",
        "owned",
        "priming",
        "slot",
        "source",
        "task",
    )

    def __init__(
        self,
        agen: AsyncGenerator[Any, None],
        write_first: Writer,
        write_lines: LinesWriter,
        limit: int,
        name: str,
        *,
        slot: Slot | None = None,
    ) -> None:
        self.items: list[Any] = []
        self.batch = bytearray()
        self.limit = limit
        # How many collected items make the Task call _collected. Three parties set it:
        # write() to about a batch's worth, waiter() to 1 (the stream loop waits, and
        # while it does, items and batch are empty: the next item wakes it), and
        # _cancel() to 0 (every item stops the function).
        self.chunk = 1
        self.priming = True  # the first item is still to be written (an error: 422)
        self.owned = False  # a stream loop runs for it, and ends it when it ends
        self.ended = False  # that loop is at its last batch (the function has ended)
        self._write_first = write_first
        self._write_lines = write_lines
        self._waiter: asyncio.Future[bool] | None = None  # the stream loop waits on it
        self._timer: asyncio.TimerHandle | None = None  # ... at most until this fires
        self._paused: asyncio.Future[None] | None = None  # the Task waits on it: batch full
        self._closing = False
        self.source: Source | None = None  # a Handoff's, while the function is handed off
        self._parked: asyncio.Future[None] | None = None  # the Task waits on it meanwhile
        self.slot = slot  # given back once the function has ended (or been abandoned)
        self._loop = asyncio.get_running_loop()
        self.task = self._loop.create_task(self._run(agen), name=name)

    async def _run(self, agen: AsyncGenerator[Any, None]) -> None:
        items = self.items
        try:
            async for yielded in agen:
                item = yielded
                if type(item) is Handoff:
                    opener = item.opener
                    del yielded, item  # the Handoff is spent: a parked stream drops it
                    item = await self._handed_off(opener, agen)
                    if item is _RESUMED:
                        continue
                    if item is _ENDED:
                        break
                items.append(item)
                if len(items) >= self.chunk:
                    await self._collected()
        finally:
            try:
                await agen.aclose()  # finished: nothing; stopped at a yield: its finally runs
            finally:
                self._wake()  # the loop runs on the next turn, when this Task is done

    async def _handed_off(self, opener: Opener, agen: AsyncGenerator[Any, None]) -> Any:
        """Open a handoff's source, write its backlog, park until the source ended,
        and return ``_RESUMED``. A source that fails to open raises at the yield (as an
        ``async for`` there would); then what the function yields next (``_ENDED``:
        it returned). One coroutine, not two: each is held by every open stream."""
        while True:
            try:
                source, backlog = await opener.open()
            except Exception as exc:
                try:
                    item = await agen.athrow(exc)
                except StopAsyncIteration:
                    return _ENDED
                if type(item) is not Handoff:
                    return item
                opener = item.opener
                del item
                continue
            try:
                await self._backlog(backlog)
                del backlog  # spent: a parked stream need not hold it
                self.source = source
                source.consumer = self
                if not source.behind:
                    self._parked = self._loop.create_future()
                    self.notified()  # items it buffered while the backlog was written
                    await self._parked
                self.gather()
            finally:
                self._parked = self.source = source.consumer = None
                opener.close()
            if self.items:
                await self._collected()
            return _RESUMED

    async def _backlog(self, pages: AsyncIterator[list[Any]]) -> None:
        items = self.items
        async for page in pages:
            items += page
            if len(items) >= self.chunk:
                await self._collected()

    def notified(self) -> None:
        """The source has items, or has ended: wake the loop; an ended one, the Task."""
        source, parked = self.source, self._parked
        if source is None:
            return
        if source.behind and parked is not None and not parked.done():
            parked.set_result(None)
        self._wake()

    def gather(self) -> None:
        """Take the items the source buffered (called by the stream loop)."""
        source = self.source
        if source is not None and source.buffer:
            buffer = source.buffer
            self.items += buffer
            buffer.clear()

    async def _collected(self) -> None:
        """Write the collected items; wake the loop if it waits; pause on a full batch."""
        if self._closing:  # the function carried on after its cancellation: stop here
            raise asyncio.CancelledError
        if self.priming:
            self._first()
        if self.items:
            self.write()
        self._wake()  # after the writes: a failing item wakes the loop as the Task ends
        if len(self.batch) >= self.limit:
            paused = self._paused = self._loop.create_future()
            await paused

    def _first(self) -> None:
        """Write the first item alone (the stream's status depends on it)."""
        self.priming = False
        batch = self.batch
        before = len(batch)
        try:
            self._write_first(self.items.pop(0), batch)
        except msgspec.ValidationError as exc:
            del batch[before:]  # msgspec leaves partial bytes behind
            msg, path = validation_detail(exc)
            raise InvalidItem(
                f"The first item does not match the model: {msg}", loc=["item", *path]
            ) from exc
        except (TypeError, ValueError, OverflowError) as exc:  # no JSON for it
            del batch[before:]
            raise InvalidItem(
                f"The first item cannot be encoded as JSON: {exc}", loc=["item"]
            ) from exc
        except BaseException:
            del batch[before:]
            raise
        self.chunk = _chunk_size(len(batch) - before, 1, self.limit)

    def write(self) -> None:
        """Append the items' lines; on a failing item, raise after those before it."""
        items, batch = self.items, self.batch
        before = len(batch)
        try:
            self._write_lines(items, batch)
        finally:
            count = len(items)
            items.clear()
            self.chunk = _chunk_size(len(batch) - before, count, self.limit)

    def take(self) -> bytes:
        """The lines written so far (the batch starts afresh); resumes a paused Task."""
        lines = one_line_each(bytes(self.batch))
        self.batch.clear()
        paused, self._paused = self._paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)
        return lines

    def waiter(self, within: float | None) -> asyncio.Future[bool]:
        """A future the stream loop awaits: true at the next item or the end, false
        after ``within`` seconds. A future, not a coroutine: an idle stream holds no
        frame for it (about 250 bytes each, ``tests/bench/idle_memory.py``)."""
        loop = self._loop
        waiter = self._waiter = loop.create_future()
        self.chunk = 1
        if within is not None:
            self._timer = loop.call_later(within, self._wake, False)
        return waiter

    def _wake(self, woken: bool = True) -> None:
        waiter, timer = self._waiter, self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(woken)

    def failure(self) -> Exception | None:
        """What the finished function raised (None: it returned, or jsonlfn stopped it)."""
        task = self.task
        if task.cancelled():
            if self._closing:
                return None
            return RuntimeError("the stream function's Task was cancelled by its own code")
        failure = task.exception()
        if failure is None or isinstance(failure, Exception):
            return failure
        return RuntimeError(f"the stream function raised {failure!r}")

    def abandon(self) -> None:
        """End the function if no stream loop ever ran for it; callable from any thread."""
        if not self.owned:  # set once, in the loop's thread (checked again there)
            with contextlib.suppress(RuntimeError):  # a closed loop runs nothing anyway
                self._loop.call_soon_threadsafe(self._abandoned)

    def _abandoned(self) -> None:
        if not self.owned:
            self.owned = True
            running = not self.task.done()
            self._cancel()
            self.task.add_done_callback(functools.partial(_retrieve, running))
            if self.slot is not None:
                self.slot.release()

    def _cancel(self) -> None:
        self._wake(False)
        self._closing = True
        self.chunk = 0  # its next item goes through _collected, which stops it
        self.task.cancel()

    async def stop(self) -> None:
        """End the function as a cancelled Task ends, and wait until it has.

        Cancelled again meanwhile (the server insists), the cancellation is passed on
        to the function's Task, as ``Task.cancel`` passes it on to what a task awaits,
        and raised here once the function has ended.
        """
        task = self.task
        running = not task.done()
        self._cancel()
        cancelled = False
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError:
                cancelled = True
                task.cancel()
        _retrieve(running, task)
        if self.slot is not None:
            self.slot.release()
        if cancelled:
            raise asyncio.CancelledError


_RESUMED = object()  # the function resumes after the yield of a handoff
_ENDED = object()  # ... and returned


def _retrieve(running: bool, task: asyncio.Task[None]) -> None:
    """Take the ended Task's exception (asyncio logs the ones never taken); log one the
    function raised while it was being ended (``running``: it had not ended before)."""
    if task.cancelled():
        return
    failure = task.exception()
    if running and failure is not None:
        logger.error("Stream function raised while being closed", exc_info=failure)


def _chunk_size(line_bytes: int, lines: int, limit: int) -> int:
    """How many items to collect: about a batch of lines of this size, within bounds."""
    average = line_bytes // (lines or 1) or 1
    return max(1, min(MAX_CHUNK, limit // average))
