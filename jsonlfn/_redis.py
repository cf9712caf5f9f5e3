"""The Redis Streams topic backend: ``JSONLFN = {"TOPICS": "redis://host:6379/0"}``.

Each topic is one stream (``jsonlfn:{topics}:<name>``; the braces keep every topic in
one Redis Cluster hash slot, which the single ``XREAD`` below needs). ``publish`` is
one ``XADD ... MAXLEN ~ maxlen``, atomic: an event is added whole or not at all.

Per event loop, one reader task and one connection serve every subscriber of every
topic: ``XREAD BLOCK`` from where each topic's feed has got to. When a topic gets its
first subscriber, ``CLIENT UNBLOCK`` makes the reader issue its read again with that
stream in it. A subscriber resuming after an id reads the events it missed with
``XRANGE`` (pages of ``_PAGE``), up to where the feed was when it joined; the feed
delivers the rest. When Redis goes away the reader retries with backoff and carries
on from each feed's last id, so streams neither lose nor repeat an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio

from jsonlfn._errors import HistoryGone, PublishFailed, Unavailable
from jsonlfn._event import Event, EventKey, format_id, parse_id, shared_event
from jsonlfn._fanout import Feed, Subscriber
from jsonlfn._settings import conf

if TYPE_CHECKING:
    from jsonlfn._topic import Topic

logger = logging.getLogger("jsonlfn")

_PAGE = 512  # events per XRANGE/XREAD reply
_BLOCK_MS = 2000  # the longest a new topic waits for the reader if an unblock is lost
_ERRORS = (redis.RedisError, OSError)


class RedisBackend:
    """Topics in the Redis at ``url``; one hub (reader, connections) per event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: redis.Redis | None = None

    async def publish(self, topic: Topic[Any], data: Any, payload: bytes) -> str:
        try:
            added = await self._hub().commands.xadd(topic.key, {"d": payload}, maxlen=topic.maxlen)
        except _ERRORS as exc:
            raise _publish_failed(topic, exc) from exc
        return _text(added)

    def publish_sync(self, topic: Topic[Any], data: Any, payload: bytes) -> str:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        try:
            added = self._sync.xadd(topic.key, {"d": payload}, maxlen=topic.maxlen)
        except _ERRORS as exc:
            raise _publish_failed(topic, exc) from exc
        return _text(added)

    async def join(
        self, topic: Topic[Any], after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        try:
            return await self._hub().join(topic, after, limit)
        except _ERRORS as exc:
            logger.warning("jsonlfn: topic %r: Redis is unreachable: %s", topic.name, exc)
            msg = "The event store is unreachable; retry later"
            raise Unavailable(conf().RETRY_AFTER, msg) from exc

    def leave(self, topic: Topic[Any], subscriber: Subscriber) -> None:
        hub = self._hubs.get(asyncio.get_running_loop())
        if hub is not None:  # else closed, and its feeds with it
            hub.leave(topic, subscriber)

    async def aclose(self) -> None:
        """Stop this event loop's reader and close its connections."""
        hub = self._hubs.pop(asyncio.get_running_loop(), None)
        if hub is not None:
            await hub.aclose()

    def _hub(self) -> _Hub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = _Hub(self.url)
        return hub


class _Hub:
    """One event loop's connections, reader task and feeds.

    The task lives as long as the loop (it idles while no topic has subscribers), so
    that the loop's shutdown, which cancels it, also closes the connections.
    """

    def __init__(self, url: str) -> None:
        self.commands = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5
        )
        self.reader = redis.asyncio.Redis.from_url(  # a silent host ends a read, too
            url,
            socket_connect_timeout=2,
            socket_timeout=_BLOCK_MS / 1000 + 5,
            single_connection_client=True,
        )
        self.feeds: dict[bytes, Feed] = {}
        self.topics: dict[bytes, Topic[Any]] = {}
        self.reader_id: int | None = None
        self.wanted = asyncio.Event()  # set while some feed has subscribers
        self.task = asyncio.get_running_loop().create_task(self._run(), name="jsonlfn-topics")

    async def join(
        self, topic: Topic[Any], after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        first: list[Any] = []
        if after is not None:  # checked before joining: a 410 or 503 leaves nothing behind
            first = await self._first_page(topic, after)
        feed = self.feeds.get(topic.key) or await self._feed(topic)
        start = feed.position if after is None else max(after, feed.position)
        subscriber = Subscriber(start, limit)
        feed.subscribers.add(subscriber)
        if after is None or after >= feed.position:
            return subscriber, _nothing()
        return subscriber, self._backlog(topic, after, feed.position, first)

    def leave(self, topic: Topic[Any], subscriber: Subscriber) -> None:
        feed = self.feeds.get(topic.key)
        if feed is not None:
            feed.subscribers.discard(subscriber)
            if not feed.subscribers:
                del self.feeds[topic.key]

    async def aclose(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def _feed(self, topic: Topic[Any]) -> Feed:
        try:
            info = await self.commands.xinfo_stream(topic.key)
            position = parse_id(_text(info["last-generated-id"]))
        except redis.ResponseError:  # no such key: nothing was published yet
            position = (0, 0)
        feed = self.feeds.get(topic.key)  # another subscriber may have made it meanwhile
        if feed is None:
            feed = self.feeds[topic.key] = Feed(position)
            self.topics[topic.key] = topic
            await self._wake_reader()
        return feed

    async def _first_page(self, topic: Topic[Any], after: EventKey) -> list[Any]:
        """The first events after ``after``, read from ``after`` itself: unless the
        stream still holds that event, what followed it may be gone (trimmed, deleted,
        or lost with Redis's data), and ``HistoryGone`` says so. An event trimmed just
        after its client saw it counts as gone too: Redis does not say what it trimmed."""
        entries = list(
            await self.commands.xrange(topic.key, format_id(after), "+", count=_PAGE + 1) or ()
        )
        if not entries or parse_id(_text(entries[0][0] or b"")) != after:
            raise HistoryGone(format_id(after), topic.name)
        return entries[1:]

    async def _backlog(
        self, topic: Topic[Any], after: EventKey, end: EventKey, entries: list[Any]
    ) -> AsyncIterator[list[Event[Any]]]:
        while True:
            found = (_event(topic, *entry) for entry in entries)
            page = [(key, event) for key, event in found if key <= end]
            if page:
                after = page[-1][0]
                yield [event for _, event in page if event is not None]
            if len(entries) < _PAGE or after >= end:
                return
            page_of = self.commands.xrange(
                topic.key, "(" + format_id(after), format_id(end), count=_PAGE
            )
            entries = list(await page_of or ())

    async def _wake_reader(self) -> None:
        if self.wanted.is_set() and self.reader_id is not None:
            with contextlib.suppress(*_ERRORS):  # reconnecting: it reads every feed then
                await self.commands.client_unblock(self.reader_id)
        self.wanted.set()

    async def _run(self) -> None:
        try:
            await self._read()
        finally:
            await self.reader.aclose()
            await self.commands.aclose()

    async def _read(self) -> None:
        delay = 0.05
        while True:
            if not self.feeds:
                self.wanted.clear()
                await self.wanted.wait()
                continue
            try:
                if self.reader_id is None:
                    self.reader_id = await self.reader.client_id()
                streams = {key: format_id(feed.position) for key, feed in self.feeds.items()}
                reply: Any = await self.reader.xread(streams, count=_PAGE, block=_BLOCK_MS)  # type: ignore[arg-type]
            except _ERRORS as exc:
                self.reader_id = None
                logger.warning("jsonlfn: topics: Redis read failed (%s); retrying", exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.05
            for key, entries in reply or ():
                self._deliver(key, entries)

    def _deliver(self, stream: bytes, entries: list[Any]) -> None:
        feed, topic = self.feeds.get(stream), self.topics.get(stream)
        if feed is None or topic is None:
            return  # its last subscriber left while the read was under way
        for entry in entries:
            key, event = _event(topic, *entry)
            if event is not None:
                feed.deliver(key, event)
            elif key > feed.position:
                feed.position = key  # read past it, or the reader would read it forever


def _event(
    topic: Topic[Any], entry_id: bytes, fields: dict[bytes, bytes]
) -> tuple[EventKey, Event[Any] | None]:
    key = parse_id(_text(entry_id))
    payload = fields.get(b"d", b"")
    try:
        data = topic.decode(payload)
    except Exception:  # written by something other than Topic.publish
        logger.error("jsonlfn: topic %r: entry %s does not decode; skipped", topic.name, key)
        return key, None
    return key, shared_event(key, data, payload, topic.model)


async def _nothing() -> AsyncIterator[list[Event[Any]]]:
    return
    yield  # an async generator with no pages


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _publish_failed(topic: Topic[Any], exc: BaseException) -> PublishFailed:
    if isinstance(exc, redis.TimeoutError):  # XADD is atomic: whole or not at all
        outcome = "Redis did not answer in time; the event may or may not have been added"
    else:
        outcome = "Redis is unreachable; the event was not added"
    return PublishFailed(f"Topic {topic.name!r}: {outcome} ({exc})")
