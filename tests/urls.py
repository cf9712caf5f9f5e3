from django.urls import include, path

from tests.streams import registry

urlpatterns = [path("", include(registry.urls()))]
