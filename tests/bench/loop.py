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

PLANS = {
    "JSON Lines": Plan.build("bench", User, validate=True),
    "SSE": Plan.build_sse("bench", User, validate=True),  # the same items as events
}
LIMITS = Limits(61440)


async def items(n: int) -> AsyncIterator[dict[str, Any]]:
    for i in range(n):
        yield item(i)


async def one_stream(n: int, plan: Plan) -> int:
    size = 0
    async for batch in pump(await prime(items(n), plan, LIMITS, 1.0), plan, LIMITS):
        size += len(batch)
    return size


async def short_streams(count: int, plan: Plan) -> None:
    for _ in range(count):
        await one_stream(10, plan)


def per_call_us(runs: dict[str, Any], calls: int, repeat: int = 7) -> dict[str, float]:
    """For each of ``runs``, interleaved: the median over ``repeat`` runs of its wall
    time, per call, in µs."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            began = time.perf_counter()
            uvloop.run(run())
            times[name].append((time.perf_counter() - began) / calls * 1e6)
    return {name: statistics.median(each) for name, each in times.items()}


def main() -> None:
    long = per_call_us(
        {name: (lambda p=plan: one_stream(500_000, p)) for name, plan in PLANS.items()}, 500_000
    )
    short = per_call_us(
        {name: (lambda p=plan: short_streams(20_000, p)) for name, plan in PLANS.items()}, 20_000
    )
    print(f"stream loop in process (Python {sys.version.split()[0]}, uvloop):")
    for name in PLANS:
        print(f"  {name}:")
        print(f"    one 500,000-item stream     {long[name]:6.2f} µs per item")
        print(f"    20,000 streams of 10 items  {short[name]:6.2f} µs per stream")


if __name__ == "__main__":
    main()
