"""What a backend knows of a topic: its name, Redis key, model and limits.

``Topic`` is the API; a ``Channel`` is its description, built once, which is all a
backend is given (so the backends never import the API that chooses them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import msgspec


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Channel:
    """One topic, as the backends see it."""

    name: str
    model: Any
    maxlen: int
    key: bytes = b""  # the Redis stream: jsonlfn:{topics}:<name>
    decode: Callable[[bytes], Any] = dataclasses.field(default=bytes.decode, repr=False)

    @classmethod
    def of(cls, name: str, model: Any, maxlen: int) -> Channel:
        """The channel of topic ``name``; ``model`` decodes what its publishers wrote."""
        key = f"jsonlfn:{{topics}}:{name}".encode()
        return cls(name, model, maxlen, key, msgspec.json.Decoder(model).decode)
