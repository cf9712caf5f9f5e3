"""Hostile input over real sockets, on both serving paths and both of uvicorn's HTTP
parsers (httptools and h11): a 4xx with the JSON error body, never a 500; and a
``MAX_STREAMS`` bound that holds at every moment."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc

import orjson
import pytest
from django.test import override_settings

from jsonlfn._stream._capacity import admitted
from jsonlfn.testing import LiveServer
from tests.conftest import wait_for_port
from tests.streams import slow_primers
from tests.wire import RawResponse, fetch, send_request


def assert_json_error(response: RawResponse, status: int, loc: list[object] | None) -> None:
    assert response.status == status, response.body[:300]
    assert response.headers["content-type"] == "application/json"
    detail = orjson.loads(response.body)["detail"][0]
    if loc is not None:
        assert detail["loc"] == loc


DEEP = b"[" * 100_000 + b"]" * 100_000  # past msgspec's depth limit on 3.11 (1,000) and 3.13


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/orders/", b'{"item":"x","quantity":1,"unknown":' + DEEP + b"}"),  # a skipped field
        ("/bodies/struct/", b'{"value":' + DEEP + b"}"),  # an Any field
        ("/bodies/dataclass/", b'{"either":' + DEEP + b"}"),  # a union with list[Any]
        ("/bodies/typeddict/", b'{"nested":{"a":' + DEEP + b"}}"),
    ],
)
def test_deeply_nested_json_is_400(parser_server: LiveServer, path: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/jsonl"}
    response = send_request(parser_server.port, "POST", path, headers, body)
    assert_json_error(response, 400, ["body"])
    assert b"nested too deeply" in response.body


def test_the_demo_order_endpoint_refuses_deep_nesting(demo_server: int) -> None:
    body = b'{"item":"tea","quantity":1,"x":' + DEEP + b"}"
    response = send_request(
        demo_server, "POST", "/api/orders/", {"Content-Type": "application/json"}, body
    )
    assert_json_error(response, 400, ["body"])


def test_too_many_query_parameters_is_400(parser_server: LiveServer) -> None:
    query = "&".join(f"k{i}=v" for i in range(1001))
    response = fetch(parser_server.port, f"/count/?n=1&{query}")
    assert_json_error(response, 400, ["query"])
    assert b"DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.body


@pytest.mark.parametrize("n", [2**64, 10**40])
def test_integers_beyond_64_bits_are_written(parser_server: LiveServer, n: int) -> None:
    response = fetch(parser_server.port, f"/echo/{n}/")
    assert response.status == 200
    assert response.body == str(n).encode() + b"\n"  # JSON numbers have no size limit


def test_an_item_that_cannot_be_written_first_is_422(parser_server: LiveServer) -> None:
    response = fetch(parser_server.port, "/unencodable/?n=0")
    assert_json_error(response, 422, ["item"])


def test_a_dripped_body_times_out_on_the_direct_path(direct_server: LiveServer) -> None:
    with override_settings(JSONLFN={"BODY_TIMEOUT": 0.5}):
        sock = socket.create_connection(("127.0.0.1", direct_server.port), timeout=10)
        sock.sendall(
            b"POST /orders/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        began = time.monotonic()
        sock.settimeout(0.2)
        data = b""
        while not data.endswith(b"}") and time.monotonic() - began < 15:
            try:
                data += sock.recv(65536)
            except TimeoutError:
                sock.sendall(b" ")  # one byte at a time, never the whole body
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert time.monotonic() - began < 10  # BODY_TIMEOUT (0.5 s), not the client's 15 s
    assert orjson.loads(body)["detail"][0]["type"] == "request_timeout"


def test_max_streams_holds_at_every_moment(live_server: LiveServer) -> None:
    """1,000 clients at once whose first item takes 0.3 s: never more than 100 admitted
    (a sampler reads the count every millisecond), the rest 503 + Retry-After."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], admitted())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    slow_primers.peak = 0
    with override_settings(JSONLFN={"MAX_STREAMS": 100, "RETRY_AFTER": 3}):
        sampler.start()
        try:
            statuses = asyncio.run(_burst(live_server.port, 1000, "/slow-prime/"))
        finally:
            done.set()
            sampler.join()
    assert peak[0] <= 100
    assert slow_primers.peak <= 100
    assert statuses.count(200) >= 100  # the bound admits, it doesn't only refuse
    assert statuses.count(200) + statuses.count(503) == 1000
    assert admitted() == 0  # every slot given back


async def _burst(port: int, clients: int, path: str) -> list[int]:
    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        status = int(data.split(b" ", 2)[1])
        if status == 503:
            head, _, body = data.partition(b"\r\n\r\n")
            assert b"retry-after: 3" in head.lower()
            assert orjson.loads(body)["detail"][0]["type"] == "overloaded"
        return status

    return await asyncio.gather(*(one() for _ in range(clients)))


def test_every_way_a_request_ends_gives_its_slot_back(live_server: LiveServer) -> None:
    """Auth failures, 4xx, an invalid first item, HEAD, and a client that leaves while
    the function primes: each held a slot, and each gave it back."""
    port = live_server.port
    with override_settings(JSONLFN={"MAX_STREAMS": 1, "PRIME_TIMEOUT": 0.5}):
        assert fetch(port, "/secure/").status == 401
        assert fetch(port, "/count/?n=x").status == 400
        assert fetch(port, "/invalid/?n=0").status == 422
        assert fetch(port, "/count/", {"Accept": "text/html"}).status == 406
        assert send_request(port, "HEAD", "/count/?n=1").status == 200
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /slow-prime/ HTTP/1.1\r\nHost: x\r\n\r\n")
        entered_before = slow_primers.entered
        deadline = time.monotonic() + 15  # the function has its slot: it is running
        while slow_primers.entered == entered_before and time.monotonic() < deadline:
            time.sleep(0.005)
        sock.close()  # gone while the function waits for its first item
        deadline = time.monotonic() + 15  # a busy machine's loop may take seconds to see it
        while admitted() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert admitted() == 0
        assert fetch(port, "/count/?n=1").status == 200  # the one slot is free


def test_distinct_long_header_values_and_paths_are_not_held(parser_server: LiveServer) -> None:
    """Caches keyed by a client's bytes (``Accept``, ``Accept-Encoding``, the direct path's
    resolutions) remember short values only: 150 requests, each with its own 4 KiB
    ``Accept`` and ``Accept-Encoding`` and a 3,000-character path, leave nothing of
    them held (the caches of 256 and 1,024 entries held ~3 MiB of them)."""

    def request(i: int) -> None:
        filler = "a" * 4096
        headers = {"Accept": f"application/jsonl, text/x-{i}-{filler}"}
        headers["Accept-Encoding"] = f"identity, x-{i}-{filler}"
        response = fetch(parser_server.port, f"/echo/{i:03000d}/", headers)
        assert response.status == 200, response.body[:300]
        assert response.body == f"{i}\n".encode()

    request(0)  # the first request's imports and lazily built state
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, 151):  # 1.2 MiB of values: a cache that kept them fails
            request(i)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 512 * 1024, f"{held / 1024:.0f} KiB held after 150 requests"


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
@pytest.mark.parametrize("app", ["application", "direct_application"])
def test_distinct_huge_header_values_leave_the_rss_flat(app: str) -> None:
    """A uvicorn process (httptools: it takes 32 MiB of headers) answers 60 requests,
    each with its own 900 KiB ``Accept`` and ``Accept-Encoding`` (108 MiB in all): its
    resident memory grows by less than 48 MiB (caches of 256 entries kept +200 MiB of
    them over 120 requests).

    Each reading follows a ``/gc/`` request: Django 6.1's handler leaves every request in a
    reference cycle (a class made per request, an ExceptionGroup's traceback), so up to a
    collection's worth of 1.8 MiB scopes waited for the GC (+88 MiB on 3.13). What is
    measured is what survives a collection, which is what a cache keeps."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "uvicorn", f"tests.asgi:{app}", "--port", str(port)]
    argv += ["--http", "httptools", "--log-level", "warning"]
    # A fixed mmap threshold: each freed value goes back to the kernel at once (glibc's
    # sliding threshold moved 900 KiB values onto heaps that kept +80 MiB once freed).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(port, process)
        filler = "a" * (900 * 1024)

        def request(i: int) -> None:
            headers = {"Accept": f"application/jsonl, text/x-{i}-{filler}"}
            headers["Accept-Encoding"] = f"identity, x-{i}-{filler}"
            assert fetch(port, "/count/?n=1", headers).status == 200

        def collected_rss() -> int:
            assert fetch(port, "/gc/", {}).status == 204
            return _rss(process.pid)

        for i in range(5):  # imports, lazily built state, the allocator's first arenas
            request(i)
        before = collected_rss()
        for i in range(5, 65):
            request(i)
        grown = collected_rss() - before
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    assert grown < 48 * 1024 * 1024, f"+{grown / 2**20:.0f} MiB resident"
