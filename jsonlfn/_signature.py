"""Checks that a stream function can accept what jsonlfn will pass to it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

from jsonlfn._errors import SpecError
from jsonlfn._spec import describe

# Django's `path()` syntax: <converter:name> or <name>.
PATH_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def path_parameters(route: str) -> dict[str, str]:
    """``{name: converter}`` for each ``<converter:name>`` in a Django route."""
    return {m["name"]: m["converter"] or "str" for m in PATH_PARAMETER.finditer(route)}


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (directly or via ``**kwargs``)."""
    for param in inspect.signature(fn).parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            return True
        if param.name == name and param.kind is not inspect.Parameter.POSITIONAL_ONLY:
            return True
    return False


def require_keyword(fn: Callable[..., Any], name: str, source: str) -> None:
    """Raise ``SpecError`` unless ``fn`` accepts the keyword ``name`` that ``source`` passes."""
    if not accepts(fn, name):
        raise SpecError(
            f"{source} passes `{name}=` to {describe(fn)}, which has no such parameter; "
            f"add `{name}` to its signature."
        )


def check_call(fn: Callable[..., Any], supplied: Iterable[str], route: str) -> None:
    """Raise ``SpecError`` unless ``fn(request, **supplied)`` binds every parameter."""
    params = list(inspect.signature(fn).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in positional:
        raise SpecError(
            f"{describe(fn)} must take the request as its first positional parameter, "
            "e.g. `async def events(request, ...)`."
        )
    given = set(supplied)
    for param in params[1:]:
        required = param.default is inspect.Parameter.empty
        variadic = param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        if required and not variadic and param.name not in given:
            raise SpecError(
                f"{describe(fn)} has a parameter `{param.name}` that nothing supplies on "
                f"route {route!r}: add a path converter <...:{param.name}>, a decorator such "
                "as @query(...), or a default value."
            )
