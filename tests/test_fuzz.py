"""Property-based fuzzing of every request component: whatever arrives, the answer is a
stream or one of the documented 4xx with the JSON error body; never a 500."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsonlfn.testing import StreamClient

pytestmark = pytest.mark.anyio

ALLOWED = {200, 400, 401, 403, 405, 406, 413, 415, 422}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Header values as a client could send them: any text but CR, LF and NUL, up to 10 kB.
header_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=10_000
)
query_text = st.text(
    st.sampled_from(list("abc=&%25%zz%E9%FF+;?#[]é0129"))
    | st.characters(blacklist_categories=("Cs",)),
    max_size=300,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=40,
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),  # big ints, NaN too
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(0, 100_000)),  # deep nesting
    st.builds(lambda n: b'{"item":"x","quantity":' + b"9" * n + b"}", st.integers(1, 5000)),
    st.binary(max_size=2000),  # not JSON at all
    # well-formed JSON whose string holds arbitrary bytes: invalid UTF-8 inside a value
    st.binary(min_size=1, max_size=50).map(lambda b: b'{"item":"' + b + b'","quantity":1}'),
)


async def check(response: Any) -> None:
    assert response.status in ALLOWED, response.status
    if response.status != 200:
        assert response.headers["content-type"] == "application/json"
        assert response.error is not None  # decodes as {"detail": [...]}
        text = msgspec.json.encode(response.error).decode()
        assert "Traceback" not in text
        assert 'File "' not in text


@FUZZ
@given(
    name=st.sampled_from(["Last-Event-ID", "Accept", "Authorization", "X-Anything"]),
    values=st.lists(header_text, min_size=1, max_size=3),
)
async def test_headers(name: str, values: list[str]) -> None:
    headers = [(name, value) for value in values]  # repeated headers too
    for path in ("/orgs/5/users/", "/resumable/", "/secure/"):
        async with StreamClient().stream(path, headers=headers) as response:
            await check(response)


@FUZZ
@given(query=query_text)
async def test_query_strings(query: str) -> None:
    async with StreamClient().stream(f"/count/?{query}") as response:
        await check(response)
        if response.status == 200:
            await response.__anext__()  # reading one line is enough: n may be huge


@FUZZ
@given(
    cookie=header_text,
    query=query_text,
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/x+json"]),
)
async def test_post_bodies(cookie: str, query: str, body: bytes, content_type: str) -> None:
    headers = [("cookie", cookie), ("content-type", content_type)]
    async with StreamClient().stream(
        f"/orders/?{query}", method="POST", headers=headers, content=body
    ) as response:
        await check(response)


@FUZZ
@given(
    accept=header_text, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
)
async def test_accept_and_methods(accept: str, method: str) -> None:
    async with StreamClient().stream(
        "/count/?n=2", method=method, headers={"Accept": accept}
    ) as response:
        await check(response)
