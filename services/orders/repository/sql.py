"""Building blocks of the list queries: positional parameters, day ranges, prefix search, keyset pages."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.orders.repository import cursors


class Params:
    """Collects query arguments; calling it with a value returns that value's `$n` placeholder."""

    def __init__(self, values: list[Any] | None = None) -> None:
        self.values = values if values is not None else []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def like_prefix(value: str) -> str:
    """A LIKE pattern matching `value` literally at the start."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def prefix_match(p: Params, expression: str, prefix: str) -> str:
    """`expression` starts with `prefix`, in a form an index can serve under row-level security.

    LIKE is not leakproof, so under forced RLS it is never an index condition; the byte-wise
    range [prefix, prefix with its last character incremented) is, with a text_pattern_ops
    index on `expression`. LIKE stays as the exact re-check.
    """
    parts = [f"{expression} ~>=~ {p(prefix)}"]
    last = ord(prefix[-1])
    if last < 0x10FFFF:
        parts.append(f"{expression} ~<~ {p(prefix[:-1] + chr(last + 1))}")
    parts.append(f"{expression} LIKE {p(like_prefix(prefix))}")
    return "(" + " AND ".join(parts) + ")"


def day_range(p: Params, column: str, date_from: date | None, date_to: date | None, tz: str) -> list[str]:
    """Predicates keeping `column` within whole days (to inclusive) of time zone `tz`."""
    if not (date_from or date_to):
        return []
    tz_param = p(tz)
    parts = []
    if date_from:
        parts.append(f"{column} >= ({p(date_from)}::date)::timestamp AT TIME ZONE {tz_param}")
    if date_to:
        parts.append(f"{column} < ({p(date_to)}::date + 1)::timestamp AT TIME ZONE {tz_param}")
    return parts


async def keyset_page(conn: asyncpg.Connection, *, select: str, where: str, p: Params, ts: str, id: str, ts_key: str,
                      first: int, after: str | None) -> tuple[list[dict[str, Any]], bool]:
    """One page in (ts DESC, id DESC) order after an opaque cursor; each row carries its own cursor.

    Fetches one row more than asked to know whether another page follows, so no count is run.
    """
    if after:
        after_ts, after_id = cursors.decode(after)
        where += f" AND ({ts}, {id}) < ({p(after_ts)}, {p(after_id)})"
    rows = await conn.fetch(f"{select} WHERE {where} ORDER BY {ts} DESC, {id} DESC LIMIT {p(first + 1)}", *p.values)
    page = [dict(r) for r in rows[:first]]
    for row in page:
        row["cursor"] = cursors.encode(row[ts_key], row["id"])
    return page, len(rows) > first
