"""The garbage collector's first threshold, raised while many streams are open.

An open stream holds about 60 GC-tracked objects, and each line it delivers leaves four
more that live until its next line (``tests/bench/stream_objects.py``). With CPython's
first threshold (a collection of the youngest generation every 700 allocations; 2,000
from 3.13), those survivors and every batch in flight reach the oldest generation
within one event, and a full collection (every object of every open stream: 360 ms at
10,000 of them) runs every few events. From ``MANY`` open streams on, jsonlfn makes the
first threshold ten times CPython's: on 3.11, in process, CPU per delivered line went
from 24 to 12 µs with 10,000 subscribers and from 11-15 to 9 µs with 2,000 (3.13: 16-23
to 13-14 µs, and 12 to 10-11.5).

Nothing is frozen or switched off: every cycle is still collected, after ten times as
many allocations. A process whose thresholds are not CPython's defaults keeps its own;
the defaults come back below ``FEW`` open streams. ``GC_TUNING: False`` leaves the
collector alone.
"""

from __future__ import annotations

import gc

from jsonlfn._settings import conf

DEFAULTS = frozenset({(700, 10, 10), (2000, 10, 10)})  # CPython's: to 3.12, and 3.13
MANY = 500
FEW = 250  # below MANY, so that streams opening and closing around it do not flap
_replaced: list[tuple[int, int, int]] = []  # the defaults jsonlfn replaced


def tuned(default: tuple[int, int, int]) -> tuple[int, int, int]:
    first, second, third = default
    return first * 10, second, third


def adjust(open_streams: int) -> None:
    """Called as the count of open streams changes by one (under ``_capacity``'s lock)."""
    if open_streams == MANY:
        now = gc.get_threshold()
        if now in DEFAULTS and conf().GC_TUNING:
            _replaced[:] = [now]
            gc.set_threshold(*tuned(now))
    elif open_streams == FEW - 1 and _replaced:
        default = _replaced.pop()
        if gc.get_threshold() == tuned(default):  # else someone set their own since
            gc.set_threshold(*default)
