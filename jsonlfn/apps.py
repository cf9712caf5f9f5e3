"""The Django app (``"jsonlfn"`` in ``INSTALLED_APPS``): system checks and commands."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class JsonlfnConfig(AppConfig):
    name = "jsonlfn"
    verbose_name = "jsonlfn"

    def ready(self) -> None:
        checks.register(check_settings, "jsonlfn")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check``: every mistake in ``settings.JSONLFN``, with what to write."""
    from jsonlfn._settings import problems  # noqa: PLC0415 - settings are ready by now

    return [checks.Error(problem, id="jsonlfn.E001") for problem in problems()]
