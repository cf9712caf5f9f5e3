"""The stream loop under a real uvicorn server: bytes on the wire, priming, cleanup."""

from __future__ import annotations

import time

import orjson
import pytest
from django.test import override_settings

from tests.conftest import LiveServer
from tests.tracker import tracker
from tests.wire import StreamReader, chunks, fetch, open_request, reset


def lines(body: bytes) -> list[object]:
    assert body.endswith(b"\n"), body[-50:]
    return [orjson.loads(line) for line in body.splitlines()]


def test_exact_bytes_and_headers(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/count/?n=3")
    assert response.status == 200
    assert response.body == b'{"i":0}\n{"i":1}\n{"i":2}\n'
    assert response.headers["content-type"] == "application/jsonl"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["transfer-encoding"] == "chunked"


def test_every_json_kind_is_one_line(live_server: LiveServer) -> None:
    body = fetch(live_server.port, "/anything/").body
    assert body.count(b"\n") == 8
    assert lines(body) == [{"a": 1}, "two\nlines", 3, 4.5, None, True, [1, "x"], "é ✓"]


def test_connection_keep_alive_on_http11(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/count/?n=1")
    reader = StreamReader(sock)
    assert reader.response.headers["connection"] == "keep-alive"
    assert reader.next_line() == b'{"i":0}\n'
    sock.close()


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("application/x-ndjson", "application/x-ndjson"),
        ("application/json-lines", "application/json-lines"),
        ("text/html, application/*;q=0.5", "application/jsonl"),
    ],
)
def test_answers_with_the_alias_asked_for(
    live_server: LiveServer, accept: str, media_type: str
) -> None:
    response = fetch(live_server.port, "/count/?n=1", {"Accept": accept})
    assert response.headers["content-type"] == media_type


def test_priming_turns_an_early_http_error_into_a_real_404(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/orgs/0/users/")
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.body) == {"detail": [{"msg": "no such org", "type": "http_error"}]}


def test_invalid_first_item_is_a_422(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/invalid/?n=0")
    assert response.status == 422
    detail = orjson.loads(response.body)["detail"][0]
    assert detail["type"] == "value_error"
    assert detail["loc"] == ["item", "i"]
    assert "Expected `int`, got `str`" in detail["msg"]


def test_invalid_later_item_ends_the_stream_after_the_last_good_line(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    response = fetch(live_server.port, "/invalid/?n=2")
    assert response.status == 200
    assert response.body == b'{"i":0}\n{"i":1}\n'
    assert "failed mid-stream" in caplog.text


def test_a_nan_first_item_under_a_float_model_is_a_422_not_null(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/non-finite/?n=0")
    assert response.status == 422
    detail = orjson.loads(response.body)["detail"][0]
    assert detail["loc"] == ["item", "value"]
    assert "Expected a finite number" in detail["msg"]


def test_a_nan_later_item_ends_the_stream_after_the_last_good_line(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    response = fetch(live_server.port, "/non-finite/?n=2")
    assert response.body == b'{"value":0.0}\n{"value":0.5}\n'
    assert "failed mid-stream" in caplog.text


def test_unencodable_item_never_leaves_half_a_line(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/unencodable/?n=2")
    assert response.body == b'{"i":0}\n{"i":1}\n'


def test_exception_after_first_line_ends_cleanly_and_is_logged(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    response = fetch(live_server.port, "/fail/?n=2")
    assert response.status == 200
    assert response.body == b'{"i":0}\n{"i":1}\n'
    record = next(r for r in caplog.records if r.name == "jsonlfn")
    assert record.exc_info is not None
    assert "boom" in str(record.exc_info[1])


def test_on_error_replacement_is_the_last_line(live_server: LiveServer) -> None:
    body = fetch(live_server.port, "/fail-replaced/?n=2").body
    assert lines(body) == [{"i": 0}, {"i": 1}, {"error": "RuntimeError"}]


def test_exception_before_first_item_is_a_500_not_a_broken_200(live_server: LiveServer) -> None:
    response = fetch(live_server.port, "/fail/?n=0")
    assert response.status == 500


def test_slow_first_item_starts_the_response_within_the_prime_timeout(
    live_server: LiveServer,
) -> None:
    began = time.monotonic()
    sock = open_request(live_server.port, "/slow-first/?delay=3&n=2&label=slow")
    reader = StreamReader(sock)
    headers_after = time.monotonic() - began
    assert reader.response.status == 200
    assert headers_after < 2.5  # PRIME_TIMEOUT is 0.5 in tests.settings; the item takes 3 s
    assert reader.next_line() == b'{"i":0}\n'
    assert time.monotonic() - began >= 2.9  # the same run continued, not restarted
    assert reader.next_line() == b'{"i":1}\n'
    sock.close()
    assert tracker.events.count("start slow") == 1


def test_disconnect_mid_stream_runs_finally(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/count/?n=100000&delay=0.001&label=mid")
    assert StreamReader(sock).next_line() == b'{"i":0}\n'
    sock.close()
    tracker.wait_all_finished(within=10.0)
    assert "finish mid" in tracker.events


def test_disconnect_while_idle_runs_async_finally(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/idle/?label=idle")
    assert StreamReader(sock).next_line() == b'{"i":0}\n'
    time.sleep(0.2)  # the function is now parked in `await event.wait()`
    reset(sock)
    tracker.wait_all_finished(within=10.0)
    assert "finish idle" in tracker.events


def test_disconnect_while_priming_runs_finally(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/slow-first/?delay=30&label=priming")
    time.sleep(0.1)  # inside priming: no response yet
    sock.close()
    tracker.wait_all_finished(within=10.0)
    assert "finish priming" in tracker.events


def test_generator_that_never_awaits_does_not_freeze_the_server(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/count/?n=1000000000&label=tight")
    assert StreamReader(sock).next_line() == b'{"i":0}\n'
    began = time.monotonic()
    assert fetch(live_server.port, "/count/?n=1").body == b'{"i":0}\n'
    assert time.monotonic() - began < 10  # served, not frozen behind a busy stream
    reset(sock)
    tracker.wait_all_finished(within=10.0)


def test_slow_producer_lines_arrive_one_by_one(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/count/?n=3&delay=0.3")
    reader = StreamReader(sock)
    arrivals = []
    for _ in range(3):
        reader.next_line()
        arrivals.append(time.monotonic())
    sock.close()
    assert arrivals[1] - arrivals[0] > 0.2
    assert arrivals[2] - arrivals[1] > 0.2


@pytest.mark.parametrize("batch_bytes", [1, 64, 60 * 1024])
def test_batch_size_is_invisible_to_clients(live_server: LiveServer, batch_bytes: int) -> None:
    expected = b"".join(b'{"i":%d}\n' % i for i in range(5000))
    with override_settings(JSONLFN={"BATCH_BYTES": batch_bytes, "PRIME_TIMEOUT": 0.5}):
        assert fetch(live_server.port, "/count/?n=5000").body == expected


def test_ready_lines_are_coalesced_into_few_chunks(live_server: LiveServer) -> None:
    sock = open_request(live_server.port, "/count/?n=20000", {"Connection": "close"})
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    sock.close()
    sizes = [len(c) for c in chunks(data.partition(b"\r\n\r\n")[2])]
    assert sum(sizes) == len(b"".join(b'{"i":%d}\n' % i for i in range(20000)))
    assert len(sizes) < 10  # ~200 KB in 60 KiB batches, not 20,000 one-line chunks
