"""Erasing a customer: a data-protection request, carried out by the services that hold their data."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import UserError, user_errors
from services.gateway.graphql.organisation import require_admin


@strawberry.type
class EraseCustomerPayload:
    erased: bool = strawberry.field(description="False when the customer had been erased already.")
    errors: list[UserError]


@strawberry.type
class ErasureMutation:
    @strawberry.mutation(
        description="Admins only. Erases a customer's personal data (email, anonymous ids, devices, event "
        "properties) everywhere the platform holds it; their orders stay under an anonymous name and every "
        "figure stays as it was. Cannot be undone; recorded in the audit log."
    )
    async def erase_customer(self, info: Info[Context, None], id: strawberry.ID) -> EraseCustomerPayload:
        require_admin(info)
        cid = parse_id(id, "id")
        try:
            result = await info.context.call("orders", "POST", f"/internal/customers/{cid}/erase")
        except ServiceError as exc:
            return EraseCustomerPayload(erased=False, errors=user_errors(exc))
        return EraseCustomerPayload(erased=bool(result["erased"]), errors=[])
