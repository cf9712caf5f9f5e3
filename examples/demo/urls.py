from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from demo.events import registry

PAGE = Path(__file__).with_name("live.html")


def live(request: HttpRequest) -> HttpResponse:
    """The chat and the ticker in a browser, read with EventSource (no build step)."""
    return HttpResponse(PAGE.read_bytes(), content_type="text/html; charset=utf-8")


urlpatterns = [
    path("", include(registry.urls())),
    path("openapi.json", registry.openapi_view()),
    path("docs/", registry.docs_view()),
    path("live/", live),
]
