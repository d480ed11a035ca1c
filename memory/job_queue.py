"""The job queue's rows in Postgres (procrastinate's tables, migration 0014).

Jobs are deferred here in the transaction that stores their message, so a stored message always has its
jobs; they carry ids only, never text. The listing, retrying and purging behind ``assistant jobs`` read and
write the same rows. Running jobs is the workers' part (assistant/jobs).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

if TYPE_CHECKING:
    from memory.long_term.forgetting import Forgotten

# Jobs in these states may still run; "failed" ones wait for a person (the dead-letter view).
WAITING = ("todo", "doing")
FINISHED = ("succeeded", "failed", "cancelled", "aborted")


@dataclass(frozen=True)
class JobRequest:
    """One job to defer with a message: its task and queue, and ids (the message's own are added)."""

    task: str
    queue: str
    args: Mapping[str, Any] = field(default_factory=dict)
    # Jobs sharing a lock run one at a time (e.g. one thread's summary); "{thread_id}" etc. name the message's ids.
    lock: str | None = None


@dataclass(frozen=True)
class JobRow:
    id: int
    queue: str
    task: str
    status: str
    attempts: int
    args: dict[str, Any]
    scheduled_at: datetime | None
    updated_at: datetime | None


# A clause of the statement that stores a message (CTE ``stored``): its jobs, deferred by the same statement,
# each with the message's ids added to its args; run last so the statement is one atomic unit in autocommit.
DEFER_WITH_MESSAGE = """, queued AS (
    SELECT procrastinate_defer_jobs_v1(array_agg(ROW(
        j.queue, j.task, 0, replace(j.lock, '{thread_id}', s.thread_id::text), NULL,
        j.args || jsonb_build_object('message_id', s.id::text, 'thread_id', s.thread_id::text,
                                     'user_id', s.user_id::text),
        NULL)::procrastinate_job_to_defer_v1)) AS ids
    FROM stored s, jsonb_to_recordset(%s) AS j(queue text, task text, lock text, args jsonb))"""


def requests_json(jobs: Sequence[JobRequest]) -> Jsonb:
    """The jobs as the parameter of ``DEFER_WITH_MESSAGE``."""
    return Jsonb([{"queue": j.queue, "task": j.task, "lock": j.lock, "args": dict(j.args)} for j in jobs])


async def defer(conn: AsyncConnection[Any], jobs: Sequence[JobRequest], ids: Mapping[str, str] | None = None) -> None:
    """Insert ``jobs`` on ``conn`` (inside the caller's transaction), each with ``ids`` added to its args."""
    if not jobs:
        return
    ids = ids or {}
    rows = [
        {"queue": j.queue, "task": j.task, "lock": j.lock and j.lock.format(**ids), "args": {**j.args, **ids}}
        for j in jobs
    ]
    await conn.execute(
        """SELECT procrastinate_defer_jobs_v1(array_agg(
               ROW(j.queue, j.task, 0, j.lock, NULL, j.args, NULL)::procrastinate_job_to_defer_v1))
           FROM jsonb_to_recordset(%s) AS j(queue text, task text, lock text, args jsonb)""",
        (Jsonb(rows),),
    )


class JobRows:
    """Reading and tending the queue's rows (the ``assistant jobs`` commands, drain, forgetting)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def defer(self, jobs: Sequence[JobRequest]) -> None:
        async with self.pool.connection() as conn:
            await defer(conn, jobs)

    async def waiting(self, queues: Sequence[str] | None = None) -> int:
        """How many jobs still wait or run (retries scheduled later included)."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """SELECT count(*) FROM procrastinate_jobs
                       WHERE status = ANY(%s::procrastinate_job_status[])
                         AND (%s::text[] IS NULL OR queue_name = ANY(%s))""",
                    (list(WAITING), queues, queues),
                )
            ).fetchone()
        return int(row[0]) if row else 0

    async def ready(self) -> int:
        """How many jobs wait that may start now (not retries scheduled for later)."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """SELECT count(*) FROM procrastinate_jobs
                       WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"""
                )
            ).fetchone()
        return int(row[0]) if row else 0

    async def list(self, *, status: str | None = None, task: str | None = None, limit: int = 50) -> list[JobRow]:
        """Jobs, newest first, with when each last changed state."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                """SELECT j.id, j.queue_name AS queue, j.task_name AS task, j.status::text AS status, j.attempts,
                          j.args, j.scheduled_at,
                          (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS updated_at
                   FROM procrastinate_jobs j
                   WHERE (%s::text IS NULL OR j.status::text = %s) AND (%s::text IS NULL OR j.task_name = %s)
                   ORDER BY j.id DESC LIMIT %s""",
                (status, status, task, task, limit),
            )
            return [JobRow(**row) for row in await cur.fetchall()]

    async def counts(self) -> dict[str, int]:
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")
            ).fetchall()
        return {str(status): int(n) for status, n in rows}

    async def retry(self, ids: Sequence[int] | None = None) -> int:
        """Queue failed jobs again (these, or every failed one), with a fresh count of attempts."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                """UPDATE procrastinate_jobs SET status = 'todo', attempts = 0, scheduled_at = NULL, worker_id = NULL
                   WHERE status = 'failed' AND (%s::bigint[] IS NULL OR id = ANY(%s))""",
                (ids, ids),
            )
            return cur.rowcount

    async def purge(self, statuses: Sequence[str] = ("succeeded", "failed")) -> int:
        """Delete finished jobs in these states (their events go with them)."""
        chosen = [s for s in statuses if s in FINISHED]
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM procrastinate_jobs WHERE status = ANY(%s::procrastinate_job_status[])", (chosen,)
            )
            return cur.rowcount

    async def drop_forgotten(self, tasks: Sequence[str], forgotten: Forgotten) -> int:
        """Delete the jobs about forgotten turns (every job of the user when all is forgotten), except running
        ones, which find nothing; returns how many of ``tasks`` were still waiting to run."""
        ids = None if forgotten.everything else [str(i) for i in forgotten.message_ids]
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """WITH gone AS (
                           DELETE FROM procrastinate_jobs
                           WHERE status <> 'doing' AND args->>'user_id' = %s
                             AND (%s::text[] IS NULL OR args->>'message_id' = ANY(%s) OR args->'messages' ?| %s)
                           RETURNING status, task_name)
                       SELECT count(*) FILTER (WHERE status = 'todo' AND task_name = ANY(%s)) FROM gone""",
                    (str(forgotten.user_id), ids, ids, ids or [], list(tasks)),
                )
            ).fetchone()
        return int(row[0]) if row else 0


def message_ids(args: Mapping[str, Any]) -> list[uuid.UUID]:
    """The messages a job is about: its own message and any others it names."""
    named = [*args.get("messages", ()), *([args["message_id"]] if "message_id" in args else [])]
    return [uuid.UUID(str(i)) for i in dict.fromkeys(named)]
