"""Signing keys from a JWKS URL, fetched the way a well-kept client fetches them.

- One fetch at a time per backend: every request that needs fresh keys awaits the same
  one (a slow identity provider costs one connection, not one per request).
- At most one try every ``min_refresh`` seconds, failed or not, so neither forged
  ``kid``s nor a failing provider turn requests into fetches.
- Keys past their ``ttl`` keep serving, for up to one more ``ttl``, while a refresh runs
  in the background or backs off (stale-while-revalidate); and beyond that until a
  refresh has been allowed and tried (a ``ttl`` shorter than ``min_refresh`` would
  otherwise refuse valid tokens between the two). Keys a refresh failed to renew, past
  twice the ``ttl``, are refused until one succeeds.
- One ``httpx.AsyncClient`` per backend and event loop, with a timeout; the response is
  read up to ``max_bytes``, holds at most ``max_keys`` keys, and is parsed in a thread.
- Whatever the provider answers, a request gets its key or a 401; never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt
import orjson

from jsonlfn._errors import Unauthorized

logger = logging.getLogger("jsonlfn")


class KeySet:
    """The keys of one JWKS URL, by ``kid``."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        min_refresh: float,
        timeout: float = 5.0,
        max_keys: int = 100,
        max_bytes: int = 1 << 20,
    ) -> None:
        self.url, self.ttl, self.min_refresh = url, ttl, min_refresh
        self.timeout, self.max_keys, self.max_bytes = timeout, max_keys, max_bytes
        self._keys: dict[str, Any] = {}
        self._fetched = -float("inf")  # when the keys in hand were fetched
        self._attempted = -float("inf")  # when the last fetch started
        self._failed = False  # whether a fetch failed since the keys in hand were fetched
        self._refresh: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    async def key_for(self, token: str) -> Any:
        """The key that signed ``token`` (by its ``kid``); ``Unauthorized`` without one."""
        kid = _kid(token)
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None:
            age = now - self._fetched
            if age <= self.ttl:
                return key
            if age <= 2 * self.ttl or self._untried(now):
                self._refresh_started(now)  # stale: serve it, refresh in the background
                return key
        refresh = self._refresh_started(now)
        if refresh is not None:
            await asyncio.shield(refresh)  # one fetch, shared; a leaving client keeps it
        key = self._usable(kid, time.monotonic())
        if key is None:
            raise Unauthorized("Invalid token: unknown signing key")
        return key

    def _usable(self, kid: str, now: float) -> Any:
        """The key of ``kid`` if known and fetched at most twice the ``ttl`` ago."""
        return self._keys.get(kid) if now - self._fetched <= 2 * self.ttl else None

    def _untried(self, now: float) -> bool:
        """Whether no refresh has failed since the keys were fetched, none runs, and none
        is allowed yet (``min_refresh``): the keys serve until one has been tried."""
        refresh = self._refresh
        running = refresh is not None and not refresh.done()
        return not (self._failed or running) and now - self._attempted < self.min_refresh

    def _refresh_started(self, now: float) -> asyncio.Task[None] | None:
        """The refresh in flight, or a new one when one is due; None while backing off."""
        loop = asyncio.get_running_loop()
        refresh = self._refresh
        if refresh is not None and not refresh.done() and refresh.get_loop() is loop:
            return refresh
        if now - self._attempted < self.min_refresh:
            return None
        self._attempted = now
        self._refresh = loop.create_task(self._fetch(), name=f"JWKS {self.url}")
        return self._refresh

    async def _fetch(self) -> None:
        try:
            body = await self._download()
            keys = await asyncio.to_thread(_parse, body, self.max_keys)
        except Exception as exc:  # the provider's failure is never the request's 500
            logger.error(
                "JWKS fetch from %s failed: %r; refusing tokens it would sign", self.url, exc
            )
            self._failed = True
            return
        self._keys = keys
        self._fetched = time.monotonic()
        self._failed = False

    async def _download(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async with self._client_for_loop().stream("GET", self.url) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise ValueError(f"the key set is larger than {self.max_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks)

    def _client_for_loop(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # No keep-alive: fetches are minutes apart, and no socket outlives its loop.
            limits = httpx.Limits(max_connections=2, max_keepalive_connections=0)
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=limits)
            self._client_loop = loop
        return self._client


def _kid(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"Invalid token: {exc}") from exc
    if not isinstance(kid, str):
        raise Unauthorized("Invalid token: its header names no signing key (kid)")
    return kid


def _parse(body: bytes, max_keys: int) -> dict[str, Any]:
    """The usable signing keys of a JWK Set document, by ``kid``."""
    data = orjson.loads(body)
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWK Set (an object with a list of keys)")
    if len(entries) > max_keys:
        raise ValueError(f"{len(entries)} keys, more than jwks_max_keys={max_keys}")
    keys: dict[str, Any] = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if isinstance(kid, str):
            try:
                keys[kid] = jwt.PyJWK(entry).key
            except Exception:  # an unusable key (unknown type, bad values): skipped
                logger.warning("JWKS key %r is unusable; skipped", kid)
    if not keys:
        raise ValueError("no usable signing key with a kid")
    return keys
