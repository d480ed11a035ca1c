"""The Chainlit data layer over our tables: threads listed, renamed, resumed and deleted; no second copy."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from chainlit.types import Pagination, ThreadFilter
from chainlit.user import User as ChainlitUser

from assistant.application.facade import Assistant
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.web.data_layer import PARTIAL_MARK, AssistantDataLayer


async def _turn(runtime: Runtime, thread, text: str) -> None:
    async for _ in runtime.pipeline.run(thread, text):
        pass


async def test_threads_are_listed_renamed_resumed_and_deleted(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(FakeChatModel())
    layer = AssistantDataLayer(lambda: Assistant(runtime))
    user = await layer.create_user(ChainlitUser(identifier="ann"))
    assert user is not None and user.identifier == "ann"
    assert (await layer.get_user("ann")) is not None and await layer.get_user("nobody") is None

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    # What Chainlit does on a first message: name the thread after it, with the user's id.
    await layer.update_thread(first, name="We leave on May 3rd", user_id=user.id)
    await layer.update_thread(second, name="Other", user_id=user.id)
    thread = await runtime.conversations.get_thread(uuid.UUID(user.id), uuid.UUID(first))
    await _turn(runtime, thread, "We leave on May 3rd")
    # A later first-message naming does not override; a rename does.
    await layer.update_thread(first, name="ignored", user_id=user.id)
    await layer.update_thread(second, name="Renamed trip")
    # Chainlit's own step writes store nothing.
    await layer.create_step({"id": str(uuid.uuid4()), "threadId": first, "type": "user_message", "output": "copy"})

    page = await layer.list_threads(Pagination(first=1), ThreadFilter(userId=user.id))
    assert len(page.data) == 1 and page.pageInfo.hasNextPage
    rest = await layer.list_threads(Pagination(first=10, cursor=page.pageInfo.endCursor), ThreadFilter(userId=user.id))
    names = {t["name"] for t in [*page.data, *rest.data]}
    assert names == {"We leave on May 3rd", "Renamed trip"}
    found = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=user.id, search="may 3rd"))
    assert [t["id"] for t in found.data] == [first]

    resumed = await layer.get_thread(first)
    assert resumed is not None and resumed["userIdentifier"] == "ann"
    assert [(s["type"], s["output"]) for s in resumed["steps"] if "message" in s["type"]] == [
        ("user_message", "We leave on May 3rd"),
        ("assistant_message", "Fake reply to: We leave on May 3rd"),
    ]
    assert [s["type"] for s in resumed["steps"]][-1] == "retrieval"  # the reply's receipt, under it
    assert await layer.get_thread_author(first) == "ann"
    assert await layer.get_thread_author(str(uuid.uuid4())) == ""
    assert await layer.get_thread("not-a-uuid") is None

    async with runtime.pool.connection() as conn:
        count = await (await conn.execute("SELECT count(*) FROM messages")).fetchone()
    assert count is not None and count[0] == 2  # the step Chainlit sent was not stored

    await layer.delete_thread(first)
    assert await layer.get_thread(first) is None
    left = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=user.id))
    assert [t["id"] for t in left.data] == [second]


async def test_a_stopped_reply_is_shown_marked(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(FakeChatModel())
    layer = AssistantDataLayer(lambda: Assistant(runtime))
    owner = await runtime.conversations.ensure_user("bob")
    thread = await runtime.conversations.create_thread(owner.id)
    await runtime.conversations.append_message(thread, "user", "tell me a story")
    await runtime.conversations.append_message(thread, "assistant", "Once upon", status="partial")
    resumed = await layer.get_thread(str(thread.id))
    assert resumed is not None
    assert resumed["steps"][-1]["output"] == "Once upon" + PARTIAL_MARK


async def test_forgetting_a_thread_forgets_the_memories_that_came_from_it(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime(FakeChatModel())
    owner = await runtime.conversations.ensure_user("cat")
    kept_thread = await runtime.conversations.create_thread(owner.id)
    thread = await runtime.conversations.create_thread(owner.id)
    await _turn(runtime, thread, "my locker code is 4711")
    await _turn(runtime, kept_thread, "I like tea")
    await runtime.drain()
    said = (await runtime.conversations.messages(thread))[0]
    await runtime.memories.remember(owner.id, "locker code 4711", pinned=False, sources=[said.id])
    other = await runtime.memories.remember(owner.id, "likes tea")

    from_thread = await runtime.memories.from_thread(owner.id, thread.id, kinds=("episodic", "semantic"))
    assert {m.text for m in from_thread} >= {"locker code 4711"}
    assert all(m.thread_id in (thread.id, None) for m in from_thread)

    report = await runtime.memories.forget_from_thread(owner.id, thread.id)
    assert report.memories == len(from_thread)
    left = await runtime.memories.list_memories(owner.id, limit=100)
    assert other.id in {m.id for m in left}
    assert not any(m.thread_id == thread.id or m.text == "locker code 4711" for m in left)
    assert any(m.thread_id == kept_thread.id for m in left)
