"""The stream loop alone, in process: CPU per validated item on one long stream, and
per 10-item stream (priming, the function's Task, the batches, the end).

python -m tests.bench.loop    (by hand; no server, no sockets: differences of a few
percent that `make bench` cannot resolve on a noisy machine).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import uvloop

from jsonlfn._stream._loop import Limits, Plan, prime, pump
from tests.bench.items import User, item

PLAN = Plan.build("bench", User, validate=True)
LIMITS = Limits(61440)


async def items(n: int) -> AsyncIterator[dict[str, Any]]:
    for i in range(n):
        yield item(i)


async def one_stream(n: int) -> int:
    size = 0
    async for batch in pump(await prime(items(n), PLAN, LIMITS, 1.0), PLAN, LIMITS):
        size += len(batch)
    return size


async def short_streams(count: int) -> None:
    for _ in range(count):
        await one_stream(10)


def per_call_us(run: Any, calls: int, repeat: int = 7) -> float:
    """The median over ``repeat`` runs of ``run()``'s wall time, per call, in µs."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        uvloop.run(run())
        times.append((time.perf_counter() - began) / calls * 1e6)
    return statistics.median(times)


def main() -> None:
    long_stream = per_call_us(lambda: one_stream(500_000), 500_000)
    short = per_call_us(lambda: short_streams(20_000), 20_000)
    print(f"stream loop in process (Python {sys.version.split()[0]}, uvloop):")
    print(f"  one 500,000-item stream     {long_stream:6.2f} µs per item")
    print(f"  20,000 streams of 10 items  {short:6.2f} µs per stream")


if __name__ == "__main__":
    main()
