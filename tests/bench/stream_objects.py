"""What one open topic subscriber stream holds on the direct path, object by object.

python -m tests.bench.stream_objects [STREAMS] [--json]

By hand, and by ``tests/test_stream_objects.py`` (``--json``), which holds the budget.

Opens STREAMS subscribers of the test project's ``trades`` topic (in-process backend)
through ``registry.asgi()``, called directly as an ASGI server would call it, delivers
one event to each, and prints the GC-tracked objects and traced bytes each stream holds,
grouped by kind. No server is counted: this is jsonlfn's share (plus the few objects of
this harness's scope, receive and task: about 8 per stream).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tracemalloc
import types
from collections import Counter
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))

import django

django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402

from tests.bench.asgi_calls import Message, http_scope, receiver  # noqa: E402
from tests.streams import TRADES, Trade, registry  # noqa: E402

PATH = "/topics/trades/"


def kind(obj: object) -> str:
    """A type, and for code objects the function they run: where an object comes from."""
    cls = type(obj)
    # type identity, not isinstance: a census walks ~150,000 objects twice
    if cls is types.CoroutineType or cls is types.AsyncGeneratorType:
        return f"{cls.__qualname__} {obj.__qualname__}"  # type: ignore[attr-defined]
    if cls is types.MethodType:
        return f"method {obj.__qualname__}"  # type: ignore[attr-defined]
    return cls.__qualname__


def census() -> Counter[str]:
    gc.collect()
    return Counter(kind(obj) for obj in gc.get_objects())


def scope() -> Message:
    return http_scope(PATH, b"", [(b"host", b"testserver"), (b"accept", b"application/jsonl")])


async def open_streams(count: int) -> tuple[Counter[str], int, Counter[str]]:
    """What ``count`` open streams hold more than none (objects by kind, traced bytes),
    and the objects that one more event leaves for the oldest generation (by kind)."""
    app = registry.asgi(get_asgi_application())
    leave = asyncio.Event()
    lines = 0

    async def send(message: Message) -> None:
        nonlocal lines
        lines += message.get("body", b"").count(b"\n")

    def start() -> asyncio.Task[None]:
        return asyncio.create_task(app(scope(), receiver(leave), send))

    warm = [start()]  # the first stream builds what every stream shares
    await _until(lambda: TRADES.subscribers() == 1)
    await TRADES.publish(Trade(n=0))
    await _until(lambda: lines == 1)
    before, traced = census(), tracemalloc.get_traced_memory()[0]
    streams = [start() for _ in range(count)]
    await _until(lambda: TRADES.subscribers() == count + 1)
    await TRADES.publish(Trade(n=1))
    await _until(lambda: lines == count + 2)
    held = census()
    held.subtract(before)
    traced = tracemalloc.get_traced_memory()[0] - traced
    promoted = await _promoted(lambda: lines == 2 * count + 3)
    leave.set()
    await asyncio.gather(*warm, *streams)
    return held, traced, promoted


async def _promoted(delivered: Callable[[], bool]) -> Counter[str]:
    """What one event delivered to every stream promotes to the oldest generation.

    Those are what a full collection waits for: CPython runs one once the objects
    promoted since the last exceed a quarter of those it holds, so an open stream that
    holds H objects and promotes P per line is walked in full every H / 4P lines.
    """
    gc.collect()
    gc.freeze()  # what is there now leaves the oldest generation for a moment
    try:
        await TRADES.publish(Trade(n=2))
        await _until(delivered)
        gc.collect(1)  # the survivors of the younger generations move to the oldest
        return Counter(kind(obj) for obj in gc.get_objects(2))
    finally:
        gc.unfreeze()


async def _until(done: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if done():
            return
        await asyncio.sleep(0.001)
    raise RuntimeError("the streams did not get there")


def print_census(count: int, held: Counter[str], traced: int) -> None:
    total = sum(held.values())
    print(f"{count} open topic streams on the direct path, Python {sys.version.split()[0]}:")
    print(f"  {total / count:.1f} GC-tracked objects and {traced / count / 1024:.1f} KiB each")
    for name, number in held.most_common():
        if number >= count // 2:
            print(f"  {number / count:6.2f}  {name}")


def as_json(count: int, held: Counter[str], traced: int, promoted: Counter[str]) -> str:
    common = {name: number / count for name, number in held.items() if number >= count // 2}
    return json.dumps(
        {
            "streams": count,
            "objects": sum(held.values()) / count,
            "kib": traced / count / 1024,
            "kinds": common,
            "promoted": sum(promoted.values()) / count,
            "promoted_kinds": {name: number / count for name, number in promoted.items()},
        }
    )


def main() -> None:
    words = [word for word in sys.argv[1:] if word != "--json"]
    count = int(words[0]) if words else 1000
    tracemalloc.start()
    held, traced, promoted = asyncio.run(open_streams(count))
    if "--json" in sys.argv:
        print(as_json(count, held, traced, promoted))
    else:
        print_census(count, held, traced)
        print(f"  one more event promotes {sum(promoted.values()) / count:.2f} objects each:")
        for name, number in promoted.most_common():
            if number >= count // 2:
                print(f"  {number / count:6.2f}  {name}")


if __name__ == "__main__":
    main()
