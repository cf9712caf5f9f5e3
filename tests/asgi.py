"""The test project as an ASGI app, for tests that need uvicorn in its own process."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()


def _direct() -> object:
    from demo.events import registry as demo_registry

    from tests.failing import registry as failing_registry
    from tests.sse_streams import registry as sse_registry
    from tests.streams import registry

    return registry.asgi(sse_registry.asgi(failing_registry.asgi(demo_registry.asgi(application))))


direct_application = _direct()  # the same project through registry.asgi()
