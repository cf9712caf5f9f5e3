"""Scenario F's processes: redis-server, the uvicorn server, the publisher, the clients.

See ``tests.bench.fanout``, which drives them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tests.bench.fanout_client import serve
from tests.bench.run import ROOT, TICK, open_stream, read_chunked


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    path: str
    redis_topics: bool  # the server's TOPICS is the bench's Redis
    publisher: str  # "server" (the in-process backend) or "process"


VARIANTS = {
    "memory": Variant(
        "jsonlfn, in-process topic, subscription()", "/fanout/ticks/", False, "server"
    ),
    "iterated": Variant(
        "jsonlfn, in-process topic, async for", "/fanout/iterated/", False, "server"
    ),
    "bare": Variant("bare ASGI floor, in-process", "/fanout/bare/", False, "server"),
    "redis": Variant("jsonlfn, Redis topic", "/fanout/ticks/", True, "process"),
    "hand": Variant("hand-written XREAD loop", "/fanout/handwritten/", False, "process"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(process: subprocess.Popen[Any]) -> float:
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_for_port(port: int, process: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server without persistence: the bench measures delivery, not disks."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--protected-mode", "no", "--tcp-backlog", "4096"]
    argv += ["--maxclients", "15000"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    wait_for_port(port, process, "redis-server")
    return process, f"redis://127.0.0.1:{port}/0"


def bench_env(variant: Variant, redis_url: str) -> dict[str, str]:
    topics = redis_url if variant.redis_topics else "memory"
    return {**os.environ, "JSONLFN_BENCH_TOPICS": topics, "JSONLFN_BENCH_REDIS": redis_url}


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.bench.fanout_project:application"]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    command += ["--no-access-log", "--log-level", "warning", "--app-dir", str(ROOT)]
    command += ["--backlog", "8192"]  # the kernel caps it at net.core.somaxconn
    process = subprocess.Popen(command, env=env)
    wait_for_port(port, process, "uvicorn")
    return process, port


class Publisher:
    """Publishes ``rate`` events/s for ``seconds``: in the server, or a process of its own."""

    def __init__(self, port: int, env: dict[str, str] | None) -> None:
        self.port, self.process = port, None
        if env is not None:
            command = [sys.executable, "-m", "tests.bench.fanout_project"]
            pipe = subprocess.PIPE
            self.process = subprocess.Popen(command, env=env, stdin=pipe, stdout=pipe, text=True)
            self._answer()

    def publish(self, rate: float, seconds: float) -> dict[str, Any]:
        if self.process is None:
            return asyncio.run(self._in_server(rate, seconds))
        assert self.process.stdin is not None
        self.process.stdin.write(f"{rate} {seconds}\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    async def _in_server(self, rate: float, seconds: float) -> dict[str, Any]:
        reader, writer = await open_stream(
            self.port, f"/fanout/publish/?rate={rate}&seconds={seconds}"
        )
        found: list[bytes] = []
        await read_chunked(reader, found.append)
        writer.close()
        answer: dict[str, Any] = json.loads(b"".join(found))
        return answer

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


class Clients:
    """The client processes, each holding its share of the subscribers."""

    def __init__(self, count: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(count):
            mine, theirs = spawn.Pipe()
            process = spawn.Process(target=serve, args=(theirs,), daemon=True)
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)

    def ask(self, *commands: tuple[Any, ...]) -> list[dict[str, Any]]:
        """Send each pipe its command (one for all, or one each), gather the answers."""
        each = commands if len(commands) == len(self.pipes) else commands * len(self.pipes)
        for pipe, command in zip(self.pipes, each, strict=True):
            pipe.send(command)
        return [pipe.recv() for pipe in self.pipes]

    def connect(self, port: int, path: str, n: int) -> None:
        shares = [n // len(self.pipes) + (i < n % len(self.pipes)) for i in range(len(self.pipes))]
        answers = self.ask(*(("connect", port, path, share) for share in shares))
        opened = sum(a["open"] for a in answers)
        if opened < n:
            raise RuntimeError(f"{opened} of {n} subscribers connected: {answers}")

    def drop(self) -> None:
        """Close every subscriber (before the next server)."""
        self.ask(("drop",))

    def close(self) -> None:
        self.ask(("exit",))
        for process in self.processes:
            process.join(5)
