"""The garbage collector's first threshold follows the number of open streams
(``jsonlfn/_stream/_collector.py``), and never overrides a process's own thresholds."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from jsonlfn._stream._capacity import Slot, admit, admitted
from jsonlfn._stream._collector import FEW, MANY

DEFAULT = (700, 10, 10)
TUNED = (7000, 10, 10)


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(*DEFAULT)
    assert admitted() < FEW - 1  # no other streams open in this process now
    yield
    gc.set_threshold(*saved)


def open_until(count: int) -> list[Slot]:
    return [admit(None, 5) for _ in range(count - admitted())]


def test_many_open_streams_raise_the_first_threshold_and_few_bring_it_back() -> None:
    slots = open_until(MANY - 1)
    assert gc.get_threshold() == DEFAULT
    slots.append(admit(None, 5))
    assert gc.get_threshold() == TUNED
    while admitted() > FEW:
        slots.pop().release()
    assert gc.get_threshold() == TUNED  # no flapping around MANY
    slots.pop().release()
    assert gc.get_threshold() == DEFAULT
    for slot in slots:
        slot.release()
    assert gc.get_threshold() == DEFAULT


@pytest.mark.parametrize(
    ("before", "while_many"),
    [
        ((2000, 10, 10), (20000, 10, 10)),  # Python 3.13's default, ten times too
        ((1000, 20, 5), (1000, 20, 5)),  # a process with thresholds of its own keeps them
    ],
)
def test_thresholds_while_many_streams_are_open(
    before: tuple[int, int, int], while_many: tuple[int, int, int]
) -> None:
    gc.set_threshold(*before)
    slots = open_until(MANY)
    assert gc.get_threshold() == while_many
    for slot in slots:
        slot.release()
    assert gc.get_threshold() == before


def test_thresholds_set_while_tuned_are_kept() -> None:
    slots = open_until(MANY)
    gc.set_threshold(5000, 10, 10)  # the project's own choice, made meanwhile
    for slot in slots:
        slot.release()
    assert gc.get_threshold() == (5000, 10, 10)


def test_gc_tuning_off_leaves_the_collector_alone() -> None:
    with override_settings(JSONLFN={**settings.JSONLFN, "GC_TUNING": False}):
        slots = open_until(MANY)
        assert gc.get_threshold() == DEFAULT
        for slot in slots:
            slot.release()
