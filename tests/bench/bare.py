"""Bare ASGI apps: the server's physical limits, one message per line or 64 KiB batches.

uvicorn tests.bench.bare:per_line    uvicorn tests.bench.bare:coalesced
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.bench.items import item, query_n

HEADERS = [(b"content-type", b"application/jsonl")]
BATCH = 64 * 1024


async def _start(send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})


async def per_line(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await _start(send)
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    for i in range(query_n(scope["query_string"], 10)):
        await send(
            {"type": "http.response.body", "body": dumps(item(i), option=option), "more_body": True}
        )
    await send({"type": "http.response.body"})


async def coalesced(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await _start(send)
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    batch = bytearray()
    for i in range(query_n(scope["query_string"], 10)):
        batch += dumps(item(i), option=option)
        if len(batch) >= BATCH:
            await send({"type": "http.response.body", "body": bytes(batch), "more_body": True})
            batch.clear()
    await send({"type": "http.response.body", "body": bytes(batch)})
