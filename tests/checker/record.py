"""What a checker run records: publish attempts, client connections, Redis faults.

Plain data, so that the verdict (``check.py``) runs as well on recordings made by hand
(tests/test_checker_verdict.py) as on what a real run recorded (``run.py``). Times are
``time.monotonic()`` seconds, one clock for every process on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Key = tuple[int, int]  # an event id "1733097600000-3" as (milliseconds, sequence)
Payload = tuple[str, int]  # what a publisher sent: (its name, its sequence number)

Outcome = Literal["committed", "not_added", "ambiguous", "error"]
EndingKind = Literal[
    "left",  # the client had read what it wanted
    "clean",  # the server ended the response after a whole line
    "truncated",  # the server ended the response in the middle of a line
    "malformed",  # a line that is not an event
    "transport",  # the connection failed or dropped
    "status",  # a response other than 200: ``status`` and the JSON body's ``type``
    "resumed",  # jsonlfn.client.stream opened another connection (it does not say why)
    "stopped",  # the run ended it
]


def key(event_id: str) -> Key:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


def text(event_key: Key) -> str:
    return f"{event_key[0]}-{event_key[1]}"


@dataclass(frozen=True)
class Publish:
    """One ``publish_sync`` attempt: its id if it returned one."""

    payload: Payload
    outcome: Outcome
    id: str | None = None
    detail: str = ""  # the exception's message, when it raised
    at: float = 0.0


@dataclass(frozen=True)
class Ending:
    """How a connection ended."""

    kind: EndingKind
    status: int | None = None
    type: str = ""  # of the JSON error body's first detail
    detail: str = ""
    held: bool | None = None  # after a 410: whether Redis still held the id (None: unknown)

    def __str__(self) -> str:
        if self.kind == "status":
            return f"{self.status} {self.type}".strip()
        return f"{self.kind} {self.detail}".strip()


@dataclass
class Connection:
    """One request of one client: the id it resumed with, the events it got, in order."""

    client: str
    worker: str
    after: str | None
    opened: float
    events: list[tuple[str, Payload]] = field(default_factory=list)
    ending: Ending | None = None
    closed: float = 0.0


@dataclass(frozen=True)
class Window:
    """A Redis fault (restart, pause, dropped connections) from ``start`` to ``end``."""

    kind: str
    start: float
    end: float


@dataclass
class Recording:
    """Everything a run saw; ``live`` are the clients that must reach ``final``, the
    topic's last committed event, by the end."""

    publishes: list[Publish] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    faults: list[Window] = field(default_factory=list)
    live: set[str] = field(default_factory=set)
    final: str | None = None
    problems: list[tuple[float, str]] = field(default_factory=list)  # seen by the run itself
    epoch: float = 0.0  # when the run started: violations give their times from it
