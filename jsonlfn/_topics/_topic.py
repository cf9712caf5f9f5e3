"""Topics: publish events anywhere, stream them to every subscriber, resume by id.

The backend is the setting ``TOPICS``: ``"memory"`` (the default, this process only) or
a Redis URL (every process and host that shares the Redis).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

import msgspec

from jsonlfn._errors import InvalidEvent, SpecError
from jsonlfn._handoff import Handoff
from jsonlfn._settings import conf
from jsonlfn._topics._backends import Backend, backend
from jsonlfn._topics._channel import Channel
from jsonlfn._topics._event import Event, EventKey, parse_id
from jsonlfn._topics._fanout import Subscriber

T = TypeVar("T")

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


class Topic(Generic[T]):
    """A named stream of events that any process may publish to and stream from.

    >>> orders = Topic("orders", model=Order)
    >>> await orders.publish(Order(...))        # or orders.publish_sync(...) in sync code
    >>> yield orders.subscription(after=last_event_id)   # in a stream function
    >>> async for event in orders.subscribe(after=last_event_id):
    ...     yield event                         # Event(id="1733097600000-0", data=Order)

    Items are validated against ``model`` when published (``InvalidEvent``). The topic
    keeps its newest ``maxlen`` events (about that many in Redis) for resuming; with
    ``expire``, its history is dropped once no event was published for that many
    seconds and nobody subscribes (in process, topics without ``expire`` are forgotten
    after 10 minutes so). A topic made again with the same name (one per room, per
    request) is the same topic; with another model, ``maxlen`` or ``expire`` it is a
    ``SpecError``.
    """

    def __init__(
        self,
        name: str,
        *,
        model: type[T] | Any = Any,
        maxlen: int = 10_000,
        expire: float | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SpecError(
                f"Topic name {name!r} must be 1-200 letters, digits or '_.:-', "
                "for example: Topic('orders', model=Order)"
            )
        if not isinstance(maxlen, int) or isinstance(maxlen, bool) or maxlen < 1:
            raise SpecError(f"Topic({name!r}, maxlen={maxlen!r}): maxlen must be an int >= 1")
        if expire is not None and not (
            isinstance(expire, int | float) and not isinstance(expire, bool) and expire > 0
        ):
            raise SpecError(
                f"Topic({name!r}, expire={expire!r}): expire is seconds above zero or None, "
                "for example Topic('room:42', model=Message, expire=3600)"
            )
        self.name = name
        self.model = model
        self.maxlen = maxlen
        self.expire = expire
        self.channel = Channel.of(name, model, maxlen, expire)
        self._encode = msgspec.json.Encoder().encode

    def __repr__(self) -> str:
        return f"Topic({self.name!r})"

    async def publish(self, item: T) -> str:
        """Add ``item`` as the topic's newest event; returns its id.

        ``InvalidEvent`` if it does not match the model (nothing was added);
        ``PublishFailed`` if the store (Redis) is unreachable, whose message says
        whether the event was not added or may have been (no answer in time).
        """
        data, payload = self._checked(item)
        return await backend().publish(self.channel, data, payload)

    def publish_sync(self, item: T) -> str:
        """``publish`` for sync code: views, signal receivers, Celery tasks, threads."""
        data, payload = self._checked(item)
        return backend().publish_sync(self.channel, data, payload)

    async def subscribe(self, after: str | None = None) -> AsyncIterator[Event[T]]:
        """The events after the one with id ``after`` (the client's ``Last-Event-ID``),
        then every new one, each once and in order.

        ``after=None`` starts with the next event published; ``"0-0"`` with the topic's
        first event, if it still holds every event it had. Raises (before the first
        event) ``BadRequest`` for an id that is not one, ``HistoryGone`` (410) when the
        topic no longer holds what followed it, ``Unavailable`` (503) when the store is
        unreachable. Ends when this subscriber falls ``TOPIC_BUFFER`` events behind, so
        its client resumes instead of the server buffering without bound.
        """
        subscription = self._subscription(after)
        subscriber, backlog = await subscription.open()
        try:
            async for page in backlog:
                for event in page:
                    yield event
            while (live := await subscriber.next()) is not None:
                yield live
        finally:
            subscription.close()

    def subscription(self, after: str | None = None) -> Handoff:
        """What ``subscribe(after)`` streams, for a stream function to yield: jsonlfn
        streams the events itself while the function stays suspended at that ``yield``,
        the fastest way to serve a topic (one wake-up per line, not two).

        The errors ``subscribe`` raises are raised at the ``yield`` (``BadRequest``
        here already); when the subscriber falls behind, the function resumes after it.
        """
        return Handoff(self._subscription(after))

    def _subscription(self, after: str | None) -> _Subscription:
        start = None if after is None else parse_id(after)
        return _Subscription(backend(), self.channel, start, conf().TOPIC_BUFFER)

    def subscribers(self) -> int:
        """How many subscriptions to this topic have joined in this process (every event
        loop's); callable from sync code too."""
        return backend().subscribers(self.channel)

    def _checked(self, item: Any) -> tuple[Any, bytes]:
        """The item as subscribers get it (a copy, not the caller's) and its JSON.

        Every way an item can fail is ``InvalidEvent``: not the model (a Struct
        instance with wrong field types is caught when its JSON is read back), no JSON
        for it (a lone surrogate, an integer past Python's 4,300 digits), nested too
        deeply.
        """
        try:
            payload = self._encode(msgspec.convert(item, self.model, strict=True))
            return self.channel.decode(payload), payload
        except (msgspec.MsgspecError, TypeError, ValueError, OverflowError, RecursionError) as exc:
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise InvalidEvent(f"Topic {self.name!r} refused the item: {reason}") from exc


class _Subscription:
    """A ``Handoff``'s opener: joins the topic when opened, leaves it when closed."""

    __slots__ = ("_after", "_channel", "_limit", "_store", "_subscriber")

    def __init__(self, store: Backend, channel: Channel, after: EventKey | None, limit: int):
        self._store = store
        self._channel = channel
        self._after = after
        self._limit = limit
        self._subscriber: Subscriber | None = None

    def __repr__(self) -> str:
        return f"subscription of {self._channel.name!r}"

    async def open(self) -> tuple[Subscriber, AsyncIterator[list[Event[Any]]]]:
        if self._subscriber is not None:
            raise RuntimeError(f"{self!r} is open already: make one subscription per yield")
        subscriber, backlog = await self._store.join(self._channel, self._after, self._limit)
        self._subscriber = subscriber
        return subscriber, backlog

    def close(self) -> None:
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            self._store.leave(self._channel, subscriber)
