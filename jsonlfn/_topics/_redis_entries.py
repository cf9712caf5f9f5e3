"""The entries of a Redis stream as events: decoded once per loop, shared by id."""

from __future__ import annotations

import logging
from typing import Any

from jsonlfn._topics._channel import Channel
from jsonlfn._topics._event import Event, EventKey, parse_id, shared_event

logger = logging.getLogger("jsonlfn")


class Decoded:
    """The events recently decoded in this loop, by topic and entry id, each decoded
    once: 600 resumes reading the same 300 entries held one copy of them, not 600
    (whose million objects made full collections stall the loop for up to 860 ms).
    What a backlog holds is still what Redis answered; this only shares the objects."""

    __slots__ = ("_events", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._events: dict[tuple[bytes, bytes], tuple[bytes, EventKey, Event[Any] | None]] = {}

    def event(
        self, topic: Channel, entry_id: bytes, fields: dict[bytes, bytes]
    ) -> tuple[EventKey, Event[Any] | None]:
        payload = fields.get(b"d", b"")
        found = self._events.get((topic.key, entry_id))
        if found is not None and found[0] == payload:  # the same entry, not a reused id
            return found[1], found[2]
        key, event = _event(topic, entry_id, payload)
        events = self._events
        if len(events) >= self._size:
            del events[next(iter(events))]
        events[topic.key, entry_id] = (payload, key, event)
        return key, event


def _event(topic: Channel, entry_id: bytes, payload: bytes) -> tuple[EventKey, Event[Any] | None]:
    key = parse_id(text(entry_id))
    try:
        data = topic.decode(payload)
    except Exception:  # written by something other than Topic.publish
        logger.error("jsonlfn: topic %r: entry %s does not decode; skipped", topic.name, key)
        return key, None
    return key, shared_event(key, data, payload, topic.model)


def expire_ms(topic: Channel) -> int:
    return max(1, round((topic.expire or 0) * 1000))


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
