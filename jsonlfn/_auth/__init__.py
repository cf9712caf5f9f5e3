"""Authentication backends for ``@requires``: API keys, Django sessions, JWT (and JWKS)."""
