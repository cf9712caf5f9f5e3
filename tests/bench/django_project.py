"""One Django project serving jsonlfn's and plain Django's benchmark routes.

uvicorn tests.bench.django_project:application         (Django's handler)
uvicorn tests.bench.django_project:direct_application  (registry.asgi())

``tests.bench.middleware_project`` serves the same with startproject's ``MIDDLEWARE``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import django
import msgspec
import orjson
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import include, path

from tests.bench import startproject

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        JSONLFN={"SEND_TIMEOUT": None},
        # none; tests.bench.middleware_project: startproject's
        **{"MIDDLEWARE": [], "INSTALLED_APPS": [], **startproject.settings()},
    )
    django.setup()

from django.core.asgi import get_asgi_application

from jsonlfn import Registry, jsonl_stream, ping, query, sse
from tests.bench.items import User, first_then_idle, item, slow_items

registry = Registry(title="bench")


class N(msgspec.Struct):
    n: int = 10


@registry.get("jsonlfn/items/")
@jsonl_stream(model=User)
@query(N)
@sse()  # the "SSE" rows: the same function, read as Server-Sent Events
async def jsonlfn_items(request: Any, query: N) -> AsyncIterator[Any]:
    for i in range(query.n):
        yield item(i)


@registry.get("jsonlfn/items-unvalidated/")
@jsonl_stream(model=User, validate=False)
@query(N)
async def jsonlfn_items_unvalidated(request: Any, query: N) -> AsyncIterator[Any]:
    for i in range(query.n):
        yield item(i)


@registry.get("jsonlfn/slow/")
@jsonl_stream()
@query(N)
async def jsonlfn_slow(request: Any, query: N) -> AsyncIterator[Any]:
    async for each in slow_items(query.n):
        yield each


@registry.get("jsonlfn/idle/")
@jsonl_stream()
@ping(every=None)
async def jsonlfn_idle(request: Any) -> AsyncIterator[Any]:
    async for each in first_then_idle():
        yield each


@registry.get("jsonlfn/idle-pinged/")
@jsonl_stream()
@ping(every=15)
async def jsonlfn_idle_pinged(request: Any) -> AsyncIterator[Any]:
    async for each in first_then_idle():
        yield each


def _lines(source: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async def encode() -> AsyncIterator[bytes]:
        async for each in source:
            yield orjson.dumps(each, option=orjson.OPT_APPEND_NEWLINE)

    return encode()


def _n(request: HttpRequest) -> int:
    return int(request.GET.get("n", "10"))


async def plain_items(request: HttpRequest) -> StreamingHttpResponse:
    async def lines(n: int) -> AsyncIterator[bytes]:
        dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for i in range(n):
            yield dumps(item(i), option=option)

    return StreamingHttpResponse(lines(_n(request)), content_type="application/jsonl")


async def plain_slow(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_lines(slow_items(_n(request))), content_type="application/jsonl")


async def plain_idle(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_lines(first_then_idle()), content_type="application/jsonl")


urlpatterns = [
    path("", include(registry.urls())),
    path("plain/items/", plain_items),
    path("plain/slow/", plain_slow),
    path("plain/idle/", plain_idle),
]


if settings.INSTALLED_APPS:
    startproject.migrate()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "")
application = get_asgi_application()
direct_application = registry.asgi(application)  # jsonlfn's routes without Django's handler
