"""The representative subset of the live suite under every ASGI server people use with
Django: hypercorn, daphne and granian, each through Django's handler and through
``registry.asgi()``, each in a process of its own (uvicorn runs the whole live suite).

What each server did when a row does not hold yet is an ``xfail`` with the reason,
strict, so a fix shows up as a failure to remove the mark.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from tests import processes
from tests.conftest import ROOT, wait_for_port
from tests.wire import StreamReader, fetch, open_request

TICK0 = b'{"i":0}\n'
APPS = {"django": "application", "direct": "direct_application"}


def command(server: str, app: str, port: int) -> list[str]:
    target = f"tests.asgi:{app}"
    host = ["127.0.0.1", str(port)]
    return {
        "hypercorn": ["-m", "hypercorn", target, "--bind", ":".join(host)],
        "daphne": ["-m", "daphne", "-b", host[0], "-p", host[1], target],
        "granian": [
            *("-m", "granian", "--interface", "asgi", "--log-level", "warning"),
            *("--host", host[0], "--port", host[1], target),
        ],
    }[server]


class ServerProcess:
    """One server on a free loopback port, serving the test project from ``ROOT``
    (with ``settings``, a settings module, instead of ``tests.settings``)."""

    def __init__(
        self, server: str, path: str, settings: str | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.name = f"{server}-{path}"
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        if settings is not None:
            env["DJANGO_SETTINGS_MODULE"] = settings
        argv = [sys.executable, *command(server, APPS[path], self.port), *extra]
        self.process = processes.spawn(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        processes.stop(self.process)  # the whole group: granian and hypercorn have workers


# By default hypercorn serves from a worker process that learns of the shutdown from a
# multiprocessing event, not a signal, so jsonlfn's signal hook never fires there; after
# --graceful-timeout hypercorn cancels the connection mid-response. With `-w 0` (the
# README's advice) it serves from the process that gets the signal, and streams end well.
HYPERCORN_SHUTDOWN = "hypercorn's worker gets no signal; it cuts open responses later"

MATRIX = [f"{s}-{p}" for s in ("hypercorn", "daphne", "granian") for p in ("django", "direct")]


@pytest.fixture(scope="module", params=MATRIX)
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    name, path = request.param.split("-")
    found = ServerProcess(name, path)
    yield found
    found.stop()


def known(server: ServerProcess, failing: dict[str, str]) -> None:
    """Mark the test an expected failure on the servers where the row does not hold."""
    reason = failing.get(server.name)
    if reason is not None:
        pytest.xfail(reason)


def test_lines_arrive_as_they_are_produced(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "finally"  # written when the function ends, 1.5 s after its first line
    with closing(open_request(server.port, f"/count/?n=2&delay=1.5&marker={marker}")) as sock:
        reader = StreamReader(sock)
        assert reader.next_line() == TICK0
        ended_before_the_first_line = marker.exists()
        assert reader.next_line() == b'{"i":1}\n'
    assert not ended_before_the_first_line  # not held back until the stream ended


def test_errors_are_json_bodies(server: ServerProcess) -> None:
    response = fetch(server.port, "/count/?n=x")
    assert response.status == 400
    assert orjson.loads(response.body)["detail"][0]["loc"] == ["query", "n"]


def test_a_client_that_leaves_ends_the_function(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "finally"
    with closing(open_request(server.port, f"/idle/?marker={marker}")) as sock:
        assert StreamReader(sock).next_line() == TICK0
    deadline = time.monotonic() + 1.0
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), "the function's finally did not run within 1 s"


def test_headers_leave_at_the_priming_timeout(server: ServerProcess) -> None:
    with closing(open_request(server.port, "/slow-first/?n=1&delay=3")) as sock:
        sock.settimeout(2.0)  # PRIME_TIMEOUT is 0.5 s in tests.settings
        try:
            head = sock.recv(65536)
        except TimeoutError:
            head = b""
    assert head.startswith(b"HTTP/1.1 200")


def test_sigterm_ends_streams_after_whole_lines(server: ServerProcess, tmp_path: Path) -> None:
    """In a server of its own: SIGTERM with two open streams."""
    known(
        server,
        {
            "hypercorn-django": HYPERCORN_SHUTDOWN,
            "hypercorn-direct": HYPERCORN_SHUTDOWN,
        },
    )
    name, path = server.name.split("-")
    ends_two_streams_after_whole_lines(ServerProcess(name, path), tmp_path)


@pytest.mark.parametrize("path", ["django", "direct"])
def test_hypercorn_with_workers_0_ends_streams_after_whole_lines(path: str, tmp_path: Path) -> None:
    """The README's recipe for hypercorn: `-w 0` serves from the process that gets
    SIGTERM, so jsonlfn's hook runs there."""
    ends_two_streams_after_whole_lines(
        ServerProcess("hypercorn", path, extra=("-w", "0")), tmp_path
    )


def ends_two_streams_after_whole_lines(own: ServerProcess, tmp_path: Path) -> None:
    markers = [tmp_path / f"stream{i}" for i in range(2)]
    sockets = [open_request(own.port, f"/idle/?marker={m}") for m in markers]
    try:
        readers = [StreamReader(sock) for sock in sockets]
        assert [r.next_line() for r in readers] == [TICK0] * 2
        own.process.send_signal(signal.SIGTERM)
        own.process.wait(10)
        assert [m.read_text() for m in markers] == ["finally ran"] * 2
        for reader in readers:
            with pytest.raises(EOFError, match="stream ended"):  # the final chunk, no cut
                reader.next_line()
    finally:
        for sock in sockets:
            sock.close()
        own.stop()


def test_server_sent_events_arrive_whole_as_they_are_produced(server: ServerProcess) -> None:
    """The same function as text/event-stream: the first event whole while the stream
    goes on, and an error before the first event keeps its status."""
    sse = {"Accept": "text/event-stream"}
    with closing(open_request(server.port, "/sse/ticks/?n=2&delay=0.3", sse)) as sock:
        reader = StreamReader(sock)
        assert reader.response.headers["content-type"] == "text/event-stream"
        lines = [reader.next_line() for _ in range(4)]  # retry, ping comments, the event
        while lines[-1] != b"\n":
            lines.append(reader.next_line())
        event = [line for line in lines if not line.startswith((b":", b"retry:"))]
        assert event == [b"id: 1\n", b'data: {"i":1,"text":""}\n', b"\n"]
    response = fetch(server.port, "/sse/ticks/?fail_first=true", sse)
    assert response.status == 404
    assert orjson.loads(response.body)["detail"][0]["msg"] == "no such ticks"


@pytest.mark.parametrize(
    ("at", "name", "status"),
    [
        ("first", "TimeoutError", 500),
        ("first", "ConnectionRefusedError", 500),
        ("first", "FileNotFoundError", 500),
        ("first", "ExceptionGroup", 500),
        ("auth", "PermissionError", 500),
        ("params", "BlockingIOError", 500),
        ("first", "Http404", 404),
        ("late", "BrokenPipeError", 200),  # after the headers: the stream just ends
    ],
)
def test_a_failure_before_the_first_item_gets_an_answer(
    server: ServerProcess, at: str, name: str, status: int
) -> None:
    """An ``OSError`` kind (or a group) from the stream before its first item is a 500
    (JSON on the direct path), never a server's own answer or a hang (daphne's was);
    ``tests/test_failures.py`` checks what is logged."""
    response = fetch(server.port, f"/failing/?at={at}&raise={name}")
    assert response.status == status
    if status != 200 and server.name.endswith("direct"):
        assert orjson.loads(response.body)["detail"][0]["type"] in ("server_error", "not_found")
    if status == 200:
        assert response.body == b""


def test_a_stream_answer_to_connection_close_never_says_keep_alive(server: ServerProcess) -> None:
    with closing(open_request(server.port, "/count/?n=1", {"Connection": "close"})) as sock:
        head = b""
        while b"\r\n\r\n" not in head and (chunk := sock.recv(65536)):
            head += chunk
    assert head.startswith(b"HTTP/1.1 200")
    assert b"keep-alive" not in head.partition(b"\r\n\r\n")[0].lower()
