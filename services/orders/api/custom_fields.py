"""Custom field definitions (admins define them; everyone reads them) and values set by admins."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.orders.service import custom_fields
from shared import custom_fields as cf
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.text import PlainText


class DefinitionsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity: str | None = Field(default=None, max_length=40)


class NewDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity: str = Field(max_length=40)
    name: PlainText = Field(min_length=1, max_length=cf.MAX_NAME)
    type: str = Field(max_length=20)
    choices: list[PlainText] | None = Field(default=None, max_length=cf.MAX_CHOICES)


class DefinitionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PlainText | None = Field(default=None, min_length=1, max_length=cf.MAX_NAME)
    choices: list[PlainText] | None = Field(default=None, max_length=cf.MAX_CHOICES)


class Values(BaseModel):
    """Values to set: key → value (null clears the field); fields not named keep theirs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    custom_fields: dict[str, Any] = Field(alias="customFields", max_length=cf.MAX_PER_ENTITY)


@tenant_endpoint()
async def list_definitions(call: TenantCall) -> Any:
    q = call.parse(DefinitionsQuery, dict(call.request.query_params))
    return await custom_fields.definitions(call.conn, call.org_id, q.entity)


@tenant_endpoint(admin=True)
async def define(call: TenantCall) -> Any:
    body = call.parse(NewDefinition)
    return await custom_fields.define(
        call.conn, call.org_id, entity=body.entity, name=body.name, type=body.type, choices=body.choices
    )


@tenant_endpoint(admin=True)
async def update(call: TenantCall) -> Any:
    body = call.parse(DefinitionChange)
    return await custom_fields.update(
        call.conn, call.org_id, call.path_uuid("field_id"), name=body.name, choices=body.choices
    )


@tenant_endpoint(admin=True)
async def delete(call: TenantCall) -> Any:
    await custom_fields.delete(call.conn, call.org_id, call.path_uuid("field_id"))
    return {"ok": True}


@tenant_endpoint(admin=True)
async def set_customer_values(call: TenantCall) -> Any:
    body = call.parse(Values)
    return await custom_fields.set_customer(call.conn, call.org_id, call.path_uuid("customer_id"), body.custom_fields)


@tenant_endpoint(admin=True)
async def set_order_values(call: TenantCall) -> Any:
    body = call.parse(Values)
    return await custom_fields.set_order(call.conn, call.org_id, call.path_uuid("order_id"), body.custom_fields)


routes = [
    Route("/internal/custom-fields", list_definitions, methods=["GET"]),
    Route("/internal/custom-fields", define, methods=["POST"]),
    Route("/internal/custom-fields/{field_id}", update, methods=["PATCH"]),
    Route("/internal/custom-fields/{field_id}", delete, methods=["DELETE"]),
    Route("/internal/customers/{customer_id}/custom-fields", set_customer_values, methods=["PUT"]),
    Route("/internal/orders/{order_id}/custom-fields", set_order_values, methods=["PUT"]),
]
