"""A stream function handing its next items over to a source the stream loop reads.

A stream function may yield a ``Handoff`` (``Topic.subscription()`` makes one) instead
of iterating a subscription itself. The function then stays suspended at that ``yield``
while the source runs: the source notifies the stream loop of each event directly, so
a delivered line costs one wake-up (the loop's) instead of two (the function's Task,
then the loop). When the source ends (its subscriber fell behind, its store failed),
the function resumes after the ``yield``; when the source cannot be opened, its
exception is raised at the ``yield``, as ``athrow`` raises it.

The stream loop (``_stream``) and the topics (``_topics``) import neither way: this
module states what each asks of the other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Protocol, final


class Consumer(Protocol):
    """What reads a source: told when the source has something new or has ended."""

    def notified(self) -> None: ...


class Source(Protocol):
    """Items arriving while the function is suspended: ``buffer`` holds the unread
    ones, ``behind`` ends the source, ``consumer`` is notified of either."""

    @property
    def buffer(self) -> deque[Any]: ...

    @property
    def behind(self) -> bool: ...

    consumer: Consumer | None


class Opener(Protocol):
    """Opens a source once (raising what keeps it from opening) and closes it."""

    async def open(self) -> tuple[Source, AsyncIterator[list[Any]]]:
        """The source, and the pages of items that come before its live ones."""
        ...

    def close(self) -> None: ...


@final
class Handoff:
    """What a stream function yields to have jsonlfn stream a source's items for it.

    >>> async def events(request, last_event_id: str | None) -> AsyncIterator[Handoff]:
    ...     yield orders.subscription(after=last_event_id)

    The function is suspended at that ``yield`` until the source ends, and then runs on
    (it may yield more items, or another subscription). Make one with
    ``Topic.subscription``.
    """

    __slots__ = ("opener",)

    def __init__(self, opener: Opener) -> None:
        self.opener = opener

    def __repr__(self) -> str:
        return f"Handoff({self.opener!r})"
