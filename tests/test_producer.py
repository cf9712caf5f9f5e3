"""The stream function's own Task: it runs on past a priming timeout, and however the
stream ends, the function is ended as a cancelled Task is, its ``finally`` run."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from asgiref.sync import sync_to_async

from jsonlfn._response import JsonlResponse
from jsonlfn._stream import Limits, Lines, Plan, prime, pump

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
    assert [chunk async for chunk in pump(producer, PLAN, LIMITS)] == [b"1\n2\n"]
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
    assert [chunk async for chunk in pump(producer, plan, LIMITS)] == []


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
    response = JsonlResponse(await _opened(log), media_type="application/jsonl", http11=True)
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
