"""A topic's life: made per room, counted from sync code, resumed from 0-0, expired and
forgotten without a silent gap. Each test runs on both backends where it applies."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from jsonlfn import HistoryGone, Topic
from jsonlfn._topics import _memory
from jsonlfn._topics._backends import close_loop_connections
from tests.redis_server import RedisServer
from tests.streams import Trade
from tests.test_topics import subscribed, take

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
async def _closed_after(topics: str) -> AsyncIterator[None]:
    yield
    await close_loop_connections()


def named(**options: Any) -> Topic[Trade]:
    return Topic(f"life-{uuid.uuid4().hex[:10]}", model=Trade, **options)


async def test_subscribers_are_counted_from_sync_code_in_another_thread(topics: str) -> None:
    topic = named()
    waiting = [asyncio.ensure_future(anext(topic.subscribe())) for _ in range(2)]
    async with asyncio.timeout(10):
        while topic.subscribers() < 2:  # noqa: ASYNC110 - a join sets no event
            await asyncio.sleep(0.005)
    counted: list[int] = []
    thread = threading.Thread(target=lambda: counted.append(topic.subscribers()))
    thread.start()
    thread.join(10)
    assert counted == [2]
    for each in waiting:
        each.cancel()
    await asyncio.wait(waiting)
    assert topic.subscribers() == 0


async def test_0_0_resumes_from_the_first_event_of_a_topic_that_lost_nothing(
    topics: str,
) -> None:
    topic = named()
    ids = [await topic.publish(Trade(n)) for n in range(5)]
    got = await take(topic.subscribe(after="0-0"), 5)
    assert [e.id for e in got] == ids


async def test_0_0_is_gone_once_the_topic_trimmed_an_event(topics: str) -> None:
    topic = named(maxlen=3)
    for n in range(500):  # Redis trims MAXLEN ~ in whole nodes of 100 entries
        await topic.publish(Trade(n))
    with pytest.raises(HistoryGone):
        await anext(topic.subscribe(after="0-0"))


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_an_expiring_topic_carries_its_expiry_in_redis(
    topics: str, redis_server: RedisServer
) -> None:
    topic = named(expire=30)
    await topic.publish(Trade(1))
    topic.publish_sync(Trade(2))
    store = redis.Redis.from_url(redis_server.url)
    assert 25_000 < store.pttl(topic.channel.key) <= 30_000
    store.delete(topic.channel.key)  # what Redis does once it expired
    fresh = await topic.publish(Trade(3))
    assert 25_000 < store.pttl(topic.channel.key) <= 30_000
    assert fresh  # publishing goes on into a new stream


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_a_watched_expiring_topic_is_kept_alive_while_it_is_quiet(
    topics: str, redis_server: RedisServer
) -> None:
    topic = named(expire=60)
    events = await subscribed(topic)
    await topic.publish(Trade(1))
    store = redis.Redis.from_url(redis_server.url)
    store.pexpire(topic.channel.key, 5_000)  # as if it had been quiet for 55 s
    async with asyncio.timeout(20):
        while store.pttl(topic.channel.key) <= 5_000:  # noqa: ASYNC110 - Redis has no event
            await asyncio.sleep(0.05)
    await events.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_a_resume_into_an_expired_topic_is_gone_not_a_gap(
    topics: str, redis_server: RedisServer
) -> None:
    topic = named(expire=60)
    seen = await topic.publish(Trade(1))
    redis.Redis.from_url(redis_server.url).delete(topic.channel.key)  # it expired
    await topic.publish(Trade(2))
    with pytest.raises(HistoryGone):
        await anext(topic.subscribe(after=seen))


@pytest.mark.parametrize("topics", ["memory"], indirect=True)
async def test_idle_topics_are_forgotten_and_a_late_resume_is_gone(
    topics: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forgotten, a topic keeps only its newest key: a resume after an older event is a
    410, one after the newest loses nothing and goes on; a watched topic is kept."""
    monkeypatch.setattr(_memory, "_SWEEP_EVERY", 0.0)
    rooms = [named(expire=0.05) for _ in range(50)]
    seen = [[await room.publish(Trade(n)) for n in range(2)] for room in rooms]
    watched = await subscribed(rooms[0])
    await asyncio.sleep(0.1)
    await named().publish(Trade(0))  # any publish looks for idle topics
    held = _memory.MEMORY._histories
    assert [room.name in held for room in rooms] == [True] + [False] * 49  # but the watched
    # No sweep from here on: on a busy machine a room idle for 0.05 s between its publish
    # and its subscriber's join was forgotten again (a second, legitimate 410).
    monkeypatch.setattr(_memory, "_SWEEP_EVERY", 3600.0)
    async with asyncio.timeout(10):
        for room, (older, newest) in zip(rooms[1:], seen[1:], strict=True):
            with pytest.raises(HistoryGone):
                await anext(room.subscribe(after=older))
            going_on = room.subscribe(after=newest)
            later = await room.publish(Trade(99))  # a forgotten topic starts afresh
            assert [e.id for e in await take(going_on, 1)] == [later]
        fresh = await rooms[0].publish(Trade(7))
        assert [e.id for e in await take(watched, 1)] == [fresh]  # kept while watched
    await watched.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("topics", ["memory"], indirect=True)
async def test_a_topic_made_again_after_it_was_forgotten_refuses_what_it_lost(
    topics: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made again under its name, a forgotten topic starts after its old newest event:
    0-0 and the old ids are gone (410); a topic of another name still resumes from 0-0."""
    monkeypatch.setattr(_memory, "_SWEEP_EVERY", 0.0)
    room = named(expire=0.01)
    old = [await room.publish(Trade(n)) for n in range(3)]
    await asyncio.sleep(0.05)
    other = named()
    first = await other.publish(Trade(2))  # the sweep forgets `room` first
    again = await room.publish(Trade(3))
    for after in ["0-0", *old[:2]]:
        with pytest.raises(HistoryGone):
            async with asyncio.timeout(10):
                await anext(room.subscribe(after=after))
    assert [e.id for e in await take(room.subscribe(after=old[2]), 1)] == [again]
    assert [e.id for e in await take(other.subscribe(after="0-0"), 1)] == [first]
