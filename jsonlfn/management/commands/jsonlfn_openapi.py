"""``manage.py jsonlfn_openapi [--registry dotted.path] [--output file]
[--openapi-version 3.2|3.1]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import get_resolver
from django.utils.module_loading import import_string

from jsonlfn._registry import OPENAPI_VERSIONS, REGISTRIES, Registry


class Command(BaseCommand):
    help = "Print the OpenAPI 3.2 (or 3.1) document of a jsonlfn Registry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--registry",
            help="dotted path of the Registry, e.g. myapp.streams.registry "
            "(default: the only one the urlconf creates)",
        )
        parser.add_argument("--output", type=Path, help="write to this file instead of stdout")
        parser.add_argument(
            "--openapi-version",
            choices=OPENAPI_VERSIONS,
            default="3.2",
            help="3.2 (default) or 3.1, for tools that don't read 3.2 yet",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        registry = self._registry(options["registry"])
        found = registry.openapi(options["openapi_version"])
        document = orjson.dumps(found, option=orjson.OPT_INDENT_2).decode()
        if options["output"] is None:
            self.stdout.write(document)
        else:
            options["output"].write_text(document + "\n")

    def _registry(self, dotted: str | None) -> Registry:
        get_resolver().url_patterns  # noqa: B018 - imports the urlconf, creating registries
        if dotted is not None:
            try:
                found = import_string(dotted)
            except ImportError as exc:
                raise CommandError(
                    f"--registry {dotted}: {exc}. Give the dotted path of a jsonlfn "
                    "Registry, e.g. myapp.streams.registry."
                ) from exc
            if not isinstance(found, Registry):
                raise CommandError(f"{dotted} is a {type(found).__name__}, not a jsonlfn Registry.")
            return found
        registries = [r for r in REGISTRIES if r.routes]
        if len(registries) != 1:
            titles = sorted(r.title for r in registries)
            raise CommandError(
                f"Found {len(registries)} registries with routes ({titles}); "
                "name one with --registry dotted.path."
            )
        return registries[0]
