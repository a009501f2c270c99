"""The SQL of streamed exports, for every service: the export's SELECT list with every text column
neutralised against spreadsheet formulas (CSV injection), and keyset batches read in short transactions.

CSV is PostgreSQL's own COPY of the SELECT list `select_list` makes, so `select_list` is the one place CSV cells are
neutralised; XLSX cells go through `shared.exports.xlsx_value`, which applies the same rule again.

Exports are read in batches in a list's own order, `(ts DESC, id DESC)`: each batch is the next `size` rows
after the last key of the one before, read in its own short transaction, so no transaction stays open while a
file is formatted or a client reads slowly. Like the list's pages, a long export reads the rows as they are
when each batch is read; together the batches hold each row once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.service.pagination import Params

Key = tuple[Any, Any]
"""Where a batch ends: the (ts, id) of its last row in the export's order."""


@dataclass(frozen=True)
class ExportQuery:
    """The export of one list: its columns over `source`, the list's WHERE, ordered by (`ts`, `id`) descending.

    `keys` is the list's own table alone: the rows of `source` are exactly its rows (every join is
    on a NOT NULL foreign key of the same organisation), so batch boundaries are found on it
    without the joins.
    """

    columns: str
    source: str
    keys: str
    where: str
    args: list[Any]
    header: list[str]
    ts: str
    id: str
    # How many of `args` (the first ones) `keys` and `where` reference, when `source` takes more of its own
    # (a lateral join's): finding a batch's end then passes only those. None: all of them.
    key_args: int | None = None

    @property
    def sql(self) -> str:
        """The whole export as one statement (the benchmark's floor; exports themselves read batches)."""
        return f"SELECT {self.columns} FROM {self.source} WHERE {self.where} ORDER BY {self.ts} DESC, {self.id} DESC"

    def _batch_where(self, after: Key | None, until: Key | None, *, keys_only: bool = False) -> tuple[str, list[Any]]:
        """The WHERE of the rows after `after` (exclusive) down to `until` (inclusive), with its arguments
        (with `keys_only`, only those `keys` takes)."""
        p = Params(list(self.args[: self.key_args] if keys_only and self.key_args is not None else self.args))
        where = self.where
        if after is not None:
            where += f" AND ({self.ts}, {self.id}) < ({p(after[0])}, {p(after[1])})"
        if until is not None:
            where += f" AND ({self.ts}, {self.id}) >= ({p(until[0])}, {p(until[1])})"
        return where, p.values


def safe(expr: str) -> str:
    """Neutralise spreadsheet formulas in text that came from outside (CSV injection)."""
    return f"CASE WHEN {expr} ~ '^[=+@\\t\\r-]' THEN '''' || {expr} ELSE {expr} END"


@dataclass(frozen=True)
class Column:
    """One export column. Every `text` column (anything a person or an integration typed) is neutralised
    against spreadsheet formulas by `select_list`, the one place the export's SELECT list is made, so that no
    column can be forgotten; identifiers, numbers, times and our own enum values are not text."""

    name: str
    expr: str
    text: bool = False


def select_list(columns: list[Column]) -> str:
    return ", ".join(f"{safe(c.expr) if c.text else c.expr} AS {c.name}" for c in columns)


async def batch_end(conn: asyncpg.Connection, query: ExportQuery, after: Key | None, size: int) -> Key | None:
    """The key of the `size`-th row after `after`, or None when fewer rows are left (the last batch)."""
    where, args = query._batch_where(after, None, keys_only=True)
    row = await conn.fetchrow(
        f"SELECT {query.ts}, {query.id} FROM {query.keys} WHERE {where}"
        f" ORDER BY {query.ts} DESC, {query.id} DESC OFFSET {int(size) - 1} LIMIT 1",
        *args,
    )
    return (row[0], row[1]) if row is not None else None


async def copy_csv_batch(
    conn: asyncpg.Connection,
    query: ExportQuery,
    after: Key | None,
    until: Key | None,
    output: Callable[[bytes], Awaitable[None]],
    *,
    header: bool,
) -> None:
    """COPY the rows after `after` down to `until` (every row left if None) as CSV, PostgreSQL formatting.

    Run it in the snapshot `until` was read in (`tenant_tx(..., snapshot=True)`): the range then holds
    exactly the rows `batch_end` counted, whatever is written meanwhile.
    """
    where, args = query._batch_where(after, until)
    sql = f"SELECT {query.columns} FROM {query.source} WHERE {where} ORDER BY {query.ts} DESC, {query.id} DESC"
    await conn.copy_from_query(sql, *args, output=output, format="csv", header=header)


async def rows_batch(
    conn: asyncpg.Connection, query: ExportQuery, after: Key | None, size: int
) -> tuple[list[asyncpg.Record], Key | None]:
    """The next `size` rows after `after` (each holding the export's columns, then its key), and the
    key to read on from (None after the last batch)."""
    where, args = query._batch_where(after, None)
    rows = await conn.fetch(
        f"SELECT {query.columns}, {query.ts}, {query.id} FROM {query.source} WHERE {where}"
        f" ORDER BY {query.ts} DESC, {query.id} DESC LIMIT {int(size)}",
        *args,
    )
    if len(rows) < size:
        return rows, None
    last = rows[-1]
    return rows, (last[-2], last[-1])
