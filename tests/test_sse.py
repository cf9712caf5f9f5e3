"""Server-Sent Events: framing (checked by a parser of another project, httpx-sse),
negotiation, errors before the stream, resume and the in-band ``history_gone`` event,
gzip, auth, HEAD, and the pytest helpers, in-process and on both serving paths."""

from __future__ import annotations

import asyncio
import gzip
import string
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from httpx_sse._decoders import SSEDecoder as ThirdPartyDecoder
from hypothesis import given
from hypothesis import strategies as st

from jsonlfn import SpecError, jsonl_stream, sse
from jsonlfn._http._negotiation import SSE_TYPES, negotiate
from jsonlfn._stream._loop import Plan
from jsonlfn._stream._sse import event_writer, events_writer
from jsonlfn.client import ServerSentEvent, SSEDecoder, StreamError
from jsonlfn.testing import LiveServer, StreamClient, jwt_token
from tests.sse_streams import Joined, Said, Tick

pytestmark = pytest.mark.anyio
SSE = {"Accept": "text/event-stream"}


def parse(body: bytes) -> list[Any]:
    """The events httpx-sse's decoder (not jsonlfn's) finds in the lines of ``body``."""
    decoder = ThirdPartyDecoder()
    found = []
    for line in body.decode().split("\n")[:-1]:  # after the last "\n": no line
        event = decoder.decode(line)
        if event is not None:
            found.append(event)
    return found


# --- framing ---------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
ids = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), min_size=1, max_size=8),
)


@given(st.lists(st.tuples(ids, texts), max_size=20), st.booleans(), st.booleans())
def test_each_item_is_one_event_whose_data_is_its_json(
    pairs: list[tuple[Any, str]], validate: bool, together: bool
) -> None:
    items = [{"id": key, "text": text} for key, text in pairs]
    batch = bytearray()
    if together:
        events_writer(Any, validate=validate, id_field="id")(items, batch)
    else:
        write = event_writer(dict[str, Any], validate=validate, id_field="id")
        for item in items:
            write(item, batch)
    body = bytes(batch)
    assert body == b"" or body.endswith(b"\n\n")  # whole events only
    assert all(line[:1] in (b"", b"d", b"i") for line in body.split(b"\n"))
    events = parse(body)
    assert [orjson.loads(e.data) for e in events] == items
    assert [e.id for e in events] == [k if isinstance(k, str) else str(k) for k, _ in pairs]


@given(st.lists(texts, max_size=30))
def test_events_without_fields_keep_the_batch_and_frame_it_whole(words: list[str]) -> None:
    batch = bytearray(b"before")
    items = [Tick(i=n, text=word) for n, word in enumerate(words)]
    events_writer(Tick, validate=True, id_field=None)(items, batch)
    assert batch.startswith(b"before")
    events = parse(bytes(batch[len(b"before") :]))
    assert [msgspec.json.decode(e.data, type=Tick) for e in events] == items
    assert {e.event for e in events} <= {"message"}


def test_a_failing_item_leaves_the_events_before_it_and_nothing_of_it() -> None:
    batch = bytearray()
    items = [{"i": 1}, {"i": 2}, {"i": "three"}, {"i": 4}]
    for model, field in ((Tick, None), (Tick, "i")):
        batch.clear()
        with pytest.raises(msgspec.ValidationError):
            events_writer(model, validate=True, id_field=field)(items, batch)
        assert [orjson.loads(e.data)["i"] for e in parse(bytes(batch))] == [1, 2]
        assert batch.endswith(b"\n\n")


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_an_id_an_id_line_cannot_carry_is_refused_when_written(bad: str) -> None:
    with pytest.raises(ValueError, match="line break or NUL"):
        event_writer(Any, validate=False, id_field="id")({"id": bad}, bytearray())


def test_the_tag_of_a_tagged_struct_names_its_event() -> None:
    batch = bytearray()
    write = events_writer(Joined | Said, validate=True, id_field=None)
    write([{"type": "joined", "user": "a"}, Said(user="a", text="hi")], batch)
    assert [(e.event, orjson.loads(e.data)["type"]) for e in parse(bytes(batch))] == [
        ("joined", "joined"),
        ("said", "said"),
    ]


def test_a_tag_that_cannot_be_an_event_name_fails_at_registration() -> None:
    class Bad(msgspec.Struct, tag="two\nlines"):
        pass

    with pytest.raises(SpecError, match="cannot be a Server-Sent Events event name"):
        Plan.build_sse("bad", Bad, validate=True)


def test_sse_needs_parentheses_and_seconds() -> None:
    async def fn(request: Any) -> Any:
        yield 1

    with pytest.raises(SpecError, match=r"write @sse\(\)"):
        sse(fn)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="zero or more seconds"):
        sse(retry=-1)
    with pytest.raises(SpecError, match="applied twice"):
        sse()(sse()(jsonl_stream()(fn)))


def test_our_decoder_agrees_with_httpx_sse_on_the_whatwg_examples() -> None:
    body = (
        b": a comment\n\ndata: first\ndata: second\nid: 7\n\nevent: add\ndata: x\n\n"
        b"id: bad\0id\ndata: y\n\nretry: 250\ndata:z\n\nretry: soon\ndata: w\n\ndata: cut"
    )
    ours = SSEDecoder()
    mine = [e for line in body.split(b"\n") if (e := ours.feed(line)) is not None]
    theirs = [(e.data, e.event, e.id, e.retry) for e in parse(body)]
    assert [(e.data, e.event, e.id, e.retry) for e in mine] == theirs
    assert mine[0] == ServerSentEvent("first\nsecond", "message", "7")
    assert mine[2].id == "7"  # an id with NUL is ignored; the last id persists


# --- negotiation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/event-stream", "text/event-stream"),
        ("text/*", "text/event-stream"),
        ("*/*", "application/jsonl"),
        (None, "application/jsonl"),
        ("application/x-ndjson", "application/x-ndjson"),
        ("text/event-stream;q=0.5, application/jsonl", "application/jsonl"),
        ("application/jsonl;q=0.5, text/event-stream", "text/event-stream"),
        ("application/*;q=0, */*", "text/event-stream"),
        ("text/event-stream;q=0", None),
        ("application/json", None),
    ],
)
def test_negotiate_among_jsonl_and_sse(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept, SSE_TYPES) == expected


async def test_accept_chooses_the_representation_and_406_lists_every_type() -> None:
    client = StreamClient()
    async with client.stream("/sse/ticks/?n=2", headers=SSE) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert "Accept" in response.headers["vary"]
        assert [tick async for tick in response] == [{"i": 1, "text": ""}, {"i": 2, "text": ""}]
    async with client.stream("/sse/ticks/?n=2") as response:
        assert response.headers["content-type"] == "application/jsonl"
        assert "Accept" in response.headers["vary"]
        assert await response.body() == b'{"i":1,"text":""}\n{"i":2,"text":""}\n'
    async with client.stream("/sse/ticks/", headers={"Accept": "application/json"}) as response:
        assert response.status == 406
        assert response.error is not None
        message = response.error.detail[0].msg
    assert message.startswith("This endpoint streams JSON Lines or Server-Sent Events")
    assert message.endswith(", ".join(SSE_TYPES))
    async with client.stream("/count/", headers=SSE) as response:  # no @sse: JSON Lines only
        assert response.status == 406


# --- the stream ------------------------------------------------------------------------


async def test_ids_retry_pings_and_on_error_on_the_wire() -> None:
    client = StreamClient()
    async with client.stream("/sse/ticks/?n=2&delay=0.35", headers=SSE) as response:
        body = await response.body()
    assert body.startswith(b"retry: 250\n")  # with the headers (priming timed out here)
    assert b"\n: ping\n" in body  # a comment (every 0.1 s while idle), not a message
    events = parse(body)
    assert [(e.id, e.retry) for e in events] == [("1", 250), ("2", None)]
    async with client.stream("/sse/fails/", headers=SSE) as response:
        events = [e async for e in response.events()]
    assert [(e.event, orjson.loads(e.data)) for e in events] == [
        ("message", {"i": 1, "text": ""}),
        ("error", {"error": "upstream went away"}),
    ]


async def test_errors_before_the_first_event_keep_their_status_and_json_body() -> None:
    client = StreamClient()
    cases = [
        ("/sse/ticks/?fail_first=true", {}, 404),
        ("/sse/ticks/?n=x", {}, 400),
        ("/sse/ids/?id=a%0Ab", {}, 422),  # the first item's id cannot be an SSE id
        ("/sse/secure/", {}, 401),
        ("/sse/secure/", {"Authorization": f"Bearer {jwt_token(scopes=['other'])}"}, 403),
    ]
    for path, extra, status in cases:
        async with client.stream(path, headers={**SSE, **extra}) as response:
            assert (path, response.status) == (path, status)
            assert response.headers["content-type"] == "application/json"
            assert response.error is not None
    token = jwt_token(sub="ann", scopes=["ticks:read"])
    async with client.stream(
        "/sse/secure/", headers={**SSE, "Authorization": f"Bearer {token}"}
    ) as r:
        assert [tick async for tick in r] == [{"i": 1, "text": "ann"}]


async def test_a_bad_id_mid_stream_ends_it_after_the_whole_events_before() -> None:
    async with StreamClient().stream("/sse/ids/?id=a&id=b%0Ac&id=d", headers=SSE) as response:
        body = await response.body()
    assert body == b'id: a\ndata: {"id":"a"}\n\n'


async def test_a_resume_continues_after_the_id_and_history_gone_is_in_band() -> None:
    client = StreamClient()
    async with client.stream("/sse/ticks/?n=4", headers={**SSE, "Last-Event-ID": "2"}) as r:
        assert [e.id async for e in r.events()] == ["3", "4"]
    async with client.stream("/sse/notes/?n=5&text=old", method="POST") as posted:
        published = [event_id async for event_id in posted]  # the topic keeps 3
    gone = {**SSE, "Last-Event-ID": published[0]}
    async with client.stream("/sse/notes/", headers=gone) as response:
        assert response.status == 200
        events = response.events()
        first = await anext(events)
        assert first.event == "history_gone"
        assert orjson.loads(first.data)["detail"][0]["type"] == "history_gone"
        assert first.id == ""  # the page's last id stays as it was until new events
        async with client.stream("/sse/notes/?n=1&text=new", method="POST") as posted:
            [new_id] = [event_id async for event_id in posted]
        live = await anext(events)  # then the live stream, as without Last-Event-ID
        assert (live.id, orjson.loads(live.data)) == (new_id, {"text": "new 1"})
    async with client.stream("/sse/notes/", headers=gone) as response:
        with pytest.raises(StreamError) as raised:
            await anext(response)
    assert raised.value.status == 410
    async with client.stream("/sse/notes/", headers={"Last-Event-ID": published[0]}) as response:
        assert response.status == 410  # JSON Lines keeps its 410
    async with client.stream("/sse/notes/", headers={**SSE, "Last-Event-ID": published[2]}) as r:
        events = r.events()
        assert [(await anext(events)).id for _ in range(3)] == [*published[3:], new_id]


async def test_head_and_gzip() -> None:
    client = StreamClient()
    async with client.stream("/sse/ticks/?n=2", method="HEAD", headers=SSE) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert await response.body() == b""
    headers = {**SSE, "Accept-Encoding": "gzip"}
    async with client.stream("/sse/plain/?n=50&text=abc", headers=headers) as response:
        assert response.headers["content-encoding"] == "gzip"
        body = gzip.decompress(await response.body())
    assert [orjson.loads(e.data)["i"] for e in parse(body)] == list(range(1, 51))


# --- over real sockets, both serving paths -----------------------------------------------


async def test_httpx_sse_reads_every_event_on_both_paths(live_server: LiveServer) -> None:
    from httpx_sse import aconnect_sse

    async with httpx.AsyncClient(timeout=10) as http:
        url = f"{live_server.url}/sse/ticks/?n=30&text={string.ascii_letters}"
        async with aconnect_sse(http, "GET", url) as source:
            assert source.response.headers["content-type"] == "text/event-stream"
            events = [event async for event in source.aiter_sse()]
    assert [e.id for e in events] == [str(i) for i in range(1, 31)]
    assert [e.json()["i"] for e in events] == list(range(1, 31))
    assert events[0].retry == 250


async def test_curl_reads_events_as_lines(live_server: LiveServer) -> None:
    curl = await asyncio.create_subprocess_exec(
        *("curl", "-N", "-s", "-H", "Accept: text/event-stream"),
        f"{live_server.url}/sse/room/",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await curl.communicate()
    assert out.decode().split("\n") == [
        "event: joined",
        'data: {"type":"joined","user":"ann"}',
        "",
        "event: said",
        'data: {"type":"said","user":"ann","text":"hi"}',
        "",
        "",
    ]


async def test_the_client_reads_sse_resumes_by_event_id_and_honours_retry(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jsonlfn import client

    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(client, "_sleep", sleep)
    url = f"{live_server.url}/sse/ticks/?n=3&busy_after=true"
    got: list[Tick] = []

    async def read() -> None:
        options = {"resume": True, "follow": True, "max_retries": 2}
        async for tick in client.stream(url, model=Tick, headers=SSE, **options):  # type: ignore[arg-type]
            got.append(tick)

    with pytest.raises(StreamError, match="failed after 3 attempt"):
        await read()
    assert [t.i for t in got] == [1, 2, 3]
    # The server's retry: (250 ms, then doubled) is shorter than its 503's Retry-After,
    # which the client honours when it has nowhere else to go.
    assert slept == [1.0, 1.0]


async def test_a_shutdown_ends_the_stream_after_whole_events() -> None:
    from jsonlfn._stream import _shutdown

    async with StreamClient().stream("/sse/ticks/?n=100000&delay=0.001", headers=SSE) as r:
        events = r.events()
        assert [(await anext(events)).id for _ in range(3)] == ["1", "2", "3"]
        try:
            assert _shutdown.stop_streams() >= 1
            rest = await r.body()
        finally:
            _shutdown._state["stopping"] = False
    assert rest == b"" or rest.endswith(b"\n\n")  # it ended, after whole events only
    ids = [int(e.id) for e in parse(rest)]
    assert ids == list(range(4, 4 + len(ids)))


async def test_max_streams_is_a_503_before_the_stream() -> None:
    from django.conf import settings
    from django.test import override_settings

    with override_settings(JSONLFN={**settings.JSONLFN, "MAX_STREAMS": 0}):
        async with StreamClient().stream("/sse/ticks/", headers=SSE) as response:
            assert response.status == 503
            assert response.headers["retry-after"]


def test_a_reader_that_stops_reading_is_timed_out(live_server: LiveServer) -> None:
    from django.test import override_settings

    from tests.tracker import tracker
    from tests.wire import StreamReader, open_request

    with override_settings(JSONLFN={"SEND_TIMEOUT": 1.0}):
        sock = open_request(live_server.port, "/sse/firehose/?text=stuck-sse", SSE)
        reader = StreamReader(sock)
        assert reader.next_line() == b'data: {"i":0,"text":""}\n'
        tracker.wait_all_finished(within=10.0)  # never reading on: SEND_TIMEOUT ends it
    sock.close()
    assert tracker.events == ["start stuck-sse", "finish stuck-sse"]
