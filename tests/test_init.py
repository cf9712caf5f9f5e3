"""The public API: every name in __all__ exists, and nothing public is missing from it."""

from __future__ import annotations

import types

import jsonlfn


def test_all_matches_the_public_names() -> None:
    public = {
        name
        for name, value in vars(jsonlfn).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(jsonlfn.__all__) == public
    assert jsonlfn.__all__ == sorted(jsonlfn.__all__, key=lambda n: (not n.isupper(), n))
