"""The durable log: users, threads and every message, in Postgres (the source of truth)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict

from memory.errors import InvalidInputError, NotFoundError

Role = Literal["user", "assistant", "system"]
Status = Literal["complete", "partial", "error"]


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


_USER_COLS = "id, name, display_name, created_at"
_THREAD_COLS = "id, user_id, name, title, created_at, updated_at"
MESSAGE_COLUMNS = (
    "id, seq, thread_id, user_id, role, speaker, content, status, external_id, model, usage, latency_ms, created_at"
)


def _clean(text: str) -> str:
    # Postgres text cannot hold NUL; every other character is stored as given.
    return text.replace("\x00", "")


class ConversationStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    # -- users ---------------------------------------------------------------------------
    async def ensure_user(self, name: str, *, display_name: str | None = None) -> User:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInputError("a user name must have 1 to 200 characters")
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
    ) -> Message:
        """Append one message to the thread's log (durable when this returns)."""
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=class_row(Message)) as cur:
                await cur.execute(
                    f"""INSERT INTO messages (thread_id, user_id, role, speaker, content, status, model, usage,
                                              latency_ms, external_id, created_at)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()))
                        RETURNING {MESSAGE_COLUMNS}""",
                    (
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
                    ),
                )
                row = await cur.fetchone()
            await conn.execute("UPDATE threads SET updated_at = now() WHERE id = %s", (thread.id,))
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
