"""A urlconf that mounts a registry under a prefix, for the OpenAPI path tests."""

from collections.abc import AsyncIterator
from typing import Any

from django.urls import include, path

from jsonlfn import Registry, jsonl_stream

registry = Registry(title="Prefixed", version="2", servers=["https://api.example.com"])


@registry.get("orgs/<int:org>/events/<slug:kind>/")
@jsonl_stream(model=int)
async def events(request: Any, org: int, kind: str) -> AsyncIterator[int]:
    """Events of one organisation.

    Longer description, kept as the operation's description.
    """
    yield org


urlpatterns = [path("api/v1/", include(registry.urls()))]
