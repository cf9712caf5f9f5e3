from __future__ import annotations

import pytest

from jsonlfn._http._negotiation import negotiate


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/jsonl"),
        ("", "application/jsonl"),
        ("*/*", "application/jsonl"),
        ("application/*", "application/jsonl"),
        ("application/x-ndjson", "application/x-ndjson"),
        ("Application/JSON-Lines", "application/json-lines"),
        ("application/jsonl; charset=utf-8", "application/jsonl"),
        ("application/x-ndjson;q=0.5, application/jsonl;q=0.9", "application/jsonl"),
        ("application/jsonl;q=0, */*", "application/x-ndjson"),
        ("text/html, */*;q=0.1", "application/jsonl"),
        ("application/json", None),
        ("text/event-stream", None),
        ("application/jsonl;q=0", None),
        ("application/jsonl;q=nonsense", None),
        ("application/jsonl;q=2", None),
        (",,;", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected
