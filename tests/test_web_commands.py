"""Commands and what the chat shows, without a browser."""

from __future__ import annotations

from collections.abc import Callable

from assistant.application.facade import Assistant
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.web import commands, render


def test_commands_are_parsed_from_the_menu_or_typed() -> None:
    assert commands.parse("recall", " trip dates ") == ("recall", "trip dates")
    assert commands.parse(None, "/remember I am vegetarian") == ("remember", "I am vegetarian")
    assert commands.parse(None, "/MEMORY") == ("memory", "")
    assert commands.parse(None, "/forget\nlocker code") == ("forget", "locker code")
    # Paths and ordinary text are messages, not commands.
    assert commands.parse(None, "/etc/hosts is what?") is None
    assert commands.parse(None, "hello /memory") is None
    assert commands.parse(None, "") is None


def test_every_command_is_listed_with_a_description() -> None:
    listed = {c["id"]: c for c in commands.listing()}
    for name in ("memory", "recall", "remember", "forget", "context", "summary", "docs", "export", "stats", "help"):
        assert listed[name]["description"]
    assert all(c.needs_argument for c in commands.COMMANDS.values() if "<" in c.usage)


async def test_memory_listing_context_and_stats_read_well(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(FakeChatModel())
    owner = await runtime.conversations.ensure_user("ann")
    pinned = await runtime.memories.remember(owner.id, "I am vegetarian")
    edited = await runtime.memories.edit(owner.id, pinned.id, "I am vegan")
    thread = await runtime.conversations.create_thread(owner.id)
    async for _ in runtime.pipeline.run(thread, "what should I cook?"):
        pass

    listing = await commands.memory_listing(Assistant(runtime), owner, "Europe/Paris")
    assert "I am vegan" in listing and "Pinned" in listing
    assert "Superseded" in listing and "I am vegetarian" in listing
    assert str(edited.id)[:8] in listing

    report = render.report_of(await runtime.reports.last(thread))
    assert report is not None
    recalled = render.recalled(report)
    assert "I am vegan" in recalled and "pinned memory" in recalled and "Token budget" in recalled
    assert "Long-term memory" in render.context_report(report)

    stats = render.stats(await runtime.conversations.messages(thread))
    assert "2 (1 from you, 1 reply)" in stats and "tokens:" in stats
    assert render.stats([]) == "No replies in this conversation yet."
    assert "no summary yet" in render.summary(None)
    assert render.when(pinned.said_at, "Not/AZone")  # an unknown zone falls back to UTC


async def test_a_temporary_turn_writes_nothing_to_long_term_memory(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(FakeChatModel())
    owner = await runtime.conversations.ensure_user("dan")
    thread = await runtime.conversations.create_thread(owner.id)
    await runtime.conversations.update_thread_metadata(owner.id, thread.id, {"temporary": True})
    temporary = runtime.turn_pipeline(answer_tokens=100)
    async for _ in temporary.run(thread, "my bank PIN is 1234"):
        pass
    await runtime.drain()
    assert await runtime.memories.from_thread(owner.id, thread.id, kinds=("episodic", "semantic")) == []
    report = render.report_of(await runtime.reports.last(thread))
    assert report is not None and report.reserve == 100
    # The conversation itself goes on: the temporary turn is in the thread's short-term memory; made an
    # ordinary chat again, the thread remembers what is said from then on, never the temporary turns.
    await runtime.conversations.update_thread_metadata(owner.id, thread.id, {"temporary": False})
    async for _ in runtime.pipeline.run(thread, "and now?"):
        pass
    await runtime.drain()
    remembered = await runtime.memories.from_thread(owner.id, thread.id, kinds=("episodic",))
    assert remembered and not any("1234" in m.text and m.role == "user" for m in remembered)
    assert runtime.turn_pipeline() is runtime.pipeline


async def test_the_time_zone_and_answer_length_reach_the_model(make_runtime: Callable[..., Runtime]) -> None:
    from assistant.web import turn
    from assistant.web.session import Preferences

    model = FakeChatModel()
    runtime = make_runtime(model)
    note = turn._note(Preferences(timezone="Europe/Paris", answer_length="short"))
    assert note is not None and "Europe/Paris" in note and "short" in note
    assert turn._note(Preferences(timezone="Not/AZone")) is None
    owner = await runtime.conversations.ensure_user("eve")
    thread = await runtime.conversations.create_thread(owner.id)
    async for _ in runtime.turn_pipeline(system_note=note).run(thread, "what time is it?"):
        pass
    system = model.received[-1][0]
    assert system.role == "system" and "their local time is" in system.content
    assert "Europe/Paris" not in runtime.context.system_prompt  # the shared pipeline is unchanged


async def test_retry_after_a_provider_error_replies_without_storing_the_message_twice(
    make_runtime: Callable[..., Runtime],
) -> None:
    import pytest

    from assistant.pipeline.turn import TurnFinished, TurnStarted
    from memory.errors import ProviderError

    runtime = make_runtime(FakeChatModel(failures=[ProviderError("rate limited")]))
    owner = await runtime.conversations.ensure_user("fay")
    thread = await runtime.conversations.create_thread(owner.id)
    started: list[TurnStarted] = []
    with pytest.raises(ProviderError):
        async for event in runtime.pipeline.run(thread, "hello?"):
            if isinstance(event, TurnStarted):
                started.append(event)
    events = [e async for e in runtime.pipeline.answer(thread, started[0].user_message)]
    assert isinstance(events[-1], TurnFinished) and events[-1].reply.content == "Fake reply to: hello?"
    stored = await runtime.conversations.messages(thread)
    assert [(m.role, m.content) for m in stored] == [("user", "hello?"), ("assistant", "Fake reply to: hello?")]
