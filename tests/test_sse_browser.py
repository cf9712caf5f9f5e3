"""Server-Sent Events read by the browser's own ``EventSource`` in Debian's Chromium:
resume across a killed and restarted server (topics on Redis: every event once, in
order), the in-band ``history_gone`` event after the in-process backend restarted, and
``withCredentials`` with CORS through django-cors-headers on both serving paths.

The servers are uvicorn processes on one listening socket that this test holds, as a
supervisor does: while one is killed and the next starts, the browser's reconnection
waits in the socket's backlog.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from jsonlfn.testing import LiveServer
from tests import processes
from tests.browser import browser_page, needs_browser
from tests.conftest import ROOT
from tests.redis_server import RedisServer

_ = browser_page  # the `page` fixture

LONG = 60_000  # ms: a restart loads Django again, on a loaded machine

# The page's EventSource, and what it saw: events as [name, lastEventId, data], opens.
WATCH = """([url, options]) => {
  window.seen = []; window.opened = 0; window.dropped = 0;
  const source = new EventSource(url, options);
  const keep = (event) => window.seen.push([event.type, event.lastEventId, JSON.parse(event.data)]);
  source.onmessage = keep;
  source.addEventListener("history_gone", keep);
  source.onopen = () => { window.opened += 1; };
  source.onerror = () => { if (source.readyState !== EventSource.CLOSED) window.dropped += 1; };
  window.source = source;
}"""


class Servers:
    """uvicorn processes serving the test project, one after another, on one socket."""

    def __init__(self, app: str, env: dict[str, str]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        self.env.update(env)
        self.command = [sys.executable, "-m", "uvicorn", f"tests.asgi:{app}"]
        self.command += ["--fd", str(self.sock.fileno()), "--log-level", "warning"]
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            pass_fds=[self.sock.fileno()],
            start_new_session=True,  # its own process group, killed whole
        )
        self.started.append(process)
        processes.adopt(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        for process in self.started:
            self.kill(process)
        self.sock.close()


@pytest.fixture
def servers() -> Iterator[list[Servers]]:
    made: list[Servers] = []
    yield made
    for each in made:
        each.close()


def serve(made: list[Servers], app: str = "application", **env: str) -> Servers:
    found = Servers(app, env)
    made.append(found)
    return found


def watch(page: Any, url: str, **options: Any) -> None:
    page.evaluate(WATCH, [url, options])
    page.wait_for_function("window.opened >= 1", timeout=LONG)


def kill_then_restart(page: Any, own: Servers, first: subprocess.Popen[bytes]) -> None:
    own.kill(first)
    page.wait_for_function("window.dropped >= 1", timeout=LONG)  # the page saw it go
    own.start()
    page.wait_for_function("window.opened >= 2", timeout=LONG)  # EventSource came back


@needs_browser
def test_eventsource_sees_every_topic_event_once_across_a_killed_server(
    page: Any, redis_server: RedisServer, servers: list[Servers]
) -> None:
    """Topics on Redis: the page reads ``/sse/trades/``; a publisher process publishes
    60 trades; the server is SIGKILLed after 20 and restarted; EventSource reconnects
    with Last-Event-ID by itself and the page ends with each event once, in order."""
    own = serve(servers, JSONLFN_TEST_TOPICS=redis_server.url)
    first = own.start()
    page.goto(f"{own.url}/api/openapi.json")  # a page of the same origin
    watch(page, "/sse/trades/")
    publisher = subprocess.Popen(
        [sys.executable, "-m", "tests.topic_publisher", "60"],
        cwd=ROOT,
        env=own.env,
        stdout=subprocess.PIPE,
    )
    try:
        page.wait_for_function("window.seen.length >= 20", timeout=LONG)
        kill_then_restart(page, own, first)
        out, _ = publisher.communicate(timeout=60)
    finally:
        publisher.kill()
        publisher.wait()
    published = out.decode().split()
    assert len(published) == 60
    page.wait_for_function("n => window.seen.length >= n", arg=len(published), timeout=LONG)
    seen = page.evaluate("window.seen")
    assert [event_id for _, event_id, _ in seen] == published
    assert [data["n"] for _, _, data in seen] == list(range(60))
    assert {name for name, _, _ in seen} == {"message"}


@needs_browser
def test_after_the_in_process_backend_restarts_the_page_is_told_history_is_gone(
    page: Any, servers: list[Servers]
) -> None:
    """EventSource cannot read a 410: the resume after a restart (whose in-process topic
    forgot its history) gets the history_gone event, then the live events."""
    own = serve(servers)
    first = own.start()
    page.goto(f"{own.url}/api/openapi.json")
    watch(page, "/sse/notes/")
    post = "q => fetch(`/sse/notes/?${q}`, {method: 'POST'}).then(r => r.text())"
    page.evaluate(post, "n=2&text=before")
    page.wait_for_function("window.seen.length >= 2", timeout=LONG)
    kill_then_restart(page, own, first)
    page.wait_for_function("window.seen.length >= 3", timeout=LONG)
    page.evaluate(post, "n=1&text=after")
    page.wait_for_function("window.seen.length >= 4", timeout=LONG)
    seen = page.evaluate("window.seen")
    assert [(name, data.get("text")) for name, _, data in seen[:2]] == [
        ("message", "before 1"),
        ("message", "before 2"),
    ]
    name, last_id, gone = seen[2]
    assert (name, last_id) == ("history_gone", seen[1][1])  # the page's id stays
    assert gone["detail"][0]["type"] == "history_gone"
    assert (seen[3][0], seen[3][2]) == ("message", {"text": "after 1"})
    assert seen[3][1] != seen[1][1]


@needs_browser
@pytest.mark.parametrize("app", ["application", "direct_application"])
def test_eventsource_with_credentials_across_origins_through_cors(
    page: Any, servers: list[Servers], direct_server: LiveServer, app: str
) -> None:
    """The page on one origin, the streams on another (django-cors-headers, on Django's
    handler and on ``registry.asgi()``): the cookie goes along, and EventSource's
    reconnection, which sends Last-Event-ID (a preflight), resumes."""
    own = serve(servers, app, DJANGO_SETTINGS_MODULE="tests.settings_sse_browser")
    own.start()
    page.goto(f"{direct_server.url}/api/openapi.json")  # another origin: another port
    page.evaluate("document.cookie = 'who=ann; path=/'")
    watch(page, f"{own.url}/sse/whoami/", withCredentials=True)
    page.wait_for_function("window.seen.length >= 1", timeout=LONG)
    assert page.evaluate("window.seen[0][2]") == "ann"
    page.evaluate("window.source.close()")
    watch(page, f"{own.url}/sse/ticks/?n=6&per_connection=3", withCredentials=True)
    page.wait_for_function("window.seen.length >= 6", timeout=LONG)
    page.evaluate("window.source.close()")
    seen = page.evaluate("window.seen")
    assert [(event_id, data["i"]) for _, event_id, data in seen] == [
        (str(i), i) for i in range(1, 7)
    ]
    assert page.evaluate("window.opened") == 2  # 1-3, then resumed after 3: 4-6


@needs_browser
def test_the_demo_page_reads_the_chat_and_the_ticker_with_eventsource_and_users_with_fetch(
    page: Any, demo_server: int
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{demo_server}/live/")
    page.wait_for_function("parseInt(document.getElementById('tick').textContent) >= 3")
    page.wait_for_function("document.getElementById('state').textContent === 'live'")
    page.fill("#text", "hello from Chromium")
    page.click("#post button")
    page.wait_for_selector("#messages li")
    item = page.locator("#messages li").last
    assert item.inner_text() == "hello from Chromium"
    assert item.get_attribute("data-id")  # the topic's event id, from lastEventId
    users = "first@example.com, second@example.com"  # README's JSON Lines reader, in Chromium
    page.wait_for_function(f"document.getElementById('users').textContent === {users!r}")
    assert errors == []
