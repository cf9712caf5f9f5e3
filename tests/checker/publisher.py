"""A publisher process of a checker run: ``python -m tests.checker.publisher NAME``.

Reads bursts from stdin, one JSON object a line (``{"rate": 400, "count": 1200}``), and
publishes each with ``TRADES.publish_sync`` at that rate (as fast as it can when it
falls behind). Every event carries the unique payload ``Trade(n=seq, note=NAME)``. For
each attempt it prints one JSON line: the id ``publish_sync`` returned, or the outcome
its ``PublishFailed`` stated (``"not_added"``, ``"ambiguous"`` for "may or may not have
been added"), with the ``time.monotonic()`` of the attempt; ``{"done": true}`` after
each burst. ``JSONLFN_TEST_TOPICS`` names the Redis. Ends at the end of stdin.

SIGUSR1 stops it publishing, after the attempt under way has been printed (a process
killed mid-attempt could add an event nobody hears of): the rest of every burst is
skipped.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from types import FrameType
from typing import Any

_stopped = [False]


def _stop(signum: int, frame: FrameType | None) -> None:
    _stopped[0] = True


signal.signal(signal.SIGUSR1, _stop)  # before anything slow: the default action kills
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402 - after the signal handler

django.setup()

from jsonlfn import PublishFailed  # noqa: E402 - needs Django set up
from tests.streams import TRADES, Trade  # noqa: E402


def attempt(name: str, seq: int) -> dict[str, Any]:
    at = time.monotonic()
    try:
        return {"seq": seq, "id": TRADES.publish_sync(Trade(seq, name)), "at": at}
    except PublishFailed as exc:
        message = str(exc)
        if "may or may not have been added" in message:
            outcome = "ambiguous"
        elif "was not added" in message:
            outcome = "not_added"
        else:
            outcome = "error"
        return {"seq": seq, "outcome": outcome, "detail": message, "at": at}
    except Exception as exc:  # publish_sync must raise nothing else: the verdict says so
        return {"seq": seq, "outcome": "error", "detail": repr(exc), "at": at}


def burst(name: str, seq: int, rate: float, count: int) -> int:
    start = time.monotonic()
    for n in range(count):
        if _stopped[0]:
            break
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        print(json.dumps(attempt(name, seq)), flush=True)
        seq += 1
    return seq


def main() -> None:
    name, seq = sys.argv[1], 0
    for line in sys.stdin:
        command = json.loads(line)
        seq = burst(name, seq, command["rate"], command["count"])
        print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    main()
