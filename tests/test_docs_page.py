"""The docs page in a real headless Chromium: the demo served by uvicorn, and the test
project in-process (whose tracker sees the stream function's `finally` run)."""

from __future__ import annotations

import time
from typing import Any

from jsonlfn.testing import LiveServer
from tests.browser import browser_page, needs_browser
from tests.conftest import DEMO_PATHS, ROOT
from tests.tracker import tracker

_ = browser_page  # the `page` fixture

ARTIFACTS = ROOT / "tests" / "artifacts"


@needs_browser
def test_docs_page_renders_every_example_operation(page: Any, demo_server: int) -> None:
    page.goto(f"http://127.0.0.1:{demo_server}/docs/")
    page.wait_for_selector(".opblock")
    for path in DEMO_PATHS:
        assert page.locator(f'[data-path="{path}"]').count() == 1
    assert page.locator(".version-stamp").inner_text() == "OAS 3.2"
    summaries = page.locator(".opblock-summary-description").all_inner_texts()
    assert "Events 1 to 10, one every 20 ms, continuing after Last-Event-ID on reconnect." in (
        summaries
    )
    assert not [text for text in summaries if "`" in text]  # code spans shown as their text
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "docs-page.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 10_000


def lines_shown(operation: Any) -> int:
    """The line count jsonlfn's plugin shows for the stream of ``operation``."""
    return int(operation.locator(".jsonlfn-status").inner_text().split()[0])


def wait_for_lines(page: Any, operation_id: str, at_least: int) -> None:
    page.wait_for_function(
        "([id, n]) => parseInt(document.querySelector(`#${id} .jsonlfn-status`)?.textContent) >= n",
        arg=[operation_id, at_least],
    )


def open_operation(page: Any, url: str, operation_id: str) -> Any:
    page.goto(url)
    operation = page.locator(f"#{operation_id}")
    operation.locator(".opblock-summary").click()
    return operation


@needs_browser
def test_streams_show_item_schemas_example_lines_and_clean_parameters(
    page: Any, demo_server: int
) -> None:
    url = f"http://127.0.0.1:{demo_server}/docs/"
    events = open_operation(page, url, "operations-default-events")
    ok = events.locator(".responses-table tr.response").first
    assert '{"id":0,"text":"string"}\n{"type":"ping"}' in ok.locator("pre").first.inner_text()
    assert ok.locator(".examples-select option").all_inner_texts() == ["Event", "Ping"]
    ok.get_by_role("tab", name="Schema").click()
    ok.get_by_role("button", name="Expand all").first.click()
    titles = ok.locator(".json-schema-2020-12__title").all_inner_texts()
    assert {"#0 Event", "#1 Ping"} <= set(titles)  # the models of the item schema
    resume = events.locator('tr[data-param-name="Last-Event-ID"]').inner_text()
    assert "integer" in resume
    assert "null" not in resume  # an optional header is absent, never null


@needs_browser
def test_an_endless_stream_runs_in_the_page_until_stopped(page: Any, demo_server: int) -> None:
    url = f"http://127.0.0.1:{demo_server}/docs/"
    ticker = open_operation(page, url, "operations-default-ticker")
    ticker.locator("button.try-out__btn").click()
    ticker.locator("button.execute").click()
    wait_for_lines(page, "operations-default-ticker", 3)
    assert ticker.locator(".jsonlfn-lines").inner_text().startswith('{"n":1}\n{"n":2}\n')
    assert ticker.locator(".loading-container").count() == 0  # Swagger UI's spinner stopped
    ticker.locator(".jsonlfn-stop").click()
    assert ticker.locator(".jsonlfn-status").inner_text().endswith("stopped")


@needs_browser
def test_try_it_out_shows_lines_live_and_stop_closes_the_generator(
    page: Any, direct_server: LiveServer
) -> None:
    url = f"http://127.0.0.1:{direct_server.port}/api/docs/"
    count = open_operation(page, url, "operations-default-count")
    count.locator("button.try-out__btn").click()
    for name, value in {"n": "1000000", "delay": "0.02", "label": "docs-page"}.items():
        count.locator(f'tr[data-param-name="{name}"] input').fill(value)
    count.locator("button.execute").click()
    wait_for_lines(page, "operations-default-count", 3)
    seen = lines_shown(count)
    assert count.locator(".jsonlfn-lines").inner_text().startswith('{"i":0}\n{"i":1}\n')
    status = count.locator(".live-responses-table .response .response-col_status")
    assert status.inner_text() == "200"
    wait_for_lines(page, "operations-default-count", seen + 5)  # still arriving, live
    assert tracker.events == ["start docs-page"]  # the generator is still running
    count.locator(".jsonlfn-stop").click()
    assert count.locator(".jsonlfn-status").inner_text().endswith("stopped")
    deadline = time.monotonic() + 15
    while "finish docs-page" not in tracker.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tracker.events == ["start docs-page", "finish docs-page"]  # its finally ran


@needs_browser
def test_chromium_fetch_reads_each_gzip_line_as_it_arrives(
    page: Any, direct_server: LiveServer
) -> None:
    page.goto(f"http://127.0.0.1:{direct_server.port}/api/openapi.json")  # same origin
    found = page.evaluate(
        """async () => {
          const began = performance.now();
          const response = await fetch("/count/?n=3&delay=0.3");
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let text = "";
          const arrived = [];  // [ms since the request, complete lines so far]
          for (;;) {
            const chunk = await reader.read();
            if (chunk.done) break;
            text += chunk.value;
            arrived.push([performance.now() - began, text.split("\\n").length - 1]);
          }
          return {encoding: response.headers.get("content-encoding"), text, arrived};
        }"""
    )
    assert found["encoding"] == "gzip"
    assert found["text"] == '{"i":0}\n{"i":1}\n{"i":2}\n'
    first = {lines: at for at, lines in reversed(found["arrived"])}  # line -> when it came
    # each line decoded when it was produced (0.3 s apart), not all at the end: a gap, not
    # a time since the request, which a busy machine stretches
    assert first[3] - first[1] > 300


@needs_browser
def test_every_media_type_the_dropdown_offers_streams_live_with_stop(
    page: Any, demo_server: int
) -> None:
    """Each JSON Lines alias and text/event-stream: Swagger UI reads some of them as
    text, and drew no body for an empty one (issue 23: x-ndjson showed nothing)."""
    url = f"http://127.0.0.1:{demo_server}/docs/"
    ticker = open_operation(page, url, "operations-default-ticker")
    offered = ticker.locator("select.content-type").first.locator("option").all_inner_texts()
    assert offered == [
        "application/jsonl",
        "application/x-ndjson",
        "application/json-lines",
        "text/event-stream",
    ]
    for media_type in offered:
        ticker = open_operation(page, url, "operations-default-ticker")
        ticker.locator("button.try-out__btn").click()
        ticker.locator("select.content-type").first.select_option(media_type)
        ticker.locator("button.execute").click()
        wait_for_lines(page, "operations-default-ticker", 3)
        shown = ticker.locator(".jsonlfn-lines").inner_text()
        assert shown.startswith('{"n":1}\n{"n":2}\n'), media_type
        headers = ticker.locator(".live-responses-table .response .response-col_description")
        assert f"content-type: {media_type}" in headers.inner_text()
        unit = "events" if media_type == "text/event-stream" else "lines"
        ticker.locator(".jsonlfn-stop").click()
        assert ticker.locator(".jsonlfn-status").inner_text().endswith(f"{unit}, stopped")
