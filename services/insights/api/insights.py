"""The insights builder: an insight's answer, and the events behind any of its cells.

Thin handlers: the input is validated by `domain.insight` (errors name `input.<field>`), answered by
`service.insight` in one tenant transaction (its cells in a temporary table dropped at commit). Closed to
provider users, as the Analytics tab is (the partner's business events are not theirs).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.insights.service import insight
from shared.db import tenant_tx
from shared.service.endpoint import OrgCall, org_endpoint
from shared.service.pagination import PageInput


class AnswerQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any]


class CellQuery(PageInput):
    """The events behind one cell: the insight, the bucket's start, the series' values (and currency)."""

    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any]
    bucket: str = Field(max_length=64)
    values: list[Any] = Field(default_factory=list, max_length=3)
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")


@org_endpoint()
async def answer(call: OrgCall) -> Any:
    q = call.parse(AnswerQuery)
    async with tenant_tx(call.pool, call.org_id) as conn:
        return await insight.answer(conn, call.org_id, q.input)


@org_endpoint()
async def events_behind(call: OrgCall) -> Any:
    q = call.parse(CellQuery)
    async with tenant_tx(call.pool, call.org_id, snapshot=True) as conn:
        return await insight.events_behind(conn, call.org_id, q.input, q.bucket, q.values, q.currency, q.first, q.after)


routes = [
    Route("/internal/insights/answer", answer, methods=["POST"]),
    Route("/internal/insights/events", events_behind, methods=["POST"]),
]
