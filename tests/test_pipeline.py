import asyncio
from collections.abc import Sequence

import pytest

from assistant.context.builder import RecentTurnsContext
from assistant.pipeline.turn import ReplyDelta, TurnFinished, TurnPipeline, TurnStarted
from assistant.providers.base import ChatMessage
from assistant.providers.fake import FakeChatModel
from memory.conversations import ConversationStore, Thread
from memory.errors import InvalidInputError, ProviderError


async def _setup(conversations: ConversationStore, model: FakeChatModel) -> tuple[TurnPipeline, Thread]:
    user = await conversations.ensure_user("ann")
    thread = await conversations.create_thread(user.id)
    context = RecentTurnsContext(conversations, "SYSTEM PROMPT", history_turns=20)
    return TurnPipeline(conversations, model, context, answer_tokens=64), thread


async def _turn(pipeline: TurnPipeline, thread: Thread, text: str) -> list[object]:
    return [event async for event in pipeline.run(thread, text)]


async def test_a_turn_streams_and_stores_both_messages(conversations: ConversationStore) -> None:
    model = FakeChatModel()
    pipeline, thread = await _setup(conversations, model)
    events = await _turn(pipeline, thread, "hello there")
    assert isinstance(events[0], TurnStarted)
    assert "".join(e.text for e in events if isinstance(e, ReplyDelta)) == "Fake reply to: hello there"
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.reply.model == "fake"
    stored = await conversations.messages(thread)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "hello there", "complete"),
        ("assistant", "Fake reply to: hello there", "complete"),
    ]
    assert stored[1].usage and stored[1].usage["completion_tokens"] == 5


async def test_the_model_receives_the_system_prompt_and_the_history(conversations: ConversationStore) -> None:
    model = FakeChatModel(["first answer", "second answer"])
    pipeline, thread = await _setup(conversations, model)
    await _turn(pipeline, thread, "one")
    await _turn(pipeline, thread, "two")
    assert model.received[-1] == [
        ChatMessage("system", "SYSTEM PROMPT"),
        ChatMessage("user", "one"),
        ChatMessage("assistant", "first answer"),
        ChatMessage("user", "two"),
    ]


async def test_the_user_message_is_stored_before_the_model_is_called(conversations: ConversationStore) -> None:
    seen: list[int] = []
    model = FakeChatModel(lambda messages: "ok")
    pipeline, thread = await _setup(conversations, model)

    async def count_then_reply(messages: Sequence[ChatMessage]) -> None:
        seen.append(len(await conversations.messages(thread)))

    original = model.stream

    async def stream(messages: Sequence[ChatMessage], *, max_tokens: int):  # type: ignore[no-untyped-def]
        await count_then_reply(messages)
        async for event in original(messages, max_tokens=max_tokens):
            yield event

    model.stream = stream  # type: ignore[method-assign]
    await _turn(pipeline, thread, "durable first")
    assert seen == [1]


async def test_a_provider_failure_keeps_the_users_message(conversations: ConversationStore) -> None:
    model = FakeChatModel(failures=[ProviderError("model down")])
    pipeline, thread = await _setup(conversations, model)
    with pytest.raises(ProviderError, match="model down"):
        await _turn(pipeline, thread, "are you there?")
    assert [m.content for m in await conversations.messages(thread)] == ["are you there?"]


async def test_a_cancelled_reply_is_kept_and_marked_partial(conversations: ConversationStore) -> None:
    model = FakeChatModel(["one two three four five six seven eight"], token_delay_s=0.05)
    pipeline, thread = await _setup(conversations, model)
    received: list[str] = []

    async def consume() -> None:
        async for event in pipeline.run(thread, "talk slowly"):
            if isinstance(event, ReplyDelta):
                received.append(event.text)

    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await conversations.messages(thread)
    assert stored[-1].role == "assistant" and stored[-1].status == "partial"
    assert stored[-1].content.startswith("one two three")


@pytest.mark.parametrize("text", ["", "   \n\t"])
async def test_empty_messages_are_rejected_and_nothing_is_stored(conversations: ConversationStore, text: str) -> None:
    pipeline, thread = await _setup(conversations, FakeChatModel())
    with pytest.raises(InvalidInputError, match="empty"):
        await _turn(pipeline, thread, text)
    assert await conversations.messages(thread) == []


async def test_a_megabyte_paste_is_stored_whole(conversations: ConversationStore) -> None:
    pipeline, thread = await _setup(conversations, FakeChatModel(["ok"]))
    paste = "x" * 999_000
    await _turn(pipeline, thread, paste)
    assert (await conversations.messages(thread))[0].content == paste
