"""Pages merged from several keyset streams kept by different services, in one order.

A customer's timeline is the insights service's events (kind `event`) and the orders service's ledger
(kind `order`), newest first. The one order of the merged list is `(at DESC, kind DESC, id DESC)`: time,
then the stream, then the stream's own id (ids are compared only within their stream, so their types
may differ). A cursor names an entry (its at, kind and id; opaque to the client); the gateway passes the
client's cursor unchanged to each service, which answers its stream's entries strictly after that entry,
each with its own cursor, and the gateway merges the answers and keeps the first page. So a page is right
however the streams interleave, and nothing is skipped or repeated at a page boundary, even with entries
of both streams at the same microsecond.

This module is the contract between the gateway and the services: the cursor codec, the predicate each
stream applies and the merge.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.errors import DomainError, ErrorCode
from shared.service.pagination import Params

T = TypeVar("T")


class Bound(BaseModel):
    """A position in a merged list: entries strictly after it (older, or later in the tie order) follow."""

    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime
    kind: str = Field(pattern=r"^[a-z]{1,20}$")
    id: str = Field(min_length=1, max_length=100)


def encode_cursor(at: datetime, kind: str, id: Any) -> str:
    raw = json.dumps([at.isoformat(), kind, str(id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> Bound:
    """The position a cursor of `encode_cursor` names; anything else is refused naming `field`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, kind, id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return Bound(at=datetime.fromisoformat(at), kind=kind, id=id)
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.INVALID_CURSOR, "is not a cursor returned by this list", field) from exc


def after_bound(
    p: Params, bound: Bound | None, *, kind: str, ts: str, id: str, parse_id: Callable[[str], T]
) -> list[str]:
    """SQL predicates keeping the rows of stream `kind` (columns `ts`, `id`) strictly after `bound`.

    `ts <= bound` always leads, so an index on the timestamp serves it (and run-time partition pruning
    can skip newer partitions); the tie on `ts` is broken by the stream (`kind`), then by `id` within it.
    A bound naming this stream with an id `parse_id` refuses is not a cursor of this list.
    """
    if bound is None:
        return []
    if bound.kind == kind:
        try:
            own_id = parse_id(bound.id)
        except (ValueError, TypeError) as exc:
            raise DomainError(ErrorCode.INVALID_CURSOR, "is not a cursor returned by this list", "after") from exc
        at = p(bound.at)
        return [f"{ts} <= {at}", f"({ts} < {at} OR {id} < {p(own_id)})"]
    if kind < bound.kind:
        # This stream's entries at the bound's instant come after the other stream's (kind DESC).
        return [f"{ts} <= {p(bound.at)}"]
    return [f"{ts} < {p(bound.at)}"]


def merge_newest_first(streams: list[tuple[str, list[T]]], at: Callable[[T], datetime], first: int) -> list[T]:
    """The first `first` entries of streams each already newest first (kind, entries), in the merged order."""
    tagged = [(at(row), kind, n, row) for kind, rows in streams for n, row in enumerate(rows)]
    # Newest first; at one instant the greater kind first; within a stream its own order (n ascending).
    tagged.sort(key=lambda t: (t[0], t[1], -t[2]), reverse=True)
    return [t[3] for t in tagged[:first]]
