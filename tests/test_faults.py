"""Fault injection against a live uvicorn: after each fault the server answers the next
request, logs exactly one record for it, and never writes half a line."""

from __future__ import annotations

import logging
import time

import pytest

from tests.conftest import LiveServer
from tests.tracker import tracker
from tests.wire import StreamReader, fetch, open_request, reset


def next_request_is_served(port: int) -> None:
    began = time.monotonic()
    assert fetch(port, "/count/?n=1").body == b'{"i":0}\n'
    assert time.monotonic() - began < 10  # served, not frozen behind a busy stream


FAULTS = {  # what is requested, and what the one log record must say
    "generator raises after 2 items": ("/fail/?n=2", "boom"),
    "unserialisable item": ("/unencodable/?n=2", "unsupported"),
    "validation fails mid-stream": ("/invalid/?n=2", "Expected `int`"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_mid_stream_fault(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    path, logged = FAULTS[fault]
    with caplog.at_level(logging.INFO, logger="jsonlfn"):
        response = fetch(live_server.port, path)
    assert response.status == 200
    assert response.body == b'{"i":0}\n{"i":1}\n'  # whole lines only, a proper end
    records = [r for r in caplog.records if r.name == "jsonlfn"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "failed mid-stream" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert logged in str(records[0].exc_info[1])
    next_request_is_served(live_server.port)


def test_client_resets_the_connection_mid_line(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/firehose/?label=reset")
    reader = StreamReader(sock)
    reader.next_line()
    sock.recv(100)  # somewhere inside a line
    reset(sock)  # SO_LINGER 0: a TCP RST, not a FIN
    tracker.wait_all_finished(within=10.0)
    next_request_is_served(live_server.port)


def test_huge_stream_and_a_client_that_leaves(live_server: LiveServer) -> None:
    """One GET for a billion items that never awaits, then gone: others are still served."""
    sock = open_request(live_server.port, "/count/?n=1000000000&label=huge")
    assert StreamReader(sock).next_line() == b'{"i":0}\n'
    sock.close()
    for _ in range(5):
        next_request_is_served(live_server.port)
    tracker.wait_all_finished(within=10.0)
