"""The exactly-once checker's verdict (tests/checker/check.py) on recordings made by hand:
it passes what keeps the promise and names each kind of violation it must find.

In these recordings event ``n`` has the id ``"n-0"`` and the payload ``("p", n)``.
"""

from __future__ import annotations

import itertools

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.checker.check import Verdict, check
from tests.checker.record import Connection, Ending, Publish, Recording, Window

LEFT = Ending("left")
GONE = Ending("status", 410, "history_gone", held=False)
REFUSED = Ending("status", 503, "unavailable")


def committed(*numbers: int) -> list[Publish]:
    return [Publish(("p", n), "committed", f"{n}-0") for n in numbers]


def connection(
    after: int | None, *numbers: int, ending: Ending = LEFT, client: str = "c", at: float = 1.0
) -> Connection:
    events = [(f"{n}-0", ("p", n)) for n in numbers]
    resumed = None if after is None else f"{after}-0"
    return Connection(client, "w0", resumed, at, events, ending, at + 0.5)


def verdict(publishes: list[Publish], *connections: Connection, **more: object) -> Verdict:
    return check(Recording(publishes, list(connections), **more))  # type: ignore[arg-type]


def kinds(found: Verdict) -> list[str]:
    return [violation.kind for violation in found.violations]


def test_a_client_that_got_everything_across_resumes_passes() -> None:
    found = verdict(
        committed(1, 2, 3, 4, 5, 6),
        connection(None, 1, 2),
        connection(2, 3, ending=Ending("transport", detail="ReadError")),
        connection(3, ending=REFUSED, at=2.0),
        connection(3, 4, 5, 6, ending=Ending("stopped")),
        faults=[Window("restart", 1.9, 2.1)],
        live={"c"},
        final="6-0",
    )
    assert found.violations == []
    assert found.counts["deliveries"] == 6
    assert found.counts["resumes"] == 3


def test_a_gap_inside_a_connection() -> None:
    found = verdict(committed(1, 2, 3, 4), connection(None, 1, 2, 4))
    assert kinds(found) == ["gap"]
    assert "1 event(s) missing after 2-0 (it got): 3-0 ('p', 3)" in str(found.first)


def test_a_gap_between_the_resume_id_and_the_first_event() -> None:
    found = verdict(committed(1, 2, 3, 4, 5), connection(None, 1, 2), connection(2, 4, 5))
    assert kinds(found) == ["gap"]
    assert "after 2-0 (it resumed after): 3-0" in str(found.first)


def test_a_duplicate_across_a_resume() -> None:
    found = verdict(committed(1, 2, 3), connection(None, 1, 2), connection(2, 2, 3))
    assert kinds(found) == ["duplicate"]
    found = verdict(committed(1, 2, 3), connection(None, 1, 2, 2, 3))
    assert kinds(found) == ["duplicate"]


def test_a_reorder() -> None:
    found = verdict(committed(1, 2, 3), connection(None, 1, 3, 2))
    assert kinds(found) == ["reorder"]


def test_phantoms_and_corrupt_payloads() -> None:
    not_added = Publish(("p", 2), "not_added", detail="the event was not added")
    found = verdict([*committed(1, 3), not_added], connection(None, 1, 2, 3))
    assert kinds(found) == ["phantom"]
    assert "its publish said 'the event was not added'" in str(found.first)
    assert kinds(verdict(committed(1), connection(None, 1, 7))) == ["phantom"]
    wrong = Connection("c", "w0", None, 1.0, [("1-0", ("p", 9))], LEFT, 1.5)
    assert kinds(verdict(committed(1, 9), wrong)) == ["corrupt"]


def test_a_live_client_that_stops_short_of_the_last_event_is_a_silent_tail() -> None:
    found = verdict(committed(1, 2, 3), connection(None, 1, 2), live={"c"}, final="3-0")
    assert kinds(found) == ["tail"]
    assert "reached 2-0, not 3-0 (1 behind)" in str(found.first)
    nothing = verdict(committed(1), connection(None, ending=REFUSED), live={"c"}, final="1-0")
    assert "tail" in kinds(nothing)


def test_a_410_ends_the_chain_without_a_violation_unless_the_id_was_still_held() -> None:
    chain = [connection(None, 1, 2), connection(2, ending=GONE), connection(None, 6, 7)]
    assert verdict(committed(*range(1, 8)), *chain).violations == []
    held = Ending("status", 410, "history_gone", held=True)
    found = verdict(committed(1, 2, 3), connection(None, 1), connection(1, ending=held))
    assert kinds(found) == ["ending"]
    assert "which Redis still held" in str(found.first)


def test_a_503_with_redis_healthy_is_a_violation_and_the_chain_continues() -> None:
    chain = [connection(None, 1), connection(1, ending=REFUSED, at=5.0), connection(1, 2)]
    found = verdict(committed(1, 2), *chain, faults=[Window("pause", 1.0, 2.0)])
    assert kinds(found) == ["ending"]
    assert "bursts are queued, not refused" in str(found.first)


def test_other_endings_that_break_the_promise() -> None:
    cut = connection(None, 1, ending=Ending("truncated"))
    assert kinds(verdict(committed(1), cut)) == ["ending"]
    error = connection(None, ending=Ending("status", 500, "server_error"))
    assert kinds(verdict(committed(1), error)) == ["ending"]


def test_a_connection_that_resumes_with_the_wrong_id() -> None:
    found = verdict(committed(1, 2, 3), connection(None, 1, 2), connection(None, 3))
    assert kinds(found) == ["resume"]


def test_an_ambiguous_event_counts_once_someone_received_it() -> None:
    maybe = Publish(("p", 3), "ambiguous", detail="may or may not have been added")
    publishes = [*committed(1, 2, 4), maybe]
    got_it = connection(None, 1, 2, 3, 4, client="a")
    skipped_it = connection(None, 1, 2, 4, client="b")
    assert verdict(publishes, got_it).violations == []
    assert verdict(publishes, skipped_it).violations == []  # absent everywhere: not added
    found = verdict(publishes, got_it, skipped_it)
    assert kinds(found) == ["gap"]
    assert found.first is not None
    assert found.first.client == "b"
    twice = Connection("c", "w0", None, 1.0, [("5-0", ("p", 3))], LEFT, 1.5)
    assert kinds(verdict(publishes, got_it, twice)) == ["duplicate"]


def test_the_first_violation_is_the_earliest() -> None:
    late = connection(None, 1, 3, client="late", at=9.0)
    early = connection(None, 1, 1, client="early", at=2.0)
    found = verdict(committed(1, 2, 3), late, early)
    assert [v.client for v in found.violations] == ["early", "late"]


@st.composite
def faithful_recordings(draw: st.DrawFn) -> Recording:
    """A topic of ``n`` events and one client that got all of them, over connections
    split anywhere, each resuming with the last id."""
    n = draw(st.integers(2, 30))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=5)))
    bounds = [0, *cuts, n]
    connections = [
        connection(None if low == 0 else low, *range(low + 1, high + 1))
        for low, high in itertools.pairwise(bounds)
    ]
    return Recording(committed(*range(1, n + 1)), connections, live={"c"}, final=f"{n}-0")


@given(faithful_recordings(), st.data())
def test_any_lost_repeated_or_swapped_event_is_found(
    recording: Recording, data: st.DataObject
) -> None:
    assert check(recording).violations == []
    events = [(c, i) for c in recording.connections for i in range(len(c.events))]
    where, index = data.draw(st.sampled_from(events))
    change = data.draw(st.sampled_from(["lose", "repeat", "swap"]))
    assume(where.after is not None or index > 0 or change != "lose")  # a fresh start: no id
    assume(len(where.events) > 1 or change != "swap")
    if change == "lose":
        del where.events[index]
    elif change == "repeat":
        where.events.insert(index, where.events[index])
    elif index + 1 < len(where.events):
        where.events[index], where.events[index + 1] = where.events[index + 1], where.events[index]
    else:
        where.events.insert(0, where.events.pop())
    assert check(recording).violations != []
