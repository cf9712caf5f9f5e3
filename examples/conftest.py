"""pytest set-up for the demo's own tests: Django configured with the demo's settings."""

import os

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
django.setup()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
