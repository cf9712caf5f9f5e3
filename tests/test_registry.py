"""Registry: registration-time checks, URL patterns, one view per route, 405."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import orjson
import pytest
from django.test import AsyncClient
from django.urls import URLPattern

from jsonlfn import Registry, SpecError, jsonl_stream, query


class Q(msgspec.Struct):
    n: int = 1


async def plain(request: Any) -> AsyncIterator[int]:
    yield 1


def test_duplicate_route_and_method_is_rejected_at_registration() -> None:
    registry = Registry()
    registry.add("a/", plain)
    with pytest.raises(SpecError, match=r"GET 'a/' is already registered to .*plain"):
        registry.add("a/", plain, methods=["GET", "POST"])


def test_methods_must_be_a_list() -> None:
    with pytest.raises(SpecError, match=r'for example methods=\["GET"\]'):
        Registry().add("a/", plain, methods="GET")
    with pytest.raises(SpecError, match="Unsupported methods"):
        Registry().add("a/", plain, methods=["FETCH"])


def test_path_parameter_must_be_accepted() -> None:
    with pytest.raises(SpecError, match=r"route 'orgs/<int:org>/' passes `org=`"):
        Registry().add("orgs/<int:org>/", plain)


def test_registering_a_coroutine_function_fails() -> None:
    async def not_a_stream(request: Any) -> list[int]:
        return [1]

    with pytest.raises(SpecError, match=r"registry\.add needs an async generator"):
        Registry().add("a/", not_a_stream)  # type: ignore[arg-type]


def test_missing_jsonl_stream_is_reported_by_urls() -> None:
    registry = Registry()
    registry.add("a/", plain)
    with pytest.raises(SpecError, match=r"has no @jsonl_stream\(...\); add @jsonl_stream"):
        registry.urls()


def test_unsupplied_parameter_is_reported_by_urls() -> None:
    registry = Registry()

    @registry.get("a/")
    @jsonl_stream()
    async def needs_query(request: Any, query: Q) -> AsyncIterator[int]:
        yield query.n

    with pytest.raises(SpecError, match=r"parameter `query` that nothing supplies"):
        registry.urls()


def test_request_must_come_first() -> None:
    registry = Registry()

    @registry.get("a/")
    @jsonl_stream()
    async def no_request(**kwargs: Any) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(SpecError, match="must take the request as its first positional"):
        registry.urls()


def test_registry_decorator_commutes_with_the_others() -> None:
    """@registry.get may sit below @jsonl_stream: the spec is read in urls()."""
    registry = Registry()

    @jsonl_stream(model=int)
    @query(Q)
    @registry.get("a/")
    async def below(request: Any, query: Q) -> AsyncIterator[int]:
        yield query.n

    (pattern,) = registry.urls()
    assert isinstance(pattern, URLPattern)
    assert pattern.name == "below"
    assert [r.fn for r in registry.routes] == [below]


@pytest.mark.anyio
async def test_two_methods_share_one_route_and_others_get_405() -> None:
    client = AsyncClient()
    get = await client.get("/multi/")
    post = await client.post("/multi/")
    assert b"".join([c async for c in get.streaming_content]) == b'"get"\n'
    assert b"".join([c async for c in post.streaming_content]) == b'"post"\n'
    put = await client.put("/multi/")
    assert put.status_code == 405
    assert put["Allow"] == "GET, HEAD, POST"
    assert put["Content-Type"] == "application/json"
    assert orjson.loads(put.content) == {
        "detail": [
            {
                "msg": "Method PUT is not allowed here; use GET, HEAD, POST",
                "type": "method_not_allowed",
            }
        ]
    }
