"""Misconfigured topics say what is wrong: a typo, redis-py missing, a Redis refusing
jsonlfn's credentials, in-process topics split over several workers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from io import StringIO

import httpx
import pytest
import redis.asyncio
import uvloop
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from jsonlfn import PublishFailed
from jsonlfn._settings import problems
from jsonlfn._topics._backends import close_loop_connections
from jsonlfn._topics._redis_commands import Commands
from jsonlfn._topics._redis_faults import ClosedBeforeSending, never_sent
from jsonlfn.testing import LiveServer
from tests import processes
from tests.conftest import EXAMPLES, ROOT, wait_for_port
from tests.redis_server import REDIS_SERVER, RedisServer
from tests.streams import TRADES, Trade

PATH = "/topics/trades/"


@pytest.fixture
async def closed_after() -> AsyncIterator[None]:
    yield
    await close_loop_connections()


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    """A Redis with a password, and an ACL user that may not touch jsonlfn's keys."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer("--requirepass", "right")
    server.start()
    admin = f"redis://:right@127.0.0.1:{server.port}/0"
    import redis

    redis.Redis.from_url(admin).acl_setuser(
        "nosy", enabled=True, passwords=["+pw"], keys=["other:*"], commands=["+@all"]
    )
    yield server
    server.close()


def urls(server: RedisServer) -> dict[str, str]:
    base = f"127.0.0.1:{server.port}/0"
    return {
        "right": f"redis://:right@{base}",
        "wrong": f"redis://:wrong@{base}",
        "none": f"redis://{base}",
        "no keys": f"redis://nosy:pw@{base}",
    }


def check_report() -> str:
    out = StringIO()
    try:
        call_command("check", stdout=out, stderr=out)
    except Exception as exc:  # SystemCheckError carries the report
        return f"{out.getvalue()}{exc}"
    return out.getvalue()


def test_a_typo_in_topics_is_named_a_typo() -> None:
    found = problems({"TOPICS": "memroy"})
    assert len(found) == 1
    assert "neither 'memory' nor a Redis URL; did you mean 'memory'?" in found[0]
    assert "redis-py" not in found[0]


@pytest.mark.parametrize("which", ["wrong", "none", "no keys"])
def test_check_says_when_redis_refuses_jsonlfns_credentials(
    locked_redis: RedisServer, which: str
) -> None:
    with override_settings(JSONLFN={**settings.JSONLFN, "TOPICS": urls(locked_redis)[which]}):
        report = check_report()
    assert "jsonlfn.E002" in report
    assert "refused jsonlfn" in report
    assert "right" not in report.replace("refused", "")  # no password in the report


def test_check_passes_with_the_right_credentials_and_says_nothing_of_an_absent_redis(
    locked_redis: RedisServer,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        absent = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    for url in (urls(locked_redis)["right"], absent):
        with override_settings(JSONLFN={**settings.JSONLFN, "TOPICS": url}):
            assert "jsonlfn.E002" not in check_report()


@pytest.mark.anyio
@pytest.mark.usefixtures("closed_after")
async def test_refused_credentials_are_a_store_refused_503_logged_loudly_once(
    locked_redis: RedisServer, live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = urls(locked_redis)["wrong"]
    with override_settings(JSONLFN={**settings.JSONLFN, "TOPICS": wrong}):
        async with httpx.AsyncClient(base_url=live_server.url) as client:
            with caplog.at_level(logging.WARNING, logger="jsonlfn"):
                answers = [await client.get(PATH) for _ in range(3)]
        with pytest.raises(PublishFailed, match="refused"):
            await TRADES.publish(Trade(1))
    assert [a.status_code for a in answers] == [503] * 3
    assert {a.json()["detail"][0]["type"] for a in answers} == {"store_refused"}
    assert all(a.headers["Retry-After"] for a in answers)
    loud = [r for r in caplog.records if r.levelno == logging.ERROR and "credentials" in r.msg]
    refusals = [r for r in caplog.records if "refused a stream" in r.getMessage()]
    assert len(loud) <= 1  # once per process (another test may have said it already)
    assert len(refusals) == 3


def test_without_redis_py_topics_are_503_and_check_says_to_install_it(tmp_path: str) -> None:
    """In a fresh interpreter where redis cannot be imported."""
    script = """
import asyncio, os, sys
sys.modules["redis"] = None  # as if redis-py were not installed
sys.path[:0] = [".", "examples"]
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
os.environ["JSONLFN_TEST_TOPICS"] = "redis://127.0.0.1:6379/0"
import django; django.setup()
from jsonlfn._settings import problems
import httpx
from django.core.asgi import get_asgi_application
from tests.streams import TRADES, Trade
print("CHECK", problems())
async def main():
    transport = httpx.ASGITransport(app=get_asgi_application())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get("/topics/trades/", headers={"accept": "application/jsonl"})
    print("STATUS", answer.status_code, answer.text)
    try:
        TRADES.publish_sync(Trade(1))
    except Exception as exc:
        print("PUBLISH", type(exc).__name__, exc)
asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "needs redis-py: pip install jsonlfn[redis]" in done.stdout
    assert "STATUS 503" in done.stdout, done.stdout
    assert "This server's event store is not set up" in done.stdout
    assert '"type":"store_misconfigured"' in done.stdout
    assert "PUBLISH PublishFailed" in done.stdout
    assert "redis-py is not installed" in done.stdout
    assert "pip install jsonlfn[redis]" in done.stderr  # logged at ERROR


def test_in_process_topics_under_several_workers_warn_at_start() -> None:
    """`make demo WORKERS=2` with TOPICS=memory: each worker says its chat is its own."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    command = [sys.executable, "-m", "uvicorn", "demo.asgi:application", "--app-dir"]
    command += [str(EXAMPLES), "--port", str(port), "--workers", "2", "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    process = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    processes.adopt(process)
    try:
        wait_for_port(port, process)  # type: ignore[arg-type]
        for _ in range(4):  # the socket hands the requests to both workers, in time
            with httpx.stream("GET", f"http://127.0.0.1:{port}/api/chat/", timeout=10) as r:
                assert r.status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert "looks like one of several workers" in err
    assert "JSONLFN = {'TOPICS': 'redis://" in err


def test_a_command_written_to_a_connection_closed_under_redis_py_is_a_connection_error(
    redis_server: RedisServer,
) -> None:
    """uvloop raises ``RuntimeError`` for a write to a transport it has closed, which a
    Redis restarting while redis-py connects leaves behind (the checker saw a join answer
    500 with it): ``Commands`` raises the connection error it is, one that surely never
    reached Redis (a publish says "not added"). redis-py 8.2 checks the transport before
    writing and raises that connection error itself."""

    async def main() -> None:
        commands = Commands(redis_server.url)
        connection = redis.asyncio.Connection(host="127.0.0.1", port=redis_server.port)
        await connection.connect()
        connection._writer.transport.abort()  # type: ignore[union-attr]  # the reset
        await asyncio.sleep(0)  # uvloop closes the handle
        try:
            with pytest.raises(redis.ConnectionError) as raised:
                await commands.call(connection.send_command, "PING")
        finally:
            await commands.aclose()
        if isinstance(raised.value, ClosedBeforeSending):  # redis-py before 8.2
            assert isinstance(raised.value.__cause__, RuntimeError)
        assert never_sent(raised.value)

    uvloop.run(main())
