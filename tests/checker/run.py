"""One checker run: start the processes, play the schedule, drain, and give the verdict.

The drain: once the schedule has run (every fault over, every worker back), the
publishers stop, the clients that were to leave are stopped, and a publisher of its
own publishes one event at a time until every live client has got the newest one,
which is then the topic's last committed event. A client that never gets there within
``Schedule.drain`` seconds has a silent tail.
"""

from __future__ import annotations

import asyncio
import functools
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio

from tests.checker import schedule as ops
from tests.checker.check import check
from tests.checker.clients import Client, Context, Endpoints
from tests.checker.processes import Deployment
from tests.checker.record import Key, Window, key
from tests.checker.result import Result
from tests.checker.schedule import Schedule

# The topic's Redis stream, as the README documents it ("Each topic is a Redis stream,
# jsonlfn:{topics}:<name>"), for asking Redis whether a 410's id was really gone.
TRADES_KEY = "jsonlfn:{topics}:trades"

_STUCK = 30.0  # seconds a probe (or a storm's joins) may take while events flow


async def run(
    schedule: Schedule, logs: Path, progress: Callable[[str], object] = lambda line: None
) -> Result:
    """Run ``schedule`` against real processes (their logs go to ``logs``); ``progress``
    gets a line as each operation starts."""
    deployment = Deployment(schedule.workers, schedule.publishers, logs)
    started = time.monotonic()
    try:
        await deployment.start()
        play = Play(schedule, deployment, progress)
        try:
            await play.run()
        finally:
            await play.close()
    finally:
        leftovers = await deployment.stop()
    verdict = check(deployment.recording)
    with (logs / "violations.txt").open("w") as out:
        out.writelines(f"{violation}\n" for violation in verdict.violations)
    return Result(
        schedule, verdict, play.ran, play.coverage, leftovers,
        time.monotonic() - started, logs,
    )  # fmt: skip


class Play:
    """Plays a schedule's operations against a deployment, with its clients."""

    def __init__(
        self, schedule: Schedule, deployment: Deployment, progress: Callable[[str], object]
    ) -> None:
        self.schedule, self.deployment, self.progress = schedule, deployment, progress
        self.recording = deployment.recording
        self.endpoints = Endpoints(deployment.urls, idle=schedule.idle)
        timeout = httpx.Timeout(10.0, read=None)  # topics send no pings: wait for events
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        self.http = httpx.AsyncClient(timeout=timeout, limits=limits)
        self.redis = redis.asyncio.Redis.from_url(
            deployment.redis.url, socket_timeout=1, socket_connect_timeout=1
        )
        self.context = Context(self.http, self.endpoints, self.recording, self.held)
        self.followers: list[Client] = []
        self.following: set[asyncio.Task[None]] = set()
        self.leaving: set[asyncio.Task[None]] = set()  # clients that leave by themselves
        self.restarting: dict[str, asyncio.Task[None]] = {}
        self.coverage: Counter[str] = Counter()
        self.ran: list[float] = []  # when each operation started
        self.names: Counter[str] = Counter()

    async def run(self) -> None:
        start = self.recording.epoch = time.monotonic()
        for op in self.schedule.ops:
            await asyncio.sleep(start + op.at - time.monotonic())
            self.ran.append(time.monotonic() - start)
            self.progress(f"{self.ran[-1]:7.2f}s  {op}")
            await self.do(op)
        await self.drain()

    async def do(self, op: ops.Op) -> None:
        match op:
            case ops.Burst():
                self.deployment.publishers[op.publisher].send(op.rate, op.count)
            case ops.Follow():
                for _ in range(op.clients):
                    follower = self.client("f")
                    self._follow(follower, follower.follow(op.hop))
                for _ in range(op.library):
                    follower = self.client("l")
                    self._follow(follower, follower.follow_with_library("shared"))
            case ops.Read():
                for _ in range(op.clients):
                    self._leave(self.client("r").read(op.cycles, op.k))
            case ops.Probe():
                await self.probe(op)
            case ops.Storm():
                await self.storm(op)
            case ops.Kill():
                await self.kill(op.worker, getattr(signal, op.signal), op.down_for)
            case ops.RestartRedis():
                restart = functools.partial(self.deployment.redis.restart, appendonly=op.appendonly)
                await self.fault("restart", restart, op.down_for)
            case ops.PauseRedis():
                await self.fault(
                    "pause", self.deployment.redis.pause, op.seconds, lasting=op.seconds
                )
            case ops.DropConnections():
                await self.fault("drop", self.deployment.redis.kill_clients)

    def client(self, kind: str) -> Client:
        name = f"{kind}{self.names[kind]}"
        self.names[kind] += 1
        return Client(name, random.Random(f"{self.schedule.seed}/{name}"), self.context)

    async def probe(self, op: ops.Probe) -> None:
        for _ in range(op.resumes):
            self._publishing(op.rate)
            prober = self.client("q")
            try:
                async with asyncio.timeout(_STUCK):
                    await prober.probe(op.k)
            except TimeoutError:
                got = f"its events in {_STUCK:.0f}s (after {prober.last})"
                stuck = f"client {prober.name}, a probe, did not get {got} while events flowed"
                self.recording.problems.append((time.monotonic(), stuck))
                return  # the next would be stuck too
            finally:
                self.coverage["probes on the idle worker"] += 1

    async def storm(self, op: ops.Storm) -> None:
        members = [self.client("s") for _ in range(op.clients)]
        tasks = [
            self._leave(member.storm(op.victim, self.schedule.idle, op.k)) for member in members
        ]
        joined = asyncio.gather(*(member.joined.wait() for member in members))
        try:
            async with asyncio.timeout(_STUCK):
                await joined
        except TimeoutError:
            pass  # fewer, then: the summary says how many
        self._publishing(op.rate)
        await asyncio.sleep(0.2)  # so that the burst is under way
        self.coverage["storm resumes"] += sum(member.joined.is_set() for member in members)
        await self.kill(op.victim, signal.SIGKILL, op.down_for)
        await asyncio.wait(tasks, timeout=_STUCK)  # before any other fault: 503s are its own

    async def kill(self, name: str, signum: int, down_for: float) -> None:
        if name in self.restarting:
            await self.restarting.pop(name)
        worker = self.deployment.workers[name]
        self.endpoints.down.add(name)
        if not await worker.stop(signum):
            self.recording.problems.append(
                (time.monotonic(), f"{name} did not exit within 30 s of SIGTERM")
            )
        self.coverage[signal.Signals(signum).name] += 1
        self.restarting[name] = asyncio.create_task(self._restart(name, down_for))

    async def _restart(self, name: str, down_for: float) -> None:
        await asyncio.sleep(down_for)
        await self.deployment.workers[name].start()
        self.endpoints.down.discard(name)

    async def fault(
        self, kind: str, action: Callable[..., object], *args: object, lasting: float = 0.0
    ) -> None:
        """``action(*args)`` on Redis, a fault of ``lasting`` seconds at least (a pause
        is over when it has lasted)."""
        start = time.monotonic()
        await asyncio.to_thread(action, *args)
        await asyncio.sleep(start + lasting - time.monotonic())
        self.recording.faults.append(Window(kind, start, time.monotonic()))
        self.coverage[f"Redis {kind}"] += 1

    async def held(self, event_id: str) -> bool | None:
        try:
            async with asyncio.timeout(2):
                return bool(await self.redis.xrange(TRADES_KEY, event_id, event_id))
        except (redis.RedisError, OSError, TimeoutError):
            return None

    def _publishing(self, rate: int) -> None:
        """Keep the bursts publisher busy at ``rate`` for a second more."""
        bursts = self.deployment.publishers[ops.BURSTS]
        if bursts.done == bursts.sent:
            bursts.send(rate, rate)

    def _follow(self, follower: Client, coroutine: Coroutine[Any, Any, None]) -> None:
        self.followers.append(follower)
        self.following.add(asyncio.create_task(coroutine))

    def _leave(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self.leaving.add(task)
        task.add_done_callback(self.leaving.discard)
        return task

    async def drain(self) -> None:
        await asyncio.gather(*self.restarting.values())
        for worker in self.deployment.workers.values():
            if not worker.running:
                message = f"{worker.name} exited by itself: see {worker.log_path}"
                self.recording.problems.append((time.monotonic(), message))
        for name in (ops.BACKGROUND, ops.BURSTS):
            self.deployment.publishers[name].halt()
        for name in (ops.BACKGROUND, ops.BURSTS):
            async with asyncio.timeout(60):
                await self.deployment.publishers[name].idle()
        self._crashed(await _cancel(self.leaving))
        self.progress(f"{time.monotonic() - self.recording.epoch:7.2f}s  drain")
        self.recording.live = {client.name for client in self.followers}
        self.recording.final = await self._last_event()

    async def _last_event(self) -> str | None:
        deadline = time.monotonic() + self.schedule.drain
        final = None
        while time.monotonic() < deadline:
            published = await self.deployment.publishers[ops.DRAIN].publish_one()
            if published is not None and published.id is not None:
                final = published.id
            if final is not None and await self._reached(key(final), 1.0):
                break
        return final

    async def _reached(self, final: Key, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if all(f.last_key is not None and f.last_key >= final for f in self.followers):
                return True
            await asyncio.sleep(0.02)
        return False

    def _crashed(self, errors: list[str]) -> None:
        for error in errors:  # a client that raised: the harness's own defect, said so
            self.recording.problems.append((time.monotonic(), f"a client raised {error}"))

    async def close(self) -> None:
        self._crashed(await _cancel(self.leaving | self.following))
        for task in self.restarting.values():
            task.cancel()
        await asyncio.gather(*self.restarting.values(), return_exceptions=True)
        await self.http.aclose()
        await self.redis.aclose()


async def _cancel(tasks: set[asyncio.Task[None]]) -> list[str]:
    """Cancel ``tasks``; what those that had failed by themselves raised."""
    tasks = set(tasks)
    for task in tasks:
        task.cancel()
    ended = await asyncio.gather(*tasks, return_exceptions=True)
    return [repr(e) for e in ended if isinstance(e, Exception)]
