"""Which extraction jobs are done: a job's idempotency key is the id of the reply it read."""

from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool


class ExtractionRuns:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def done(self, user_id: uuid.UUID, key: uuid.UUID) -> bool:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT 1 FROM extraction_runs WHERE message_id = %s AND user_id = %s", (key, user_id)
                )
            ).fetchone()
        return row is not None

    async def record(self, user_id: uuid.UUID, key: uuid.UUID) -> None:
        """Mark the job done (nothing is marked when its message is gone: nothing can run for it again)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                """INSERT INTO extraction_runs (message_id, user_id)
                   SELECT id, user_id FROM messages WHERE id = %s AND user_id = %s
                   ON CONFLICT (message_id) DO NOTHING""",
                (key, user_id),
            )
