"""Middleware hooks called in the event loop on the direct path (jsonlfn/_http/_inloop.py).

Each differential test serves the same project through Django's handler and through
``registry.asgi()`` under real uvicorn servers, and compares the answers: the direct
path runs startproject's middleware hooks in the loop where they do no I/O, and must
answer exactly as Django does (a hook that reached the database in the loop would be a
``SynchronousOnlyOperation``, a 500 that Django's path does not give)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from django.test import Client, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonlfn.apps import check_io_free_middleware
from jsonlfn.testing import LiveServer
from tests.bench.startproject import MIDDLEWARE
from tests.streams import registry
from tests.test_middleware import serve_both

STARTPROJECT = MIDDLEWARE  # django-admin startproject's
with override_settings(MIDDLEWARE=STARTPROJECT):  # SessionAuth() checks MIDDLEWARE
    from tests.startproject_streams import THREADS
    from tests.startproject_streams import registry as startproject_registry

APP = "https://app.example"
HOST = "api.example"
PROJECT = {
    "ROOT_URLCONF": "tests.urls_startproject",
    "MIDDLEWARE": [
        "corsheaders.middleware.CorsMiddleware",
        "django.middleware.gzip.GZipMiddleware",
        "django.middleware.http.ConditionalGetMiddleware",
        *STARTPROJECT,
    ],
    "CORS_ALLOWED_ORIGINS": [APP],
    "CORS_ALLOW_CREDENTIALS": True,
    "SECURE_SSL_REDIRECT": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_HSTS_SECONDS": 3600,
    "DISALLOWED_USER_AGENTS": [re.compile("BadBot")],
    "CSRF_TRUSTED_ORIGINS": [APP],
}
UNCOMPARED = frozenset({"date", "server"})
MASKED_COOKIES = frozenset({"sessionid", "csrftoken"})  # random values


def serve(**overrides: Any) -> Iterator[dict[str, LiveServer]]:
    """Django's handler, and both registries' ``asgi()`` in front of it, under ``overrides``."""
    yield from serve_both(lambda app: startproject_registry.asgi(registry.asgi(app)), **overrides)


@pytest.fixture(scope="module")
def migrated() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@pytest.fixture(scope="module")
def project(migrated: None) -> Iterator[dict[str, LiveServer]]:
    yield from serve(**PROJECT)


def logged_in() -> str:
    """A new session of user "frank" (a session cookie's value)."""
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(username="frank")
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def masked(cookie: str) -> str:
    name, _, rest = cookie.partition("=")
    value, _, attributes = rest.partition(";")
    kept = [a for a in attributes.split(";") if not a.strip().lower().startswith("expires=")]
    if name in MASKED_COOKIES:
        value = "*"
    elif name == "messages":  # payload:timestamp:signature; the second may tick between two
        value = value.split(":", 1)[0] + ":*"
    return ";".join([f"{name}={value}", *kept])


def answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (cookies with their random values masked) and the decoded body."""
    headers = [
        (k, masked(v) if k == "set-cookie" else v)
        for k, v in response.headers.multi_items()
        if k not in UNCOMPARED
    ]
    return response.status_code, sorted(headers), response.content


def both(
    servers: dict[str, LiveServer], method: str, path: str, headers: dict[str, str], **cookies: Any
) -> dict[str, httpx.Response]:
    """The same request to both paths; ``cookies`` values may differ per path (a dict)."""
    found = {}
    for name, server in servers.items():
        jar = {k: v[name] if isinstance(v, dict) else v for k, v in cookies.items() if v}
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        sent = {**headers, "Cookie": cookie} if cookie else headers
        found[name] = httpx.request(method, server.url + path, headers=sent, timeout=10)
    return found


# --- one request, drawn ---------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "OPTIONS"]),
    path=st.sampled_from(
        [
            "/visit/",
            "/visit/?message=hi",
            "/visit/?read=1&message=again",
            "/visit/?token=1",
            "/visit/?session=0",
            "/visit",  # APPEND_SLASH
            "/mine/",
            "/count/?n=2",
        ]
    ),
    secure=st.booleans(),
    session=st.booleans(),
    csrf=st.booleans(),
    origin=st.sampled_from([None, APP, "https://evil.example"]),
    agent=st.sampled_from(["httpx", "BadBot/1.0"]),
    encoding=st.sampled_from(["gzip", "identity"]),
)
def test_both_paths_answer_alike(  # noqa: PLR0917 - one drawn value each
    project: dict[str, LiveServer],
    method: str,
    path: str,
    secure: bool,
    session: bool,
    csrf: bool,
    origin: str | None,
    agent: str,
    encoding: str,
) -> None:
    headers = {"Host": HOST, "User-Agent": agent, "Accept-Encoding": encoding}
    if secure:
        headers["X-Forwarded-Proto"] = "https"
    if origin is not None:
        headers["Origin"] = origin
        headers["Referer"] = f"{origin}/page"
    token = "a" * 32 if csrf else ""
    if csrf:
        headers["X-CSRFToken"] = token
    sessions = {"django": logged_in(), "direct": logged_in()} if session else None
    responses = both(project, method, path, headers, sessionid=sessions, csrftoken=token)
    assert answer(responses["direct"]) == answer(responses["django"])


# --- state kept across requests ---------------------------------------------------------------


def test_session_changes_before_the_first_item_are_saved(project: dict[str, LiveServer]) -> None:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
    sessions = {"django": logged_in(), "direct": logged_in()}
    for visits in (1, 2, 3):
        responses = both(project, "GET", "/visit/", headers, sessionid=sessions)
        assert answer(responses["direct"]) == answer(responses["django"])
        first = orjson.loads(responses["direct"].content.splitlines()[0])
        assert first == {"user": "frank", "lazy": "frank", "visits": visits, "read": None}
        assert "Cookie" in responses["direct"].headers["vary"]


def test_an_anonymous_session_is_created_and_kept(project: dict[str, LiveServer]) -> None:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
    created = both(project, "GET", "/visit/", headers)
    assert answer(created["direct"]) == answer(created["django"])
    sessions = {name: response.cookies["sessionid"] for name, response in created.items()}
    again = both(project, "GET", "/visit/", headers, sessionid=sessions)
    assert answer(again["direct"]) == answer(again["django"])
    assert orjson.loads(again["direct"].content.splitlines()[0])["visits"] == 2


def test_messages_added_before_the_first_item_are_read_next_time(
    project: dict[str, LiveServer],
) -> None:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
    added = both(project, "GET", "/visit/?message=saved&session=0", headers)
    assert answer(added["direct"]) == answer(added["django"])
    stored = {name: response.cookies["messages"] for name, response in added.items()}
    read = both(project, "GET", "/visit/?read=1&session=0", headers, messages=stored)
    assert answer(read["direct"]) == answer(read["django"])
    assert orjson.loads(read["direct"].content.splitlines()[0])["read"] == ["saved"]
    assert 'messages=""' in read["direct"].headers["set-cookie"]  # read: the cookie goes


def test_csrf_refuses_an_unsafe_method_without_a_token(project: dict[str, LiveServer]) -> None:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
    sessions = {"django": logged_in(), "direct": logged_in()}
    refused = both(project, "POST", "/mine/", headers, sessionid=sessions)
    assert refused["direct"].status_code == 403
    assert answer(refused["direct"]) == answer(refused["django"])
    token = "b" * 32
    accepted = both(
        project,
        "POST",
        "/mine/",
        {**headers, "X-CSRFToken": token, "Origin": APP},
        sessionid=sessions,
        csrftoken=token,
    )
    assert accepted["direct"].status_code == 200
    assert answer(accepted["direct"]) == answer(accepted["django"])


# --- the other built-in middleware, after startproject's --------------------------------------

OTHERS = [
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.BrokenLinkEmailsMiddleware",
    "django.middleware.cache.UpdateCacheMiddleware",
    "django.middleware.cache.FetchFromCacheMiddleware",
    "django.contrib.auth.middleware.RemoteUserMiddleware",
]


@pytest.mark.parametrize("other", OTHERS)
def test_other_built_in_middleware_answer_alike(migrated: None, other: str) -> None:
    servers = serve(
        ROOT_URLCONF="tests.urls_startproject",
        MIDDLEWARE=[*STARTPROJECT, other],
        LOGIN_URL="/login/",
        MANAGERS=[("m", "m@example.com")],
    )
    try:
        started = next(servers)
        sessions = {"django": logged_in(), "direct": logged_in()}
        headers = {"Host": HOST, "Accept-Language": "fr", "Referer": "http://elsewhere/"}
        for path in ("/visit/", "/visit/?message=x", "/count/?n=1", "/missing/"):
            for cookies in ({}, {"sessionid": sessions}):
                responses = both(started, "GET", path, headers, **cookies)
                assert answer(responses["direct"]) == answer(responses["django"]), path
        remote = both(started, "GET", "/visit/", {**headers, "Remote-User": "frank"})
        assert answer(remote["direct"]) == answer(remote["django"])
    finally:
        servers.close()


# --- which thread --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("middleware", "in_loop"),
    [("tests.middleware.Recording", True), ("tests.middleware.RecordingSubclass", False)],
)
def test_only_declared_middleware_run_in_the_loop(middleware: str, in_loop: bool) -> None:
    servers = serve(
        ROOT_URLCONF="tests.urls_startproject",
        MIDDLEWARE=[middleware],
        JSONLFN={"IO_FREE_MIDDLEWARE": ["tests.middleware.Recording"]},
    )
    try:
        direct = next(servers)["direct"]
        THREADS.clear()
        assert httpx.get(f"{direct.url}/threads/").content == b'"ran"\n'
        hooks = {THREADS[hook] for hook in ("request", "view", "response")}
        assert (hooks == {THREADS["stream"]}) is in_loop
    finally:
        servers.close()


def test_check_names_what_cannot_run_in_the_loop() -> None:
    declared = ["tests.middleware.Recording", "tests.nowhere.Nothing", "tests.middleware.stamp"]
    with override_settings(JSONLFN={"IO_FREE_MIDDLEWARE": declared}):
        found = check_io_free_middleware()
    assert [message.id for message in found] == ["jsonlfn.E003", "jsonlfn.E003"]
    assert "'tests.nowhere.Nothing' cannot be imported" in found[0].msg
    assert "'tests.middleware.stamp' is not a MiddlewareMixin subclass" in found[1].msg
    with override_settings(JSONLFN={"IO_FREE_MIDDLEWARE": declared[:1]}):
        assert check_io_free_middleware() == []
