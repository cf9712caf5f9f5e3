"""Test set-up: Django configured from tests.settings, a live uvicorn server fixture."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import django
import pytest

from jsonlfn.testing import LiveServer
from tests import processes
from tests.redis_server import REDIS_SERVER, RedisServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEMO_PATHS = [  # the demo's operations, in registration order
    "/api/user/events/",
    "/api/user/events/secure/",
    "/api/user/events/resume/",
    "/api/orders/",
    "/api/events/",
    "/api/ticker/",
    "/api/quotes/",
    "/api/chat/",
    "/api/chat/messages/",
    "/api/orgs/{org}/chat/",
    "/api/orgs/{org}/chat/messages/",
]
sys.path.insert(0, str(EXAMPLES))  # the demo project is importable as `demo`
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def direct_server() -> Iterator[LiveServer]:
    """The same project under uvicorn, its registries served by ``registry.asgi()``."""
    from demo.events import registry as demo_registry
    from django.core.asgi import get_asgi_application

    from tests.sse_streams import registry as sse_registry
    from tests.streams import registry

    django = get_asgi_application()
    server = LiveServer(registry.asgi(sse_registry.asgi(demo_registry.asgi(django))))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["django", "direct"])
def live_server(request: pytest.FixtureRequest) -> LiveServer:
    """The tests' project under a real uvicorn, once through Django's handler (the
    plugin's fixture, dogfooded) and once through ``registry.asgi()``: every live test
    is the acceptance suite of both paths."""
    name = "jsonlfn_live_server" if request.param == "django" else "direct_server"
    server: LiveServer = request.getfixturevalue(name)
    return server


@pytest.fixture(scope="session", params=["httptools", "h11"])
def parser_server(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[LiveServer]:
    """``live_server`` (each serving path), under each of uvicorn's HTTP parsers."""
    if request.param == "httptools":
        yield live_server
        return
    server = LiveServer(live_server.server.config.app, http="h11")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_server() -> Iterator[int]:
    """`make demo`'s command (uvicorn serving examples/) in a subprocess; yields its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "demo.asgi:application"]
    command += ["--app-dir", str(EXAMPLES), "--fd", str(sock.fileno()), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    process = processes.spawn(command, pass_fds=[sock.fileno()], env=env)
    try:
        wait_for_port(port, process)
        yield port
    finally:
        processes.stop(process, signal.SIGTERM)
        sock.close()


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the demo server did not start")


@pytest.fixture(scope="session", autouse=True)
def _no_process_outlives_the_suite() -> Iterator[None]:
    """Torn down last: every process the tests started (``tests/processes.py``), with
    the workers it forked, has ended."""
    yield
    if Path("/proc").is_dir():
        left = processes.survivors()
        assert not left, f"processes the tests started outlived them: {left}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from django.conf import settings

    Path(settings.DATABASES["default"]["NAME"]).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _fresh_tracker_events() -> None:
    """Each live test runs once per serving path: its labelled events start afresh."""
    from tests.tracker import tracker

    with tracker._lock:
        tracker.events.clear()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server of the tests' own, on a free port (CI installs Debian's)."""
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it with apt-get")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["memory", "redis"])
def topics(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each topic backend in turn, as ``JSONLFN["TOPICS"]``; yields its name."""
    from django.conf import settings
    from django.test import override_settings

    url = "memory"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    # These tests are about delivery. The suite's redis-server shares two cores with four
    # test workers, and once took more than tests.settings' 0.25 s to answer a join (a
    # 503); a stall's 503 is tested with the short timeout in tests/test_topics_live.py.
    joins = {"TOPIC_JOIN_TIMEOUT": 5.0} if request.param == "redis" else {}
    with override_settings(JSONLFN={**settings.JSONLFN, "TOPICS": url, **joins}):
        yield request.param
