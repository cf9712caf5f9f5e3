"""jsonlfn: serve JSON Lines streams from plain async generator functions in Django."""

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
