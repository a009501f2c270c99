"""Identity resolution for the insights service: one call per event batch (`/internal/ingest/resolve`).

The insights service forwards the integration's API key with the batch's distinct identities and
product ids; this service, which stores the key's hash, the customers and the catalogue, answers with
the organisation and integration the key belongs to, the customer of each identity, and which of the
product ids are the organisation's (with their category), all in one transaction.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field
from starlette.routing import Route

from services.orders.api.ingest import _integration
from services.orders.repository import catalogue
from services.orders.service import identities
from shared.api_events import MAX_EVENTS
from shared.db import tenant_tx
from shared.service.endpoint import Call, system_endpoint
from shared.text import PlainText


class IdentityRef(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    email: EmailStr | None = None
    anonymous_id: PlainText | None = Field(default=None, alias="anonymousId", min_length=1, max_length=200)
    first_seen: AwareDatetime = Field(alias="firstSeen")
    last_seen: AwareDatetime = Field(alias="lastSeen")
    visits: int = Field(default=0, ge=0, le=MAX_EVENTS)


class ResolveBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    identities: list[IdentityRef] = Field(max_length=MAX_EVENTS)
    product_ids: list[UUID] = Field(default_factory=list, alias="productIds", max_length=MAX_EVENTS)


@system_endpoint(callers=frozenset({"insights"}))
async def resolve(call: Call) -> Any:
    org_id, integration_id = await _integration(call)
    body = call.parse(ResolveBatch)
    refs = [
        identities.Identity(
            email=str(i.email) if i.email else None,
            anonymous_id=i.anonymous_id,
            first_seen=i.first_seen,
            last_seen=i.last_seen,
            visits=i.visits,
        )
        for i in body.identities
        if i.email or i.anonymous_id
    ]
    async with tenant_tx(call.pool, org_id) as conn:
        channel = await catalogue.integration_channel(conn, org_id, integration_id)
        customers = await identities.resolve(conn, org_id, integration_id, channel, refs)
        products = await catalogue.products_by_ids(conn, org_id, list(dict.fromkeys(body.product_ids)))
    return {
        "orgId": str(org_id),
        "integrationId": str(integration_id),
        "channel": channel,
        "customers": [str(c) for c in customers],
        "products": {str(p["id"]): {"categoryId": str(p["category_id"])} for p in products},
    }


routes = [Route("/internal/ingest/resolve", resolve, methods=["POST"])]
