"""Topics on each backend (in-process and a real Redis): publish, fan out, resume.

Every test here runs once per backend (the ``topics`` fixture); what needs processes
of its own (workers killed, Redis restarted) is in test_topics_live.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsonlfn import Event, HistoryGone, InvalidEvent, PublishFailed, SpecError, Topic
from jsonlfn._stream._items import line_writer, lines_writer
from jsonlfn._topics._backends import close_loop_connections
from tests.redis_server import RedisServer
from tests.streams import Trade

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
async def _closed_after(topics: str) -> AsyncIterator[None]:
    """Each test's event loop gets its own Redis connections; close them with it."""
    yield
    await close_loop_connections()


_names = itertools.count()


def fresh_topic(maxlen: int = 1000) -> Topic[Trade]:
    """A topic no other test has used (Redis keeps topics across tests)."""
    return Topic(f"t{next(_names)}-{uuid.uuid4().hex[:8]}", model=Trade, maxlen=maxlen)


async def take(events: AsyncIterator[Any], n: int) -> list[Any]:
    found = []
    async with asyncio.timeout(5):
        async for event in events:
            found.append(event)
            if len(found) == n:
                break
    return found


async def subscribed(topic: Topic[Trade], after: str | None = None) -> AsyncIterator[Any]:
    """A subscription that has joined (its first step ran) before this returns."""
    events = topic.subscribe(after=after)
    joined = topic.subscribers() + 1
    first = asyncio.ensure_future(anext(events))
    async with asyncio.timeout(5):
        while topic.subscribers() < joined and not first.done():  # noqa: ASYNC110 - no join event
            await asyncio.sleep(0.005)
    return _chain(first, events)


async def _chain(first: asyncio.Future[Any], rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield await first
    async for event in rest:
        yield event


async def test_subscribers_get_each_published_event_in_order(topics: str) -> None:
    topic = fresh_topic()
    a, b = await subscribed(topic), await subscribed(topic)
    ids = [await topic.publish(Trade(n)) for n in range(5)]
    for events in (a, b):
        got = await take(events, 5)
        assert [e.id for e in got] == ids
        assert [e.data for e in got] == [Trade(n) for n in range(5)]


async def test_resume_after_an_id_has_no_gap_and_no_duplicate(topics: str) -> None:
    topic = fresh_topic()
    first = [await topic.publish(Trade(n)) for n in range(6)]
    ids = list(first)
    for i, after in enumerate(first):
        events = await subscribed(topic, after=after)
        ids.append(await topic.publish(Trade(100 + i)))  # while it catches up
        got = await take(events, len(ids) - i - 1)
        assert [e.id for e in got] == ids[i + 1 :]


@given(plan=st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=1, max_size=8))
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_resuming_anywhere_sees_exactly_what_followed(topics: str, plan: Any) -> None:
    """Publish in bursts; a subscriber resuming after any id seen so far (or joining
    live) gets exactly the events after it, whichever burst it joined in."""
    topic = fresh_topic()
    published: list[str] = []
    subscriptions: list[tuple[int, AsyncIterator[Any]]] = []
    for burst, resume in plan:
        if resume and published:
            index = burst % len(published)
            subscriptions.append((index + 1, await subscribed(topic, published[index])))
        else:
            subscriptions.append((len(published), await subscribed(topic)))
        published += [await topic.publish(Trade(len(published) + k)) for k in range(burst + 1)]
    for start, events in subscriptions:
        got = await take(events, len(published) - start)
        assert [e.id for e in got] == published[start:]


async def test_a_bad_item_is_refused_at_publish_and_nothing_is_added(topics: str) -> None:
    topic = fresh_topic()
    events = await subscribed(topic)
    with pytest.raises(InvalidEvent, match="Expected `int`"):
        await topic.publish({"n": "one"})  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent):
        topic.publish_sync(object())  # type: ignore[arg-type]
    good = await topic.publish({"n": 1})  # type: ignore[arg-type]
    assert [e.id for e in await take(events, 1)] == [good]


async def test_publish_sync_from_threads_reaches_subscribers_in_id_order(topics: str) -> None:
    topic = fresh_topic()
    events = await subscribed(topic)
    ids: list[str] = []
    lock = threading.Lock()

    def publish_some(offset: int) -> None:
        for n in range(10):
            with lock:  # so that `ids` is in publish order
                ids.append(topic.publish_sync(Trade(offset + n)))

    threads = [threading.Thread(target=publish_some, args=(k * 100,)) for k in range(3)]
    await asyncio.gather(*(asyncio.to_thread(t.run) for t in threads))
    got = await take(events, 30)
    assert [e.id for e in got] == ids
    assert sorted(_key(i) for i in ids) == [_key(i) for i in ids]


async def test_publishing_from_threads_and_the_loop_at_once_loses_nothing(topics: str) -> None:
    topic = fresh_topic()
    events = await subscribed(topic)
    ids: list[str] = []
    lock = threading.Lock()

    def from_a_thread(n: int) -> None:
        with lock:
            ids.append(topic.publish_sync(Trade(n)))

    for n in range(20):  # a sync view in a thread and an async view, interleaved
        thread = threading.Thread(target=from_a_thread, args=(n,))
        thread.start()
        thread.join()
        with lock:
            ids.append(topic.publish_sync(Trade(100 + n)))  # from the loop's own thread
        await asyncio.sleep(0)
    got = await take(events, 40)
    assert [e.id for e in got] == ids


async def test_an_id_between_two_events_is_gone(topics: str) -> None:
    topic = fresh_topic()
    first = _key(await topic.publish(Trade(0)))
    await asyncio.sleep(0.003)
    await topic.publish(Trade(1))
    between = f"{first[0]}-{first[1] + 1}"  # never given: from another process, say
    with pytest.raises(HistoryGone):
        await anext(topic.subscribe(after=between))


async def test_resuming_before_the_history_kept_is_gone(topics: str) -> None:
    topic = fresh_topic(maxlen=5)
    first = await topic.publish(Trade(0))
    for n in range(1, 400):  # Redis trims in whole nodes of ~100 entries ("MAXLEN ~")
        await topic.publish(Trade(n))
    events = topic.subscribe(after=first)
    with pytest.raises(HistoryGone) as raised:
        await anext(events)
    assert raised.value.status == 410
    assert raised.value.body()["detail"][0]["type"] == "history_gone"
    assert raised.value.loc == ["headers", "Last-Event-ID"]


async def test_an_id_never_given_is_gone(topics: str) -> None:
    topic = fresh_topic()
    last = _key(await topic.publish(Trade(0)))
    with pytest.raises(HistoryGone):
        await anext(topic.subscribe(after=f"{last[0] + 10_000}-0"))


@pytest.mark.parametrize("bad", ["abc", "1-", "-1", "1-2-3", " ", "1" * 30 + "-0"])
async def test_a_malformed_id_is_a_400(topics: str, bad: str) -> None:
    from jsonlfn import BadRequest

    with pytest.raises(BadRequest, match="is not an event id"):
        await anext(fresh_topic().subscribe(after=bad))


async def test_a_subscriber_that_falls_behind_ends_and_resumes(topics: str) -> None:
    from django.conf import settings as django_settings
    from django.test import override_settings

    topic = fresh_topic()
    with override_settings(JSONLFN={**django_settings.JSONLFN, "TOPIC_BUFFER": 3}):
        slow = await subscribed(topic)
        ids = [await topic.publish(Trade(n)) for n in range(8)]
        await asyncio.sleep(0.1)  # delivered (Redis: by the reader) while nobody reads
        got = [e.id async for e in slow]  # the buffered ones, then a clean end
    # 3 buffered, plus the one its first step may already have taken out of the buffer
    assert got == ids[: len(got)]
    assert 3 <= len(got) <= 4
    resumed = await subscribed(topic, after=got[-1])
    assert [e.id for e in await take(resumed, 8 - len(got))] == ids[len(got) :]


async def test_every_subscriber_shares_one_event_and_one_line(topics: str) -> None:
    topic = fresh_topic()
    subscriptions = [await subscribed(topic) for _ in range(20)]
    await topic.publish(Trade(7, "shared"))
    events = [(await take(s, 1))[0] for s in subscriptions]
    assert all(e is events[0] for e in events)  # decoded once for the whole process
    batch = bytearray()
    line_writer(Event[Trade], validate=True)(events[0], batch)
    lines_writer(Event[Trade], validate=True)(events, batch)
    lines = bytes(batch).splitlines(keepends=True)
    assert set(lines) == {msgspec.json.encode(events[0]) + b"\n"}


def _key(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


async def test_a_join_cancelled_at_any_point_leaves_nothing_behind(topics: str) -> None:
    topic = fresh_topic()
    for delay in (0, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.02):
        joining = asyncio.ensure_future(anext(topic.subscribe()))
        await asyncio.sleep(delay)
        joining.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await joining
        await asyncio.sleep(0)  # the generator's finally has run by now
        assert topic.subscribers() == 0, delay


async def test_many_joining_a_cold_topic_at_once_all_join(topics: str) -> None:
    topic = fresh_topic()
    subscriptions = [topic.subscribe() for _ in range(300)]
    firsts = [asyncio.ensure_future(anext(s)) for s in subscriptions]
    async with asyncio.timeout(10):
        while topic.subscribers() < 300 and not any(f.done() for f in firsts):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert not [f.exception() for f in firsts if f.done()]  # no 503 for a join rush
    published = await topic.publish(Trade(1))
    assert {(await f).id for f in firsts} == {published}


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_a_backlog_trimmed_while_it_is_read_ends_instead_of_skipping(topics: str) -> None:
    topic = fresh_topic(maxlen=700)
    ids = [await topic.publish(Trade(n)) for n in range(700)]
    events = topic.subscribe(after=ids[100])
    got = [e.id for e in await take(events, 10)]  # its first page (512) is read
    ids += [await topic.publish(Trade(n)) for n in range(700, 1400)]  # trims past it
    got += [e.id async for e in events]  # the rest of that page, then a clean end
    assert got == ids[101 : 101 + len(got)]  # no gap
    assert len(got) < 1400 - 101
    with pytest.raises(HistoryGone):
        await anext(topic.subscribe(after=got[-1]))


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_a_reader_trimmed_past_ends_its_streams_instead_of_skipping(topics: str) -> None:
    topic = fresh_topic(maxlen=100)
    events = await subscribed(topic)
    ids = [await topic.publish(Trade(0))]
    assert [e.id for e in await take(events, 1)] == ids
    publisher = threading.Thread(
        target=lambda: ids.extend(topic.publish_sync(Trade(n)) for n in range(1, 400))
    )
    publisher.start()
    publisher.join()  # blocks this loop, the reader's: it falls 399 events behind
    got = [e.id async for e in events]  # a clean end, or what follows without a gap
    assert got == ids[1 : 1 + len(got)]
    assert len(got) < 399


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_one_reader_connection_serves_every_subscriber_of_every_topic(
    topics: str, redis_server: RedisServer
) -> None:
    import redis

    admin = redis.Redis.from_url(redis_server.url)
    before = len(admin.client_list())
    several = [fresh_topic() for _ in range(5)]
    subscriptions = [await subscribed(topic) for topic in several for _ in range(20)]
    ids = [await topic.publish(Trade(n)) for n, topic in enumerate(several)]
    got = [(await take(s, 1))[0].id for s in subscriptions]
    assert got == [event_id for event_id in ids for _ in range(20)]
    connections = len(admin.client_list()) - before
    admin.close()
    assert connections <= 3  # the reader, and the command client's few, not one per stream


class Pouring:
    """A thread publishing to ``topic`` as fast as it can, as another process would."""

    def __init__(self, topic: Topic[Trade]) -> None:
        self.topic = topic
        self.ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            self.ids.append(self.topic.publish_sync(Trade(n)))
            n += 1

    def __enter__(self) -> Pouring:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    async def at_least(self, n: int) -> None:
        async with asyncio.timeout(10):
            while len(self.ids) < n:  # noqa: ASYNC110 - the thread has no loop to signal
                await asyncio.sleep(0.001)


async def test_resumes_while_events_pour_in_miss_nothing(topics: str) -> None:
    """Each resume joins a loop with no feed for the topic (the last subscriber left),
    or one whose feed moves on while it reads its backlog, while a thread publishes
    thousands of events a second: it gets exactly the events after its id."""
    topic = fresh_topic(maxlen=100_000)
    with Pouring(topic) as pouring:
        await pouring.at_least(300)
        for round_ in range(20):
            keep_feed = await subscribed(topic) if round_ % 3 == 0 else None
            start = len(pouring.ids) - 1 - (round_ * 7) % 200
            events = topic.subscribe(after=pouring.ids[start])
            got = [e.id for e in await take(events, 250)]
            await events.aclose()
            if keep_feed is not None:
                await keep_feed.aclose()  # type: ignore[attr-defined]
            await pouring.at_least(start + 251)  # its ids are listed once publish returned
            assert got == pouring.ids[start + 1 : start + 251], round_


async def test_a_burst_of_resumes_is_queued_not_refused(topics: str) -> None:
    """600 clients whose worker died resume here at once, Redis healthy: every one is
    served its backlog (joins wait for a command slot; none is a 503)."""
    topic = fresh_topic(maxlen=100_000)
    ids = [await topic.publish(Trade(n)) for n in range(400)]
    resumes = [topic.subscribe(after=ids[n % 300]) for n in range(600)]
    async with asyncio.timeout(60):
        firsts = await asyncio.gather(*(anext(r) for r in resumes), return_exceptions=True)
    assert [f for f in firsts if isinstance(f, BaseException)] == []
    assert [f.id for f in firsts] == [ids[n % 300 + 1] for n in range(600)]
    for resume in resumes:
        await resume.aclose()


async def test_one_name_is_one_topic(topics: str) -> None:
    """A topic made again (per room, per request) shares the first one's channel; one
    that disagrees on the model or maxlen is refused with what to do."""
    name = f"room-{uuid.uuid4().hex[:8]}"
    first = Topic(name, model=Trade, maxlen=50)
    assert Topic(name, model=Trade, maxlen=50).channel is first.channel
    with pytest.raises(SpecError, match=r"already exists with model=.*Trade.*maxlen=50"):
        Topic(name, model=dict[str, int], maxlen=50)
    with pytest.raises(SpecError, match="define it once"):
        Topic(name, model=Trade, maxlen=51)
    del first
    gc.collect()  # no Topic of that name is left: the name is free again
    assert Topic(name, model=dict[str, int]).model == dict[str, int]


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_the_first_commands_after_a_redis_restart_succeed(
    topics: str, redis_server: RedisServer
) -> None:
    """The pooled connections died with the old Redis: each is replaced before use, so
    no publish fails with "not added" and no join is a 503 (XADD is still never retried)."""
    topic = fresh_topic()
    await asyncio.gather(*(topic.publish(Trade(n)) for n in range(8)))  # eight connections
    await asyncio.to_thread(redis_server.restart)
    ids = list(await asyncio.gather(*(topic.publish(Trade(n)) for n in range(8))))
    first, second = sorted(ids, key=_key)[:2]
    resumes = [topic.subscribe(after=first) for _ in range(8)]
    got = await asyncio.gather(*(take(each, 1) for each in resumes))
    assert [[e.id for e in one] for one in got] == [[second]] * 8


def _deep(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


_HOSTILE = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
    st.integers(min_value=10**4300, max_value=10**4400),
    st.integers(2000, 100_000).map(_deep),
    st.builds(Trade, n=st.text(max_size=5)),  # a Struct with a field of the wrong type
    st.builds(Trade, n=st.integers(), note=st.integers()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.floats(allow_nan=True, allow_infinity=True),
)


@given(item=_HOSTILE, as_field=st.booleans())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_every_refusal_at_publish_is_invalid_event(
    topics: str, item: Any, as_field: bool
) -> None:
    """Whatever a caller hands publish (lone surrogates, integers past 4,300 digits,
    deep nesting, Structs with fields of the wrong type): an id, or InvalidEvent and
    nothing added."""
    topic = fresh_topic()
    loose: Topic[Any] = Topic(f"{topic.name}-any", model=Any)
    for each in (topic, loose):
        value = Trade(0, item) if as_field and each is topic else item
        before = await each.publish({"n": 0})  # type: ignore[arg-type]
        try:
            await each.publish(value)
        except InvalidEvent:
            with pytest.raises(InvalidEvent):
                each.publish_sync(value)
            after = await each.publish({"n": 1})  # type: ignore[arg-type]
            got = await take(each.subscribe(after=before), 1)
            assert [e.id for e in got] == [after]  # nothing was added in between


class CuttingProxy:
    """A TCP proxy in front of Redis that forwards an ``XADD`` to it, so Redis runs it,
    then closes the client's connection instead of passing the answer on: what a Redis
    restart or ``CLIENT KILL`` does to a command already sent."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def answers() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)

        relaying = asyncio.ensure_future(answers())
        while data := await reader.read(65536):
            up_writer.write(data)
            if b"XADD" in data.upper():
                relaying.cancel()  # Redis runs it; its answer never comes back
                await up_writer.drain()
                break
        writer.close()
        up_writer.close()
        relaying.cancel()


@pytest.mark.parametrize("topics", ["redis"], indirect=True)
async def test_a_publish_whose_connection_dies_after_sending_may_have_been_added(
    redis_server: RedisServer,
) -> None:
    """A lost answer is "may or may not have been added", never "not added": here Redis
    did add it."""
    import redis as redis_py
    from django.conf import settings
    from django.test import override_settings

    topic = fresh_topic()
    async with CuttingProxy(redis_server.port) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        with override_settings(JSONLFN={**settings.JSONLFN, "TOPICS": url}):
            with pytest.raises(PublishFailed, match="may or may not have been added"):
                await topic.publish(Trade(1))
            await close_loop_connections()
    store = redis_py.Redis.from_url(redis_server.url)
    assert store.xlen(topic.channel.key) == 1  # it was
    store.close()
