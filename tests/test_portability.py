"""Export and import: the open JSON Lines format round-trips through forgetting everything."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from assistant.pipeline.turn import TurnFinished
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.errors import InvalidInputError

MakeRuntime = Callable[..., Runtime]


async def _history(runtime: Runtime, name: str = "ann") -> uuid.UUID:
    """A user with two conversations, pinned, edited and invalidated memories, and their events."""
    user = await runtime.conversations.ensure_user(name)
    for text in ("My sister Ingrid lives in Tromsø.", "I bought a red bike yesterday."):
        thread = await runtime.conversations.create_thread(user.id, title=text[:10])
        events = [e async for e in runtime.pipeline.run(thread, text)]
        assert isinstance(events[-1], TurnFinished)
        await runtime.drain()
    service = runtime.memories
    old = await service.remember(user.id, "I live in Berlin.")
    await service.edit(user.id, old.id, "I live in Lisbon.")
    tea = await service.remember(user.id, "I like green tea", pinned=False)
    await service.invalidate(user.id, tea.id, reason="now prefers coffee")
    return user.id


def _by_type(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] == kind]


async def test_export_forget_all_import_export_gives_the_same_content(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id = await _history(runtime)
    first = await runtime.portability.export_lines(user_id)
    assert {line["type"] for line in first} == {"thread", "message", "memory", "event"}
    memory = next(m for m in _by_type(first, "memory") if m["text"] == "I live in Lisbon.")
    assert {"kind", "text", "pinned", "valid_from", "valid_to", "sources", "previous_id"} <= memory.keys()
    episodic = [m for m in _by_type(first, "memory") if m["kind"] == "episodic"]
    assert episodic and all(m["sources"] == [m["message_id"]] for m in episodic)

    await runtime.memories.forget_all(user_id, conversations=True)
    assert _by_type(await runtime.portability.export_lines(user_id), "memory") == []

    report = await runtime.portability.import_jsonl(user_id, "".join(json.dumps(x) + "\n" for x in first))
    assert (report.threads, report.messages, report.memories) == (2, 4, len(_by_type(first, "memory")))
    again = await runtime.portability.export_lines(user_id)
    for kind in ("thread", "message", "memory"):
        assert _by_type(again, kind) == _by_type(first, kind), kind
    events = _by_type(again, "event")
    assert [e for e in events if e["action"] != "forget"] == _by_type(first, "event")
    # Importing the same file again changes nothing.
    twice = await runtime.portability.import_lines(user_id, [json.dumps(x) for x in first])
    assert (twice.threads, twice.messages, twice.memories, twice.skipped) == (0, 0, 0, len(_by_type(first, "memory")))
    assert await runtime.portability.export_lines(user_id) == again
    # Imported memories are searchable (they were embedded again) and the current one is listed.
    hits = await runtime.memories.search(user_id, "Lisbon", limit=3)
    assert any(h.memory.text == "I live in Lisbon." for h in hits)


async def test_import_into_another_user_leaves_the_first_untouched(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    ann = await _history(runtime)
    lines = await runtime.portability.export_lines(ann)
    bob = (await runtime.conversations.ensure_user("bob")).id
    report = await runtime.portability.import_lines(bob, lines)
    assert report.memories == len(_by_type(lines, "memory"))
    assert await runtime.portability.export_lines(ann) == lines
    bobs = await runtime.portability.export_lines(bob)
    assert sorted(m["text"] for m in _by_type(bobs, "memory")) == sorted(m["text"] for m in _by_type(lines, "memory"))
    assert not {m["id"] for m in _by_type(bobs, "memory")} & {m["id"] for m in _by_type(lines, "memory")}
    threads = {t["id"] for t in _by_type(bobs, "thread")}
    assert all(m["thread_id"] in threads for m in _by_type(bobs, "message"))


async def test_a_minimal_file_from_another_tool_imports(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    text = '{"type": "memory", "text": "I am allergic to peanuts", "pinned": true}\n\n'
    report = await runtime.portability.import_jsonl(user.id, text)
    assert report.memories == 1
    assert [m.text for m in await runtime.memories.pinned(user.id)] == ["I am allergic to peanuts"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "memory", "text": "ok"}\nnot json\n', "line 3: not JSON"),
        ('{"type": "memory", "text": "   "}\n', "line 2: text"),
        ('{"type": "fact", "text": "x"}\n', "line 2: unknown type 'fact'"),
        ("[1, 2]\n", "line 2: not a JSON object"),
        ('{"type": "message", "thread_id": "' + str(uuid.uuid4()) + '", "role": "user", "content": "hi"}\n', "thread"),
    ],
)
async def test_a_bad_file_changes_nothing(make_runtime: MakeRuntime, text: str, message: str) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    with pytest.raises(InvalidInputError, match=message):
        await runtime.portability.import_jsonl(user.id, '{"type": "memory", "text": "first"}\n' + text)
    assert await runtime.portability.export_lines(user.id) == []


async def test_documents_round_trip_with_their_chunks(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    text = "# Bees\n\nIngrid keeps bees in Tromsø.\n\n## Honey\n\nThe honey is harvested in August.\n"
    await runtime.documents.add(user.id, "bees.md", text.encode())
    first = _by_type(await runtime.portability.export_lines(user.id), "document")
    assert [d["name"] for d in first] == ["bees.md"] and first[0]["chunks"]
    assert any("harvested in August" in c["text"] for c in first[0]["chunks"])
    assert await runtime.documents.remove_all(user.id) == 1
    report = await runtime.portability.import_lines(user.id, first)
    assert report.documents == 1
    assert _by_type(await runtime.portability.export_lines(user.id), "document") == first
    hits = await runtime.documents.search(user.id, "when is the honey harvested")
    assert any("August" in h.chunk.text for h in hits)
