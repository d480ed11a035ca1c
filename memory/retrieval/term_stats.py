"""How many of a user's records a full-text term would match, from the statistics Postgres keeps anyway.

Ranking every match of a common word (``job`` in a tenth of 100,000 memories) costs
hundreds of milliseconds and adds almost nothing to the fused ranking, since a word
that common says little about any one memory. ``ANALYZE`` already records the most
common lexemes of a table's ``tsv`` and the most common ``user_id`` values with their
frequencies; this reads them every few minutes, so choosing terms costs no query.
A term or a user not in those lists is rare, and a rare term is always kept.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

REFRESH_S = 60.0  # about autovacuum's own pace (autovacuum_naptime)

# The table itself, or each of its partitions (a partitioned table's own statistics are only made by a manual
# ANALYZE; autovacuum keeps its partitions' fresh).
_LEAVES_SQL = """
SELECT relname, greatest(reltuples, 0) FROM pg_class WHERE oid = to_regclass(%(table)s) AND relkind <> 'p'
UNION ALL
SELECT c.relname, greatest(c.reltuples, 0) FROM pg_partition_tree(to_regclass(%(table)s)) t
JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf
"""

_STATS_SQL = """
SELECT tablename, attname, most_common_vals::text::text[], most_common_freqs,
       most_common_elems::text::text[], most_common_elem_freqs
FROM pg_stats WHERE tablename = ANY(%s) AND attname IN ('user_id', 'tsv') AND NOT inherited
  AND schemaname = ANY(current_schemas(false))
"""


@dataclass
class TermStats:
    rows: float = 0.0
    user_share: dict[str, float] = field(default_factory=dict)
    term_share: dict[str, float] = field(default_factory=dict)

    def expected_matches(self, user_id: uuid.UUID, term: str) -> float:
        """About how many of this user's memories hold ``term`` (0 when either is too rare to be listed)."""
        return self.rows * self.user_share.get(str(user_id), 0.0) * self.term_share.get(term, 0.0)


class TermStatsCache:
    def __init__(self, pool: AsyncConnectionPool, table: str, refresh_s: float = REFRESH_S) -> None:
        self.pool = pool
        self.table = table
        self.refresh_s = refresh_s
        self._stats = TermStats()
        self._expires = 0.0

    def invalidate(self) -> None:
        """Read the statistics again on next use (e.g. right after an ``ANALYZE``); drop those held."""
        self._stats = TermStats()
        self._expires = 0.0

    async def get(self) -> TermStats:
        if time.monotonic() >= self._expires:
            self._stats = await self._load()
            self._expires = time.monotonic() + self.refresh_s
        return self._stats

    async def _load(self) -> TermStats:
        async with self.pool.connection() as conn:
            stats = TermStats()
            leaves = {
                str(name): float(rows)
                for name, rows in await (await conn.execute(_LEAVES_SQL, {"table": self.table})).fetchall()
            }
            stats.rows = sum(leaves.values())
            if not stats.rows:
                return stats
            found = await (await conn.execute(_STATS_SQL, (list(leaves),))).fetchall()
            for leaf, name, values, freqs, elems, elem_freqs in found:
                # A share of one partition's rows, as a share of the whole table's.
                weight = leaves[leaf] / stats.rows
                if name == "user_id" and values and freqs:
                    _add(stats.user_share, values, freqs, weight)
                elif name == "tsv" and elems and elem_freqs:
                    # The frequencies array ends with three summary numbers that zip() leaves out.
                    _add(stats.term_share, elems, elem_freqs, weight)
            return stats


def _add(shares: dict[str, float], values: list[str], freqs: list[float], weight: float) -> None:
    for value, freq in zip(values, freqs, strict=False):
        shares[value] = shares.get(value, 0.0) + float(freq) * weight
