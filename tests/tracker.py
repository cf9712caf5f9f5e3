"""Counts stream functions started and finished, as seen from inside the server."""

from __future__ import annotations

import threading
import time


class Tracker:
    """Thread-safe counters a stream function bumps on entry and in its ``finally``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.finished = 0
        self.events: list[str] = []

    def start(self, label: str = "") -> None:
        with self._lock:
            self.started += 1
            self.events.append(f"start {label}")

    def finish(self, label: str = "") -> None:
        with self._lock:
            self.finished += 1
            self.events.append(f"finish {label}")

    def wait_all_finished(self, within: float = 2.0) -> float:
        """Seconds until finished == started (> 0); raises AssertionError after ``within``."""
        began = time.monotonic()
        while time.monotonic() - began < within:
            with self._lock:
                if self.started and self.finished == self.started:
                    return time.monotonic() - began
            time.sleep(0.005)
        raise AssertionError(f"started {self.started}, finished {self.finished}: {self.events}")


tracker = Tracker()
