"""The streaming response: a real ``StreamingHttpResponse`` with JSON Lines headers."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from django.http import StreamingHttpResponse

# Vary: the Content-Type is the JSON Lines alias the client's Accept asked for.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Vary": "Accept"}


class JsonlResponse(StreamingHttpResponse):
    """A ``StreamingHttpResponse`` whose line iterator reaches the server unwrapped.

    Django's own ``__aiter__`` adds two generator layers that never close the inner
    iterator, so a client that leaves during a write would leave the stream function
    open until garbage collection. Unless middleware replaced the content (gzip, ...),
    the server's ``aclosing()`` gets the line iterator itself.
    """

    def __init__(
        self, lines: AsyncIterable[bytes] | Iterable[bytes], *, media_type: str, http11: bool
    ) -> None:
        super().__init__(lines, content_type=media_type)
        # Django took the server's iterator from ``lines.__aiter__()`` (and registered
        # ``lines.close`` to run when the response is closed).
        self._lines: AsyncIterator[Any] | None = getattr(self, "_iterator", None)
        if not self.is_async:
            self._lines = None
        for name, value in STREAM_HEADERS.items():
            self[name] = value
        if http11:
            self["Connection"] = "keep-alive"

    def __aiter__(self) -> AsyncIterator[Any]:
        lines = self._lines
        current: object = getattr(self, "_iterator", None)
        if lines is None or current is not lines:
            wrapped: AsyncIterator[Any] = super().__aiter__()  # middleware replaced it
            return wrapped
        return lines
