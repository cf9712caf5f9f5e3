"""Testing jsonlfn streams with the fixtures jsonlfn's pytest plugin provides."""

import pytest
from demo.events import Event, Tick, User

from jsonlfn.testing import StreamClient

pytestmark = pytest.mark.anyio


async def test_user_events(jsonlfn_client: StreamClient) -> None:
    async with jsonlfn_client.stream("/api/user/events/", model=User) as response:
        assert response.status == 200
        assert response.headers["content-type"] == "application/jsonl"
        emails = [user.email async for user in response]
    assert emails == ["first@example.com", "second@example.com"]


async def test_an_endless_stream(jsonlfn_client: StreamClient) -> None:
    async with jsonlfn_client.stream("/api/ticker/", model=Tick) as ticks:
        first_three = [await anext(ticks) for _ in range(3)]
    # Leaving the block disconnected: the generator is closed, nothing is left running.
    assert first_three == [Tick(n=1), Tick(n=2), Tick(n=3)]


async def test_resume_after_an_event(jsonlfn_client: StreamClient) -> None:
    headers = {"Last-Event-ID": "8"}
    async with jsonlfn_client.stream("/api/events/", model=Event, headers=headers) as events:
        assert [event.id async for event in events] == [9, 10]


async def test_secured_stream(jsonlfn_client: StreamClient, jwt_token) -> None:  # type: ignore[no-untyped-def]
    async with jsonlfn_client.stream("/api/user/events/secure/") as refused:
        assert refused.status == 401
        assert refused.error is not None
        assert refused.error.detail[0].msg == "Not authenticated"
    headers = {"Authorization": f"Bearer {jwt_token(sub='erin')}"}
    async with jsonlfn_client.stream("/api/user/events/secure/", headers=headers) as allowed:
        assert [item["email"] async for item in allowed] == ["erin@example.com"]


async def test_a_posted_message_reaches_the_chat(jsonlfn_client: StreamClient) -> None:
    async with jsonlfn_client.stream("/api/chat/") as chat:  # subscribed once it answers
        message = {"text": "hello"}
        async with jsonlfn_client.stream(
            "/api/chat/messages/", method="POST", json=message
        ) as post:
            [posted] = [line async for line in post]
        event = await anext(chat)
    assert event == {"id": posted["id"], "data": {"text": "hello"}}


async def test_an_organisations_chat_is_for_its_members(
    jsonlfn_client: StreamClient, jwt_token
) -> None:  # type: ignore[no-untyped-def]
    member = {"Authorization": f"Bearer {jwt_token(sub='ann', orgs=[7])}"}
    outsider = {"Authorization": f"Bearer {jwt_token(sub='bob', orgs=[8])}"}
    async with jsonlfn_client.stream("/api/orgs/7/chat/", headers=outsider) as refused:
        assert refused.status == 403  # before the first message, with the JSON body
        assert refused.error is not None
        assert refused.error.detail[0].msg == "This token does not give access to organisation 7"
    async with jsonlfn_client.stream("/api/orgs/7/chat/", headers=member) as chat:
        message = {"text": "hello, org 7"}
        async with jsonlfn_client.stream(
            "/api/orgs/7/chat/messages/", method="POST", json=message, headers=member
        ) as post:
            [posted] = [line async for line in post]
        event = await anext(chat)
    assert event == {"id": posted["id"], "data": message}
