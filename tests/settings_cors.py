"""tests.settings plus the middleware a browser-facing project runs in front of its
streams: CORS (django-cors-headers), security redirects and headers, gzip, sessions,
CSRF. Served behind a TLS proxy that sets ``X-Forwarded-Proto: https``."""

from corsheaders.defaults import default_headers

from tests.settings import *  # noqa: F403

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
CORS_ALLOWED_ORIGINS = ["https://app.example"]
CORS_ALLOW_HEADERS = (*default_headers, "last-event-id")
CORS_URLS_REGEX = r"^/(resumable|secure|count)/"  # the routes configured for CORS
SECURE_SSL_REDIRECT = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 3600
BROWSER = {  # what tests.settings lacks, for override_settings
    "MIDDLEWARE": MIDDLEWARE,
    "CORS_ALLOWED_ORIGINS": CORS_ALLOWED_ORIGINS,
    "CORS_ALLOW_HEADERS": CORS_ALLOW_HEADERS,
    "CORS_URLS_REGEX": CORS_URLS_REGEX,
    "SECURE_SSL_REDIRECT": SECURE_SSL_REDIRECT,
    "SECURE_PROXY_SSL_HEADER": SECURE_PROXY_SSL_HEADER,
    "SECURE_HSTS_SECONDS": SECURE_HSTS_SECONDS,
}
