"""The benchmark project with `django-admin startproject`'s seven ``MIDDLEWARE`` (real
``django.contrib`` apps, SQLite), on both serving paths."""

import os

os.environ["JSONLFN_BENCH_MIDDLEWARE"] = "1"  # read when django_project configures Django

from tests.bench.django_project import application, direct_application

__all__ = ["application", "direct_application"]
