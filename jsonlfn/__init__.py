"""jsonlfn: serve JSON Lines streams from plain async generator functions in Django."""

from jsonlfn._decorators import body, cookies, headers, jsonl_stream, ping, query, resume
from jsonlfn._errors import (
    BadRequest,
    Forbidden,
    HttpError,
    InvalidItem,
    MethodNotAllowed,
    NotAcceptable,
    PayloadTooLarge,
    SpecError,
    Unauthorized,
    UnsupportedMediaType,
)
from jsonlfn._negotiation import JSONL_TYPES
from jsonlfn._registry import Registry, Route
from jsonlfn._response import JsonlResponse
from jsonlfn._shutdown import stop_streams
from jsonlfn._spec import Ping, PingOptions, Spec, StreamOptions, get_spec

__version__ = "0.1.0"

__all__ = [
    "JSONL_TYPES",
    "BadRequest",
    "Forbidden",
    "HttpError",
    "InvalidItem",
    "JsonlResponse",
    "MethodNotAllowed",
    "NotAcceptable",
    "PayloadTooLarge",
    "Ping",
    "PingOptions",
    "Registry",
    "Route",
    "Spec",
    "SpecError",
    "StreamOptions",
    "Unauthorized",
    "UnsupportedMediaType",
    "body",
    "cookies",
    "get_spec",
    "headers",
    "jsonl_stream",
    "ping",
    "query",
    "resume",
    "stop_streams",
]
