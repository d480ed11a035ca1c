"""Semantic memory: the model's facts, reconciled with what is known, through the Redis queue."""

import json
from collections.abc import Callable, Sequence

from assistant.jobs.kinds import EXTRACT_FACTS
from assistant.pipeline.turn import TurnFinished
from assistant.providers.base import ChatMessage
from assistant.providers.fake import FakeChatModel, default_reply
from assistant.providers.profile import extraction_status
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.conversations import Thread

MakeRuntime = Callable[..., Runtime]

FACTS = {
    "I moved to Lisbon": [{"text": "The user lives in Lisbon.", "stated_by": "user", "importance": 0.8}],
    "I moved again, to Porto": [{"text": "The user lives in Porto.", "stated_by": "user", "importance": 0.8}],
    "Any tips?": [{"text": "The user might enjoy surfing.", "stated_by": "assistant", "importance": 0.3}],
}


def scripted(broken: bool = False) -> Callable[[Sequence[ChatMessage]], str]:
    def reply(messages: Sequence[ChatMessage]) -> str:
        system, last = messages[0].content, messages[-1].content
        if system.startswith("You read one exchange"):
            if broken:
                return "I am not able to answer in JSON, sorry."
            said = last.splitlines()[0]  # the user line; the fake reply echoes older context
            facts = next((f for key, f in FACTS.items() if key in said), [])
            return "Here you go:\n```json\n" + json.dumps({"facts": facts}) + "\n```"
        if system.startswith("You keep a list of facts"):
            stored = [line.split("id ", 1)[1].split(":", 1)[0] for line in last.splitlines() if line.startswith("- id")]
            if "Porto" in last.splitlines()[0] and stored:
                return json.dumps(
                    {"action": "update", "target_id": stored[0], "text": "The user lives in Porto.", "reason": "moved"}
                )
            return json.dumps({"action": "add", "target_id": None, "text": last.split("\n")[0][10:], "reason": "new"})
        return default_reply(messages)

    return reply


async def _talk(runtime: Runtime, thread: Thread, text: str) -> TurnFinished:
    events = [event async for event in runtime.pipeline.run(thread, text)]
    await runtime.drain()
    assert isinstance(events[-1], TurnFinished)
    return events[-1]


async def test_facts_are_extracted_attributed_and_reconciled(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(scripted()), extraction="on")
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    first = await _talk(runtime, thread, "I moved to Lisbon last month.")
    [lisbon] = await runtime.memories.list_memories(user.id, kinds=("semantic",))
    assert lisbon.text == "The user lives in Lisbon." and lisbon.speaker == "user" and not lisbon.pinned
    assert set(lisbon.source_message_ids) == {first.user_message.id, first.reply.id}

    await _talk(runtime, thread, "I moved again, to Porto.")
    [porto] = await runtime.memories.list_memories(user.id, kinds=("semantic",))
    assert porto.text == "The user lives in Porto." and porto.previous_id == lisbon.id
    history = await runtime.memories.list_memories(user.id, kinds=("semantic",), include_history=True)
    assert {m.text: m.valid_to is None for m in history} == {
        "The user lives in Lisbon.": False,
        "The user lives in Porto.": True,
    }

    await _talk(runtime, thread, "Any tips?")
    suggested = [m for m in await runtime.memories.list_memories(user.id, kinds=("semantic",)) if "surfing" in m.text]
    assert suggested and suggested[0].speaker == "assistant"  # suggested by the assistant, not stated


async def test_a_model_without_structured_output_is_retried_then_parked(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(scripted(broken=True)), extraction="on")
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    finished = await _talk(runtime, thread, "I moved to Lisbon last month.")
    assert finished.reply.content.startswith("Fake reply to:")  # the chat itself is unaffected
    assert await runtime.memories.list_memories(user.id, kinds=("semantic",)) == []
    # Left failed after its last attempt, for `assistant jobs list --status failed`; nothing else waits.
    [failed] = await runtime.jobs.rows.list(status="failed")
    assert failed.task == EXTRACT_FACTS and failed.attempts == runtime.settings.job_attempts
    assert await runtime.jobs.rows.waiting() == 0


def test_extraction_is_skipped_for_the_local_model_and_says_why() -> None:
    assert extraction_status(Settings(model="local")) == (
        False,
        "the local default model cannot produce reliable structured output",
    )
    assert extraction_status(Settings(model="openai/gpt-4o-mini"))[0] is True
    assert extraction_status(Settings(model="openai/gpt-4o-mini", extraction="off"))[0] is False
