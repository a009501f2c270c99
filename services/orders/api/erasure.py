"""Erasing a customer (admins): `POST /internal/customers/{customer_id}/erase`."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from services.orders.service import erasure
from services.orders.service.audit import AuditAction, record
from shared.service.endpoint import TenantCall, tenant_endpoint


@tenant_endpoint(admin=True)
async def erase_customer(call: TenantCall) -> Any:
    customer_id = call.path_uuid("customer_id")
    result = await erasure.erase(call.conn, call.org_id, customer_id)
    if result["erased"]:
        await record(call, AuditAction.CUSTOMER_ERASED, customer_id, {})
    return result


routes = [Route("/internal/customers/{customer_id}/erase", erase_customer, methods=["POST"])]
