from django.urls import include, path

from demo.events import registry

urlpatterns = [
    path("", include(registry.urls())),
    path("openapi.json", registry.openapi_view()),
    path("docs/", registry.docs_view()),
]
