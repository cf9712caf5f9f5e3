"""tests.settings plus django-cors-headers for a page on another 127.0.0.1 port reading
``/sse/`` streams with ``new EventSource(url, {withCredentials: true})``."""

from corsheaders.defaults import default_headers

from tests.settings import *  # noqa: F403

MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware"]
CORS_ALLOWED_ORIGIN_REGEXES = [r"^http://127\.0\.0\.1:\d+$"]
CORS_ALLOW_CREDENTIALS = True  # withCredentials: cookies go along, and must be allowed
CORS_ALLOW_HEADERS = (*default_headers, "last-event-id")  # a reconnection sends it
CORS_URLS_REGEX = r"^/sse/"
