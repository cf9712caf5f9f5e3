from django.urls import include, path

from demo.events import registry

urlpatterns = [path("", include(registry.urls()))]
