"""The in-process topic backend (the default): history and fan-out in this process only.

Publishing is thread-safe: a sync view, a signal receiver or a thread of its own may
publish. Events are numbered like Redis stream entries (``milliseconds-sequence``), and
each topic remembers the newest event it dropped from its history (or, before any, the
moment the process started), so a resume from before that is answered with 410 rather
than silently skipping events.

A topic nobody subscribes to and nobody published to for its ``expire`` seconds
(``FORGET_AFTER`` when it has none) is forgotten, so per-room topics don't pile up. What
is kept of a forgotten topic is its newest key (of the newest ``_REMEMBERED`` forgotten
ones; one key for all older ones): made again, its history starts there, so a late
resume with an id from before is a 410, not a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from jsonlfn._errors import HistoryGone
from jsonlfn._topics._channel import Channel
from jsonlfn._topics._event import START, Event, EventKey, format_id, shared_event
from jsonlfn._topics._fanout import Feed, Subscriber, pages

logger = logging.getLogger("jsonlfn")

FORGET_AFTER = 600.0  # seconds, for topics without ``expire``
_SWEEP_EVERY = 1.0  # seconds between looks for topics to forget
_REMEMBERED = 10_000  # forgotten topics whose newest key is kept by name (~150 bytes each)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _History:
    __slots__ = ("events", "floor", "forget_after", "last", "touched", "whole")

    def __init__(self, maxlen: int, floor: EventKey, whole: bool, forget_after: float) -> None:
        self.events: deque[tuple[EventKey, Event[Any]]] = deque(maxlen=maxlen)
        self.floor = floor  # nothing is known of events up to this key
        self.last = floor  # the newest key given
        self.whole = whole  # it holds every event the topic ever had
        self.forget_after = forget_after
        self.touched = time.monotonic()

    def add(self, data: Any, payload: bytes, model: Any) -> tuple[EventKey, Event[Any]]:
        ms = _now_ms()
        key = (ms, 0) if ms > self.last[0] else (self.last[0], self.last[1] + 1)
        event = shared_event(key, data, payload, model)
        events = self.events
        if len(events) == events.maxlen:
            self.floor = events[0][0]
            self.whole = False
        events.append((key, event))
        self.last = key
        return key, event

    def after(self, key: EventKey) -> list[Event[Any]] | None:
        """The events after the one with ``key``; None unless this history holds that
        event or ``key`` is its floor (else what followed may be gone, or was never).
        ``START`` (``0-0``) is the start of a history that lost nothing."""
        if key == START and self.whole:
            return [event for _, event in self.events]
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


class _Forgotten:
    """The newest key of each forgotten topic, by name, for the newest ``size`` of them;
    beyond that one key, the newest of all the older ones (so those are refused more
    often than need be, never less)."""

    __slots__ = ("_keys", "_older", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: dict[str, EventKey] = {}
        self._older: EventKey | None = None

    def add(self, name: str, last: EventKey) -> None:
        self._keys[name] = last
        if len(self._keys) > self._size:
            oldest = next(iter(self._keys))
            evicted = self._keys.pop(oldest)
            self._older = evicted if self._older is None else max(self._older, evicted)

    def take(self, name: str) -> EventKey | None:
        """The key a topic of ``name`` made now must start after; None: it never had
        events in this process (that anyone can tell)."""
        return self._keys.pop(name, None) or self._older


class MemoryBackend:
    """Topics held in this process; one per process (``MEMORY``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boot: EventKey = (_now_ms(), 0)
        self._histories: dict[str, _History] = {}  # least recently touched first
        self._forgotten = _Forgotten(_REMEMBERED)
        self._shortest = FORGET_AFTER  # the least forget_after of any history
        self._swept = time.monotonic()
        self._warned = False  # about running as one of several workers
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
        """How many subscribers ``topic`` has in this process, in every event loop."""
        with self._lock:
            return sum(len(feed.subscribers) for _, feed in self._feeds_of(topic.name))

    def leave(self, topic: Channel, subscriber: Subscriber) -> None:
        with self._lock:
            feeds = self._feeds.get(asyncio.get_running_loop(), {})
            feed = feeds.get(topic.name)
            if feed is not None:
                feed.subscribers.discard(subscriber)
                if not feed.subscribers:
                    del feeds[topic.name]
            history = self._histories.pop(topic.name, None)
            if history is not None:  # its forgetting time starts when the last one left
                history.touched = time.monotonic()
                self._histories[topic.name] = history

    async def aclose(self) -> None:
        """Nothing to close: histories live in the process."""

    def _history(self, topic: Channel) -> _History:
        """The topic's history, made if need be, as the most recently touched one."""
        if not self._warned:
            self._warned = True
            _warn_if_one_of_several_workers()
        now = time.monotonic()
        if now - self._swept >= _SWEEP_EVERY:
            self._forget_idle(now)
        history = self._histories.pop(topic.name, None)
        if history is None:
            forget_after = FORGET_AFTER if topic.expire is None else topic.expire
            self._shortest = min(self._shortest, forget_after)
            before = self._forgotten.take(topic.name)
            floor = self._boot if before is None else max(self._boot, before)
            history = _History(topic.maxlen, floor, before is None, forget_after)
        history.touched = now
        self._histories[topic.name] = history
        return history

    def _forget_idle(self, now: float) -> None:
        """Drop the histories untouched for their ``forget_after`` that have no
        subscribers, oldest first; none touched within the shortest time can be due."""
        self._swept = now
        for name, history in list(self._histories.items()):
            idle = now - history.touched
            if idle < self._shortest:
                break
            if idle >= history.forget_after and not self._feeds_of(name):
                del self._histories[name]
                self._forgotten.add(name, history.last)

    def _feeds_of(self, name: str) -> list[tuple[asyncio.AbstractEventLoop, Feed]]:
        return [(loop, feeds[name]) for loop, feeds in self._feeds.items() if name in feeds]


def _warn_if_one_of_several_workers() -> None:
    """Say so when this process looks like one of several server workers (started by
    multiprocessing, as ``uvicorn --workers`` and ``hypercorn -w`` do, or by gunicorn):
    each has topics of its own, so subscribers miss what other workers publish."""
    gunicorn = "gunicorn" in os.environ.get("SERVER_SOFTWARE", "")
    if multiprocessing.parent_process() is not None or gunicorn:
        logger.warning(
            "jsonlfn: topics live in this process (JSONLFN['TOPICS'] = 'memory'), and it "
            "looks like one of several workers: subscribers on one worker never see "
            "events published on another. Serve one worker, or point every worker at "
            "one Redis: JSONLFN = {'TOPICS': 'redis://127.0.0.1:6379/0'}."
        )


MEMORY = MemoryBackend()
