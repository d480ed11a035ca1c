"""Where a string still lives: every row of every table in the test's database, and every Redis key of its prefix.

The control tests plant a unique marker, exercise a control (forget, an off switch, a private message) and
then assert the marker is absent from every store it must have left, and present where it must stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from memory.short_term.connection import RedisClient


@dataclass
class Residue:
    """Where the marker was found: ``table`` names and Redis keys."""

    tables: dict[str, int] = field(default_factory=dict)
    redis_keys: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.tables or self.redis_keys)

    def __str__(self) -> str:
        return f"tables={self.tables} redis_keys={self.redis_keys}"


async def _tables(pool: AsyncConnectionPool) -> list[str]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        return [str(row[0]) for row in await cursor.fetchall()]


async def scan_postgres(pool: AsyncConnectionPool, marker: str) -> dict[str, int]:
    """Rows of each table whose text form holds ``marker`` (case-insensitive), for tables with any."""
    found: dict[str, int] = {}
    async with pool.connection() as conn:
        for table in await _tables(pool):
            query = sql.SQL("SELECT count(*) FROM {} AS t WHERE strpos(lower(t::text), lower(%s)) > 0").format(
                sql.Identifier(table)
            )
            row = await (await conn.execute(query, (marker,))).fetchone()
            if row and row[0]:
                found[table] = int(row[0])
    return found


async def _values(client: RedisClient, key: bytes | str) -> list[bytes | str]:
    kind = await client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        value = await client.get(key)
        return [value] if value is not None else []
    if kind == "list":
        return list(await client.lrange(key, 0, -1))
    if kind == "hash":
        mapping = await client.hgetall(key)
        return [*mapping.keys(), *mapping.values()]
    if kind == "set":
        return list(await client.smembers(key))
    if kind == "zset":
        return [str(member) for member in await client.zrange(key, 0, -1)]
    if kind == "stream":
        entries = await client.xrange(key) or []
        return [part for _, fields in entries for pair in (fields or {}).items() for part in pair]
    return []


async def scan_redis(client: RedisClient, prefix: str, marker: str) -> list[str]:
    """Keys under ``prefix`` whose name or value holds ``marker`` (case-insensitive)."""
    needle = marker.lower()
    hits: list[str] = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=500):
        name = key.decode() if isinstance(key, bytes) else str(key)
        texts = [
            name,
            *(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in await _values(client, key)),
        ]
        if any(needle in text.lower() for text in texts):
            hits.append(name)
    return sorted(hits)


async def scan(pool: AsyncConnectionPool, client: RedisClient, prefix: str, marker: str) -> Residue:
    return Residue(await scan_postgres(pool, marker), await scan_redis(client, prefix, marker))
