"""Settings of the demo project: the smallest Django set-up that serves jsonlfn streams."""

import os

SECRET_KEY = "demo-only-not-secret-but-32-bytes-or-more"  # JWTAuth() signs with it
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "demo.urls"
INSTALLED_APPS = ["jsonlfn"]  # for `manage.py jsonlfn_openapi`
MIDDLEWARE: list[str] = []
USE_TZ = True
ASGI_APPLICATION = "demo.asgi.application"  # what jsonlfn's pytest fixtures serve
# The chat topic lives in this process unless TOPICS names a Redis that every worker
# shares: `make demo TOPICS=redis://127.0.0.1:6379/0 WORKERS=2`.
JSONLFN = {"TOPICS": os.environ.get("JSONLFN_TOPICS", "memory")}
