"""What went wrong with Redis, in words an operator can act on.

Two faults, told apart in the log and in the JSON error body's ``type``:

- ``store_unreachable``: Redis did not answer (refused or dropped the connection, or no
  reply within ``TOPIC_JOIN_TIMEOUT``). Transient: clients retry after ``Retry-After``.
- ``store_refused``: Redis answered no: wrong credentials or ACL permissions (a
  configuration error, logged loudly once per process), or a key of another type.

Local overload (``MAX_STREAMS``) is the third kind of 503, ``type: overloaded``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

import redis
from redis.exceptions import NoPermissionError

from jsonlfn._errors import PublishFailed, Unavailable
from jsonlfn._settings import conf

logger = logging.getLogger("jsonlfn")
T = TypeVar("T")

ERRORS = (redis.RedisError, OSError, TimeoutError)  # everything a Redis command raises
CREDENTIALS = (redis.AuthenticationError, redis.exceptions.AuthorizationError, NoPermissionError)
_told: set[str] = set()  # the URLs whose refused credentials were logged at ERROR


class StoreDown(ConnectionError):
    """Redis failed the commands queued before this one, and nothing succeeded since."""


class ClosedBeforeSending(redis.ConnectionError):
    """The connection was closed under redis-py before it wrote the command."""


async def translated(command: Awaitable[T]) -> T:
    """``command``'s result, with uvloop's error for a write to a closed connection
    raised as the connection error it is.

    When a connection is reset while redis-py opens it (Redis restarting), uvloop
    closes the transport, and redis-py's first write (its ``HELLO``) raises
    ``RuntimeError('unable to perform operation on <TCPTransport closed=True ...>;
    the handler is closed')``: the checker saw that answered with a 500.
    """
    try:
        return await command
    except RuntimeError as exc:
        if "handler is closed" not in str(exc):
            raise
        raise ClosedBeforeSending(
            f"the connection closed before the command was sent: {exc}"
        ) from exc


def refused(exc: BaseException) -> bool:
    """Whether Redis answered, and the answer was no (credentials, permissions, type)."""
    return isinstance(exc, (*CREDENTIALS, redis.ResponseError))


def unavailable(exc: BaseException, url: str, what: str) -> Unavailable:
    """The 503 for a subscription Redis could not serve, logged with its cause."""
    retry_after = conf().RETRY_AFTER
    if refused(exc):
        _log_refusal(exc, url, what)
        msg = "The event store refused this server's request; retry later"
        return Unavailable(retry_after, msg, type="store_refused")
    logger.warning("jsonlfn: refused %s: Redis at %s did not answer (%r)", what, _host(url), exc)
    return Unavailable(
        retry_after, "The event store is unreachable; retry later", type="store_unreachable"
    )


def publish_failed(exc: BaseException, url: str, topic: str) -> PublishFailed:
    """``PublishFailed`` saying whether the event was not added or may have been."""
    if refused(exc):
        _log_refusal(exc, url, f"an event of topic {topic!r}")
        outcome = f"Redis refused the command ({exc}); the event was not added"
    elif never_sent(exc):
        outcome = "Redis is unreachable; the event was not added"
    else:  # XADD is atomic, but the answer was lost: it ran, or it never arrived
        outcome = "Redis did not answer; the event may or may not have been added"
    return PublishFailed(f"Topic {topic!r}: {outcome} ({exc!r})")


def never_sent(exc: BaseException) -> bool:
    """Whether the command surely never reached Redis: no connection could be made
    (redis-py words those "... connecting to ..."), the connection was closed before
    the write (redis-py 8.2: "... before write"), or commands queued before it had
    failed. A connection lost after sending may have run it: Redis closes connections
    on a restart or ``CLIENT KILL`` after running what they sent."""
    surely = StoreDown | ConnectionRefusedError | ClosedBeforeSending
    if isinstance(exc, surely):
        return True
    words = str(exc)
    return "connecting to" in words or (
        isinstance(exc, redis.ConnectionError) and "closed by the server before write" in words
    )


def _log_refusal(exc: BaseException, url: str, what: str) -> None:
    if isinstance(exc, CREDENTIALS) and url not in _told:
        _told.add(url)
        logger.error(
            "jsonlfn: Redis at %s refused jsonlfn's credentials (%s). Every topic stream "
            "and publish fails until JSONLFN['TOPICS'] has the right user and password, "
            "e.g. 'redis://user:password@host:6379/0'.",
            _host(url),
            exc,
        )
    logger.warning("jsonlfn: refused %s: Redis at %s said no (%r)", what, _host(url), exc)


def _host(url: str) -> str:
    """``url`` without its credentials, for the log."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
