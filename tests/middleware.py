"""Middleware of every kind (async-only, sync-only, hooks), run on both serving paths."""

import threading
from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseForbidden
from django.utils.decorators import async_only_middleware
from django.utils.deprecation import MiddlewareMixin


@async_only_middleware
def stamp(
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], Awaitable[HttpResponseBase]]:
    async def middleware(request: HttpRequest) -> HttpResponseBase:
        response = await get_response(request)
        response["X-Middleware"] = "ran"
        return response

    return middleware


def replacing(
    get_response: Callable[[HttpRequest], HttpResponseBase],
) -> Callable[[HttpRequest], HttpResponseBase]:
    """Sync-only (a plain function): answers 418 instead of the view's response when
    the request has ``X-Replace``, after the view ran."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        if "HTTP_X_REPLACE" in request.META:
            return HttpResponse("replaced", status=418)
        return response

    return middleware


class Refusing(MiddlewareMixin):
    """A ``process_view`` hook that answers 403 for requests with ``X-Refuse``, and a
    ``process_exception`` hook that answers 503 for ``RuntimeError``."""

    def process_view(
        self, request: HttpRequest, view: object, args: object, kwargs: object
    ) -> HttpResponseBase | None:
        return HttpResponseForbidden("refused") if "HTTP_X_REFUSE" in request.META else None

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponseBase | None:
        return HttpResponse("unavailable", status=503) if isinstance(exc, RuntimeError) else None


class Recording(MiddlewareMixin):
    """Sync hooks that record the thread they run in (tests/startproject_streams.THREADS)."""

    def process_request(self, request: HttpRequest) -> None:
        from tests.startproject_streams import THREADS

        THREADS["request"] = threading.current_thread().name

    def process_view(
        self, request: HttpRequest, view: object, args: object, kwargs: object
    ) -> None:
        from tests.startproject_streams import THREADS

        THREADS["view"] = threading.current_thread().name

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        from tests.startproject_streams import THREADS

        THREADS["response"] = threading.current_thread().name
        return response


class RecordingSubclass(Recording):
    """The same hooks, in a class not declared I/O-free."""
