"""The Redis Streams topic backend: ``JSONLFN = {"TOPICS": "redis://host:6379/0"}``.

Each topic is one stream (``jsonlfn:{topics}:<name>``; the braces keep every topic in
one Redis Cluster hash slot, which the single ``XREAD`` of ``_redis_hub`` needs).
``publish`` is one ``XADD ... MAXLEN ~ maxlen``, atomic: an event is added whole or not
at all, and never retried (a retried ``XADD`` could add it twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from jsonlfn._topics._channel import Channel
from jsonlfn._topics._event import Event, EventKey
from jsonlfn._topics._fanout import Subscriber
from jsonlfn._topics._redis_entries import expire_ms, text
from jsonlfn._topics._redis_faults import CREDENTIALS, ERRORS, publish_failed, unavailable
from jsonlfn._topics._redis_hub import Hub


class RedisBackend:
    """Topics in the Redis at ``url``; one hub (reader, connections) per event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._hubs: dict[asyncio.AbstractEventLoop, Hub] = {}  # each removes itself
        self._sync: redis.Redis | None = None

    async def publish(self, topic: Channel, data: Any, payload: bytes) -> str:
        try:
            return await self._hub().add(topic, payload)
        except ERRORS as exc:
            raise publish_failed(exc, self.url, topic.name) from exc

    def publish_sync(self, topic: Channel, data: Any, payload: bytes) -> str:
        if self._sync is None:
            self._sync = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
            )
        try:
            if topic.expire is None:
                added = self._sync.xadd(topic.key, {"d": payload}, maxlen=topic.maxlen)
            else:  # XADD and PEXPIRE in one MULTI: both or neither
                pipe = self._sync.pipeline(transaction=True)
                pipe.xadd(topic.key, {"d": payload}, maxlen=topic.maxlen)
                pipe.pexpire(topic.key, expire_ms(topic))
                added, _ = pipe.execute()
        except ERRORS as exc:
            raise publish_failed(exc, self.url, topic.name) from exc
        return text(added)

    async def join(
        self, topic: Channel, after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        try:
            return await self._hub().join(topic, after, limit)
        except ERRORS as exc:
            raise unavailable(exc, self.url, f"a stream of topic {topic.name!r}") from exc

    def leave(self, topic: Channel, subscriber: Subscriber) -> None:
        hub = self._hubs.get(asyncio.get_running_loop())
        if hub is not None:  # else closed, and its feeds with it
            hub.leave(topic, subscriber)

    def subscribers(self, topic: Channel) -> int:
        """How many subscribers ``topic`` has in this process, in every event loop."""
        return sum(hub.subscribers(topic) for hub in list(self._hubs.values()))

    async def aclose(self) -> None:
        """Stop this event loop's reader and close its connections."""
        hub = self._hubs.get(asyncio.get_running_loop())
        if hub is not None:
            await hub.aclose()

    def _hub(self) -> Hub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = Hub(self.url, lambda: self._hubs.pop(loop, None))
        return hub


def credentials_problem(url: str) -> str | None:
    """A sentence if the Redis at ``url`` answers and refuses jsonlfn's credentials or
    permissions (``manage.py check``); None when it accepts them, or cannot be reached
    now (then nothing can be told)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
        client.xlen(b"jsonlfn:{topics}:check")  # may read our keys (ACL)
    except (*CREDENTIALS, redis.ResponseError) as exc:
        where = url.partition("://")[2].rpartition("@")[2]
        return (
            f"JSONLFN['TOPICS']: the Redis at {where} refused jsonlfn ({exc}): give the "
            "URL a user and password it accepts, with permission for XADD, XREAD, "
            "XRANGE and XINFO on jsonlfn:{topics}:* keys, e.g. "
            "'redis://user:password@host:6379/0'."
        )
    except ERRORS:
        return None
    finally:
        client.close()
    return None
