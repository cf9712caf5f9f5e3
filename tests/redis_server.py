"""A real ``redis-server`` (Debian's package) on a free loopback port, for the topic tests.

By default it keeps an append-only file, fsynced on every write, so a restart
(``restart()``) comes back with every event, as a production Redis with persistence
does. ``restart(appendonly=False)`` brings it back empty and without persistence, as a
Redis without ``appendonly yes`` comes back. ``pause()`` stalls it (``CLIENT PAUSE``) and
``kill_clients()`` drops every client's connection (``CLIENT KILL TYPE normal``).

The server runs in a process group of its own and is stopped by group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests import processes

if TYPE_CHECKING:
    import redis

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """``redis-server`` in a subprocess: ``start()``, ``stop()``, ``restart()``."""

    def __init__(self, *extra: str) -> None:
        self.extra = list(extra)  # more redis-server options, e.g. "--requirepass", "x"
        self.dir = Path(tempfile.mkdtemp(prefix="jsonlfn-redis-"))
        self.data = self.dir / "data"  # where the running server keeps its files
        self.data.mkdir()
        self.appendonly = True
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None
        self.groups: list[int] = []  # the process group of every start
        self._starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, appendonly: bool = True) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.appendonly = appendonly
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.data), "--save", "", "--protected-mode", "no"]
        argv += ["--appendonly", "yes" if appendonly else "no", "--appendfsync", "always"]
        argv += self.extra
        self.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.groups.append(self.process.pid)
        processes.adopt(self.process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    answer = conn.recv(64)
                    if answer[:1] in (b"+", b"-") and not answer.startswith(b"-LOADING"):
                        return  # PONG, or NOAUTH: it is up (LOADING: not yet, BusyLoadingError)
                    time.sleep(0.02)
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(10)
            self.process = None

    def restart(self, down_for: float = 0.0, *, appendonly: bool = True) -> None:
        """Stop and start again; with ``appendonly`` every event written is kept
        (persistence is switched on first if it was off), without it Redis comes
        back empty."""
        if appendonly and not self.appendonly:
            self._persist()
        self.stop()
        if not appendonly:
            self._starts += 1
            self.data = self.dir / f"data-{self._starts}"  # nothing to load: empty
            self.data.mkdir()
        time.sleep(down_for)
        self.start(appendonly)

    def pause(self, seconds: float) -> None:
        """Stall every client's commands for ``seconds`` (``CLIENT PAUSE ... ALL``)."""
        with self._client() as client:
            client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")

    def kill_clients(self) -> int:
        """Close every normal client connection; returns how many were closed."""
        with self._client() as client:
            return int(client.execute_command("CLIENT", "KILL", "TYPE", "normal"))

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _persist(self) -> None:
        """Switch the append-only file on and wait until it holds the whole dataset."""
        with self._client() as client:
            client.config_set("appendonly", "yes")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                info = client.info("persistence")
                if info["aof_enabled"] and not (
                    info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]
                ):
                    return
                time.sleep(0.02)
        raise RuntimeError("redis-server did not write its append-only file")

    def _client(self) -> redis.Redis:
        import redis  # the redis extra: only the tests that stall or drop Redis need it

        return redis.Redis(port=self.port, socket_timeout=5, single_connection_client=True)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
