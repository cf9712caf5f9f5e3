"""The public API: every name in __all__ exists, and nothing public is missing from it;
``import jsonlfn.client`` loads no Django."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

import jsonlfn


def test_all_matches_the_public_names() -> None:
    public = {
        name
        for name in dir(jsonlfn)
        if not name.startswith("_") and not isinstance(getattr(jsonlfn, name), types.ModuleType)
    }
    assert set(jsonlfn.__all__) == public
    assert jsonlfn.__all__ == sorted(jsonlfn.__all__, key=lambda n: (not n.isupper(), n))


def test_every_public_name_is_the_object_its_module_defines() -> None:
    for name in jsonlfn.__all__:
        module = sys.modules[jsonlfn._MODULES[name]]
        assert getattr(jsonlfn, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'jsonl_steam'"):
        jsonlfn.jsonl_steam  # noqa: B018


def _modules_after(statement: str) -> list[str]:
    """The modules a fresh interpreter holds after ``statement`` (no settings module)."""
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    modules: list[str] = json.loads(out.stdout)
    return modules


def test_importing_the_client_imports_no_django_and_nothing_of_the_server() -> None:
    modules = _modules_after("import jsonlfn.client")
    assert "jsonlfn.client" in modules
    assert [m for m in modules if m == "django" or m.startswith("django.")] == []
    server = [
        m
        for m in modules
        if m.startswith("jsonlfn.") and not m.startswith(("jsonlfn.client", "jsonlfn._client"))
    ]
    assert server == []


def test_a_public_name_loads_its_module_on_first_use() -> None:
    modules = _modules_after("from jsonlfn import jsonl_stream")
    assert "jsonlfn._decorators" in modules
    assert "jsonlfn._topics._redis" not in modules
