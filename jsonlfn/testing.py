"""Helpers for testing jsonlfn endpoints.

>>> from jsonlfn.testing import jwt_token
>>> headers = {"Authorization": f"Bearer {jwt_token(sub='alice', scopes=['events:read'])}"}
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from django.conf import settings

__all__ = ["jwt_token"]


def jwt_token(
    *,
    sub: str = "user",
    scopes: Iterable[str] = (),
    expires_in: float | None = 3600,
    key: Any = None,
    algorithm: str = "HS256",
    headers: Mapping[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed JWT for tests. By default HS256 with ``SECRET_KEY``, what ``JWTAuth()``
    accepts without configuration; pass ``key``/``algorithm`` (and ``headers`` such as a
    ``kid``) for other set-ups. ``expires_in=None`` leaves ``exp`` out."""
    payload: dict[str, Any] = {"sub": sub, "iat": int(time.time()), **claims}
    if scopes:
        payload["scope"] = " ".join(scopes)
    if expires_in is not None:
        payload["exp"] = int(time.time() + expires_in)
    signing_key = settings.SECRET_KEY if key is None else key
    return jwt.encode(payload, signing_key, algorithm=algorithm, headers=dict(headers or {}))
