"""Request components: parsed into models, or a 400 (413/415) naming the field."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from django.core.exceptions import TooManyFieldsSent
from django.core.handlers.asgi import ASGIRequest
from django.http import QueryDict
from django.test import AsyncClient, override_settings
from hypothesis import given
from hypothesis import strategies as st

from jsonlfn._http._params import decimal_integer, query_lists

pytestmark = pytest.mark.anyio


async def lines_of(response: Any) -> list[Any]:
    data = b"".join([chunk async for chunk in response.streaming_content])
    return [orjson.loads(line) for line in data.splitlines()]


def error(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/json"
    detail: dict[str, Any] = orjson.loads(response.content)["detail"][0]
    return detail


async def test_header_alias_parsed_and_typed() -> None:
    response = await AsyncClient().get("/orgs/5/users/", headers={"Last-Event-ID": "7"})
    assert await lines_of(response) == [{"i": 8}, {"i": 9}, {"i": 10}]


async def test_header_is_optional_when_the_model_says_so() -> None:
    response = await AsyncClient().get("/orgs/5/users/")
    assert await lines_of(response) == [{"i": 1}, {"i": 2}, {"i": 3}]


async def test_bad_header_is_400_located_at_the_header() -> None:
    response = await AsyncClient().get("/orgs/5/users/", headers={"last-event-id": "abc"})
    assert response.status_code == 400
    assert error(response) == {
        "msg": "Expected `int | null`, got `str`",
        "type": "value_error",
        "loc": ["headers", "Last-Event-ID"],
    }


async def test_a_sent_null_is_400_even_where_the_field_allows_none() -> None:
    # The document describes the optional header as an integer: leaving it out is None.
    response = await AsyncClient().get("/orgs/5/users/", headers={"Last-Event-ID": "NULL"})
    assert response.status_code == 400
    assert error(response) == {
        "msg": "Expected a value, got `null`; leave the parameter out instead",
        "type": "value_error",
        "loc": ["headers", "Last-Event-ID"],
    }


async def test_bad_path_converter_value_is_404_from_django() -> None:
    response = await AsyncClient().get("/orgs/abc/users/")
    assert response.status_code == 404


async def test_query_repeated_keys_fill_list_fields() -> None:
    response = await AsyncClient().post(
        "/orders/?tags=a&tags=b&limit=2",
        data=b'{"item": "tea", "quantity": 5}',
        content_type="application/json",
    )
    assert await lines_of(response) == [{"item": "tea:a,b:light", "quantity": 1}] * 2


async def test_a_repeated_key_of_a_single_value_field_is_its_last_value() -> None:
    # request.GET["n"] is the last value sent; so is the field (both ways of reading)
    for query in ("n=5&n=2", "n=5&n=%32"):
        assert len(await lines_of(await AsyncClient().get(f"/count/?{query}"))) == 2


async def test_bad_query_value_is_400() -> None:
    response = await AsyncClient().get("/count/?n=many")
    assert response.status_code == 400
    assert error(response)["loc"] == ["query", "n"]


async def test_cookies_parsed() -> None:
    client = AsyncClient()
    client.cookies["theme"] = "dark"
    response = await client.post(
        "/orders/", data=b'{"item": "tea", "quantity": 1}', content_type="application/json"
    )
    assert await lines_of(response) == [{"item": "tea::dark", "quantity": 1}]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "loc", "msg"),
    [
        (b'{"item": "tea"}', "application/json", 400, ["body", "quantity"], "missing required"),
        (
            b'{"item": "tea", "quantity": "1"}',
            "application/json",
            400,
            ["body", "quantity"],
            "got `str`",
        ),
        (b'{"item": "tea", "quantity": 1', "application/json", 400, ["body"], "not valid JSON"),
        (
            b'{"item": "\xff\xfe", "quantity": 1}',
            "application/json",
            400,
            ["body"],
            "not valid JSON",
        ),
        (b"[" * 10000 + b"]" * 10000, "application/json", 400, ["body"], ""),
        (b"", "application/json", 400, ["body"], "empty"),
        (
            b"item=tea",
            "application/x-www-form-urlencoded",
            415,
            ["body"],
            "must be application/json",
        ),
        (b'{"item": "tea", "quantity": 1}', "text/plain", 415, ["body"], "got text/plain"),
    ],
)
async def test_bad_body(
    data: bytes, content_type: str, status: int, loc: list[str], msg: str
) -> None:
    response = await AsyncClient().post("/orders/", data=data, content_type=content_type)
    assert response.status_code == status
    detail = error(response)
    assert detail["loc"] == loc
    assert msg in detail["msg"]


async def test_vendor_json_content_type_is_accepted() -> None:
    response = await AsyncClient().post(
        "/orders/", data=b'{"item": "tea", "quantity": 1}', content_type="application/vnd.api+json"
    )
    assert response.status_code == 200


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
async def test_body_too_large_is_413() -> None:
    data = orjson.dumps({"item": "x" * 200, "quantity": 1})
    response = await AsyncClient().post("/orders/", data=data, content_type="application/json")
    assert response.status_code == 413
    assert error(response) == {
        "msg": "Request body is larger than 100 bytes",
        "type": "value_error",
        "loc": ["body"],
    }


@given(number=st.integers(min_value=-(10**30), max_value=10**30), zeros=st.integers(0, 3))
def test_decimal_digits_are_the_integer_they_write(number: int, zeros: int) -> None:
    sign = "-" if number < 0 else ""
    assert decimal_integer(f"{sign}{'0' * zeros}{abs(number)}") == number


@given(number=st.floats(allow_nan=False, allow_infinity=False))
def test_no_other_number_text_is_an_integer(number: float) -> None:
    for text in (repr(number), f"{number:e}", f"+{abs(number):.0f}"):
        assert decimal_integer(text) == ""


@pytest.mark.parametrize("path", ["/orgs/5/users/", "/resumable/"])
@pytest.mark.parametrize(("text", "after"), [("05", 5), ("0", 0), ("002", 2)])
async def test_integer_headers_read_leading_zeros(path: str, text: str, after: int) -> None:
    response = await AsyncClient().get(path, headers={"Last-Event-ID": text})
    assert (await lines_of(response))[0] == {"i": after + 1}


@pytest.mark.parametrize("path", ["/orgs/5/users/", "/resumable/"])
@pytest.mark.parametrize("text", ["1e1", "10.0", "+5", "0x10", "1_0", "1E0", "-"])
async def test_any_other_integer_text_is_a_400_at_the_header(path: str, text: str) -> None:
    response = await AsyncClient().get(path, headers={"Last-Event-ID": text})
    assert response.status_code == 400
    assert error(response)["loc"] == ["headers", "Last-Event-ID"]


async def test_integer_query_parameters_read_the_same_way() -> None:
    assert len(await lines_of(await AsyncClient().get("/count/?n=02"))) == 2
    response = await AsyncClient().get("/count/?n=1e1")
    assert response.status_code == 400
    assert error(response)["loc"] == ["query", "n"]


@pytest.mark.parametrize("text", ["٣", "\uff11", "5 5", "", "-"])
def test_only_ascii_digits_make_an_integer(text: str) -> None:
    assert decimal_integer(text) == ""


# The query's text: the characters that change how Django splits and decodes it, and
# some that do not.
QUERY_TEXT = st.text(alphabet="ab=&;%+2 é\x00Z", max_size=24)


@given(query=QUERY_TEXT, limit=st.one_of(st.none(), st.integers(0, 6)))
def test_the_query_is_read_as_request_get_reads_it(query: str, limit: int | None) -> None:
    with override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=limit):
        try:
            expected: Any = dict(QueryDict(query).lists())
        except TooManyFieldsSent:
            expected = TooManyFieldsSent
        request = asgi_request(query)
        try:
            found: Any = query_lists(request)
        except TooManyFieldsSent:
            found = TooManyFieldsSent
        assert found == expected
        if found is not TooManyFieldsSent:
            assert dict(request.GET.lists()) == expected  # built afterwards: the same


def test_a_request_get_built_before_is_the_one_read() -> None:
    request = asgi_request("a=1")
    request.GET = QueryDict("a=2")  # as a middleware may set it
    assert query_lists(request) == {"a": ["2"]}


def asgi_request(query: str) -> ASGIRequest:
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": query.encode()}
    return ASGIRequest(scope, io.BytesIO(b""))
