"""The document service on real Postgres: adding, re-adding, editing, bad files, isolation, forgetting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from psycopg_pool import AsyncConnectionPool

from assistant.providers.embedders import HashEmbedder
from memory.conversations import ConversationStore
from memory.documents.service import DocumentService
from memory.embeddings import Vectors
from memory.errors import InvalidInputError, NotFoundError
from tests.test_documents import docx_bytes, encrypted_pdf_bytes, pdf_bytes, word_count


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.passages_embedded: list[str] = []

    async def passages(self, texts: Sequence[str]) -> Vectors:
        self.passages_embedded.extend(texts)
        return await super().passages(texts)


def handbook(vacation_days: int = 25) -> bytes:
    sections = [
        "# Handbook\n\nWelcome to the company. This handbook explains how we work together.",
        f"## Vacation\n\nEvery employee gets {vacation_days} vacation days a year. Unused days expire in March.",
        "## Equipment\n\nLaptops are replaced every three years. Report broken equipment to the help desk.",
        "## Travel\n\nBook trains for trips under four hours. Flights need approval from your manager.",
    ]
    return "\n\n".join(sections).encode()


async def _service(pool: AsyncConnectionPool, **options: int) -> tuple[DocumentService, CountingEmbedder]:
    embedder = CountingEmbedder()
    return DocumentService(pool, embedder, count_tokens=word_count, chunk_tokens=40, **options), embedder


async def _table_counts(pool: AsyncConnectionPool) -> tuple[int, int]:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM document_chunks)")
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def test_add_list_search_and_remove(pool: AsyncConnectionPool, conversations: ConversationStore) -> None:
    service, _ = await _service(pool)
    ann = await conversations.ensure_user("ann")
    seen: list[tuple[int, int]] = []
    info = await service.add(ann.id, "/home/ann/handbook.md", handbook(), progress=lambda d, t: seen.append((d, t)))
    assert (info.name, info.type, info.chunk_count, info.embedded) == ("handbook.md", "md", 4, 4)
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert [d.id for d in await service.list(ann.id)] == [info.id]
    hits = await service.search(ann.id, "how many vacation days do I get")
    assert hits[0].chunk.section == "Handbook › Vacation" and "25 vacation days" in hits[0].chunk.text
    assert hits[0].chunk.citation == "handbook.md, “Handbook › Vacation”"
    removed = await service.remove(ann.id, info.id)
    assert removed.id == info.id
    assert await service.list(ann.id) == [] and await _table_counts(pool) == (0, 0)
    with pytest.raises(NotFoundError):
        await service.remove(ann.id, info.id)


async def test_every_format_is_stored_with_pages_where_it_has_them(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    service, _ = await _service(pool)
    ann = await conversations.ensure_user("ann")
    pdf = await service.add(ann.id, "report.pdf", pdf_bytes([["Revenue grew."], ["Costs fell sharply."]]))
    word = await service.add(ann.id, "policy.docx", docx_bytes())
    page = await service.add(ann.id, "menu.html", b"<h1>Menu</h1><p>Soup of the day</p>")
    text = await service.add(ann.id, "notes.txt", b"Buy milk.")
    assert (pdf.pages, pdf.chunk_count) == (2, 2)
    assert word.pages is None and word.chunk_count == 2
    assert {page.type, text.type} == {"html", "txt"}
    hits = await service.search(ann.id, "costs")
    assert hits[0].chunk.citation == "report.pdf, page 2"
    hits = await service.search(ann.id, "hotel limit in Paris")
    assert hits[0].chunk.document_name == "policy.docx" and "180 euros" in hits[0].chunk.text


async def test_adding_the_same_file_again_changes_nothing(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    service, embedder = await _service(pool)
    ann = await conversations.ensure_user("ann")
    first = await service.add(ann.id, "handbook.md", handbook())
    calls = len(embedder.passages_embedded)
    again = await service.add(ann.id, "handbook.md", handbook())
    assert again.unchanged and again.id == first.id and again.updated_at == first.updated_at
    assert len(embedder.passages_embedded) == calls
    assert await _table_counts(pool) == (1, 4)


async def test_an_edited_file_re_embeds_only_the_changed_chunks(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    service, embedder = await _service(pool)
    ann = await conversations.ensure_user("ann")
    first = await service.add(ann.id, "handbook.md", handbook(25))
    embedder.passages_embedded.clear()
    edited = await service.add(ann.id, "handbook.md", handbook(30))
    assert edited.id == first.id and not edited.unchanged and edited.embedded == 1
    assert len(embedder.passages_embedded) == 1 and "30 vacation days" in embedder.passages_embedded[0]
    assert await _table_counts(pool) == (1, 4)
    hits = await service.search(ann.id, "vacation days")
    assert "30 vacation days" in hits[0].chunk.text
    assert all("25 vacation" not in h.chunk.text for h in hits)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("photo.jpg", b"\xff\xd8\xff", "unsupported file type (.jpg)"),
        ("empty.md", b"", "the file is empty"),
        ("huge.txt", b"a" * (1024 * 1024 + 1), "over the 1 MB limit"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj garbage", "corrupt"),
        ("locked.pdf", encrypted_pdf_bytes(), "encrypted"),
        ("scan.pdf", pdf_bytes([[]]), "no text layer"),
    ],
)
async def test_a_bad_file_is_refused_and_nothing_is_stored(
    pool: AsyncConnectionPool, conversations: ConversationStore, name: str, data: bytes, reason: str
) -> None:
    service, embedder = await _service(pool)
    service.max_bytes = 1024 * 1024
    ann = await conversations.ensure_user("ann")
    with pytest.raises(InvalidInputError) as caught:
        await service.add(ann.id, name, data)
    assert caught.value.message.startswith(f"{name}: ") and reason in caught.value.message
    assert await _table_counts(pool) == (0, 0) and embedder.passages_embedded == []


async def test_an_add_interrupted_while_embedding_stores_nothing(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    second_batch = asyncio.Event()

    class Hanging(HashEmbedder):
        calls = 0

        async def passages(self, texts: Sequence[str]) -> Vectors:
            Hanging.calls += 1
            if Hanging.calls > 1:
                second_batch.set()
                await asyncio.sleep(3600)
            return await super().passages(texts)

    service = DocumentService(pool, Hanging(), count_tokens=word_count, chunk_tokens=40, embed_batch=1)
    ann = await conversations.ensure_user("ann")
    task = asyncio.create_task(service.add(ann.id, "handbook.md", handbook()))
    await asyncio.wait_for(second_batch.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _table_counts(pool) == (0, 0)


async def test_another_user_can_never_see_find_or_remove_your_documents(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    service, _ = await _service(pool)
    ann = await conversations.ensure_user("ann")
    bob = await conversations.ensure_user("bob")
    info = await service.add(ann.id, "handbook.md", handbook())
    assert await service.list(bob.id) == []
    assert await service.search(bob.id, "vacation days") == []
    assert await service.chunks(bob.id, [h.chunk.id for h in await service.search(ann.id, "vacation")]) == []
    with pytest.raises(NotFoundError):
        await service.remove(bob.id, info.id)
    with pytest.raises(NotFoundError):
        await service.get(bob.id, info.id)
    with pytest.raises(NotFoundError):
        await service.resolve(bob.id, "handbook.md")
    # A file of the same name is bob's own document; ann's stays as it was.
    await service.add(bob.id, "handbook.md", b"Bob's handbook: no vacation at all.")
    assert (await service.get(ann.id, info.id)).chunk_count == 4
    ann_thread = await conversations.create_thread(ann.id)
    with pytest.raises(NotFoundError):
        await service.add(bob.id, "x.txt", b"into ann's thread", thread_id=ann_thread.id)


async def test_a_thread_document_is_searched_only_in_its_thread(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    service, _ = await _service(pool)
    ann = await conversations.ensure_user("ann")
    one, two = await conversations.create_thread(ann.id), await conversations.create_thread(ann.id)
    await service.add(ann.id, "shared.txt", b"The office opens at nine.")
    await service.add(ann.id, "private.txt", b"The office key is under the mat.", thread_id=one.id)
    names_one = {h.chunk.document_name for h in await service.search(ann.id, "office", thread_id=one.id)}
    names_two = {h.chunk.document_name for h in await service.search(ann.id, "office", thread_id=two.id)}
    assert names_one == {"shared.txt", "private.txt"} and names_two == {"shared.txt"}
    assert {d.name for d in await service.list(ann.id, thread_id=two.id)} == {"shared.txt"}
    assert len(await service.list(ann.id)) == 2


async def test_resolve_by_name_or_id_prefix(pool: AsyncConnectionPool, conversations: ConversationStore) -> None:
    service, _ = await _service(pool)
    ann = await conversations.ensure_user("ann")
    info = await service.add(ann.id, "handbook.md", handbook())
    assert (await service.resolve(ann.id, "handbook.md")).id == info.id
    assert (await service.resolve(ann.id, str(info.id)[:8])).id == info.id
    with pytest.raises(NotFoundError):
        await service.resolve(ann.id, str(uuid.uuid4()))


async def test_erasing_a_user_or_a_thread_removes_their_documents_and_chunks(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    service, _ = await _service(pool)
    ann = await conversations.ensure_user("ann")
    bob = await conversations.ensure_user("bob")
    thread = await conversations.create_thread(ann.id)
    await service.add(ann.id, "handbook.md", handbook())
    await service.add(ann.id, "thread-only.txt", b"Notes for one conversation.", thread_id=thread.id)
    await service.add(bob.id, "bob.txt", b"Bob's notes.")
    assert await service.store.counts(ann.id) == (2, 5)
    assert await conversations.delete_thread(ann.id, thread.id)
    assert [d.name for d in await service.list(ann.id)] == ["handbook.md"]
    assert await service.remove_all(ann.id) == 1
    assert await service.store.counts(ann.id) == (0, 0)
    await service.add(ann.id, "handbook.md", handbook())
    await conversations.delete_user(ann.id)
    assert await _table_counts(pool) == (1, 1)  # only bob's document is left


async def test_memory_reembed_also_re_embeds_document_chunks_in_a_new_dimension(
    pool: AsyncConnectionPool, conversations: ConversationStore
) -> None:
    from memory.long_term.reembed import reembed_all

    service, _ = await _service(pool)
    ann = await conversations.ensure_user("ann")
    await service.add(ann.id, "handbook.md", handbook())
    assert await reembed_all(pool, HashEmbedder(64)) == 4
    small = DocumentService(pool, HashEmbedder(64), count_tokens=word_count, chunk_tokens=40)
    hits = await small.search(ann.id, "vacation days")
    assert "vacation days" in hits[0].chunk.text and hits[0].vector_rank == 1
    await small.add(ann.id, "more.txt", b"Parking is free on weekends.")
    assert (await small.search(ann.id, "parking weekends"))[0].chunk.document_name == "more.txt"
