"""gzip streams: one gzip stream per response, flushed after every batch, so every
client reads every line as it is produced: raw zlib, httpx, requests, curl and
jsonlfn.client, through Django's handler with ``GZipMiddleware`` installed and
through ``registry.asgi()``."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import tracemalloc
import zlib
from collections.abc import Iterator

import httpx
import orjson
import pytest
import requests
from django.core.asgi import get_asgi_application
from django.test import override_settings

from jsonlfn._stream._gzip import Gzip
from jsonlfn.client import stream
from jsonlfn.testing import LiveServer
from tests.tracker import tracker
from tests.wire import StreamReader, fetch, open_request

GZIP = {"Accept-Encoding": "gzip"}
TICKS = [{"i": 0}, {"i": 1}, {"i": 2}]


@pytest.fixture(scope="module", params=["django+GZipMiddleware", "direct"])
def server(request: pytest.FixtureRequest, direct_server: LiveServer) -> Iterator[LiveServer]:
    if request.param == "direct":
        yield direct_server
        return
    with override_settings(MIDDLEWARE=["django.middleware.gzip.GZipMiddleware"]):
        found = LiveServer(get_asgi_application())  # its handler loads GZipMiddleware
    found.start()
    yield found
    found.stop()


# The second tick comes SLOW seconds after the first: a first line read while the
# function has not finished was flushed when it was produced, not when the stream ended.
SLOW = 1.5


def still_running(label: str) -> bool:
    return f"start {label}" in tracker.events and f"finish {label}" not in tracker.events


def test_one_gzip_stream_decodes_batch_by_batch(server: LiveServer) -> None:
    label = f"gzip-raw-{id(server)}"
    path = f"/count/?n=2&delay={SLOW}&label={label}"
    reader = StreamReader(open_request(server.port, path, GZIP))
    assert reader.response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in reader.response.headers["vary"]
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = b""
    running_at_first_line = None
    while not decoder.eof:
        text += decoder.decompress(reader.next_chunk())
        if running_at_first_line is None and b"\n" in text:
            running_at_first_line = still_running(label)
    reader.sock.close()
    assert [orjson.loads(line) for line in text.splitlines()] == TICKS[:2]
    assert running_at_first_line  # decodable when it was produced


def test_httpx_reads_each_line_as_it_is_produced(server: LiveServer) -> None:
    label = f"gzip-httpx-{id(server)}"
    url = f"{server.url}/count/?n=2&delay={SLOW}&label={label}"

    async def read() -> list[tuple[bool, object]]:
        async with (
            httpx.AsyncClient() as client,
            client.stream("GET", url, headers=GZIP) as response,
        ):
            assert response.headers["content-encoding"] == "gzip"
            return [
                (still_running(label), orjson.loads(line)) async for line in response.aiter_lines()
            ]

    seen = asyncio.run(read())
    assert [item for _, item in seen] == TICKS[:2]
    assert seen[0][0]  # the first line was read while the function still ran


def test_requests_reads_every_line(server: LiveServer) -> None:
    url = f"{server.url}/count/?n=3&delay=0.1"
    with requests.get(url, headers=GZIP, stream=True, timeout=10) as response:
        assert response.headers["content-encoding"] == "gzip"
        lines = list(response.iter_lines(decode_unicode=True))
    assert [orjson.loads(line) for line in lines] == TICKS


def test_curl_compressed_reads_every_line(server: LiveServer) -> None:
    output = subprocess.run(
        ["curl", "-sN", "--compressed", f"{server.url}/count/?n=3&delay=0.1"],
        capture_output=True,
        check=True,
        timeout=20,
    ).stdout
    assert [orjson.loads(line) for line in output.splitlines()] == TICKS


def test_jsonlfn_client_reads_every_item(server: LiveServer) -> None:
    async def read() -> list[object]:
        return [item async for item in stream(f"{server.url}/count/?n=3", headers=GZIP)]

    assert asyncio.run(read()) == TICKS


def test_pings_arrive_through_gzip(server: LiveServer) -> None:
    reader = StreamReader(open_request(server.port, "/pinged/", GZIP))
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = b""
    while text.count(b"\n") < 2:  # the tick, then a ping 0.2 s later
        text += decoder.decompress(reader.next_chunk())
    reader.sock.close()
    assert text.splitlines()[:2] == [b'{"i":0}', b'{"type":"ping"}']


def test_without_accept_encoding_nothing_is_compressed(server: LiveServer) -> None:
    response = fetch(server.port, "/count/?n=3")
    assert "content-encoding" not in response.headers
    assert response.body == b'{"i":0}\n{"i":1}\n{"i":2}\n'


def test_compress_off_sends_plain_lines(direct_server: LiveServer) -> None:
    with override_settings(JSONLFN={"COMPRESS": False}):
        response = fetch(direct_server.port, "/count/?n=3", GZIP)
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept"
    assert response.body == b'{"i":0}\n{"i":1}\n{"i":2}\n'


def test_an_endpoint_with_compress_false_is_never_gzipped(live_server: LiveServer) -> None:
    """(Django's ``GZipMiddleware``, where installed, compresses what jsonlfn doesn't.)"""
    server = live_server
    response = fetch(server.port, "/count-uncompressed/?n=3", GZIP)
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept"
    assert response.body == b'{"i":0}\n{"i":1}\n{"i":2}\n'
    assert fetch(server.port, "/count/?n=3", GZIP).headers["content-encoding"] == "gzip"


def test_an_idle_gzip_stream_holds_under_16_kib() -> None:
    """What one response's gzip stream holds between batches (the compressor's window,
    hash tables and buffers): zlib's defaults held 262 KiB, ~91 KiB of it resident."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        codings = [Gzip() for _ in range(100)]
        for coding in codings:
            coding.batch(b'{"id":0,"name":"first line of a stream"}\n' * 20)
        held = (tracemalloc.get_traced_memory()[0] - before) / len(codings)
    finally:
        tracemalloc.stop()
    assert held < 16 * 1024, f"{held / 1024:.1f} KiB per idle gzip stream"


def test_the_gzip_stream_is_valid_and_its_header_length_is_random() -> None:
    batches = [b'{"i":0}\n', b"", b"x" * 100_000 + b"\n"]
    coding = Gzip()
    data = b"".join([*map(coding.batch, batches), coding.last(b"end\n")])
    assert gzip.decompress(data) == b"".join(batches) + b"end\n"  # CRC and size checked
    assert gzip.decompress(Gzip().last(b"")) == b""
    assert len({len(Gzip().batch(b"same")) for _ in range(40)}) > 10  # against BREACH
