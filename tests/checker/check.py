"""The verdict: every client's deliveries against what the publishers were told.

A client's connections form chains: each connection resumes with the id of the last
event its chain got (``Last-Event-ID``), and a 410 (history gone) ends the chain, after
which the client starts afresh without an id. The events "known to be in the topic" are
those whose publish returned an id (committed), and those whose publish was ambiguous
("may or may not have been added") that some client received. Violations:

- **duplicate / reorder**: ids do not strictly increase along a chain;
- **gap**: a known event between the id a connection resumed with (or its first event)
  and its last event that it did not get;
- **phantom / corrupt**: an event no publish could have added (its publish said "not
  added", or nobody published it), or with a payload other than its publish sent, or
  one publish delivered under two ids;
- **resume**: a connection that did not resume with its chain's last id;
- **ending**: a 410 for an id Redis still held (or not typed ``history_gone``), a 503
  while Redis was healthy (bursts are queued, not refused; ``GRACE`` seconds after a
  fault are allowed), any other status, a stream cut in the middle of a line;
- **tail**: a live client that never got the topic's last committed event.

503s, clean ends and dropped connections continue the chain; none is a violation in
itself. Publish order follows: ids are the order Redis committed events in, and each
payload is checked against the id its publish returned.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from tests.checker.record import Connection, Key, Payload, Publish, Recording, Window, key, text

GRACE = 2.0  # seconds after a Redis fault during which a 503 is still its doing
_SHOWN = 3  # missing events named in a gap's message


@dataclass(frozen=True, order=True)
class Violation:
    at: float
    kind: str
    client: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:.2f}s: {self.message}"


@dataclass
class Verdict:
    violations: list[Violation]
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def first(self) -> Violation | None:
        return self.violations[0] if self.violations else None


class Topic:
    """What the publishers were told, and the ambiguous events clients showed exist."""

    def __init__(self, publishes: Iterable[Publish], connections: Iterable[Connection]) -> None:
        self.outcomes: dict[Payload, Publish] = {}
        self.committed: dict[Key, Payload] = {}
        self.keys: dict[str, Key] = {}  # one key object per id: chains hold millions
        for attempt in publishes:
            self.outcomes[attempt.payload] = attempt
            if attempt.id is not None:
                self.committed[self.key(attempt.id)] = attempt.payload
        self.ambiguous: dict[Payload, Key] = {}  # the first id each was delivered under
        for connection in connections:
            for event_id, payload in connection.events:
                sent = self.outcomes.get(payload)
                if sent is not None and sent.outcome == "ambiguous":
                    self.ambiguous.setdefault(payload, self.key(event_id))
        self.known = sorted({*self.committed, *self.ambiguous.values()})
        self.payloads = {**{k: p for p, k in self.ambiguous.items()}, **self.committed}

    def key(self, event_id: str) -> Key:
        found = self.keys.get(event_id)
        if found is None:
            found = self.keys[event_id] = key(event_id)
        return found

    def between(self, low: Key, high: Key) -> list[Key]:
        """The known events after ``low``, up to ``high``."""
        start = bisect.bisect_right(self.known, low)
        return self.known[start : bisect.bisect_right(self.known, high)]

    def problem(self, event_key: Key, payload: Payload) -> tuple[str, str] | None:
        """Why this event cannot be in the topic (a kind and a sentence), or None."""
        committed = self.committed.get(event_key)
        if committed is None:
            return self._uncommitted(event_key, payload)
        if committed == payload:
            return None
        return "corrupt", f"{text(event_key)} {payload}: its publish sent {committed}"

    def _uncommitted(self, event_key: Key, payload: Payload) -> tuple[str, str] | None:
        shown = f"{text(event_key)} {payload}"
        attempt = self.outcomes.get(payload)
        if attempt is None:
            return "phantom", f"{shown} was never published"
        if attempt.outcome == "ambiguous":
            first = self.ambiguous[payload]
            if first == event_key:
                return None
            return "duplicate", f"{shown}: one publish, delivered as {text(first)} too"
        if attempt.id is not None:
            return "duplicate", f"{shown}: published once, as {attempt.id}"
        return "phantom", f"{shown}: its publish said {attempt.detail!r}"


def check(recording: Recording, grace: float = GRACE) -> Verdict:
    """Every violation in ``recording``, earliest first, and what was checked."""
    topic = Topic(recording.publishes, recording.connections)
    found: list[Violation] = []
    last: dict[str, tuple[Key | None, float]] = {}
    for client, connections in _by_client(recording.connections).items():
        chain = Chain(topic, client, recording.faults, grace)
        for connection in connections:
            found += chain.take(connection)
        last[client] = (chain.last, connections[-1].closed or connections[-1].opened)
    found += _tails(topic, recording, last)
    found += _publish_errors(recording.publishes)
    found += [Violation(at, "run", "", message) for at, message in recording.problems]
    shifted = [replace(v, at=v.at - recording.epoch) for v in found]
    return Verdict(sorted(shifted), _counts(topic, recording))


class Chain:
    """One client's connections in order, and the chain they are on."""

    def __init__(self, topic: Topic, client: str, faults: list[Window], grace: float) -> None:
        self.topic, self.client, self.faults, self.grace = topic, client, faults, grace
        self.last: Key | None = None  # the id the next connection must resume with
        self.seen: set[Key] = set()

    def take(self, connection: Connection) -> Iterator[Violation]:
        after = None if connection.after is None else key(connection.after)
        if after != self.last:
            expected = "no id" if self.last is None else text(self.last)
            yield self._at(connection, "resume", f"resumed with {connection.after}, not {expected}")
            self.seen.clear()
        keys, violations = self._events(connection, after)
        yield from violations
        yield from self._gap(connection, after, keys)
        self.last = max(keys) if keys else after
        yield from self._ending(connection)

    def _events(
        self, connection: Connection, after: Key | None
    ) -> tuple[list[Key], list[Violation]]:
        keys: list[Key] = []
        violations: list[Violation] = []
        previous = after
        for event_id, payload in connection.events:
            event_key = self.topic.key(event_id)
            problem = self.topic.problem(event_key, payload)
            if problem is not None:
                violations.append(self._at(connection, *problem))
            if previous is not None and event_key <= previous:
                kind = "duplicate" if event_key in self.seen else "reorder"
                order = f"{event_id} after {text(previous)}"
                violations.append(self._at(connection, kind, order))
            self.seen.add(event_key)
            keys.append(event_key)
            previous = event_key if previous is None else max(previous, event_key)
        return keys, violations

    def _gap(
        self, connection: Connection, after: Key | None, keys: list[Key]
    ) -> Iterator[Violation]:
        if not keys:
            return
        low = keys[0] if after is None else after
        got = set(keys)
        missing = [k for k in self.topic.between(low, max(keys)) if k not in got]
        if missing:
            before = max((k for k in keys if k < missing[0]), default=after)
            since = "it resumed after" if before == after else "it got"
            names = ", ".join(f"{text(k)} {self.topic.payloads[k]}" for k in missing[:_SHOWN])
            more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
            message = f"{len(missing)} event(s) missing after {text(before or low)} ({since}): "
            yield self._at(connection, "gap", message + names + more)

    def _ending(self, connection: Connection) -> Iterator[Violation]:
        ending = connection.ending
        if ending is None or ending.kind in ("truncated", "malformed"):
            yield self._at(connection, "ending", f"the stream ended {ending or 'unrecorded'}")
        elif ending.kind == "status":
            problem = self._refusal(connection)
            if problem is not None:
                yield self._at(connection, "ending", problem)
            if ending.status != 503:
                self.last = None  # the client reloads and starts afresh
                self.seen.clear()

    def _refusal(self, connection: Connection) -> str | None:
        ending = connection.ending
        assert ending is not None
        resumed = f"a resume after {connection.after}"
        if ending.status == 410:
            if ending.type != "history_gone":
                return f"410 {ending.type!r} to {resumed}, not 'history_gone'"
            if ending.held:
                return f"410 history_gone to {resumed}, which Redis still held"
            return None
        if ending.status == 503:
            if self._during_fault(connection):
                return None
            waited = connection.closed - connection.opened
            healthy = f"503 {ending.type!r} after {waited:.2f}s with Redis healthy"
            return f"{healthy}: bursts are queued, not refused"
        return f"{ending.status} {ending.type!r} {ending.detail}".rstrip()

    def _during_fault(self, connection: Connection) -> bool:
        return any(
            fault.start - self.grace <= connection.closed
            and connection.opened <= fault.end + self.grace
            for fault in self.faults
        )

    def _at(self, connection: Connection, kind: str, message: str) -> Violation:
        where = f"client {self.client} on {connection.worker}"
        return Violation(connection.opened, kind, self.client, f"{where}: {message}")


def _by_client(connections: Iterable[Connection]) -> dict[str, list[Connection]]:
    clients: dict[str, list[Connection]] = {}
    for connection in connections:
        clients.setdefault(connection.client, []).append(connection)
    return clients


def _tails(
    topic: Topic, recording: Recording, last: dict[str, tuple[Key | None, float]]
) -> Iterator[Violation]:
    if recording.final is None:
        return
    final = key(recording.final)
    for client in sorted(recording.live):
        got, at = last.get(client, (None, 0.0))
        if got is None or got < final:
            behind = len(topic.between(got, final)) if got is not None else "all"
            reached = "nothing" if got is None else text(got)
            message = f"client {client} reached {reached}, not {recording.final} ({behind} behind)"
            yield Violation(at, "tail", client, message)


def _publish_errors(publishes: Iterable[Publish]) -> Iterator[Violation]:
    for attempt in publishes:
        if attempt.outcome == "error":
            message = f"publish of {attempt.payload} raised {attempt.detail}"
            yield Violation(attempt.at, "publish", attempt.payload[0], message)


def _counts(topic: Topic, recording: Recording) -> Counter[str]:
    counts: Counter[str] = Counter()
    counts.update(f"publish {attempt.outcome}" for attempt in recording.publishes)
    counts["ambiguous delivered"] = len(topic.ambiguous)
    counts["clients"] = len({c.client for c in recording.connections})
    counts["connections"] = len(recording.connections)
    counts["resumes"] = sum(c.after is not None for c in recording.connections)
    counts["deliveries"] = sum(len(c.events) for c in recording.connections)
    counts.update(_ending_name(c) for c in recording.connections)
    return counts


def _ending_name(connection: Connection) -> str:
    ending = connection.ending
    if ending is None:
        return "ending unrecorded"
    return f"ending {ending.status if ending.kind == 'status' else ending.kind}"
