"""Authentication: the attack suite against a live uvicorn, JWKS with respx, backends."""

from __future__ import annotations

import asyncio
import hmac
import time
from hashlib import sha256
from typing import Any

import httpx
import jwt
import orjson
import pytest
import respx
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, override_settings

from jsonlfn import APIKeyAuth, JWTAuth, SessionAuth, SpecError, constant_time_lookup, requires
from jsonlfn.testing import StreamClient, jwt_token
from tests.conftest import LiveServer
from tests.keys import IDP, JWKS_URL, ROTATED
from tests.streams import registry
from tests.wire import StreamReader, fetch, open_request

LONG = "a-secret-that-is-long-enough-for-hs256"
RS = {"aud": "events", "iss": "https://idp.example", "scope": "events:read"}


def rs_token(**overrides: Any) -> str:
    claims = {"sub": "alice", "exp": int(time.time()) + 600, **RS, **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, IDP.private, algorithm="RS256", headers={"kid": IDP.kid})


def bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


ATTACKS = {
    "alg none": ("/secure/", jwt.encode({"sub": "x", "exp": 2**31}, None, algorithm="none")),
    "HS256 token on an RS256 endpoint": (
        "/secure-rs/",  # the PEM-keyed variant is built by hand in test_algorithm_confusion
        jwt.encode({**RS, "sub": "x", "exp": 2**31}, LONG, algorithm="HS256"),
    ),
    "expired": ("/secure-rs/", rs_token(exp=int(time.time()) - 60)),
    "not yet valid (nbf)": ("/secure-rs/", rs_token(nbf=int(time.time()) + 600)),
    "wrong aud": ("/secure-rs/", rs_token(aud="billing")),
    "wrong iss": ("/secure-rs/", rs_token(iss="https://evil.example")),
    "bad signature": ("/secure-rs/", rs_token()[:-6] + "AAAAAA"),
    "truncated": ("/secure-rs/", rs_token()[:40]),
    "garbage": ("/secure-rs/", "not.a.jwt"),
    "unknown kid": ("/secure-rs/", rs_token()),  # replaced below: signed by another key
    "missing exp": ("/secure-rs/", rs_token(exp=None)),
    "aud without a configured audience": ("/secure/", jwt_token(aud="events")),
    "huge header": ("/secure/", "a" * 20_000),
    "exp past what a float holds, with close_on_expiry": (
        "/secure-expiring/",
        jwt_token(key="expiring-secret-of-at-least-32-bytes", expires_in=None, exp=10**400),
    ),
}
ATTACKS["unknown kid"] = (
    "/secure-rs/",
    jwt.encode(
        {**RS, "sub": "x", "exp": 2**31}, ROTATED.private, algorithm="RS256", headers={"kid": "k9"}
    ),
)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_gets_401_with_json_body(live_server: LiveServer, attack: str) -> None:
    path, token = ATTACKS[attack]
    response = fetch(live_server.port, path, bearer(token))
    assert response.status == 401, response.body
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    detail = orjson.loads(response.body)["detail"][0]
    assert detail["type"] == "security"
    assert "Traceback" not in detail["msg"]


def test_algorithm_confusion_with_the_public_key_as_hmac_secret(live_server: LiveServer) -> None:
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT","kid":"key-1"}')
    claims = {**RS, "sub": "mallory", "exp": 2**31}
    payload = jwt.utils.base64url_encode(orjson.dumps(claims))
    signing_input = header + b"." + payload
    signature = hmac.new(IDP.public_pem, signing_input, sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    response = fetch(live_server.port, "/secure-rs/", bearer(token))
    assert response.status == 401
    assert "alg" in orjson.loads(response.body)["detail"][0]["msg"].lower()


def test_missing_credentials_are_401_naming_every_scheme(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/secure-either/")
    assert response.status == 401
    assert response.headers["www-authenticate"] == 'APIKey header="X-API-Key", Bearer realm="api"'
    assert orjson.loads(response.body) == {
        "detail": [{"msg": "Not authenticated", "type": "security"}]
    }


def test_valid_token_streams_with_the_identity(live_server: LiveServer) -> None:
    body = fetch(live_server.port, "/secure-rs/", bearer(rs_token(), scheme="bearer")).body
    assert orjson.loads(body) == {"backend": "jwt", "sub": "alice", "same": True}


def test_missing_scope_is_403(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/secure-rs/", bearer(rs_token(scope="events:write")))
    assert response.status == 403
    assert orjson.loads(response.body)["detail"][0] == {
        "msg": "Missing scope(s): events:read",
        "type": "security",
    }


def test_default_jwtauth_uses_secret_key_and_the_test_helper(live_server: LiveServer) -> None:
    body = fetch(live_server.port, "/secure/", bearer(jwt_token(sub="bob"))).body
    assert orjson.loads(body)["sub"] == "bob"


def test_either_backend_may_accept(live_server: LiveServer) -> None:
    by_key = fetch(live_server.port, "/secure-either/", {"X-API-Key": "k3y-alice"})
    assert orjson.loads(by_key.body) == {"backend": "apiKey", "sub": "alice", "same": True}
    by_jwt = fetch(live_server.port, "/secure-either/", bearer(jwt_token(sub="carol")))
    assert orjson.loads(by_jwt.body)["sub"] == "carol"
    wrong = fetch(live_server.port, "/secure-either/", {"X-API-Key": "k3y-alicf"})
    assert wrong.status == 401
    assert orjson.loads(wrong.body)["detail"][0]["msg"] == "Invalid API key"


def test_stream_ends_cleanly_when_the_token_expires(live_server: LiveServer) -> None:
    token = jwt_token(key="expiring-secret-of-at-least-32-bytes", expires_in=1.5)
    reader = StreamReader(open_request(live_server.port, "/secure-expiring/", bearer(token)))
    assert reader.next_line() == b'"hello"\n'
    began = time.monotonic()
    with pytest.raises(EOFError, match="stream ended"):  # the final chunk, not a cut
        reader.next_line()
    assert time.monotonic() - began < 10  # ended by the expiry (1.5 s), even on a busy machine
    reader.sock.close()


# --- JWKS, with respx standing in for the identity provider ---------------------------


async def get_jwks_stream(token: str) -> Any:
    return await AsyncClient().get("/secure-jwks/", headers=bearer(token))


def jwks_token(pair: Any = IDP) -> str:
    claims = {"sub": "dave", "exp": int(time.time()) + 600}
    return jwt.encode(claims, pair.private, algorithm="RS256", headers={"kid": pair.kid})


@pytest.fixture
def jwks_backend() -> JWTAuth:
    backend = next(
        b
        for route in registry.routes
        if route.route == "secure-jwks/"
        for b in route.fn.__jsonlfn__.auth.backends  # type: ignore[attr-defined]
    )
    backend._jwks._keys.clear()  # type: ignore[union-attr]
    backend._jwks._fetched = backend._jwks._attempted = -float("inf")  # type: ignore[union-attr]
    return backend


@pytest.mark.anyio
@respx.mock
async def test_jwks_keys_are_fetched_cached_and_rotated(jwks_backend: JWTAuth) -> None:
    idp = respx.get(JWKS_URL).mock(return_value=httpx.Response(200, json={"keys": [IDP.jwk()]}))
    assert (await get_jwks_stream(jwks_token())).status_code == 200
    assert (await get_jwks_stream(jwks_token())).status_code == 200
    assert idp.call_count == 1  # cached
    idp.mock(return_value=httpx.Response(200, json={"keys": [IDP.jwk(), ROTATED.jwk()]}))
    await asyncio.sleep(0.25)  # past jwks_min_refresh
    assert (await get_jwks_stream(jwks_token(ROTATED))).status_code == 200  # unknown kid: refetch
    assert idp.call_count == 2


@pytest.mark.anyio
@respx.mock
async def test_bogus_kids_cannot_hammer_the_idp(
    jwks_backend: JWTAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # All 20 requests must fall in one jwks_min_refresh window: the route's 0.2 s was
    # too short for them on a loaded 2-core machine (CI saw a legitimate second fetch).
    monkeypatch.setattr(jwks_backend._jwks, "min_refresh", 60.0)  # type: ignore[union-attr]
    idp = respx.get(JWKS_URL).mock(return_value=httpx.Response(200, json={"keys": [IDP.jwk()]}))
    for _ in range(20):
        assert (await get_jwks_stream(jwks_token(ROTATED))).status_code == 401
    assert idp.call_count == 1


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503), httpx.ConnectTimeout("slow"), httpx.Response(200, text="not json")],
)
async def test_jwks_failure_is_401_and_logged(
    jwks_backend: JWTAuth, failure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    respx.get(JWKS_URL).mock(side_effect=[failure])
    response = await get_jwks_stream(jwks_token())
    assert response.status_code == 401
    assert orjson.loads(response.content)["detail"][0]["type"] == "security"
    assert "JWKS fetch" in caplog.text


@pytest.mark.anyio
@respx.mock
async def test_jwks_cache_expires(jwks_backend: JWTAuth) -> None:
    idp = respx.get(JWKS_URL).mock(return_value=httpx.Response(200, json={"keys": [IDP.jwk()]}))
    assert (await get_jwks_stream(jwks_token())).status_code == 200
    jwks_backend._jwks._fetched -= 61  # type: ignore[union-attr]  # past jwks_ttl
    jwks_backend._jwks._attempted -= 61  # type: ignore[union-attr]
    assert (await get_jwks_stream(jwks_token())).status_code == 200  # the stale key serves
    await asyncio.sleep(0.05)  # while one refresh runs in the background
    assert idp.call_count == 2


# --- configuration mistakes surface at import time ------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret": LONG}, "explicit list of algorithms"),
        ({"secret": LONG, "algorithms": "HS256"}, "explicit list of algorithms"),
        ({"secret": LONG, "algorithms": ["none"]}, "cannot use the algorithm 'none'"),
        ({"secret": LONG, "algorithms": ["HS999"]}, "cannot use the algorithm"),
        ({"algorithms": ["HS256"]}, "exactly one of key=, secret= or jwks_url="),
        ({"secret": LONG, "key": "k", "algorithms": ["HS256"]}, "exactly one of"),
        ({"secret": "short", "algorithms": ["HS256"]}, "at least 32 bytes"),
    ],
)
def test_misconfigured_jwtauth_is_improperly_configured(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        JWTAuth(**options)


def test_jwtauth_reads_project_settings() -> None:
    with override_settings(JSONLFN={"JWT": {"secret": LONG, "algorithms": ["HS384"]}}):
        assert JWTAuth().algorithms == ["HS384"]
    assert JWTAuth().algorithms == ["HS256"]  # SECRET_KEY fallback


def test_requires_misuse() -> None:
    with pytest.raises(SpecError, match="at least one backend"):
        requires()
    with pytest.raises(SpecError, match="note the parentheses"):
        requires(JWTAuth)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r'scopes=\["a"\]'):
        requires(JWTAuth(), scopes="a")


def test_api_key_auth_needs_keys_or_check_and_lookup_is_exact() -> None:
    with pytest.raises(ImproperlyConfigured, match="exactly one of check= or keys="):
        APIKeyAuth()
    lookup = constant_time_lookup({"abc": "alice", "abd": "bob"})
    assert [lookup("abc"), lookup("abd"), lookup("ab"), lookup("abcd")] == [
        "alice",
        "bob",
        None,
        None,
    ]


def test_session_auth_needs_the_authentication_middleware() -> None:
    with pytest.raises(ImproperlyConfigured, match="AuthenticationMiddleware"):
        SessionAuth()


def test_openapi_security(live_server: LiveServer) -> None:
    document = registry.openapi()
    assert document["components"]["securitySchemes"] == {
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "jwt": {"type": "http", "scheme": "Bearer", "bearerFormat": "JWT"},
    }
    rs = document["paths"]["/secure-rs/"]["get"]
    assert rs["security"] == [{"jwt": ["events:read"]}]
    assert list(rs["responses"]) == ["200", "401", "403", "406"]
    either = document["paths"]["/secure-either/"]["get"]["security"]
    assert either == [{"apiKey": []}, {"jwt": []}]
    assert document["paths"]["/count/"]["get"]["security"] == []  # public, and says so


# --- sessions and callbacks -------------------------------------------------------------

SESSION = override_settings(
    ROOT_URLCONF="tests.urls_session",
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
)


@pytest.fixture(scope="module")
def user() -> Any:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    found, _ = User.objects.get_or_create(username="erin")
    return found


@pytest.mark.anyio
@SESSION
async def test_session_auth_streams_for_the_logged_in_user(user: Any) -> None:
    client = AsyncClient()
    assert (await client.get("/mine/")).status_code == 401
    await client.aforce_login(user)
    response = await client.get("/mine/")
    assert b"".join([c async for c in response.streaming_content]) == f'"user {user.pk}"\n'.encode()


@pytest.mark.anyio
@SESSION
async def test_session_auth_checks_csrf_on_post(user: Any) -> None:
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(user)
    refused = await client.post("/mine/")
    assert refused.status_code == 403
    assert orjson.loads(refused.content)["detail"][0]["type"] == "security"
    await client.get("/mine/")  # a GET sets no token by itself: fetch one the Django way
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    accepted = await client.post("/mine/", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200


@pytest.mark.anyio
@SESSION
async def test_session_auth_streams_on_the_direct_path(user: Any) -> None:
    from tests.urls_session import registry as session_registry

    django = AsyncClient()
    await django.aforce_login(user)
    cookie = {"Cookie": f"sessionid={django.cookies['sessionid'].value}"}
    client = StreamClient(session_registry.asgi(_unreachable))  # every request served directly
    async with client.stream("/mine/") as refused:
        assert refused.status == 401
    async with client.stream("/mine/", headers=cookie) as allowed:
        assert [line async for line in allowed] == [f"user {user.pk}"]
    async with client.stream("/mine/", method="POST", headers=cookie) as posted:
        assert posted.status == 403  # no CSRF token: SessionAuth's own check, as on Django's


async def _unreachable(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError(f"{scope['path']} reached Django's handler")


@pytest.mark.anyio
@pytest.mark.parametrize("asynchronous", [False, True])
async def test_api_key_check_may_be_sync_or_async(asynchronous: bool) -> None:
    def sync_check(key: str) -> str | None:
        return "zoe" if key == "good" else None

    async def async_check(key: str) -> str | None:
        return sync_check(key)

    backend = APIKeyAuth(check=async_check if asynchronous else sync_check)
    from django.test import RequestFactory

    good = await backend.authenticate(RequestFactory().get("/", headers={"X-API-Key": "good"}))
    assert good is not None
    assert good.subject == "zoe"
    with pytest.raises(Exception, match="Invalid API key"):
        await backend.authenticate(RequestFactory().get("/", headers={"X-API-Key": "bad"}))


@pytest.mark.anyio
@respx.mock
async def test_concurrent_requests_share_one_jwks_fetch(jwks_backend: JWTAuth) -> None:
    async def slow_idp(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return httpx.Response(200, json={"keys": [IDP.jwk()]})

    idp = respx.get(JWKS_URL).mock(side_effect=slow_idp)
    responses = await asyncio.gather(*(get_jwks_stream(jwks_token()) for _ in range(30)))
    assert [r.status_code for r in responses] == [200] * 30
    assert idp.call_count == 1
