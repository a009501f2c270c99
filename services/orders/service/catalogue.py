"""Curating an integration's products from the organisation's provider catalogue.

The operator fills the catalogue (`python -m services.orders.admin add-catalogue-product`); admins add
its entries to an integration, order them, switch them on or off and remove them. An integration's
product is a copy of its catalogue entry (name, rate, currency, category, provider, journey), so the
orders placed for it keep what they were placed under.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from services.orders.repository import catalogue
from shared.errors import Conflict, DomainError, ErrorCode


def _already_added() -> Conflict:
    return Conflict(
        ErrorCode.ALREADY_ADDED, "this catalogue product is already in the integration", "catalogueProductId"
    )


def _has_orders() -> DomainError:
    return DomainError(
        ErrorCode.PRODUCT_IN_USE,
        "the product has orders and cannot be removed; switch it off instead (setProductEnabled)",
        "productId",
        status=409,
    )


async def add_to_integration(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, catalogue_product_id: UUID
) -> dict[str, Any]:
    """The integration's new product, last in its order and switched on; refused if already added."""
    await catalogue.lock_integration(conn, org_id, integration_id)
    entry = await catalogue.get_catalogue_product(conn, org_id, catalogue_product_id)
    if await catalogue.catalogue_product_in_integration(conn, org_id, integration_id, catalogue_product_id):
        raise _already_added()
    try:
        async with conn.transaction():  # a savepoint: the unique index is the last word in a race
            return await catalogue.create_product(
                conn,
                org_id,
                integration_id=integration_id,
                category_id=entry["category_id"],
                provider_id=entry["provider_id"],
                name=entry["name"],
                commission_rate=str(entry["commission_rate"]),
                currency=entry["currency"],
                journey_type=entry["journey_type"],
                success_definition=entry["success_definition"],
                catalogue_product_id=catalogue_product_id,
            )
    except asyncpg.UniqueViolationError:
        raise _already_added() from None


async def remove_from_integration(conn: asyncpg.Connection, org_id: UUID, product_id: UUID) -> dict[str, Any]:
    """Removes a product no order refers to (orders keep their product); the removed product is returned."""
    product = await catalogue.lock_product(conn, org_id, product_id)
    if await catalogue.product_has_orders(conn, org_id, product_id):
        raise _has_orders()
    try:
        async with conn.transaction():
            await catalogue.delete_product(conn, org_id, product_id)
    except asyncpg.ForeignKeyViolationError:
        raise _has_orders() from None
    return product


async def reorder(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, product_ids: list[UUID]
) -> list[dict[str, Any]]:
    """Puts the integration's products in the order of `product_ids`, which must list each of them once."""
    await catalogue.lock_integration(conn, org_id, integration_id)
    current = await catalogue.integration_product_ids(conn, org_id, integration_id)
    if len(product_ids) != len(set(product_ids)) or set(product_ids) != set(current):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"give each of the integration's {len(current)} products exactly once, in the new order",
            "productIds",
        )
    await catalogue.set_positions(conn, org_id, product_ids)
    return await catalogue.list_products(conn, org_id, integration_id)


async def set_enabled(conn: asyncpg.Connection, org_id: UUID, product_id: UUID, enabled: bool) -> dict[str, Any]:
    return await catalogue.set_product_enabled(conn, org_id, product_id, enabled)
