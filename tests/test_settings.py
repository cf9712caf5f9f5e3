from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from jsonlfn._settings import Conf, conf


def test_defaults() -> None:
    with override_settings(JSONLFN=None):
        assert conf() == Conf()
        assert conf().SEND_TIMEOUT == 60.0


def test_overrides_are_read_again() -> None:
    with override_settings(JSONLFN={"PING_INTERVAL": 5}):
        assert conf().PING_INTERVAL == 5
    assert conf().PING_INTERVAL is None


def test_unknown_setting_names_the_known_ones() -> None:
    with (
        override_settings(JSONLFN={"PING": 5}),
        pytest.raises(
            ImproperlyConfigured, match=r"Unknown JSONLFN settings \['PING'\]; known ones are"
        ),
    ):
        conf()
