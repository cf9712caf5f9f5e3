"""tests.urls plus the streams of tests/startproject_streams.py."""

from django.urls import include, path

from tests.startproject_streams import registry
from tests.urls import urlpatterns as base

urlpatterns = [path("", include(registry.urls())), *base]
