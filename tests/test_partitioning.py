"""`assistant db partition`: an old, populated database's memories split by user hash, and everything still works."""

import json
import os
import re
import uuid
from collections.abc import AsyncIterator

import numpy as np
import psycopg
import pytest
import redis.asyncio as aioredis
from pgvector.psycopg import register_vector
from psycopg import sql
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.embedded import manager
from assistant.providers.embedders import HashEmbedder
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.db.migrations import migrate
from memory.db.partitioning import partition_count, partition_memories
from memory.db.pool import open_pool
from memory.errors import InvalidInputError
from memory.long_term.search import MEMORIES
from memory.long_term.store import NewMemory
from memory.retrieval.query import CurrentVersions, HybridQuery, Pinned
from memory.retrieval.texts import MEMORY_TEXT

runner = CliRunner()
PARTITIONS = 4
FACTS = {
    "ann": ["My sister Ingrid keeps bees in Tromsø.", "I play the cello on Sundays.", "My cat is called Pixel."],
    "bob": ["I grow chillies on the balcony.", "My brother Lars repairs old clocks."],
}


async def _populate_version_8(url: str) -> dict[str, uuid.UUID]:
    """Users, a thread, turns with episodic memories and facts (one edited), in the schema of migration 0008."""
    await migrate(url, target=8)
    embedder = HashEmbedder()
    users: dict[str, uuid.UUID] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        for name, facts in FACTS.items():
            user = conn.execute("INSERT INTO users (name) VALUES (%s) RETURNING id", (name,)).fetchone()
            assert user
            users[name] = user[0]
            thread = conn.execute("INSERT INTO threads (user_id) VALUES (%s) RETURNING id", (user[0],)).fetchone()
            assert thread
            for text in [*facts, f"{name} filler {'word ' * 3}"]:
                vector = (await embedder.passages([MEMORY_TEXT.build("semantic", text, None, None)]))[0]
                conn.execute(
                    "INSERT INTO memories (user_id, kind, text, embedding) VALUES (%s, 'semantic', %s, %s)",
                    (user[0], text, np.asarray(vector, dtype=np.float32)),
                )
            for turn in range(30):
                text = f"{name} said turn number {turn} about the weather"
                message = conn.execute(
                    """INSERT INTO messages (thread_id, user_id, role, speaker, content)
                       VALUES (%s, %s, 'user', %s, %s) RETURNING id, seq""",
                    (thread[0], user[0], name, text),
                ).fetchone()
                assert message
                vector = (await embedder.passages([MEMORY_TEXT.build("episodic", text, name, "user")]))[0]
                conn.execute(
                    """INSERT INTO memories (user_id, kind, text, speaker, role, thread_id, message_id, seq, embedding)
                       VALUES (%s, 'episodic', %s, %s, 'user', %s, %s, %s, %s)""",
                    (user[0], text, name, thread[0], message[0], message[1], np.asarray(vector, dtype=np.float32)),
                )
        # An edited fact: the old version closed, the new one pointing at it.
        old = conn.execute(
            """UPDATE memories SET valid_to = now() WHERE text = 'My cat is called Pixel.'
               RETURNING id, user_id""",
        ).fetchone()
        assert old
        vector = (await embedder.passages(["My cat is called Pixel the Second."]))[0]
        conn.execute(
            """INSERT INTO memories (user_id, kind, text, previous_id, embedding)
               VALUES (%s, 'semantic', 'My cat is called Pixel the Second.', %s, %s)""",
            (old[1], old[0], np.asarray(vector, dtype=np.float32)),
        )
    return users


def _rows(url: str) -> set[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return set(
            conn.execute("SELECT id, user_id, kind, text, previous_id, embedding::text FROM memories").fetchall()
        )


@pytest.fixture
async def runtime(
    empty_database_url: str, services: manager.Endpoints, redis_prefix: str, tmp_path: object
) -> AsyncIterator[Runtime]:
    settings = Settings(
        data_dir=f"{tmp_path}/data",
        database_url=empty_database_url,
        redis_url=services.redis_url,
        redis_prefix=redis_prefix,
        model="fake",
        embedder="hash",
    )
    await _populate_version_8(empty_database_url)
    await migrate(empty_database_url)
    before = _rows(empty_database_url)
    labels: list[str] = []
    report = await partition_memories(
        empty_database_url, PARTITIONS, batch=7, progress=lambda label, done, total: labels.append(label)
    )
    # Turns, facts, fillers and an edit.
    assert report.partitions == PARTITIONS and report.rows == len(before) == 2 * 30 + 5 + 2 + 1
    assert "copying memories" in labels and "index memories_embedding_idx" in labels
    assert _rows(empty_database_url) == before  # every memory, its vector and its link to its previous version
    pool = await open_pool(empty_database_url, max_size=4)
    redis = aioredis.from_url(services.redis_url)
    built = Runtime.assemble(
        settings,
        manager.Endpoints(empty_database_url, services.redis_url),
        pool,
        redis,
        FakeChatModel(),
        HashEmbedder(),
    )
    yield built
    await built.drain()
    await pool.close()
    await redis.aclose()


async def test_an_old_populated_database_is_partitioned_and_still_searched(
    runtime: Runtime, empty_database_url: str
) -> None:
    with psycopg.connect(empty_database_url) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'memories'::regclass").fetchone()
        leaves = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'memories'::regclass").fetchone()
        hnsw = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'memories_p%%' AND indexdef LIKE '%%USING hnsw%%'"
        ).fetchone()
    # Two vector indexes per partition: the turns' own vectors and their context vectors.
    assert kind == ("p",) and leaves == (PARTITIONS,) and hnsw == (2 * PARTITIONS,)
    async with runtime.pool.connection() as aconn:
        assert await partition_count(aconn) == PARTITIONS
    ann = await runtime.conversations.ensure_user("ann")
    bob = await runtime.conversations.ensure_user("bob")
    hits = await runtime.memories.search(ann.id, "Ingrid bees Tromsø")
    assert hits and hits[0].memory.text == "My sister Ingrid keeps bees in Tromsø."
    assert hits[0].vector_rank == 1 and hits[0].text_rank == 1  # found by both legs of the hybrid search
    assert all(h.memory.user_id == ann.id for h in await runtime.memories.search(ann.id, "chillies balcony"))
    current = [m.text for m in await runtime.memories.list_memories(ann.id, include_history=True)]
    assert "My cat is called Pixel." in current and "My cat is called Pixel the Second." in current
    # Writes after the conversion: a fact, its edit (a version chain within the partition), a turn stored once.
    fact = await runtime.memories.remember(bob.id, "Lars lives in Bergen.")
    edited = await runtime.memories.edit(bob.id, fact.id, "Lars lives in Oslo.")
    assert edited.previous_id == fact.id
    with psycopg.connect(empty_database_url) as conn:
        message = conn.execute(
            "SELECT id, thread_id, seq FROM messages WHERE user_id = %s LIMIT 1", (bob.id,)
        ).fetchone()
    assert message
    again = NewMemory(user_id=bob.id, kind="episodic", text="again", thread_id=message[1], message_id=message[0])
    vectors = await HashEmbedder().passages(["again"])
    assert await runtime.memories.store.add_many([again], vectors) == []  # its turn has its memory already


async def test_forgetting_works_on_the_partitioned_table(runtime: Runtime, empty_database_url: str) -> None:
    ann = await runtime.conversations.ensure_user("ann")
    bob = await runtime.conversations.ensure_user("bob")
    [bees] = [h.memory for h in await runtime.memories.search(ann.id, "Ingrid bees", limit=1)]
    old_cat = next(m for m in await runtime.memories.list_memories(ann.id, include_history=True) if m.valid_to)
    report = await runtime.memories.forget(ann.id, [bees.id, old_cat.id])
    assert report.memories == 3  # a memory goes with all its versions
    assert not [h for h in await runtime.memories.search(ann.id, "Ingrid bees") if "Ingrid" in h.memory.text]
    with psycopg.connect(empty_database_url) as conn:
        texts = {row[0] for row in conn.execute("SELECT text FROM memories WHERE user_id = %s", (ann.id,))}
        assert texts and not {t for t in texts if "Ingrid" in t or "Pixel" in t}
        # The reference to a previous version, now keyed by user: deleting that version clears the link.
        fact = await runtime.memories.remember(ann.id, "I swim in the fjord.")
        newer = await runtime.memories.edit(ann.id, fact.id, "I swim in the fjord in winter.")
        conn.execute("DELETE FROM memories WHERE id = %s", (fact.id,))
        assert conn.execute("SELECT previous_id FROM memories WHERE id = %s", (newer.id,)).fetchone() == (None,)
    await runtime.memories.erase_user(bob.id)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM memories WHERE user_id = %s", (bob.id,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM memories WHERE user_id = %s", (ann.id,)).fetchone() != (0,)


async def test_a_user_scoped_search_reads_one_partition(runtime: Runtime, empty_database_url: str) -> None:
    ann = await runtime.conversations.ensure_user("ann")
    query = HybridQuery(MEMORIES, ann.id, (CurrentVersions(), Pinned(include=True)))
    vector = np.asarray((await HashEmbedder().queries(["bees"]))[0], dtype=np.float32)
    params = query.params(vector=vector, text="bees", depth=10)
    async with runtime.pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # a few dozen rows: show the indexes a large one uses
        plan = await (await conn.execute(sql.SQL("EXPLAIN {}").format(query.fused(text_ids=False)), params)).fetchall()
    text = "\n".join(str(row[0]) for row in plan)
    read = set(re.findall(r"\bon (memories_p\d+)", text))
    assert len(read) == 1, text
    [partition] = read
    assert f"{partition}_user_tsv_idx" in text, text  # the full-text leg through that partition's index


async def test_a_partitioned_table_is_not_converted_again(runtime: Runtime, empty_database_url: str) -> None:
    with pytest.raises(InvalidInputError, match=f"already partitioned \\({PARTITIONS} partitions\\)"):
        await partition_memories(empty_database_url, 8)
    assert await migrate(empty_database_url) == []  # the ordered chain has nothing left to do
    with pytest.raises(InvalidInputError, match="between 2 and"):
        await partition_memories(empty_database_url, 1)


@pytest.mark.skipif(bool(os.environ.get("ASSISTANT_TEST_PARTITIONS")), reason="the template is partitioned already")
@pytest.mark.usefixtures("store_env")
def test_the_command_partitions_once_and_refuses_after(database_url: str) -> None:
    first = runner.invoke(app, ["db", "partition", "--partitions", "3", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["partitions"] == 3
    again = runner.invoke(app, ["db", "partition"])
    assert again.exit_code == 1 and "already partitioned (3 partitions)" in again.stderr
    with psycopg.connect(database_url) as conn:
        partitions = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'memories'::regclass")
        assert partitions.fetchone() == (3,)
