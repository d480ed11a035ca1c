"""The hybrid-search statements are composed from typed filters: values are bound, never written into the SQL."""

import uuid

from memory.documents.search import CHUNKS
from memory.long_term.search import MEMORIES
from memory.retrieval.fusion import reciprocal_rank
from memory.retrieval.query import CurrentVersions, HybridQuery, InThread, Pinned
from memory.retrieval.texts import chunk_text, memory_text


def test_filters_bind_their_values_and_every_leg_is_scoped_to_the_user() -> None:
    user, thread = uuid.uuid4(), uuid.uuid4()
    memories = HybridQuery(MEMORIES, user, (CurrentVersions(), Pinned(include=False)))
    chunks = HybridQuery(CHUNKS, user, (InThread(thread),))
    assert memories.params(depth=5) == {"user": user, "pinned": False, "depth": 5}
    assert chunks.params() == {"user": user, "thread": thread, "every_thread": False}
    for statement in (memories.text_rows(), memories.fused(text_ids=True), chunks.fused(text_ids=False)):
        text = statement.as_string()
        assert str(user) not in text and str(thread) not in text
    fused = chunks.fused(text_ids=False).as_string()
    # Both legs and the final join each keep to the user; the thread filter is on both legs.
    assert fused.count("%(user)s") == 3 and fused.count("%(thread)s") == 2
    assert '"valid_to" IS NULL' in memories.fused(text_ids=True).as_string()
    # The full-text leg on its own keeps to the user twice too: in its ranking and in its join.
    assert memories.text_rows().as_string().count("%(user)s") == 2


def test_one_fusion_and_one_text_per_record_kind() -> None:
    assert reciprocal_rank(1, None) > reciprocal_rank(None, 1) > reciprocal_rank(None, 2) > reciprocal_rank(None, None)
    assert reciprocal_rank(3, 3) == reciprocal_rank(3, None) + reciprocal_rank(None, 3)
    assert memory_text("episodic", "I moved to Lima", "Ann", "user") == "Ann: I moved to Lima"
    assert memory_text("episodic", "Sure.", None, "assistant") == "assistant: Sure."
    assert memory_text("semantic", "Ann lives in Lima", "user", None) == "Ann lives in Lima"
    assert chunk_text("Handbook > Leave", "20 days a year") == "Handbook > Leave\n20 days a year"
    assert chunk_text(None, "20 days a year") == "20 days a year"
