"""Common words are left out of the full-text search once Postgres's statistics show how common they are."""

from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from assistant.providers.embedders import HashEmbedder
from memory.conversations import ConversationStore
from memory.long_term.search import HybridSearch
from memory.long_term.store import MemoryStore, NewMemory
from memory.retrieval.words import COMMON_MATCHES, text_query


def test_without_statistics_every_distinctive_word_is_asked_for() -> None:
    assert text_query("What did I cook for my brother?") == "cook | brother"
    assert text_query("the and of") is None


def test_common_words_are_dropped_and_all_common_words_must_all_match() -> None:
    common = {"cook": 10 * COMMON_MATCHES, "brother": 10 * COMMON_MATCHES}
    assert text_query("What did I cook for my brother in Lima?", matches=lambda w: common.get(w, 0)) == "lima"
    assert text_query("cook for my brother", matches=lambda w: common.get(w, 0)) == "cook & brother"


async def test_a_rare_word_is_still_found_among_thousands_of_common_ones(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    user = await conversations.ensure_user("busy")
    other = await conversations.ensure_user("quiet")
    embedder = HashEmbedder()
    texts = [f"went to work again, day {n}" for n in range(2 * COMMON_MATCHES)] + ["work dinner with Zanzibar people"]
    memories = [NewMemory(user_id=user.id, kind="semantic", text=t) for t in texts]
    memories.append(NewMemory(user_id=other.id, kind="semantic", text="work is boring"))
    store = MemoryStore(pool)
    await store.add_many(memories, await embedder.passages([m.text for m in memories]))
    search = HybridSearch(pool, embedder)
    assert (await search.term_stats.get()).expected_matches(user.id, "work") == 0  # not analyzed yet
    async with pool.connection() as conn:
        await conn.execute("ANALYZE memories")
    assert (await search.term_stats.get()).expected_matches(user.id, "work") == 0  # read a moment ago: kept
    search.term_stats.invalidate()
    stats = await search.term_stats.get()
    assert stats.expected_matches(user.id, "work") > COMMON_MATCHES
    assert stats.expected_matches(other.id, "work") == 0  # a user too small to be listed: nothing is dropped
    hits = await search.search(user.id, "work with Zanzibar", now=datetime.now(UTC), limit=5)
    top = hits[0]
    assert top.memory.text == "work dinner with Zanzibar people" and top.text_rank == 1
