"""The streaming response: a real ``StreamingHttpResponse`` with the stream headers
(JSON Lines or Server-Sent Events: the same but for ``Content-Type``)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from django.http import StreamingHttpResponse

Headers = tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=64)
def stream_headers(media_type: str, *, gzip: bool, compressible: bool) -> Headers:
    """A stream's response headers (``Connection`` aside). ``Vary``: the Content-Type is
    the type the client's ``Accept`` asked for (a JSON Lines alias or
    ``text/event-stream``), and with ``compressible`` (the
    ``COMPRESS`` setting) the encoding follows ``Accept-Encoding``."""
    vary = "Accept, Accept-Encoding" if compressible else "Accept"
    found = [
        ("Content-Type", media_type),
        ("Cache-Control", "no-cache"),
        ("X-Accel-Buffering", "no"),
        ("Vary", vary),
    ]
    if gzip:
        found.append(("Content-Encoding", "gzip"))
    return tuple(found)


def keep_alive(scope: Mapping[str, Any]) -> bool:
    """Whether a stream answer says ``Connection: keep-alive``: HTTP/1.1, unless the
    client asked ``Connection: close`` (uvicorn would then send both headers)."""
    if scope.get("http_version") != "1.1":
        return False
    for name, value in scope["headers"]:
        if name == b"connection" and b"close" in _tokens(value):
            return False
    return True


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip().lower() for token in value.split(b",")]


class JsonlResponse(StreamingHttpResponse):
    """A ``StreamingHttpResponse`` whose line iterator reaches the server unwrapped.

    Django's own ``__aiter__`` adds two generator layers that never close the inner
    iterator, so a client that leaves during a write would leave the stream function
    open until garbage collection. Unless middleware replaced the content (gzip, ...),
    the server's ``aclosing()`` gets the line iterator itself.
    """

    def __init__(
        self, lines: AsyncIterable[bytes] | Iterable[bytes], *, headers: Headers, http11: bool
    ) -> None:
        super().__init__(lines)
        # Django took the server's iterator from ``lines.__aiter__()`` (and registered
        # ``lines.close`` to run when the response is closed).
        self._lines: AsyncIterator[Any] | None = (
            getattr(self, "_iterator", None) if self.is_async else None
        )
        for name, value in headers:
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
