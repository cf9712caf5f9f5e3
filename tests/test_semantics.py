"""A stream function runs as the coroutine of a plain asyncio Task would: proved by
running the same functions under a plain Task (the control) and through jsonlfn, in
process and over real sockets on both serving paths, and comparing what they yield."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonlfn.testing import LiveServer
from tests.semantics import CASES, VAR, Case, Outcome, ended, through_jsonlfn, under_a_task
from tests.wire import fetch

# Ways of running a function through jsonlfn: each must not change what it sees.
RUNS: dict[str, dict[str, Any]] = {
    "plain": {},
    "pings": {"ping_every": 0.003},
    "slow consumer": {"consumer_delay": 0.01},  # its timeouts fire while a batch is sent
    "priming timed out": {"patience": 0.0},
    "one line a batch": {"batch_bytes": 1, "ping_every": 0.005},
}


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("name", CASES)
def test_every_case_matches_a_plain_task(name: str, run: str) -> None:
    control = asyncio.run(under_a_task(CASES[name]))
    assert control[-1] not in ("never",)  # the case is meaningful: it ran to its end
    assert asyncio.run(through_jsonlfn(CASES[name], **RUNS[run])) == control


def test_the_cases_cover_what_users_hit() -> None:
    """The control itself: timeouts and failures are caught where the code says."""
    expect = {
        "refused_connection": ["start", "ConnectionRefusedError", "after", "end"],
        "timeout_twice": ["start", "timed out 0", "timed out 1", 0, "end"],
        "timeout_before_first_item": ["timed out", "after", "end"],
        "timeout_uncaught": ["start", "TimeoutError"],
        "wait_for_fires": ["start", "timed out", "ready", "end"],
        "anyio_fail_after": ["start", "fail_after", "moved on True", "end"],
        "httpx_timeout": ["start", "read timeout", "end"],
        "task_group_failure": ["start", "group: 1 ValueError", 0, "end"],
        "own_task": [True, True, "item", True, "end"],
        "raise_and_catch": ["start", "caught LookupError", "RuntimeError"],
    }
    for name, outcome in expect.items():
        assert asyncio.run(under_a_task(CASES[name])) == outcome, name


def test_context_comes_in_and_does_not_leak_out() -> None:
    async def both() -> tuple[Outcome, Outcome, str]:
        VAR.set("outer")
        control = await under_a_task(CASES["context_variables"])
        served = await through_jsonlfn(CASES["context_variables"])
        return control, served, VAR.get()

    control, served, after = asyncio.run(both())
    assert served == control == ["outer", "set inside", "set inside", "end"]
    assert after == "outer"


@pytest.mark.parametrize("prefix", ["/semantics/", "/semantics-pinged/"])
@pytest.mark.parametrize("name", CASES)
def test_every_case_matches_over_real_sockets(
    live_server: LiveServer, name: str, prefix: str
) -> None:
    control = asyncio.run(under_a_task(CASES[name]))
    response = fetch(live_server.port, f"{prefix}{name}/")
    if len(control) == 1 and control[0] != "end":  # raised before its first item
        assert response.status == 500
        return
    assert response.status == 200
    assert response.body.endswith(b"\n")  # whole lines, and a proper end of the body
    items = [orjson.loads(line) for line in response.body.splitlines()]
    assert ended([item for item in items if item != {"type": "ping"}]) == control


# --- generated programs -----------------------------------------------------------------

FIRES, HOLDS = 0.004, 10.0  # a timeout around a 10 s wait fires; around 1 ms it doesn't

OP = st.one_of(
    st.tuples(st.just("yield"), st.integers(0, 99)),
    st.tuples(st.just("ready"), st.none()),
    st.tuples(st.just("pending"), st.sampled_from([0.001, 0.003])),
    st.tuples(st.sampled_from(["fail", "fail caught", "failed caught"]), st.none()),
    st.tuples(st.sampled_from(["timeout", "wait_for", "move_on"]), st.booleans()),
    st.tuples(st.sampled_from(["raise", "raise caught"]), st.none()),
)


def program(ops: list[tuple[str, Any]]) -> Case:
    """A stream function that runs ``ops`` in order."""

    async def run() -> AsyncIterator[Any]:
        for op, arg in ops:
            if op == "yield":
                yield arg
            elif op == "ready":
                await asyncio.sleep(0)
            elif op == "pending":
                await asyncio.sleep(arg)
            elif op.startswith("fail"):
                async for outcome in _failing_await(op):
                    yield outcome
            elif op in ("timeout", "wait_for", "move_on"):
                yield await _bounded_wait(op, fires=arg)
            elif op == "raise":
                raise RuntimeError("escapes")
            else:
                try:
                    raise KeyError("caught")
                except KeyError:
                    yield "KeyError caught"

    return run


async def _failing_await(op: str) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    if op == "failed caught":
        future.set_exception(LookupError("already failed"))
    else:
        loop.call_later(0.001, future.set_exception, LookupError("fails later"))
    if op == "fail":
        await future
    try:
        await future
    except LookupError:
        yield f"{op}: LookupError"


async def _bounded_wait(op: str, *, fires: bool) -> str:
    limit, wait = (FIRES, HOLDS) if fires else (HOLDS, 0.001)
    if op == "move_on":
        with anyio.move_on_after(limit) as scope:
            await anyio.sleep(wait)
        return f"move_on {scope.cancelled_caught}"
    try:
        if op == "timeout":
            async with asyncio.timeout(limit):
                await asyncio.sleep(wait)
        else:
            await asyncio.wait_for(asyncio.sleep(wait), limit)
    except TimeoutError:
        return f"{op} fired"
    return f"{op} held"


@settings(max_examples=int(os.environ.get("SEMANTICS_EXAMPLES", "60")), deadline=None)
@given(ops=st.lists(OP, max_size=14), run=st.sampled_from(sorted(RUNS)))
def test_generated_programs_match_a_plain_task(ops: list[tuple[str, Any]], run: str) -> None:
    control = asyncio.run(under_a_task(program(ops)))
    assert asyncio.run(through_jsonlfn(program(ops), **RUNS[run])) == control
