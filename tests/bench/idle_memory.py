"""Bytes jsonlfn's stream loop holds per idle stream, with and without pings.

python -m tests.bench.idle_memory    (by hand; RSS in the benchmark's scenario C is
noisier, since it also counts sockets, buffers and the allocator's slack)

Runs N idle streams in one event loop, each parked in the function's own await (in
its own Task) after its first line, and compares traced memory against the same
streams without jsonlfn's loop: the difference is what jsonlfn adds per idle stream.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

from jsonlfn._spec import Ping
from jsonlfn._stream._items import unvalidated_writer
from jsonlfn._stream._loop import Limits, Plan, prime, pump

STREAMS = 1000


async def idle(release: asyncio.Event) -> AsyncIterator[dict[str, int]]:
    yield {"id": 0}
    await release.wait()


async def serve(release: asyncio.Event, plan: Plan, limits: Limits) -> None:
    producer = await prime(idle(release), plan, limits, 0.0)
    async for _ in pump(producer, plan, limits):
        pass


async def measure(every: float | None) -> float:
    release = asyncio.Event()
    plan = Plan.build("idle", Any, validate=False)
    unvalidated_writer()(Ping(), bytearray())
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    tasks = []
    for _ in range(STREAMS):
        limits = Limits(61440, every, None)
        tasks.append(asyncio.create_task(serve(release, plan, limits)))
    await asyncio.sleep(0.2)  # every stream is now parked in release.wait()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    release.set()
    await asyncio.gather(*tasks)
    return held / STREAMS


async def baseline() -> float:
    """The same idle streams consumed by a plain `async for` (no jsonlfn loop)."""
    release = asyncio.Event()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]

    async def plain() -> None:
        async for _ in idle(release):
            pass

    tasks = [asyncio.create_task(plain()) for _ in range(STREAMS)]
    await asyncio.sleep(0.2)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    release.set()
    await asyncio.gather(*tasks)
    return held / STREAMS


def main() -> None:
    tracemalloc.start()
    plain = asyncio.run(baseline())
    without = asyncio.run(measure(None))
    with_pings = asyncio.run(measure(15.0))
    print(f"bytes per idle stream ({STREAMS} streams, Python {sys.version.split()[0]}):")
    print(f"  plain async for over the generator      {plain:8.0f}")
    print(f"  jsonlfn, no pings                       {without:8.0f}  (+{without - plain:.0f})")
    extra = with_pings - without
    print(f"  jsonlfn, pings armed (every 15 s)       {with_pings:8.0f}  (+{extra:.0f} for pings)")


if __name__ == "__main__":
    main()
