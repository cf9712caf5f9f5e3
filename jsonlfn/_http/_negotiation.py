"""Content negotiation: pick the media type an ``Accept`` header allows among those an
endpoint offers (the JSON Lines aliases, and Server-Sent Events with ``@sse``)."""

from __future__ import annotations

import functools

JSONL_TYPES = ("application/jsonl", "application/x-ndjson", "application/json-lines")
SSE_TYPE = "text/event-stream"
SSE_TYPES = (*JSONL_TYPES, SSE_TYPE)  # what an ``@sse`` endpoint offers

# Header values up to this length have their answers remembered (256 of each, so at most
# 2 x 256 x 256 characters held); longer ones are parsed each time, so that no client can
# fill a cache with its bytes (httptools accepts headers of 32 MiB).
CACHED_LENGTH = 256


def negotiate(accept: str | None, offered: tuple[str, ...] = JSONL_TYPES) -> str | None:
    """The media type of ``offered`` to answer with, or ``None`` when ``accept`` allows none.

    The client's preferred type wins (by ``q``, then order); a wildcard (``*/*``,
    ``application/*``, ``text/*``) gets the first offered type it covers that the client
    did not exclude with ``q=0``: ``application/jsonl`` for ``*/*``.
    """
    if accept is not None and len(accept) > CACHED_LENGTH:
        return _negotiate(accept, offered)
    return _negotiate_cached(accept, offered)


def _negotiate(accept: str | None, offered: tuple[str, ...]) -> str | None:
    if not accept or not accept.strip():
        return offered[0]
    ranges = _parse(accept)
    refused = [media for media, q in ranges if q == 0]
    for media, q in sorted(ranges, key=lambda r: -r[1]):
        if q <= 0:
            continue
        if media in offered:
            return media
        for found in offered:
            if _covers(media, found) and not any(_covers(no, found) for no in refused):
                return found
    return None


_negotiate_cached = functools.lru_cache(maxsize=256)(_negotiate)


def _covers(media_range: str, media: str) -> bool:
    """Whether a wildcard range (``*/*``, ``text/*``) or the type itself names ``media``."""
    if media_range in (media, "*/*"):
        return True
    return media_range.endswith("/*") and media.startswith(media_range[:-1])


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip: named, or ``*``, with ``q`` above 0."""
    if accept_encoding is not None and len(accept_encoding) > CACHED_LENGTH:
        return _accepts_gzip(accept_encoding)
    return _accepts_gzip_cached(accept_encoding)


def _accepts_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    codings = dict(_parse(accept_encoding))
    return codings.get("gzip", codings.get("*", 0.0)) > 0


_accepts_gzip_cached = functools.lru_cache(maxsize=256)(_accepts_gzip)


def _parse(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        ranges.append((media.lower(), _quality(params)))
    return ranges


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0
