"""The reference page's JSON Lines endpoints and a few more, written as plain functions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec

import jsonlfn
from jsonlfn import (
    Forbidden,
    Identity,
    JWTAuth,
    Registry,
    Topic,
    body,
    headers,
    jsonl_stream,
    ping,
    query,
    requires,
    resume,
    sse,
)

registry = Registry(title="Demo events", version="1.0", license="MIT")

# Every input is bounded in its model, so the bounds are in the OpenAPI document and a
# fuzzer (schemathesis) cannot ask for a hundred million items.
EventId = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Count = Annotated[int, msgspec.Meta(ge=1, le=100)]


class User(msgspec.Struct):
    email: str


@registry.get("api/user/events/")
@jsonl_stream(model=User)
async def user_events(request: Any) -> AsyncIterator[User]:
    """Two users, one JSON line each."""
    yield User(email="first@example.com")
    yield User(email="second@example.com")


@registry.get("api/user/events/secure/")
@jsonl_stream(model=User)
@requires(JWTAuth())  # HS256 with SECRET_KEY unless settings.JSONLFN["JWT"] says otherwise
async def secure_user_events(request: Any) -> AsyncIterator[User]:
    """The same stream, for callers with a valid bearer token."""
    yield User(email=f"{request.auth.subject}@example.com")


class Resume(msgspec.Struct):
    last_event_id: EventId | None = msgspec.field(default=None, name="Last-Event-ID")


@registry.get("api/user/events/resume/")
@jsonl_stream(model=str)
@headers(Resume)
async def resumable_events(request: Any, headers: Resume) -> AsyncIterator[str]:
    """Where a reconnecting client would continue from, read from ``Last-Event-ID``."""
    if headers.last_event_id is None:
        yield "starting from scratch"
    else:
        yield f"starting from {headers.last_event_id}"


class Search(msgspec.Struct):
    limit: Count = 10


class Order(msgspec.Struct):
    item: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    quantity: Count


class Receipt(msgspec.Struct):
    line: int
    item: str


@registry.post("api/orders/")
@jsonl_stream(model=Receipt)
@query(Search)
@body(Order)
async def place_order(request: Any, query: Search, body: Order) -> AsyncIterator[Receipt]:
    """One receipt line per unit ordered, at most ``limit`` of them."""
    for line in range(1, min(body.quantity, query.limit) + 1):
        yield Receipt(line=line, item=body.item)


class Event(msgspec.Struct):
    id: int
    text: str


@registry.get("api/events/")
@jsonl_stream(model=Event, id="id")
@resume(EventId)
@ping(every=15)
@sse()
async def events(request: Any, last_event_id: int | None) -> AsyncIterator[Event]:
    """Events 1 to 10, one every 20 ms, continuing after ``Last-Event-ID`` on reconnect."""
    for n in range((last_event_id or 0) + 1, 11):
        await asyncio.sleep(0.02)
        yield Event(id=n, text=f"event {n}")


class Tick(msgspec.Struct):
    n: int


@registry.get("api/ticker/")
@jsonl_stream(model=Tick)
@sse()  # new EventSource("/api/ticker/") reads the same function
@ping(every=15)
async def ticker(request: Any) -> AsyncIterator[Tick]:
    """An endless stream: one tick every 50 ms, for as long as the client stays."""
    n = 0
    while True:
        n += 1
        yield Tick(n=n)
        await asyncio.sleep(0.05)


async def upstream_quote(delay: float) -> str:
    """A stand-in for a slow upstream service (an HTTP API, a queue, the database)."""
    await asyncio.sleep(delay)
    return f"quote after {delay} s"


@registry.get("api/quotes/")
@jsonl_stream(model=str)
async def quotes(request: Any) -> AsyncIterator[str]:
    """Three quotes from a slow upstream, each given at most 0.2 s."""
    for delay in (0.01, 5.0, 0.02):
        try:
            async with asyncio.timeout(0.2):
                quote = await upstream_quote(delay)
        except TimeoutError:
            quote = "upstream timed out"
        yield quote


class Message(msgspec.Struct):
    """A chat message."""

    text: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Posted(msgspec.Struct):
    """The event id a posted message got."""

    id: str


# In this process by default; one setting, JSONLFN["TOPICS"] = "redis://...", shares it
# between every worker and host (see README, "Many workers, many hosts").
chat = Topic("chat", model=Message, maxlen=1000)


@registry.get("api/chat/")
@jsonl_stream(model=jsonlfn.Event[Message], id="id")
@sse(retry=1)  # EventSource reconnects after 1 s, sending Last-Event-ID
@resume(str)
@ping(every=15)
async def chat_messages(request: Any, last_event_id: str | None) -> AsyncIterator[jsonlfn.Handoff]:
    """Every message posted to the chat, as it is posted; endless.

    With `Last-Event-ID`, first the messages after that one.
    """
    yield chat.subscription(after=last_event_id)  # jsonlfn streams the events


@registry.post("api/chat/messages/")
@jsonl_stream(model=Posted)
@body(Message)
async def post_message(request: Any, body: Message) -> AsyncIterator[Posted]:
    """Post a message to the chat; one line with its event id."""
    yield Posted(id=await chat.publish(body))


# One topic per organisation, made when first asked for: the same name is the same
# topic in every request, and a room nobody posts to or reads for an hour goes away.
def org_chat(org: int) -> Topic[Message]:
    return Topic(f"org:{org}:chat", model=Message, maxlen=1000, expire=3600)


def require_member(auth: Identity, org: int) -> None:
    """403 unless the token's ``orgs`` claim lists ``org``."""
    if org not in auth.claims.get("orgs", []):
        raise Forbidden(f"This token does not give access to organisation {org}")


@registry.get("api/orgs/<int:org>/chat/")
@jsonl_stream(model=jsonlfn.Event[Message], id="id")
@sse(retry=1)
@resume(str)
@requires(JWTAuth())
@ping(every=15)
async def org_chat_messages(
    request: Any, org: int, auth: Identity, last_event_id: str | None
) -> AsyncIterator[jsonlfn.Handoff]:
    """The chat of one organisation, for its members (the token's `orgs` claim).

    403 before the first message for anyone else.
    """
    require_member(auth, org)
    yield org_chat(org).subscription(after=last_event_id)


@registry.post("api/orgs/<int:org>/chat/messages/")
@jsonl_stream(model=Posted)
@body(Message)
@requires(JWTAuth())
async def post_org_message(
    request: Any, org: int, auth: Identity, body: Message
) -> AsyncIterator[Posted]:
    """Post a message to an organisation's chat, as one of its members."""
    require_member(auth, org)
    yield Posted(id=await org_chat(org).publish(body))
