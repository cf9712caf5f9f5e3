"""The view in Django's own machinery: test clients, middleware, WSGI, HEAD, 406."""

from __future__ import annotations

import gzip
import io
from typing import Any

import orjson
import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.http import StreamingHttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import resolve

from jsonlfn import JsonlResponse
from tests.tracker import tracker

THREE = b'{"i":0}\n{"i":1}\n{"i":2}\n'


async def read(response: Any) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


@pytest.mark.anyio
async def test_async_client_gets_a_real_streaming_response() -> None:
    response = await AsyncClient().get("/count/")
    assert isinstance(response, StreamingHttpResponse)
    assert isinstance(response, JsonlResponse)
    assert await read(response) == THREE


def test_sync_client_works_and_primes_fully() -> None:
    response = Client().get("/count/")
    assert response.status_code == 200
    assert b"".join(response) == THREE


def test_sync_client_sees_early_errors() -> None:
    response = Client().get("/orgs/0/users/")
    assert response.status_code == 404


@pytest.mark.anyio
@override_settings(MIDDLEWARE=["django.middleware.gzip.GZipMiddleware"])
async def test_gzip_middleware_compresses_the_stream() -> None:
    response = await AsyncClient().get("/count/?n=300", headers={"Accept-Encoding": "gzip"})
    assert response["Content-Encoding"] == "gzip"
    expected = b"".join(b'{"i":%d}\n' % i for i in range(300))
    assert gzip.decompress(await read(response)) == expected


@pytest.mark.anyio
@override_settings(
    MIDDLEWARE=[
        "django.middleware.common.CommonMiddleware",
        "django.middleware.http.ConditionalGetMiddleware",
        "django.middleware.security.SecurityMiddleware",
    ]
)
async def test_other_middleware_keeps_working() -> None:
    response = await AsyncClient().get("/count/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert await read(response) == THREE


@pytest.mark.anyio
async def test_accept_application_json_is_406_in_plain_words() -> None:
    response = await AsyncClient().get("/count/", headers={"Accept": "application/json"})
    assert response.status_code == 406
    assert orjson.loads(response.content) == {
        "detail": [
            {
                "msg": "This endpoint streams JSON Lines; send an Accept header that allows one "
                "of: application/jsonl, application/x-ndjson, application/json-lines",
                "type": "not_acceptable",
            }
        ]
    }


@pytest.mark.anyio
async def test_head_sends_headers_and_closes_the_function() -> None:
    response = await AsyncClient().head("/idle/?label=head")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jsonl"
    assert list(response.streaming_content) == []  # the test client strips HEAD bodies
    tracker.wait_all_finished(within=10.0)
    assert "finish head" in tracker.events


@pytest.mark.anyio
async def test_head_reports_early_errors_like_get() -> None:
    response = await AsyncClient().head("/orgs/0/users/")
    assert response.status_code == 404


def wsgi_request(path: str) -> WSGIRequest:
    return WSGIRequest(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "example.com",
            "SERVER_PORT": "80",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
        }
    )


@pytest.mark.anyio
async def test_wsgi_is_refused_outside_debug() -> None:
    view = resolve("/count/").func
    with pytest.raises(RuntimeError, match=r"need an ASGI server \(uvicorn"):
        await view(wsgi_request("/count/"))


@pytest.mark.anyio
@override_settings(DEBUG=True)
async def test_wsgi_is_allowed_in_debug() -> None:
    response = await resolve("/count/").func(wsgi_request("/count/"))
    assert response.status_code == 200
    assert "Connection" not in response  # hop-by-hop headers are forbidden under WSGI
    assert b"".join(response) == THREE


def test_an_endless_stream_under_wsgi_gets_advice_and_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """runserver and Django's test Client collect a stream whole: an endless one gets
    an error that says what to do, and its function is closed, not left running."""
    monkeypatch.setattr("jsonlfn._http._view.WSGI_PATIENCE", 0.3)
    response = Client().get("/idle/?label=wsgi-endless")
    assert response.status_code == 500
    detail = orjson.loads(response.content)["detail"][0]
    assert detail["type"] == "wsgi_stream"
    assert "uvicorn" in detail["msg"]
    tracker.wait_all_finished(within=10.0)
