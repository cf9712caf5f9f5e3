"""Long-lived streams under a real uvicorn: pings, resume, disconnects, slow clients,
shutdown and HEAD."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import orjson
import pytest
from django.test import override_settings

from jsonlfn._stream._capacity import admitted
from jsonlfn._stream._shutdown import LIVE
from tests import processes
from tests.conftest import ROOT, LiveServer, wait_for_port
from tests.tracker import tracker
from tests.wire import StreamReader, fetch, open_request, reset

PING = b'{"type":"ping"}\n'
TICK0 = b'{"i":0}\n'


def rss_bytes() -> int:
    """Resident memory of this process (the live server runs in a thread of it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def task_count(port: int) -> int:
    """The server loop's task count once transient tasks of earlier requests are gone."""
    counts = []
    for _ in range(5):
        count = orjson.loads(fetch(port, "/tasks/").body)
        assert isinstance(count, int)
        counts.append(count)
        time.sleep(0.05)
    return min(counts)


def test_pings_fill_idle_time(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/pinged/?label=idle-pings")
    reader = StreamReader(sock)
    assert reader.next_line() == TICK0
    began = time.monotonic()
    assert [reader.next_line() for _ in range(3)] == [PING] * 3
    assert time.monotonic() - began > 0.5  # every 0.2 s, not as fast as it can
    sock.close()
    tracker.wait_all_finished(within=10.0)


def test_pings_flow_while_the_first_item_is_slow(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/pinged/?delay=0.9&label=slow-pinged")
    reader = StreamReader(sock)
    assert reader.next_line() == PING
    received = [reader.next_line()]
    while received[-1] != TICK0:
        received.append(reader.next_line())
    assert set(received[:-1]) <= {PING}
    sock.close()
    tracker.wait_all_finished(within=10.0)


def test_custom_ping_item(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/pinged-custom/?label=custom")
    reader = StreamReader(sock)
    assert reader.next_line() == TICK0
    assert reader.next_line() == b'{"keepalive":true}\n'
    sock.close()
    tracker.wait_all_finished(within=10.0)


def test_project_wide_ping_interval_and_opt_out(live_server: LiveServer) -> None:
    with override_settings(JSONLFN={"PING_INTERVAL": 0.2, "PRIME_TIMEOUT": 0.5}):
        pinged = StreamReader(open_request(live_server.port, "/default-pinged/?label=d"))
        quiet = StreamReader(open_request(live_server.port, "/never-pinged/?label=q"))
        assert pinged.next_line() == TICK0
        assert pinged.next_line() == PING
        assert quiet.next_line() == TICK0
        quiet.sock.settimeout(0.6)
        with pytest.raises(TimeoutError):
            quiet.next_line()
    pinged.sock.close()
    quiet.sock.close()
    tracker.wait_all_finished(within=10.0)


def test_disconnect_during_pings_closes_promptly(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/pinged/?label=ping-disconnect")
    reader = StreamReader(sock)
    assert reader.next_line() == TICK0
    assert reader.next_line() == PING
    reset(sock)
    tracker.wait_all_finished(within=10.0)
    assert "finish ping-disconnect" in tracker.events


def test_no_task_is_left_behind(live_server: LiveServer) -> None:
    before = task_count(live_server.port)
    paths = ["/idle/", "/pinged/", "/firehose/", "/count/?n=100000&delay=0.001"]
    for path in paths * 5:
        sock = open_request(live_server.port, path)
        StreamReader(sock).next_line()
        reset(sock)
    sock = open_request(live_server.port, "/slow-first/?delay=30")
    time.sleep(0.05)
    sock.close()
    tracker.wait_all_finished(within=2.0)
    assert task_count(live_server.port) <= before


def test_resume_from_last_event_id(live_server: LiveServer) -> None:
    assert fetch(live_server.port, "/resumable/", {"Last-Event-ID": "4"}).body == (
        b'{"i":5}\n{"i":6}\n'
    )
    bad = fetch(live_server.port, "/resumable/", {"Last-Event-ID": "four"})
    assert bad.status == 400
    assert orjson.loads(bad.body)["detail"][0]["loc"] == ["headers", "Last-Event-ID"]


def test_reconnecting_client_sees_no_gap_and_no_duplicate(live_server: LiveServer) -> None:
    seen: list[int] = []
    headers: dict[str, str] = {}
    while len(seen) < 6:
        reader = StreamReader(open_request(live_server.port, "/resumable/", headers))
        for _ in range(2):  # the connection "drops" after two lines
            seen.append(orjson.loads(reader.next_line())["i"])
        reset(reader.sock)
        headers = {"Last-Event-ID": str(seen[-1])}
    assert seen == [1, 2, 3, 4, 5, 6]


def test_client_that_stops_reading_is_bounded_and_timed_out(live_server: LiveServer) -> None:
    with override_settings(JSONLFN={"SEND_TIMEOUT": 1.0}):
        sock = open_request(live_server.port, "/firehose/?label=stuck")
        reader = StreamReader(sock)
        assert reader.next_line() == TICK0
        baseline = rss_bytes()
        time.sleep(0.5)  # the generator could produce ~100 MB in this time if unbounded
        grown = rss_bytes() - baseline
        # The socket stays open: only the send timeout can end the stream. Not before
        # SEND_TIMEOUT (1 s from the first stuck write); a busy machine may take longer.
        closed_after = tracker.wait_all_finished(within=15.0)
    sock.close()
    assert grown < 32 * 1024 * 1024, f"server memory grew by {grown} bytes"
    assert closed_after > 0.3


def test_head_sends_headers_only(live_server: LiveServer) -> None:
    sock = socket.create_connection(("127.0.0.1", live_server.port), timeout=5)
    sock.sendall(b"HEAD /idle/?label=live-head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-type: application/jsonl" in head
    assert body == b""
    tracker.wait_all_finished(within=10.0)


@pytest.mark.parametrize("app", ["application", "direct_application"])
def test_sigterm_stops_uvicorn_and_closes_open_streams(tmp_path: Path, app: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", f"tests.asgi:{app}", "--app-dir", str(ROOT)]
    command += ["--fd", str(sock.fileno()), "--timeout-graceful-shutdown", "1"]
    command += ["--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    server = processes.spawn(command, pass_fds=[sock.fileno()], env=env)
    try:
        wait_for_port(port, server)
        markers = [tmp_path / f"stream{i}" for i in range(3)]
        readers = [StreamReader(open_request(port, f"/idle/?marker={m}")) for m in markers]
        assert [r.next_line() for r in readers] == [TICK0] * 3
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        assert [m.read_text() for m in markers] == ["finally ran"] * 3
        for reader in readers:
            with pytest.raises(EOFError, match="stream ended"):  # the final chunk, no cut
                reader.next_line()
            reader.sock.close()
    finally:
        processes.stop(server)
        sock.close()


def test_stream_cap_answers_503_with_retry_after(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert not [task for task in LIVE if task.done()]  # no stream left counted after its end
    with override_settings(JSONLFN={"MAX_STREAMS": 2, "RETRY_AFTER": 7, "PRIME_TIMEOUT": 0.5}):
        held = [StreamReader(open_request(live_server.port, "/idle/?label=cap")) for _ in range(2)]
        assert [reader.next_line() for reader in held] == [TICK0] * 2
        with caplog.at_level(logging.WARNING, logger="jsonlfn"):
            refused = fetch(live_server.port, "/count/?n=1")
        assert refused.status == 503
        assert refused.headers["retry-after"] == "7"
        assert orjson.loads(refused.body)["detail"][0]["type"] == "overloaded"
        assert "refused a stream: MAX_STREAMS=2 streams are open here" in caplog.text
        held.pop().sock.close()
        deadline = time.monotonic() + 30
        while admitted() > 1 and time.monotonic() < deadline:  # the closed stream leaves
            time.sleep(0.01)
        assert fetch(live_server.port, "/count/?n=1").body == TICK0
    for reader in held:
        reader.sock.close()
