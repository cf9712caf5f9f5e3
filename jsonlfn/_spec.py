"""The per-endpoint spec: everything the decorators record, in one frozen object.

Decorators never wrap the function; each replaces one field of the spec stored on it,
so any order of decorators yields the same spec. The view builder, the registry and the
OpenAPI builder all read this object.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import msgspec

from jsonlfn._errors import SpecError

ATTRIBUTE = "__jsonlfn__"

OnError = Callable[[Exception], Any]


class Ping(msgspec.Struct, frozen=True, tag_field="type", tag="ping"):
    """The default keep-alive item, written as ``{"type":"ping"}``."""


DEFAULT_PING = Ping()


@dataclasses.dataclass(frozen=True, slots=True)
class StreamOptions:
    """What ``@jsonl_stream`` records: the item model and how items are checked."""

    model: Any
    validate: bool = True
    on_error: OnError | None = None
    prime_timeout: float | None = None
    id: str | None = None
    compress: bool | None = None  # None: the COMPRESS setting decides


@dataclasses.dataclass(frozen=True, slots=True)
class PingOptions:
    """What ``@ping`` records: the idle interval (``None``: no pings) and the item."""

    every: float | None
    item: Any = DEFAULT_PING


@dataclasses.dataclass(frozen=True, slots=True)
class SseOptions:
    """What ``@sse`` records: the stream is also served as Server-Sent Events, and the
    reconnection delay (seconds) its ``retry:`` field tells clients (``None``: none)."""

    retry: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """Everything jsonlfn knows about one stream function."""

    stream: StreamOptions | None = None
    headers: type | None = None
    query: type | None = None
    cookies: type | None = None
    body: type | None = None
    ping: PingOptions | None = None
    resume: Any = None
    auth: Any = None  # jsonlfn._auth._backends.AuthOptions
    sse: SseOptions | None = None

    def components(self) -> dict[str, type]:
        """The request components this endpoint parses, keyed by keyword name."""
        found = {kind: getattr(self, kind) for kind in COMPONENTS}
        return {kind: model for kind, model in found.items() if model is not None}

    def keywords(self) -> list[str]:
        """Every keyword argument the decorators make the view pass."""
        resume = [RESUME_KEYWORD] if self.resume is not None else []
        return [*self.components(), *resume]


COMPONENTS = ("headers", "query", "cookies", "body")
RESUME_KEYWORD = "last_event_id"
RESUME_HEADER = "Last-Event-ID"


def get_spec(fn: Callable[..., Any]) -> Spec:
    """The spec recorded on ``fn`` (an empty one when no decorator ran)."""
    spec = getattr(fn, ATTRIBUTE, None)
    return spec if isinstance(spec, Spec) else Spec()


def record(fn: Callable[..., Any], decorator: str, field: str, value: Any) -> None:
    """Set one spec field on ``fn``; a decorator applied twice is a ``SpecError``."""
    require_stream_function(fn, decorator)
    spec = get_spec(fn)
    if getattr(spec, field) is not None:
        raise SpecError(f"@{decorator} is applied twice to {describe(fn)}; keep one of them.")
    setattr(fn, ATTRIBUTE, dataclasses.replace(spec, **{field: value}))


def require_stream_function(fn: object, decorator: str) -> None:
    """Raise ``SpecError`` unless ``fn`` is an ``async def`` function that ``yield``s."""
    if inspect.isasyncgenfunction(fn):
        return
    name = describe(fn)
    if inspect.iscoroutinefunction(fn):
        hint = "it is async but never yields; yield each item instead of returning a list"
    elif inspect.isgeneratorfunction(fn):
        hint = "it is a sync generator; write `async def` so it can await while streaming"
    elif callable(fn):
        hint = "it is a plain function; write `async def` and yield each item"
    else:
        hint = f"got {fn!r}; did you forget the parentheses, e.g. @{decorator}(...)?"
    raise SpecError(f"@{decorator} needs an async generator function: {name}: {hint}.")


def describe(fn: object) -> str:
    """``module.qualname`` of a function, for error messages."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(fn)


# Server-Sent Events names, shared by the stream loop (``_stream._sse``) and OpenAPI.
ERROR_EVENT = "error"  # the on_error item
HISTORY_GONE_EVENT = "history_gone"  # a resume after history ran out (instead of 410)


def event_names(model: Any) -> dict[type, str]:
    """The SSE ``event:`` name of each tagged Struct that ``model`` names: its tag. A tag
    that cannot be an event name is a ``SpecError``."""
    found: dict[type, str] = {}
    for struct in _structs(msgspec.inspect.type_info(model)):
        tag = struct.cls.__struct_config__.tag
        if tag is None:
            continue
        name = str(tag)
        if not name or any(c in name for c in "\r\n\0"):
            raise SpecError(
                f"{struct.cls.__name__}'s tag {name!r} cannot be a Server-Sent Events "
                "event name (it must be non-empty, without line breaks or NUL)."
            )
        found[struct.cls] = name
    return found


def _structs(info: msgspec.inspect.Type) -> list[msgspec.inspect.StructType]:
    if isinstance(info, msgspec.inspect.StructType):
        return [info]
    if isinstance(info, msgspec.inspect.UnionType):
        return [s for member in info.types for s in _structs(member)]
    return []
