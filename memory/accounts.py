"""User accounts: passwords (argon2id) and API tokens (only their SHA-256 hash is stored).

Hashing and verifying a password is deliberate CPU work, so it runs in a thread.
A failed login takes as long for an unknown name as for a wrong password, and
never raises: callers get ``None``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict

from memory import text_input
from memory.conversations import User
from memory.errors import InvalidInputError, NotFoundError

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
TOKEN_PREFIX = "asst_"

_USER_COLS = "u.id, u.name, u.display_name, u.created_at"


class TokenInfo(BaseModel):
    """An issued token as listed (the token itself is never stored)."""

    model_config = ConfigDict(frozen=True)
    id: uuid.UUID
    user_id: uuid.UUID
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Account:
    """A user with what the account list shows about them."""

    user: User
    has_password: bool
    tokens: int
    threads: int
    memories: int


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Verified against when the name is unknown, so that a miss costs what a wrong password costs.
    return _hasher().hash(secrets.token_urlsafe(16))


def _check_password(password: str) -> str:
    if isinstance(password, str):
        text_input.check_unicode(password, "the password")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInputError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInputError(f"a password is at most {MAX_PASSWORD_CHARS} characters")
    return password


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    # -- users -----------------------------------------------------------------------------
    async def add(self, name: str, password: str | None = None, *, display_name: str | None = None) -> User:
        """A new user; an existing name is an error (nothing changes)."""
        name = text_input.name(name)
        if display_name is not None:
            display_name = text_input.name(display_name, "a display name")
        hashed = await asyncio.to_thread(_hasher().hash, _check_password(password)) if password is not None else None
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(
                """INSERT INTO users (name, display_name, password_hash) VALUES (%s, %s, %s)
                   ON CONFLICT (name) DO NOTHING RETURNING id, name, display_name, created_at""",
                (name, display_name, hashed),
            )
            row = await cur.fetchone()
        if row is None:
            raise InvalidInputError(f"a user named {text_input.shown(name)!r} already exists")
        return row

    async def get(self, name: str) -> User:
        name = text_input.lookup_name(name)
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(f"SELECT {_USER_COLS} FROM users u WHERE u.name = %s", (name,))
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no user named {name!r}")
        return row

    async def get_by_id(self, user_id: uuid.UUID) -> User:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(f"SELECT {_USER_COLS} FROM users u WHERE u.id = %s", (user_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no user {user_id}")
        return row

    async def list_users(self) -> list[Account]:
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    f"""SELECT {_USER_COLS}, u.password_hash IS NOT NULL,
                          (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL),
                          (SELECT count(*) FROM threads t WHERE t.user_id = u.id),
                          (SELECT count(*) FROM memories m WHERE m.user_id = u.id AND m.valid_to IS NULL)
                        FROM users u ORDER BY u.name"""
                )
            ).fetchall()
        return [
            Account(User(id=r[0], name=r[1], display_name=r[2], created_at=r[3]), bool(r[4]), r[5], r[6], r[7])
            for r in rows
        ]

    # -- passwords -------------------------------------------------------------------------
    async def set_password(self, name: str, password: str | None) -> User:
        """Set (or with ``None`` remove) the user's password."""
        user = await self.get(name)
        hashed = await asyncio.to_thread(_hasher().hash, _check_password(password)) if password is not None else None
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (hashed, user.id))
        return user

    async def verify_password(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else ``None`` (same cost for unknown names; never raises)."""
        if not isinstance(name, str) or not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
            return None
        try:
            name = text_input.lookup_name(name)
            text_input.check_unicode(password, "the password")
        except InvalidInputError:
            return None
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(f"SELECT {_USER_COLS}, u.password_hash FROM users u WHERE u.name = %s", (name,))
            ).fetchone()
        stored: str | None = row[4] if row else None
        if not await asyncio.to_thread(_verify, stored, password) or row is None or stored is None:
            return None
        if _hasher().check_needs_rehash(stored):
            rehashed = await asyncio.to_thread(_hasher().hash, password)
            async with self.pool.connection() as conn:
                await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (rehashed, row[0]))
        return User(id=row[0], name=row[1], display_name=row[2], created_at=row[3])

    # -- API tokens ------------------------------------------------------------------------
    async def issue_token(self, user_id: uuid.UUID, label: str = "") -> str:
        """A new token for the user; returned once, only its hash is kept."""
        await self.get_by_id(user_id)
        label = text_input.free_text(label, "a token label", max_chars=None, allow_empty=True).strip()[:200]
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO api_tokens (user_id, label, token_hash) VALUES (%s, %s, %s)",
                (user_id, label, token_hash(token)),
            )
        return token

    async def user_for_token(self, token: str | None) -> User | None:
        """The owner of a valid, unrevoked token, else ``None``."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = token_hash(token)
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    f"""UPDATE api_tokens t SET last_used_at = now() FROM users u
                        WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.id = t.user_id
                        RETURNING {_USER_COLS}, t.token_hash""",
                    (digest,),
                )
            ).fetchone()
        if row is None or not hmac.compare_digest(row[4], digest):
            return None
        return User(id=row[0], name=row[1], display_name=row[2], created_at=row[3])

    async def list_tokens(self, user_id: uuid.UUID) -> list[TokenInfo]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(TokenInfo)) as cur:
            await cur.execute(
                """SELECT id, user_id, label, created_at, last_used_at, revoked_at FROM api_tokens
                   WHERE user_id = %s ORDER BY created_at, id""",
                (user_id,),
            )
            return await cur.fetchall()

    async def revoke_tokens(self, user_id: uuid.UUID, token_id: uuid.UUID | None = None) -> int:
        """Revoke one of the user's tokens, or all of them; the number revoked."""
        query = "UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL"
        params: tuple[uuid.UUID, ...] = (user_id,)
        if token_id is not None:
            query += " AND id = %s"
            params = (user_id, token_id)
        async with self.pool.connection() as conn:
            return (await conn.execute(query, params)).rowcount
