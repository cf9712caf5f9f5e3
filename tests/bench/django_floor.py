"""The floor of the direct path: only the per-request work it keeps of Django's handler.

uvicorn tests.bench.django_floor:application

Per request this app does what ``registry.asgi()`` keeps of Django's handler (see
``jsonlfn/_http/_direct.py``), with the direct path's own code for it, and none of
jsonlfn's stream work: the body read, a ``ThreadSensitiveContext``, the script prefix,
``request_started`` and ``request_finished`` called as the direct path calls them, an
``ASGIRequest`` with a ``ResolverMatch`` of its own (resolved once and copied, as the
direct path remembers resolutions), ``ALLOWED_HOSTS``, and the watch that notices the
client leave (Django's handler runs a task for it). Then it writes the same 10 lines as
the bare 64 KiB app, in one message, reading ``n`` as that app does. No stream
function, no Task, no parameters parsed, no negotiation, no validation.

Scenario B of this app bounds what the direct path can reach without changing what a
project had before (its signal receivers, its hosts, its request object).
"""

from __future__ import annotations

import asyncio
from io import BytesIO
from typing import Any

import orjson
from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.urls import get_resolver, set_script_prefix

import tests.bench.django_project  # noqa: F401 - configures Django, as the other rows
from jsonlfn._http import _lifecycle
from jsonlfn._http._direct import _read_body
from jsonlfn._http._resolutions import _own_copy
from jsonlfn._http._watch import ClientWatch
from tests.bench.bare import HEADERS
from tests.bench.items import item, query_n

_MATCH = get_resolver().resolve("/jsonlfn/items/")


async def application(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    async with ThreadSensitiveContext() as context:
        body = await _read_body(scope, receive)
        set_script_prefix(get_script_prefix(scope))
        await _lifecycle.started(scope)
        get_resolver()  # the direct path checks the resolver is the current one
        request = ASGIRequest(scope, BytesIO(body or b""))
        request.resolver_match = _own_copy(_MATCH)
        task = asyncio.current_task()
        assert task is not None
        watch = ClientWatch(receive, task)
        try:
            request.get_host()
            n = query_n(scope["query_string"], 10)
            dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            lines = b"".join(dumps(item(i), option=option) for i in range(n))
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            watch.stop()  # before the last write, as the direct path: its end is no news
            await send({"type": "http.response.body", "body": lines})
        finally:
            watch.stop()
            await _lifecycle.finished(context)
