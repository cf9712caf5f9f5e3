"""Session-authenticated streams; imported only with the session middleware enabled."""

from collections.abc import AsyncIterator
from typing import Any

from django.urls import include, path

from jsonlfn import Identity, Registry, SessionAuth, jsonl_stream, requires

registry = Registry(title="Session")


@registry.get("mine/")
@jsonl_stream()
@requires(SessionAuth())
async def mine(request: Any, auth: Identity) -> AsyncIterator[str]:
    yield f"user {auth.subject}"


@registry.post("mine/")
@jsonl_stream()
@requires(SessionAuth())
async def mine_post(request: Any) -> AsyncIterator[str]:
    yield "posted"


urlpatterns = [path("", include(registry.urls()))]
