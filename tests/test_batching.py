"""Writing ready items together is invisible: the stream loop sends exactly the lines,
ends exactly where, and sends them no later than writing one item at a time would (a
property, by hypothesis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonlfn._errors import InvalidItem
from jsonlfn._stream._items import line_writer, one_line_each
from jsonlfn._stream._loop import Limits, Plan, prime, pump


class Item(msgspec.Struct):
    id: int
    tags: list[str] = []


def plan(model: Any) -> Plan:
    def on_error(exc: Exception) -> dict[str, str]:
        return {"error": type(exc).__name__}

    return Plan.build("prop", model, validate=True, on_error=on_error)


GOOD = st.builds(lambda i, t: {"id": i, "tags": t}, st.integers(0, 10**6), st.lists(st.text()))
BAD = st.sampled_from([{"id": "x"}, {"tags": []}, {"id": 1, "tags": [1]}])
STEP = st.one_of(
    GOOD.map(lambda item: ("yield", item)),
    BAD.map(lambda item: ("yield", item)),
    st.just(("await", None)),
    st.just(("raise", None)),
)


def reference(steps: list[tuple[str, Any]]) -> bytes:
    """The bytes of writing each item as it comes, and ending at the first failure."""
    write = line_writer(Item, validate=True)
    out = bytearray()
    for kind, item in steps:
        if kind == "raise":
            return bytes(out + b'{"error":"RuntimeError"}\n')
        if kind == "yield":
            line = bytearray()
            try:
                write(item, line)
            except msgspec.ValidationError:
                return bytes(out + b'{"error":"ValidationError"}\n')
            out += one_line_each(bytes(line))
    return bytes(out)


async def served(
    steps: list[tuple[str, Any]], batch_bytes: int, waits: list[tuple[int, bytes]]
) -> bytes:
    """The stream's bytes; ``waits`` gets, for each await, what the client had by then."""
    out = bytearray()

    async def function() -> AsyncIterator[Any]:
        for index, (kind, item) in enumerate(steps):
            if kind == "await":
                await asyncio.sleep(0)
                waits.append((index, bytes(out)))
            elif kind == "raise":
                raise RuntimeError
            else:
                yield item

    the_plan = plan(Item)
    try:
        primed = await prime(function(), the_plan, Limits(batch_bytes), None)
    except InvalidItem:  # before the first item these are error responses (422, 500)
        return b'{"error":"ValidationError"}\n'
    except RuntimeError:
        return b'{"error":"RuntimeError"}\n'
    async for batch in pump(primed, the_plan, Limits(batch_bytes)):
        out += batch
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(STEP, max_size=300), batch_bytes=st.sampled_from([1, 50, 700, 61440]))
def test_batched_stream_equals_one_item_at_a_time(
    steps: list[tuple[str, Any]], batch_bytes: int
) -> None:
    waits: list[tuple[int, bytes]] = []
    assert asyncio.run(served(steps, batch_bytes, waits)) == reference(steps)
    for index, received in waits:  # nothing the function made waits for its next await
        assert received == reference(steps[:index])
