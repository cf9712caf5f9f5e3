"""Django settings for the test suite's own project (tests/urls.py)."""

import os
import tempfile

SECRET_KEY = "tests-only-not-secret-but-long-enough-for-hs256"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "jsonlfn",
]
MIDDLEWARE: list[str] = []
# A file, not :memory:, so that Django's sync threads see the same tables.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), f"jsonlfn-tests-{os.getpid()}.sqlite3"),
    }
}
USE_TZ = True
JSONLFN = {"PRIME_TIMEOUT": 0.5, "TOPIC_JOIN_TIMEOUT": 0.25}
if "JSONLFN_TEST_TOPICS" in os.environ:  # the worker processes of tests/test_topics_live.py
    JSONLFN["TOPICS"] = os.environ["JSONLFN_TEST_TOPICS"]
LOGGING_CONFIG = None
