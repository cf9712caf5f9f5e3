"""schemathesis against the demo's OpenAPI document, served by uvicorn.

Requests are made here, not by schemathesis, so that every stream is read with a bound
(256 KB, 0.3 s, or 2 s without a byte: the demo's ticker and chat never end); the
complete lines read are handed to schemathesis's own checks (server errors, status
codes, content types, headers), plus ``jsonl_items_match_item_schema``: schemathesis
reads ``itemSchema`` for event streams only, so each JSON line is validated here
against the operation's ``itemSchema``.

``positive_data_acceptance`` is left out, as in the README's ``schemathesis run``: JSON
Schema counts ``86.0`` as an integer, and jsonlfn decodes bodies strictly (msgspec).

A longer run by hand: JSONLFN_SCHEMATHESIS_EXAMPLES=500 pytest tests/test_schemathesis.py
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

import httpx
import jsonschema
import orjson
import schemathesis
from demo.events import registry
from hypothesis import HealthCheck, assume, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

DOCUMENT = registry.openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
EXAMPLES = int(os.environ.get("JSONLFN_SCHEMATHESIS_EXAMPLES", "10"))
JSONL = ("application/jsonl", "application/x-ndjson", "application/json-lines")


@schemathesis.check
def jsonl_items_match_item_schema(ctx: Any, response: Any, case: Any) -> None:
    """Every line of a JSON Lines response matches the documented itemSchema."""
    media_type = response.headers.get("content-type", [""])[0].split(";")[0]
    if media_type not in JSONL or response.status_code != 200:
        return
    operation = DOCUMENT["paths"][case.path][case.method.lower()]
    item_schema = operation["responses"]["200"]["content"][media_type]["itemSchema"]
    validator = jsonschema.Draft202012Validator(
        {**item_schema, "components": DOCUMENT["components"]}
    )
    for number, line in enumerate(response.content.splitlines(), start=1):
        errors = list(validator.iter_errors(orjson.loads(line)))
        assert not errors, f"line {number} {line[:100]!r}: {errors[0].message}"


def bounded_call(case: Any, base_url: str) -> httpx.Response:
    """The request, with the body read for at most 256 KB or 0.3 s, complete lines only."""
    kwargs = case.as_transport_kwargs(base_url=base_url)
    kwargs.pop("timeout", None)
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")  # httpx's name for a raw body
    body = b""
    timeout = httpx.Timeout(10, read=2)  # a quiet stream (the chat) sends nothing for long
    with httpx.Client(timeout=timeout) as client, client.stream(**kwargs) as streamed:
        began = time.monotonic()
        try:
            for chunk in streamed.iter_bytes():
                body += chunk
                if len(body) > 256_000 or time.monotonic() - began > 0.3:
                    body = body[: body.rfind(b"\n") + 1]  # a cut stream: keep whole lines
                    break
        except httpx.ReadTimeout:  # quiet since its headers: cut like a long one
            body = body[: body.rfind(b"\n") + 1]
        decoded = ("transfer-encoding", "content-encoding")  # body is already decoded
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k not in decoded]
        response = httpx.Response(
            streamed.status_code, headers=headers, content=body, request=streamed.request
        )
        response.elapsed = datetime.timedelta(seconds=time.monotonic() - began)
        return response


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(case: Any, demo_server: int) -> None:
    try:
        response = bounded_call(case, f"http://127.0.0.1:{demo_server}")
    except httpx.LocalProtocolError:
        assume(False)  # a header no HTTP client may send, e.g. "Bearer " with trailing space
    case.validate_response(
        response,
        additional_checks=[jsonl_items_match_item_schema],
        excluded_checks=[positive_data_acceptance],
    )
