"""One event loop's share of the Redis backend: its connections, reader and feeds.

One reader task and one connection serve every subscriber of every topic in the loop:
``XREAD BLOCK`` from where each topic's feed has got to. When a topic gets its first
subscriber, ``CLIENT UNBLOCK`` makes the reader read again with that stream in it.

No event is skipped silently. ``XREAD`` and ``XRANGE`` return whatever follows an id,
even when trimming took some of it, so every read is checked against the id it read
after: a resume must start at an event the stream still holds (else 410), every page
of its backlog must still start at the last event read, and after each read the
reader checks that each feed's previous position is still there (trimming only takes
the oldest entries, so what follows it was there too). When one is not, the
subscribers concerned end at once, and their clients resume (and learn of the gap).
When Redis goes away the reader retries with backoff from each feed's position.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio

from jsonlfn._errors import HistoryGone
from jsonlfn._settings import conf
from jsonlfn._topics._channel import Channel
from jsonlfn._topics._event import START, Event, EventKey, format_id, parse_id
from jsonlfn._topics._fanout import Feed, Subscriber, pages
from jsonlfn._topics._redis_commands import CLIENT_OPTIONS, Commands
from jsonlfn._topics._redis_entries import Decoded, expire_ms, text
from jsonlfn._topics._redis_faults import ERRORS, translated

logger = logging.getLogger("jsonlfn")
T = TypeVar("T")

PAGE = 512  # events per XRANGE/XREAD reply
_BLOCK_MS = 2000  # the longest a new topic waits for the reader if an unblock is lost


class Hub:
    """The task lives as long as the loop (idle while no topic has subscribers), so the
    loop's shutdown, which cancels it, closes the connections too."""

    def __init__(self, url: str, forget: Callable[[], object]) -> None:
        self.commands = Commands(url)
        self.redis = self.commands.client
        self.reader = redis.asyncio.Redis.from_url(  # a silent host ends a read, too
            url,
            socket_connect_timeout=2,
            socket_timeout=_BLOCK_MS / 1000 + 5,
            single_connection_client=True,
            **CLIENT_OPTIONS,
        )
        self.feeds: dict[bytes, Feed] = {}
        self.decoded = Decoded(4 * PAGE)
        self.topics: dict[bytes, Channel] = {}
        self.kept: dict[bytes, float] = {}  # when each expiring topic's expiry was renewed
        self.reader_id: int | None = None
        self.wanted = asyncio.Event()  # set while some feed has subscribers
        self.pending: set[asyncio.Future[Any]] = set()
        self.forget = forget
        self.task = asyncio.get_running_loop().create_task(self._run(), name="jsonlfn-topics")

    async def join(
        self, topic: Channel, after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        first: list[Any] = []
        if after is None:  # from exactly what was published before this join
            start = await self._newest(topic)
        else:
            first, start = await self._first_page(topic, after), after
        begins = start  # where a feed made by this join starts
        if after is not None and topic.key not in self.feeds:
            begins = await self._newest(topic)
        feed = self.feeds.get(topic.key)  # no await from here on: nothing can leave
        if feed is None:
            feed = self.feeds[topic.key] = Feed(begins)
            self.topics[topic.key] = topic
            self._wake_reader()
        subscriber = Subscriber(max(start, feed.position), limit)
        feed.subscribers.add(subscriber)
        if after is None or after >= feed.position:
            return subscriber, pages()
        return subscriber, self._backlog(topic, subscriber, after, feed.position, first)

    def leave(self, topic: Channel, subscriber: Subscriber) -> None:
        feed = self.feeds.get(topic.key)
        if feed is not None:
            feed.subscribers.discard(subscriber)
            if not feed.subscribers:
                self._drop(topic.key)

    def subscribers(self, topic: Channel) -> int:
        feed = self.feeds.get(topic.key)
        return 0 if feed is None else len(feed.subscribers)

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.wait({self.task})

    async def add(self, topic: Channel, payload: bytes) -> str:
        if topic.expire is None:
            xadd = functools.partial(self.redis.xadd, maxlen=topic.maxlen)
            return text(await self.commands.call(xadd, topic.key, {"d": payload}))
        return text(await self.commands.call(self._add_expiring, topic, payload))

    async def _add_expiring(self, topic: Channel, payload: bytes) -> Any:
        """``XADD`` and ``PEXPIRE`` in one ``MULTI``: both or neither."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(topic.key, {"d": payload}, maxlen=topic.maxlen)
        pipe.pexpire(topic.key, expire_ms(topic))
        added, _ = await pipe.execute()
        return added

    async def _ask(self, command: Callable[..., Awaitable[T]], *args: Any) -> T:
        """A join's command: a 503 once Redis has had ``TOPIC_JOIN_TIMEOUT`` to answer."""
        return await self.commands.call(command, *args, within=conf().TOPIC_JOIN_TIMEOUT)

    async def _newest(self, topic: Channel) -> EventKey:
        try:
            info: Any = await self._ask(self.redis.xinfo_stream, topic.key)
        except redis.ResponseError:  # no such key: nothing was published yet
            return (0, 0)
        return parse_id(text(info["last-generated-id"]))

    async def _first_page(self, topic: Channel, after: EventKey) -> list[Any]:
        """The first events after ``after``; ``HistoryGone`` unless the stream still
        holds ``after`` itself, as what followed it may be gone (trimmed, deleted, lost
        with Redis's data). An event trimmed right after its client saw it counts as
        gone too: Redis does not say which entry it trimmed last. ``START`` (``0-0``)
        is the start of a stream that never lost an entry."""
        if after == START:
            page: list[Any] | None = await self._ask(self.redis.xrange, topic.key, b"-", b"+", PAGE)
            if not await self._lost_nothing(topic):  # after the read: losses only grow
                page = None
        else:
            page = await self._page_from(topic, after, b"+")
        if page is None:
            raise HistoryGone(format_id(after), topic.name)
        return list(page)

    async def _lost_nothing(self, topic: Channel) -> bool:
        """Whether the stream still has every entry ever added to it (Redis 7 counts
        them; trimming does not move ``max-deleted-entry-id``, only ``XDEL`` does)."""
        try:
            info: Any = await self._ask(self.redis.xinfo_stream, topic.key)
        except redis.ResponseError:  # no such key: nothing was ever published
            return True
        deleted = text(info.get("max-deleted-entry-id", b"?"))
        return info.get("entries-added") == info["length"] and deleted == format_id(START)

    async def _page_from(self, topic: Channel, after: EventKey, end: bytes) -> list[Any] | None:
        """Up to ``PAGE`` entries after ``after``, or None if the stream lost ``after``."""
        entries: Any = await self._ask(
            self.redis.xrange, topic.key, format_id(after), end, PAGE + 1
        )
        if not entries or parse_id(text(entries[0][0] or b"")) != after:
            return None
        return list(entries[1:])

    async def _backlog(
        self,
        topic: Channel,
        subscriber: Subscriber,
        after: EventKey,
        end: EventKey,
        entries: list[Any] | None,
    ) -> AsyncIterator[list[Event[Any]]]:
        """The events in ``(after, end]``, from the first page's ``entries`` on.

        The first page was read before ``end`` was known, so its being short says
        nothing of what followed it (events published since); only a page read up to
        ``end`` that is short has all of them.
        """
        bounded = False
        while entries is not None:
            short = len(entries) < PAGE
            events, after = self._up_to(topic, entries, after, end)
            entries = None  # the reply is not kept while the client reads its events
            if events:
                yield events
            if after >= end or (bounded and short):
                return
            try:
                entries = await self._page_from(topic, after, format_id(end).encode())
            except ERRORS:
                entries = None
            bounded = True
        subscriber.end_now()  # trimmed while it caught up, or Redis went away: resume

    def _up_to(
        self, topic: Channel, entries: list[Any], after: EventKey, end: EventKey
    ) -> tuple[list[Event[Any]], EventKey]:
        """The events of ``entries`` up to ``end``, and the key of the last entry read."""
        events = []
        for entry in entries:
            key, event = self.decoded.event(topic, *entry)
            if key > end:
                break
            after = key
            if event is not None:
                events.append(event)
        return events, after

    def _wake_reader(self) -> None:
        if self.wanted.is_set() and self.reader_id is not None:
            unblock = asyncio.ensure_future(self._unblock(self.reader_id))
            self.pending.add(unblock)
            unblock.add_done_callback(self.pending.discard)
        self.wanted.set()

    async def _unblock(self, reader_id: int) -> None:
        with contextlib.suppress(*ERRORS):  # reconnecting: it reads every feed then
            await translated(self.redis.client_unblock(reader_id))

    async def _run(self) -> None:
        try:
            await self._read()
        finally:
            self.forget()
            await self.reader.aclose()
            await self.commands.aclose()

    async def _read(self) -> None:
        delay = 0.05
        me = asyncio.current_task()
        while me is None or not me.cancelling():  # redis-py may have swallowed a cancel
            if not self.feeds:
                self.wanted.clear()
                await self.wanted.wait()
                continue
            try:
                await self._read_once()
                await self._keep_watched()
                delay = 0.05
            except Exception as exc:  # the reader must outlive any failure
                self.reader_id = None
                self._after_failure(exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 5.0)

    async def _read_once(self) -> None:
        if self.reader_id is None:
            self.reader_id = await self.reader.client_id()
        read_from = {key: feed.position for key, feed in self.feeds.items()}
        streams = {key: format_id(position) for key, position in read_from.items()}
        block = min([_BLOCK_MS, *(expire_ms(t) // 4 for t in self.topics.values() if t.expire)])
        reply: Any = await self.reader.xread(streams, count=PAGE, block=max(1, block))  # type: ignore[arg-type]
        if reply:
            await self._end_feeds_that_lost(reply, read_from)
        for key, entries in reply or ():
            self._deliver(key, entries)

    async def _keep_watched(self) -> None:
        """Renew the expiry of the expiring topics this loop has subscribers for (each
        second, or each quarter of its ``expire`` if less): a quiet topic people
        watch stays."""
        now = asyncio.get_running_loop().time()
        due = [
            topic
            for key, topic in self.topics.items()
            if topic.expire is not None
            and now - self.kept.get(key, 0.0) >= min(1.0, topic.expire / 4)
        ]
        if not due:
            return
        pipe = self.redis.pipeline(transaction=False)
        for topic in due:
            pipe.pexpire(topic.key, expire_ms(topic))
            self.kept[topic.key] = now
        await self.commands.call(pipe.execute)

    async def _end_feeds_that_lost(
        self, reply: list[Any], read_from: dict[bytes, EventKey]
    ) -> None:
        """End the feeds whose read position the stream no longer holds: the read
        may have skipped what trimming took after it."""
        checked = [key for key, _ in reply if read_from.get(key, (0, 0)) != (0, 0)]
        if not checked:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key in checked:
            position = format_id(read_from[key])
            pipe.xrange(key, position, position)
        for key, held in zip(checked, await pipe.execute(), strict=True):
            feed = self.feeds.get(key)
            if not held and feed is not None:
                logger.warning("jsonlfn: topic %r trimmed past its readers; they resume", key)
                self._end(key)

    def _end(self, key: bytes) -> None:
        """End every subscriber of the feed of ``key`` at once, and drop the feed."""
        self.feeds[key].end_all()
        self._drop(key)

    def _drop(self, key: bytes) -> None:
        del self.feeds[key]
        del self.topics[key]
        self.kept.pop(key, None)

    def _after_failure(self, exc: Exception) -> None:
        if isinstance(exc, redis.ResponseError):  # e.g. WRONGTYPE: not ours to retry on
            logger.error("jsonlfn: topics: Redis refused the read (%s); ending streams", exc)
            for key in list(self.feeds):
                self._end(key)
        else:
            logger.warning("jsonlfn: topics: Redis read failed (%r); retrying", exc)

    def _deliver(self, stream: bytes, entries: list[Any]) -> None:
        feed, topic = self.feeds.get(stream), self.topics.get(stream)
        if feed is None or topic is None:
            return  # its last subscriber left while the read was under way
        for entry in entries:
            key, event = self.decoded.event(topic, *entry)
            if event is not None:
                feed.deliver(key, event)
            elif key > feed.position:
                feed.position = key  # read past it, or the reader would read it forever
