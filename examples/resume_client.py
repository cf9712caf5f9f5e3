"""A client that loses its connection and resumes with Last-Event-ID: no gap, no duplicate.

Run it against `make demo`:  python examples/resume_client.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys

import httpx
import msgspec


class Event(msgspec.Struct):
    id: int
    text: str


def read_all(base_url: str, drop_after: int = 4) -> list[Event]:
    """Read /api/events/, dropping the connection every ``drop_after`` events."""
    decode = msgspec.json.Decoder(Event).decode
    received: list[Event] = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while True:
            headers = {"Last-Event-ID": str(received[-1].id)} if received else {}
            with client.stream("GET", "/api/events/", headers=headers) as response:
                for taken, line in enumerate(response.iter_lines(), start=1):
                    received.append(decode(line))
                    if taken == drop_after:
                        break  # leaving the block closes the connection mid-stream
                else:
                    return received  # the stream ended: everything was read


if __name__ == "__main__":
    for event in read_all(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"):
        print(event.id, event.text)
