"""Every code block in README.md runs: python blocks as-is, console transcripts for real."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
BLOCKS = [
    (m[1], m[2], README.read_text()[: m.start()].count("\n") + 1)
    for m in BLOCK.finditer(README.read_text())
]


def test_every_block_is_a_kind_that_runs() -> None:
    assert BLOCKS
    assert {kind for kind, _, _ in BLOCKS} <= {"python", "console", "javascript"}


@pytest.mark.parametrize("code", [code for kind, code, _ in BLOCKS if kind == "javascript"])
def test_javascript_blocks_are_quoted_from_the_demo_page(code: str) -> None:
    """Browser code is quoted verbatim from examples/demo/live.html, which Chromium
    runs in tests/test_sse_browser.py."""
    assert code in (README.parent / "examples" / "demo" / "live.html").read_text()


@pytest.mark.parametrize(
    ("code", "line"), [(code, line) for kind, code, line in BLOCKS if kind == "python"]
)
def test_python_block(code: str, line: int) -> None:
    if code == (README.parent / "examples" / "test_demo.py").read_text():
        return  # quoted verbatim; tests/test_examples.py runs the file itself
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": f"readme_line_{line}"})


def transcript(block: str) -> list[tuple[str, list[str]]]:
    """``[(command, expected output lines)]`` of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for text in block.splitlines():
        if text.startswith("$ "):
            steps.append((text[2:], []))
        else:
            steps[-1][1].append(text)
    return steps


@pytest.mark.parametrize(
    ("command", "expected"),
    [step for kind, code, _ in BLOCKS if kind == "console" for step in transcript(code)],
)
@pytest.mark.timeout(300)  # the README's `schemathesis run` fuzzes the whole demo (35-50 s)
def test_console_transcript(
    demo_server: int, command: str, expected: list[str], tmp_path: Path
) -> None:
    argv = shlex.split(command.replace("127.0.0.1:8000", f"127.0.0.1:{demo_server}"))
    if argv[0] == "schemathesis":
        return check_schemathesis(argv, expected, tmp_path)
    assert argv[0] == "curl"
    output = subprocess.run(argv, capture_output=True, check=True, timeout=20).stdout
    actual = output.decode().replace("\r\n", "\n").splitlines()
    assert [ln for ln in actual if not ln.startswith("date:")] == [
        ln for ln in expected if not ln.startswith("date:")
    ]
    return None


def check_schemathesis(argv: list[str], expected: list[str], cwd: Path) -> None:
    """The README's `schemathesis run` finishes with no failures and the summary shown
    (the time it took aside)."""
    program = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(program), *argv[1:]],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    summary = [re.sub(r"=+| in [\d.]+s", "", line).strip() for line in expected]
    got = [re.sub(r"=+| in [\d.]+s", "", result.stdout.splitlines()[-1]).strip()]
    assert summary == got, result.stdout[-3000:]
