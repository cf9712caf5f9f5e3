"""Scenario F of `make bench`: topic fan-out to many subscribers on one worker.

``python -m tests.bench.fanout --help``. Five servers (``--variants``), each a uvicorn
process (uvloop, httptools, one worker) serving ``tests.bench.fanout_project`` through
``registry.asgi()``:

- ``memory``, jsonlfn, in-process topic, subscription(): the stream function yields
  ``Topic.subscription()`` and jsonlfn streams the events (one wake-up per line),
  published from inside the server (a bench-only endpoint publishing at the rate asked);
- ``iterated``, jsonlfn, in-process topic, async for: ``async for event in
  Topic.subscribe(): yield event`` (two wake-ups per line), same publisher;
- ``bare``, the floor: a plain ASGI stream beside ``registry.asgi()``, no jsonlfn code,
  that the same in-process publisher hands each event's line (the bytes jsonlfn sends):
  one wake-up and one ``http.response.body`` per line;
- ``redis``, jsonlfn, Redis topic: the ``memory`` stream function on the Redis backend,
  published by a process of its own with ``Topic.publish_sync``;
- ``hand``, hand-written: one ``XREAD BLOCK`` loop per stream on its own Redis
  connection, what a user writes without topics; same Redis, same publisher.

For each server and each N, N subscribers (raw asyncio connections in a client process,
``tests.bench.fanout_client``) open their streams and get their headers; then, for each
rate (1, 2, 5, 10, 25, ... events/s), the publisher publishes for ``--seconds``, each event
stamped with ``time.time()``. Measured per window: delivery latency (publish -> line
received) p50/p99, delivered lines/s, server CPU (and Redis CPU) per delivered line
from /proc, and losses (every subscriber must get every event, within ``--drain``
seconds of the last one). The rate steps up until ``--patience`` windows in a row
fail (p99 over ``--p99-limit`` ms, or a line lost: an overloaded server batches more
lines per write, so a higher rate can hold where a lower one failed); then
``--refine`` steps bisect between the highest rate held and the next one tried. The
table shows each server at ``--at`` events/s and at its highest rate held, and the
ratio of jsonlfn Redis's deliveries/s to the hand-written loop's there. When ``bare``
ran too, each CPU µs per line comes with its ratio to the floor's at the same N and
rate ("x floor"; the goal: jsonlfn at most 1.6x), and a second table lists every
window with it. A server that cannot open all N streams within 30 s is reported as
such. By hand only: this asserts nothing.

A topic's first subscriber connects alone, the rest after it: N subscribers joining a
Redis topic that has none in this process each look it up (``XINFO STREAM``) at once,
and past redis-py's 100 pooled connections their joins fail with 503.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import math
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bench.fanout_client import BIN_S
from tests.bench.fanout_processes import (
    VARIANTS,
    Clients,
    Publisher,
    Variant,
    bench_env,
    cpu_seconds,
    start_redis,
    start_server,
)
from tests.bench.run import ROOT

Window = dict[str, Any]


def quantile(bins: dict[int, int], q: float) -> float:
    """The ``q`` quantile of a histogram of ``BIN_S`` bins, in ms (bin midpoints)."""
    total, seen = sum(bins.values()), 0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= q * total:
            return (index + 0.5) * BIN_S * 1e3
    return float("nan")


def merged(answers: list[dict[str, Any]]) -> dict[int, int]:
    bins: dict[int, int] = {}
    for answer in answers:
        for index, count in answer["bins"].items():
            bins[index] = bins.get(index, 0) + count
    return bins


class PlainRequests:
    """A plain Django request (``fanout/plain/``) every 20 ms while a window publishes:
    how responsive the worker stays while it fans out (issue 25: p99 <= 50 ms)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PlainRequests:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            while not self._stop.wait(0.02):
                began = time.perf_counter()
                connection.request("GET", "/fanout/plain/")
                connection.getresponse().read()
                self.ms.append((time.perf_counter() - began) * 1e3)
        finally:
            connection.close()

    def p99(self) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else math.nan


@dataclasses.dataclass
class Setup:
    """One server under test with its N subscribers connected."""

    variant: Variant
    n: int
    server: subprocess.Popen[bytes]
    port: int
    redis: subprocess.Popen[bytes]
    publisher: Publisher
    clients: Clients

    def window(self, rate: float, args: argparse.Namespace) -> Window:
        """Publish at ``rate`` for ``args.seconds``; what the subscribers got."""
        self.clients.connect(self.port, self.variant.path, self.n)  # replace any that ended
        self.clients.ask(("reset",))
        cpu, redis_cpu = cpu_seconds(self.server), cpu_seconds(self.redis)
        with PlainRequests(self.port) as plain:
            published = self.publisher.publish(rate, args.seconds)
        answers = self.clients.ask(("collect", published["published"], args.drain))
        cpu, redis_cpu = cpu_seconds(self.server) - cpu, cpu_seconds(self.redis) - redis_cpu
        found = summary(
            self, rate, published, answers, cpu=cpu, redis_cpu=redis_cpu, limit=args.p99_limit
        )
        found["plain_p99_ms"] = plain.p99()
        return found


def summary(
    setup: Setup,
    rate: float,
    published: dict[str, Any],
    answers: list[dict[str, Any]],
    *,
    cpu: float,
    redis_cpu: float,
    limit: float,
) -> Window:
    bins, lines = merged(answers), sum(a["lines"] for a in answers)
    found: Window = {"variant": setup.variant.name, "n": setup.n, "rate": rate}
    found |= {"published": published["published"], "publish_s": published["seconds"]}
    found["publisher_late_ms"] = published["late_ms"]
    found |= {"p50_ms": quantile(bins, 0.5), "p99_ms": quantile(bins, 0.99), "lines": lines}
    found["lines_per_s"] = lines * rate / published["published"]  # per nominal second
    found["cpu_us_per_line"] = cpu / max(lines, 1) * 1e6
    found["redis_cpu_us_per_line"] = redis_cpu / max(lines, 1) * 1e6
    for key in ("lost", "extra", "closed"):
        found[key] = sum(a[key] for a in answers)
    found["client_cpu"] = max(a["cpu"] / a["wall"] for a in answers)
    slow = published["seconds"] > 1.1 * published["published"] / rate + 0.2
    found["held"] = found["p99_ms"] <= limit and not found["lost"] and not slow
    return found


@contextlib.contextmanager
def setup(
    variant: Variant,
    n: int,
    redis: tuple[subprocess.Popen[bytes], str],
    clients: Clients,
    freeze: bool = False,
) -> Iterator[Setup]:
    """The server of ``variant`` with ``n`` subscribers connected; all stopped after."""
    env = bench_env(variant, redis[1])
    server, port = start_server(env)
    publisher = None
    try:
        publisher_env = bench_env(VARIANTS["redis"], redis[1])
        publisher = Publisher(port, publisher_env if variant.publisher == "process" else None)
        began = time.perf_counter()
        clients.connect(port, variant.path, 1)  # see "A topic's first subscriber" above
        clients.connect(port, variant.path, n)
        print(
            f"{variant.name}, N={n}: connected in {time.perf_counter() - began:.1f} s",
            file=sys.stderr,
        )
        time.sleep(1.0)  # every stream function is waiting on its first event by now
        if freeze:  # --gc-freeze: the open streams' objects leave the collector's view
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/fanout/gc-freeze/") as r:
                print(f"  gc.freeze(): {r.read().decode().strip()}", file=sys.stderr)
        yield Setup(variant, n, server, port, redis[0], publisher, clients)
    finally:
        clients.drop()
        if publisher is not None:
            publisher.stop()
        server.kill()
        server.wait()


def measured(run: Setup, rate: float, args: argparse.Namespace) -> Window:
    window = run.window(rate, args)
    print(
        f"  {rate:g}/s: p50 {window['p50_ms']:.1f} ms, p99 {window['p99_ms']:.1f} ms, "
        f"{window['lines_per_s']:,.0f} lines/s, {window['cpu_us_per_line']:.2f} µs/line, "
        f"lost {window['lost']}, client CPU {window['client_cpu']:.0%}, "
        f"publisher late by up to {window['publisher_late_ms']:.0f} ms"
        f"{'' if window['held'] else ' -- not held'}",
        file=sys.stderr,
    )
    if not window["held"]:
        time.sleep(2.0)  # let an overloaded server drain before the next window
    return window


def stepped(run: Setup, args: argparse.Namespace) -> list[Window]:
    """Windows at rising rates until ``args.patience`` fail in a row, then
    ``args.refine`` bisections above the highest rate held."""
    windows: list[Window] = []
    failures = 0
    for rate in args.rates:
        windows.append(measured(run, rate, args))
        failures = 0 if windows[-1]["held"] else failures + 1
        if failures >= args.patience:
            break
    for _ in range(args.refine):
        held = max((w["rate"] for w in windows if w["held"]), default=0.0)
        failed = min((w["rate"] for w in windows if w["rate"] > held), default=0.0)
        rate = float(round(math.sqrt(held * failed)))
        if rate in (held, failed) or not held * failed:
            break
        windows.append(measured(run, rate, args))
    if all(w["rate"] != args.at for w in windows):
        windows.append(measured(run, args.at, args))
    return windows


def row(windows: list[Window], at: float) -> dict[str, Any]:
    """One table row: the window at ``at`` events/s, and the highest rate held."""
    found: dict[str, Any] = {"variant": windows[0]["variant"], "n": windows[0]["n"]}
    if "error" in windows[0]:
        found["variant"] += " (could not open every stream)"
    found["at"] = next((w for w in windows if w["rate"] == at), None)
    held = [w for w in windows if w["held"]]
    found["best"] = max(held, key=lambda w: w["rate"]) if held else None
    return found


def _cells(window: Window | None, keys: list[tuple[str, str]]) -> list[str]:
    return [
        fmt.format(window[key]) if window and window.get(key) is not None else ""
        for key, fmt in keys
    ]


def to_floor(windows: list[list[Window]]) -> None:
    """Set each window's ``cpu_x_floor``: its CPU per line over the bare floor's at the
    same N and rate (None: the floor has no such window)."""
    floor = {
        (w["n"], w["rate"]): w["cpu_us_per_line"]
        for each in windows
        for w in each
        if w["variant"] == VARIANTS["bare"].name and w.get("lines")
    }
    for each in windows:
        for w in each:
            if "error" not in w:
                base = floor.get((w["n"], w["rate"]))
                w["cpu_x_floor"] = w["cpu_us_per_line"] / base if base else None


_MEASURES = [
    ("p50_ms", "{:.1f}"),
    ("p99_ms", "{:.1f}"),
    ("lines_per_s", "{:,.0f}"),
    ("cpu_us_per_line", "{:.2f}"),
    ("cpu_x_floor", "{:.2f}x"),
    ("redis_cpu_us_per_line", "{:.2f}"),
    ("lost", "{:,}"),
]
AT_COLUMNS = [*_MEASURES, ("plain_p99_ms", "{:.1f}"), ("client_cpu", "{:.0%}")]
BEST_COLUMNS = [("rate", "{:g}"), ("lines_per_s", "{:,.0f}"), ("p99_ms", "{:.1f}")]
BEST_COLUMNS += [("cpu_us_per_line", "{:.2f}"), ("cpu_x_floor", "{:.2f}x")]
WINDOW_COLUMNS = [("rate", "{:g}"), *_MEASURES, ("plain_p99_ms", "{:.1f}")]
WINDOW_COLUMNS += [("closed", "{:,}"), ("held", "{}")]


def table(rows: list[dict[str, Any]], at: float, limit: float) -> str:
    header = ["server", "N", *(f"{at:g}/s: {t}" for t in ("p50 ms", "p99 ms", "lines/s"))]
    header += [f"{at:g}/s: {t}" for t in ("CPU µs/line", "x floor", "Redis CPU µs/line")]
    header += [f"{at:g}/s: {t}" for t in ("lost", "plain request p99 ms", "client CPU")]
    header += [f"highest rate held, p99 ≤ {limit:g} ms (events/s)"]
    header += ["lines/s there", "p99 ms there", "CPU µs/line there", "x floor there"]
    lines = [header, ["---"] * len(header)]
    for found in rows:
        cells = [found["variant"], f"{found['n']:,}", *_cells(found["at"], AT_COLUMNS)]
        lines.append(cells + _cells(found["best"], BEST_COLUMNS))
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def windows_table(windows: list[list[Window]]) -> str:
    """Every window measured, in the order run."""
    header = ["server", "N", "events/s", "p50 ms", "p99 ms", "lines/s", "CPU µs/line"]
    header += ["x floor", "Redis CPU µs/line", "lost", "plain request p99 ms", "closed", "held"]
    lines = [header, ["---"] * len(header)]
    for each in windows:
        for w in each:
            if "error" not in w:
                lines.append([w["variant"], f"{w['n']:,}", *_cells(w, WINDOW_COLUMNS)])
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def ratios(rows: list[dict[str, Any]]) -> dict[int, float]:
    """Per N: jsonlfn Redis's deliveries/s over the hand-written loop's, each at its best."""
    best = {(r["variant"], r["n"]): r["best"] for r in rows if r["best"]}
    found = {}
    for n in sorted({r["n"] for r in rows}):
        ours, theirs = best.get((VARIANTS["redis"].name, n)), best.get((VARIANTS["hand"].name, n))
        if ours and theirs:
            found[n] = ours["lines_per_s"] / theirs["lines_per_s"]
    return found


def numbers(text: str) -> list[float]:
    return [float(word) for word in text.split(",") if word]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=numbers, default=[1000, 10000], help="subscriber counts")
    parser.add_argument("--rates", type=numbers, default=[1, 2, 5, 10, 25, 50, 100, 200, 400, 800])
    parser.add_argument("--at", type=float, default=50.0, help="the rate of the goal columns")
    parser.add_argument("--seconds", type=float, default=4.0, help="publishing per window")
    parser.add_argument("--drain", type=float, default=3.0, help="wait for late lines")
    parser.add_argument("--refine", type=int, default=2, help="bisections after a failure")
    parser.add_argument("--patience", type=int, default=2, help="failures in a row that stop")
    parser.add_argument("--p99-limit", type=float, default=100.0, help="ms")
    every = "bare,memory,iterated,redis,hand"
    parser.add_argument("--variants", default=every, help="of " + ",".join(VARIANTS))
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--quick", action="store_true", help="N=1000, 2 s windows, ~1 min")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="the servers call gc.freeze() once every stream is open (see README)",
    )
    default_json = ROOT / "tests" / "artifacts" / "bench-fanout.json"
    parser.add_argument("--json", type=Path, default=default_json)
    args = parser.parse_args()
    if args.quick:
        args.n, args.seconds, args.refine = [1000], 2.0, 0
        args.rates = [5, 25, 100, 400]
    return args


def measured_setup(
    variant: Variant,
    n: int,
    redis: tuple[subprocess.Popen[bytes], str],
    clients: Clients,
    args: argparse.Namespace,
) -> list[Window]:
    try:
        with setup(variant, n, redis, clients, args.gc_freeze) as run:
            return stepped(run, args)
    except RuntimeError as exc:  # could not open all N streams
        print(f"{variant.name}, N={n}: {exc}", file=sys.stderr)
        return [{"variant": variant.name, "n": n, "rate": 0.0, "held": False, "error": str(exc)}]


def run_all(args: argparse.Namespace) -> list[list[Window]]:
    redis = start_redis()
    clients = Clients(args.clients)
    found = []
    try:
        for n in args.n:
            for key in args.variants.split(","):
                found.append(measured_setup(VARIANTS[key], int(n), redis, clients, args))
    finally:
        clients.close()
        redis[0].kill()
        redis[0].wait()
    return found


def main() -> None:
    args = arguments()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the servers inherit it
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    began = time.perf_counter()
    windows = run_all(args)
    to_floor(windows)
    rows = [row(each, args.at) for each in windows]
    print(table(rows, args.at, args.p99_limit))
    if any(w.get("cpu_x_floor") for each in windows for w in each):
        print("\nEvery window (x floor: CPU µs/line over the bare floor's, same N and rate):\n")
        print(windows_table(windows))
    for n, ratio in ratios(rows).items():
        print(f"\nN={n:,}: jsonlfn Redis delivers {ratio:.2f}x the hand-written loop's lines/s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "windows": windows}, indent=2))
    print(f"\nwrote {args.json} ({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
