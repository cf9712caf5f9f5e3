"""The benchmark's items and producers, shared by every server under test.

Each server writes its fast producer inline (`for i in range(n): yield item(i)`), the
way its users would, so no server pays for an extra generator layer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec


class User(msgspec.Struct):
    id: int
    email: str
    score: float
    tags: list[str]


def item(i: int) -> dict[str, Any]:
    return {"id": i, "email": f"user{i}@example.com", "score": i * 0.5, "tags": ["a", "b"]}


async def slow_items(n: int, every: float = 0.01) -> AsyncIterator[dict[str, Any]]:
    """One item every ``every`` seconds, stamped with the time it was yielded."""
    for i in range(n):
        await asyncio.sleep(every)
        yield {"id": i, "t": time.time()}


async def first_then_idle() -> AsyncIterator[dict[str, Any]]:
    """One item, then nothing until the client leaves."""
    yield item(0)
    await asyncio.Event().wait()


def query_n(query_string: bytes, default: int) -> int:
    for pair in query_string.split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == b"n" and value.isdigit():
            return int(value)
    return default
