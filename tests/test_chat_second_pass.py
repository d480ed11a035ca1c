"""The browser chat's second pass without a browser: deleted threads stay deleted, receipts are rebuilt
from the stored report under their reply, and what the chat says reads as plain words."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from chainlit.types import Pagination, ThreadFilter
from chainlit.user import User as ChainlitUser

from assistant.application.facade import Assistant
from assistant.context.report import ContextReport, ReportItem, TierReport
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.web import render
from assistant.web.data_layer import AssistantDataLayer
from memory.errors import NotFoundError


async def test_a_deleted_thread_cannot_be_written_into_or_brought_back(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(FakeChatModel())
    layer = AssistantDataLayer(lambda: Assistant(runtime))
    user = await layer.create_user(ChainlitUser(identifier="ann"))
    assert user is not None
    owner_id, thread_id = uuid.UUID(user.id), uuid.uuid4()
    thread = await runtime.conversations.ensure_thread(owner_id, thread_id)
    async for _ in runtime.pipeline.run(thread, "a chat about to be deleted"):
        pass

    await layer.delete_thread(str(thread_id))
    # A tab still open on it: the browser's thread id is refused, with a plain message; nothing is stored.
    with pytest.raises(NotFoundError, match="This conversation was deleted"):
        await runtime.conversations.ensure_thread(owner_id, thread_id)
    # What Chainlit does on a message or a disconnect does not bring it back either.
    await layer.update_thread(str(thread_id), name="Untitled", user_id=user.id)
    await layer.update_thread(str(thread_id), metadata={"x": 1})
    assert await layer.get_thread(str(thread_id)) is None
    listed = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=user.id))
    assert listed.data == [] and await runtime.conversations.list_threads(owner_id) == []
    async with runtime.pool.connection() as conn:
        rows = await (await conn.execute("SELECT count(*) FROM messages")).fetchone()
    assert rows is not None and rows[0] == 0

    # Deleting through the forgetter (the CLI's `threads rm`, the forget-memories route) keeps the id out too.
    other = await runtime.conversations.ensure_thread(owner_id, uuid.uuid4())
    await runtime.memories.delete_thread(owner_id, other.id, forget_memories=True)
    assert await runtime.conversations.was_deleted(owner_id, other.id)
    with pytest.raises(NotFoundError):
        await runtime.conversations.ensure_thread(owner_id, other.id)
    # Another user's fresh id is unaffected.
    bob = await runtime.conversations.ensure_user("bob")
    assert (await runtime.conversations.ensure_thread(bob.id, uuid.uuid4())).user_id == bob.id


async def test_the_receipt_is_rebuilt_under_its_reply(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(FakeChatModel())
    layer = AssistantDataLayer(lambda: Assistant(runtime))
    owner = await runtime.conversations.ensure_user("ann")
    await runtime.memories.remember(owner.id, "I am vegetarian")
    thread = await runtime.conversations.create_thread(owner.id)
    for text in ("what should I cook?", "and tomorrow?"):
        async for _ in runtime.pipeline.run(thread, text):
            pass
    resumed = await layer.get_thread(str(thread.id))
    assert resumed is not None
    kinds = [s["type"] for s in resumed["steps"]]
    assert kinds == ["user_message", "assistant_message", "retrieval"] * 2
    receipt = resumed["steps"][2]
    assert receipt["name"] == "memory" and "I am vegetarian" in receipt["output"]
    # Each reply has its own receipt, from its own stored report.
    last = ContextReport.model_validate(await runtime.reports.last(thread))
    assert resumed["steps"][5]["output"] == render.recalled(last) != receipt["output"]


def _document_report() -> ContextReport:
    item = ReportItem(
        id=str(uuid.uuid4()),
        kind="document",
        text='<document n="1" source="Trip-Notes.md, “Greece › Ferries”">\nThe ferry leaves at 07:30.\n</document>',
        tokens=12,
        score=0.4,
        reason="excerpt of Trip-Notes.md (matched by meaning #1, words #1)",
        source="Trip-Notes.md, “Greece › Ferries”",
    )
    tiers = [TierReport(name="documents", budget=100, used=12, items=[item])]
    return ContextReport(
        model="fake",
        window=8192,
        reserve=512,
        margin=0,
        budget=7680,
        used=40,
        tiers=tiers,
        timings_ms={"load_short_term": 4.0},
    )


def test_document_excerpts_and_reports_read_as_plain_text() -> None:
    report = _document_report()
    recalled = render.recalled(report)
    assert "The ferry leaves at 07:30." in recalled and "Trip-Notes.md, “Greece › Ferries”" in recalled
    assert "<document" not in recalled and "matched by" not in recalled
    context = render.context_report(report)
    assert "<document" not in context and "load_short_term" not in context and " ms" not in context
    assert "`/context --timings`" in context
    assert "load short term 4 ms" in render.context_report(report, timings=True)


def test_counts_sizes_and_the_summary_span_in_words() -> None:
    assert render.size(336) == "336 bytes" and render.size(1) == "1 byte"
    assert render.size(12_800) == "12 KB" and render.size(3_500_000) == "3.3 MB"
    assert render.count(1, "memory", "memories") == "1 memory" and render.count(3, "excerpt") == "3 excerpts"
    assert "covers messages 1-12 of 18" in render.summary("They planned a trip.", 12, 18)
    assert "no summary yet" in render.summary(None)


async def test_only_cited_excerpts_are_sources_and_they_come_back_on_reopen(
    make_runtime: Callable[..., Runtime],
) -> None:
    replies = ["The ferry leaves at 07:30 [1].", "No idea, sorry."]
    runtime = make_runtime(FakeChatModel(replies))
    layer = AssistantDataLayer(lambda: Assistant(runtime))
    owner = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(owner.id)
    notes = b"# Greece\n\n## Ferries\n\nThe ferry to Naxos leaves at 07:30 from gate E7.\n"
    await runtime.documents.add(owner.id, "Trip-Notes.md", notes, thread_id=thread.id)
    for text in ("When does the ferry to Naxos leave?", "And the ferry back from Naxos?"):
        async for _ in runtime.pipeline.run(thread, text):
            pass
    resumed = await layer.get_thread(str(thread.id))
    assert resumed is not None
    sources = [s for s in resumed["steps"] if s["name"] == "Sources"]
    # The first reply cites [1]: its excerpt is listed, with the file's case and heading path, in clean text.
    assert len(sources) == 1, [s["name"] for s in resumed["steps"]]
    assert "[1] Trip-Notes.md" in sources[0]["output"] and "gate E7" in sources[0]["output"]
    assert "<document" not in sources[0]["output"]
    # It sits under the reply and its receipt; the second reply, citing nothing, lists no source.
    names = [s["name"] for s in resumed["steps"]]
    assert names.index("Sources") == 3 and names.count("memory") == 2
