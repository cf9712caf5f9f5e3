"""A feed wakes at most ``CHUNK`` subscribers per loop turn, and every subscriber still
gets every event once and in order, and is woken after the last one it got, whatever
the turns in between."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jsonlfn import Event
from jsonlfn._topics._fanout import CHUNK, Feed, Subscriber

pytestmark = pytest.mark.anyio


class Reader:
    """A subscriber's consumer (the stream loop, in jsonlfn): what it saw when woken."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.wakes = 0
        self.seen = 0  # events buffered at the last wake-up

    def notified(self) -> None:
        self.wakes += 1
        self.seen = len(self.subscriber.buffer)


def subscribed(feed: Feed, count: int) -> list[Subscriber]:
    joined = [Subscriber(feed.position, limit=10_000) for _ in range(count)]
    for subscriber in joined:
        subscriber.consumer = Reader(subscriber)
    feed.subscribers.update(joined)
    return joined


def reader(subscriber: Subscriber) -> Reader:
    assert isinstance(subscriber.consumer, Reader)
    return subscriber.consumer


async def settled(feed: Feed) -> None:
    for _ in range(10_000):  # the feed calls itself soon until nobody is left to wake
        if not feed.unwoken:
            return
        await turns(1)
    raise AssertionError("subscribers were left unwoken")


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_every_subscriber_buffers_an_event_at_once_and_chunk_are_woken_a_turn() -> None:
    feed = Feed((0, 0))
    joined = subscribed(feed, 3 * CHUNK + 1)
    feed.deliver((1, 0), Event("1-0", 1))
    assert all(len(s.buffer) == 1 for s in joined)
    assert sum(reader(s).wakes for s in joined) == CHUNK  # the rest after other callbacks
    await settled(feed)
    assert all(reader(s).wakes == 1 and reader(s).seen == 1 for s in joined)


async def test_a_subscriber_waiting_for_its_turn_gets_the_next_event_in_the_same_wake() -> None:
    feed = Feed((0, 0))
    joined = subscribed(feed, 3 * CHUNK + 1)
    feed.deliver((1, 0), Event("1-0", 1))
    feed.deliver((2, 0), Event("2-0", 2))
    await settled(feed)
    assert all(reader(s).seen == 2 for s in joined)
    assert sum(reader(s).wakes for s in joined) == len(joined) + CHUNK


async def test_a_few_subscribers_are_all_woken_at_once() -> None:
    feed = Feed((0, 0))
    joined = subscribed(feed, CHUNK)
    feed.deliver((1, 0), Event("1-0", 1))
    assert all(reader(s).wakes == 1 for s in joined)


@settings(max_examples=60, deadline=None)
@given(
    schedule=st.lists(
        st.tuples(
            st.integers(0, 2 * CHUNK + 3),  # subscribers that join before this event
            st.integers(0, 2 * CHUNK),  # subscribers that leave before it
            st.integers(0, 4),  # loop turns after it
            st.booleans(),  # delivered twice (a backlog and a live read may both have it)
        ),
        min_size=1,
        max_size=12,
    )
)
# subscribers still to be woken for an event when the next comes to fewer than CHUNK
@example(schedule=[(CHUNK + 44, 0, 0, False), (0, 100, 0, False)])
async def test_every_subscriber_gets_each_event_once_in_order(
    schedule: list[tuple[int, int, int, bool]],
) -> None:
    feed = Feed((0, 0))
    staying: list[tuple[Subscriber, int]] = []  # each subscriber and the first event it gets
    gone: list[tuple[Subscriber, int]] = []
    for n, (joining, leaving, after, again) in enumerate(schedule, start=1):
        staying += [(s, n) for s in subscribed(feed, joining)]
        for subscriber, first in staying[:leaving]:
            feed.subscribers.discard(subscriber)
            gone.append((subscriber, first))
        del staying[:leaving]
        event: Event[Any] = Event(f"{n}-0", n)
        feed.deliver((n, 0), event)
        if again:
            feed.deliver((n, 0), event)
        await turns(after)
    await settled(feed)
    last = len(schedule)
    for subscriber, first in staying:
        assert [e.data for e in subscriber.buffer] == list(range(first, last + 1))
        assert reader(subscriber).seen == len(subscriber.buffer)  # woken after the last
    for subscriber, first in gone:  # what it got before it left: no gap, no repeat
        got = [e.data for e in subscriber.buffer]
        assert got == list(range(first, first + len(got)))
