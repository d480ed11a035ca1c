"""The rolling summary of each thread, kept in Postgres so Redis can be rebuilt from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from memory.conversations import Thread


@dataclass(frozen=True)
class Summary:
    """What the model wrote about a thread's messages up to and including ``covers_through_seq``."""

    content: str
    covers_through_seq: int
    model: str | None = None
    updated_at: datetime | None = None


class SummaryStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def get(self, thread: Thread) -> Summary | None:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """SELECT content, covers_through_seq, model, updated_at FROM thread_summaries
                       WHERE thread_id = %s AND user_id = %s""",
                    (thread.id, thread.user_id),
                )
            ).fetchone()
        return Summary(row[0], int(row[1]), row[2], row[3]) if row else None

    async def put(self, thread: Thread, summary: Summary) -> Summary:
        """Store a newer summary; an older one (by ``covers_through_seq``) never replaces a newer."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """INSERT INTO thread_summaries (thread_id, user_id, content, covers_through_seq, model)
                       VALUES (%s, %s, %s, %s, %s)
                       ON CONFLICT (thread_id) DO UPDATE
                         SET content = EXCLUDED.content, covers_through_seq = EXCLUDED.covers_through_seq,
                             model = EXCLUDED.model, updated_at = now()
                         WHERE thread_summaries.covers_through_seq < EXCLUDED.covers_through_seq
                       RETURNING content, covers_through_seq, model, updated_at""",
                    (thread.id, thread.user_id, summary.content, summary.covers_through_seq, summary.model),
                )
            ).fetchone()
        if row is None:
            current = await self.get(thread)
            assert current is not None
            return current
        return Summary(row[0], int(row[1]), row[2], row[3])
