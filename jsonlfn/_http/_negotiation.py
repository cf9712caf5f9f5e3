"""Content negotiation: pick the JSON Lines media type an ``Accept`` header allows."""

from __future__ import annotations

import functools

JSONL_TYPES = ("application/jsonl", "application/x-ndjson", "application/json-lines")
_WILDCARDS = ("*/*", "application/*")


@functools.lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The JSONL media type to answer with, or ``None`` when ``accept`` allows none.

    The client's preferred alias wins (by ``q``, then order); a wildcard gets
    ``application/jsonl`` unless the client excluded it with ``q=0``.
    """
    if not accept or not accept.strip():
        return JSONL_TYPES[0]
    ranges = _parse(accept)
    refused = {media for media, q in ranges if q == 0}
    for media, q in sorted(ranges, key=lambda r: -r[1]):
        if q <= 0:
            continue
        if media in JSONL_TYPES:
            return media
        if media in _WILDCARDS:
            return next((t for t in JSONL_TYPES if t not in refused), None)
    return None


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip: named, or ``*``, with ``q`` above 0."""
    if not accept_encoding:
        return False
    codings = dict(_parse(accept_encoding))
    return codings.get("gzip", codings.get("*", 0.0)) > 0


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
