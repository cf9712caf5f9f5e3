"""Line writers: the encoder each model gets, strict validation, whole lines only."""

from __future__ import annotations

import dataclasses
import decimal
import math
from typing import Any, TypedDict

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonlfn._stream._items import line_writer, lines_writer, one_line_each, unvalidated_writer
from jsonlfn._stream._sse import event_writer


class User(msgspec.Struct):
    id: int
    name: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Row(TypedDict):
    id: int


def line(model: Any, item: Any, *, validate: bool = True) -> bytes:
    batch = bytearray()
    line_writer(model, validate=validate)(item, batch)
    return bytes(batch)


@pytest.mark.parametrize(
    ("model", "item", "expected"),
    [
        (User, {"id": 1, "name": "a", "extra": True}, b'{"id":1,"name":"a"}\n'),
        (User, User(id=1, name="a"), b'{"id":1,"name":"a"}\n'),
        (Point, {"x": 1, "y": 2}, b'{"x":1,"y":2}\n'),
        (Row, {"id": 3}, b'{"id":3}\n'),
        (int | str, "x", b'"x"\n'),
        (list[User], [{"id": 1, "name": "a"}], b'[{"id":1,"name":"a"}]\n'),
        (Any, User(id=1, name="a"), b'{"id":1,"name":"a"}\n'),
        (Any, "two\nlines", b'"two\\nlines"\n'),
    ],
)
def test_one_compact_line_per_item(model: Any, item: Any, expected: bytes) -> None:
    assert line(model, item) == expected


@pytest.mark.parametrize(
    ("model", "item"), [(User, {"id": "1", "name": "a"}), (int, "5"), (Row, {"id": 1.5})]
)
def test_validation_is_strict(model: Any, item: Any) -> None:
    with pytest.raises(msgspec.ValidationError):
        line(model, item)


def test_validate_false_writes_items_as_they_are() -> None:
    assert line(User, {"anything": [1, 2]}, validate=False) == b'{"anything":[1,2]}\n'


def test_unvalidated_writer_falls_back_for_types_orjson_lacks() -> None:
    batch = bytearray()
    unvalidated_writer()({"d": decimal.Decimal("1.5"), "s": User(id=1, name="a")}, batch)
    assert batch == b'{"d":"1.5","s":{"id":1,"name":"a"}}\n'


def test_unencodable_item_raises_type_error() -> None:
    with pytest.raises(TypeError):
        line(Any, object())


@pytest.mark.parametrize("model", [User, Row, Any])
@pytest.mark.parametrize("validate", [True, False])
def test_lines_writer_writes_what_line_writer_writes(model: Any, validate: bool) -> None:
    items = [{"id": i, "name": f"n{i}"} for i in range(5)]
    one_by_one = bytearray()
    for item in items:
        line_writer(model, validate=validate)(item, one_by_one)
    together = bytearray()
    lines_writer(model, validate=validate)(items, together)
    assert together == one_by_one


@pytest.mark.parametrize(
    ("model", "bad", "message"),
    [
        (User, {"id": "2", "name": "b"}, "Expected `int`, got `str` - at `$.id`"),  # the item's
        (Any, {"id": object()}, "Type is not JSON serializable: object"),
    ],
)
def test_lines_writer_stops_at_the_failing_item_with_its_own_error(
    model: Any, bad: Any, message: str
) -> None:
    batch = bytearray(b"kept\n")
    items = [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}, bad, {"id": 3, "name": "d"}]
    with pytest.raises((msgspec.ValidationError, TypeError), match=message.replace("$", r"\$")):
        lines_writer(model, validate=True)(items, batch)
    assert batch == b'kept\n{"id":0,"name":"a"}\n{"id":1,"name":"b"}\n'


@given(st.text())
def test_every_string_is_one_line_for_splitlines(text: str) -> None:
    line = one_line_each(orjson.dumps(text))
    assert orjson.loads(line) == text  # the same string
    assert len(line.decode().splitlines()) == 1  # and one line for every line reader


class Reading(msgspec.Struct):
    value: float
    note: str | None = None


@dataclasses.dataclass
class Sample:
    values: list[float]


FLOAT_MODELS: list[tuple[Any, Any]] = [
    (float, lambda x: x),
    (Reading, lambda x: {"value": x}),
    (Sample, lambda x: {"values": [1.0, x]}),
    (dict[str, float], lambda x: {"a": x}),
    (int | float, lambda x: x),
]


@pytest.mark.parametrize(("model", "wrap"), FLOAT_MODELS)
@given(number=st.floats())
def test_a_float_model_refuses_nan_and_infinity_and_keeps_every_finite_number(
    model: Any, wrap: Any, number: float
) -> None:
    item = wrap(number)
    one, many = bytearray(), bytearray()
    if math.isfinite(number):
        line_writer(model, validate=True)(item, one)
        lines_writer(model, validate=True)([item, item], many)
        expected = msgspec.to_builtins(msgspec.convert(item, model))
        assert msgspec.json.decode(bytes(one)) == expected
        assert bytes(many) == bytes(one) * 2
        return
    with pytest.raises(msgspec.ValidationError, match="Expected a finite number"):
        line_writer(model, validate=True)(item, one)
    with pytest.raises(msgspec.ValidationError, match="Expected a finite number"):
        lines_writer(model, validate=True)([wrap(1.0), item], many)
    assert bytes(many) == line(model, wrap(1.0))


def test_nulls_of_a_float_model_stay_nulls() -> None:
    assert line(Reading, {"value": 1.5, "note": None}) == b'{"value":1.5,"note":null}\n'


def test_unvalidated_streams_keep_writing_what_the_encoders_write() -> None:
    assert line(float, float("nan"), validate=False) == b"null\n"


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_server_sent_events_refuse_them_too(number: float) -> None:
    write = event_writer(Reading, validate=True, id_field="note")
    with pytest.raises(msgspec.ValidationError, match="Expected a finite number"):
        write({"value": number, "note": "a"}, bytearray())
