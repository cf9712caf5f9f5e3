from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

from jsonlfn._settings import Conf, conf


def test_defaults() -> None:
    with override_settings(JSONLFN=None):
        assert conf() == Conf()
        assert conf().SEND_TIMEOUT == 60.0


def test_overrides_are_read_again() -> None:
    with override_settings(JSONLFN={"PING_INTERVAL": 5}):
        assert conf().PING_INTERVAL == 5
    assert conf().PING_INTERVAL is None


def test_mistakes_are_reported_by_manage_py_check_and_never_fail_a_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mistakes = {"PRIME_TIMOUT": 2, "PING_INTERVAL": "soon", "SEND_TIMEOUT": 5}
    with override_settings(JSONLFN=mistakes):
        with pytest.raises(SystemCheckError) as raised:
            call_command("check")
        report = str(raised.value)
        assert "jsonlfn.E001" in report
        assert "did you mean 'PRIME_TIMEOUT'?" in report
        assert "JSONLFN['PING_INTERVAL'] = 'soon' is invalid" in report
        assert conf() == Conf(SEND_TIMEOUT=5)  # the rest is taken, the mistakes ignored
    assert "PRIME_TIMOUT" in caplog.text  # logged when read, too


def test_a_correct_project_passes_the_check() -> None:
    with override_settings(JSONLFN={"PING_INTERVAL": 15, "JWT": {"algorithms": ["HS256"]}}):
        call_command("check")


def test_a_misspelled_setting_is_no_500() -> None:
    client = Client()
    with override_settings(JSONLFN={"PING_INTERVL": 15}):
        assert client.get("/count/?n=1", HTTP_ACCEPT="application/jsonl").status_code == 200
