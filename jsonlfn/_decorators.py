"""The decorators users stack on a stream function.

Each one records metadata on the function's spec and returns the function unchanged, so
they commute: any order gives the same endpoint.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import msgspec

from jsonlfn._auth._backends import AuthBackend, check_backends
from jsonlfn._errors import SpecError
from jsonlfn._signature import require_keyword
from jsonlfn._spec import (
    DEFAULT_PING,
    RESUME_KEYWORD,
    OnError,
    PingOptions,
    SseOptions,
    StreamOptions,
    record,
)
from jsonlfn._stream._items import unvalidated_writer

F = TypeVar("F", bound=Callable[..., AsyncIterator[Any]])

_OBJECT_TYPES = (
    msgspec.inspect.StructType,
    msgspec.inspect.DataclassType,
    msgspec.inspect.TypedDictType,
)


def jsonl_stream(
    model: Any = Any,
    *,
    validate: bool = True,
    on_error: OnError | None = None,
    prime_timeout: float | None = None,
    id: str | None = None,  # noqa: A002 - reads as the item's id field, like Last-Event-ID
    compress: bool | None = None,
) -> Callable[[F], F]:
    """Declare that a function streams items of ``model`` as JSON Lines.

    >>> @jsonl_stream(model=User)
    ... async def users(request):
    ...     yield User(email="a@example.com")

    ``model`` is anything msgspec understands (Struct, dataclass, TypedDict, builtins,
    unions, ``Any``). Each item is validated against it unless ``validate=False``; after
    the first line, ``on_error(exc)`` may return one replacement item that ends the
    stream. ``prime_timeout`` bounds how long the first item may take before the 200
    response starts anyway (default: the ``PRIME_TIMEOUT`` setting). ``id`` names the
    item field a client sends back as ``Last-Event-ID`` to resume (see ``@resume``).
    ``compress=False`` never gzips this stream (``True``: gzip it for clients that accept
    it even with ``COMPRESS`` off; default: the ``COMPRESS`` setting decides).
    """
    _require_model(model, "jsonl_stream")
    if on_error is not None and not callable(on_error):
        raise SpecError(f"on_error must be a function taking the exception, got {on_error!r}.")
    if prime_timeout is not None and not (_is_seconds(prime_timeout) and prime_timeout >= 0):
        raise SpecError(
            f"prime_timeout must be zero or more seconds (a number), got {prime_timeout!r}; "
            "write for example prime_timeout=1.5."
        )
    if id is not None:
        _require_field(model, id)
    if compress is not None and not isinstance(compress, bool):
        raise SpecError(f"compress must be True, False or None, got {compress!r}.")
    options = StreamOptions(model, validate, on_error, prime_timeout, id, compress)

    def decorate(fn: F) -> F:
        record(fn, "jsonl_stream", "stream", options)
        return fn

    return decorate


def headers(model: type) -> Callable[[F], F]:
    """Parse request headers into ``model``, passed as the ``headers`` keyword.

    Field names are header names (``msgspec.field(name="Last-Event-ID")`` for others;
    underscores match hyphens). A value that fails to parse answers 400.
    """
    return _component("headers", model)


def query(model: type) -> Callable[[F], F]:
    """Parse the query string into ``model``, passed as the ``query`` keyword.

    List-typed fields collect repeated keys (``?tag=a&tag=b``). Bad values answer 400.
    """
    return _component("query", model)


def cookies(model: type) -> Callable[[F], F]:
    """Parse request cookies into ``model``, passed as the ``cookies`` keyword."""
    return _component("cookies", model)


def body(model: Any) -> Callable[[F], F]:
    """Decode the JSON request body into ``model``, passed as the ``body`` keyword.

    Answers 415 when the body is not ``application/json``, 413 past
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and 400 when it does not decode or validate.
    """
    _require_model(model, "body")
    return _attach("body", model)


def ping(every: float | None = 15.0, item: Any = DEFAULT_PING) -> Callable[[F], F]:
    """Write ``item`` when no line was written for ``every`` seconds (keep-alive).

    >>> @ping(every=15)  # writes {"type":"ping"} on idle streams

    The default item is ``Ping()``, written as ``{"type":"ping"}``; any JSON-encodable
    value works. ``every=None`` turns off the project-wide ``PING_INTERVAL`` for this
    endpoint. Pings never split or reorder lines, and cost a loop timer, not a task.
    """
    if callable(every):
        raise SpecError("@ping was applied without parentheses; write @ping(every=15).")
    if every is not None and not (_is_seconds(every) and every > 0):
        raise SpecError(
            f"@ping(every=...) takes seconds above zero (a number) or None, got {every!r}; "
            "write for example @ping(every=15)."
        )
    try:
        unvalidated_writer()(item, bytearray())
    except TypeError as exc:
        raise SpecError(f"@ping(item=...) must be JSON-encodable: {exc}") from exc
    options = PingOptions(every, item)

    def decorate(fn: F) -> F:
        record(fn, "ping", "ping", options)
        return fn

    return decorate


def resume(id_type: Any = str) -> Callable[[F], F]:
    """Pass the ``Last-Event-ID`` request header, parsed as ``id_type``, as ``last_event_id``.

    >>> @resume(int)
    ... async def events(request, last_event_id: int | None): ...

    ``None`` when the header is absent; 400 when it does not parse. Pair it with
    ``jsonl_stream(id="field")`` so clients know which item field to send back.
    """
    if inspect.isfunction(id_type):
        raise SpecError(
            "@resume was applied without parentheses; write @resume(int) or @resume(str) "
            "with the type Last-Event-ID is parsed as (@resume() reads it as str)."
        )
    _require_model(id_type, "resume")

    def decorate(fn: F) -> F:
        record(fn, "resume", "resume", id_type)
        require_keyword(fn, RESUME_KEYWORD, "@resume")
        return fn

    return decorate


def sse(retry: float | None = None) -> Callable[[F], F]:
    """Also serve the stream as Server-Sent Events, to clients that ask for
    ``text/event-stream`` (a browser's ``EventSource``); others keep getting JSON Lines.

    >>> @sse(retry=5)  # new EventSource(url) reads the same function's items

    Each item is one event: ``data:`` its JSON, ``id:`` the ``jsonl_stream(id=...)``
    field (a topic's event: its id), ``event:`` the tag of a tagged Struct; pings are
    comments, the ``on_error`` item an ``error`` event. ``retry`` (seconds) is sent as
    the ``retry:`` field: how long the client waits before it reconnects.
    """
    if callable(retry):
        raise SpecError("@sse was applied without parentheses; write @sse().")
    if retry is not None and not (_is_seconds(retry) and retry >= 0):
        raise SpecError(
            f"@sse(retry=...) takes zero or more seconds (a number) or None, got {retry!r}; "
            "write for example @sse(retry=3)."
        )
    options = SseOptions(retry)

    def decorate(fn: F) -> F:
        record(fn, "sse", "sse", options)
        return fn

    return decorate


def requires(*backends: AuthBackend, scopes: Iterable[str] = ()) -> Callable[[F], F]:
    """Authenticate with the first of ``backends`` that accepts the request.

    >>> @requires(JWTAuth(), scopes=["events:read"])

    401 (with ``WWW-Authenticate``) when none does, 403 when ``scopes`` are missing,
    both before the function starts. The identity is ``request.auth``, and is passed as
    the ``auth`` keyword to a function that declares it.
    """
    options = check_backends(backends, scopes)

    def decorate(fn: F) -> F:
        record(fn, "requires", "auth", options)
        return fn

    return decorate


def _require_field(model: Any, name: str) -> None:
    info = msgspec.inspect.type_info(model)
    if not isinstance(info, _OBJECT_TYPES):
        return  # untyped or scalar items: nothing to check the name against
    names = [field.encode_name for field in info.fields]
    if name not in names:
        raise SpecError(f"jsonl_stream(id={name!r}): {model!r} has no such field; it has {names}.")


def _component(kind: str, model: type) -> Callable[[F], F]:
    _require_model(model, kind)
    if not isinstance(msgspec.inspect.type_info(model), _OBJECT_TYPES):
        raise SpecError(
            f"@{kind} needs a msgspec Struct, dataclass or TypedDict with one field per "
            f"{kind[:-1] if kind.endswith('s') else kind} value, got {model!r}."
        )
    return _attach(kind, model)


def _is_seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _attach(kind: str, model: Any) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        record(fn, kind, kind, model)
        require_keyword(fn, kind, f"@{kind}")
        return fn

    return decorate


def _require_model(model: Any, decorator: str) -> None:
    if inspect.isfunction(model):
        raise SpecError(
            f"@{decorator} was applied without arguments; write @{decorator}(...) "
            "with the model in the parentheses."
        )
    try:
        msgspec.json.schema(model)  # what OpenAPI needs; rejects types msgspec can't encode
    except (TypeError, ValueError) as exc:
        raise SpecError(f"@{decorator}: msgspec cannot handle the model {model!r}: {exc}") from exc
