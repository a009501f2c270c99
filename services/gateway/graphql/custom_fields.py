"""Custom fields: definitions on customers, orders and every business entity type, and the values admins set
on customers and orders (the orders service owns both; integrations set values through REST)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.customers import Customer
from services.gateway.graphql.errors import UserError, from_service, user_errors
from services.gateway.graphql.orders import Order
from services.gateway.graphql.organisation import require_admin
from shared import custom_fields as cf


@strawberry.enum(description="What a custom field holds.")
class CustomFieldType(Enum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"


@strawberry.type(
    description="A custom field of an entity: `customer`, `order` or a business event type ("
    + ", ".join(cf.BUSINESS_ENTITIES)
    + "). Its key (a slug of the name when defined) never changes: values, reports and the API name it."
)
class CustomField:
    id: strawberry.ID
    entity: str
    key: str
    name: str
    type: CustomFieldType
    choices: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> CustomField:
        return cls(
            id=strawberry.ID(str(r["id"])),
            entity=r["entity"],
            key=r["key"],
            name=r["name"],
            type=CustomFieldType(r["type"]),
            choices=list(r["choices"]),
            created_at=dt.datetime.fromisoformat(r["created_at"]),
            updated_at=dt.datetime.fromisoformat(r["updated_at"]),
        )


@strawberry.type
class CustomFieldPayload:
    custom_field: CustomField | None
    errors: list[UserError]


@strawberry.type
class DeleteCustomFieldPayload:
    deleted: bool
    errors: list[UserError]


@strawberry.type
class CustomerCustomFieldsPayload:
    customer: Customer | None
    errors: list[UserError]


@strawberry.type
class OrderCustomFieldsPayload:
    order: Order | None
    errors: list[UserError]


@strawberry.type
class CustomFieldsQuery:
    @strawberry.field(description="The organisation's custom fields of `entity` (all entities when left out).")
    async def custom_fields(self, info: Info[Context, None], entity: str | None = None) -> list[CustomField]:
        try:
            rows = await info.context.call(
                "orders", "GET", "/internal/custom-fields", params={"entity": entity} if entity else None
            )
        except ServiceError as exc:
            raise from_service(exc) from None
        return [CustomField.from_row(r) for r in rows]


async def _definition(info: Info[Context, None], method: str, path: str, body: Any) -> CustomFieldPayload:
    require_admin(info)
    try:
        row = await info.context.call("orders", method, path, json=body)
    except ServiceError as exc:
        return CustomFieldPayload(custom_field=None, errors=user_errors(exc))
    return CustomFieldPayload(custom_field=CustomField.from_row(row), errors=[])


def _values(values: JSON) -> Any:
    return {"customFields": values}


@strawberry.type
class CustomFieldsMutation:
    @strawberry.mutation(
        description=f"Admins only. At most {cf.MAX_PER_ENTITY} per entity; names and keys unique per entity "
        "(DUPLICATE_NAME); a CHOICE field needs `choices`."
    )
    async def define_custom_field(
        self,
        info: Info[Context, None],
        entity: str,
        name: str,
        type: CustomFieldType,
        choices: list[str] | None = None,
    ) -> CustomFieldPayload:
        body = {"entity": entity, "name": name, "type": type.value, "choices": choices}
        return await _definition(info, "POST", "/internal/custom-fields", body)

    @strawberry.mutation(
        description="Admins only. Renames a field (its key stays) or adds choices (a choice in use may not be "
        "removed); the type never changes."
    )
    async def update_custom_field(
        self, info: Info[Context, None], id: strawberry.ID, name: str | None = None, choices: list[str] | None = None
    ) -> CustomFieldPayload:
        field_id = parse_id(id, "id")
        body = {k: v for k, v in {"name": name, "choices": choices}.items() if v is not None}
        return await _definition(info, "PATCH", f"/internal/custom-fields/{field_id}", body)

    @strawberry.mutation(description="Admins only. The field's values on customers and orders go with it.")
    async def delete_custom_field(self, info: Info[Context, None], id: strawberry.ID) -> DeleteCustomFieldPayload:
        require_admin(info)
        field_id = parse_id(id, "id")
        try:
            await info.context.call("orders", "DELETE", f"/internal/custom-fields/{field_id}")
        except ServiceError as exc:
            return DeleteCustomFieldPayload(deleted=False, errors=user_errors(exc))
        return DeleteCustomFieldPayload(deleted=True, errors=[])

    @strawberry.mutation(
        description="Admins only. Sets custom fields of a customer by key (`null` clears one; others keep theirs); "
        "a refused value names `customFields.<key>` and changes nothing."
    )
    async def set_customer_custom_fields(
        self, info: Info[Context, None], customer_id: strawberry.ID, custom_fields: JSON
    ) -> CustomerCustomFieldsPayload:
        require_admin(info)
        cid = parse_id(customer_id, "customerId")
        try:
            done = await info.context.call(
                "orders", "PUT", f"/internal/customers/{cid}/custom-fields", json=_values(custom_fields)
            )
        except ServiceError as exc:
            return CustomerCustomFieldsPayload(customer=None, errors=user_errors(exc))
        row = await info.context.loader("orders", "customers").load(str(done["id"]))
        return CustomerCustomFieldsPayload(customer=Customer.from_row(row) if row else None, errors=[])

    @strawberry.mutation(
        description="Admins only. Sets custom fields of an order by key (`null` clears one; others keep theirs); "
        "a refused value names `customFields.<key>` and changes nothing."
    )
    async def set_order_custom_fields(
        self, info: Info[Context, None], order_id: strawberry.ID, custom_fields: JSON
    ) -> OrderCustomFieldsPayload:
        require_admin(info)
        oid = parse_id(order_id, "orderId")
        try:
            row = await info.context.call(
                "orders", "PUT", f"/internal/orders/{oid}/custom-fields", json=_values(custom_fields)
            )
        except ServiceError as exc:
            return OrderCustomFieldsPayload(order=None, errors=user_errors(exc))
        return OrderCustomFieldsPayload(order=Order.from_row(row), errors=[])
