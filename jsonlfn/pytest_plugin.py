"""jsonlfn's pytest fixtures, registered through the ``pytest11`` entry point.

* ``jsonlfn_client``: a ``StreamClient`` on the project's ASGI app (in-process, lazy).
* ``jsonlfn_live_server``: the project under uvicorn on a free loopback port (session).

The project's ASGI app is ``settings.ASGI_APPLICATION`` (a dotted path) when set, such
as an app wrapped by ``registry.asgi()``; otherwise Django's own.
* ``jwt_token``: ``jsonlfn.testing.jwt_token``, a factory of signed tokens.
* ``jsonlfn_time_scale``: call it with a factor (e.g. 0.01) to shrink every ping,
  priming and send interval for the test, so ping tests don't wait real seconds.

Django must be configured (``DJANGO_SETTINGS_MODULE``) before the fixtures are used.
With pytest-django, ``jsonlfn_client`` needs ``transactional_db`` (or
``@pytest.mark.django_db(transaction=True)``), not ``db``: see ``_DB_ROLLBACK``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

_DB_ROLLBACK = (
    "jsonlfn_client cannot be used with pytest-django's `db` fixture or a plain "
    "`@pytest.mark.django_db`: stream functions run their async ORM queries on another "
    "thread's database connection, outside the test's transaction, so what they write "
    "would not be rolled back. Use the `transactional_db` fixture, or "
    "`@pytest.mark.django_db(transaction=True)`, which empties the tables after the test."
)


def _refuse_rolled_back_db(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("django_db")
    transaction = False
    if marker is not None:
        transaction = bool(
            marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
        )
    in_transaction = "db" in request.fixturenames or (marker is not None and not transaction)
    if in_transaction and "transactional_db" not in request.fixturenames and not transaction:
        pytest.fail(_DB_ROLLBACK, pytrace=False)


@pytest.fixture
def jsonlfn_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    _refuse_rolled_back_db(request)
    from django.conf import settings  # noqa: PLC0415 - Django is configured by now
    from django.test import override_settings  # noqa: PLC0415

    from jsonlfn.testing import StreamClient  # noqa: PLC0415

    # Its requests say "Host: testserver", which Django's test runner allows the same way.
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        yield StreamClient()


@pytest.fixture(scope="session")
def jsonlfn_live_server() -> Iterator[Any]:
    from jsonlfn.testing import LiveServer, project_application  # noqa: PLC0415

    server = LiveServer(project_application())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def jwt_token() -> Callable[..., str]:
    from jsonlfn.testing import jwt_token  # noqa: PLC0415

    return jwt_token


@pytest.fixture
def jsonlfn_time_scale() -> Iterator[Callable[[float], None]]:
    from django.conf import settings  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415

    overrides: list[Any] = []

    def scale(factor: float) -> None:
        current = dict(getattr(settings, "JSONLFN", None) or {})
        override = override_settings(JSONLFN={**current, "TIME_SCALE": factor})
        override.enable()
        overrides.append(override)

    yield scale
    for override in reversed(overrides):
        override.disable()
