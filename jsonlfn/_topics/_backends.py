"""Which backend serves topics: the one the ``TOPICS`` setting names."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from jsonlfn._errors import PublishFailed, Unavailable
from jsonlfn._settings import conf
from jsonlfn._topics._channel import Channel
from jsonlfn._topics._event import Event, EventKey
from jsonlfn._topics._fanout import Subscriber
from jsonlfn._topics._memory import MEMORY


class Backend(Protocol):
    async def publish(self, topic: Channel, data: Any, payload: bytes) -> str: ...
    def publish_sync(self, topic: Channel, data: Any, payload: bytes) -> str: ...
    async def join(
        self, topic: Channel, after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]: ...
    def leave(self, topic: Channel, subscriber: Subscriber) -> None: ...
    def subscribers(self, topic: Channel) -> int: ...
    async def aclose(self) -> None: ...


logger = logging.getLogger("jsonlfn")
_BACKENDS: dict[str, Backend] = {"memory": MEMORY}


def backend() -> Backend:
    """The backend ``TOPICS`` names: one per URL for the life of the process."""
    url = conf().TOPICS
    found = _BACKENDS.get(url)
    if found is None:
        try:
            from jsonlfn._topics._redis import RedisBackend  # noqa: PLC0415 - the redis extra
        except ImportError as exc:
            found = _BACKENDS[url] = NotInstalled(url, exc)
        else:
            found = _BACKENDS[url] = RedisBackend(url)
    return found


class NotInstalled:
    """``TOPICS`` names a Redis, and redis-py is not installed: streams are 503s and
    publishes fail, each saying so (``manage.py check`` says it too)."""

    def __init__(self, url: str, exc: ImportError) -> None:
        self.why = f"JSONLFN['TOPICS'] names a Redis, but redis-py is not installed ({exc})"
        logger.error("jsonlfn: %s: pip install jsonlfn[redis]", self.why)

    async def publish(self, topic: Channel, data: Any, payload: bytes) -> str:
        return self.publish_sync(topic, data, payload)

    def publish_sync(self, topic: Channel, data: Any, payload: bytes) -> str:
        raise PublishFailed(f"Topic {topic.name!r}: the event was not added: {self.why}")

    async def join(
        self, topic: Channel, after: EventKey | None, limit: int
    ) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        logger.warning("jsonlfn: refused a stream of topic %r: %s", topic.name, self.why)
        msg = "This server's event store is not set up; retry later"
        raise Unavailable(conf().RETRY_AFTER, msg, type="store_misconfigured")

    def leave(self, topic: Channel, subscriber: Subscriber) -> None:
        """Nothing joined."""

    def subscribers(self, topic: Channel) -> int:
        return 0

    async def aclose(self) -> None:
        """Nothing to close."""


async def close_loop_connections() -> None:
    """Close what every backend holds for the running event loop (its Redis reader and
    connections). For tests, which run each test in a loop of its own."""
    for each in list(_BACKENDS.values()):
        await each.aclose()
