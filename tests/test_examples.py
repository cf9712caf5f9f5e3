"""The example project: its manage.py works, and its endpoints serve (tests/test_docs.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import EXAMPLES
from tests.wire import fetch


def in_examples(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in examples/, with the demo's own settings."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_manage_py_check_passes() -> None:
    result = in_examples("manage.py", "check")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_demo_streams_over_a_raw_socket(demo_server: int) -> None:
    response = fetch(demo_server, "/api/user/events/")
    assert response.body == b'{"email":"first@example.com"}\n{"email":"second@example.com"}\n'


def test_resume_client_sees_every_event_once(demo_server: int) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "resume_client.py"), f"http://127.0.0.1:{demo_server}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.splitlines() == [f"{n} event {n}" for n in range(1, 11)]


def test_the_demos_own_tests_pass() -> None:
    """examples/test_demo.py, the README's "Testing" example, run as a user would."""
    result = in_examples("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_demo.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
