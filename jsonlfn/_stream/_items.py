"""How items become JSON lines appended to the outgoing batch.

Writers are built once per endpoint. Measured on the benchmark item (4 fields), per item:
orjson ``dumps`` + append 0.157 µs, msgspec ``encode_into`` 0.159 µs for a dict and
0.136 µs for a Struct (orjson cannot encode Structs). So Struct models use msgspec,
everything else orjson.

Most of the cost of validating one dict is the call, not the check: ``convert`` plus
``encode_into`` of one item measured 0.49 µs, ``convert`` of a list of 64 items then
``encode_lines`` 0.21 µs per item. So the stream loop collects the items that are
ready and writes them together (``lines_writer``); ``line_writer`` writes one item.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from jsonlfn._stream._shared import SharesLines, sharing

Writer = Callable[[Any, bytearray], None]
LinesWriter = Callable[[list[Any], bytearray], None]

_NEWLINE = 10


def line_writer(model: Any, *, validate: bool) -> Writer:
    """A function appending ``item`` as one ``\\n``-terminated JSON line to a batch.

    With ``validate``, items are checked strictly by msgspec. Instances of a Struct or
    dataclass model are trusted as they are (msgspec does not re-check their fields).
    A failing writer may leave partial bytes behind: callers truncate the batch back.
    """
    checked = validate and model is not Any
    info = msgspec.inspect.type_info(model)
    if _mentions_struct(info):
        write = _msgspec_writer(model if checked else None)
    else:
        write = _orjson_writer(model if checked else None)
    if checked and mentions_float(info):
        write = finite_only(write)
    shares = sharing(model)
    return write if shares is None else _sharing_lines(*shares, write)


def lines_writer(model: Any, *, validate: bool) -> LinesWriter:
    """A function appending each of ``items`` as one line, as ``line_writer`` would.

    When an item fails, the lines of the items before it are in the batch, nothing of
    it or after it, and its own exception is raised (not the list's).
    """
    write = line_writer(model, validate=validate)
    checked = validate and model is not Any
    if sharing(model) is not None or not _mentions_struct(msgspec.inspect.type_info(model)):
        return functools.partial(write_each, write)
    encode_lines = msgspec.json.Encoder().encode_lines
    if not checked:

        def write_lines(items: list[Any], batch: bytearray) -> None:
            try:
                batch += encode_lines(items)
            except Exception:  # find the item that fails, after writing the ones before it
                write_each(write, items, batch)

        return write_lines

    convert = msgspec.convert
    many = list[model]

    floats = mentions_float(msgspec.inspect.type_info(model))

    def write_checked_lines(items: list[Any], batch: bytearray) -> None:
        try:
            lines = encode_lines(convert(items, many, strict=True))
        except Exception:
            write_each(write, items, batch)
            return
        if floats and b"null" in lines:  # maybe a NaN: the line writer finds which item
            write_each(write, items, batch)
        else:
            batch += lines

    return write_checked_lines


def _sharing_lines(model: type[SharesLines], data_model: Any, write: Writer) -> Writer:
    """``write``, except that items carrying a line (a topic's events) are written as it."""
    shared_line = model._shared_line

    def write_event(item: Any, batch: bytearray) -> None:
        line = shared_line(item, data_model)
        if line is None:
            write(item, batch)
        else:
            batch += line

    return write_event


def finite_only(write: Writer) -> Writer:
    """``write``, refusing items holding NaN or an infinity (``ValidationError``): JSON
    has no such numbers, and both encoders would write ``null``, which a client reading
    the model's ``number`` cannot decode. Only a line holding ``null`` is searched."""

    def write_finite(item: Any, batch: bytearray) -> None:
        size = len(batch)
        write(item, batch)
        if batch.find(b"null", size) != -1:
            refuse_non_finite(item)

    return write_finite


def refuse_non_finite(value: Any) -> None:
    """``msgspec.ValidationError`` naming where ``value`` holds NaN or an infinity."""
    where = _non_finite(msgspec.to_builtins(value, builtin_types=(float,)), "$")
    if where is not None:
        number, path = where
        raise msgspec.ValidationError(
            f"Expected a finite number (JSON has no NaN nor Infinity), got `{number}` - at `{path}`"
        )


def _non_finite(value: Any, path: str) -> tuple[str, str] | None:
    if type(value) is float:
        return None if math.isfinite(value) else (repr(value), path)
    if isinstance(value, dict):
        for key, member in value.items():
            found = _non_finite(member, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, member in enumerate(value):
            found = _non_finite(member, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def write_each(write: Writer, items: list[Any], batch: bytearray) -> None:
    """``write`` each item; a failing one leaves nothing of itself in the batch."""
    for item in items:
        size = len(batch)
        try:
            write(item, batch)
        except BaseException:
            del batch[size:]  # msgspec leaves partial bytes behind on failure
            raise


_SEPARATORS = (
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"\xe2\x80\xa9", b"\\u2029"),
    (b"\xc2\x85", b"\\u0085"),
)


def one_line_each(lines: bytes) -> bytes:
    """``lines`` with U+2028, U+2029 and U+0085 escaped.

    JSON allows them raw, but they end lines for Python's ``str.splitlines``, so
    httpx's ``aiter_lines()`` and ``requests.iter_lines(decode_unicode=True)`` would cut
    a JSON line in two. Their UTF-8 bytes occur only inside strings, where ``\\uXXXX``
    means the same. On a 64 KiB batch, ``isascii()`` takes 1.6 µs and a one-byte search
    1 µs, where a two-byte search takes 41 µs: the cheap tests go first.
    """
    if lines.isascii():
        return lines
    if (b"\xe2" in lines and b"\xe2\x80" in lines) or (b"\xc2" in lines and b"\xc2\x85" in lines):
        for raw, escaped in _SEPARATORS:
            lines = lines.replace(raw, escaped)
    return lines


def unvalidated_writer() -> Writer:
    """A writer for items outside the model (``on_error`` replacements, pings)."""
    return _orjson_writer(None)


def _msgspec_writer(model: Any) -> Writer:
    encode_into = msgspec.json.Encoder().encode_into

    if model is None:

        def write(item: Any, batch: bytearray) -> None:
            encode_into(item, batch, -1)
            batch.append(_NEWLINE)

        return write

    convert = msgspec.convert

    def write_checked(item: Any, batch: bytearray) -> None:
        encode_into(convert(item, model, strict=True), batch, -1)
        batch.append(_NEWLINE)

    return write_checked


def _orjson_writer(model: Any) -> Writer:
    dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    fallback = msgspec.to_builtins  # Structs and the few types orjson lacks

    if model is None:

        def write(item: Any, batch: bytearray) -> None:
            try:
                batch += dumps(item, default=fallback, option=option)
            except TypeError as exc:
                batch += _wide_line(item, exc)

        return write

    convert = msgspec.convert

    def write_checked(item: Any, batch: bytearray) -> None:
        value = convert(item, model, strict=True)
        try:
            batch += dumps(value, default=fallback, option=option)
        except TypeError as exc:
            batch += _wide_line(value, exc)

    return write_checked


_encode = msgspec.json.Encoder().encode


def _wide_line(value: Any, error: TypeError) -> bytes:
    """The line msgspec writes for what orjson refused (integers beyond 64 bits, which
    JSON allows), or orjson's ``error`` when msgspec cannot write it either."""
    try:
        return _encode(value) + b"\n"
    except Exception:
        raise error from None


def _mentions_struct(info: msgspec.inspect.Type) -> bool:
    if isinstance(info, msgspec.inspect.StructType):
        return True
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_mentions_struct(member) for member in info.types)
    item_type = getattr(info, "item_type", None)
    if isinstance(item_type, msgspec.inspect.Type):
        return _mentions_struct(item_type)
    return False


def mentions_float(info: msgspec.inspect.Type, seen: set[int] | None = None) -> bool:
    """Whether values of this type may hold a float (anywhere inside)."""
    if isinstance(info, msgspec.inspect.FloatType | msgspec.inspect.AnyType):
        return True
    seen = set() if seen is None else seen
    if id(info) in seen:
        return False
    seen.add(id(info))
    inner: list[Any] = []
    for name in ("item_type", "key_type", "value_type"):
        inner.append(getattr(info, name, None))
    inner.extend(getattr(info, "types", ()))
    inner.extend(getattr(info, "item_types", ()))
    inner.extend(field.type for field in getattr(info, "fields", ()))
    return any(
        isinstance(member, msgspec.inspect.Type) and mentions_float(member, seen)
        for member in inner
    )
