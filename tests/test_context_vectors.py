"""A context vector per episodic turn (memory/long_term/context_vectors.py): written with the turn, kept up to
date for its neighbours, recomputed without a forgotten turn, and built for the turns of an older schema."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async

from assistant.jobs import kinds
from assistant.providers.embedders import HashEmbedder
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.conversations import Thread
from memory.db.migrations import migrate
from memory.long_term.reembed import reembed_all
from memory.long_term.tier import LongTermTier
from memory.relevance import BELOW, MATCHES, RELATED, RelevanceFloor

MakeRuntime = Callable[..., Runtime]
Rows = list[tuple[uuid.UUID, uuid.UUID, int, np.ndarray, np.ndarray | None]]


async def _said(runtime: Runtime, thread: Thread, texts: list[str]) -> None:
    for text in texts:
        message = await runtime.conversations.append_message(
            thread, "user", text, speaker="Ann", jobs=[kinds.job(kinds.EMBED_TURN)]
        )
        await runtime.pipeline.writer.message_stored(thread, message)
    await runtime.drain()


async def _rows(url_or_conn: psycopg.AsyncConnection) -> Rows:
    """Every episodic turn: id, thread, seq, own vector, context vector."""
    await register_vector_async(url_or_conn)
    rows = await (
        await url_or_conn.execute(
            "SELECT id, thread_id, seq, embedding, context_embedding FROM memories "
            "WHERE kind = 'episodic' ORDER BY thread_id, seq"
        )
    ).fetchall()
    return [(r[0], r[1], r[2], _array(r[3]), None if r[4] is None else _array(r[4])) for r in rows]


def _array(vector: object) -> np.ndarray:
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float64)


async def _store(runtime: Runtime) -> Rows:
    async with runtime.pool.connection() as conn:
        return await _rows(conn)


def _expected(rows: Rows) -> dict[uuid.UUID, np.ndarray]:
    """Each turn's own vector twice plus its current neighbours' in its thread, computed here from the rows."""
    out = {}
    for i, (memory_id, thread, _, own, _) in enumerate(rows):
        total = 2 * own
        if i > 0 and rows[i - 1][1] == thread:
            total = total + rows[i - 1][3]
        if i + 1 < len(rows) and rows[i + 1][1] == thread:
            total = total + rows[i + 1][3]
        out[memory_id] = total
    return out


def _assert_current(rows: Rows) -> None:
    expected = _expected(rows)
    for memory_id, _, _, _, context in rows:
        assert context is not None
        assert np.allclose(context, expected[memory_id], atol=1e-5)


async def test_a_turn_is_stored_with_its_window_and_the_turn_before_it_gains_the_new_one(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    await _said(runtime, thread, ["Any plans for the weekend?", "Take a look at this.", "Wow, lovely!"])
    before = await _store(runtime)
    assert len(before) == 3
    _assert_current(before)
    await _said(runtime, thread, ["I started teaching people how to make this."])
    after = await _store(runtime)
    _assert_current(after)
    # The third turn's window now holds the fourth; the first two are as they were.
    assert not np.allclose(after[2][4], before[2][4])  # type: ignore[arg-type]
    assert np.allclose(after[0][4], before[0][4])  # type: ignore[arg-type]
    # Another thread is another window.
    other = await runtime.conversations.create_thread(user.id)
    await _said(runtime, other, ["Good morning!"])
    rows = await _store(runtime)
    _assert_current(rows)
    alone = next(r for r in rows if r[1] == other.id)
    own, window = alone[3], alone[4]
    assert own is not None and window is not None
    assert np.allclose(window, 2 * own)


async def test_a_forgotten_turn_leaves_no_trace_in_any_context_vector_and_brings_no_neighbour_in(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    await _said(
        runtime,
        thread,
        [
            "Any plans for the weekend?",
            "Take a look at this.",
            "I bake sourdough zqxbread every Sunday.",
            "Wow, lovely!",
            "See you on Monday then.",
        ],
    )
    tier = LongTermTier(runtime.memories)
    now = datetime.now(UTC)
    found = await tier.recall(user.id, "zqxbread sourdough", now=now, exclude=(), limit=20)
    assert any("zqxbread" in item.text for item in found if not item.below_floor)
    rows = await _store(runtime)
    forgotten = next(r for r in rows if r[2] == rows[2][2])
    neighbours = {rows[1][0], rows[3][0]}
    await runtime.memories.forget(user.id, [forgotten[0]])

    rows = await _store(runtime)
    assert forgotten[0] not in {r[0] for r in rows}
    _assert_current(rows)  # every window is made of current turns only
    gone = forgotten[3]
    for memory_id, _, _, _, context in rows:  # and none still adds the forgotten turn's vector
        rebuilt = _expected(rows)[memory_id]
        assert context is not None and not np.allclose(context, rebuilt + gone, atol=1e-5)
    # The two turns beside it are now each other's neighbours.
    assert neighbours <= {r[0] for r in rows}

    found = await tier.recall(user.id, "zqxbread sourdough", now=now, exclude=(), limit=20)
    assert not any("zqxbread" in item.text for item in found)
    assert not [item for item in found if not item.below_floor]
    async with runtime.pool.connection() as conn:
        texts = await (await conn.execute("SELECT text FROM memories WHERE user_id = %s", (user.id,))).fetchall()
    assert not any("zqxbread" in t[0] for t in texts)


async def test_a_turn_found_by_its_context_comes_in_beside_a_match_and_never_as_one(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    await _said(
        runtime,
        thread,
        ["My zqxpottery bowls came out of the kiln today.", "Take a look at this.", "So proud of the glaze."],
    )
    tier = LongTermTier(runtime.memories)
    found = await tier.recall(user.id, "What zqxpottery did Ann show?", now=datetime.now(UTC), exclude=(), limit=20)
    shown = [item for item in found if not item.below_floor]
    assert any("Take a look at this." in item.text for item in shown)
    # With nothing that matches, a window's words bring nothing in.
    found = await tier.recall(user.id, "Which bus goes to the airport?", now=datetime.now(UTC), exclude=(), limit=20)
    assert not [item for item in found if not item.below_floor]


def test_the_floor_reads_a_window_only_to_relate_a_candidate() -> None:
    floor = RelevanceFloor(similarity=0.9, words=2, related_similarity=0.79, context_similarity=0.5)
    query = floor.for_query("Where did Ann buy the zqxkiln and the zqxglaze?")
    candidates = [
        (0.5, "Ann bought the zqxkiln and zqxglaze in Leeds", "t1"),  # matches on its own words
        (0.5, "Take a look at this", "t1"),  # shares nothing; its window does
        (0.5, "Take a look at this", "t1"),  # the same, but its window is not close enough
    ]
    contexts = [None, (0.6, "zqxglaze take a look at this"), (0.4, "zqxglaze take a look at this")]
    assert query.select(candidates, contexts) == [MATCHES, RELATED, BELOW]
    # A window never makes a match: without one, nothing is used.
    alone = [(0.5, "Take a look at this", "t1")]
    assert query.select(alone, [(0.95, "zqxkiln zqxglaze take a look")]) == [BELOW]


async def test_an_older_schema_gets_context_vectors_for_its_turns(empty_database_url: str) -> None:
    await migrate(empty_database_url, target=14)
    vectors = await HashEmbedder().passages(["Ann: one", "Ann: two", "Ann: three"])
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:
        await register_vector_async(conn)
        user = await (await conn.execute("INSERT INTO users (name) VALUES ('ann') RETURNING id")).fetchone()
        thread = await (
            await conn.execute("INSERT INTO threads (user_id) VALUES (%s) RETURNING id", (user[0],))  # type: ignore[index]
        ).fetchone()
        for seq, vector in enumerate(vectors, 1):
            await conn.execute(
                "INSERT INTO memories (user_id, kind, text, speaker, role, thread_id, seq, embedding, origin) "
                "VALUES (%s, 'episodic', %s, 'Ann', 'user', %s, %s, %s, 'chat')",
                (user[0], f"turn {seq}", thread[0], seq, np.asarray(vector, dtype=np.float32)),  # type: ignore[index]
            )
    await migrate(empty_database_url)
    async with await psycopg.AsyncConnection.connect(empty_database_url) as conn:
        rows = await _rows(conn)
    assert len(rows) == 3
    _assert_current(rows)


async def test_re_embedding_with_another_model_rebuilds_every_context_vector(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    await _said(runtime, thread, ["Any plans for the weekend?", "Take a look at this.", "Wow, lovely!"])
    await reembed_all(runtime.pool, HashEmbedder(dim=64))
    rows = await _store(runtime)
    assert len(rows) == 3 and all(len(r[3]) == 64 for r in rows)
    _assert_current(rows)  # made of the new vectors, in a column of their size
