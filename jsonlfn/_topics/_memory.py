"""The in-process topic backend (the default): history and fan-out in this process only.

Publishing is thread-safe: a sync view, a signal receiver or a thread of its own may
publish. Events are numbered like Redis stream entries (``milliseconds-sequence``), and
each topic remembers the newest event it dropped from its history (or, before any, the
moment the process started), so a resume from before that is answered with 410 rather
than silently skipping events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

from jsonlfn._errors import HistoryGone
from jsonlfn._topics._channel import Channel
from jsonlfn._topics._event import Event, EventKey, format_id, shared_event
from jsonlfn._topics._fanout import Feed, Subscriber, pages


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _History:
    __slots__ = ("events", "floor", "last")

    def __init__(self, maxlen: int, boot: EventKey) -> None:
        self.events: deque[tuple[EventKey, Event[Any]]] = deque(maxlen=maxlen)
        self.floor = boot  # nothing is known of events up to this key
        self.last = boot  # the newest key given

    def add(self, data: Any, payload: bytes, model: Any) -> tuple[EventKey, Event[Any]]:
        ms = _now_ms()
        key = (ms, 0) if ms > self.last[0] else (self.last[0], self.last[1] + 1)
        event = shared_event(key, data, payload, model)
        events = self.events
        if len(events) == events.maxlen:
            self.floor = events[0][0]
        events.append((key, event))
        self.last = key
        return key, event

    def after(self, key: EventKey) -> list[Event[Any]] | None:
        """The events after the one with ``key``; None unless this history holds that
        event or ``key`` is its floor (else what followed may be gone, or was never)."""
        found = []
        for each, event in reversed(self.events):
            if each <= key:
                if each != key:
                    return None
                break
            found.append(event)
        else:
            if key != self.floor:
                return None
        found.reverse()
        return found


class MemoryBackend:
    """Topics held in this process; one per process (``MEMORY``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boot: EventKey = (_now_ms(), 0)
        self._histories: dict[str, _History] = {}
        self._feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Feed]] = (
            weakref.WeakKeyDictionary()
        )

    async def publish(self, topic: Channel, data: Any, payload: bytes) -> str:
        return self.publish_sync(topic, data, payload)

    def publish_sync(self, topic: Channel, data: Any, payload: bytes) -> str:
        with self._lock:
            key, event = self._history(topic).add(data, payload, topic.model)
            for loop, feed in self._feeds_of(topic.name):
                # Queued under the lock, also for this thread's own loop: each loop then
                # delivers in key order, whichever threads published.
                with contextlib.suppress(RuntimeError):  # that loop has closed
                    loop.call_soon_threadsafe(feed.deliver, key, event)
        return format_id(key)

    async def join(
        self, topic: Channel, after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        loop = asyncio.get_running_loop()
        with self._lock:
            history = self._history(topic)
            backlog: list[Event[Any]] = []
            if after is not None:
                found = history.after(after)
                if found is None:
                    raise HistoryGone(format_id(after), topic.name)
                backlog = found
            feeds = self._feeds.setdefault(loop, {})
            feed = feeds.get(topic.name)
            if feed is None:
                feed = feeds[topic.name] = Feed(history.last)
            subscriber = Subscriber(max(history.last, feed.position), limit)
            feed.subscribers.add(subscriber)
        return subscriber, pages(backlog)

    def subscribers(self, topic: Channel) -> int:
        """How many subscribers ``topic`` has in the running event loop."""
        with self._lock:
            feed = self._feeds.get(asyncio.get_running_loop(), {}).get(topic.name)
            return 0 if feed is None else len(feed.subscribers)

    def leave(self, topic: Channel, subscriber: Subscriber) -> None:
        with self._lock:
            feeds = self._feeds.get(asyncio.get_running_loop(), {})
            feed = feeds.get(topic.name)
            if feed is not None:
                feed.subscribers.discard(subscriber)
                if not feed.subscribers:
                    del feeds[topic.name]

    async def aclose(self) -> None:
        """Nothing to close: the history lives as long as the process."""

    def _history(self, topic: Channel) -> _History:
        history = self._histories.get(topic.name)
        if history is None:
            history = self._histories[topic.name] = _History(topic.maxlen, self._boot)
        return history

    def _feeds_of(self, name: str) -> Iterable[tuple[asyncio.AbstractEventLoop, Feed]]:
        return [(loop, feeds[name]) for loop, feeds in self._feeds.items() if name in feeds]


MEMORY = MemoryBackend()
