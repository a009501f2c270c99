"""Internal pages of the insights store's devices and events, for the reports service's documented collections.

Seed 002's Devices and Events collections live only here (the insights service ingests them); rather than add a
write per ingested event to feed a copy elsewhere (ingestion's throughput is a measured target), the reports
service reads them from this endpoint page by page and maps them with its declarations
(services/reports/domain/collections.py). Only the reports service may call it; the organisation comes from its
service token, and every page is one keyset read in one tenant transaction.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.insights.repository import collections as store
from shared.errors import DomainError, ErrorCode
from shared.service.endpoint import TenantCall, tenant_endpoint

CALLERS = frozenset({"reports"})
MAX_LIMIT = 5000
NAMES = ("devices", "events")


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime
    until: AwareDatetime
    after: str | None = Field(default=None, max_length=400)
    limit: int = Field(default=1000, ge=1, le=MAX_LIMIT)


def _encode(values: list[Any]) -> str:
    raw = json.dumps([str(v) if not isinstance(v, datetime) else v.isoformat() for v in values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        if not isinstance(values, list) or len(values) != 2 or not all(isinstance(v, str) for v in values):
            raise ValueError("shape")
        return values
    except (ValueError, TypeError, UnicodeDecodeError):
        raise DomainError(ErrorCode.INVALID_CURSOR, "is not a cursor returned by this page", "after") from None


@tenant_endpoint()
async def collection_page(call: TenantCall) -> Any:
    if call.identity.caller not in CALLERS:
        raise DomainError(ErrorCode.FORBIDDEN, "only reports may call this", status=403)
    name = call.request.path_params["name"]
    if name not in NAMES:
        raise DomainError(ErrorCode.NOT_FOUND, f"collections here are {', '.join(NAMES)}", "name", status=404)
    q = call.parse(PageQuery)
    if q.until <= q.since:
        raise DomainError(ErrorCode.INVALID_INPUT, "until: must be after since", "until")
    after = _decode(q.after) if q.after else None
    try:
        if name == "events":
            key = (datetime.fromisoformat(after[0]), UUID(after[1])) if after else None
            rows = await store.events_page(call.conn, call.org_id, q.since, q.until, key, q.limit)
            last = [rows[-1]["occurred_at"], rows[-1]["id"]] if rows else None
        else:
            dkey = (UUID(after[0]), after[1]) if after else None
            rows = await store.devices_page(call.conn, call.org_id, q.since, q.until, dkey, q.limit)
            last = [rows[-1]["customer_id"], rows[-1]["device_id"]] if rows else None
    except ValueError:
        raise DomainError(ErrorCode.INVALID_CURSOR, "is not a cursor returned by this page", "after") from None
    more = len(rows) == q.limit and last is not None
    return {"rows": [dict(r) for r in rows], "next": _encode(last) if more and last else None}


routes = [Route("/internal/insights/collections/{name}", collection_page, methods=["POST"])]
