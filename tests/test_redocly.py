"""Redocly CLI's recommended rules pass on the demo's documents (3.2 and 3.1), with the
repository's redocly.yaml (which allows Django's trailing slashes, and says why)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from demo.events import registry

from tests.conftest import ROOT

REDOCLY = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "redocly"


@pytest.mark.skipif(
    not REDOCLY.exists(), reason="Redocly CLI is not installed: `make node-tools` (npm)"
)
@pytest.mark.parametrize("version", ["3.2", "3.1"])
def test_recommended_rules_pass_on_the_demo(version: str, tmp_path: Path) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(registry.openapi(version)))
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    command = [str(REDOCLY), "lint", "--config", str(ROOT / "redocly.yaml"), "--format=json"]
    result = subprocess.run(
        [*command, str(document)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}
    assert result.returncode == 0, result.stderr
