"""Authentication: backends are small values; ``@requires`` records them on the spec.

A backend has one method, ``authenticate(request)``: it returns an ``Identity``, returns
``None`` when the request carries none of its credentials, or raises ``Unauthorized``
when they are present but wrong. The first backend that accepts the request wins.
"""

from __future__ import annotations

import dataclasses
import hmac
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from jsonlfn._errors import Forbidden, SpecError, Unauthorized


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who made the request: on ``request.auth``, and the ``auth`` keyword if declared."""

    backend: str
    subject: str | None = None
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    expires_at: float | None = None  # set when the stream must end at this Unix time


@runtime_checkable
class AuthBackend(Protocol):
    """What ``@requires`` accepts."""

    name: str  # the security scheme's name in the OpenAPI document
    challenge: str  # the WWW-Authenticate value on a 401

    async def authenticate(self, request: HttpRequest) -> Identity | None: ...

    def security_scheme(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AuthOptions:
    """What ``@requires`` records."""

    backends: tuple[AuthBackend, ...]
    scopes: frozenset[str]


def check_backends(backends: Iterable[object], scopes: Iterable[str]) -> AuthOptions:
    found = tuple(backends)
    if not found:
        raise SpecError("@requires needs at least one backend, e.g. @requires(JWTAuth()).")
    for backend in found:
        if not isinstance(backend, AuthBackend):
            raise SpecError(
                f"@requires got {backend!r}; backends are objects such as JWTAuth(), "
                "APIKeyAuth(...) or SessionAuth() (note the parentheses)."
            )
    if isinstance(scopes, str):
        raise SpecError(f'scopes must be a list of strings, for example scopes=["{scopes}"].')
    return AuthOptions(found, frozenset(scopes))  # type: ignore[arg-type]


async def authenticate(options: AuthOptions, request: HttpRequest) -> Identity:
    """The first backend's identity, or ``Unauthorized``; ``Forbidden`` without the scopes."""
    refused: Unauthorized | None = None
    for backend in options.backends:
        try:
            identity = await backend.authenticate(request)
        except Unauthorized as exc:
            refused = refused or exc
            continue
        if identity is not None:
            missing = sorted(options.scopes - identity.scopes)
            if missing:
                raise Forbidden(f"Missing scope(s): {', '.join(missing)}")
            return identity
    challenge = ", ".join(b.challenge for b in options.backends)
    if refused is not None:
        raise Unauthorized(refused.msg, challenge=challenge)
    raise Unauthorized("Not authenticated", challenge=challenge)


KeyResult = Identity | str | bool | None
KeyCheck = Callable[[str], KeyResult | Awaitable[KeyResult]]


class APIKeyAuth:
    """An API key in a header: ``APIKeyAuth(keys={"k3y": "alice"})`` or ``check=fn``.

    ``keys`` maps each key to its subject and is compared in constant time. ``check(key)``
    (sync or async) returns an ``Identity``, a subject string, ``True``, or a false value
    to refuse.
    """

    def __init__(
        self,
        *,
        header: str = "X-API-Key",
        check: KeyCheck | None = None,
        keys: Mapping[str, str] | None = None,
        name: str = "apiKey",
    ) -> None:
        if (check is None) == (keys is None):
            raise ImproperlyConfigured("APIKeyAuth needs exactly one of check= or keys=.")
        self.header = header
        self.name = name
        self.challenge = f'APIKey header="{header}"'
        self._check: KeyCheck = check if check is not None else constant_time_lookup(keys or {})

    async def authenticate(self, request: HttpRequest) -> Identity | None:
        key = request.headers.get(self.header)
        if key is None:
            return None
        result = self._check(key)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Identity):
            return result
        if not result:
            raise Unauthorized("Invalid API key", challenge=self.challenge)
        return Identity(self.name, subject=result if isinstance(result, str) else None)

    def security_scheme(self) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": self.header}


def constant_time_lookup(keys: Mapping[str, str]) -> Callable[[str], str | None]:
    """A ``check`` for ``APIKeyAuth``: the subject of ``key``, comparing every stored key
    in constant time so response timing does not reveal how much of a key matched."""
    stored = [(key.encode(), subject) for key, subject in keys.items()]

    def check(key: str) -> str | None:
        given = key.encode()
        found = None
        for candidate, subject in stored:
            if hmac.compare_digest(candidate, given):
                found = subject
        return found

    return check


class SessionAuth:
    """Django's logged-in user (``request.auser()``), from the session cookie.

    Needs ``SessionMiddleware`` and ``AuthenticationMiddleware``, which run on both
    serving paths (``registry.asgi()`` runs ``MIDDLEWARE`` too). Stream views are
    CSRF-exempt, so for unsafe methods (POST, ...) this backend runs Django's CSRF check
    itself and answers 403 when it fails; GET streams need no token.
    """

    name = "session"
    challenge = 'Cookie realm="session"'

    def __init__(self) -> None:
        needed = "django.contrib.auth.middleware.AuthenticationMiddleware"
        if needed not in settings.MIDDLEWARE:
            raise ImproperlyConfigured(f"SessionAuth() needs {needed} in MIDDLEWARE.")

    async def authenticate(self, request: HttpRequest) -> Identity | None:
        user = await request.auser()
        if not user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            _check_csrf(request)
        permissions = getattr(user, "aget_all_permissions", None)  # PermissionsMixin users
        scopes = frozenset(await permissions()) if permissions is not None else frozenset()
        return Identity(self.name, subject=str(user.pk), scopes=scopes)

    def security_scheme(self) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}


def _check_csrf(request: HttpRequest) -> None:
    from django.middleware.csrf import CsrfViewMiddleware  # noqa: PLC0415

    def no_response(_: HttpRequest) -> Any:  # pragma: no cover - never called
        raise AssertionError

    rejected = CsrfViewMiddleware(no_response).process_view(request, no_response, (), {})
    if rejected is not None:
        raise Forbidden("CSRF verification failed for this cookie-authenticated request")
