"""Peer frameworks' JSON Lines endpoints over the same producer (when installed).

uvicorn tests.bench.peers:fastapi_app    uvicorn tests.bench.peers:litestar_app
uvicorn tests.bench.peers:litestar_middleware_app

``litestar_middleware_app`` is Litestar with its counterparts of startproject's
``MIDDLEWARE`` (tests.bench.startproject), for the bench's MIDDLEWARE rows:

- SecurityMiddleware and XFrameOptionsMiddleware: the same four response headers;
- SessionMiddleware: server-side sessions, in memory (Litestar has no SQLite store);
  every answer sets a session cookie, where Django's sets one once a session changed;
- CsrfViewMiddleware: ``CSRFConfig`` (on a GET without the cookie it sets one, where
  Django sets it only once a token was asked for);
- AuthenticationMiddleware: an authentication middleware whose every request is
  anonymous (Django's user is anonymous without a session too);
- CommonMiddleware, MessageMiddleware: no counterpart (Litestar's router answers a path
  with or without its trailing slash alike, so there is nothing to redirect, and its
  flash messages need a template engine).
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


def _litestar_handlers() -> list[Any]:
    from litestar import get
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

    return [litestar_items, litestar_slow]


def _litestar() -> Any:
    from litestar import Litestar

    return Litestar(_litestar_handlers())


def _litestar_with_middleware() -> Any:
    from litestar import Litestar
    from litestar.config.csrf import CSRFConfig
    from litestar.connection import ASGIConnection
    from litestar.datastructures import ResponseHeader
    from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
    from litestar.middleware.session.server_side import ServerSideSessionConfig

    class Anonymous(AbstractAuthenticationMiddleware):
        async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
            return AuthenticationResult(user=None, auth=None)

    security = {  # what SecurityMiddleware and XFrameOptionsMiddleware add by default
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    return Litestar(
        _litestar_handlers(),
        middleware=[ServerSideSessionConfig().middleware, Anonymous],
        csrf_config=CSRFConfig(secret="bench-secret"),
        response_headers=[ResponseHeader(name=k, value=v) for k, v in security.items()],
    )


def __getattr__(name: str) -> Any:
    if name == "fastapi_app":
        return _fastapi()
    if name == "litestar_app":
        return _litestar()
    if name == "litestar_middleware_app":
        return _litestar_with_middleware()
    raise AttributeError(name)
