"""The stream function's own Task: it runs on past a priming timeout, and however the
stream ends, the function is ended as a cancelled Task is, its ``finally`` run."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from asgiref.sync import sync_to_async

from jsonlfn._errors import HttpError, InvalidItem
from jsonlfn._http._response import JsonlResponse, stream_headers
from jsonlfn._stream import _shutdown
from jsonlfn._stream._loop import Limits, Lines, Plan, prime, pump
from jsonlfn._stream._shutdown import stop_streams
from tests.semantics import CASES, through_jsonlfn, under_a_task

pytestmark = pytest.mark.anyio

PLAN = Plan.build("test", Any, validate=False)
LIMITS = Limits(1024)


async def test_the_function_runs_on_past_a_priming_timeout() -> None:
    started = 0

    async def slow() -> AsyncIterator[int]:
        nonlocal started
        started += 1
        await asyncio.sleep(0.05)
        yield 1
        yield 2

    producer = await prime(slow(), PLAN, LIMITS, 0.01)
    assert producer.batch == b""
    assert not producer.task.done()
    # first an empty batch: the headers leave now on every server (tests/test_servers.py)
    assert [chunk async for chunk in pump(producer, PLAN, LIMITS)] == [b"", b"1\n2\n"]
    assert started == 1


async def test_closing_the_stream_mid_await_runs_async_finally() -> None:
    log: list[str] = []

    async def parked() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)
            log.append("finally")

    lines = pump(await prime(parked(), PLAN, LIMITS, 1.0), PLAN, LIMITS)
    assert await lines.__anext__() == b"1\n"  # flushed because the function now waits
    await lines.aclose()
    assert log == ["finally"]


async def test_a_function_that_swallows_cancellation_is_still_closed() -> None:
    log: list[str] = []

    async def stubborn() -> AsyncIterator[int]:
        try:
            yield 1
            while True:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    log.append("cancelled")
                    yield 2  # carries on: jsonlfn stops it after this item
        finally:
            log.append("finally")

    lines = pump(await prime(stubborn(), PLAN, LIMITS, 1.0), PLAN, LIMITS)
    assert await lines.__anext__() == b"1\n"
    await lines.aclose()
    assert log == ["cancelled", "finally"]


async def test_cancelling_the_task_closes_the_function() -> None:
    log: list[str] = []

    async def parked() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(3600)
        finally:
            log.append("finally")

    async def consume() -> None:
        async for _ in pump(await prime(parked(), PLAN, LIMITS, 1.0), PLAN, LIMITS):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["finally"]


async def test_unencodable_item_after_a_priming_timeout_leaves_no_half_line() -> None:
    class Boxed(msgspec.Struct):
        value: Any

    plan = Plan.build("test", Boxed, validate=False)

    async def slow_then_bad() -> AsyncIterator[Any]:
        await asyncio.sleep(0.05)
        yield Boxed(value=object())  # msgspec writes part of it before failing

    producer = await prime(slow_then_bad(), plan, LIMITS, 0.01)
    assert not producer.task.done()  # the failing item comes after priming gave up
    assert b"".join([chunk async for chunk in pump(producer, plan, LIMITS)]) == b""


async def _opened(log: list[str]) -> Lines:
    """A primed stream whose batches nobody has iterated yet."""

    async def parked() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
        finally:
            log.append("finally")

    producer = await prime(parked(), PLAN, LIMITS, 1.0)
    return Lines(producer, pump(producer, PLAN, LIMITS))


async def test_batches_never_iterated_end_the_function_when_closed() -> None:
    log: list[str] = []
    await (await _opened(log)).aclose()
    assert log == ["finally"]


async def test_a_response_closed_by_django_before_its_body_ends_the_function() -> None:
    """The client left between the headers and the body: Django closes the response
    (in a thread) without iterating it."""
    log: list[str] = []
    headers = stream_headers("application/jsonl", gzip=False, compressible=True)
    response = JsonlResponse(await _opened(log), headers=headers, http11=True)
    await sync_to_async(response.close)()
    await asyncio.sleep(0.01)
    assert log == ["finally"]


async def test_batches_dropped_unread_end_the_function() -> None:
    log: list[str] = []
    lines = await _opened(log)
    del lines
    gc.collect()
    await asyncio.sleep(0.01)
    assert log == ["finally"]


class Boxed(msgspec.Struct):
    value: Any


async def test_an_unencodable_first_item_fails_priming_without_half_a_line() -> None:
    plan = Plan.build("test", Boxed, validate=False)

    async def bad_first() -> AsyncIterator[Any]:
        yield Boxed(value=object())  # msgspec writes part of it before failing

    with pytest.raises(InvalidItem, match="cannot be encoded"):  # a 422
        await prime(bad_first(), plan, LIMITS, 1.0)


async def test_an_invalid_first_item_is_422_even_when_cleanup_awaits() -> None:
    plan = Plan.build("test", int, validate=True)

    async def invalid_first() -> AsyncIterator[Any]:
        try:
            yield "not an int"
        finally:
            await asyncio.sleep(0.01)

    with pytest.raises(InvalidItem):
        await prime(invalid_first(), plan, LIMITS, 1.0)


async def test_stop_passes_a_second_cancellation_on_and_raises_it() -> None:
    log: list[str] = []

    async def slow_cleanup() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
        finally:
            try:
                await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                log.append("cleanup cancelled")  # as Task.cancel would: passed on
                raise

    producer = await prime(slow_cleanup(), PLAN, LIMITS, 1.0)
    stopping = asyncio.create_task(producer.stop())
    await asyncio.sleep(0.005)  # the function is in its finally now
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert log == ["cleanup cancelled"]
    assert producer.task.done()  # raised only once the function had ended


async def test_abandoning_a_failed_function_leaves_no_unretrieved_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails_after_first() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("nobody reads this stream")

    producer = await prime(fails_after_first(), PLAN, LIMITS, 1.0)
    await asyncio.sleep(0.01)  # the function has failed; no stream loop ever ran
    Lines(producer, pump(producer, PLAN, LIMITS)).close()
    await asyncio.sleep(0.01)
    del producer
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_a_clean_shutdown_sends_the_items_yielded_by_then() -> None:
    release = asyncio.Event()

    async def burst() -> AsyncIterator[int]:
        yield 0
        await release.wait()
        for n in (1, 2, 3):  # ready together: 2 and 3 wait to be written as a chunk
            yield n
        await asyncio.Event().wait()

    lines = pump(await prime(burst(), PLAN, LIMITS, 1.0), PLAN, LIMITS)
    received: list[bytes] = []

    async def consume() -> None:
        async for batch in lines:
            received.append(batch)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    assert received == [b"0\n"]
    release.set()
    await asyncio.sleep(0)  # the function yields 1, 2, 3; the loop is woken, not yet run
    try:
        stop_streams()
        await consumer
    finally:
        _shutdown._state["stopping"] = False
    assert b"".join(received) == b"0\n1\n2\n3\n"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks came with Python 3.12")
@pytest.mark.parametrize("name", ["own_task", "timeout_twice", "refused_before_first_item"])
def test_an_eager_task_factory_changes_nothing(name: str) -> None:
    async def both() -> tuple[list[Any], list[Any]]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        return await under_a_task(CASES[name]), await through_jsonlfn(CASES[name])

    control, served = asyncio.run(both())
    assert served == control


def test_an_eager_error_before_the_first_item_does_not_wait_out_the_patience() -> None:
    async def refuse() -> AsyncIterator[int]:
        raise HttpError(404, "no such thing")
        yield 0

    async def timed() -> float:
        if sys.version_info >= (3, 12):
            loop = asyncio.get_running_loop()
            loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        began = time.monotonic()
        with pytest.raises(HttpError):
            await prime(refuse(), PLAN, LIMITS, 5.0)
        return time.monotonic() - began

    assert asyncio.run(timed()) < 1.0
