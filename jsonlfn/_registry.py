"""The registry: stream functions in, Django URL patterns out."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, path

from jsonlfn._errors import SpecError
from jsonlfn._http._direct import ASGIApp, DirectApp
from jsonlfn._http._view import Methods, StreamFunction, View, compile_endpoint, route_view
from jsonlfn._openapi._document import Info, Operation, build_document
from jsonlfn._openapi._v31 import downgrade
from jsonlfn._signature import path_parameters, require_keyword
from jsonlfn._spec import describe, require_stream_function

REGISTRIES: weakref.WeakSet[Registry] = weakref.WeakSet()  # for `manage.py jsonlfn_openapi`

F = TypeVar("F", bound=Callable[..., Any])

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "QUERY"})


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """One registered stream function on one route, for one or more methods."""

    route: str
    fn: StreamFunction
    methods: tuple[str, ...]
    name: str
    tags: tuple[str, ...] = ()
    deprecated: bool = False
    direct: bool = True  # served by registry.asgi() without Django's handler


class Registry:
    """Collects stream functions and serves them as Django URL patterns.

    >>> registry = Registry(title="Events API", version="1.0")
    >>> @registry.get("api/events/")
    ... @jsonl_stream(model=Event)
    ... async def events(request):
    ...     yield Event(id=1)
    >>> urlpatterns = [path("", include(registry.urls()))]

    ``title``, ``version``, ``description``, ``servers`` and ``license`` (an SPDX
    identifier such as ``"MIT"``, or a License Object dict) go in the document's ``info``.
    """

    def __init__(
        self,
        *,
        title: str = "API",
        version: str = "0.1.0",
        description: str | None = None,
        servers: Iterable[str] = (),
        license: str | Mapping[str, str] | None = None,  # noqa: A002 - info.license
    ) -> None:
        self.title = title
        self.version = version
        self.description = description
        self.servers = tuple(servers)
        self.license = _license(license)
        self._routes: list[Route] = []
        self._mounted: dict[int, str] = {}  # id(URLPattern) -> its route, for openapi()
        self._direct: dict[Callable[..., Any], Methods] = {}  # route views asgi() serves
        self._documents: dict[str, dict[str, Any]] = {}  # by OpenAPI version
        REGISTRIES.add(self)

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every registration, in order."""
        return tuple(self._routes)

    def add(
        self,
        route: str,
        fn: StreamFunction,
        *,
        methods: Iterable[str] = ("GET",),
        name: str | None = None,
        tags: Iterable[str] = (),
        deprecated: bool = False,
        direct: bool = True,
    ) -> None:
        """Register ``fn`` on ``route`` (Django ``path()`` syntax) for ``methods``.

        ``direct=False`` keeps the route on Django's handler (and its middleware) when
        the project is served through ``registry.asgi()``.
        """
        require_stream_function(fn, "registry.add")
        wanted = self._check_methods(route, methods)
        for parameter in path_parameters(route):
            require_keyword(fn, parameter, f"route {route!r}")
        name = name or str(getattr(fn, "__name__", "stream"))
        self._routes.append(Route(route, fn, wanted, name, tuple(tags), deprecated, direct))
        self._documents.clear()

    def get(self, route: str, **options: Any) -> Callable[[F], F]:
        """Decorator form of ``add(route, fn, methods=["GET"])`` (HEAD is answered too)."""
        return self._decorator(route, ("GET",), options)

    def post(self, route: str, **options: Any) -> Callable[[F], F]:
        """Decorator form of ``add(route, fn, methods=["POST"])``, e.g. with ``@body``."""
        return self._decorator(route, ("POST",), options)

    def urls(self) -> list[URLPattern]:
        """Django URL patterns, one per route; include them anywhere in a urlconf."""
        patterns = []
        for route, group in self._by_route().items():
            endpoints = {m: compile_endpoint(r.fn, route) for r in group for m in r.methods}
            methods = Methods.of(endpoints)
            view = route_view(methods)
            if all(r.direct for r in group):
                self._direct[view] = methods
            pattern = path(route, view, name=group[0].name)
            self._mounted[id(pattern)] = route
            patterns.append(pattern)
        return patterns

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """Wrap the project's ASGI ``app`` so this registry's routes skip Django's handler.

        >>> application = registry.asgi(get_asgi_application())

        Requests that resolve to a route of this registry are served directly: several
        times the requests per second on short streams. The project's ``MIDDLEWARE``
        runs around them as on Django's path (CORS, security redirects and headers,
        sessions, cookies); with it empty, nothing is run and nothing is paid. Register a
        route with ``direct=False`` to keep it on Django's handler. Every other request
        (other views, admin, websockets, lifespan) reaches ``app`` unchanged. See
        README, "Serving without Django's handler".
        """
        return DirectApp(app, self._direct)

    def openapi(self, version: str = "3.2") -> dict[str, Any]:
        """The OpenAPI document of every route, as a dict (built once, then cached).

        ``version="3.2"`` (3.2.0, JSON Lines as ``itemSchema``) or ``"3.1"`` (3.1.1, for
        tools that don't read 3.2 yet; see README, "OpenAPI 3.1"). Paths are the URLs as
        mounted in the project's urlconf, prefixes included.
        """
        _check_version(version)
        if version not in self._documents:
            document = self._documents.get("3.2") or self._build()
            self._documents["3.2"] = document
            self._documents["3.1"] = downgrade(document)
        return self._documents[version]

    def _build(self) -> dict[str, Any]:
        mounted = _mounted_routes(self._mounted)
        operations = [
            Operation(mounted.get(r.route, r.route), method, r.fn, r.tags, r.deprecated)
            for r in self._routes
            for method in r.methods
        ]
        info = Info(self.title, self.version, self.description, self.servers, self.license)
        return build_document(info, operations)

    def openapi_view(self, version: str = "3.2") -> View:
        """A view serving ``openapi(version)`` as JSON:
        ``path("openapi.json", registry.openapi_view())``."""
        _check_version(version)

        async def openapi(request: HttpRequest) -> HttpResponse:
            document = orjson.dumps(self.openapi(version))
            return HttpResponse(document, content_type="application/json")

        return openapi

    def docs_view(self) -> View:
        """An interactive page (Swagger UI) for the document; works offline.

        ``path("docs/", registry.docs_view())``. Needs ``pip install jsonlfn[docs]``.
        """
        from jsonlfn._openapi._docs import docs_view  # noqa: PLC0415 - the optional extra

        return docs_view(self.title, self.openapi)

    def _decorator(self, route: str, methods: tuple[str, ...], options: Any) -> Callable[[F], F]:
        if not isinstance(route, str):
            verb = methods[0].lower()
            raise SpecError(
                f"@registry.{verb} needs the route in parentheses, for example "
                f'@registry.{verb}("api/events/"); got {route!r}.'
            )

        def decorate(fn: F) -> F:
            self.add(route, fn, methods=methods, **options)
            return fn

        return decorate

    def _check_methods(self, route: str, methods: Iterable[str]) -> tuple[str, ...]:
        if isinstance(methods, str):
            raise SpecError(
                f'methods must be a list of strings, for example methods=["{methods}"].'
            )
        wanted = tuple(dict.fromkeys(m.upper() for m in methods))
        unknown = sorted(set(wanted) - _METHODS)
        if not wanted or unknown:
            raise SpecError(
                f"Unsupported methods {unknown or '[]'}; use some of {sorted(_METHODS)}."
            )
        for taken in self._routes:
            clash = sorted(set(taken.methods) & set(wanted))
            if taken.route == route and clash:
                raise SpecError(
                    f"{clash[0]} {route!r} is already registered to {describe(taken.fn)}; "
                    "each route and method pair can have one stream function."
                )
        return wanted

    def _by_route(self) -> dict[str, list[Route]]:
        grouped: dict[str, list[Route]] = {}
        for route in self._routes:
            grouped.setdefault(route.route, []).append(route)
        return grouped


OPENAPI_VERSIONS = ("3.2", "3.1")


def _check_version(version: str) -> None:
    if version not in OPENAPI_VERSIONS:
        raise ValueError(f'The OpenAPI version is "3.2" or "3.1", not {version!r}.')


def _license(given: str | Mapping[str, str] | None) -> dict[str, str] | None:
    """An SPDX identifier (``"MIT"``) or a License Object (``{"name": ..., "url": ...}``)."""
    if given is None or isinstance(given, Mapping):
        return None if given is None else dict(given)
    return {"name": given, "identifier": given}


def _mounted_routes(ours: dict[int, str]) -> dict[str, str]:
    """``{registry route: route as mounted}``, found by walking the root urlconf."""
    found: dict[str, str] = {}

    def walk(entries: list[URLPattern | URLResolver], prefix: str) -> None:
        for entry in entries:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + _route_text(entry.pattern))
            elif id(entry) in ours:
                found.setdefault(ours[id(entry)], prefix + _route_text(entry.pattern))

    walk(get_resolver().url_patterns, "")
    return found


def _route_text(pattern: Any) -> str:
    text = str(pattern)
    return text.removeprefix("^").removesuffix("$") if text.startswith("^") else text
