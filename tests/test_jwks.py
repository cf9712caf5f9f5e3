"""The JWKS client under a failing, slow or hostile identity provider: a real one on a
loopback port, requests from real clients on both serving paths. Whatever it answers,
requests get 200 or 401, and N concurrent requests make one fetch."""

from __future__ import annotations

import asyncio
import base64
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest

from jsonlfn import JWTAuth
from jsonlfn._auth._jwks import KeySet
from jsonlfn.testing import LiveServer
from tests.keys import IDP
from tests.streams import registry


class IdentityProvider:
    """A JWKS endpoint on a free loopback port whose answer each test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = orjson.dumps({"keys": [IDP.jwk()]})
        self.delay = 0.0
        self.requests = 0
        self.released = threading.Event()
        self.released.set()
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                provider.released.wait(30)
                time.sleep(provider.delay)
                self.send_response(provider.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(provider.body)))
                self.end_headers()
                self.wfile.write(provider.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, body: Any, status: int = 200, delay: float = 0.0) -> None:
        self.body = body if isinstance(body, bytes) else orjson.dumps(body)
        self.status, self.delay = status, delay

    def wait_for(self, requests: int) -> None:
        """Until ``requests`` fetches have arrived: the refreshes run in the background."""
        deadline = time.monotonic() + 30
        while self.requests < requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.requests == requests


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProvider]:
    found = IdentityProvider()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def keys(provider: IdentityProvider) -> KeySet:
    """The key set of ``secure-jwks-local/``, fresh, pointed at ``provider``."""
    backend: JWTAuth = next(
        b
        for route in registry.routes
        if route.route == "secure-jwks-local/"
        for b in route.fn.__jsonlfn__.auth.backends  # type: ignore[attr-defined]
    )
    # min_refresh is an hour so that no test depends on how fast the machine is: a test
    # moves past it by moving the key set's clock marks back.
    found = backend._jwks = KeySet(provider.url, ttl=60, min_refresh=3600, timeout=3)
    provider.answer({"keys": [IDP.jwk()]})
    provider.requests = 0
    provider.released.set()
    return found


def token(kid: Any = IDP.kid) -> str:
    claims = {"sub": "erin", "exp": int(time.time()) + 600}
    if isinstance(kid, str):
        return jwt.encode(claims, IDP.private, algorithm="RS256", headers={"kid": kid})
    parts = [{"alg": "RS256", "typ": "JWT", "kid": kid}, claims]  # PyJWT won't write these
    encoded = [base64.urlsafe_b64encode(orjson.dumps(part)).rstrip(b"=") for part in parts]
    return b".".join([*encoded, b"c2lnbmF0dXJl"]).decode()


async def concurrently(server: LiveServer, count: int, kid: Any = IDP.kid) -> list[int]:
    headers = {"Authorization": f"Bearer {token(kid)}", "Accept": "application/jsonl"}
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        responses = await asyncio.gather(
            *(client.get("/secure-jwks-local/", headers=headers) for _ in range(count))
        )
    for response in responses:
        if response.status_code != 200:
            assert response.json()["detail"][0]["type"] == "security"
    return [response.status_code for response in responses]


@pytest.mark.parametrize(
    "answer",
    [
        [],
        None,
        {"keys": "not a list"},
        {"keys": [{**IDP.jwk(), "kid": ["a", "list"]}]},
        {"keys": [{"kty": "nonsense", "kid": "key-1"}]},
        {"keys": [{**IDP.jwk(), "n": "@@@"}]},
        {"keys": [IDP.jwk()] * 101},  # more than jwks_max_keys
    ],
)
def test_a_hostile_key_set_is_401_and_logged(
    parser_server: LiveServer,
    provider: IdentityProvider,
    keys: KeySet,
    answer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider.answer(answer)
    assert asyncio.run(concurrently(parser_server, 5)) == [401] * 5
    assert provider.requests == 1
    assert "JWKS fetch" in caplog.text


@pytest.mark.parametrize("kid", [["a", "list"], 7, None, {"k": 1}])
def test_a_token_whose_kid_is_not_a_string_is_401(
    parser_server: LiveServer, provider: IdentityProvider, keys: KeySet, kid: Any
) -> None:
    assert asyncio.run(concurrently(parser_server, 3, kid)) == [401] * 3
    assert provider.requests == 0  # refused before any fetch


def test_a_huge_key_set_is_refused_unparsed(
    live_server: LiveServer, provider: IdentityProvider, keys: KeySet
) -> None:
    provider.answer(b'{"keys":[' + b'{"kid":"x","kty":"RSA"},' * 100_000 + b"{}]}")
    assert asyncio.run(concurrently(live_server, 3)) == [401] * 3
    assert provider.requests == 1


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_provider_gets_one_fetch_per_min_refresh(
    live_server: LiveServer, provider: IdentityProvider, keys: KeySet, status: int
) -> None:
    provider.answer({"error": "down"}, status=status)
    assert asyncio.run(concurrently(live_server, 20)) == [401] * 20
    assert asyncio.run(concurrently(live_server, 20)) == [401] * 20  # backing off
    assert provider.requests == 1
    keys._attempted -= keys.min_refresh  # past min_refresh: one more try, which succeeds
    provider.answer({"keys": [IDP.jwk()]})
    assert asyncio.run(concurrently(live_server, 20)) == [200] * 20
    assert provider.requests == 2


def test_a_slow_provider_gets_one_fetch_shared_by_every_request(
    live_server: LiveServer, provider: IdentityProvider, keys: KeySet
) -> None:
    provider.answer({"keys": [IDP.jwk()]}, delay=0.5)
    assert asyncio.run(concurrently(live_server, 20)) == [200] * 20
    assert provider.requests == 1  # one fetch that all twenty waited for


def test_expired_keys_keep_serving_while_one_refresh_runs(
    live_server: LiveServer, provider: IdentityProvider, keys: KeySet
) -> None:
    assert asyncio.run(concurrently(live_server, 1)) == [200]
    provider.released.clear()  # the refresh will not be answered until the end
    keys._fetched -= 61  # past jwks_ttl
    keys._attempted -= keys.min_refresh
    assert asyncio.run(concurrently(live_server, 20)) == [200] * 20  # nobody waited
    provider.released.set()
    provider.wait_for(2)  # the first fetch, and one refresh for all twenty


def test_keys_older_than_twice_the_ttl_are_not_served(
    live_server: LiveServer, provider: IdentityProvider, keys: KeySet
) -> None:
    assert asyncio.run(concurrently(live_server, 1)) == [200]
    provider.answer({"error": "down"}, status=500)
    keys._fetched -= 121
    keys._attempted -= keys.min_refresh
    assert asyncio.run(concurrently(live_server, 5)) == [401] * 5


def test_keys_serve_until_a_refresh_has_been_allowed_and_tried(
    live_server: LiveServer, provider: IdentityProvider, keys: KeySet
) -> None:
    """A ``jwks_ttl`` shorter than ``jwks_min_refresh`` (``ttl=2`` with the default 30 s
    refused 32 of 40 valid tokens over 40 s): past twice the ttl with no refresh allowed
    yet, the keys serve; the refresh, once allowed, is awaited, and if it fails the keys
    are refused until one succeeds."""
    assert asyncio.run(concurrently(live_server, 1)) == [200]
    keys._fetched -= 121  # past twice jwks_ttl, and no refresh allowed (min_refresh)
    assert asyncio.run(concurrently(live_server, 20)) == [200] * 20
    assert provider.requests == 1
    provider.answer({"error": "down"}, status=500)
    keys._attempted -= keys.min_refresh  # a refresh is allowed: tried, and it fails
    assert asyncio.run(concurrently(live_server, 20)) == [401] * 20
    assert asyncio.run(concurrently(live_server, 20)) == [401] * 20  # backing off
    assert provider.requests == 2
    provider.answer({"keys": [IDP.jwk()]})
    keys._attempted -= keys.min_refresh
    assert asyncio.run(concurrently(live_server, 20)) == [200] * 20
    assert provider.requests == 3


def test_one_client_serves_every_fetch(
    live_server: LiveServer, provider: IdentityProvider, keys: KeySet
) -> None:
    assert asyncio.run(concurrently(live_server, 1)) == [200]
    first = keys._client
    keys._fetched -= 61
    keys._attempted -= keys.min_refresh
    assert asyncio.run(concurrently(live_server, 1)) == [200]
    provider.wait_for(2)
    assert keys._client is first
