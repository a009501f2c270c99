"""Opaque keyset cursors: (timestamp, id) of the last row of a page."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from uuid import UUID

from services.orders.errors import DomainError


def encode(ts: datetime, id: UUID) -> str:
    raw = json.dumps([ts.isoformat(), str(id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = datetime.fromisoformat(ts), UUID(id)
        if value[0].tzinfo is None:
            raise ValueError("naive timestamp")
        return value
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError("INVALID_CURSOR", "is not a cursor returned by this list", "after") from exc
