"""Stream functions whose awaits fail, time out or get cancelled by their own code, and
the two ways to run them that must agree: a plain asyncio Task (the control) and jsonlfn.

Each case yields strings or numbers; how it ended is its last entry in ``Outcome``:
``"end"``, or the name of the exception that escaped it. ``tests/test_semantics.py``
compares the two runs in-process (with and without pings, a slow consumer, priming
timeouts) and over real sockets (``tests/streams.py`` serves every case).
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import orjson
from asgiref.sync import sync_to_async

from jsonlfn._stream._loop import Limits, Plan, prime, pump

Case = Callable[[], AsyncIterator[Any]]
Outcome = list[Any]  # the items, then "end" or the escaped exception's name

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def closed_port() -> int:
    """A loopback port nothing listens on (connecting is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _raise_key() -> None:
    raise KeyError("from a thread")


async def _fail_soon() -> None:
    await asyncio.sleep(0.005)
    raise ValueError("child failed")


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()  # never answers; ends when the client gives up
    finally:
        writer.close()  # also when the loop ends first and cancels this handler


async def refused_connection() -> AsyncIterator[Any]:
    yield "start"
    try:
        await asyncio.open_connection("127.0.0.1", closed_port())
    except OSError as exc:
        yield type(exc).__name__
    yield "after"


async def refused_connection_uncaught() -> AsyncIterator[Any]:
    yield "start"
    await asyncio.open_connection("127.0.0.1", closed_port())
    yield "never"


async def refused_before_first_item() -> AsyncIterator[Any]:
    try:
        await asyncio.open_connection("127.0.0.1", closed_port())
    except OSError:
        yield "refused"


async def thread_raises() -> AsyncIterator[Any]:
    yield "start"
    try:
        await sync_to_async(_raise_key)()
    except KeyError:
        yield "caught KeyError"


async def orm_error() -> AsyncIterator[Any]:
    from django.contrib.contenttypes.models import ContentType

    yield "start"
    try:
        await ContentType.objects.aget(pk=-1)
    except Exception as exc:  # DoesNotExist, or an error from an unmigrated database
        yield "caught " + ("DoesNotExist" if "DoesNotExist" in type(exc).__name__ else "db")


async def timeout_twice() -> AsyncIterator[Any]:
    yield "start"
    for n in range(2):
        try:
            async with asyncio.timeout(0.02):
                await asyncio.sleep(10)
        except TimeoutError:
            yield f"timed out {n}"
    yield asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def timeout_not_reached() -> AsyncIterator[Any]:
    yield "start"
    async with asyncio.timeout(10):
        await asyncio.sleep(0.001)
    yield "in time"


async def timeout_before_first_item() -> AsyncIterator[Any]:
    try:
        async with asyncio.timeout(0.02):
            await asyncio.sleep(10)
    except TimeoutError:
        yield "timed out"
    yield "after"


async def timeout_uncaught() -> AsyncIterator[Any]:
    yield "start"
    async with asyncio.timeout(0.02):
        await asyncio.sleep(10)
    yield "never"


async def wait_for_fires() -> AsyncIterator[Any]:
    yield "start"
    try:
        await asyncio.wait_for(asyncio.sleep(10), 0.02)
    except TimeoutError:
        yield "timed out"
    yield await asyncio.wait_for(asyncio.sleep(0, "ready"), 1)


async def wait_for_before_first_item() -> AsyncIterator[Any]:
    try:
        await asyncio.wait_for(asyncio.Event().wait(), 0.02)
    except TimeoutError:
        yield "timed out"


async def anyio_fail_after() -> AsyncIterator[Any]:
    yield "start"
    try:
        with anyio.fail_after(0.02):
            await anyio.sleep(10)
    except TimeoutError:
        yield "fail_after"
    with anyio.move_on_after(0.02) as scope:
        await anyio.sleep(10)
    yield f"moved on {scope.cancelled_caught}"


async def anyio_before_first_item() -> AsyncIterator[Any]:
    with anyio.move_on_after(0.02):
        await anyio.sleep(10)
    yield "moved on"


async def httpx_timeout() -> AsyncIterator[Any]:
    server = await asyncio.start_server(_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # Only the read may time out: a connect that waits for a busy loop to accept
        # would be a ConnectTimeout in one run and not the next (seen in CI on 3.13).
        timeout = httpx.Timeout(10.0, read=0.05)
        async with httpx.AsyncClient(timeout=timeout) as client:
            yield "start"
            try:
                await client.get(f"http://127.0.0.1:{port}/")
            except httpx.ReadTimeout:
                yield "read timeout"
    finally:
        server.close()


async def task_group_failure() -> AsyncIterator[Any]:
    yield "start"
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_fail_soon())
            await asyncio.sleep(10)
    except* ValueError as caught:
        yield f"group: {len(caught.exceptions)} ValueError"
    yield asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def context_variables() -> AsyncIterator[Any]:
    yield VAR.get()
    VAR.set("set inside")
    await asyncio.sleep(0.001)
    yield VAR.get()
    yield await asyncio.create_task(_read_var())  # a child Task copies this context


async def _read_var() -> str:
    return VAR.get()


async def own_task() -> AsyncIterator[Any]:
    task = asyncio.current_task()
    yield task is not None
    await asyncio.sleep(0.001)
    yield asyncio.current_task() is task
    yield "item"
    yield asyncio.current_task() is task


async def shielded_from_own_timeout() -> AsyncIterator[Any]:
    yield "start"
    inner = asyncio.ensure_future(asyncio.sleep(0.04, "inner done"))
    try:
        async with asyncio.timeout(0.01):
            await asyncio.shield(inner)
    except TimeoutError:
        yield "timed out"
    yield await inner


async def raise_and_catch() -> AsyncIterator[Any]:
    yield "start"
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.005, future.set_exception, LookupError("late"))
    try:
        await future
    except LookupError:
        yield "caught LookupError"
    raise RuntimeError("escapes")


CASES: dict[str, Case] = {
    case.__name__: case
    for case in (
        refused_connection,
        refused_connection_uncaught,
        refused_before_first_item,
        thread_raises,
        orm_error,
        timeout_twice,
        timeout_not_reached,
        timeout_before_first_item,
        timeout_uncaught,
        wait_for_fires,
        wait_for_before_first_item,
        anyio_fail_after,
        anyio_before_first_item,
        httpx_timeout,
        task_group_failure,
        context_variables,
        own_task,
        shielded_from_own_timeout,
        raise_and_catch,
    )
}


async def under_a_task(case: Case) -> Outcome:
    """The control: the function iterated by the coroutine of a plain asyncio Task."""

    async def consume() -> Outcome:
        outcome: Outcome = []
        try:
            async for item in case():
                outcome.append(item)
        except Exception as exc:
            outcome.append(type(exc).__name__)
        else:
            outcome.append("end")
        return outcome

    return await asyncio.create_task(consume())


def report(exc: Exception) -> dict[str, str]:
    """``on_error`` of the stream endpoints: the escaped exception's name, as a line."""
    return {"escaped": type(exc).__name__}


PLAN = Plan.build("semantics", Any, validate=False, on_error=report, ping_item={"ping": 1})


async def through_jsonlfn(
    case: Case,
    *,
    patience: float | None = None,
    ping_every: float | None = None,
    batch_bytes: int = 61440,
    consumer_delay: float = 0.0,
) -> Outcome:
    """The same function through jsonlfn's priming and stream loop, decoded back into an
    ``Outcome``. ``consumer_delay`` makes every batch take that long to be sent."""
    limits = Limits(batch_bytes, ping_every)
    try:
        producer = await prime(case(), PLAN, limits, patience)
    except Exception as exc:  # before the first item: an error response
        return [type(exc).__name__]
    outcome: Outcome = []
    async for batch in pump(producer, PLAN, limits):
        outcome += decode(batch)
        if consumer_delay:
            await asyncio.sleep(consumer_delay)
    return ended(outcome)


def decode(batch: bytes) -> list[Any]:
    """The items of a batch of lines, pings left out."""
    return [item for item in map(orjson.loads, batch.splitlines()) if item != {"ping": 1}]


def ended(items: list[Any]) -> Outcome:
    """Items read off a stream as an ``Outcome``: the ``on_error`` line names the ending."""
    if items and isinstance(items[-1], dict) and "escaped" in items[-1]:
        return [*items[:-1], items[-1]["escaped"]]
    return [*items, "end"]
