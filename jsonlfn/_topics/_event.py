"""The events of a topic, their ids, and the line each one shares with every subscriber.

An event's line is built once, where the event enters the process (publish in the
in-process backend, the reader for Redis), from the bytes its publisher encoded, and
every stream that yields the event writes that same ``bytes`` object.
"""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar, get_args, get_origin

import msgspec

from jsonlfn._errors import BadRequest

T = TypeVar("T")

EventKey = tuple[int, int]  # an id "1733097600000-3" as (milliseconds, sequence)
START: EventKey = (0, 0)  # "0-0": before the first event a topic ever had

ID_PATTERN = r"^\d{1,20}-\d{1,20}$"  # what an event id looks like (OpenAPI says so too)
ID_MAX_LENGTH = 41
_ID = re.compile(r"(\d{1,20})-(\d{1,20})")
_LINE = "line"  # the key of an event's shared (model, line) in its __dict__
_MAX = 2**64 - 1


class Event(msgspec.Struct, Generic[T], frozen=True, dict=True):
    """One event of a ``Topic``: ``id`` resumes right after it, ``data`` is the item.

    On the wire: ``{"id":"1733097600000-0","data":{...}}``; declare the stream with
    ``@jsonl_stream(model=Event[Order], id="id")``. Events are shared by every
    subscriber in the process: treat ``data`` as read-only.
    """

    id: str
    data: T

    # What the stream loop asks of items carrying their line (jsonlfn/_stream/_shared.py)
    @staticmethod
    def _shared_line(item: Any, data_model: Any) -> bytes | None:
        return shared_line(item, data_model)

    @staticmethod
    def _shared_payload(item: Any, data_model: Any) -> bytes | None:
        return shared_payload(item, data_model)


def parse_id(text: str, loc: tuple[str, ...] = ("headers", "Last-Event-ID")) -> EventKey:
    """``"ms-seq"`` as a key, or ``BadRequest`` (400) saying what an event id looks like."""
    found = _ID.fullmatch(text.strip())
    if found is None or int(found[1]) > _MAX or int(found[2]) > _MAX:
        raise BadRequest(f"{text[:40]!r} is not an event id like '1733097600000-0'", loc=loc)
    return int(found[1]), int(found[2])


def format_id(key: EventKey) -> str:
    return f"{key[0]}-{key[1]}"


def shared_event(key: EventKey, data: Any, payload: bytes, model: Any) -> Event[Any]:
    """The event, carrying the line every stream of ``Event[model]`` writes for it."""
    event_id = format_id(key)
    event: Event[Any] = Event(event_id, data)
    line = b'{"id":"' + event_id.encode() + b'","data":' + payload + b"}\n"
    event.__dict__[_LINE] = (model, line)
    return event


def is_event_model(model: Any) -> bool:
    return model is Event or get_origin(model) is Event


def event_data_model(model: Any) -> Any:
    args = get_args(model)
    return args[0] if args else Any


def shared_line(item: Any, data_model: Any) -> bytes | None:
    """The line built for ``item`` if it is a topic's event of ``data_model``, else None.
    (``==``: ``list[int]`` and ``X | None`` are new objects each time they are written.)"""
    if type(item) is not Event:
        return None
    shared = item.__dict__.get(_LINE)
    if shared is None or (data_model is not Any and shared[0] != data_model):
        return None
    line: bytes = shared[1]
    return line


def shared_payload(item: Any, data_model: Any) -> bytes | None:
    """The JSON of ``item.data`` inside its shared line (see ``shared_line``), else None:
    what a Server-Sent Events stream writes as the event's ``data``."""
    line = shared_line(item, data_model)
    if line is None:
        return None
    return line[len(b'{"id":"') + len(item.id) + len(b'","data":') : -len(b"}\n")]
