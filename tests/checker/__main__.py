"""``python -m tests.checker [--seed N] [--size small|soak] [--duration S] [--seeds K]``

Runs the schedule of seed N (of seeds N to N+K-1 with ``--seeds``) and prints each run's
summary, and its first violation with the schedule that replays it. Exits 1 if any run
found a violation or left a process running. ``make soak`` runs ``--size soak``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from tests.checker.run import run  # noqa: E402 - needs Django set up
from tests.checker.schedule import draw  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.checker", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--size", choices=["small", "soak"], default="small")
    parser.add_argument("--duration", type=float, default=300.0, help="soak seconds")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds from --seed")
    args = parser.parse_args()
    first = random.randrange(1, 10**6) if args.seed is None else args.seed
    failed = 0
    for seed in range(first, first + args.seeds):
        logs = Path(tempfile.mkdtemp(prefix=f"jsonlfn-checker-{seed}-"))
        schedule = draw(seed, args.size, args.duration)
        result = asyncio.run(run(schedule, logs, lambda line: print(line, file=sys.stderr)))
        print(result.report(), flush=True)
        failed += bool(result.verdict.violations or result.leftovers)
    if args.seeds > 1:
        print(f"{failed} of {args.seeds} seeds found a violation")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
