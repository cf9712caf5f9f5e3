"""Streams that use what startproject's MIDDLEWARE give a request (the session, the user,
messages, the CSRF token) before their first item; served by tests/urls_startproject.py."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from asgiref.sync import sync_to_async
from django.contrib import messages
from django.middleware.csrf import get_token
from django.urls import include, path

from jsonlfn import Identity, Registry, SessionAuth, jsonl_stream, query, requires

registry = Registry(title="startproject")


class Visit(msgspec.Struct):
    message: str = ""  # added before the first item
    read: bool = False  # the messages stored before, read before the first item
    token: bool = False  # asks for a CSRF token (the middleware then sets its cookie)
    session: bool = True  # counts the visit in the session


def _read(request: Any) -> list[str]:
    return [message.message for message in messages.get_messages(request)]


@registry.get("visit/")
@jsonl_stream()
@query(Visit)
async def visit(request: Any, query: Visit) -> AsyncIterator[dict[str, Any]]:
    user = await request.auser()
    # request.user, the lazy object: its first attribute loads the user (in a thread)
    lazy_name = await sync_to_async(lambda: request.user.get_username())()  # noqa: PLW0108
    visits = None
    if query.session:
        visits = await request.session.aget("visits", 0) + 1
        await request.session.aset("visits", visits)
    if query.message:
        messages.info(request, query.message)
    read = await sync_to_async(_read)(request) if query.read else None
    if query.token:
        get_token(request)
    yield {"user": user.get_username(), "lazy": lazy_name, "visits": visits, "read": read}
    yield {"after": "the first item"}


@registry.post("mine/")
@jsonl_stream()
@requires(SessionAuth())
async def mine_post(request: Any, auth: Identity) -> AsyncIterator[str]:
    yield f"posted by {auth.subject}"


THREADS: dict[str, str] = {}  # where each hook of Recording last ran, and the stream


@registry.get("threads/")
@jsonl_stream()
async def threads(request: Any) -> AsyncIterator[str]:
    THREADS["stream"] = threading.current_thread().name
    yield "ran"


urlpatterns = [path("", include(registry.urls()))]
