"""Peer frameworks' JSON Lines endpoints over the same producer (when installed).

uvicorn tests.bench.peers:fastapi_app    uvicorn tests.bench.peers:litestar_app
"""

# No `from __future__ import annotations`: both frameworks read the annotations at run time.
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson

from tests.bench.items import item, slow_items


def _fastapi() -> Any:
    import pydantic
    from fastapi import FastAPI

    class User(pydantic.BaseModel):
        id: int
        email: str
        score: float
        tags: list[str]

    app = FastAPI()

    @app.get("/items/")
    async def fastapi_items(n: int = 10) -> AsyncIterable[User]:
        for i in range(n):
            yield item(i)  # type: ignore[misc]

    @app.get("/slow/")
    async def fastapi_slow(n: int = 10) -> AsyncIterable[dict[str, Any]]:
        async for each in slow_items(n):
            yield each

    return app


def _litestar() -> Any:
    from litestar import Litestar, get
    from litestar.response import Stream

    async def lines(source: AsyncIterator[Any]) -> AsyncIterator[bytes]:
        async for each in source:
            yield orjson.dumps(each, option=orjson.OPT_APPEND_NEWLINE)

    async def fast_lines(n: int) -> AsyncIterator[bytes]:
        dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for i in range(n):
            yield dumps(item(i), option=option)

    @get("/items/")
    async def litestar_items(n: int = 10) -> Stream:
        return Stream(fast_lines(n), media_type="application/jsonl")

    @get("/slow/")
    async def litestar_slow(n: int = 10) -> Stream:
        return Stream(lines(slow_items(n)), media_type="application/jsonl")

    return Litestar([litestar_items, litestar_slow])


def __getattr__(name: str) -> Any:
    if name == "fastapi_app":
        return _fastapi()
    if name == "litestar_app":
        return _litestar()
    raise AttributeError(name)
