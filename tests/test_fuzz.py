"""Property-based fuzzing of every request component, on both serving paths: whatever
arrives, the answer is a stream or one of the documented 4xx with the JSON error body;
never a 500.

The strategies build hostile shapes on purpose, not only random text: nesting deeper
than any decoder's limit (also inside fields a model skips or types as ``Any``),
integers and floats beyond 64 bits, thousands of fields and repeats, invalid UTF-8 in
headers, cookies, query strings and bodies, and bodies for every kind of model (Struct,
dataclass, TypedDict, ``Any`` and union fields).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
from typing import Any

import msgspec
import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsonlfn.testing import StreamClient, project_application

pytestmark = pytest.mark.anyio

ALLOWED = {200, 400, 401, 403, 404, 405, 406, 413, 415, 422}
FUZZ = settings(
    max_examples=int(os.environ.get("JSONLFN_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SERVING = ["django", "direct"]


@functools.cache
def app(serving: str) -> Any:
    """The project's application through Django's handler, or through ``registry.asgi()``."""
    if serving == "django":
        return project_application()
    from demo.events import registry as demo_registry

    from tests.streams import registry

    return registry.asgi(demo_registry.asgi(project_application()))


# --- hostile shapes ----------------------------------------------------------------------

many = st.integers(0, 3000)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
# Header bytes as a client could send them: anything but CR, LF and NUL (latin-1 and
# invalid UTF-8 included), up to 10 kB.
header_bytes = st.binary(max_size=10_000).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
)
huge_number = st.one_of(
    st.integers(19, 5000).map(lambda n: b"9" * n),  # beyond 64 bits
    st.integers(19, 5000).map(lambda n: b"-" + b"9" * n),
    st.sampled_from([b"1e400", b"-1e400", b"1e-400", b"18446744073709551616", b"0.1e99999"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda children: st.lists(children) | st.dictionaries(text, children),
    max_leaves=30,
).map(lambda value: json.dumps(value).encode())
json_shapes = st.one_of(
    json_values,
    huge_number,
    many.map(lambda n: b"[" * n + b"]" * n),  # deep arrays
    many.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),  # deep objects
    many.map(lambda n: b"{" + b",".join(b'"k%d":1' % i for i in range(n)) + b"}"),
    many.map(lambda n: b"{" + b",".join([b'"item":"x"'] * n) + b"}"),  # repeated keys
    st.binary(max_size=200).map(lambda b: b'"' + b.replace(b'"', b"") + b'"'),  # bad UTF-8
)
FIELDS = ["item", "quantity", "value", "choice", "anything", "either", "nested", "many", "zz"]
bodies = st.one_of(
    json_shapes,
    st.tuples(st.sampled_from(FIELDS), json_shapes).map(
        lambda pair: b'{"item":"x","quantity":1,"' + pair[0].encode() + b'":' + pair[1] + b"}"
    ),
    st.binary(max_size=2000),  # not JSON at all
)
BODY_PATHS = ["/orders/", "/bodies/struct/", "/bodies/dataclass/", "/bodies/typeddict/"]
query_strings = st.one_of(
    st.text(
        st.sampled_from(list("abc=&%25%zz%E9%FF+;?#[]é0129"))
        | st.characters(blacklist_categories=("Cs",)),
        max_size=300,
    ),
    many.map(lambda n: "&".join(f"k{i}=v" for i in range(n))),  # thousands of fields
    many.map(lambda n: "n=1&" + "&".join(["tags=a"] * n)),  # thousands of repeats
    huge_number.map(lambda n: f"n={n.decode()}&delay={n.decode()}"),
    st.binary(max_size=100).map(lambda b: "n=" + "".join(f"%{byte:02X}" for byte in b)),
)
cookie_headers = st.one_of(
    header_bytes,
    many.map(lambda n: "; ".join(f"c{i}=v" for i in range(n)).encode()),
    st.binary(max_size=100).map(lambda b: b"theme=" + b.replace(b";", b"")),
)


async def check(response: Any) -> None:
    assert response.status in ALLOWED, response.status
    if response.status != 200:
        assert response.headers["content-type"] == "application/json"
        assert response.error is not None  # decodes as {"detail": [...]}
        text = msgspec.json.encode(response.error).decode()
        assert "Traceback" not in text
        assert 'File "' not in text


# --- one property per component ----------------------------------------------------------


@pytest.mark.parametrize("serving", SERVING)
@FUZZ
@given(
    name=st.sampled_from(["Last-Event-ID", "Accept", "Authorization", "X-API-Key", "X-Any"]),
    values=st.lists(header_bytes, min_size=1, max_size=3),
    repeats=st.integers(1, 300),
)
async def test_headers(serving: str, name: str, values: list[bytes], repeats: int) -> None:
    headers = [(name, value) for value in values] * repeats
    for path in ("/orgs/5/users/", "/resumable/", "/secure/", "/secure-either/"):
        async with StreamClient(app(serving)).stream(path, headers=headers) as response:
            await check(response)


@pytest.mark.parametrize("serving", SERVING)
@FUZZ
@given(query=query_strings)
async def test_query_strings(serving: str, query: str) -> None:
    async with StreamClient(app(serving)).stream(f"/count/?{query}") as response:
        await check(response)
        if response.status == 200:  # one line is enough (n may be huge), if it comes
            with contextlib.suppress(TimeoutError, StopAsyncIteration):  # delay may be too
                await asyncio.wait_for(response.__anext__(), 1)


@pytest.mark.parametrize("serving", SERVING)
@FUZZ
@given(digits=st.one_of(st.integers(1, 4300).map(lambda n: "9" * n), st.integers(0).map(str)))
async def test_path_converters(serving: str, digits: str) -> None:
    """Whatever ``<int:...>`` matches: integers up to Python's 4,300 digits (longer ones
    are no match, Django's own 404)."""
    for path in (f"/orgs/{digits}/users/", f"/echo/{digits}/"):
        async with StreamClient(app(serving)).stream(path) as response:
            await check(response)
            if response.status == 200:
                await response.__anext__()


@pytest.mark.parametrize("serving", SERVING)
@FUZZ
@given(
    path=st.sampled_from(BODY_PATHS),
    cookie=cookie_headers,
    query=query_strings,
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/x+json"]),
)
async def test_post_bodies(  # noqa: PLR0917 - one argument per fuzzed component
    serving: str, path: str, cookie: bytes, query: str, body: bytes, content_type: str
) -> None:
    headers: list[tuple[str, str | bytes]] = [("cookie", cookie), ("content-type", content_type)]
    async with StreamClient(app(serving)).stream(
        f"{path}?{query}", method="POST", headers=headers, content=body
    ) as response:
        await check(response)


@pytest.mark.parametrize("serving", SERVING)
@FUZZ
@given(
    accept=header_bytes, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
)
async def test_accept_and_methods(serving: str, accept: bytes, method: str) -> None:
    async with StreamClient(app(serving)).stream(
        "/count/?n=2", method=method, headers=[("Accept", accept)]
    ) as response:
        await check(response)


# Header values as large as a server lets through (httptools takes 32 MiB): a pattern
# repeated up to 1 MB, each example its own.
huge_header_bytes = st.tuples(
    header_bytes.map(lambda b: b[:64] or b"a"), st.integers(1, 2**20)
).map(lambda pair: (pair[0] * (pair[1] // len(pair[0]) + 1))[: pair[1]])


@pytest.mark.parametrize("serving", SERVING)
@FUZZ
@given(
    name=st.sampled_from(
        ["Accept", "Accept-Encoding", "Authorization", "Last-Event-ID", "X-API-Key", "Cookie"]
    ),
    value=huge_header_bytes,
)
async def test_huge_header_values(serving: str, name: str, value: bytes) -> None:
    for path in ("/count/?n=2", "/resumable/", "/secure/", "/secure-either/"):
        async with StreamClient(app(serving)).stream(path, headers=[(name, value)]) as response:
            await check(response)


def hs256(claims: dict[str, Any], key: str) -> str:
    """A validly signed token of any claims (PyJWT's ``encode`` refuses odd ones)."""
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    signature = hmac.new(key.encode(), head + b"." + body, hashlib.sha256).digest()
    return b".".join([head, body, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()


CLAIMS = ["exp", "nbf", "iat", "sub", "scope", "scp", "scopes", "aud", "iss", "jti"]
claim_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(19, 4000).map(lambda n: 10**n)  # past 64 bits, past what a float holds
    | st.integers(19, 4000).map(lambda n: -(10**n))
    | st.floats()  # NaN and the infinities too
    | text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=10,
)


@pytest.mark.parametrize("serving", SERVING)
@FUZZ
@given(
    claims=st.dictionaries(st.sampled_from(CLAIMS) | text, claim_values, max_size=6),
    exp=st.one_of(st.integers(19, 4000).map(lambda n: 10**n), claim_values),
)
async def test_validly_signed_claims_of_any_size_and_type(
    serving: str, claims: dict[str, Any], exp: Any
) -> None:
    claims.setdefault("exp", exp)
    for path, key in (
        ("/secure/", django_settings.SECRET_KEY),
        ("/secure-expiring/", "expiring-secret-of-at-least-32-bytes"),
    ):
        token = hs256({"sub": "user", **claims}, key)
        headers = [("Authorization", f"Bearer {token}")]
        async with StreamClient(app(serving)).stream(path, headers=headers) as response:
            await check(response)
