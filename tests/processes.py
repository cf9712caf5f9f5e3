"""The processes tests start: each in a session of its own, stopped as a whole group, and
checked at the end of the suite (``tests/conftest.py``) for any that outlived it.

Servers such as granian and hypercorn serve from worker processes; killing only the
parent left those running after ``make test``. A worker inherits its parent's session
id even once the parent is gone, so the sessions recorded here find every one of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SESSIONS: set[int] = set()  # the session ids of the processes this test process started


def spawn(argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **options)`` leading a session (and process group) of its own."""
    process: subprocess.Popen[bytes] = subprocess.Popen(argv, start_new_session=True, **options)
    SESSIONS.add(process.pid)
    return process


def adopt(process: subprocess.Popen[Any]) -> None:
    """Check ``process``'s session too (started with ``start_new_session=True`` elsewhere)."""
    SESSIONS.add(process.pid)


def stop(process: subprocess.Popen[Any], signum: int = signal.SIGKILL) -> None:
    """Send ``signum`` to ``process``'s whole group, and wait for the process itself."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    process.wait(10)


def survivors(deadline: float = 10.0) -> list[str]:
    """The command lines of processes still in the recorded sessions (not zombies), once
    they are gone or after ``deadline`` seconds (a killed process takes a moment to end)."""
    ends = time.monotonic() + deadline
    while True:
        found = _in_sessions(SESSIONS)
        if not found or time.monotonic() > ends:
            return found
        time.sleep(0.05)


def _in_sessions(sessions: set[int]) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session in sessions and state != "Z":
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found
