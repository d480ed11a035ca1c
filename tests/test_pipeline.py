import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from assistant.pipeline.turn import Notice, ReplyDelta, TurnFinished, TurnStarted
from assistant.providers.base import ChatMessage, StreamEvent
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.conversations import Thread
from memory.errors import ContextLengthError, InvalidInputError, ProviderError

MakeRuntime = Callable[..., Runtime]


async def _thread(runtime: Runtime, user: str = "ann") -> Thread:
    account = await runtime.conversations.ensure_user(user)
    return await runtime.conversations.create_thread(account.id)


async def _turn(runtime: Runtime, thread: Thread, text: str) -> list[object]:
    return [event async for event in runtime.pipeline.run(thread, text)]


async def test_a_turn_streams_and_stores_both_messages_with_a_report(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    thread = await _thread(runtime)
    events = await _turn(runtime, thread, "hello there")
    assert isinstance(events[0], TurnStarted)
    assert "".join(e.text for e in events if isinstance(e, ReplyDelta)) == "Fake reply to: hello there"
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.reply.model == "fake"
    stored = await runtime.conversations.messages(thread)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "hello there", "complete"),
        ("assistant", "Fake reply to: hello there", "complete"),
    ]
    assert stored[1].usage and stored[1].usage["completion_tokens"] == 5
    report = await runtime.reports.for_message(thread.user_id, finished.reply.id)
    assert report is not None and report["id"] == str(finished.report.id)
    assert [t["name"] for t in report["tiers"]] == ["system", "message", "short_term", "long_term", "documents"]
    assert report["used"] <= report["budget"]


async def test_the_model_receives_the_system_prompt_and_the_history(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel(["first answer", "second answer"])
    runtime = make_runtime(model)
    thread = await _thread(runtime)
    await _turn(runtime, thread, "one")
    await _turn(runtime, thread, "two")
    system, *rest = model.received[-1]
    assert system.role == "system" and system.content.startswith("You are a helpful assistant")
    assert rest == [ChatMessage("user", "one"), ChatMessage("assistant", "first answer"), ChatMessage("user", "two")]


async def test_the_user_message_is_durable_before_the_model_is_called(make_runtime: MakeRuntime) -> None:
    seen: list[list[str]] = []
    holder: list[Runtime] = []
    thread_box: list[Thread] = []

    class Watching(FakeChatModel):
        async def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
            seen.append([m.content for m in await holder[0].conversations.messages(thread_box[0])])
            async for event in super().stream(messages, max_tokens=max_tokens):
                yield event

    runtime = make_runtime(Watching())
    holder.append(runtime)
    thread_box.append(await _thread(runtime))
    await _turn(runtime, thread_box[0], "durable first")
    assert seen == [["durable first"]]


async def test_a_provider_failure_keeps_the_users_message(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(failures=[ProviderError("model down")]))
    thread = await _thread(runtime)
    with pytest.raises(ProviderError, match="model down"):
        await _turn(runtime, thread, "are you there?")
    assert [m.content for m in await runtime.conversations.messages(thread)] == ["are you there?"]


async def test_a_context_length_rejection_is_rebudgeted_and_retried_once(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel(failures=[ContextLengthError("too long")])
    runtime = make_runtime(model)
    thread = await _thread(runtime)
    events = await _turn(runtime, thread, "hello")
    assert isinstance(events[-1], TurnFinished)
    assert len(model.received) == 2
    assert events[-1].report.window < runtime.window


async def test_a_cancelled_reply_is_kept_and_marked_partial(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(["one two three four five six seven eight"], token_delay_s=0.05))
    thread = await _thread(runtime)
    three = asyncio.Event()
    received: list[str] = []

    async def consume() -> None:
        async for event in runtime.pipeline.run(thread, "talk slowly"):
            if isinstance(event, ReplyDelta):
                received.append(event.text)
                if len(received) == 3:
                    three.set()

    task = asyncio.create_task(consume())
    await three.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await runtime.conversations.messages(thread)
    assert stored[-1].role == "assistant" and stored[-1].status == "partial"
    assert stored[-1].content.startswith("one two three")


@pytest.mark.parametrize("text", ["", "   \n\t"])
async def test_empty_messages_are_rejected_and_nothing_is_stored(make_runtime: MakeRuntime, text: str) -> None:
    runtime = make_runtime(FakeChatModel())
    thread = await _thread(runtime)
    with pytest.raises(InvalidInputError, match="empty"):
        await _turn(runtime, thread, text)
    assert await runtime.conversations.messages(thread) == []


async def test_a_message_larger_than_the_window_is_cut_with_a_note(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel(["ok"])
    runtime = make_runtime(model, max_input_tokens=1024)
    thread = await _thread(runtime)
    paste = "lorem ipsum dolor sit amet " * 3_500  # under the 100,000-character limit, far over the window
    events = await _turn(runtime, thread, paste)
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "too long" in notices[0].text
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.report.truncated
    assert finished.report.used <= finished.report.budget
    sent = model.received[-1][-1].content
    assert "was cut to fit" in sent and len(sent) < len(paste)
    assert (await runtime.conversations.messages(thread))[0].content == paste  # stored whole
