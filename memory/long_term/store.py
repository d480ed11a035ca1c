"""The long-term memory tables: inserts, reads, version changes, deletion, and the audit events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from memory.embeddings import Vectors
from memory.errors import ConfigError, NotFoundError
from memory.long_term import context_vectors
from memory.long_term.records import (
    EVENT_COLUMNS,
    MEMORY_COLUMNS,
    MemoryEvent,
    MemoryKind,
    MemoryOrigin,
    MemoryRecord,
)


@dataclass(frozen=True)
class NewMemory:
    user_id: uuid.UUID
    kind: MemoryKind
    text: str
    speaker: str | None = None
    role: str | None = None
    pinned: bool = False
    thread_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    seq: int | None = None
    source_message_ids: tuple[uuid.UUID, ...] = ()
    said_at: datetime | None = None
    valid_from: datetime | None = None
    previous_id: uuid.UUID | None = None
    importance: float = 0.5
    origin: MemoryOrigin | None = None  # None: a turn was said in chat, a fact remembered by command


def _vector(row: Vectors | None) -> np.ndarray[Any, Any] | None:
    return None if row is None else np.asarray(row, dtype=np.float32)


class MemoryStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def _using(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        """The caller's connection (to share its transaction), or one from the pool."""
        if conn is not None:
            yield conn
            return
        async with self.pool.connection() as own:
            yield own

    # -- the embedding model ---------------------------------------------------------------
    async def check_embedding_model(self, name: str, dim: int) -> None:
        """Record the model on first use; refuse to mix vectors of another model with ours."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute("SELECT name, dim FROM embedding_model WHERE id = 1")).fetchone()
            if row is None:
                await conn.execute(
                    "INSERT INTO embedding_model (name, dim) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING", (name, dim)
                )
            elif (row[0], row[1]) != (name, dim):
                raise ConfigError(
                    f"stored memories were embedded with {row[0]} ({row[1]}-d), not {name} ({dim}-d)",
                    hint="run `assistant memory reembed` to re-embed them with the configured model",
                )

    async def set_embedding_model(self, conn: AsyncConnection, name: str, dim: int) -> None:
        await conn.execute(
            """INSERT INTO embedding_model (name, dim) VALUES (%s, %s)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, dim = EXCLUDED.dim, updated_at = now()""",
            (name, dim),
        )

    # -- writing ---------------------------------------------------------------------------
    async def add_many(
        self, memories: Sequence[NewMemory], vectors: Vectors, *, conn: AsyncConnection | None = None
    ) -> list[uuid.UUID]:
        """Insert memories with their vectors; an episodic memory of a turn already stored is skipped, and so
        is a memory drawn from a turn that was forgotten (its text must not come back)."""
        ids: list[uuid.UUID] = []
        pairs = list(zip(memories, vectors, strict=True))
        sources = {i for m in memories for i in (*m.source_message_ids, *([m.message_id] if m.message_id else []))}
        if not pairs:
            return ids
        rows = [
            (
                memory.user_id,
                memory.kind,
                memory.pinned,
                memory.text.replace("\x00", ""),
                memory.speaker,
                memory.role,
                memory.thread_id,
                memory.message_id,
                memory.seq,
                list(memory.source_message_ids),
                memory.said_at,
                memory.valid_from,
                memory.said_at,
                memory.previous_id,
                memory.importance,
                _vector(vector),
                memory.origin or ("chat" if memory.kind == "episodic" else "command"),
            )
            for memory, vector in pairs
        ]
        async with self._using(conn) as conn, conn.transaction(), conn.cursor() as cur:
            if sources:
                # Locked until stored: a forgetting of these turns waits, then takes what this stores too.
                await cur.execute("SELECT id, status FROM messages WHERE id = ANY(%s) FOR SHARE", (list(sources),))
                forgotten = {row[0] for row in await cur.fetchall() if row[1] == "forgotten"}
                rows = [
                    row
                    for row, (memory, _) in zip(rows, pairs, strict=True)
                    if forgotten.isdisjoint((*memory.source_message_ids, memory.message_id))
                ]
                if not rows:
                    return ids
            # One pipelined round trip for the batch; each row's result set holds its id, or nothing if skipped.
            # A turn's episodic memory is stored once: the conflict is on its message's unique key, (message_id) or,
            # with memories partitioned by user (memory/db/partitioning.py), (user_id, message_id).
            await cur.executemany(
                """INSERT INTO memories (user_id, kind, pinned, text, speaker, role, thread_id, message_id, seq,
                       source_message_ids, said_at, valid_from, previous_id, importance, embedding, origin)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()),
                           coalesce(%s, %s, now()), %s, %s, %s, %s)
                   ON CONFLICT DO NOTHING
                   RETURNING id""",
                rows,
                returning=True,
            )
            while True:
                row = await cur.fetchone()
                if row is not None:
                    ids.append(row[0])
                if not cur.nextset():
                    break
            if any(m.kind == "episodic" for m in memories):
                await context_vectors.stored(conn, ids)  # the new turns' windows and their neighbours'
        return ids

    async def update(
        self, user_id: uuid.UUID, memory_id: uuid.UUID, *, conn: AsyncConnection | None = None, **fields: Any
    ) -> MemoryRecord:
        allowed = {"text", "pinned", "valid_to", "importance", "embedding", "valid_from"}
        allowed |= {"said_at", "source_message_ids"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        values = [_vector(v) if k == "embedding" else v for k, v in fields.items()]
        assignments = ", ".join(f"{name} = %s" for name in fields)
        async with self._using(conn) as conn, conn.cursor(row_factory=class_row(MemoryRecord)) as cur:
            await cur.execute(
                f"""UPDATE memories SET {assignments}, updated_at = now() WHERE id = %s AND user_id = %s
                    RETURNING {MEMORY_COLUMNS}""",
                (*values, memory_id, user_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no memory {memory_id}")
        return row

    async def delete(
        self, user_id: uuid.UUID, memory_ids: Sequence[uuid.UUID], *, conn: AsyncConnection | None = None
    ) -> int:
        async with self._using(conn) as conn, conn.transaction():
            beside = await context_vectors.neighbours(conn, memory_ids)
            cur = await conn.execute(
                "DELETE FROM memories WHERE user_id = %s AND id = ANY(%s)", (user_id, list(memory_ids))
            )
            await context_vectors.refresh(conn, beside - set(memory_ids))
            return cur.rowcount

    # -- reading ---------------------------------------------------------------------------
    async def get(
        self, user_id: uuid.UUID, memory_id: uuid.UUID, *, conn: AsyncConnection | None = None
    ) -> MemoryRecord:
        rows = await self.fetch(user_id, "id = %s", (memory_id,), conn=conn)
        if not rows:
            raise NotFoundError(f"no memory {memory_id}")
        return rows[0]

    async def fetch(
        self,
        user_id: uuid.UUID,
        where: str = "true",
        params: Sequence[Any] = (),
        *,
        order: str = "said_at DESC",
        limit: int | None = None,
        conn: AsyncConnection | None = None,
    ) -> list[MemoryRecord]:
        query = f"SELECT {MEMORY_COLUMNS} FROM memories WHERE user_id = %s AND ({where}) ORDER BY {order}, id"
        args: list[Any] = [user_id, *params]
        if limit is not None:
            query += " LIMIT %s"
            args.append(limit)
        async with self._using(conn) as conn, conn.cursor(row_factory=class_row(MemoryRecord)) as cur:
            await cur.execute(query, args)
            return await cur.fetchall()

    async def count(self, user_id: uuid.UUID) -> dict[str, int]:
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """SELECT kind || CASE WHEN pinned THEN ':pinned' ELSE '' END, count(*) FROM memories
                       WHERE user_id = %s AND valid_to IS NULL GROUP BY 1""",
                    (user_id,),
                )
            ).fetchall()
        return {str(kind): int(n) for kind, n in rows}

    # -- audit events -----------------------------------------------------------------------
    async def record_event(
        self,
        user_id: uuid.UUID,
        memory_id: uuid.UUID | None,
        action: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
        message_id: uuid.UUID | None = None,
        conn: AsyncConnection | None = None,
    ) -> uuid.UUID:
        async with self._using(conn) as conn:
            row = await (
                await conn.execute(
                    """INSERT INTO memory_events (user_id, memory_id, action, before, after, reason, message_id,
                                                  created_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, clock_timestamp()) RETURNING id""",
                    (
                        user_id,
                        memory_id,
                        action,
                        Jsonb(before) if before else None,
                        Jsonb(after) if after else None,
                        reason,
                        message_id,
                    ),
                )
            ).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))

    async def events(
        self, user_id: uuid.UUID, *, memory_id: uuid.UUID | None = None, limit: int = 100
    ) -> list[MemoryEvent]:
        where, params = (
            ("user_id = %s", [user_id])
            if memory_id is None
            else ("user_id = %s AND memory_id = %s", [user_id, memory_id])
        )
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(MemoryEvent)) as cur:
            await cur.execute(
                f"SELECT {EVENT_COLUMNS} FROM memory_events WHERE {where} ORDER BY created_at DESC, id LIMIT %s",
                (*params, limit),
            )
            return await cur.fetchall()

    async def event(
        self, user_id: uuid.UUID, event_id: uuid.UUID, *, conn: AsyncConnection | None = None, lock: bool = False
    ) -> MemoryEvent:
        """One audit event; ``lock`` holds it (FOR UPDATE) until the caller's transaction ends."""
        async with self._using(conn) as conn, conn.cursor(row_factory=class_row(MemoryEvent)) as cur:
            await cur.execute(
                f"SELECT {EVENT_COLUMNS} FROM memory_events WHERE id = %s AND user_id = %s"
                + (" FOR UPDATE" if lock else ""),
                (event_id, user_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no memory event {event_id}")
        return row

    async def mark_undone(self, event_id: uuid.UUID, *, conn: AsyncConnection | None = None) -> None:
        async with self._using(conn) as conn:
            await conn.execute("UPDATE memory_events SET undone_at = now() WHERE id = %s", (event_id,))

    async def scrub_events(self, user_id: uuid.UUID, memory_ids: Sequence[uuid.UUID]) -> None:
        """Erase what the audit trail kept of forgotten memories; the events remain, textless."""
        async with self.pool.connection() as conn:
            await conn.execute(
                """UPDATE memory_events SET before = NULL, after = NULL, reason = NULL
                   WHERE user_id = %s AND memory_id = ANY(%s)""",
                (user_id, list(memory_ids)),
            )
