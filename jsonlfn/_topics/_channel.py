"""What a backend knows of a topic: its name, Redis key, model and limits.

``Topic`` is the API; a ``Channel`` is its description, built once, which is all a
backend is given (so the backends never import the API that chooses them).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable
from typing import Any

import msgspec

from jsonlfn._errors import SpecError


@dataclasses.dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Channel:
    """One topic, as the backends see it."""

    name: str
    model: Any
    maxlen: int
    expire: float | None = None  # seconds without events (and subscribers) it is kept
    key: bytes = b""  # the Redis stream: jsonlfn:{topics}:<name>
    decode: Callable[[bytes], Any] = dataclasses.field(default=bytes.decode, repr=False)

    @classmethod
    def of(cls, name: str, model: Any, maxlen: int, expire: float | None = None) -> Channel:
        """The channel of topic ``name``: the one every ``Topic`` of that name shares.

        A ``Topic`` made again per request (a per-room topic) gets the same channel; one
        that disagrees on the model, ``maxlen`` or ``expire`` is a ``SpecError``, since the events
        of one topic are written and read with one model.
        """
        with _lock:
            found = _CHANNELS.get(name)
            if found is None:
                key = f"jsonlfn:{{topics}}:{name}".encode()
                decode = msgspec.json.Decoder(model).decode
                found = cls(name, model, maxlen, expire, key, decode)
                _CHANNELS[name] = found
        if (found.model, found.maxlen, found.expire) != (model, maxlen, expire):
            raise SpecError(
                f"Topic({name!r}, model={model!r}, maxlen={maxlen}, expire={expire}): a "
                f"topic of that name already exists with model={found.model!r}, "
                f"maxlen={found.maxlen}, expire={found.expire}. One "
                "name is one topic: define it once (e.g. in a topics.py) and import it, "
                "or give this one another name."
            )
        return found


_lock = threading.Lock()
_CHANNELS: weakref.WeakValueDictionary[str, Channel] = weakref.WeakValueDictionary()
