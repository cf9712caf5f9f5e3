"""Soak: thousands of idle streams with pings, then connect/read/disconnect cycles.

make soak   (by hand: 5000 streams for 60 s, then 10,000 cycles at concurrency 200)
tests/test_soak.py runs a small version (200 streams, 1000 cycles) in `make test`.

Runs the test project under uvicorn in its own process and reports what a server
operator watches: streams that got their first line, errors, server RSS at
start/peak/end, open fds and asyncio tasks at the end, and stream functions
finished versus started (they must be equal: no leaked generator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def server() -> Iterator[tuple[int, int]]:
    """uvicorn serving tests.asgi on a free port; yields (port, pid)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "tests.asgi:application", "--app-dir", str(ROOT)]
    command += ["--port", str(port), "--log-level", "warning", "--backlog", "8192"]
    command += ["--timeout-graceful-shutdown", "5"]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    process = subprocess.Popen(command, env=env, preexec_fn=_raise_fd_limit)  # noqa: PLW1509
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the soak server did not start") from None
                time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(30)


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def first_line(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
    await reader.readexactly(size + 2)
    return reader, writer


async def stats(port: int) -> dict[str, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stats/ HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
    raw = await reader.read()
    writer.close()
    body = raw.partition(b"\r\n\r\n")[2]
    found: dict[str, int] = json.loads(body.split(b"\r\n")[1])
    return found


async def hold_idle(port: int, count: int, seconds: float) -> dict[str, int]:
    """``count`` idle streams held for ``seconds``, reading their pings."""
    results = await asyncio.gather(
        *(first_line(port, "/soak-idle/") for _ in range(count)), return_exceptions=True
    )
    streams = [r for r in results if not isinstance(r, BaseException)]
    pings = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
        for reader, _ in streams:
            pings += reader._buffer.count(b'{"type":"ping"}')  # a count, not a parse
            reader._buffer.clear()
    for _, writer in streams:
        writer.close()
    return {"streams_ok": len(streams), "stream_errors": count - len(streams), "pings_seen": pings}


async def cycles(port: int, total: int, concurrency: int) -> dict[str, int]:
    """``total`` connect / read one line / disconnect cycles, ``concurrency`` at once."""
    errors = 0
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        nonlocal errors
        async with gate:
            try:
                _, writer = await first_line(port, "/count/?n=100000&delay=0.001")
                writer.close()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1

    await asyncio.gather(*(one() for _ in range(total)))
    return {"cycles": total, "cycle_errors": errors}


async def soak(
    port: int, pid: int, *, streams: int, seconds: float, total: int, concurrency: int
) -> dict[str, Any]:
    _raise_fd_limit()
    report: dict[str, Any] = {"rss_start": rss(pid)}
    peak = report["rss_start"]

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss(pid))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    before = await stats(port)
    report.update(await hold_idle(port, streams, seconds))
    report.update(await cycles(port, total, concurrency))
    await asyncio.sleep(1.5)  # let the server finish closing what the clients left
    after = await stats(port)
    sampler.cancel()
    report.update(rss_peak=peak, rss_end=rss(pid), before=before, after=after)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    with server() as (port, pid):
        report = asyncio.run(
            soak(
                port,
                pid,
                streams=args.streams,
                seconds=args.seconds,
                total=args.cycles,
                concurrency=args.concurrency,
            )
        )
    after = report["after"]
    mib = 1024 * 1024
    print(f"streams that got their first line: {report['streams_ok']} of {args.streams}")
    print(f"errors: {report['stream_errors']} stream, {report['cycle_errors']} cycle")
    print(f"pings seen by clients: {report['pings_seen']}")
    print(f"cycles: {report['cycles']} at concurrency {args.concurrency}")
    start, peak, end = (report[key] / mib for key in ("rss_start", "rss_peak", "rss_end"))
    print(f"server RSS MiB: start {start:.1f}, peak {peak:.1f}, end {end:.1f}")
    tasks, live = after["tasks"], after["live_streams"]
    print(f"at the end: {after['fds']} fds, {tasks} asyncio tasks, {live} live streams")
    print(f"stream functions: {after['started']} started, {after['finished']} finished")


if __name__ == "__main__":
    main()
