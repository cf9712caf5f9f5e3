"""A small soak in `make test`: 200 idle streams with pings, 1000 connect/read/leave
cycles at concurrency 50, against uvicorn in its own process (tests/soak.py)."""

from __future__ import annotations

import asyncio

from tests.soak import server, soak


def test_small_soak_leaks_nothing() -> None:
    with server() as (port, pid):
        report = asyncio.run(soak(port, pid, streams=200, seconds=2.5, total=1000, concurrency=50))
    before, after = report["before"], report["after"]
    assert report["streams_ok"] == 200
    assert report["stream_errors"] == report["cycle_errors"] == 0
    assert report["pings_seen"] >= 200  # every stream pinged at least once
    assert after["started"] == 200 + 1000  # the soak endpoint and /count/ are tracked
    assert after["finished"] == after["started"]  # every generator's finally ran
    assert after["live_streams"] == 0
    assert after["tasks"] <= before["tasks"]
    assert after["fds"] <= before["fds"] + 5
    assert report["rss_end"] - report["rss_start"] < 64 * 1024 * 1024
