"""The window's summary swap is one step in Redis."""

import asyncio
from collections.abc import Callable

from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.conversations import Message, Thread
from memory.short_term.summaries import Summary

MakeRuntime = Callable[..., Runtime]


async def _say(runtime: Runtime, thread: Thread, text: str, *, record: bool = True) -> Message:
    """Store a message, then (as the pipeline does) add it to the window."""
    message = await runtime.conversations.append_message(thread, "user", text)
    if record:
        await runtime.short_term.record(thread, message)
    return message


async def test_turns_recorded_while_the_summary_is_swapped_in_are_kept(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(), short_term_turns=4, summary_batch=4)
    short_term = runtime.short_term
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    said = [await _say(runtime, thread, f"before {n}") for n in range(6)]
    for round_ in range(30):
        arriving: list[Message] = []

        async def arrive(into: list[Message] = arriving, round_: int = round_) -> None:
            for n in range(3):  # turns stored and recorded over the swap's reads and writes, differently each round
                await asyncio.sleep(round_ * 0.0005)
                into.append(await _say(runtime, thread, f"round {round_} turn {n}"))

        covered = said[-3]  # the summary covers all but the last few turns the summarizer saw
        await asyncio.gather(
            short_term.save_summary(thread, Summary(f"summary {round_}", covered.seq, "fake"), [covered.id]),
            arrive(),
        )
        said += arriving
        state = await short_term.load(thread)
        # The window in Redis matched Postgres as it was: nothing recorded meanwhile was dropped.
        assert not state.rebuilt
        assert state.summary is not None and state.summary.covers_through_seq == covered.seq
        kept = [t.content for t in (await short_term.after_summary(thread))[1] or []]
        assert kept == [m.content for m in said if m.seq > covered.seq][-short_term._kept :]


async def test_a_swap_keeps_exactly_the_turns_after_the_summary(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(), short_term_turns=4, summary_batch=4)
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    said = [await _say(runtime, thread, f"turn {n}") for n in range(8)]
    await runtime.short_term.save_summary(thread, Summary("first five", said[4].seq, "fake"), [said[4].id])
    summary, turns = await runtime.short_term.after_summary(thread)
    assert summary is not None and summary.content == "first five"
    assert [t.content for t in turns or []] == ["turn 5", "turn 6", "turn 7"]
    assert not (await runtime.short_term.load(thread)).rebuilt  # the window in Redis was used as it was


async def test_a_turn_added_twice_is_held_once(make_runtime: MakeRuntime) -> None:
    """A record sent again (its connection dropped after Redis ran it) or made after a rebuild read the same
    turn from Postgres adds nothing."""
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    said = [await _say(runtime, thread, f"turn {n}") for n in range(3)]
    await runtime.short_term.record(thread, said[-1])
    await runtime.short_term.record(thread, said[0])
    state = await runtime.short_term.load(thread)
    assert not state.rebuilt
    assert [t.content for t in state.turns] == ["turn 0", "turn 1", "turn 2"]


async def test_a_window_postgres_no_longer_vouches_for_is_not_served(make_runtime: MakeRuntime) -> None:
    """What a forgetting changes in Postgres while Redis is unreachable (the summary dropped, a turn redacted)
    leaves a stale copy in Redis: the next load notices and rebuilds, so the forgotten text is not used."""
    runtime = make_runtime(FakeChatModel(), short_term_turns=4, summary_batch=4)
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    said = [await _say(runtime, thread, f"secret {n}") for n in range(8)]
    await runtime.short_term.save_summary(thread, Summary("about secret 0-4", said[4].seq, "fake"), [said[4].id])
    assert not (await runtime.short_term.load(thread)).rebuilt

    async with runtime.pool.connection() as conn:
        await conn.execute("DELETE FROM thread_summaries WHERE thread_id = %s", (thread.id,))
    state = await runtime.short_term.load(thread)
    assert state.rebuilt and state.summary is None

    async with runtime.pool.connection() as conn:
        await conn.execute("UPDATE messages SET status = 'forgotten', content = '' WHERE id = %s", (said[7].id,))
    state = await runtime.short_term.load(thread)
    assert state.rebuilt and "secret 7" not in [t.content for t in state.turns]
    assert not (await runtime.short_term.load(thread)).rebuilt
