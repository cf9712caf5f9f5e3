"""``JWTAuth``: bearer JSON Web Tokens checked by PyJWT, keys static or from a JWKS URL.

Hard to misconfigure on purpose: the algorithm allowlist is explicit and never read
from the token, ``none`` is refused, every problem in the set-up is an
``ImproperlyConfigured`` when the backend is created (import time), and a failure to
fetch keys refuses the request (401) instead of failing open or with a 500.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest

from jsonlfn._auth._backends import Identity
from jsonlfn._auth._jwks import KeySet
from jsonlfn._errors import Unauthorized

_MAX_TOKEN = 8192  # bytes; a longer "token" is refused before any parsing
_NEEDS_CRYPTO = ("RS", "PS", "ES", "Ed")


class JWTAuth:
    """Bearer JWTs: ``@requires(JWTAuth(key=PUBLIC_KEY, algorithms=["RS256"]))``.

    One of ``key`` (public key or JWK), ``secret`` (HMAC) or ``jwks_url``; an explicit
    ``algorithms`` allowlist. ``JWTAuth()`` reads ``settings.JSONLFN["JWT"]`` (the same
    keywords), and without it uses HS256 with ``SECRET_KEY``. ``required_claims``
    default to ``["exp"]``. Scopes come from ``scope`` (space-separated) or ``scp`` /
    ``scopes`` (lists). ``close_on_expiry=True`` ends a stream when its token expires.
    """

    name = "jwt"

    def __init__(self, **options: Any) -> None:
        self._stale = False  # settings changed since they were read (tests override them)
        if options:
            self._configure(**options)
        else:
            self._configure_from_settings()
            _FROM_SETTINGS.add(self)

    def _configure_from_settings(self) -> None:
        given = dict(getattr(settings, "JSONLFN", None) or {}).get("JWT", {})
        if not given:
            given = {"secret": settings.SECRET_KEY, "algorithms": ["HS256"]}
        self._configure(**given)
        self._stale = False

    def _configure(
        self,
        *,
        key: Any = None,
        secret: str | bytes | None = None,
        jwks_url: str | None = None,
        algorithms: Iterable[str] | None = None,
        audience: str | Iterable[str] | None = None,
        issuer: str | None = None,
        leeway: float = 0,
        required_claims: Iterable[str] = ("exp",),
        scope_claim: str | None = None,
        header: str = "Authorization",
        scheme: str = "Bearer",
        close_on_expiry: bool = False,
        jwks_ttl: float = 300,
        jwks_min_refresh: float = 30,
        jwks_timeout: float = 5,
        jwks_max_keys: int = 100,
    ) -> None:
        if [key, secret, jwks_url].count(None) != 2:
            raise ImproperlyConfigured("JWTAuth needs exactly one of key=, secret= or jwks_url=.")
        self.algorithms = _allowlist(algorithms)
        if (
            secret is not None
            and len(secret) < 32
            and any(a.startswith("HS") for a in self.algorithms)
        ):
            raise ImproperlyConfigured(
                "JWTAuth's HMAC secret must be at least 32 bytes (RFC 7518, section 3.2)."
            )
        self._key: Any = key if key is not None else secret
        self._jwks = (
            KeySet(
                jwks_url,
                ttl=jwks_ttl,
                min_refresh=jwks_min_refresh,
                timeout=jwks_timeout,
                max_keys=jwks_max_keys,
            )
            if jwks_url
            else None
        )
        self._audience = (
            audience if audience is None or isinstance(audience, str) else list(audience)
        )
        self._issuer = issuer
        self._leeway = leeway
        self._options = {"require": list(required_claims)}
        self._scope_claim = scope_claim
        self.header, self.scheme = header, scheme
        self.challenge = f'{scheme} realm="api"'
        self.close_on_expiry = close_on_expiry

    async def authenticate(self, request: HttpRequest) -> Identity | None:
        if self._stale:
            self._configure_from_settings()
        token = self._token(request)
        if token is None:
            return None
        key = self._key if self._jwks is None else await self._jwks.key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                options=self._options,  # type: ignore[arg-type]
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Invalid token: {exc}", challenge=self.challenge) from exc
        return Identity(
            self.name,
            subject=str(claims["sub"]) if "sub" in claims else None,
            scopes=_scopes(claims, self._scope_claim),
            claims=claims,
            expires_at=self._expires_at(claims),
        )

    def _expires_at(self, claims: dict[str, Any]) -> float | None:
        """When a ``close_on_expiry`` stream must end; PyJWT takes any integer as ``exp``
        (``10**400`` too), which a float cannot hold: such a token is refused."""
        if not self.close_on_expiry or "exp" not in claims:
            return None
        try:
            return float(claims["exp"])
        except (OverflowError, TypeError, ValueError):
            raise Unauthorized(
                "Invalid token: exp is not a time", challenge=self.challenge
            ) from None

    def _token(self, request: HttpRequest) -> str | None:
        value = request.headers.get(self.header)
        if value is None:
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != self.scheme.lower():  # auth schemes are case-insensitive
            return None
        token = token.strip()
        if not token or len(token) > _MAX_TOKEN:
            raise Unauthorized("Invalid token: missing or too large", challenge=self.challenge)
        return token

    def security_scheme(self) -> dict[str, Any]:
        return {"type": "http", "scheme": self.scheme, "bearerFormat": "JWT"}


def _allowlist(algorithms: Iterable[str] | None) -> list[str]:
    if algorithms is None or isinstance(algorithms, str):
        raise ImproperlyConfigured(
            'JWTAuth needs an explicit list of algorithms, e.g. algorithms=["RS256"]; '
            "it is never read from the token."
        )
    found = list(algorithms)
    known = jwt.api_jws.PyJWS().get_algorithms()
    for name in found:
        if name.lower() == "none" or name not in known:
            raise ImproperlyConfigured(f"JWTAuth cannot use the algorithm {name!r}.")
        if name.startswith(_NEEDS_CRYPTO) and not jwt.algorithms.has_crypto:
            raise ImproperlyConfigured(
                f"{name} needs the cryptography package: pip install 'pyjwt[crypto]'."
            )
    if not found:
        raise ImproperlyConfigured("JWTAuth's algorithms list is empty.")
    return found


def _scopes(claims: dict[str, Any], claim: str | None) -> frozenset[str]:
    for name in [claim] if claim else ["scope", "scp", "scopes"]:
        value = claims.get(name)
        if isinstance(value, str):
            return frozenset(value.split())
        if isinstance(value, list):
            return frozenset(str(v) for v in value)
    return frozenset()


_FROM_SETTINGS: weakref.WeakSet[JWTAuth] = weakref.WeakSet()  # JWTAuth() without options


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("SECRET_KEY", "JSONLFN"):
        for backend in list(_FROM_SETTINGS):
            backend._stale = True


setting_changed.connect(_settings_changed)
