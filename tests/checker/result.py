"""What a checker run gives: the verdict, a summary of what it checked, and the first
violation with the schedule (and when each operation ran) that replays it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.checker.check import Verdict
from tests.checker.schedule import Schedule


@dataclass
class Result:
    schedule: Schedule
    verdict: Verdict
    ran: list[float]  # when each operation started, from the start
    coverage: Counter[str]
    leftovers: list[str]  # process groups that outlived the run (there must be none)
    seconds: float
    logs: Path

    def summary(self) -> str:
        counts = self.verdict.counts
        published = sum(v for k, v in counts.items() if k.startswith("publish "))
        endings = ", ".join(
            f"{k.removeprefix('ending ')} {v}"
            for k, v in sorted(counts.items())
            if k.startswith("ending ")
        )
        kinds = Counter(v.kind for v in self.verdict.violations)
        return "\n".join([
            f"checker seed {self.schedule.seed} ({self.schedule.size}): {len(self.ran)} "
            f"operations in {self.seconds:.1f}s",
            f"  published {published}: {counts['publish committed']} committed, "
            f"{counts['publish ambiguous']} ambiguous ({counts['ambiguous delivered']} delivered), "
            f"{counts['publish not_added']} not added",
            f"  {counts['clients']} clients, {counts['connections']} connections "
            f"({counts['resumes']} resumes), {counts['deliveries']} deliveries checked",
            f"  endings: {endings}",
            "  ran: " + ", ".join(f"{k} {v}" for k, v in sorted(self.coverage.items())),
            f"  violations: {len(self.verdict.violations)} {dict(kinds) if kinds else ''}".rstrip(),
        ])  # fmt: skip

    def report(self) -> str:
        lines = [self.summary()]
        if self.verdict.first is not None:
            lines += [f"FIRST VIOLATION (seed {self.schedule.seed}): {self.verdict.first}"]
            lines += [self.schedule.describe(self.ran), f"replay: {self.schedule.replay}"]
            lines += [f"worker logs: {self.logs}"]
        if self.leftovers:
            lines += [f"processes left running: {', '.join(self.leftovers)}"]
        return "\n".join(lines)
