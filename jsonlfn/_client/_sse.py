"""Reading a ``text/event-stream`` the way ``EventSource`` does."""

from __future__ import annotations

import msgspec


class ServerSentEvent(msgspec.Struct, frozen=True):
    """One dispatched event of a ``text/event-stream``, as ``EventSource`` sees it:
    ``event`` is ``"message"`` unless named, ``id`` the last event id after it (ids
    persist across events), ``retry`` the reconnection delay in ms if this event set it."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Events from the lines of a ``text/event-stream``, per the WHATWG HTML standard's
    "interpreting an event stream": comments skipped, an event dispatched at a blank
    line unless its data is empty, an ``id`` with NUL ignored, ``retry`` only digits.

    >>> decoder = SSEDecoder()
    >>> [decoder.feed(line) for line in (b"id: 1", b"data: {}", b"")][-1]
    ServerSentEvent(data='{}', event='message', id='1', retry=None)
    """

    def __init__(self) -> None:
        self.last_id = ""
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None

    def feed(self, raw: bytes) -> ServerSentEvent | None:
        """Take one line (without its line ending); the event a blank line ends, if any."""
        line = raw.decode("utf-8", "replace").removesuffix("\r")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, retry = self._data, self._event or "message", self._retry
        self._data, self._event, self._retry = [], "", None
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event, self.last_id, retry)
