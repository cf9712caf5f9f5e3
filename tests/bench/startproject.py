"""What ``django-admin startproject`` gives a project: its seven ``MIDDLEWARE``, the
``django.contrib`` apps they need and an SQLite database (``tests.bench.middleware_project``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]
_FOLDER = Path(tempfile.gettempdir())


def settings() -> dict[str, Any]:
    """These settings when ``JSONLFN_BENCH_MIDDLEWARE`` is set, else none."""
    if os.environ.get("JSONLFN_BENCH_MIDDLEWARE") != "1":
        return {}
    database = _FOLDER / f"jsonlfn-bench-{os.getpid()}.sqlite3"
    return {
        "MIDDLEWARE": MIDDLEWARE,
        "INSTALLED_APPS": INSTALLED_APPS,
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}},
    }


def migrate() -> None:
    """Tables as a real project has (sessions, users), in this process's database."""
    from django.core.management import call_command  # once Django is set up

    for stale in _FOLDER.glob("jsonlfn-bench-*.sqlite3"):
        pid = stale.stem.removeprefix("jsonlfn-bench-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():  # a killed server's
            stale.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
