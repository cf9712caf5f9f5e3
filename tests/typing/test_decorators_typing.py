"""Checked by `mypy --strict` in `make test`: decorators keep the function's type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, assert_type

import msgspec

from jsonlfn import Registry, body, cookies, headers, jsonl_stream, query, sse

registry = Registry()


class Item(msgspec.Struct):
    id: int


class Page(msgspec.Struct):
    page: int = 1


@registry.get("items/")
@jsonl_stream(model=Item)
@sse(retry=3)
@query(Page)
@headers(Page)
@cookies(Page)
@body(Page)
async def items(
    request: Any, query: Page, headers: Page, cookies: Page, body: Page
) -> AsyncIterator[Item]:
    yield Item(id=query.page)


def check() -> None:
    page = Page()
    assert_type(items(None, page, page, page, page), AsyncIterator[Item])
    # With --strict an unused ignore is an error: this proves the parameters kept their types.
    items(None, "not a page", page, page, page)  # type: ignore[arg-type]
