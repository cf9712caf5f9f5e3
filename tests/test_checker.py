"""The exactly-once checker's small schedule (tests/checker/), in `make test`.

Real processes: one redis-server, four uvicorn workers (two on ports of their own, two
on one shared socket; Django's handler and ``registry.asgi()``), publisher processes,
and 120-odd clients. The schedule of the seed (``CHECKER_SEED``, default 1) has a storm
of 100+ resumes after a SIGKILL, resumes on a worker without a feed while publishing at
300+ events/s, a SIGTERM, a Redis restart with ``appendonly yes`` and one more fault.
The test asserts the verdict, never a time; a failure prints the first violation and
the command that replays the schedule. ``make soak`` runs a long schedule.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.checker.run import run
from tests.checker.schedule import draw
from tests.redis_server import REDIS_SERVER


@pytest.mark.timeout(300)
@pytest.mark.skipif(REDIS_SERVER is None and not os.environ.get("CI"), reason="no redis-server")
def test_topics_deliver_every_event_once_through_a_schedule_of_faults(tmp_path: Path) -> None:
    schedule = draw(int(os.environ.get("CHECKER_SEED", "1")), "small")
    result = asyncio.run(run(schedule, tmp_path))
    print(result.report())
    assert result.leftovers == []
    assert result.coverage["storm resumes"] >= 100, result.report()
    assert result.coverage["probes on the idle worker"] >= 3
    assert result.coverage["Redis restart"] >= 1
    assert result.verdict.violations == [], result.report()
