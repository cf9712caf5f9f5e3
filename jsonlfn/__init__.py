"""jsonlfn: serve JSON Lines streams from plain async generator functions in Django.

The names below are loaded on first use (PEP 562), so that ``import jsonlfn.client``, a
consumer that may not be a Django project, imports no Django and nothing of the server.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from jsonlfn._auth._backends import (
        APIKeyAuth,
        AuthBackend,
        Identity,
        SessionAuth,
        constant_time_lookup,
    )
    from jsonlfn._auth._jwt import JWTAuth
    from jsonlfn._decorators import (
        body,
        cookies,
        headers,
        jsonl_stream,
        ping,
        query,
        requires,
        resume,
        sse,
    )
    from jsonlfn._errors import (
        BadRequest,
        Forbidden,
        HistoryGone,
        HttpError,
        InvalidEvent,
        InvalidItem,
        MethodNotAllowed,
        NotAcceptable,
        PayloadTooLarge,
        PublishFailed,
        SpecError,
        TopicError,
        Unauthorized,
        Unavailable,
        UnsupportedMediaType,
    )
    from jsonlfn._handoff import Handoff
    from jsonlfn._http._negotiation import JSONL_TYPES, SSE_TYPE
    from jsonlfn._http._response import JsonlResponse
    from jsonlfn._registry import Registry, Route
    from jsonlfn._spec import Ping, PingOptions, Spec, SseOptions, StreamOptions, get_spec
    from jsonlfn._stream._shutdown import stop_streams
    from jsonlfn._topics._event import Event
    from jsonlfn._topics._topic import Topic

__version__ = "0.1.0"
__all__ = [
    "JSONL_TYPES",
    "SSE_TYPE",
    "APIKeyAuth",
    "AuthBackend",
    "BadRequest",
    "Event",
    "Forbidden",
    "Handoff",
    "HistoryGone",
    "HttpError",
    "Identity",
    "InvalidEvent",
    "InvalidItem",
    "JWTAuth",
    "JsonlResponse",
    "MethodNotAllowed",
    "NotAcceptable",
    "PayloadTooLarge",
    "Ping",
    "PingOptions",
    "PublishFailed",
    "Registry",
    "Route",
    "SessionAuth",
    "Spec",
    "SpecError",
    "SseOptions",
    "StreamOptions",
    "Topic",
    "TopicError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "body",
    "constant_time_lookup",
    "cookies",
    "get_spec",
    "headers",
    "jsonl_stream",
    "ping",
    "query",
    "requires",
    "resume",
    "sse",
    "stop_streams",
]

# Each public name and the module that defines it, imported when the name is first read.
_MODULES = {
    "JSONL_TYPES": "jsonlfn._http._negotiation",
    "SSE_TYPE": "jsonlfn._http._negotiation",
    "APIKeyAuth": "jsonlfn._auth._backends",
    "AuthBackend": "jsonlfn._auth._backends",
    "BadRequest": "jsonlfn._errors",
    "Event": "jsonlfn._topics._event",
    "Forbidden": "jsonlfn._errors",
    "Handoff": "jsonlfn._handoff",
    "HistoryGone": "jsonlfn._errors",
    "HttpError": "jsonlfn._errors",
    "Identity": "jsonlfn._auth._backends",
    "InvalidEvent": "jsonlfn._errors",
    "InvalidItem": "jsonlfn._errors",
    "JWTAuth": "jsonlfn._auth._jwt",
    "JsonlResponse": "jsonlfn._http._response",
    "MethodNotAllowed": "jsonlfn._errors",
    "NotAcceptable": "jsonlfn._errors",
    "PayloadTooLarge": "jsonlfn._errors",
    "Ping": "jsonlfn._spec",
    "PingOptions": "jsonlfn._spec",
    "PublishFailed": "jsonlfn._errors",
    "Registry": "jsonlfn._registry",
    "Route": "jsonlfn._registry",
    "SessionAuth": "jsonlfn._auth._backends",
    "Spec": "jsonlfn._spec",
    "SpecError": "jsonlfn._errors",
    "SseOptions": "jsonlfn._spec",
    "StreamOptions": "jsonlfn._spec",
    "Topic": "jsonlfn._topics._topic",
    "TopicError": "jsonlfn._errors",
    "Unauthorized": "jsonlfn._errors",
    "Unavailable": "jsonlfn._errors",
    "UnsupportedMediaType": "jsonlfn._errors",
    "body": "jsonlfn._decorators",
    "constant_time_lookup": "jsonlfn._auth._backends",
    "cookies": "jsonlfn._decorators",
    "get_spec": "jsonlfn._spec",
    "headers": "jsonlfn._decorators",
    "jsonl_stream": "jsonlfn._decorators",
    "ping": "jsonlfn._decorators",
    "query": "jsonlfn._decorators",
    "requires": "jsonlfn._decorators",
    "resume": "jsonlfn._decorators",
    "sse": "jsonlfn._decorators",
    "stop_streams": "jsonlfn._stream._shutdown",
}


def __getattr__(name: str) -> _typing.Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'jsonlfn' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
