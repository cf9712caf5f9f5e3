"""What the stream loop asks of items that carry a line already built for them.

A topic's event is written by every subscriber's stream; its line is built once, where
the event enters the process, and each stream appends that same ``bytes``. The loop
states here what it needs of such a model and its items; ``jsonlfn.Event`` implements
it. So the loop never imports topics (an import-linter contract keeps it so).
"""

from __future__ import annotations

from typing import Any, Protocol, cast, get_args, get_origin, runtime_checkable


@runtime_checkable
class SharesLines(Protocol):
    """A model class (generic over its item's ``data``: ``Event[Order]``) whose items
    may carry their line; its items have an ``id`` (a string) and a ``data``."""

    id: str
    data: Any

    @staticmethod
    def _shared_line(item: Any, data_model: Any) -> bytes | None:
        """The line built for ``item`` if it carries one for ``data_model``, else None."""

    @staticmethod
    def _shared_payload(item: Any, data_model: Any) -> bytes | None:
        """The JSON of ``item.data`` inside that line (an SSE event's data), else None."""


def sharing(model: Any) -> tuple[type[SharesLines], Any] | None:
    """``model``'s class and its data model if its items may share lines, else None."""
    origin = get_origin(model) or model
    if not isinstance(origin, type) or not isinstance(origin, SharesLines):
        return None
    args = get_args(model)
    return cast(type[SharesLines], origin), (args[0] if args else Any)
