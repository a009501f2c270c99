"""Custom fields: their definitions (on customers, orders and every business entity type) and the values of
customers and orders, with the account currency of customers.

This service owns the definitions of every entity, business ones included: one place decides what a field
is called and what it holds, and publishes each change (`custom_field.defined` / `changed` / `deleted`) for
the services that keep copies (reports, which itemises entities with their fields). Values of customers and
orders are stored here, checked against the definitions by `shared.custom_fields` (the same check the insights
service applies to business events' values); each change is published (`customer.updated`, `order.updated`).

A definition's type and key never change once made: values already stored, and copies elsewhere, stay valid.
A rename changes the name only; choices may be added, never removed (a value may hold one). Deleting a
definition removes its values here in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.repository import custom_fields as repo
from services.orders.repository import orders
from services.orders.service.orders import event_payload
from shared import custom_fields as cf
from shared.errors import DomainError, ErrorCode, NotFound
from shared.messaging import contracts
from shared.messaging.outbox import add_event
from shared.money import CURRENCIES


def _event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "entity": row["entity"],
        "key": row["key"],
        "name": row["name"],
        "type": row["type"],
        "choices": list(row["choices"]),
    }


def _refuse(field: str, reason: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, f"{field}: {reason}", field)


def _check_entity(entity: str) -> None:
    if entity not in cf.ENTITIES:
        raise _refuse("entity", "must be customer, order or a business event type (" + ", ".join(cf.ENTITIES) + ")")


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > cf.MAX_NAME:
        raise _refuse("name", f"must be 1 to {cf.MAX_NAME} characters")
    if not cf.slug(name):
        raise _refuse("name", "must hold a letter or a digit")
    return name


def _check_choices(choices: list[str]) -> list[str]:
    cleaned = [c.strip() for c in choices]
    if len(cleaned) > cf.MAX_CHOICES:
        raise _refuse("choices", f"at most {cf.MAX_CHOICES}")
    for n, c in enumerate(cleaned):
        if not c or len(c) > cf.MAX_CHOICE:
            raise _refuse(f"choices[{n}]", f"must be 1 to {cf.MAX_CHOICE} characters")
    if len(set(cleaned)) != len(cleaned):
        raise _refuse("choices", "must not repeat a choice")
    return cleaned


async def definitions(conn: asyncpg.Connection, org_id: UUID, entity: str | None) -> list[dict[str, Any]]:
    if entity is not None:
        _check_entity(entity)
    return await repo.list_for(conn, org_id, entity)


async def define(
    conn: asyncpg.Connection, org_id: UUID, *, entity: str, name: str, type: str, choices: list[str] | None
) -> dict[str, Any]:
    _check_entity(entity)
    name = _check_name(name)
    try:
        kind = cf.FieldType(type)
    except ValueError:
        raise _refuse("type", "must be one of " + ", ".join(t.value for t in cf.FieldType)) from None
    cleaned = _check_choices(choices or [])
    if kind is cf.FieldType.CHOICE and not cleaned:
        raise _refuse("choices", "a choice field needs at least one choice")
    if kind is not cf.FieldType.CHOICE and cleaned:
        raise _refuse("choices", "only a choice field has choices")
    count = await repo.lock_entity(conn, org_id, entity)
    if count >= cf.MAX_PER_ENTITY:
        raise _refuse("entity", f"an entity has at most {cf.MAX_PER_ENTITY} custom fields")
    row = await repo.insert(
        conn, org_id, entity=entity, key=cf.slug(name), name=name, type=kind.value, choices=cleaned, position=count
    )
    await add_event(conn, org_id, contracts.CUSTOM_FIELD_DEFINED, _event(row))
    return row


async def _definition(conn: asyncpg.Connection, org_id: UUID, field_id: UUID) -> dict[str, Any]:
    row = await repo.get(conn, org_id, field_id)
    if row is None:
        raise NotFound("custom field", "id")
    return row


async def update(
    conn: asyncpg.Connection, org_id: UUID, field_id: UUID, *, name: str | None, choices: list[str] | None
) -> dict[str, Any]:
    current = await _definition(conn, org_id, field_id)
    new_name = _check_name(name) if name is not None else current["name"]
    new_choices = current["choices"]
    if choices is not None:
        if current["type"] != cf.FieldType.CHOICE.value:
            raise _refuse("choices", "only a choice field has choices")
        cleaned = _check_choices(choices)
        removed = [c for c in current["choices"] if c not in cleaned]
        if removed:
            raise _refuse("choices", "choices can be added, not removed (values may hold them): " + ", ".join(removed))
        new_choices = cleaned
    if new_name == current["name"] and new_choices == current["choices"]:
        return current
    row = await repo.update(conn, org_id, field_id, name=new_name, choices=new_choices)
    await add_event(conn, org_id, contracts.CUSTOM_FIELD_CHANGED, _event(row))
    return row


async def delete(conn: asyncpg.Connection, org_id: UUID, field_id: UUID) -> dict[str, Any]:
    current = await _definition(conn, org_id, field_id)
    await repo.delete(conn, org_id, field_id)
    await repo.drop_values(conn, org_id, current["entity"], current["key"])
    await add_event(
        conn,
        org_id,
        contracts.CUSTOM_FIELD_DELETED,
        {"id": str(current["id"]), "entity": current["entity"], "key": current["key"]},
    )
    return current


async def _checked(conn: asyncpg.Connection, org_id: UUID, entity: str, values: dict[str, Any]) -> dict[str, Any]:
    defs = [cf.Definition.from_row(d) for d in await repo.list_for(conn, org_id, entity)]
    return cf.check_values(defs, values)


# Not given: the account currency stays as it is (None would set it back to the organisation's base currency).
@dataclass(frozen=True)
class Keep:
    pass


KEEP = Keep()


def check_currency(currency: str | None, field: str = "accountCurrency") -> str | None:
    if currency is not None and currency not in CURRENCIES:
        raise _refuse(field, "must be one of the platform's ISO 4217 currencies: " + ", ".join(sorted(CURRENCIES)))
    return currency


async def set_customer(
    conn: asyncpg.Connection,
    org_id: UUID,
    customer_id: UUID,
    values: dict[str, Any] | None,
    account_currency: str | Keep | None = KEEP,
) -> dict[str, Any]:
    """Sets some of a customer's custom fields (None clears one; fields not named keep their values) and,
    when given, their account currency (None: the organisation's base currency). Publishes `customer.updated`
    when anything changed. Answers the customer's id, custom fields and account currency."""
    checked = await _checked(conn, org_id, cf.CUSTOMER, values or {})
    if not isinstance(account_currency, Keep):
        check_currency(account_currency)
    current = await repo.customer_for_update(conn, org_id, customer_id)
    if current is None:
        raise NotFound("customer", "customerId")
    new_values = cf.merged(current["custom_fields"], checked)
    currency = current["account_currency"] if isinstance(account_currency, Keep) else account_currency
    if new_values != current["custom_fields"] or currency != current["account_currency"]:
        await repo.set_customer(conn, org_id, current["id"], new_values, currency)
        await add_event(
            conn,
            org_id,
            contracts.CUSTOMER_UPDATED,
            {"customer_id": str(current["id"]), "custom_fields": new_values, "account_currency": currency},
        )
    return {"id": current["id"], "custom_fields": new_values, "account_currency": currency}


async def set_order(
    conn: asyncpg.Connection,
    org_id: UUID,
    order_id: UUID,
    values: dict[str, Any],
    integration_id: UUID | None = None,
) -> dict[str, Any]:
    """Sets some of an order's custom fields (None clears one); publishes `order.updated` (the order events'
    payload, custom fields included) when anything changed. Answers the order. With `integration_id` (an
    integration's API key), only that integration's orders are found."""
    checked = await _checked(conn, org_id, cf.ORDER, values)
    current = await repo.order_values_for_update(conn, org_id, order_id, integration_id)
    if current is None:
        raise NotFound("order", "orderId")
    new_values = cf.merged(current, checked)
    if new_values != current:
        await repo.set_order(conn, org_id, order_id, new_values)
    found = await orders.by_ids(conn, org_id, [order_id])
    order = found[0]
    if new_values != current:
        await add_event(conn, org_id, contracts.ORDER_UPDATED, event_payload(order))
    return order
