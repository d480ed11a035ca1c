"""The durable log: users, threads and every message, in Postgres (the source of truth)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict

from memory import text_input
from memory.errors import InvalidInputError, NotFoundError
from memory.job_queue import DEFER_WITH_MESSAGE, JobRequest, requests_json

# The messages the short-term window holds: system messages and private ones never enter it.
_WINDOW_TURNS = "thread_id = %s AND user_id = %s AND role <> 'system' AND NOT private"
Role = Literal["user", "assistant", "system"]
Status = Literal["complete", "partial", "error", "forgotten"]


class User(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: uuid.UUID
    name: str
    display_name: str | None
    created_at: datetime


class Thread(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: uuid.UUID
    user_id: uuid.UUID
    name: str | None
    title: str | None
    created_at: datetime
    updated_at: datetime


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: uuid.UUID
    seq: int
    thread_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    speaker: str | None
    content: str
    status: Status
    external_id: str | None
    model: str | None
    usage: dict[str, Any] | None
    latency_ms: float | None
    created_at: datetime
    private: bool = False  # /private: kept in this log only, never in any memory tier


@dataclass(frozen=True)
class MemorySwitches:
    """The user's memory switches that a turn obeys (set in the chat's settings panel)."""

    long_term: bool = True  # off: nothing recalled from or written to long-term memory, in every chat
    temporary: bool = False  # this thread is a temporary chat: no long-term memory, no rolling summary


_USER_COLS = "id, name, display_name, created_at"
_THREAD_COLS = "id, user_id, name, title, created_at, updated_at"
MESSAGE_COLUMNS = (
    "id, seq, thread_id, user_id, role, speaker, content, status, external_id, model, usage, latency_ms, created_at, "
    "private"
)


TEMPORARY_SQL = "coalesce((t.metadata ->> 'temporary')::boolean, false)"
# Run in the transaction that deletes a thread: its id is never used again (see ensure_thread).
TOMBSTONE_SQL = "INSERT INTO deleted_threads (id, user_id) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"


def _clean(text: str) -> str:
    # Postgres text cannot hold NUL; every other character is stored as given.
    return text.replace("\x00", "")


class ConversationStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    # -- users ---------------------------------------------------------------------------
    async def ensure_user(self, name: str, *, display_name: str | None = None) -> User:
        name = text_input.name(name)
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(
                f"""INSERT INTO users (name, display_name) VALUES (%s, %s)
                    ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING {_USER_COLS}""",
                (name, display_name),
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def get_user(self, name: str) -> User:
        name = text_input.lookup_name(name)
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(f"SELECT {_USER_COLS} FROM users WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no user named {name!r}")
        return row

    async def delete_user(self, user_id: uuid.UUID) -> None:
        """Erase the user and everything that hangs off them in Postgres."""
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))

    # -- threads -------------------------------------------------------------------------
    async def create_thread(self, user_id: uuid.UUID, *, title: str | None = None, name: str | None = None) -> Thread:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Thread)) as cur:
            await cur.execute(
                f"INSERT INTO threads (user_id, title, name) VALUES (%s, %s, %s) RETURNING {_THREAD_COLS}",
                (user_id, title, name),
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def named_thread(self, user_id: uuid.UUID, name: str) -> Thread:
        """The user's thread with this name, created on first use."""
        name = text_input.name(name, "a thread name")
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Thread)) as cur:
            await cur.execute(
                f"""INSERT INTO threads (user_id, name, title) VALUES (%s, %s, %s)
                    ON CONFLICT (user_id, name) WHERE name IS NOT NULL DO UPDATE SET name = EXCLUDED.name
                    RETURNING {_THREAD_COLS}""",
                (user_id, name, name),
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def get_thread(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> Thread:
        """A thread of this user; another user's thread is reported as missing."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Thread)) as cur:
            await cur.execute(
                f"SELECT {_THREAD_COLS} FROM threads WHERE id = %s AND user_id = %s", (thread_id, user_id)
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no thread {thread_id}")
        return row

    async def list_threads(self, user_id: uuid.UUID, *, limit: int = 50) -> list[Thread]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Thread)) as cur:
            await cur.execute(
                f"SELECT {_THREAD_COLS} FROM threads WHERE user_id = %s ORDER BY updated_at DESC, id LIMIT %s",
                (user_id, limit),
            )
            return await cur.fetchall()

    async def temporary_threads(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        """Ids of the user's temporary chats (listed apart from ordinary ones)."""
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(f"SELECT t.id FROM threads t WHERE t.user_id = %s AND {TEMPORARY_SQL}", (user_id,))
            ).fetchall()
        return {uuid.UUID(str(r[0])) for r in rows}

    # -- messages ------------------------------------------------------------------------
    async def append_message(
        self,
        thread: Thread,
        role: Role,
        content: str,
        *,
        speaker: str | None = None,
        status: Status = "complete",
        model: str | None = None,
        usage: dict[str, Any] | None = None,
        latency_ms: float | None = None,
        external_id: str | None = None,
        created_at: datetime | None = None,
        private: bool = False,
        remember: bool = True,
        jobs: Sequence[JobRequest] = (),
    ) -> Message:
        """Append one message to the thread's log (durable when this returns); ``remember=False`` keeps it out of
        episodic memory for good, ``private`` also out of the short-term window and summary. ``jobs`` are
        deferred in the same transaction, with the message's ids: a stored message always has its jobs."""
        # One statement (the thread's ``updated_at`` moves with it): a turn appends two messages on its path.
        # The jobs in the same statement: a lone statement is atomic (the pool's connections autocommit).
        queued = (DEFER_WITH_MESSAGE, "SELECT stored.* FROM stored, queued") if jobs else ("", "SELECT * FROM stored")
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Message)) as cur:
            await cur.execute(
                f"""WITH touched AS (UPDATE threads SET updated_at = now() WHERE id = %s),
                    stored AS (
                        INSERT INTO messages (thread_id, user_id, role, speaker, content, status, model, usage,
                                              latency_ms, external_id, created_at, private, remember)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()), %s, %s)
                        RETURNING {MESSAGE_COLUMNS}){queued[0]}
                    {queued[1]}""",
                (
                    thread.id,
                    thread.id,
                    thread.user_id,
                    role,
                    speaker,
                    _clean(content),
                    status,
                    model,
                    Jsonb(usage) if usage is not None else None,
                    latency_ms,
                    external_id,
                    created_at,
                    private,
                    remember and not private,
                    *([requests_json(jobs)] if jobs else []),
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def messages(self, thread: Thread, *, last: int | None = None, after_seq: int | None = None) -> list[Message]:
        """The thread's messages in order; with ``last``, only the newest ones; with ``after_seq``, only later ones."""
        query = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE thread_id = %s AND user_id = %s"
        params: tuple[Any, ...] = (thread.id, thread.user_id)
        if after_seq is not None:
            query += " AND seq > %s"
            params = (*params, after_seq)
        if last is not None:
            query = f"SELECT * FROM ({query} ORDER BY seq DESC LIMIT %s) newest"
            params = (*params, last)
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Message)) as cur:
            await cur.execute(f"{query} ORDER BY seq", params)
            return await cur.fetchall()

    async def window_turns(self, thread: Thread, *, last: int, after_seq: int | None = None) -> list[Message]:
        """The newest ``last`` messages that the short-term window holds (no system or private ones), in order."""
        query = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {_WINDOW_TURNS} AND seq > %s ORDER BY seq DESC LIMIT %s"
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Message)) as cur:
            await cur.execute(query, (thread.id, thread.user_id, after_seq or 0, last))
            return list(reversed(await cur.fetchall()))

    async def window_marks(self, thread: Thread, *, last: int) -> tuple[list[tuple[int, bool]], int | None]:
        """What a cached window must match, in one cheap query: (seq, forgotten) of what ``window_turns`` would
        return (newest ``last``, in order), and the seq the thread's stored summary covers through (None: none)."""
        query = f"""SELECT (SELECT covers_through_seq FROM thread_summaries WHERE thread_id = %s AND user_id = %s),
                           coalesce((SELECT json_agg(json_build_array(seq, forgotten) ORDER BY seq)
                                     FROM (SELECT seq, status = 'forgotten' AS forgotten FROM messages
                                           WHERE {_WINDOW_TURNS} ORDER BY seq DESC LIMIT %s) newest), '[]')"""
        params = (thread.id, thread.user_id, thread.id, thread.user_id, last)
        async with self.pool.connection() as conn:
            row = await (await conn.execute(query, params)).fetchone()
        assert row is not None
        covers, marks = row
        return [(int(seq), bool(forgotten)) for seq, forgotten in marks], None if covers is None else int(covers)

    async def messages_by_id(self, user_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Message]:
        """These messages of this user, in order (others' are not returned)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Message)) as cur:
            await cur.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE user_id = %s AND id = ANY(%s) ORDER BY seq",
                (user_id, list(ids)),
            )
            return await cur.fetchall()

    async def count_messages(self, thread: Thread, *, after_seq: int = 0) -> int:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM messages WHERE thread_id = %s AND user_id = %s AND seq > %s",
                    (thread.id, thread.user_id, after_seq),
                )
            ).fetchone()
        return int(row[0]) if row else 0

    async def find_by_prefix(self, user_id: uuid.UUID, table: Literal["threads", "messages"], prefix: str) -> uuid.UUID:
        """The id of the user's thread or message whose id starts with ``prefix`` (a full id works too)."""
        prefix = prefix.strip().lower()
        if len(prefix) < 4 or prefix.strip("0123456789abcdef-"):
            raise InvalidInputError(f"give an id or at least 4 of its first characters, not {prefix!r}")
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    f"SELECT id FROM {table} WHERE user_id = %s AND id::text LIKE %s LIMIT 2", (user_id, prefix + "%")
                )
            ).fetchall()
        what = table.removesuffix("s")
        if len(rows) > 1:
            raise InvalidInputError(f"{prefix!r} matches several of the user's {table}; give more of the id")
        if not rows:
            raise NotFoundError(f"no {what} {prefix}")
        return uuid.UUID(str(rows[0][0]))

    # -- for the browser chat (threads addressed by the id the browser chose) --------------
    async def ensure_thread(self, user_id: uuid.UUID, thread_id: uuid.UUID, *, title: str | None = None) -> Thread:
        """This user's thread with this id, created on first use; another user's id is reported as missing."""
        async with self.pool.connection() as conn:
            await conn.execute(
                """INSERT INTO threads (id, user_id, title)
                   SELECT %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM deleted_threads WHERE id = %s)
                   ON CONFLICT (id) DO NOTHING""",
                (thread_id, user_id, title, thread_id),
            )
        try:
            return await self.get_thread(user_id, thread_id)
        except NotFoundError:
            # (A deleted thread brought back by an import is that user's again, so this is asked second.)
            if await self.was_deleted(user_id, thread_id):
                raise NotFoundError(
                    "This conversation was deleted, so nothing more can be written into it",
                    hint="start a new chat",
                ) from None
            raise

    async def was_deleted(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> bool:
        """Whether this user deleted a thread with this id (a deleted id is never used again)."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT 1 FROM deleted_threads WHERE id = %s AND user_id = %s", (thread_id, user_id))
            ).fetchone()
        return row is not None

    async def thread_owner(self, thread_id: uuid.UUID) -> User | None:
        """Whose thread this is (None when there is no such thread)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(
                f"SELECT {', '.join('u.' + c for c in _USER_COLS.split(', '))} FROM threads t "
                "JOIN users u ON u.id = t.user_id WHERE t.id = %s",
                (thread_id,),
            )
            return await cur.fetchone()

    async def user_by_id(self, user_id: uuid.UUID) -> User:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(f"SELECT {_USER_COLS} FROM users WHERE id = %s", (user_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no user {user_id}")
        return row

    async def rename_thread(
        self, user_id: uuid.UUID, thread_id: uuid.UUID, title: str, *, only_if_untitled: bool = False
    ) -> None:
        title = " ".join(text_input.free_text(title, "a thread title", max_chars=None, allow_empty=True).split())[:200]
        if not title:
            raise InvalidInputError("a thread title needs some text")
        condition = " AND title IS NULL" if only_if_untitled else ""
        async with self.pool.connection() as conn:
            await conn.execute(
                f"UPDATE threads SET title = %s WHERE id = %s AND user_id = %s{condition}", (title, thread_id, user_id)
            )

    async def thread_metadata(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT metadata FROM threads WHERE id = %s AND user_id = %s", (thread_id, user_id))
            ).fetchone()
        return dict(row[0]) if row else {}

    async def update_thread_metadata(self, user_id: uuid.UUID, thread_id: uuid.UUID, changes: dict[str, Any]) -> None:
        """Merge these keys into the thread's metadata (top level)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE threads SET metadata = metadata || %s WHERE id = %s AND user_id = %s",
                (Jsonb(changes), thread_id, user_id),
            )

    async def delete_thread(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> bool:
        """Delete the thread, its messages and what hangs off them (episodic memories, summary, reports)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("DELETE FROM threads WHERE id = %s AND user_id = %s", (thread_id, user_id))
            if cur.rowcount:
                await conn.execute(TOMBSTONE_SQL, (thread_id, user_id))
        return cur.rowcount > 0

    async def page_threads(
        self,
        user_id: uuid.UUID,
        *,
        limit: int = 20,
        before: uuid.UUID | None = None,
        search: str | None = None,
        temporary: bool | None = None,
    ) -> list[Thread]:
        """Newest first; ``before`` is the last thread of the previous page; ``search`` matches titles and messages;
        ``temporary`` True or False: only temporary chats, or only ordinary ones."""
        where = ["t.user_id = %s"]
        if temporary is not None:
            where.append(f"{'' if temporary else 'NOT '}{TEMPORARY_SQL}")
        params: list[Any] = [user_id]
        if before is not None:
            where.append("(t.updated_at, t.id) < (SELECT updated_at, id FROM threads WHERE id = %s AND user_id = %s)")
            params += [before, user_id]
        if search and search.strip():
            pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(t.title ILIKE %s OR EXISTS"
                " (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.content ILIKE %s))"
            )
            params += [pattern, pattern]
        cols = ", ".join("t." + c for c in _THREAD_COLS.split(", "))
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Thread)) as cur:
            await cur.execute(
                f"SELECT {cols} FROM threads t WHERE {' AND '.join(where)} "
                "ORDER BY t.updated_at DESC, t.id DESC LIMIT %s",
                (*params, limit),
            )
            return await cur.fetchall()

    async def memory_switches(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> MemorySwitches:
        """The preference ``memory`` (users.metadata.preferences) and the thread's ``temporary`` mark, in one read."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """SELECT coalesce((u.metadata -> 'preferences' ->> 'memory')::boolean, true),
                              coalesce((SELECT (t.metadata ->> 'temporary')::boolean FROM threads t
                                        WHERE t.id = %s AND t.user_id = u.id), false)
                       FROM users u WHERE u.id = %s""",
                    (thread_id, user_id),
                )
            ).fetchone()
        return MemorySwitches(bool(row[0]), bool(row[1])) if row else MemorySwitches()

    async def preferences(self, user_id: uuid.UUID) -> dict[str, Any]:
        """The user's preferences, kept under ``preferences`` in ``users.metadata``."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT metadata -> 'preferences' FROM users WHERE id = %s", (user_id,))
            ).fetchone()
        return dict(row[0]) if row and row[0] else {}

    async def set_preferences(self, user_id: uuid.UUID, preferences: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE users SET metadata = jsonb_set(metadata, '{preferences}', %s) WHERE id = %s",
                (Jsonb(preferences), user_id),
            )
