"""What the in-process benchmarks hand an ASGI app, as a server would: scope and receive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Message = dict[str, Any]


def http_scope(
    path: str, query: bytes, headers: list[tuple[bytes, bytes]], port: int = 80
) -> Message:
    """An HTTP/1.1 GET of ``path`` from a loopback client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", port),
    }


def receiver(leave: asyncio.Event) -> Callable[[], Coroutine[Any, Any, Message]]:
    """A ``receive``: the empty body at once, then the disconnect once ``leave`` is set."""
    messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> Message:
        for message in messages:
            return message
        await leave.wait()
        return {"type": "http.disconnect"}

    return receive
