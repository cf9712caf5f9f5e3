"""One short stream request at a time, in process, as uvicorn would call the app.

python -m tests.bench.per_request [APP] [REQUESTS]   (by hand; APP: a key of APPS)

Prints the CPU time per request (the mean of the fastest fifth of batches of 100: on a
shared machine the rest measure the neighbours). For a count that no neighbour moves,
run it under callgrind twice and take the difference per request, e.g.
``valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m
tests.bench.per_request direct 600`` and the same with 100: the totals it prints
differ by 500 requests' instructions (the import and the warm-up cancel out). Direct
path at 3bc7acd: about 566,000 instructions per request.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from tests.bench.asgi_calls import http_scope, receiver

App = Callable[[Any, Any, Any], Awaitable[None]]
APPS = {  # name: (module, attribute)
    "direct": ("tests.bench.django_project", "direct_application"),
    "direct-middleware": ("tests.bench.middleware_project", "direct_application"),
    "floor": ("tests.bench.django_floor", "application"),
    "bare": ("tests.bench.bare", "coalesced"),
}
WARM_UP = 300
BATCH = 100
HEADERS = [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*")]


async def request(app: App) -> None:
    """One request: its body at once, a disconnect once the response has ended."""
    ended = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            ended.set()

    await app(http_scope("/jsonlfn/items/", b"n=10", HEADERS, 8000), receiver(ended), send)
    assert ended.is_set(), "the response did not end"


async def cpu_per_request(app: App, requests: int) -> float:
    for _ in range(WARM_UP):
        await request(app)
    batches = []
    for _ in range(max(1, requests // BATCH)):
        began = time.process_time()
        for _ in range(BATCH):
            await request(app)
        batches.append((time.process_time() - began) / BATCH)
    fastest = sorted(batches)[: max(1, len(batches) // 5)]
    return sum(fastest) / len(fastest)


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "direct"
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    module, attribute = APPS[name]
    app: App = getattr(importlib.import_module(module), attribute)
    seconds = uvloop.run(cpu_per_request(app, requests))
    print(f"{name}: {seconds * 1e6:.1f} µs of CPU per request ({requests} requests)")


if __name__ == "__main__":
    main()
