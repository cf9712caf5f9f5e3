"""Handing each event of a topic to every subscriber in one event loop.

A backend keeps one ``Feed`` per topic per event loop and calls ``deliver`` once per
event; each ``Subscriber`` queues it in a bounded buffer and wakes the stream function
waiting on it, or notifies the stream loop reading it (``_handoff``). Nothing here runs
per subscriber but ``offer``: a comparison, an append and at most one wake-up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from jsonlfn._handoff import Consumer
from jsonlfn._topics._event import Event, EventKey


class Subscriber:
    """One subscription: the live events after ``after``, at most ``limit`` unread.

    A subscriber whose buffer is full falls ``behind``: it gets what it buffered, then
    its iteration ends, so its client resumes from the last id it received.
    """

    __slots__ = ("after", "behind", "buffer", "consumer", "limit", "queued", "waiter")

    def __init__(self, after: EventKey, limit: int) -> None:
        self.after = after  # the key of the newest event queued (or skipped as seen)
        self.limit = limit
        self.buffer: deque[Event[Any]] = deque()
        self.behind = False
        self.waiter: asyncio.Future[None] | None = None
        self.consumer: Consumer | None = None  # the stream loop reading it (a Handoff)
        self.queued = False  # in its feed's queue of subscribers to wake

    def offer(self, key: EventKey, event: Event[Any]) -> bool:
        """Buffer the event (or fall behind); whether the subscriber is to be woken."""
        if key <= self.after or self.behind:
            return False  # seen already (a backlog, or another delivery path, had it)
        if len(self.buffer) >= self.limit:
            self.behind = True
        else:
            self.buffer.append(event)
            self.after = key
        return True

    def end_now(self) -> None:
        """End at once, dropping what is buffered: events before it may be missing, so
        the client must resume from the last event it got (and may learn of a gap)."""
        self.buffer.clear()
        self.behind = True
        self.wake()

    def wake(self) -> None:
        if self.consumer is not None:
            self.consumer.notified()
            return
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def next(self) -> Event[Any] | None:
        """The next live event, or None once the subscriber has fallen behind."""
        buffer = self.buffer
        while not buffer:
            if self.behind:
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return buffer.popleft()


class Feed:
    """The subscribers of one topic in one event loop, and where its events have got to.

    Each event is buffered by every subscriber at once, but at most ``CHUNK`` of them
    are woken per loop turn, the rest on the turns after, once the streams woken so
    far have sent: 10,000 woken in one turn kept the worker from every other request
    for the whole burst (a plain request's p99: 373 ms at 10,000 subscribers, 1
    event/s). A subscriber still waiting for its turn gets the next events in the same
    wake-up, so a loaded worker writes several lines per send, as before.
    """

    __slots__ = ("position", "subscribers", "unwoken")

    def __init__(self, position: EventKey) -> None:
        self.position = position  # the key of the newest event delivered
        self.subscribers: set[Subscriber] = set()
        self.unwoken: deque[Subscriber] = deque()  # buffered an event, to be woken

    def deliver(self, key: EventKey, event: Event[Any]) -> None:
        if key <= self.position:
            return
        self.position = key
        unwoken = self.unwoken
        waking = not unwoken  # else a turn to wake the queued ones is already coming
        budget = CHUNK if waking else 0
        for subscriber in self.subscribers:
            if subscriber.offer(key, event) and not subscriber.queued:
                if budget:
                    budget -= 1
                    subscriber.wake()
                else:
                    subscriber.queued = True
                    unwoken.append(subscriber)
        if waking and unwoken:
            asyncio.get_running_loop().call_soon(self._wake_some)

    def _wake_some(self) -> None:
        unwoken = self.unwoken
        for _ in range(min(CHUNK, len(unwoken))):
            subscriber = unwoken.popleft()
            subscriber.queued = False
            subscriber.wake()
        if unwoken:
            asyncio.get_running_loop().call_soon(self._wake_some)

    def end_all(self) -> None:
        """End every subscriber at once (``Subscriber.end_now``)."""
        for subscriber in self.subscribers:
            subscriber.end_now()


CHUNK = 256  # subscribers woken per loop turn: about 8 ms of sends on uvicorn


async def pages(*held: list[Event[Any]]) -> AsyncIterator[list[Event[Any]]]:
    """A backlog already in hand, as the pages a backend's ``join`` returns."""
    for page in held:
        if page:
            yield page
