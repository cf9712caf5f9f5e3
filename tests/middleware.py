"""A middleware that marks responses, to tell Django's handler from the direct path."""

from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import async_only_middleware


@async_only_middleware
def stamp(
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], Awaitable[HttpResponseBase]]:
    async def middleware(request: HttpRequest) -> HttpResponseBase:
        response = await get_response(request)
        response["X-Middleware"] = "ran"
        return response

    return middleware
