import gc

from demo.events import registry as demo_registry
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from tests.failing import registry as failing_registry
from tests.sse_streams import registry as sse_registry
from tests.streams import registry


def collect(request: HttpRequest) -> HttpResponse:
    """A plain Django view that runs the cyclic GC, for tests that read a server's RSS."""
    gc.collect()
    return HttpResponse(status=204)


urlpatterns = [
    path("gc/", collect),
    path("", include(registry.urls())),
    path("", include(sse_registry.urls())),
    path("", include(failing_registry.urls())),
    path("", include(demo_registry.urls())),  # the README's test snippets use the demo
    path("api/openapi.json", registry.openapi_view()),
    path("api/docs/", registry.docs_view()),
]
