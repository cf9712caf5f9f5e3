"""The Django app (``"jsonlfn"`` in ``INSTALLED_APPS``): system checks and commands."""

from __future__ import annotations

import importlib.util
from typing import Any

from django.apps import AppConfig
from django.core import checks


class JsonlfnConfig(AppConfig):
    name = "jsonlfn"
    verbose_name = "jsonlfn"

    def ready(self) -> None:
        checks.register(check_settings, "jsonlfn")
        checks.register(check_topics_store, "jsonlfn")
        checks.register(check_io_free_middleware, "jsonlfn")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check``: every mistake in ``settings.JSONLFN``, with what to write."""
    from jsonlfn._settings import problems  # noqa: PLC0415 - settings are ready by now

    return [checks.Error(problem, id="jsonlfn.E001") for problem in problems()]


def check_topics_store(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check``: a Redis in ``TOPICS`` that refuses jsonlfn's credentials (a
    configuration error; told when Redis can be reached at check time)."""
    from jsonlfn._settings import conf  # noqa: PLC0415 - settings are ready by now

    url = conf().TOPICS
    if url == "memory" or importlib.util.find_spec("redis") is None:
        return []
    from jsonlfn._topics._redis import credentials_problem  # noqa: PLC0415 - the redis extra

    problem = credentials_problem(url)
    return [] if problem is None else [checks.Error(problem, id="jsonlfn.E002")]


def check_io_free_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check``: ``IO_FREE_MIDDLEWARE`` entries that cannot be run in the loop."""
    from jsonlfn._http._inloop import declared_problems  # noqa: PLC0415 - settings are ready
    from jsonlfn._settings import conf  # noqa: PLC0415 - settings are ready by now

    problems = declared_problems(list(conf().IO_FREE_MIDDLEWARE))
    return [checks.Error(problem, id="jsonlfn.E003") for problem in problems]
