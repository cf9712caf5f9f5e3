"""jsonlfn.client: decoding, resume with Last-Event-ID, retries; respx and a live server."""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import respx

from jsonlfn._client._failover import Failover
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


class Slept(list[float]):
    """The client's reconnection delays, recorded instead of slept."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Slept:
    from jsonlfn import client

    recorded = Slept()
    monkeypatch.setattr(client, "_sleep", recorded)
    return recorded


@respx.mock
async def test_retry_after_is_honoured_in_seconds_and_as_a_date(slept: Slept) -> None:
    later = email.utils.format_datetime(datetime.datetime.now(datetime.UTC), usegmt=True)
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": later}),  # now: no wait beyond backoff
            body(b'{"i":1}\n'),
        ]
    )
    assert await collect(model=Tick, resume=True) == [Tick(1)]
    assert slept[0] == 7.0
    assert slept[1] < 0.01  # the backoff of 0.001 s, with jitter


@respx.mock
async def test_several_urls_fail_over_with_the_last_id(slept: Slept) -> None:
    a, b = "https://a.example/events", "https://b.example/events"
    on_a = respx.get(a).mock(
        side_effect=[
            body(b'{"i":1}\n', drop=True),
            httpx.Response(503, headers={"Retry-After": "30"}),
        ]
    )
    on_b = respx.get(b).mock(side_effect=[httpx.ConnectError("down"), body(b'{"i":2}\n')])
    options = {"model": Tick, "id": "i", "resume": True, "backoff": 0.001}
    got = [item async for item in stream([a, b], **options)]  # type: ignore[arg-type]
    assert got == [Tick(1), Tick(2)]
    assert [c.request.headers.get("last-event-id") for c in on_a.calls] == [None, "1"]
    assert [c.request.headers.get("last-event-id") for c in on_b.calls] == ["1", "1"]
    assert max(slept) < 1  # b was there to try while a's Retry-After ran


@respx.mock
async def test_a_function_picks_the_url_of_each_attempt(slept: Slept) -> None:
    picked: list[int] = []

    def pick(attempt: int) -> str:
        picked.append(attempt)
        return URL

    respx.get(URL).mock(side_effect=[httpx.ConnectError("down"), body(b'{"i":1}\n')])
    got = [item async for item in stream(pick, model=Tick, resume=True, backoff=0.001)]
    assert got == [Tick(1)]
    assert picked == [0, 1]


@respx.mock
async def test_give_up_after_bounds_the_time_spent_failing(slept: Slept) -> None:
    respx.get(URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "20"}))
    with pytest.raises(StreamError, match="give_up_after=10"):
        await collect(resume=True, max_retries=100, give_up_after=10)
    assert slept == []  # the first Retry-After would already outlast it


def test_the_backoff_grows_with_jitter_and_a_servers_retry_replaces_it() -> None:
    policy = Failover(URL, max_retries=10, give_up_after=None, backoff=1.0, max_backoff=5.0)
    waits = [policy.failed(URL, None) for _ in range(5)]
    assert 0.5 <= waits[0] <= 1.5
    assert 1.0 <= waits[1] <= 3.0
    assert waits[-1] <= 5.0 * 1.5
    policy.connected()
    policy.retry = 0.25  # an SSE retry: field
    assert [policy.failed(URL, None) for _ in range(3)] == [0.25, 0.5, 1.0]


async def test_a_dead_url_beside_a_live_one_reads_from_the_live_one(
    live_server: LiveServer, slept: Slept
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/stream/"
    live = f"{live_server.url}/count/?n=3"
    got = [item async for item in stream([dead, live], resume=True, backoff=0.001)]
    assert len(got) == 3
    assert len(slept) == 1
