"""Building blocks of list queries: positional parameters, day ranges, prefix search, keyset pages.

Lists page by keyset (newest first, `(timestamp, id)` below the last row seen), never by
offset, so a page costs the same at row 10 and row 10 million. The cursor is opaque to
clients; a cursor that was not made here is refused naming `after`.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.config import get_settings
from shared.errors import DomainError, ErrorCode


class PageInput(BaseModel):
    """`first` rows `after` a cursor; the largest `first` is the MAX_PAGE_SIZE setting, as at the gateway."""

    model_config = ConfigDict(extra="forbid")
    first: int = Field(default=50, ge=1)
    after: str | None = Field(default=None, max_length=200)

    @field_validator("first")
    @classmethod
    def _at_most_max_page_size(cls, value: int) -> int:
        limit = get_settings().max_page_size
        if value > limit:
            raise ValueError(f"must be at most {limit}")
        return value


def encode_cursor(ts: datetime, id: UUID) -> str:
    raw = json.dumps([ts.isoformat(), str(id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = datetime.fromisoformat(ts), UUID(id)
        if value[0].tzinfo is None:
            raise ValueError("naive timestamp")
        return value
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.INVALID_CURSOR, "is not a cursor returned by this list", "after") from exc


class Params:
    """Collects query arguments; calling it with a value returns that value's `$n` placeholder."""

    def __init__(self, values: list[Any] | None = None) -> None:
        self.values = values if values is not None else []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def like_escape(value: str) -> str:
    """`value` with LIKE's wildcards and escape character taken literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_prefix(value: str) -> str:
    """A LIKE pattern matching `value` literally at the start."""
    return like_escape(value) + "%"


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


async def keyset_page(
    conn: asyncpg.Connection,
    *,
    select: str,
    where: str,
    p: Params,
    ts: str,
    id: str,
    ts_key: str,
    first: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """One page in (ts DESC, id DESC) order after an opaque cursor; each row carries its own cursor.

    Fetches one row more than asked to know whether another page follows, so no count is run.
    """
    if after:
        after_ts, after_id = decode_cursor(after)
        where += f" AND ({ts}, {id}) < ({p(after_ts)}, {p(after_id)})"
    rows = await conn.fetch(f"{select} WHERE {where} ORDER BY {ts} DESC, {id} DESC LIMIT {p(first + 1)}", *p.values)
    page = [dict(r) for r in rows[:first]]
    for row in page:
        row["cursor"] = encode_cursor(row[ts_key], row["id"])
    return page, len(rows) > first
