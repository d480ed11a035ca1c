"""The rolling summary of each thread, kept in Postgres so Redis can be rebuilt from it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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

    async def put(
        self, thread: Thread, summary: Summary, sources: Sequence[uuid.UUID] = (), extends: int | None = None
    ) -> Summary | None:
        """Store a newer summary; an older one (by ``covers_through_seq``) never replaces a newer.

        ``sources`` are the messages it was written from and ``extends`` the coverage of the summary it
        continues: when one of those was forgotten meanwhile, nothing is stored and None is returned.
        """
        async with self.pool.connection() as conn, conn.transaction():
            # Locked until stored: a forgetting of these waits, then drops this summary like the others.
            rows = await (
                await conn.execute(
                    "SELECT status FROM messages WHERE id = ANY(%s) AND user_id = %s FOR SHARE",
                    (list(sources), thread.user_id),
                )
            ).fetchall()
            if any(status == "forgotten" for (status,) in rows):
                return None
            if extends is not None:
                stored = await (
                    await conn.execute(
                        "SELECT covers_through_seq FROM thread_summaries WHERE thread_id = %s FOR UPDATE", (thread.id,)
                    )
                ).fetchone()
                if stored is None or stored[0] < extends:  # the summary it continues was dropped by a forgetting
                    return None
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
