"""The OpenAPI 3.2 document: a pure function of the registry's routes and their specs.

JSON Lines responses use OpenAPI 3.2's ``itemSchema``; the schemas themselves come from
``_schemas``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from jsonlfn._http._negotiation import JSONL_TYPES
from jsonlfn._openapi._schemas import Schemas, markdown
from jsonlfn._openapi._sse import sse_media
from jsonlfn._signature import PATH_PARAMETER, path_parameters
from jsonlfn._spec import RESUME_HEADER, Spec, get_spec
from jsonlfn._topics._event import ID_MAX_LENGTH, ID_PATTERN, is_event_model

ERROR_REF = {"$ref": "#/components/schemas/ErrorModel"}

_CONVERTERS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "str": {"type": "string", "pattern": "^[^/]+$"},
    "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string"},
}

_ERRORS = {
    "400": "A header, query, cookie or body value failed to parse or validate",
    "401": "Credentials are missing or invalid",
    "403": "Authenticated, but without the required scopes",
    "406": "The Accept header allows no JSON Lines media type",
    "406-sse": "The Accept header allows neither a JSON Lines media type nor text/event-stream",
    "410": "The topic no longer holds the events after Last-Event-ID: reload, then "
    "subscribe without it",
    "410-sse": "The topic no longer holds the events after Last-Event-ID: reload, then "
    "subscribe without it (on text/event-stream: the history_gone event instead, then the "
    "live events, as EventSource cannot read a 410)",
    "413": "The request body is larger than the server accepts",
    "415": "The request body is not JSON",
    "422": "The first item did not match the item schema (nothing was streamed)",
    "503": "The topics' store is unreachable; retry after Retry-After seconds",
}

_STREAM_HEADERS = {
    "Cache-Control": {"required": True, "schema": {"type": "string", "const": "no-cache"}},
    "X-Accel-Buffering": {"required": True, "schema": {"type": "string", "const": "no"}},
    "Connection": {
        "description": "keep-alive on HTTP/1.1",
        "required": False,
        "schema": {"type": "string"},
    },
}


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """One method of one mounted route, as the document describes it."""

    path: str  # the Django route as mounted, e.g. "api/orgs/<int:org>/users/"
    method: str
    fn: Callable[..., Any]
    tags: tuple[str, ...] = ()
    deprecated: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Info:
    title: str
    version: str
    description: str | None = None
    servers: tuple[str, ...] = ()
    license: dict[str, str] | None = None


def build_document(info: Info, operations: Sequence[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.2.0 document for ``operations``, as a JSON-ready dict.

    Without ``servers`` the document names ``/``: relative to where it is served, so
    clients and linters get a base URL that is right for the host serving it.
    """
    schemas = Schemas([get_spec(op.fn) for op in operations])
    names = _operation_ids(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        path, parameters = _path(op.path)
        item = _operation(op, names[op], get_spec(op.fn), schemas)
        item["parameters"] = parameters + item.get("parameters", [])
        if not item["parameters"]:
            del item["parameters"]
        if parameters:  # a value its converter refuses resolves to no route at all
            item["responses"]["404"] = _NO_SUCH_PATH
        paths.setdefault(path, {})[op.method.lower()] = item
    document: dict[str, Any] = {"openapi": "3.2.0", "info": _info(info)}
    document["servers"] = [{"url": url} for url in info.servers or ("/",)]
    document["paths"] = paths
    document["components"] = {
        "schemas": schemas.components(),
        "securitySchemes": _schemes(operations),
    }
    return document


def _schemes(operations: Sequence[Operation]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for op in operations:
        auth = get_spec(op.fn).auth
        for backend in auth.backends if auth is not None else ():
            found.setdefault(backend.name, backend.security_scheme())
    return dict(sorted(found.items()))


def _info(info: Info) -> dict[str, Any]:
    found: dict[str, Any] = {"title": info.title, "version": info.version}
    if info.description:
        found["description"] = markdown(info.description)
    if info.license:
        found["license"] = info.license
    return found


_NO_SUCH_PATH = {
    "description": "No such path: a path parameter its converter refuses (`<int:...>` "
    "takes digits only) matches no route; Django answers with its own 404 page"
}


def _path(route: str) -> tuple[str, list[dict[str, Any]]]:
    """``"api/<int:org>/"`` -> ``("/api/{org}/", [the org path parameter])``."""
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _CONVERTERS.get(converter, {"type": "string"}),
        }
        for name, converter in path_parameters(route).items()
    ]
    return "/" + PATH_PARAMETER.sub(r"{\g<name>}", route).lstrip("/"), parameters


def _operation(op: Operation, operation_id: str, spec: Spec, schemas: Schemas) -> dict[str, Any]:
    found: dict[str, Any] = {"operationId": operation_id}
    found.update(_docstring(op.fn))
    if op.tags:
        found["tags"] = list(op.tags)
    found["deprecated"] = op.deprecated
    parameters = [
        p for kind in ("headers", "query", "cookies") for p in schemas.parameters(spec, kind)
    ]
    if spec.resume is not None:
        resume = {"name": RESUME_HEADER, "in": "header", "required": False}
        resume["description"] = "Resume the stream after the item with this id"
        resume["schema"] = schemas.of(spec.resume)
        if spec.stream is not None and is_event_model(spec.stream.model):
            resume["description"] = "Resume after the topic event with this id"
            resume["schema"] = {
                "type": "string",
                "pattern": ID_PATTERN,
                "maxLength": ID_MAX_LENGTH,
                "examples": ["1733097600000-0"],
            }
        parameters.append(resume)
    if parameters:
        found["parameters"] = parameters
    if spec.body is not None:
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.of(spec.body)}},
        }
    found["responses"] = _responses(spec, schemas)
    found["security"] = []  # public: no credentials (stated, so linters see it is meant)
    if spec.auth is not None:  # any one of the backends, each with the scopes
        scopes = sorted(spec.auth.scopes)
        found["security"] = [{backend.name: scopes} for backend in spec.auth.backends]
    return found


def _responses(spec: Spec, schemas: Schemas) -> dict[str, Any]:
    media: dict[str, Any] = {"itemSchema": schemas.item(spec)}
    if spec.stream is not None and spec.stream.id is not None:
        media["x-item-id"] = spec.stream.id  # the field clients send back as Last-Event-ID
    content = dict.fromkeys(JSONL_TYPES, media)
    described = "A JSON Lines stream, one item per line"
    if spec.sse is not None:
        described += "; or, for Accept: text/event-stream, Server-Sent Events"
        content["text/event-stream"] = sse_media(spec, schemas)
    ok = {"description": described, "content": content, "headers": _STREAM_HEADERS}
    codes = []
    if spec.keywords():
        codes.append("400")
    if spec.auth is not None:
        codes += ["401", "403"]
    codes.append("406")
    topic = spec.stream is not None and is_event_model(spec.stream.model)
    if topic and spec.resume is not None:
        codes.append("410")
    if spec.body is not None:
        codes += ["413", "415"]
    if spec.stream is not None and spec.stream.model is not Any and spec.stream.validate:
        codes.append("422")
    if topic:
        codes.append("503")
    sse = "-sse" if spec.sse is not None else ""
    errors = {
        code: {
            "description": _ERRORS.get(code + sse, _ERRORS[code]),
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        for code in codes
    }
    if "503" in errors:
        errors["503"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return {"200": ok, **errors}


def _docstring(fn: Callable[..., Any]) -> dict[str, str]:
    doc = inspect.getdoc(fn)
    if not doc:
        return {}
    summary, _, rest = doc.partition("\n\n")
    found = {"summary": markdown(" ".join(summary.split()))}
    if rest.strip():
        found["description"] = markdown(rest.strip())
    return found


def _operation_ids(operations: Sequence[Operation]) -> dict[Operation, str]:
    """Function names; a function on several methods gets ``_get``/``_post`` suffixes,
    and a name taken earlier in registration order gets ``_2``, ``_3``, ..."""
    methods_per_fn: dict[Callable[..., Any], int] = {}
    for op in operations:
        methods_per_fn[op.fn] = methods_per_fn.get(op.fn, 0) + 1
    taken: set[str] = set()
    names = {}
    for op in operations:
        base = getattr(op.fn, "__name__", "stream")
        if methods_per_fn[op.fn] > 1:
            base = f"{base}_{op.method.lower()}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[op] = name
    return names
