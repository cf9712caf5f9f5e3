"""The direct path's URL resolution: Django's resolver, remembered per path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.urls import Resolver404, ResolverMatch, get_resolver

from jsonlfn._http._view import Methods

# Paths up to this length are remembered (so at most ``size`` x 1,024 characters held);
# longer ones are resolved each time, so that no client can fill the memory with its paths.
REMEMBERED_LENGTH = 1024


class Resolutions:
    """Django's URL resolution, remembered per path (up to ``size`` paths, then afresh).

    Resolving costs about 7 µs a request; routes are pure functions of the path, and
    a changed ``ROOT_URLCONF`` (tests) gives a new resolver, which starts afresh.
    """

    def __init__(self, routes: Mapping[Callable[..., Any], Methods], size: int = 1024) -> None:
        self._routes = routes
        self._size = size
        self._resolver: Any = None
        self._found: dict[str, ResolverMatch | None] = {}

    def match(self, path_info: str) -> ResolverMatch | None:
        """The match of a direct route, or None (another view, or a 404: Django's)."""
        resolver = get_resolver()
        if resolver is not self._resolver:
            self._resolver, self._found = resolver, {}
        try:
            found = self._found[path_info]
        except KeyError:
            found = self._resolve(resolver, path_info)
        return None if found is None else _own_copy(found)

    def _resolve(self, resolver: Any, path_info: str) -> ResolverMatch | None:
        try:
            match: ResolverMatch | None = resolver.resolve(path_info)
        except Resolver404:
            match = None
        if match is not None and match.func not in self._routes:
            match = None
        if len(path_info) > REMEMBERED_LENGTH:
            return match
        if len(self._found) >= self._size:
            self._found.clear()
        self._found[path_info] = match
        return match


def _own_copy(match: ResolverMatch) -> ResolverMatch:
    """A request's own match: a ``process_view`` hook may edit its ``kwargs`` (Django
    passes the view the dict it gave the hooks), and no other request may see that."""
    copy = ResolverMatch.__new__(ResolverMatch)
    state = copy.__dict__
    state.update(match.__dict__)
    for name in _MUTABLE:
        value = state.get(name)
        if value:
            state[name] = value.copy()
    return copy


# ResolverMatch's dicts and lists (about 1 µs to copy; the others are immutable or the view).
_MUTABLE = ("kwargs", "captured_kwargs", "extra_kwargs", "tried", "app_names", "namespaces")
