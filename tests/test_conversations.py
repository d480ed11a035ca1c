import uuid

import pytest

from memory.conversations import ConversationStore
from memory.errors import InvalidInputError, NotFoundError


async def test_messages_are_kept_in_order_with_their_details(conversations: ConversationStore) -> None:
    user = await conversations.ensure_user("ann")
    assert (await conversations.ensure_user("ann")).id == user.id
    thread = await conversations.create_thread(user.id, title="first")
    await conversations.append_message(thread, "user", "hello")
    await conversations.append_message(
        thread, "assistant", "hi", model="fake", usage={"prompt_tokens": 3}, latency_ms=1.5
    )
    messages = await conversations.messages(thread)
    assert [(m.role, m.content) for m in messages] == [("user", "hello"), ("assistant", "hi")]
    assert messages[1].usage == {"prompt_tokens": 3} and messages[1].model == "fake"
    assert [m.content for m in await conversations.messages(thread, last=1)] == ["hi"]


async def test_any_script_emoji_and_control_characters_are_stored(conversations: ConversationStore) -> None:
    user = await conversations.ensure_user("bo")
    thread = await conversations.create_thread(user.id)
    text = "日本語 العربية עברית 🧠👍🏽 tab\there\u200b bell\x07 nul\x00end"
    stored = await conversations.append_message(thread, "user", text)
    assert stored.content == text.replace("\x00", "")
    assert (await conversations.messages(thread))[0].content == stored.content


async def test_named_threads_are_created_once(conversations: ConversationStore) -> None:
    user = await conversations.ensure_user("cy")
    first = await conversations.named_thread(user.id, "work")
    again = await conversations.named_thread(user.id, "work")
    assert first.id == again.id
    assert [t.id for t in await conversations.list_threads(user.id)] == [first.id]


async def test_a_user_cannot_reach_another_users_thread(conversations: ConversationStore) -> None:
    ann = await conversations.ensure_user("ann")
    eve = await conversations.ensure_user("eve")
    thread = await conversations.create_thread(ann.id)
    await conversations.append_message(thread, "user", "secret")
    with pytest.raises(NotFoundError):
        await conversations.get_thread(eve.id, thread.id)
    assert await conversations.list_threads(eve.id) == []
    forged = thread.model_copy(update={"user_id": eve.id})
    assert await conversations.messages(forged) == []


async def test_bad_user_names_are_rejected(conversations: ConversationStore) -> None:
    with pytest.raises(InvalidInputError):
        await conversations.ensure_user("   ")
    with pytest.raises(NotFoundError):
        await conversations.get_user("nobody")
    with pytest.raises(NotFoundError):
        user = await conversations.ensure_user("dee")
        await conversations.get_thread(user.id, uuid.uuid4())
