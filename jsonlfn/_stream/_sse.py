"""Server-Sent Events framing: how items become events appended to the outgoing batch.

The format is the WHATWG HTML standard's ``text/event-stream``: an event is a group of
``field: value`` lines ended by a blank line; a line starting with ``:`` is a comment
that every parser skips. Each item becomes one event::

    event: <the tag, for an item of a tagged Struct>
    id: <the endpoint's id field; a topic's event: its entry id>
    data: <the item as compact JSON, on one line>
    <blank line>

Compact JSON escapes CR and LF inside strings, so ``data:`` is always one line (and
U+2028/U+2029 are escaped for line readers, as in JSON Lines). An ``id`` is written as
it is, so one holding CR, LF or NUL (which would end the field or be ignored by
browsers) is refused when the item is written. A ``Topic`` event's ``data`` is its
item (``Event.data``), the event's id going to ``id:``.

Without ``event:`` and ``id:`` fields the batch that the JSON Lines writer wrote for the
ready items is reframed in one ``bytes.replace``: the batching stays, and per item SSE
costs the ``data: `` prefix and the blank line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec

from jsonlfn._spec import ERROR_EVENT, HISTORY_GONE_EVENT, event_names
from jsonlfn._stream._items import (
    LinesWriter,
    Writer,
    finite_only,
    line_writer,
    lines_writer,
    mentions_float,
    unvalidated_writer,
    write_each,
)
from jsonlfn._stream._shared import SharesLines, sharing

__all__ = [
    "ERROR_EVENT",
    "HISTORY_GONE_EVENT",
    "MEDIA_TYPE",
    "PING",
    "event_writer",
    "events_writer",
    "named_event",
    "retry_field",
]

MEDIA_TYPE = "text/event-stream"
PING = b": ping\n"  # a comment: EventSource never sees it as a message

_DATA = b"data: "
_END = b"\n\n"

Fields = Callable[[Any], bytes]  # the event:/id: lines of one (validated) item


def event_writer(model: Any, *, validate: bool, id_field: str | None) -> Writer:
    """A function appending ``item`` as one event to a batch (see the module docstring).

    Raises what the JSON Lines writer raises, and ``ValueError`` for an id that an SSE
    ``id:`` line cannot carry. A failing writer may leave partial bytes behind.
    """
    shares = sharing(model)
    if shares is not None:
        return _topic_event_writer(model, *shares, validate=validate)
    checked = validate and model is not Any
    fields = _fields(model, id_field)
    encode = line_writer(model, validate=False)  # JSON and its "\n": the data line
    if checked and mentions_float(msgspec.inspect.type_info(model)):
        encode = finite_only(encode)
    convert = msgspec.convert

    def write(item: Any, batch: bytearray) -> None:
        value = convert(item, model, strict=True) if checked else item
        batch += fields(value)
        batch += _DATA
        encode(value, batch)
        batch.append(10)

    return write


def events_writer(model: Any, *, validate: bool, id_field: str | None) -> LinesWriter:
    """A function appending each of ``items`` as one event, as ``event_writer`` would.

    When an item fails, the events of the items before it are in the batch, nothing of
    it or after it, and its own exception is raised.
    """
    if sharing(model) is not None or id_field is not None or _event_lines(model):
        write = event_writer(model, validate=validate, id_field=id_field)
        return functools.partial(write_each, write)
    write_lines = lines_writer(model, validate=validate)

    def write_framed(items: list[Any], batch: bytearray) -> None:
        start = len(batch)
        try:
            write_lines(items, batch)
        finally:  # also the lines before a failing item
            if len(batch) > start:
                lines = batch[start:]
                del batch[start:]
                batch += _DATA
                batch += lines.replace(b"\n", b"\n\ndata: ")[: -len(_DATA)]

    return write_framed


def named_event(name: str, value: Any) -> bytes:
    """``value`` as an event named ``name`` (``error``, ``history_gone``), unchecked."""
    data = bytearray(b"event: " + name.encode() + b"\n" + _DATA)
    unvalidated_writer()(value, data)
    data.append(10)
    return bytes(data)


def retry_field(seconds: float | None) -> bytes:
    """The ``retry:`` line (milliseconds) that sets the client's reconnection delay."""
    if seconds is None:
        return b""
    return b"retry: %d\n" % round(seconds * 1000)


def _topic_event_writer(
    model: Any, cls: type[SharesLines], data_model: Any, *, validate: bool
) -> Writer:
    """A topic's ``Event``: its item as ``data`` (the line it shares with every stream
    of the topic, when it has one), its entry id as ``id``."""
    shared_payload = cls._shared_payload
    names = _event_lines(data_model)
    checked = validate and data_model is not Any
    encode = line_writer(data_model, validate=False)
    convert = msgspec.convert

    def write(item: Any, batch: bytearray) -> None:
        payload = shared_payload(item, data_model)
        event = item if payload is not None or not checked else convert(item, model, strict=True)
        if not isinstance(event, cls):
            raise TypeError(f"expected a jsonlfn.{cls.__name__}, got {type(event).__name__}")
        name = names.get(type(event.data), b"")
        batch += name + b"id: " + _id_text(event.id).encode() + b"\n" + _DATA
        if payload is None:
            encode(event.data, batch)  # with its "\n"
            batch.append(10)
        else:
            batch += payload
            batch += _END

    return write


def _fields(model: Any, id_field: str | None) -> Fields:
    names = _event_lines(model)
    attribute = _attribute(model, id_field)
    if attribute is None:
        if not names:
            return lambda value: b""
        return lambda value: names.get(type(value), b"")

    def fields(value: Any) -> bytes:
        found = value.get(id_field) if isinstance(value, dict) else getattr(value, attribute, None)
        name = names.get(type(value), b"")
        if found is None:
            return name
        return name + b"id: " + _id_text(found).encode() + b"\n"

    return fields


def _id_text(value: Any) -> str:
    """An id as the client sends it back in ``Last-Event-ID``: strings as they are."""
    text = value if isinstance(value, str) else msgspec.to_builtins(value)
    if not isinstance(text, str):
        text = msgspec.json.encode(text).decode()
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(
            f"the item's id {text[:40]!r} holds a line break or NUL, which a Server-Sent "
            "Events id: line cannot carry; use ids without them"
        )
    return text


def _attribute(model: Any, id_field: str | None) -> str | None:
    """The attribute holding the field that is encoded as ``id_field``."""
    if id_field is None:
        return None
    info = msgspec.inspect.type_info(model)
    for field in getattr(info, "fields", ()):
        if field.encode_name == id_field:
            name: str = field.name
            return name
    return id_field


def _event_lines(model: Any) -> dict[type, bytes]:
    return {cls: b"event: " + name.encode() + b"\n" for cls, name in event_names(model).items()}
