"""The jsonlfn benchmark: `make bench` (or `python -m tests.bench.run --help`).

Starts one uvicorn process (uvloop + httptools, one worker) per server under test and
measures them interleaved, five repetitions by default, reporting medians:

  A  one long stream: items/s and the server's CPU µs per item
  B  many short streams (10 items) under concurrent load: req/s, p50, p99
  C  1000 idle streams: server RSS per connection, warm and cold (jsonlfn with and
     without pings, and with Accept-Encoding: gzip; cold is the first hold: true cold
     with --scenarios C only)
  D  time to first byte
  E  latency of a slow producer (one item per 10 ms): yield -> client, p50/p99
  F  topic fan-out to 1,000 and 5,000 subscribers: tests/bench/fanout.py (its own table)
  G  scenario A for a client that accepts gzip: items/s, CPU µs and wire bytes per item

The "SSE" rows are the same jsonlfn endpoints read as Server-Sent Events (Accept:
text/event-stream): their A is compared with jsonlfn's JSON Lines A, their B likewise.

Prints one table with ratios against plain Django (the MIDDLEWARE rows: against plain
Django with the same MIDDLEWARE) and writes the numbers as JSON.
By hand only: this is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Server:
    """A server under test: its ASGI app, and the path of each scenario it takes part in."""

    name: str
    app: str
    paths: dict[str, str]
    needs: str = ""  # a module that must be importable
    root: Path = ROOT  # the tree whose jsonlfn and tests.bench it imports
    headers: str = ""  # request header lines, e.g. "Accept: text/event-stream\r\n"
    item_end: bytes = b"\n"  # what ends one item on the wire (SSE: a blank line)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> None:
        # Bind by port, not --fd: uvicorn wraps an inherited fd as AF_UNIX, so asyncio
        # never sets TCP_NODELAY and every short response stalls ~40 ms on delayed ACKs.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [sys.executable, "-m", "uvicorn", self.app, "--port", str(self.port)]
        command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        command += ["--log-level", "warning", "--backlog", "4096", "--app-dir", str(self.root)]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss_bytes(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")


SSE_HEADERS = "Accept: text/event-stream\r\n"
GZIP_HEADERS = "Accept-Encoding: gzip\r\n"  # what browsers, httpx and requests send


def servers() -> list[Server]:
    django = "tests.bench.django_project:application"
    found = [
        Server(
            "plain Django",
            django,
            {
                "A": "/plain/items/",
                "B": "/plain/items/",
                "C": "/plain/idle/",
                "D": "/plain/items/",
                "E": "/plain/slow/",
            },
        ),
        Server(
            "jsonlfn",
            django,
            {
                "A": "/jsonlfn/items/",
                "B": "/jsonlfn/items/",
                "C": "/jsonlfn/idle/",
                "D": "/jsonlfn/items/",
                "E": "/jsonlfn/slow/",
                "G": "/jsonlfn/items/",
            },
        ),
        Server(
            "jsonlfn, direct ASGI",
            "tests.bench.django_project:direct_application",
            {
                "A": "/jsonlfn/items/",
                "B": "/jsonlfn/items/",
                "C": "/jsonlfn/idle/",
                "D": "/jsonlfn/items/",
                "E": "/jsonlfn/slow/",
                "G": "/jsonlfn/items/",
            },
        ),
        Server(
            "jsonlfn, SSE",
            django,
            {"A": "/jsonlfn/items/", "B": "/jsonlfn/items/"},
            headers=SSE_HEADERS,
            item_end=b"\n\n",
        ),
        Server(
            "jsonlfn, direct ASGI, SSE",
            "tests.bench.django_project:direct_application",
            {"A": "/jsonlfn/items/", "B": "/jsonlfn/items/"},
            headers=SSE_HEADERS,
            item_end=b"\n\n",
        ),
        # startproject's MIDDLEWARE (tests.bench.middleware_project): their ratios are
        # against plain Django with the same MIDDLEWARE.
        Server(
            "plain Django, MIDDLEWARE",
            "tests.bench.middleware_project:application",
            {"B": "/plain/items/", "D": "/plain/items/"},
        ),
        Server(
            "jsonlfn, MIDDLEWARE",
            "tests.bench.middleware_project:application",
            {"B": "/jsonlfn/items/", "D": "/jsonlfn/items/"},
        ),
        Server(
            "jsonlfn, direct ASGI, MIDDLEWARE",
            "tests.bench.middleware_project:direct_application",
            {"B": "/jsonlfn/items/", "D": "/jsonlfn/items/"},
        ),
        Server("jsonlfn, pings on", django, {"C": "/jsonlfn/idle-pinged/"}),
        Server("jsonlfn, gzip", django, {"C": "/jsonlfn/idle/"}, headers=GZIP_HEADERS),
        Server(
            "jsonlfn, direct ASGI, gzip",
            "tests.bench.django_project:direct_application",
            {"C": "/jsonlfn/idle/"},
            headers=GZIP_HEADERS,
        ),
        Server("jsonlfn, validate=False", django, {"A": "/jsonlfn/items-unvalidated/"}),
        # What the direct path keeps of Django's handler, and none of jsonlfn's stream
        # work: the floor of a direct-path request (tests/bench/django_floor.py).
        Server(
            "Django's per-request work alone",
            "tests.bench.django_floor:application",
            {"B": "/", "D": "/"},
        ),
        Server("bare ASGI, a message per line", "tests.bench.bare:per_line", {"A": "/", "B": "/"}),
        Server(
            "bare ASGI, 64 KiB messages",
            "tests.bench.bare:coalesced",
            {"A": "/", "B": "/", "D": "/"},  # D: the server's own time to the first byte
        ),
        Server(
            "FastAPI",
            "tests.bench.peers:fastapi_app",
            {"A": "/items/", "B": "/items/", "E": "/slow/"},
            "fastapi",
        ),
        Server(
            "Litestar",
            "tests.bench.peers:litestar_app",
            {"A": "/items/", "B": "/items/", "D": "/items/", "E": "/slow/"},
            "litestar",
        ),
        Server(
            "Litestar, MIDDLEWARE",
            "tests.bench.peers:litestar_middleware_app",
            {"B": "/items/", "D": "/items/"},
            "litestar",
        ),
    ]
    return [s for s in found if not s.needs or importlib.util.find_spec(s.needs) is not None]


# --- raw HTTP/1.1 client pieces ------------------------------------------------------


async def open_stream(
    port: int, path: str, extra: str = ""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def read_chunked(
    reader: asyncio.StreamReader, on_data: Callable[[bytes], None] | None = None
) -> int:
    """Read a chunked body to its end; returns its size."""
    total = 0
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return total
        total += size
        if on_data is not None:
            on_data(data[:-2])


# --- scenarios -----------------------------------------------------------------------


async def scenario_a(server: Server, n: int) -> dict[str, float]:
    reader, writer = await open_stream(server.port, f"{server.paths['A']}?n={n}", server.headers)
    lines = 0
    end = server.item_end  # whole items per chunk: one batch of events never splits

    def count(data: bytes) -> None:
        nonlocal lines
        lines += data.count(end)

    elapsed, cpu = await _timed_read(server, reader, writer, count)
    if lines != n:
        raise RuntimeError(f"{server.name}: {lines} lines instead of {n}")
    return {"items_per_s": n / elapsed, "cpu_us_per_item": cpu / n * 1e6}


async def _timed_read(
    server: Server,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    on_data: Callable[[bytes], None],
) -> tuple[float, float]:
    """Read a chunked body to its end: wall seconds, and the server's CPU seconds."""
    cpu, began = server.cpu_seconds(), time.perf_counter()
    await read_chunked(reader, on_data)
    elapsed, cpu = time.perf_counter() - began, server.cpu_seconds() - cpu
    writer.close()
    return elapsed, cpu


async def scenario_g(server: Server, n: int) -> dict[str, float]:
    path = f"{server.paths['G']}?n={n}"
    reader, writer = await open_stream(server.port, path, "Accept-Encoding: gzip\r\n")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    lines = wire = 0

    def count(data: bytes) -> None:
        nonlocal lines, wire
        wire += len(data)
        lines += decoder.decompress(data).count(b"\n")

    elapsed, cpu = await _timed_read(server, reader, writer, count)
    if lines != n:
        raise RuntimeError(f"{server.name}: {lines} gzip lines instead of {n}")
    return {
        "gzip_items_per_s": n / elapsed,
        "gzip_cpu_us_per_item": cpu / n * 1e6,
        "gzip_wire_bytes_per_item": wire / n,
    }


def scenario_b(server: Server, seconds: float, connections: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{server.port}{server.paths['B']}?n=10"
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, server.headers)
    path = server.paths["B"] + "?n=10"
    return asyncio.run(_load(server.port, path, seconds, connections, server.headers))


def _wrk(url: str, seconds: float, connections: int, headers: str = "") -> dict[str, float]:
    named = [arg for line in headers.splitlines() if line for arg in ("-H", line)]
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            *named,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.M)
        assert match, out
        return float(match[1]) * unit[match[2]]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    return {"req_per_s": float(rps[1]), "p50_ms": latency("50"), "p99_ms": latency("99")}


async def _load(
    port: int, path: str, seconds: float, connections: int, headers: str = ""
) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            writer.write(request)
            await reader.readuntil(b"\r\n\r\n")
            await read_chunked(reader)
            latencies.append((time.perf_counter() - began) * 1e3)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {"req_per_s": len(latencies) / elapsed, "p50_ms": cuts[49], "p99_ms": cuts[98]}


async def scenario_c(server: Server, count: int) -> dict[str, float]:
    """RSS per idle stream, cold (the first ``count`` streams the server holds: its heap
    grows) and warm (the next ``count``, in the heap the first left)."""
    await asyncio.sleep(0.5)
    cold = server.rss_bytes()
    held = await _idle_streams(server, count)  # warm-up: every server's heap has grown once
    before = server.rss_bytes()
    after = await _idle_streams(server, count)
    return {
        "rss_per_conn_kib": (after - before) / count / 1024,
        "cold_rss_per_conn_kib": (held - cold) / count / 1024,
    }


async def _idle_streams(server: Server, count: int) -> int:
    """Hold ``count`` idle streams (first line read), return the server's RSS, close them."""
    await asyncio.sleep(0.5)
    streams = []
    for _ in range(count):
        reader, writer = await open_stream(server.port, server.paths["C"], server.headers)
        size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
        await reader.readexactly(size + 2)
        streams.append(writer)
    await asyncio.sleep(0.5)
    rss = server.rss_bytes()
    for writer in streams:
        writer.close()
    await asyncio.sleep(1.0)
    return rss


async def scenario_d(server: Server, requests: int) -> dict[str, float]:
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            f"GET {server.paths['D']}?n=1 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        await reader.readuntil(b"\r\n")  # the first chunk's size line: body bytes follow
        times.append((time.perf_counter() - began) * 1e3)
        await reader.read()
        writer.close()
    return {"ttfb_ms": statistics.median(times)}


async def scenario_e(server: Server, items: int) -> dict[str, float]:
    reader, writer = await open_stream(server.port, f"{server.paths['E']}?n={items}")
    delays: list[float] = []
    pending = b""

    def on_data(data: bytes) -> None:
        nonlocal pending
        now = time.time()
        pending += data
        *complete, pending = pending.split(b"\n")
        delays.extend((now - json.loads(line)["t"]) * 1e3 for line in complete)

    await read_chunked(reader, on_data)
    writer.close()
    cuts = statistics.quantiles(delays, n=100)
    return {"latency_p50_ms": cuts[49], "latency_p99_ms": cuts[98]}


# --- orchestration -------------------------------------------------------------------


def measure(
    all_servers: list[Server], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {s.name: {} for s in all_servers}

    def record(server: Server, numbers: dict[str, float]) -> None:
        for key, value in numbers.items():
            results[server.name].setdefault(key, []).append(value)

    wanted = set(args.scenarios)
    for rep in range(args.repeat):
        for server in all_servers:  # interleaved: every server once per repetition
            print(f"  repetition {rep + 1}/{args.repeat}: {server.name}", file=sys.stderr)
            paths = {k: v for k, v in server.paths.items() if k in wanted}
            if "A" in paths:
                asyncio.run(scenario_a(server, 2000))  # warm-up
                record(server, asyncio.run(scenario_a(server, args.items)))
            if "B" in paths:
                record(server, scenario_b(server, args.seconds, args.connections))
            if "C" in paths and rep == 0:
                record(server, asyncio.run(scenario_c(server, args.idle)))
            if "D" in paths:
                record(server, asyncio.run(scenario_d(server, 100)))
            if "E" in paths and rep == 0:
                record(server, asyncio.run(scenario_e(server, 200)))
            if "G" in paths:
                record(server, asyncio.run(scenario_g(server, args.items)))
    return results


COLUMNS = [
    ("A items/s", "items_per_s", "{:,.0f}", True),
    ("A CPU µs/item", "cpu_us_per_item", "{:.2f}", False),
    ("B req/s", "req_per_s", "{:,.0f}", True),
    ("B p50 ms", "p50_ms", "{:.2f}", False),
    ("B p99 ms", "p99_ms", "{:.2f}", False),
    ("C KiB/idle conn", "rss_per_conn_kib", "{:.1f}", False),
    ("C cold KiB/idle conn", "cold_rss_per_conn_kib", "{:.1f}", False),
    ("D TTFB ms", "ttfb_ms", "{:.2f}", False),
    ("E p50 ms", "latency_p50_ms", "{:.2f}", False),
    ("E p99 ms", "latency_p99_ms", "{:.2f}", False),
    ("G gzip items/s", "gzip_items_per_s", "{:,.0f}", True),
    ("G CPU µs/item", "gzip_cpu_us_per_item", "{:.2f}", False),
    ("G wire B/item", "gzip_wire_bytes_per_item", "{:.1f}", False),
]


def table(medians: dict[str, dict[str, float]]) -> str:
    header = ["server", *(title for title, *_ in COLUMNS)]
    rows = [header, ["---"] * len(header)]
    for name, numbers in medians.items():
        base_name = "plain Django, MIDDLEWARE" if "MIDDLEWARE" in name else "plain Django"
        base = medians.get(base_name, medians["plain Django"])
        row = [name]
        for _, key, fmt, _higher in COLUMNS:
            if key not in numbers:
                row.append("")
                continue
            cell = fmt.format(numbers[key])
            if key in base and name != base_name and base[key]:
                cell += f" ({numbers[key] / base[key]:.2f}x)"
            row.append(cell)
        rows.append(row)
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scenarios", default="ABCDEG", help="which to run, e.g. AC")
    parser.add_argument(
        "--servers",
        default="",
        help="only servers whose names contain one of these, e.g. 'direct,Litestar'",
    )
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="B: load duration")
    parser.add_argument("--connections", type=int, default=64, help="B: concurrency")
    parser.add_argument("--idle", type=int, default=1000, help="C: idle connections")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the jsonlfn servers from this checkout (e.g. a `git worktree` of "
        "main), interleaved with this tree's: before/after numbers from one run",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "tests" / "artifacts" / "bench.json")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    wanted = [w for w in args.servers.split(",") if w] or [""]
    all_servers = [
        s
        for s in servers()
        if set(s.paths) & set(args.scenarios)
        and (s.name.startswith("plain Django") or any(w in s.name for w in wanted))
    ]
    if args.baseline:
        all_servers += [
            dataclasses.replace(s, name=f"{s.name} (baseline)", root=args.baseline.resolve())
            for s in all_servers
            if s.name.startswith("jsonlfn") and not s.headers  # main may not speak SSE
        ]
    try:
        for server in list(all_servers):
            try:
                server.start()
            except RuntimeError as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                server.stop()
                all_servers.remove(server)
        results = measure(all_servers, args)
    finally:
        for server in all_servers:
            server.stop()
    medians = {
        name: {k: statistics.median(v) for k, v in nums.items()} for name, nums in results.items()
    }
    print(table(medians))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"medians": medians, "runs": results}, indent=2))
    print(f"\nwrote {args.json}; B used {'wrk' if shutil.which('wrk') else 'the asyncio client'}")


if __name__ == "__main__":
    main()
