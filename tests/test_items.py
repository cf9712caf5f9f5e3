"""Line writers: the encoder each model gets, strict validation, whole lines only."""

from __future__ import annotations

import dataclasses
import decimal
from typing import Any, TypedDict

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonlfn._stream._items import line_writer, lines_writer, one_line_each, unvalidated_writer


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
