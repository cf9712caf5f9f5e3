"""ASGI entry point: `uvicorn demo.asgi:application --app-dir examples`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

django_application = get_asgi_application()  # sets Django up: models can be imported now

from demo.events import registry  # noqa: E402

# The registry's streams skip Django's handler (and its middleware); the rest, such as
# the OpenAPI document and the docs page, goes through Django as usual.
application = registry.asgi(django_application)
