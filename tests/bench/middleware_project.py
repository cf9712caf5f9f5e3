"""The benchmark project with a typical ``MIDDLEWARE`` (CORS, security, common, CSRF,
clickjacking) in ``MIDDLEWARE``, on both serving paths."""

import os

os.environ["JSONLFN_BENCH_MIDDLEWARE"] = "1"  # read when django_project configures Django

from tests.bench.django_project import application, direct_application

__all__ = ["application", "direct_application"]
