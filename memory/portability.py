"""Export a user's data to the open JSON Lines format, and import such a file into a user.

Export order is dependency order (threads, messages, memories, events, documents)
and reads one consistent snapshot. Import validates the whole file first (a bad
line changes nothing), embeds memories with the configured embedder (vectors are
not exported: they belong to one embedding model), then writes everything in one
transaction. Ids are kept, so importing a file twice changes nothing the second
time; an id that belongs to another user gets a fresh one (and references follow).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psycopg import AsyncConnection, errors
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from memory import text_input
from memory.embeddings import Embedder
from memory.errors import InvalidInputError
from memory.long_term.duplicates import text_key
from memory.portability_documents import export_documents, import_documents
from memory.portability_lines import LINE_TYPES, DocumentLine, EventLine, MemoryLine, MessageLine, ThreadLine
from memory.retrieval.texts import memory_text

Progress = Callable[[int, int], None]
_EMBED_BATCH = 64

_QUERIES: dict[str, str] = {
    "thread": "SELECT id, name, title, metadata, created_at, updated_at FROM threads WHERE user_id = %s "
    "ORDER BY created_at, id",
    "message": "SELECT id, thread_id, role, speaker, content, status, model, usage, latency_ms, external_id, "
    "remember, private, created_at FROM messages WHERE user_id = %s ORDER BY seq",
    "memory": "SELECT id, kind, pinned, text, speaker, role, thread_id, message_id, source_message_ids AS sources, "
    "said_at, valid_from, valid_to, previous_id, importance, origin, created_at, updated_at FROM memories "
    "WHERE user_id = %s ORDER BY created_at, id",
    "event": "SELECT id, memory_id, action, before, after, reason, message_id, undone_at, created_at "
    "FROM memory_events WHERE user_id = %s ORDER BY created_at, id",
}


def _line(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    return {"type": data.pop("type"), **data}


@dataclass
class ImportReport:
    threads: int = 0
    messages: int = 0
    memories: int = 0
    events: int = 0
    documents: int = 0
    skipped: int = 0
    dropped_references: int = 0  # ids the file points at that are neither in it nor the user's: left out


@dataclass
class _Parsed:
    threads: list[ThreadLine] = field(default_factory=list)
    messages: list[MessageLine] = field(default_factory=list)
    memories: list[MemoryLine] = field(default_factory=list)
    events: list[EventLine] = field(default_factory=list)
    documents: list[DocumentLine] = field(default_factory=list)


def parse_lines(
    lines: Iterable[str | Mapping[str, Any]], *, max_message_chars: int = text_input.MAX_MESSAGE_CHARS
) -> _Parsed:
    """Validate every line through the input boundary (the limits every face applies); the first bad one is an
    ``InvalidInputError`` naming its line number."""
    parsed = _Parsed()
    buckets: dict[str, list[Any]] = {
        "thread": parsed.threads,
        "message": parsed.messages,
        "memory": parsed.memories,
        "event": parsed.events,
        "document": parsed.documents,
    }
    for number, raw in enumerate(lines, 1):
        try:
            if isinstance(raw, str):
                if not raw.strip():
                    continue
                raw = json.loads(raw)
            if not isinstance(raw, Mapping):
                raise InvalidInputError(f"line {number}: not a JSON object")
            raw = text_input.json_value(raw, f"line {number}")  # valid strings without NUL, storable numbers
            kind = raw.get("type")
            if kind not in LINE_TYPES:
                raise InvalidInputError(
                    f"line {number}: unknown type {text_input.shown(str(kind))!r} "
                    f"(expected one of {', '.join(LINE_TYPES)})"
                )
            context = {"max_message_chars": max_message_chars}
            buckets[str(kind)].append(LINE_TYPES[str(kind)].model_validate(raw, context=context))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"line {number}: not JSON ({exc.msg})") from None
        except RecursionError:
            raise InvalidInputError(f"line {number}: the JSON is nested too deeply") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            why = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidInputError(f"line {number}: {where}: {why}") from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise InvalidInputError(f"line {number}: not usable JSON ({exc})".splitlines()[0]) from None
    return parsed


class Portability:
    def __init__(
        self, pool: AsyncConnectionPool, embedder: Embedder, *, max_message_chars: int = text_input.MAX_MESSAGE_CHARS
    ) -> None:
        self.pool = pool
        self.embedder = embedder
        self.max_message_chars = max_message_chars

    # -- export ----------------------------------------------------------------------------
    async def lines(self, user_id: uuid.UUID) -> AsyncIterator[dict[str, Any]]:
        """Every line of the user's export, as dicts, from one consistent snapshot."""
        models = {"thread": ThreadLine, "message": MessageLine, "memory": MemoryLine, "event": EventLine}
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for kind, query in _QUERIES.items():
                async with conn.cursor() as cur:
                    await cur.execute(query, (user_id,))
                    names = [d.name for d in cur.description or ()]
                    async for row in cur:
                        model: Any = models[kind]
                        yield _line(model.model_validate(dict(zip(names, row, strict=True))))
            for document in await export_documents(conn, user_id):
                yield _line(document)

    async def thread_lines(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> list[dict[str, Any]]:
        """One conversation: its thread line and its messages (importable like a full export)."""
        lines: list[dict[str, Any]] = []
        async with self.pool.connection() as conn:
            for kind, column in (("thread", "id"), ("message", "thread_id")):
                query = _QUERIES[kind].replace("WHERE user_id = %s", f"WHERE user_id = %s AND {column} = %s")
                cur = await conn.execute(query, (user_id, thread_id))
                names = [d.name for d in cur.description or ()]
                model: Any = ThreadLine if kind == "thread" else MessageLine
                lines += [
                    _line(model.model_validate(dict(zip(names, row, strict=True)))) for row in await cur.fetchall()
                ]
        return lines

    async def export_lines(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        return [line async for line in self.lines(user_id)]

    async def export_jsonl(self, user_id: uuid.UUID) -> str:
        """The whole export as one JSON Lines text (what the chat's /export and the CLI write)."""
        return "".join([json.dumps(line, ensure_ascii=False) + "\n" async for line in self.lines(user_id)])

    # -- import ----------------------------------------------------------------------------
    async def import_lines(
        self, user_id: uuid.UUID, lines: Iterable[str | Mapping[str, Any]], *, progress: Progress | None = None
    ) -> ImportReport:
        """Import an export into this user (all or nothing); returns what was added."""
        return await self.import_parsed(user_id, self.parse(lines), progress=progress)

    def parse(self, lines: Iterable[str | Mapping[str, Any]]) -> _Parsed:
        """The file checked through the input boundary with this app's limits (before anything is written)."""
        return parse_lines(lines, max_message_chars=self.max_message_chars)

    async def import_parsed(
        self, user_id: uuid.UUID, data: _Parsed, *, progress: Progress | None = None
    ) -> ImportReport:
        """Import a parsed file into this user (all or nothing); returns what was added."""
        report = ImportReport()
        async with self.pool.connection() as conn:
            ids = await _IdMap.build(conn, user_id, data)
            new_memories = [m for m in data.memories if ids.memory(m.id) not in ids.own["memories"]]
            kept = await _without_repeats(conn, user_id, new_memories, ids)
            repeats = {m.id for m in new_memories} - {m.id for m in kept}
            data.events = [e for e in data.events if e.memory_id not in repeats]
            new_memories = kept
            vectors = await self._embed(new_memories, progress)
            try:
                async with conn.transaction():
                    report.threads = await _threads(conn, user_id, data.threads, ids)
                    report.messages = await _messages(conn, user_id, data.messages, ids)
                    report.memories = await _memories(conn, user_id, new_memories, vectors, ids)
                    report.events = await _events(conn, user_id, data.events, ids)
                    report.documents = await import_documents(conn, user_id, data.documents, ids, self.embedder)
            except (errors.IntegrityError, errors.DataError) as exc:
                raise InvalidInputError(f"the file conflicts with stored data: {exc.diag.message_primary}") from None
        report.skipped = len(data.memories) - len(new_memories)
        report.dropped_references = len(ids.dropped)
        return report

    async def import_jsonl(self, user_id: uuid.UUID, text: str, *, progress: Progress | None = None) -> ImportReport:
        return await self.import_lines(user_id, text.splitlines(), progress=progress)

    async def _embed(self, memories: list[MemoryLine], progress: Progress | None) -> list[Any]:
        vectors: list[Any] = []
        for start in range(0, len(memories), _EMBED_BATCH):
            batch = memories[start : start + _EMBED_BATCH]
            texts = [memory_text(m.kind, m.text, m.speaker, m.role) for m in batch]
            vectors.extend(np.asarray(v, dtype=np.float32) for v in await self.embedder.passages(texts))
            if progress:
                progress(len(vectors), len(memories))
        return vectors


class _IdMap:
    """Ids of the file mapped to ids in this database; others' ids are replaced, unknown references dropped."""

    TABLES = ("threads", "messages", "memories", "memory_events", "documents")

    def __init__(self) -> None:
        self.fresh: dict[uuid.UUID, uuid.UUID] = {}
        self.own: dict[str, set[uuid.UUID]] = {t: set() for t in self.TABLES}
        self.known: set[uuid.UUID] = set()
        self.dropped: set[uuid.UUID] = set()

    @classmethod
    async def build(cls, conn: AsyncConnection, user_id: uuid.UUID, data: _Parsed) -> _IdMap:
        ids = cls()
        groups = {
            "threads": [t.id for t in data.threads],
            "messages": [m.id for m in data.messages],
            "memories": [m.id for m in data.memories],
            "memory_events": [e.id for e in data.events],
            "documents": [d.id for d in data.documents],
        }
        for table, wanted in groups.items():
            if not wanted or (table == "documents" and not await _has_table(conn, "documents")):
                continue
            rows = await (
                await conn.execute(f"SELECT id, user_id FROM {table} WHERE id = ANY(%s)", (wanted,))
            ).fetchall()
            for row_id, owner in rows:
                if owner == user_id:
                    ids.own[table].add(row_id)
                else:
                    ids.fresh[row_id] = uuid.uuid4()
            ids.known.update(ids.map(i) for i in wanted)
        await ids._stored_references(conn, user_id, data)
        return ids

    async def _stored_references(self, conn: AsyncConnection, user_id: uuid.UUID, data: _Parsed) -> None:
        """Rows of this user that the file refers to without containing them."""
        threads = {m.thread_id for m in data.messages} | {m.thread_id for m in data.memories}
        threads |= {d.thread_id for d in data.documents}
        refs = {
            "threads": threads,
            "messages": {m.message_id for m in data.memories}
            | {s for m in data.memories for s in m.sources}
            | {e.message_id for e in data.events},
            "memories": {m.previous_id for m in data.memories} | {e.memory_id for e in data.events},
        }
        for table, wanted in refs.items():
            missing = [i for i in wanted if i is not None and self.map(i) not in self.known]
            if missing:
                rows = await (
                    await conn.execute(
                        f"SELECT id FROM {table} WHERE user_id = %s AND id = ANY(%s)", (user_id, missing)
                    )
                ).fetchall()
                self.known.update(row[0] for row in rows)

    def map(self, old: uuid.UUID) -> uuid.UUID:
        return self.fresh.get(old, old)

    memory = map

    def ref(self, old: uuid.UUID | None) -> uuid.UUID | None:
        """A reference to a row in the file or already stored for the user; otherwise none (and counted): a file
        never makes a row point at another user's rows, or at rows that do not exist."""
        if old is None:
            return None
        if self.map(old) not in self.known:
            self.dropped.add(old)
            return None
        return self.map(old)

    def refs(self, olds: Iterable[Any]) -> list[uuid.UUID]:
        kept = []
        for old in olds:
            try:
                ref = self.ref(uuid.UUID(str(old)))
            except ValueError:
                continue
            if ref is not None:
                kept.append(ref)
        return kept

    def snapshot(self, data: dict[str, Any] | None) -> dict[str, Any] | None:
        """An audit snapshot whose ``sources`` (restored by undo) keep only references the user may hold."""
        if not data:
            return None
        if isinstance(data.get("sources"), list):
            return {**data, "sources": [str(s) for s in self.refs(data["sources"])]}
        return data


async def _without_repeats(
    conn: AsyncConnection, user_id: uuid.UUID, memories: list[MemoryLine], ids: _IdMap
) -> list[MemoryLine]:
    """The memories, less current facts whose text the user already has (stored, or earlier in the file)."""
    rows = await (
        await conn.execute(
            "SELECT text FROM memories WHERE user_id = %s AND kind = 'semantic' AND valid_to IS NULL", (user_id,)
        )
    ).fetchall()
    seen = {text_key(str(row[0])) for row in rows}
    kept = []
    for memory in memories:
        if memory.kind == "semantic" and memory.valid_to is None:
            key = text_key(memory.text)
            if key in seen:
                ids.known.discard(ids.map(memory.id))  # nothing may refer to the copy left out
                continue
            seen.add(key)
        kept.append(memory)
    return kept


async def _has_table(conn: AsyncConnection, name: str) -> bool:
    row = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))).fetchone()
    return bool(row and row[0])


async def _threads(conn: AsyncConnection, user_id: uuid.UUID, threads: list[ThreadLine], ids: _IdMap) -> int:
    added = 0
    for t in threads:
        cur = await conn.execute(
            """INSERT INTO threads (id, user_id, name, title, metadata, created_at, updated_at)
               VALUES (%s, %s, CASE WHEN EXISTS (SELECT 1 FROM threads WHERE user_id = %s AND name = %s) THEN NULL
                                    ELSE %s END, %s, %s, %s, coalesce(%s, %s))
               ON CONFLICT (id) DO NOTHING""",
            (ids.map(t.id), user_id, user_id, t.name, t.name, t.title, Jsonb(t.metadata), t.created_at,
             t.updated_at, t.created_at),
        )  # fmt: skip
        added += cur.rowcount
    return added


async def _messages(conn: AsyncConnection, user_id: uuid.UUID, messages: list[MessageLine], ids: _IdMap) -> int:
    rows = []
    for m in messages:
        thread_id = ids.ref(m.thread_id)
        if thread_id is None:
            raise InvalidInputError(f"message {m.id}: its thread {m.thread_id} is neither in the file nor stored")
        rows.append(
            (ids.map(m.id), thread_id, user_id, m.role, m.speaker, m.content, m.status, m.model,
             Jsonb(m.usage) if m.usage is not None else None, m.latency_ms, m.external_id,
             m.remember and not m.private, m.private, m.created_at)
        )  # fmt: skip
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO messages (id, thread_id, user_id, role, speaker, content, status, model, usage, latency_ms,
                                     external_id, remember, private, created_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET remember = EXCLUDED.remember, private = EXCLUDED.private
               WHERE messages.user_id = EXCLUDED.user_id""",
            rows,
        )
    return sum(ids.map(m.id) not in ids.own["messages"] for m in messages)


async def _memories(
    conn: AsyncConnection, user_id: uuid.UUID, memories: list[MemoryLine], vectors: list[Any], ids: _IdMap
) -> int:
    rows = []
    for m, vector in zip(memories, vectors, strict=True):
        said_at = m.said_at or m.created_at
        rows.append(
            (ids.map(m.id), user_id, m.kind, m.pinned, m.text, m.speaker, m.role, ids.ref(m.thread_id),
             ids.ref(m.message_id), ids.refs(m.sources), said_at, m.valid_from or said_at, m.valid_to,
             m.importance, vector, m.created_at, m.updated_at or m.created_at, m.origin or "imported")
        )  # fmt: skip
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO memories (id, user_id, kind, pinned, text, speaker, role, thread_id, message_id,
                   source_message_ids, said_at, valid_from, valid_to, importance, embedding, created_at, updated_at,
                   origin)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT DO NOTHING""",
            rows,
        )
        added = max(cur.rowcount, 0)
        previous = [
            (ids.map(m.previous_id), ids.map(m.id), user_id)
            for m in memories
            if m.previous_id is not None and ids.ref(m.previous_id) is not None
        ]
        await cur.executemany("UPDATE memories SET previous_id = %s WHERE id = %s AND user_id = %s", previous)
    return added


async def _events(conn: AsyncConnection, user_id: uuid.UUID, events: list[EventLine], ids: _IdMap) -> int:
    rows = [
        (ids.map(e.id), user_id, ids.ref(e.memory_id), e.action,
         Jsonb(ids.snapshot(e.before)) if e.before else None, Jsonb(ids.snapshot(e.after)) if e.after else None,
         e.reason, ids.ref(e.message_id), e.undone_at, e.created_at)
        for e in events
    ]  # fmt: skip
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO memory_events (id, user_id, memory_id, action, before, after, reason, message_id,
                                          undone_at, created_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET before = coalesce(memory_events.before, EXCLUDED.before),
                   after = coalesce(memory_events.after, EXCLUDED.after),
                   reason = coalesce(memory_events.reason, EXCLUDED.reason),
                   undone_at = coalesce(memory_events.undone_at, EXCLUDED.undone_at)
               WHERE memory_events.user_id = EXCLUDED.user_id""",
            rows,
        )
    return sum(ids.map(e.id) not in ids.own["memory_events"] for e in events)
