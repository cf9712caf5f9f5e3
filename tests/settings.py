"""Django settings for the test suite's own project (tests/urls.py)."""

SECRET_KEY = "tests-only-not-secret-but-long-enough-for-hs256"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "jsonlfn"]
MIDDLEWARE: list[str] = []
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
JSONLFN = {"PRIME_TIMEOUT": 0.5}
LOGGING_CONFIG = None
