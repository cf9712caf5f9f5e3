"""Which backend serves topics: the one the ``TOPICS`` setting names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

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


_BACKENDS: dict[str, Backend] = {"memory": MEMORY}


def backend() -> Backend:
    """The backend ``TOPICS`` names: one per URL for the life of the process."""
    url = conf().TOPICS
    found = _BACKENDS.get(url)
    if found is None:
        from jsonlfn._topics._redis import RedisBackend  # noqa: PLC0415 - the redis extra

        found = _BACKENDS[url] = RedisBackend(url)
    return found


async def close_loop_connections() -> None:
    """Close what every backend holds for the running event loop (its Redis reader and
    connections). For tests, which run each test in a loop of its own."""
    for each in list(_BACKENDS.values()):
        await each.aclose()
