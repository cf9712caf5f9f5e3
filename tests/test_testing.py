"""The pytest plugin's fixtures and jsonlfn.testing, used as a user would."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from jsonlfn.testing import LiveServer, StreamClient
from tests.conftest import ROOT
from tests.tracker import tracker
from tests.wire import StreamReader, open_request

pytestmark = pytest.mark.anyio


class Tick(msgspec.Struct):
    i: int


def test_plugin_is_registered_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("jsonlfn")


async def test_endless_stream_is_read_lazily_and_closed_on_exit(
    jsonlfn_client: StreamClient,
) -> None:
    async with jsonlfn_client.stream("/idle/", model=Tick, query={"label": "lazy"}) as response:
        assert response.status == 200
        assert response.headers["content-type"] == "application/jsonl"
        assert await response.__anext__() == Tick(0)
    assert "finish lazy" in tracker.events  # the generator's finally ran before the exit


async def test_error_responses_are_decoded(jsonlfn_client: StreamClient) -> None:
    async with jsonlfn_client.stream("/orgs/0/users/") as response:
        assert response.status == 404
        assert response.error is not None
        assert response.error.detail[0].msg == "no such org"


async def test_post_with_json_body(jsonlfn_client: StreamClient) -> None:
    async with jsonlfn_client.stream(
        "/orders/", method="POST", json={"item": "tea", "quantity": 2}, query={"limit": "5"}
    ) as response:
        items = [item async for item in response]
    assert [item["item"] for item in items] == ["tea::light", "tea::light"]


async def test_jwt_token_fixture(
    jsonlfn_client: StreamClient, jwt_token: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Bearer {jwt_token(sub='fay')}"}
    async with jsonlfn_client.stream("/secure/", headers=headers) as response:
        assert [item["sub"] async for item in response] == ["fay"]


def test_time_scale_makes_pings_fast(
    jsonlfn_live_server: LiveServer, jsonlfn_time_scale: Callable[[float], None]
) -> None:
    jsonlfn_time_scale(0.01)  # @ping(every=15) now pings every 0.15 s
    reader = StreamReader(open_request(jsonlfn_live_server.port, "/pinged-15/"))
    assert reader.next_line() == b'{"i":0}\n'
    reader.sock.settimeout(1.0)
    assert reader.next_line() == b'{"type":"ping"}\n'
    reader.sock.close()


async def test_items_skip_pings(jsonlfn_client: StreamClient, jsonlfn_time_scale: Any) -> None:
    jsonlfn_time_scale(0.01)
    async with jsonlfn_client.stream("/pinged/", model=Tick, query={"label": "skip"}) as response:
        assert await response.__anext__() == Tick(0)


def test_project_application_is_asgi_application_when_set() -> None:
    from django.test import override_settings

    from jsonlfn.testing import StreamClient, project_application
    from tests.asgi import direct_application

    with override_settings(ASGI_APPLICATION="tests.asgi.direct_application"):
        assert project_application() is direct_application
        assert StreamClient().app is direct_application
    assert type(project_application()).__name__ == "ASGIHandler"  # unset: Django's own


# Refused before any request under db; under transactional_db the ORM query runs.
DB_TESTS = """
import pytest


def test_db(db, jsonlfn_client):
    pass


@pytest.mark.django_db
def test_mark(jsonlfn_client):
    pass


async def count(client):
    async with client.stream("/orm/") as response:
        return [line async for line in response]


@pytest.mark.anyio
async def test_transactional_db(transactional_db, jsonlfn_client):
    assert [type(n) for n in await count(jsonlfn_client)] == [int]  # the ORM answered


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_transactional_mark(jsonlfn_client):
    assert [type(n) for n in await count(jsonlfn_client)] == [int]  # the ORM answered
"""


@pytest.mark.skipif(
    importlib.util.find_spec("pytest_django") is None, reason="pytest-django not installed"
)
def test_pytest_djangos_db_fixture_and_mark_fail_naming_transactional_db(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_db.py").write_text(DB_TESTS)
    path = os.pathsep.join([str(ROOT), str(ROOT / "examples")])
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": path}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "pytest_django"]
    argv += ["-q", "-rfE", "-p", "no:xdist", "test_db.py"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    out = done.stdout
    assert "2 passed, 2 errors" in out, out
    for name in ("test_db", "test_mark"):
        assert f"ERROR test_db.py::{name} - Failed: jsonlfn_client cannot be" in out
    assert "Use the `transactional_db` fixture" in out


async def test_an_application_failing_before_its_response_raises_its_error() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise LookupError("no such table")

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    with pytest.raises(LookupError, match="no such table"):
        async with StreamClient(failing).stream("/"):
            pass
    with pytest.raises(RuntimeError, match="returned without starting a response"):
        async with StreamClient(silent).stream("/"):
            pass
