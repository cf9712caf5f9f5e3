"""Decorators record one spec, in any order, and reject misuse at import time."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest

from jsonlfn import SpecError, body, cookies, get_spec, headers, jsonl_stream, query, resume
from jsonlfn._spec import Spec, StreamOptions


class H(msgspec.Struct):
    x_trace: str = ""


class Q(msgspec.Struct):
    page: int = 1


class C(msgspec.Struct):
    theme: str = ""


class B(msgspec.Struct):
    name: str


def on_error(exc: Exception) -> None:
    return None


def fresh() -> Callable[..., AsyncIterator[Any]]:
    async def fn(request: Any, headers: H, query: Q, cookies: C, body: B) -> AsyncIterator[Any]:
        yield 1

    return fn


DECORATORS = [
    jsonl_stream(model=B, validate=False, on_error=on_error),
    headers(H),
    query(Q),
    cookies(C),
    body(B),
]


def test_every_order_gives_the_same_spec() -> None:
    specs = set()
    for order in itertools.permutations(DECORATORS):
        fn = fresh()
        for decorate in order:
            assert decorate(fn) is fn  # recorded, never wrapped
        specs.add(get_spec(fn))
    assert specs == {
        Spec(
            stream=StreamOptions(model=B, validate=False, on_error=on_error),
            headers=H,
            query=Q,
            cookies=C,
            body=B,
        )
    }


def test_undecorated_function_has_an_empty_spec() -> None:
    assert get_spec(fresh()) == Spec()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("async def fn(request):\n    return [1]", "async but never yields"),
        ("def fn(request):\n    yield 1", "sync generator"),
        ("def fn(request):\n    return 1", "plain function"),
    ],
)
def test_only_async_generators_are_accepted(source: str, message: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(SpecError, match=message) as info:
        jsonl_stream(model=int)(namespace["fn"])
    assert "needs an async generator function" in str(info.value)


def test_parameter_the_function_does_not_accept() -> None:
    async def fn(request: Any) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(SpecError, match=r"passes `query=` .* add `query` to its signature"):
        query(Q)(fn)


def test_kwargs_accepts_every_component() -> None:
    async def fn(request: Any, **kwargs: Any) -> AsyncIterator[int]:
        yield 1

    assert get_spec(headers(H)(fn)).headers is H


def test_same_decorator_twice() -> None:
    fn = fresh()
    query(Q)(fn)
    with pytest.raises(SpecError, match="@query is applied twice"):
        query(Q)(fn)


def test_decorator_without_parentheses() -> None:
    with pytest.raises(SpecError, match=r"without arguments; write @jsonl_stream\(...\)"):
        jsonl_stream(fresh())
    with pytest.raises(SpecError, match=r"write @headers\(...\)"):
        headers(fresh())  # type: ignore[arg-type]


def test_resume_without_parentheses_names_the_id_type() -> None:
    with pytest.raises(SpecError, match=r"write @resume\(int\) or @resume\(str\) with the type"):
        resume(fresh())


def test_component_model_must_have_fields() -> None:
    with pytest.raises(SpecError, match="needs a msgspec Struct, dataclass or TypedDict"):
        headers(int)


def test_model_msgspec_cannot_handle() -> None:
    with pytest.raises(SpecError, match="msgspec cannot handle the model"):
        jsonl_stream(model=socket.socket)


def test_bad_options() -> None:
    with pytest.raises(SpecError, match="on_error must be a function"):
        jsonl_stream(on_error="nope")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="prime_timeout must be zero or more"):
        jsonl_stream(prime_timeout=-1)
    with pytest.raises(SpecError, match="compress must be True, False or None"):
        jsonl_stream(compress="no")  # type: ignore[arg-type]
