"""A checker run's schedule: the workers, and the operations with their times, all drawn
from one seed, so that ``python -m tests.checker --seed N`` replays it.

Times are seconds from the start; an operation starts at its time or when the one
before it has finished, whichever is later. The times only shape the load: the verdict
never depends on when anything happened.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Literal

from tests.checker.processes import WorkerSpec

Size = Literal["small", "soak"]
BACKGROUND, BURSTS, DRAIN = "p1", "p2", "drain"  # the publishers


@dataclass(frozen=True)
class Burst:
    at: float
    publisher: str
    rate: int
    count: int

    def __str__(self) -> str:
        return f"publish: {self.publisher} sends {self.count} events at {self.rate}/s"


@dataclass(frozen=True)
class Follow:
    at: float
    clients: int
    library: int
    hop: tuple[int, int]

    def __str__(self) -> str:
        return (
            f"follow: {self.clients} clients hopping workers every {self.hop[0]}-{self.hop[1]} "
            f"events, {self.library} through jsonlfn.client.stream on the shared socket"
        )


@dataclass(frozen=True)
class Read:
    at: float
    clients: int
    cycles: int
    k: tuple[int, int]

    def __str__(self) -> str:
        k = f"{self.k[0]}-{self.k[1]}"
        return f"read: {self.clients} clients {self.cycles} times read {k} events, leave, resume"


@dataclass(frozen=True)
class Probe:
    at: float
    resumes: int
    rate: int
    k: tuple[int, int]

    def __str__(self) -> str:
        return (
            f"probe: {self.resumes} resumes on the idle worker (no feed there) "
            f"while {BURSTS} publishes at {self.rate}/s"
        )


@dataclass(frozen=True)
class Storm:
    at: float
    clients: int
    victim: str
    rate: int
    k: int
    down_for: float

    def __str__(self) -> str:
        return (
            f"storm: {self.clients} clients on {self.victim}; SIGKILL it while {BURSTS} "
            f"publishes at {self.rate}/s; they all resume on the idle worker; "
            f"{self.victim} restarts after {self.down_for:.1f}s"
        )


@dataclass(frozen=True)
class Kill:
    at: float
    worker: str
    signal: Literal["SIGKILL", "SIGTERM"]
    down_for: float

    def __str__(self) -> str:
        return f"{self.signal} {self.worker}; it restarts after {self.down_for:.1f}s"


@dataclass(frozen=True)
class RestartRedis:
    at: float
    appendonly: bool
    down_for: float

    def __str__(self) -> str:
        keeps = (
            "appendonly yes: keeps its data"
            if self.appendonly
            else "no appendonly: comes back empty"
        )
        return f"restart Redis ({keeps}), down {self.down_for:.1f}s"


@dataclass(frozen=True)
class PauseRedis:
    at: float
    seconds: float

    def __str__(self) -> str:
        return f"CLIENT PAUSE {int(self.seconds * 1000)} ALL"


@dataclass(frozen=True)
class DropConnections:
    at: float

    def __str__(self) -> str:
        return "CLIENT KILL TYPE normal"


Op = Burst | Follow | Read | Probe | Storm | Kill | RestartRedis | PauseRedis | DropConnections


@dataclass(frozen=True)
class Schedule:
    seed: int
    size: Size
    workers: tuple[WorkerSpec, ...]
    idle: str  # no client picks it by itself, so that resumes there find no feed
    ops: tuple[Op, ...]
    drain: float  # seconds the live clients have to reach the last event, at the end

    publishers = (BACKGROUND, BURSTS, DRAIN)

    @property
    def replay(self) -> str:
        return f"python -m tests.checker --seed {self.seed} --size {self.size}"

    def describe(self, ran: list[float] | None = None) -> str:
        """The workers and operations, with when each ran if ``ran`` says."""
        workers = ", ".join(
            f"{w.name} ({w.app}, {'shared socket' if w.shared else 'own port'}"
            f"{', idle' if w.name == self.idle else ''})"
            for w in self.workers
        )
        lines = [f"schedule of seed {self.seed} ({self.size}): workers {workers}"]
        for n, op in enumerate(self.ops):
            late = f" (ran at {ran[n]:.2f}s)" if ran and n < len(ran) else ""
            lines.append(f"  {op.at:7.2f}s  {op}{late}")
        return "\n".join(lines)


def draw(seed: int, size: Size = "small", duration: float = 300.0) -> Schedule:
    """The schedule of ``seed``: ``small`` for ``make test``, ``soak`` for ``make soak``
    (``duration`` seconds of operations)."""
    rng = random.Random(seed)
    if size == "small":
        return Schedule(seed, size, SMALL, "w1", tuple(_small(rng)), drain=60.0)
    return Schedule(seed, size, SOAK, "w1", tuple(_soak(rng, duration)), drain=120.0)


SMALL = (
    WorkerSpec("w0", "django", shared=False),
    WorkerSpec("w1", "direct", shared=False),
    WorkerSpec("w2", "django", shared=True),
    WorkerSpec("w3", "direct", shared=True),
)
SOAK = (
    *SMALL[:2],
    WorkerSpec("w2", "direct", shared=False),
    WorkerSpec("w3", "django", shared=True),
    WorkerSpec("w4", "direct", shared=True),
)


def _small(rng: random.Random) -> list[Op]:
    """Modest rates and few processes, but each fault once: a storm of 100+ resumes on a
    worker without a feed, probes there at 300+ events/s, a SIGTERM, Redis restarts."""
    background = rng.choice([100, 150, 200])
    ops: list[Op] = [
        Burst(0.0, BACKGROUND, background, background * 600),  # until the drain stops it
        Follow(0.0, clients=4, library=2, hop=(20, 150)),
        Read(0.5, clients=4, cycles=3, k=(5, 60)),
    ]
    extra: list[Op] = [
        PauseRedis(0, rng.uniform(0.2, 1.0)),
        DropConnections(0),
        RestartRedis(0, appendonly=False, down_for=0.2),
    ]
    faults: list[Op] = [
        Probe(0, resumes=rng.randint(3, 6), rate=rng.randint(300, 500), k=(30, 120)),
        Storm(0, rng.randint(100, 150), "w0", rng.randint(300, 500), k=150, down_for=0.5),
        Kill(0, rng.choice(["w2", "w3"]), "SIGTERM", down_for=rng.uniform(0.0, 1.0)),
        RestartRedis(0, appendonly=True, down_for=rng.uniform(0.1, 0.5)),
        rng.choice(extra),
    ]
    rng.shuffle(faults)
    at = 1.0
    for fault in faults:
        at += rng.uniform(0.5, 2.0)
        ops.append(_at(fault, at))
    return ops


def _soak(rng: random.Random, duration: float) -> list[Op]:
    ops: list[Op] = [Follow(0.0, clients=6, library=2, hop=(20, 400))]
    at = 0.0
    while at < duration:  # the background publisher's segments, queued at once
        rate = rng.randint(50, 250)
        seconds = rng.uniform(10, 30)
        ops.append(Burst(0.0, BACKGROUND, rate, int(rate * seconds)))
        at += seconds
    ops.append(Burst(0.0, BACKGROUND, 100, 100 * 3600))  # when faults run late: till the drain
    at = 1.0
    while at < duration:
        ops.append(_at(_soak_op(rng), at))
        at += rng.expovariate(1 / 3)
    return ops


def _soak_op(rng: random.Random) -> Op:  # noqa: PLR0911 - one return per family
    family = rng.choices(
        ["burst", "read", "follow", "probe", "storm", "kill", "term", "restart", "lose",
         "pause", "drop"],
        weights=[3, 2, 0.3, 1.5, 0.7, 0.7, 0.7, 0.6, 0.3, 0.7, 0.7],
    )[0]  # fmt: skip
    if family == "burst":
        rate = rng.randint(300, 1000)
        return Burst(0, BURSTS, rate, int(rate * rng.uniform(0.5, 3)))
    if family == "read":
        return Read(0, rng.randint(1, 10), rng.randint(1, 5), (1, rng.randint(5, 300)))
    if family == "follow":
        return Follow(0, rng.randint(1, 2), 0, (rng.randint(5, 50), rng.randint(100, 1000)))
    if family == "probe":
        return Probe(0, rng.randint(2, 8), rng.randint(300, 1000), (10, rng.randint(20, 300)))
    if family == "storm":
        victim = rng.choice(["w0", "w2"])
        return Storm(
            0,
            rng.randint(100, 300),
            victim,
            rng.randint(300, 800),
            rng.randint(50, 300),
            rng.uniform(0, 3),
        )
    if family in ("kill", "term"):
        worker = rng.choice([spec.name for spec in SOAK])
        return Kill(0, worker, "SIGKILL" if family == "kill" else "SIGTERM", rng.uniform(0, 3))
    if family in ("restart", "lose"):
        return RestartRedis(0, appendonly=family == "restart", down_for=rng.uniform(0, 2))
    if family == "pause":
        return PauseRedis(0, rng.uniform(0.1, 3.0))
    return DropConnections(0)


def _at(op: Op, at: float) -> Op:
    return replace(op, at=round(at, 2))
