"""Forgetting in every tier: what goes when a memory is forgotten, and the one transaction that takes it.

A memory is the record of turns: an episodic memory is one turn, a fact names the turns it was drawn
from. Forgetting a memory takes those turns too, the reply to any user message among them, every other
memory drawn from those turns, and every version of each. In one Postgres transaction the turns are
redacted in place (kept in sequence with a placeholder and status ``forgotten``, so the thread still
reads and nothing embeds, extracts or summarises them again), rolling summaries that folded them in are
dropped (the summarizer writes them again from what remains), context reports are redacted (the report
of a forgotten reply is deleted), and the audit trail keeps only that something was forgotten. Then
Redis: each touched thread's short-term keys are dropped (rebuilt from Postgres on next use), and the
hooks drop queued work and in-process caches that may carry the text. Last, the files: Redis rewrites its
append-only log, and Postgres vacuums and re-analyzes the touched tables and moves past the WAL that held
them, in the background (memory/db/at_rest.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from memory.conversations import TOMBSTONE_SQL
from memory.db.at_rest import USER_TABLES, AtRest
from memory.errors import NotFoundError, StoreError
from memory.long_term import context_vectors
from memory.short_term.window import ShortTermMemory

FORGOTTEN_TEXT = "(forgotten)"
DEADLOCK_RETRIES = 3
# The tables a forgetting of some memories or of one conversation touches (everything: USER_TABLES).
TOUCHED_TABLES = ("messages", "memories", "context_reports", "thread_summaries", "threads", "memory_events")
T = TypeVar("T")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


@dataclass(frozen=True)
class ForgetReport:
    """What one forgetting took: memories, turns redacted, conversations deleted, summaries, reports, keys."""

    memories: int
    threads: int = 0
    summaries: int = 0
    reports: int = 0
    redis_keys: int = 0
    turns: int = 0
    jobs: int = 0

    def in_words(self, verb: str = "Forgot") -> str:
        """One plain sentence saying what went, for every face."""
        parts = [_count(self.memories, "memory", "memories")]
        if self.turns:
            parts.append(_count(self.turns, "conversation turn") + " (their text is gone; they now read “(forgotten)”)")
        if self.threads:
            parts.append(_count(self.threads, "conversation"))
        if self.summaries:
            again = " (written again from what remains)" if self.turns and not self.threads else ""
            parts.append(_count(self.summaries, "rolling summary", "rolling summaries") + again)
        if self.reports:
            parts.append(_count(self.reports, "context report") + (" that showed them" if self.turns else ""))
        text = f"{verb} " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])
        cleared = []
        if self.redis_keys:
            cleared.append(_count(self.redis_keys, "short-term cache entry", "short-term cache entries"))
        if self.jobs:
            cleared.append(_count(self.jobs, "queued job"))
        return text + (f"; cleared {' and '.join(cleared)}." if cleared else ".")

    def as_dict(self) -> dict[str, int]:
        return {
            "memories": self.memories,
            "turns": self.turns,
            "threads": self.threads,
            "summaries": self.summaries,
            "reports": self.reports,
            "redis_keys": self.redis_keys,
            "jobs": self.jobs,
        }


@dataclass(frozen=True)
class ForgetPreview:
    """What forgetting a choice of memories would take besides them, before anything is changed."""

    chosen: int
    drawn: int  # other memories drawn from the same turns, or other versions of the chosen ones
    turns: int

    def in_words(self) -> str:
        """A sentence for the question before forgetting (empty when nothing else goes)."""
        if not self.turns and not self.drawn:
            return ""
        parts = []
        if self.turns:
            parts.append(
                _count(self.turns, "conversation turn")
                + " they record or came from, with the replies to them (these will read “(forgotten)”)"
            )
        if self.drawn:
            parts.append(_count(self.drawn, "other memory", "other memories") + " drawn from those turns or versions")
        return "With them go " + " and ".join(parts) + "."


@dataclass(frozen=True)
class Forgotten:
    """What a forgetting reached, for the hooks that drop queued work and caches outside Postgres."""

    user_id: uuid.UUID
    message_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    everything: bool = False  # every message of the user (forget all, a user erased)

    def reaches(self, user_id: uuid.UUID, message_ids: Iterable[uuid.UUID]) -> bool:
        return user_id == self.user_id and (self.everything or not self.message_ids.isdisjoint(message_ids))


ForgetHook = Callable[[Forgotten], Awaitable[int]]  # returns how many queued items it dropped


@dataclass
class _Erased:
    memories: int = 0
    turns: int = 0
    summaries: int = 0
    reports: int = 0
    threads: int = 0
    touched: set[uuid.UUID] = field(default_factory=set)


def redact_report(
    report: dict[str, Any], ids: Collection[str], summary_threads: Collection[str]
) -> tuple[dict[str, Any], bool]:
    """The report with every item that showed a forgotten memory or turn (by id), or a summary of a thread
    with a forgotten turn, replaced by the placeholder; and whether anything changed."""
    changed = False
    for tier in report.get("tiers") or []:
        for group in ("items", "dropped"):
            for item in tier.get(group) or []:
                item_ids = str(item.get("id") or "").split(",")
                summary = item.get("kind") == "summary" and str(item.get("thread_id")) in summary_threads
                if (summary or any(i in ids for i in item_ids)) and item.get("text") != FORGOTTEN_TEXT:
                    item["text"], item["reason"], changed = FORGOTTEN_TEXT, "forgotten", True
    return report, changed


class Forgetter:
    def __init__(self, pool: AsyncConnectionPool, short_term: ShortTermMemory) -> None:
        self.pool = pool
        self.short_term = short_term
        self.hooks: list[ForgetHook] = []
        self.at_rest = AtRest(pool)

    # -- what goes ------------------------------------------------------------------------------
    @staticmethod
    async def _versions(conn: AsyncConnection, user_id: uuid.UUID, memory_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """These memories with every older and newer version of each (edits chain them by ``previous_id``)."""
        found: set[uuid.UUID] = set()
        frontier = set(memory_ids)
        while frontier:
            rows = await (
                await conn.execute(
                    """SELECT id, previous_id FROM memories
                       WHERE user_id = %s AND (id = ANY(%s) OR previous_id = ANY(%s))""",
                    (user_id, list(frontier), list(frontier)),
                )
            ).fetchall()
            found |= {r[0] for r in rows if r[0] in frontier}
            frontier = {i for r in rows for i in r if i is not None} - found - frontier
        return found

    @staticmethod
    async def _turns(
        conn: AsyncConnection, user_id: uuid.UUID, memory_ids: Collection[uuid.UUID], extra: Collection[uuid.UUID]
    ) -> set[uuid.UUID]:
        """The turns these memories are the record of or were drawn from, and the reply to each user turn."""
        rows = await (
            await conn.execute(
                """WITH named AS (
                       SELECT unnest(source_message_ids || coalesce(ARRAY[message_id], '{}')) AS id
                       FROM memories WHERE user_id = %s AND id = ANY(%s)
                       UNION SELECT unnest(%s::uuid[])),
                   said AS (SELECT m.id, m.thread_id FROM messages m
                            WHERE m.user_id = %s AND m.id IN (SELECT id FROM named WHERE id IS NOT NULL)),
                   -- Each user message opens an exchange; the assistant messages after it are its replies.
                   exchanges AS (
                       SELECT m.id, m.role, m.thread_id, count(*) FILTER (WHERE m.role = 'user')
                                  OVER (PARTITION BY m.thread_id ORDER BY m.seq) AS n
                       FROM messages m WHERE m.thread_id IN (SELECT thread_id FROM said))
                   SELECT id FROM said
                   UNION
                   SELECT r.id FROM exchanges u
                   JOIN exchanges r ON r.thread_id = u.thread_id AND r.n = u.n AND r.role = 'assistant'
                   WHERE u.role = 'user' AND u.id IN (SELECT id FROM said)""",
                (user_id, list(memory_ids), list(extra), user_id),
            )
        ).fetchall()
        return {r[0] for r in rows}

    @staticmethod
    async def _drawn_from(conn: AsyncConnection, user_id: uuid.UUID, turns: Collection[uuid.UUID]) -> set[uuid.UUID]:
        rows = await (
            await conn.execute(
                "SELECT id FROM memories WHERE user_id = %s AND (message_id = ANY(%s) OR source_message_ids && %s)",
                (user_id, list(turns), list(turns)),
            )
        ).fetchall()
        return {r[0] for r in rows}

    async def _closure(
        self, conn: AsyncConnection, user_id: uuid.UUID, chosen: Collection[uuid.UUID], extra: Collection[uuid.UUID]
    ) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
        memories = await self._versions(conn, user_id, chosen)
        turns = await self._turns(conn, user_id, memories, extra)
        memories |= await self._versions(conn, user_id, await self._drawn_from(conn, user_id, turns))
        return memories, turns

    async def preview(self, user_id: uuid.UUID, memory_ids: Collection[uuid.UUID]) -> ForgetPreview:
        """What ``memories`` would take, without changing anything."""
        async with self.pool.connection() as conn:
            found = await (
                await conn.execute(
                    "SELECT id FROM memories WHERE user_id = %s AND id = ANY(%s)", (user_id, list(memory_ids))
                )
            ).fetchall()
            memories, turns = await self._closure(conn, user_id, [r[0] for r in found], ())
        return ForgetPreview(len(found), len(memories) - len(found), len(turns))

    # -- the ways of forgetting -------------------------------------------------------------------
    async def memories(self, user_id: uuid.UUID, memory_ids: Collection[uuid.UUID]) -> ForgetReport:
        """Forget these memories and everything they reach (see the module's docstring)."""

        async def work(conn: AsyncConnection) -> tuple[_Erased, set[uuid.UUID]]:
            found = await (
                await conn.execute(
                    "SELECT id FROM memories WHERE user_id = %s AND id = ANY(%s)", (user_id, list(memory_ids))
                )
            ).fetchall()
            if not found:
                raise NotFoundError("no such memory")
            memories, turns = await self._closure(conn, user_id, [r[0] for r in found], ())
            return await self._erase(conn, user_id, memories, turns), turns

        erased, turns = await self._in_transaction(work)
        return await self._after(erased, Forgotten(user_id, frozenset(turns)))

    async def thread(self, user_id: uuid.UUID, thread_id: uuid.UUID, *, delete: bool, memories: bool) -> ForgetReport:
        """Forget a conversation's memories (``memories``) and/or delete it (``delete``): its turns leave the
        other threads' context reports either way; with ``memories``, facts drawn from it go too."""

        async def work(conn: AsyncConnection) -> tuple[_Erased, set[uuid.UUID]]:
            owned = await (
                await conn.execute("SELECT 1 FROM threads WHERE id = %s AND user_id = %s", (thread_id, user_id))
            ).fetchone()
            if owned is None:
                raise NotFoundError(f"no thread {thread_id}")
            rows = await (
                await conn.execute(
                    "SELECT id FROM messages WHERE thread_id = %s AND user_id = %s", (thread_id, user_id)
                )
            ).fetchall()
            own_turns = {r[0] for r in rows}
            chosen_rows = await (
                await conn.execute(
                    "SELECT id FROM memories WHERE user_id = %s AND (thread_id = %s OR message_id = ANY(%s)"
                    + (" OR source_message_ids && %s)" if memories else ")"),
                    (user_id, thread_id, list(own_turns), *([list(own_turns)] if memories else [])),
                )
            ).fetchall()
            chosen = {r[0] for r in chosen_rows}
            if memories:
                forgotten, turns = await self._closure(conn, user_id, chosen, own_turns)
            else:
                forgotten, turns = chosen, own_turns
            erased = await self._erase(conn, user_id, forgotten, turns, delete_thread=thread_id if delete else None)
            return erased, turns

        erased, turns = await self._in_transaction(work)
        return await self._after(erased, Forgotten(user_id, frozenset(turns)))

    async def everything(self, user_id: uuid.UUID, *, conversations: bool, erase_user: bool = False) -> ForgetReport:
        """Every memory, summary and context report of the user, every turn's text (or, with ``conversations``,
        the conversations themselves); with ``erase_user``, the user too."""

        async def work(conn: AsyncConnection) -> _Erased:
            async def run(query: str, *params: Any) -> int:
                return (await conn.execute(query, (user_id, *params))).rowcount

            erased = _Erased()
            erased.memories = await run("DELETE FROM memories WHERE user_id = %s")
            erased.summaries = await run("DELETE FROM thread_summaries WHERE user_id = %s")
            erased.reports = await run("DELETE FROM context_reports WHERE user_id = %s")
            if conversations or erase_user:
                erased.threads = await run("DELETE FROM threads WHERE user_id = %s")
            else:
                await self._untitle(conn, user_id, None)
                erased.turns = (
                    await conn.execute(
                        "UPDATE messages SET content = %s, status = 'forgotten', remember = false "
                        "WHERE user_id = %s AND status <> 'forgotten'",
                        (FORGOTTEN_TEXT, user_id),
                    )
                ).rowcount
            if erase_user:
                await run("DELETE FROM users WHERE id = %s")
            else:
                await run("UPDATE memory_events SET before = NULL, after = NULL, reason = NULL WHERE user_id = %s")
                await run("INSERT INTO memory_events (user_id, action, reason) VALUES (%s, 'forget', 'forget all')")
            return erased

        erased = await self._in_transaction(work)
        keys = await self.short_term.forget_user(user_id)
        jobs = await self._hooks(Forgotten(user_id, everything=True))
        await self.short_term.rewrite_files()
        # A whole user's text: the touched tables are rewritten, so no freed page keeps its bytes.
        self.at_rest.schedule(USER_TABLES if erase_user else TOUCHED_TABLES, full=True)
        return ForgetReport(erased.memories, erased.threads, erased.summaries, erased.reports, keys, erased.turns, jobs)

    # -- taking it, in one transaction --------------------------------------------------------------
    async def _in_transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction; two forgettings of the same turns at once may deadlock, and the
        one Postgres stops is run again."""
        for attempt in range(DEADLOCK_RETRIES):
            try:
                async with self.pool.connection() as conn, conn.transaction():
                    return await work(conn)
            except psycopg.errors.DeadlockDetected as exc:
                if attempt == DEADLOCK_RETRIES - 1:
                    raise StoreError("forgetting collided with another change several times; try again") from exc
        raise AssertionError("unreachable")

    @staticmethod
    async def _untitle(conn: AsyncConnection, user_id: uuid.UUID, turns: Collection[uuid.UUID] | None) -> None:
        """Clear the title of a thread named after one of these turns (None: any of the user's), as the browser
        names a thread after its first message; a name the user gave it (``--thread trip``) stays. Run before
        the turns are redacted."""
        await conn.execute(
            r"""UPDATE threads t SET title = NULL
                WHERE t.user_id = %s AND t.title IS DISTINCT FROM t.name
                  AND rtrim(btrim(t.title), '.… ') <> ''
                  AND EXISTS (SELECT 1 FROM messages m
                              WHERE m.thread_id = t.id AND m.status <> 'forgotten'
                                AND (%s::uuid[] IS NULL OR m.id = ANY(%s::uuid[]))
                                AND strpos(lower(regexp_replace(m.content, '\s+', ' ', 'g')), lower(rtrim(
                                        regexp_replace(btrim(t.title), '\s+', ' ', 'g'), '.… '))) > 0)""",
            (user_id, None if turns is None else list(turns), None if turns is None else list(turns)),
        )

    async def _erase(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        memories: Collection[uuid.UUID],
        turns: Collection[uuid.UUID],
        *,
        delete_thread: uuid.UUID | None = None,
    ) -> _Erased:
        erased = _Erased()
        said = await (
            await conn.execute(
                "SELECT thread_id, min(seq) FROM messages WHERE user_id = %s AND id = ANY(%s) GROUP BY thread_id",
                (user_id, list(turns)),
            )
        ).fetchall()
        first_seq: dict[uuid.UUID, int] = {thread_id: seq for thread_id, seq in said}
        erased.touched = set(first_seq)
        await self._untitle(conn, user_id, turns)
        erased.turns = (
            await conn.execute(
                """UPDATE messages SET content = %s, status = 'forgotten', remember = false
                   WHERE user_id = %s AND id = ANY(%s) AND status <> 'forgotten' AND thread_id IS DISTINCT FROM %s""",
                (FORGOTTEN_TEXT, user_id, list(turns), delete_thread),
            )
        ).rowcount
        erased.summaries = (
            await conn.execute(
                """DELETE FROM thread_summaries s USING unnest(%s::uuid[], %s::bigint[]) AS f(thread_id, seq)
                   WHERE s.user_id = %s AND s.thread_id = f.thread_id AND s.covers_through_seq >= f.seq""",
                (list(first_seq), list(first_seq.values()), user_id),
            )
        ).rowcount
        erased.reports = await self._reports(conn, user_id, memories, turns, erased.touched)
        # The turns beside a forgotten one read it in their context vectors: computed again without it.
        beside = await context_vectors.neighbours(conn, memories)
        erased.memories = (
            await conn.execute("DELETE FROM memories WHERE user_id = %s AND id = ANY(%s)", (user_id, list(memories)))
        ).rowcount
        await context_vectors.refresh(conn, beside - set(memories))
        await conn.execute(
            """UPDATE memory_events SET before = NULL, after = NULL, reason = NULL
               WHERE user_id = %s AND memory_id = ANY(%s)""",
            (user_id, list(memories)),
        )
        await conn.execute(
            "INSERT INTO memory_events (user_id, memory_id, action) SELECT %s, unnest(%s::uuid[]), 'forget'",
            (user_id, list(memories)),
        )
        if delete_thread is not None:
            erased.threads = (
                await conn.execute("DELETE FROM threads WHERE id = %s AND user_id = %s", (delete_thread, user_id))
            ).rowcount
            if erased.threads:
                await conn.execute(TOMBSTONE_SQL, (delete_thread, user_id))
            erased.touched.add(delete_thread)
        return erased

    async def _reports(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        memories: Collection[uuid.UUID],
        turns: Collection[uuid.UUID],
        threads: Collection[uuid.UUID],
    ) -> int:
        """Delete the reports of forgotten replies; redact, in every other report, what showed forgotten text."""
        deleted = (
            await conn.execute(
                "DELETE FROM context_reports WHERE user_id = %s AND message_id = ANY(%s)", (user_id, list(turns))
            )
        ).rowcount
        ids = {str(i) for i in (*memories, *turns)}
        if not ids:
            return deleted
        rows = await (
            await conn.execute(
                """WITH wanted AS (SELECT unnest(%s::text[]) AS id)
                   SELECT r.id, r.report FROM context_reports r
                   WHERE r.user_id = %s AND (r.thread_id = ANY(%s) OR EXISTS (
                       SELECT 1 FROM jsonb_path_query(r.report, '$.tiers[*].*[*].id') AS item(id),
                            unnest(string_to_array(item.id #>> '{}', ',')) AS part(id)
                       WHERE part.id IN (SELECT id FROM wanted)))""",
                (sorted(ids), user_id, list(threads)),
            )
        ).fetchall()
        summary_threads = {str(t) for t in threads}
        redacted = 0
        for report_id, report in rows:
            new, changed = redact_report(dict(report), ids, summary_threads)
            if changed:
                await conn.execute("UPDATE context_reports SET report = %s WHERE id = %s", (Jsonb(new), report_id))
                redacted += 1
        return deleted + redacted

    async def _after(self, erased: _Erased, forgotten: Forgotten) -> ForgetReport:
        """Redis and in-process state, once Postgres has committed: drop what could bring the text back."""
        keys = await self.short_term.forget_threads(forgotten.user_id, erased.touched)
        jobs = await self._hooks(forgotten)
        await self.short_term.rewrite_files()
        self.at_rest.schedule(TOUCHED_TABLES)
        return ForgetReport(erased.memories, erased.threads, erased.summaries, erased.reports, keys, erased.turns, jobs)

    async def _hooks(self, forgotten: Forgotten) -> int:
        dropped = 0
        for hook in self.hooks:
            dropped += await hook(forgotten)
        return dropped
