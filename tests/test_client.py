"""jsonlfn.client: decoding, resume with Last-Event-ID, retries; respx and a live server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import respx

from jsonlfn.client import MalformedLine, StreamError, stream
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio
URL = "https://events.example/stream"


class Tick(msgspec.Struct):
    i: int


class Chunks(httpx.AsyncByteStream):
    """A response body: these chunks, then (optionally) the connection drops."""

    def __init__(self, *chunks: bytes, drop: bool = False) -> None:
        self.chunks, self.drop = chunks, drop

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.drop:
            raise httpx.RemoteProtocolError("peer closed connection mid-body")


def body(*chunks: bytes, drop: bool = False, status: int = 200) -> httpx.Response:
    return httpx.Response(status, stream=Chunks(*chunks, drop=drop))


async def collect(**options: Any) -> list[Any]:
    return [item async for item in stream(URL, backoff=0.001, **options)]


@respx.mock
async def test_drop_mid_line_resumes_after_the_last_whole_item() -> None:
    route = respx.get(URL).mock(
        side_effect=[
            body(b'{"i":1}\n{"i":2}\n{"i":', drop=True),
            body(b'{"i":3}\n'),
        ]
    )
    assert await collect(model=Tick, id="i", resume=True) == [Tick(1), Tick(2), Tick(3)]
    assert "last-event-id" not in route.calls[0].request.headers
    assert route.calls[1].request.headers["last-event-id"] == "2"


@respx.mock
async def test_5xx_then_success() -> None:
    respx.get(URL).mock(side_effect=[body(status=503), body(status=429), body(b'{"i":1}\n')])
    assert await collect(model=Tick, resume=True) == [Tick(1)]


@respx.mock
async def test_retry_limit() -> None:
    route = respx.get(URL).mock(return_value=body(status=502))
    with pytest.raises(StreamError, match="failed after 4 attempt"):
        await collect(resume=True, max_retries=3)
    assert route.call_count == 4


@respx.mock
async def test_without_resume_a_drop_is_an_error() -> None:
    respx.get(URL).mock(return_value=body(b'{"i":1}\n{"i', drop=True))
    received: list[Any] = []

    async def consume() -> None:
        async for item in stream(URL, model=Tick):
            received.append(item)

    with pytest.raises(StreamError):
        await consume()
    assert received == [Tick(1)]


@respx.mock
async def test_malformed_line_names_its_number() -> None:
    respx.get(URL).mock(return_value=body(b'{"i":1}\n{"i":"x"}\n'))
    with pytest.raises(MalformedLine, match="line 2 does not decode") as info:
        await collect(model=Tick)
    assert info.value.line == b'{"i":"x"}'


@respx.mock
async def test_pings_skipped_and_unterminated_last_line_kept() -> None:
    respx.get(URL).mock(return_value=body(b'{"i":1}\n{"type":"ping"}\n', b'{"i":2}'))
    assert await collect(model=Tick) == [Tick(1), Tick(2)]


@respx.mock
async def test_refusal_is_decoded() -> None:
    respx.get(URL).mock(
        return_value=httpx.Response(
            401, json={"detail": [{"msg": "Not authenticated", "type": "security"}]}
        )
    )
    with pytest.raises(StreamError) as info:
        await collect(resume=True)
    assert info.value.status == 401
    assert info.value.error is not None
    assert info.value.error.detail[0].msg == "Not authenticated"


@respx.mock
async def test_headers_are_sent() -> None:
    route = respx.get(URL).mock(return_value=body(b"1\n"))
    assert await collect(headers={"Authorization": "Bearer t"}) == [1]
    assert route.calls[0].request.headers["authorization"] == "Bearer t"


async def test_end_to_end_through_real_connection_drops(live_server: LiveServer) -> None:
    items = [
        tick.i
        async for tick in stream(
            f"{live_server.url}/dropping/", model=Tick, id="i", resume=True, backoff=0.01
        )
    ]
    assert items == list(range(1, 11))
