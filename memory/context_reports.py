"""Context reports, stored with the assistant message they produced."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from memory.conversations import Thread


class ContextReportStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def save(self, thread: Thread, message_id: uuid.UUID | None, report: dict[str, Any]) -> uuid.UUID:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """INSERT INTO context_reports (id, user_id, thread_id, message_id, report)
                       VALUES (coalesce(%s::uuid, gen_random_uuid()), %s, %s, %s, %s) RETURNING id""",
                    (report.get("id"), thread.user_id, thread.id, message_id, Jsonb(report)),
                )
            ).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))

    async def for_message(self, user_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT report FROM context_reports WHERE message_id = %s AND user_id = %s", (message_id, user_id)
                )
            ).fetchone()
        return dict(row[0]) if row else None

    async def last(self, thread: Thread) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """SELECT report FROM context_reports WHERE thread_id = %s AND user_id = %s
                       ORDER BY created_at DESC LIMIT 1""",
                    (thread.id, thread.user_id),
                )
            ).fetchone()
        return dict(row[0]) if row else None

    async def for_thread(self, thread: Thread) -> dict[uuid.UUID, dict[str, Any]]:
        """Every stored report of the thread, by the reply it produced (to show each receipt again)."""
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """SELECT message_id, report FROM context_reports
                       WHERE thread_id = %s AND user_id = %s AND message_id IS NOT NULL""",
                    (thread.id, thread.user_id),
                )
            ).fetchall()
        return {uuid.UUID(str(r[0])): dict(r[1]) for r in rows}
