"""The pytest plugin's fixtures and jsonlfn.testing, used as a user would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from jsonlfn.testing import LiveServer, StreamClient
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
