"""A publisher process for tests/test_topics_live.py: ``python -m tests.topic_publisher N``
publishes N trades to the ``trades`` topic at about 50 a second with ``publish_sync``,
printing each event id as it is added. ``JSONLFN_TEST_TOPICS`` names the Redis."""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from tests.streams import TRADES, Trade  # noqa: E402 - needs Django set up


def main() -> None:
    for n in range(int(sys.argv[1])):
        print(TRADES.publish_sync(Trade(n, "from another process")), flush=True)
        time.sleep(0.02)


if __name__ == "__main__":
    main()
