"""The SQL of a hybrid search, built for any table with an ``embedding`` vector and a ``tsv`` full-text column.

A search has two legs, each ranking the rows a user may see: the vector leg by cosine
distance to the query's embedding (through the HNSW index), the full-text leg by
``ts_rank_cd`` of ``tsv`` against ``to_tsquery('simple', text)``. The fused statement
returns each row found by either leg with its rank in each, for ``fusion`` to score.

Which rows a user may see is said by typed filters, never by SQL text: each filter
contributes a clause (composed with ``psycopg.sql``) and the parameters it binds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from psycopg import sql


class Filter(Protocol):
    def clause(self) -> sql.Composable: ...

    def params(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class OfUser:
    """Only this user's rows (every search has it; the fused rows are checked against it once more)."""

    user_id: uuid.UUID

    def clause(self) -> sql.Composable:
        return sql.SQL("{} = {}").format(sql.Identifier("user_id"), sql.Placeholder("user"))

    def params(self) -> dict[str, object]:
        return {"user": self.user_id}


@dataclass(frozen=True)
class CurrentVersions:
    """Only the current version of a row that keeps its edits (closed versions have ``valid_to``)."""

    def clause(self) -> sql.Composable:
        return sql.SQL("{} IS NULL").format(sql.Identifier("valid_to"))

    def params(self) -> dict[str, object]:
        return {}


@dataclass(frozen=True)
class Pinned:
    """Whether pinned rows are searched too (recall leaves them out: they are in the core tier already)."""

    include: bool

    def clause(self) -> sql.Composable:
        return sql.SQL("({} OR NOT {})").format(sql.Placeholder("pinned"), sql.Identifier("pinned"))

    def params(self) -> dict[str, object]:
        return {"pinned": self.include}


@dataclass(frozen=True)
class InThread:
    """Rows shared with every thread plus those of ``thread_id``; with ``None``, every row of the user."""

    thread_id: uuid.UUID | None

    def clause(self) -> sql.Composable:
        column = sql.Identifier("thread_id")
        return sql.SQL("({} OR {} IS NULL OR {} = {})").format(
            sql.Placeholder("every_thread"), column, column, sql.Placeholder("thread")
        )

    def params(self) -> dict[str, object]:
        return {"thread": self.thread_id, "every_thread": self.thread_id is None}


@dataclass(frozen=True)
class SearchTable:
    """A searchable table: its name and alias, the record's columns as selected, and how ties are broken."""

    name: str
    alias: str
    columns: sql.Composable  # qualified by ``alias``; may read joined tables
    ties: tuple[str, ...]  # after the distance or relevance, the columns that order equal ones
    joins: sql.Composable = field(default_factory=lambda: sql.SQL(""))


# Each id found by either leg with its rank in each (``vec`` and ``fts`` are the two legs' CTEs).
_FUSED_RANKS = sql.SQL("""
    SELECT id, min(vector_rank) AS vector_rank, min(text_rank) AS text_rank, min(distance) AS distance FROM (
        SELECT id, rank AS vector_rank, NULL::bigint AS text_rank, distance FROM vec
        UNION ALL
        SELECT id, NULL::bigint, rank, NULL::double precision FROM fts
    ) both_lists GROUP BY id""")

_TSQUERY = sql.SQL("to_tsquery('simple', {})").format(sql.Placeholder("text"))


class HybridQuery:
    """The statements of one search of ``table`` over the rows the filters let through.

    Parameters besides the filters': ``vector`` (the query's embedding), ``text`` (a
    ``to_tsquery`` string or None), ``depth`` (rows per leg) and, by the leg's shape,
    ``scan_cap`` or ``text_ids``.
    """

    def __init__(self, table: SearchTable, user_id: uuid.UUID, filters: Sequence[Filter] = ()) -> None:
        self.table = table
        self.user_id = user_id
        self.filters: tuple[Filter, ...] = (OfUser(user_id), *filters)

    def params(self, **values: object) -> dict[str, object]:
        params: dict[str, object] = {}
        for f in self.filters:
            params.update(f.params())
        params.update(values)
        return params

    def _where(self) -> sql.Composable:
        return sql.SQL(" AND ").join(f.clause() for f in self.filters)

    def _ties(self) -> list[sql.Composable]:
        return [sql.Identifier(c) for c in self.table.ties]

    def _carried(self) -> sql.Composable:
        """``id`` and the tie-breaking columns, as the inner selects carry them out."""
        return sql.SQL(", ").join([sql.Identifier("id"), *(sql.Identifier(c) for c in self.table.ties if c != "id")])

    def vector_leg(self) -> sql.Composed:
        """The ``depth`` nearest rows by cosine distance, numbered from 1."""
        distance = sql.SQL("embedding <=> {}").format(sql.Placeholder("vector"))
        return sql.SQL(
            "SELECT id, row_number() OVER (ORDER BY {order}) AS rank, distance FROM (\n"
            "    SELECT {carried}, {distance} AS distance FROM {table}\n"
            "    WHERE {where} AND embedding IS NOT NULL\n"
            "    ORDER BY {distance} LIMIT {depth}) nearest"
        ).format(
            order=sql.SQL(", ").join([sql.Identifier("distance"), *self._ties()]),
            carried=self._carried(),
            distance=distance,
            table=sql.Identifier(self.table.name),
            where=self._where(),
            depth=sql.Placeholder("depth"),
        )

    def nearest_ids(self) -> sql.Composed:
        """Only the ids of the vector leg, nearest first (to compare the HNSW index with an exact scan)."""
        return sql.SQL(
            "SELECT id FROM {table}\n"
            "    WHERE {where} AND embedding IS NOT NULL\n"
            "    ORDER BY embedding <=> {vector} LIMIT {depth}"
        ).format(
            table=sql.Identifier(self.table.name),
            where=self._where(),
            vector=sql.Placeholder("vector"),
            depth=sql.Placeholder("depth"),
        )

    def text_rows(self) -> sql.Composed:
        """The full-text leg run on its own, beside the vector leg: of the first ``scan_cap`` matches, the best
        ``depth``, each with its record columns, its rank from 1 (``text_rank``) and its cosine distance to
        ``vector``, as ``fused()`` returns rows.

        For tables where a common word matches many thousands of a user's rows; the cap bounds the cost
        when the term statistics that keep common words out are stale.
        """
        alias = self.table.alias
        return sql.SQL(
            "SELECT {columns}, NULL::bigint AS vector_rank, ranked.rank AS text_rank, {embedding} <=> {vector}"
            " AS distance\n"
            "FROM (\n"
            "    SELECT id, row_number() OVER (ORDER BY {order}) AS rank FROM (\n"
            "        SELECT {carried}, ts_rank_cd(tsv, {tsquery}, 1) AS relevance FROM (\n"
            "            SELECT {carried}, tsv FROM {table}\n"
            "            WHERE {where} AND tsv @@ {tsquery}\n"
            "            LIMIT {scan_cap}) matched\n"
            "    ) scored\n"
            "    ORDER BY rank LIMIT {depth}\n"
            ") ranked\n"
            "JOIN {table} {alias} ON {id} = ranked.id{joins}\n"
            "WHERE {user} = {user_id}"
        ).format(
            columns=self.table.columns,
            embedding=sql.Identifier(alias, "embedding"),
            vector=sql.Placeholder("vector"),
            order=sql.SQL(", ").join([sql.SQL("relevance DESC"), *self._ties()]),
            carried=self._carried(),
            tsquery=_TSQUERY,
            table=sql.Identifier(self.table.name),
            where=self._where(),
            scan_cap=sql.Placeholder("scan_cap"),
            depth=sql.Placeholder("depth"),
            alias=sql.Identifier(alias),
            id=sql.Identifier(alias, "id"),
            joins=self.table.joins,
            user=sql.Identifier(alias, "user_id"),
            user_id=sql.Placeholder("user"),
        )

    def _text_leg(self) -> sql.Composed:
        """The full-text leg inside the statement: the ``depth`` most relevant matches, numbered from 1."""
        return sql.SQL(
            "SELECT id, row_number() OVER (ORDER BY {order}) AS rank FROM (\n"
            "    SELECT {carried}, ts_rank_cd(tsv, {tsquery}, 1) AS relevance FROM {table}\n"
            "    WHERE {text}::text IS NOT NULL AND {where} AND tsv @@ {tsquery}\n"
            "    ORDER BY relevance DESC LIMIT {depth}) matched"
        ).format(
            order=sql.SQL(", ").join([sql.SQL("relevance DESC"), *self._ties()]),
            carried=self._carried(),
            tsquery=_TSQUERY,
            table=sql.Identifier(self.table.name),
            text=sql.Placeholder("text"),
            where=self._where(),
            depth=sql.Placeholder("depth"),
        )

    def fused(self, *, text_ids: bool, centred: bool = False) -> sql.Composed:
        """Both legs and each row they found, with its ranks and distance.

        ``text_ids``: the full-text ranking is bound as ``text_ids``, best first (memories bind none and
        run ``text_rows()`` beside it); otherwise the statement ranks the full text itself. ``centred``: each row also
        has ``centre_distance``, its cosine distance to the mean of the vector leg's rows
        (memory/retrieval/centring.py).
        """
        if text_ids:
            fts = sql.SQL(
                "fts AS (\n    SELECT id, rank FROM unnest({}::uuid[]) WITH ORDINALITY AS t(id, rank)\n)"
            ).format(sql.Placeholder("text_ids"))
        else:
            fts = sql.SQL("fts AS MATERIALIZED (\n{}\n)").format(self._text_leg())
        alias = self.table.alias
        return sql.SQL(
            "WITH vec AS MATERIALIZED (\n{vec}\n), {fts}\n"
            "SELECT {columns}, ranks.vector_rank, ranks.text_rank, {embedding} <=> {vector} AS distance{centre}\n"
            "FROM ({ranks}\n) ranks\n"
            "JOIN {table} {alias} ON {id} = ranks.id{joins}\n"
            "WHERE {user} = {user_id}"
        ).format(
            vec=self.vector_leg(),
            fts=fts,
            columns=self.table.columns,
            embedding=sql.Identifier(alias, "embedding"),
            vector=sql.Placeholder("vector"),
            centre=self._centre() if centred else sql.SQL(""),
            ranks=_FUSED_RANKS,
            table=sql.Identifier(self.table.name),
            alias=sql.Identifier(alias),
            id=sql.Identifier(alias, "id"),
            joins=self.table.joins,
            user=sql.Identifier(alias, "user_id"),
            user_id=sql.Placeholder("user"),
        )

    def _centre(self) -> sql.Composed:
        return sql.SQL(
            ",\n    {embedding} <=> (SELECT avg(c.embedding) FROM vec JOIN {table} c ON c.id = vec.id"
            " WHERE c.user_id = {user_id}) AS centre_distance"
        ).format(
            embedding=sql.Identifier(self.table.alias, "embedding"),
            table=sql.Identifier(self.table.name),
            user_id=sql.Placeholder("user"),
        )
