"""The real processes of a checker run: one redis-server, uvicorn workers, publishers.

Workers serve the tests' project (``tests.asgi``) through Django's handler or through
``registry.asgi()``, each on a port of its own or several on one listening socket
(``--fd``), the kernel spreading connections between them. Every process leads a
process group of its own and is stopped by group (``os.killpg``); ``Deployment.stop()``
returns the groups that still have a member afterwards (there must be none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from tests.checker.record import Publish, Recording
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = {"django": "tests.asgi:application", "direct": "tests.asgi:direct_application"}
_READY = b"Uvicorn running on"


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    app: Literal["django", "direct"]
    shared: bool  # on the shared listening socket, else on a port of its own


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Worker:
    """One uvicorn process; ``start()`` returns once it serves."""

    def __init__(self, spec: WorkerSpec, env: dict[str, str], logs: Path, shared: socket.socket):
        self.spec, self.env = spec, env
        self.log_path = logs / f"{spec.name}.log"
        self.shared = shared
        self.port: int = shared.getsockname()[1] if spec.shared else free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.groups: list[int] = []  # every group it led, for the leftover check
        self._log: IO[bytes] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "uvicorn", APPS[self.spec.app], "--no-access-log"]
        argv += ["--log-level", "info", "--timeout-graceful-shutdown", "10"]
        if self.spec.shared:
            return [*argv, "--fd", str(self.shared.fileno())]
        return [*argv, "--host", "127.0.0.1", "--port", str(self.port)]

    async def start(self) -> None:
        self._log = self.log_path.open("ab")
        offset = self._log.tell()
        fds = [self.shared.fileno()] if self.spec.shared else []
        self.process = subprocess.Popen(  # noqa: ASYNC220 - pass_fds: asyncio's has no --fd
            self.argv(), cwd=ROOT, env=self.env, stdout=self._log, stderr=self._log,
            pass_fds=fds, start_new_session=True,
        )  # fmt: skip
        self.groups.append(self.process.pid)
        await self._ready(offset)

    async def _ready(self, offset: int) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}: see {self.log_path}"
                )
            with self.log_path.open("rb") as log:
                log.seek(offset)
                if _READY in log.read():
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start in 90 s: see {self.log_path}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exited_by_itself(self) -> int | None:
        """Its exit status if it died without being told to."""
        return None if self.process is None else self.process.poll()

    async def stop(self, signum: int = signal.SIGTERM, patience: float = 30.0) -> bool:
        """Signal its group and wait; SIGKILL after ``patience``. Whether it exited in time."""
        process = self.process
        if process is None:
            return True
        signal_group(process.pid, signum)
        try:
            await asyncio.to_thread(process.wait, patience)
            in_time = True
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
            in_time = False
        self.process = None
        if self._log is not None:
            self._log.close()
        return in_time


class Publisher:
    """A ``tests.checker.publisher`` process: ``send()`` a burst, ``idle()`` waits for
    every burst sent; each attempt lands in ``recording.publishes``."""

    def __init__(self, name: str, env: dict[str, str], recording: Recording) -> None:
        self.name, self.env, self.recording = name, env, recording
        self.process: asyncio.subprocess.Process | None = None
        self.sent = self.done = 0
        self.finished = asyncio.Event()
        self.last: Publish | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.checker.publisher", self.name, cwd=ROOT, env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        self._reading = asyncio.create_task(self._read())

    def send(self, rate: float, count: int) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"rate": rate, "count": count}).encode() + b"\n")
        self.sent += 1
        self.finished.clear()

    def halt(self) -> None:
        """Stop publishing: the rest of every burst sent is skipped."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGUSR1)

    async def idle(self) -> None:
        while self.done < self.sent:
            await self.finished.wait()

    async def publish_one(self) -> Publish | None:
        self.send(1000, 1)
        await self.idle()
        return self.last

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            record = json.loads(line)
            if record.get("done"):
                self.done += 1
                if self.done == self.sent:
                    self.finished.set()
                continue
            self.last = Publish(
                (self.name, record["seq"]), "committed" if "id" in record else record["outcome"],
                record.get("id"), record.get("detail", ""), record["at"],
            )  # fmt: skip
            self.recording.publishes.append(self.last)
        self.finished.set()  # it exited: nothing more will be done

    async def stop(self) -> None:
        process = self.process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            async with asyncio.timeout(20):
                await process.wait()
        except TimeoutError:
            signal_group(process.pid, signal.SIGKILL)
            await process.wait()
        if self._reading is not None:
            await self._reading


class Deployment:
    """Redis, the workers and the publishers of one run."""

    def __init__(self, workers: tuple[WorkerSpec, ...], publishers: tuple[str, ...], logs: Path):
        self.redis = RedisServer()
        self.recording = Recording()
        self.shared = socket.socket()
        self.shared.bind(("127.0.0.1", 0))
        self.shared.listen(1024)
        env = {**os.environ, "JSONLFN_TEST_TOPICS": self.redis.url}
        env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        self.workers = {spec.name: Worker(spec, env, logs, self.shared) for spec in workers}
        self.publishers = {name: Publisher(name, env, self.recording) for name in publishers}

    @property
    def urls(self) -> dict[str, str]:
        urls = {
            w.name: f"http://127.0.0.1:{w.port}" for w in self.workers.values() if not w.spec.shared
        }
        return {**urls, "shared": f"http://127.0.0.1:{self.shared.getsockname()[1]}"}

    async def start(self) -> None:
        await asyncio.to_thread(self.redis.start)
        await asyncio.gather(*(worker.start() for worker in self.workers.values()))
        await asyncio.gather(*(publisher.start() for publisher in self.publishers.values()))

    async def stop(self) -> list[str]:
        """Stop everything; the groups that still have a member afterwards."""
        for publisher in self.publishers.values():
            with contextlib.suppress(Exception):
                await publisher.stop()
        await asyncio.gather(*(w.stop(signal.SIGKILL) for w in self.workers.values()))
        await asyncio.to_thread(self.redis.close)
        self.shared.close()
        groups = [(w.name, pid) for w in self.workers.values() for pid in w.groups]
        groups += [(p.name, p.process.pid) for p in self.publishers.values() if p.process]
        groups += [("redis-server", pid) for pid in self.redis.groups]
        return [f"{name} (group {pid})" for name, pid in groups if group_alive(pid)]
