"""The Redis Streams topic backend: ``JSONLFN = {"TOPICS": "redis://host:6379/0"}``.

Each topic is one stream (``jsonlfn:{topics}:<name>``; the braces keep every topic in
one Redis Cluster hash slot, which the single ``XREAD`` of ``_redis_hub`` needs).
``publish`` is one ``XADD ... MAXLEN ~ maxlen``, atomic: an event is added whole or not
at all, and never retried (a retried ``XADD`` could add it twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from jsonlfn._errors import PublishFailed, Unavailable
from jsonlfn._settings import conf
from jsonlfn._topics._event import Event, EventKey
from jsonlfn._topics._fanout import Subscriber
from jsonlfn._topics._redis_hub import ERRORS, Hub, text

if TYPE_CHECKING:
    from jsonlfn._topics._topic import Topic

_UNREACHABLE = "The event store is unreachable; retry later"


class RedisBackend:
    """Topics in the Redis at ``url``; one hub (reader, connections) per event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._hubs: dict[asyncio.AbstractEventLoop, Hub] = {}  # each removes itself
        self._sync: redis.Redis | None = None

    async def publish(self, topic: Topic[Any], data: Any, payload: bytes) -> str:
        try:
            return await self._hub().add(topic, payload)
        except ERRORS as exc:
            raise _publish_failed(topic, exc) from exc

    def publish_sync(self, topic: Topic[Any], data: Any, payload: bytes) -> str:
        if self._sync is None:
            self._sync = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
            )
        try:
            added = self._sync.xadd(topic.key, {"d": payload}, maxlen=topic.maxlen)
        except ERRORS as exc:
            raise _publish_failed(topic, exc) from exc
        return text(added)

    async def join(
        self, topic: Topic[Any], after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        try:
            async with asyncio.timeout(_join_timeout()):
                return await self._hub().join(topic, after, limit)
        except (*ERRORS, TimeoutError) as exc:
            raise Unavailable(conf().RETRY_AFTER, _UNREACHABLE) from exc

    def leave(self, topic: Topic[Any], subscriber: Subscriber) -> None:
        hub = self._hubs.get(asyncio.get_running_loop())
        if hub is not None:  # else closed, and its feeds with it
            hub.leave(topic, subscriber)

    def subscribers(self, topic: Topic[Any]) -> int:
        """How many subscribers ``topic`` has in the running event loop."""
        hub = self._hubs.get(asyncio.get_running_loop())
        return 0 if hub is None else hub.subscribers(topic)

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


def _join_timeout() -> float:
    """Below the priming patience, so that a stalled Redis is a 503, not a 200 whose
    stream then fails."""
    return max(0.05, min(0.5, conf().PRIME_TIMEOUT / 2))


def _publish_failed(topic: Topic[Any], exc: BaseException) -> PublishFailed:
    if isinstance(exc, redis.TimeoutError):  # XADD is atomic: whole or not at all
        outcome = "Redis did not answer in time; the event may or may not have been added"
    else:
        outcome = "Redis is unreachable; the event was not added"
    return PublishFailed(f"Topic {topic.name!r}: {outcome} ({exc})")
