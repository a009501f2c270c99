"""Integrations, categories, products and providers."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from uuid import UUID

import asyncpg

from shared.errors import Conflict, DomainError, ErrorCode, NotFound
from shared.secrets import SecretBox, secret_box

INTEGRATION_COLUMNS = """i.id, i.name, i.channel, i.api_key_prefix, i.key_rotated_at, i.created_at, i.updated_at,
    coalesce((SELECT array_agg(ic.category_id ORDER BY ic.category_id) FROM integration_categories ic
              WHERE ic.integration_id = i.id), '{}') AS category_ids"""


def new_api_key() -> tuple[str, bytes, str]:
    """A key shown once; only its SHA-256 is stored (keys are random, so no slow hash is needed)."""
    key = "pk_" + secrets.token_urlsafe(32)
    return key, hash_api_key(key), key[:10]


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_webhook_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def resolve_api_key(conn: asyncpg.Connection, key: str) -> tuple[UUID, UUID] | None:
    row = await conn.fetchrow("SELECT org_id, integration_id FROM resolve_api_key($1)", hash_api_key(key))
    return (row["org_id"], row["integration_id"]) if row else None


async def resolve_provider(conn: asyncpg.Connection, public_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT org_id, provider_id, webhook_secret FROM resolve_provider($1)", public_id)
    return dict(row) if row else None


# --- categories -------------------------------------------------------------------------


async def create_category(conn: asyncpg.Connection, org_id: UUID, name: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO categories (org_id, name) VALUES ($1, $2) ON CONFLICT (org_id, lower(name)) DO UPDATE"
        " SET name = categories.name RETURNING id, name, created_at",
        org_id,
        name,
    )
    return dict(row)


async def list_categories(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT id, name, created_at FROM categories WHERE org_id = $1 ORDER BY name", org_id)
    return [dict(r) for r in rows]


async def categories_by_ids(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in await conn.fetch(
            "SELECT id, name, created_at FROM categories WHERE org_id = $1 AND id = ANY($2)", org_id, ids
        )
    ]


async def _check_categories(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> None:
    found = await conn.fetchval("SELECT count(*) FROM categories WHERE org_id = $1 AND id = ANY($2)", org_id, ids)
    if found != len(set(ids)):
        raise NotFound("category", "categoryIds")


# --- providers and products -------------------------------------------------------------


async def create_provider(
    conn: asyncpg.Connection, org_id: UUID, name: str, box: SecretBox | None = None
) -> dict[str, Any]:
    """A provider with a new webhook secret, returned in clear this once; the column holds it encrypted
    (shared/secrets.py), so a database backup cannot sign a provider's webhooks."""
    secret = new_webhook_secret()
    row = await conn.fetchrow(
        "INSERT INTO providers (org_id, public_id, name, webhook_secret) VALUES ($1, $2, $3, $4)"
        " RETURNING id, public_id, name, created_at",
        org_id,
        "prv_" + secrets.token_hex(8),
        name,
        (box or secret_box()).encrypt(secret),
    )
    return {**dict(row), "webhook_secret": secret}


async def stored_provider_secrets(conn: asyncpg.Connection) -> list[tuple[UUID, str]]:
    """Every provider's stored secret, locked until the transaction ends (re-encryption: run as the owner,
    which row-level security does not restrict, so every organisation's providers are covered)."""
    rows = await conn.fetch("SELECT id, webhook_secret FROM providers ORDER BY id FOR UPDATE")
    return [(r["id"], r["webhook_secret"]) for r in rows]


async def store_provider_secret(conn: asyncpg.Connection, provider_id: UUID, stored: str) -> None:
    await conn.execute("UPDATE providers SET webhook_secret = $2 WHERE id = $1", provider_id, stored)


async def list_providers(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, public_id, name, created_at FROM providers WHERE org_id = $1 ORDER BY name", org_id
    )
    return [dict(r) for r in rows]


async def find_provider(conn: asyncpg.Connection, org_id: UUID, ref: str) -> dict[str, Any] | None:
    """The organisation's provider by id or public id (`prv_...`), as an operator names it."""
    row = await conn.fetchrow(
        "SELECT id, public_id, name, created_at FROM providers"
        " WHERE org_id = $1 AND (public_id = $2 OR id::text = lower($2))",
        org_id,
        ref,
    )
    return dict(row) if row else None


async def create_product(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    integration_id: UUID,
    category_id: UUID,
    provider_id: UUID,
    name: str,
    commission_rate: str,
    currency: str,
    journey_type: str = "embedded",
    success_definition: str | None = None,
    catalogue_product_id: UUID | None = None,
) -> dict[str, Any]:
    """An integration's product, placed after its others and switched on; the integration gains its category."""
    row = await conn.fetchrow(
        "INSERT INTO products (org_id, integration_id, category_id, provider_id, name, commission_rate, currency,"
        " journey_type, success_definition, catalogue_product_id, position)"
        " VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10,"
        " (SELECT coalesce(max(position) + 1, 0) FROM products WHERE org_id = $1 AND integration_id = $2))"
        " RETURNING *",
        org_id,
        integration_id,
        category_id,
        provider_id,
        name,
        commission_rate,
        currency,
        journey_type,
        success_definition,
        catalogue_product_id,
    )
    await conn.execute(
        "INSERT INTO integration_categories (org_id, integration_id, category_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        org_id,
        integration_id,
        category_id,
    )
    return dict(row)


PRODUCT_COLUMNS = (
    "id, integration_id, category_id, provider_id, name, commission_rate, currency, journey_type,"
    " success_definition, created_at, position, enabled, catalogue_product_id"
)


async def list_products(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID | None = None, *, enabled_only: bool = False
) -> list[dict[str, Any]]:
    """One integration's products in its order (`position`), or every product by name."""
    rows = await conn.fetch(
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE org_id = $1 AND ($2::uuid IS NULL OR integration_id = $2)"
        " AND (enabled OR NOT $3) ORDER BY CASE WHEN $2::uuid IS NULL THEN 0 ELSE position END, name, id",
        org_id,
        integration_id,
        enabled_only,
    )
    return [dict(r) for r in rows]


async def integration_channel(conn: asyncpg.Connection, org_id: UUID, integration_id: UUID) -> str | None:
    channel: str | None = await conn.fetchval(
        "SELECT channel FROM integrations WHERE org_id = $1 AND id = $2", org_id, integration_id
    )
    return channel


async def product_in_integration(
    conn: asyncpg.Connection, org_id: UUID, product_id: UUID, integration_id: UUID
) -> asyncpg.Record | None:
    """What an order of `product_id` placed through `integration_id` takes from its product."""
    return await conn.fetchrow(
        "SELECT id, category_id, provider_id, commission_rate, currency, enabled FROM products"
        " WHERE org_id = $1 AND id = $2 AND integration_id = $3",
        org_id,
        product_id,
        integration_id,
    )


async def products_by_ids(
    conn: asyncpg.Connection, org_id: UUID, ids: list[UUID], provider_id: UUID | None = None
) -> list[dict[str, Any]]:
    """The products of `ids` that exist (of `provider_id` only, when given: a provider user's view)."""
    return [
        dict(r)
        for r in await conn.fetch(
            f"SELECT {PRODUCT_COLUMNS} FROM products WHERE org_id = $1 AND id = ANY($2)"
            " AND ($3::uuid IS NULL OR provider_id = $3)",
            org_id,
            ids,
            provider_id,
        )
    ]


# --- the provider catalogue and curation ------------------------------------------------

CATALOGUE_COLUMNS = (
    "c.id, c.provider_id, c.category_id, c.name, c.commission_rate, c.currency, c.journey_type,"
    " c.success_definition, c.created_at, p.name AS provider_name, p.public_id AS provider_public_id"
)


async def create_catalogue_product(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    provider_id: UUID,
    category_id: UUID,
    name: str,
    commission_rate: str,
    currency: str,
    journey_type: str = "embedded",
    success_definition: str | None = None,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO catalogue_products (org_id, provider_id, category_id, name, commission_rate, currency,"
        " journey_type, success_definition) VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8) RETURNING *",
        org_id,
        provider_id,
        category_id,
        name,
        commission_rate,
        currency,
        journey_type,
        success_definition,
    )
    return dict(row)


async def list_catalogue_products(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {CATALOGUE_COLUMNS} FROM catalogue_products c"
        " JOIN providers p ON p.org_id = c.org_id AND p.id = c.provider_id"
        " WHERE c.org_id = $1 ORDER BY c.name, c.id",
        org_id,
    )
    return [dict(r) for r in rows]


async def get_catalogue_product(conn: asyncpg.Connection, org_id: UUID, catalogue_product_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {CATALOGUE_COLUMNS} FROM catalogue_products c"
        " JOIN providers p ON p.org_id = c.org_id AND p.id = c.provider_id"
        " WHERE c.org_id = $1 AND c.id = $2",
        org_id,
        catalogue_product_id,
    )
    if row is None:
        raise NotFound("catalogue product", "catalogueProductId")
    return dict(row)


async def lock_integration(conn: asyncpg.Connection, org_id: UUID, integration_id: UUID) -> None:
    """Locks the integration (curation changes of one integration run one at a time), or NOT_FOUND."""
    found = await conn.fetchval(
        "SELECT 1 FROM integrations WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, integration_id
    )
    if found is None:
        raise NotFound("integration", "integrationId")


async def catalogue_product_in_integration(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, catalogue_product_id: UUID
) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM products WHERE org_id = $1 AND integration_id = $2"
            " AND catalogue_product_id = $3)",
            org_id,
            integration_id,
            catalogue_product_id,
        )
    )


async def lock_product(conn: asyncpg.Connection, org_id: UUID, product_id: UUID) -> dict[str, Any]:
    """The product, locked (an order being placed for it holds a key-share lock: this waits for it), or
    NOT_FOUND."""
    row = await conn.fetchrow(
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, product_id
    )
    if row is None:
        raise NotFound("product", "productId")
    return dict(row)


async def product_has_orders(conn: asyncpg.Connection, org_id: UUID, product_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE org_id = $1 AND product_id = $2)", org_id, product_id
        )
    )


async def delete_product(conn: asyncpg.Connection, org_id: UUID, product_id: UUID) -> None:
    await conn.execute("DELETE FROM products WHERE org_id = $1 AND id = $2", org_id, product_id)


async def set_product_enabled(
    conn: asyncpg.Connection, org_id: UUID, product_id: UUID, enabled: bool
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"UPDATE products SET enabled = $3 WHERE org_id = $1 AND id = $2 RETURNING {PRODUCT_COLUMNS}",
        org_id,
        product_id,
        enabled,
    )
    if row is None:
        raise NotFound("product", "productId")
    return dict(row)


async def integration_product_ids(conn: asyncpg.Connection, org_id: UUID, integration_id: UUID) -> list[UUID]:
    """The integration's products, locked, in their current order."""
    rows = await conn.fetch(
        "SELECT id FROM products WHERE org_id = $1 AND integration_id = $2 ORDER BY position, name, id FOR UPDATE",
        org_id,
        integration_id,
    )
    return [r["id"] for r in rows]


async def set_positions(conn: asyncpg.Connection, org_id: UUID, product_ids: list[UUID]) -> None:
    """Each product's position is its index in `product_ids`."""
    await conn.execute(
        "UPDATE products p SET position = o.n - 1 FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, n)"
        " WHERE p.org_id = $1 AND p.id = o.id AND p.position IS DISTINCT FROM (o.n - 1)::integer",
        org_id,
        product_ids,
    )


# --- integrations -----------------------------------------------------------------------


async def create_integration(
    conn: asyncpg.Connection, org_id: UUID, name: str, channel: str, category_ids: list[UUID]
) -> tuple[dict[str, Any], str]:
    await _check_categories(conn, org_id, category_ids)
    key, key_hash, prefix = new_api_key()
    try:
        integration_id = await conn.fetchval(
            "INSERT INTO integrations (org_id, name, channel, api_key_hash, api_key_prefix) VALUES ($1, $2, $3, $4, $5)"
            " RETURNING id",
            org_id,
            name,
            channel,
            key_hash,
            prefix,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(ErrorCode.DUPLICATE_NAME, "an integration with this name already exists", "name") from None
    await conn.executemany(
        "INSERT INTO integration_categories (org_id, integration_id, category_id) VALUES ($1, $2, $3)",
        [(org_id, integration_id, c) for c in dict.fromkeys(category_ids)],
    )
    return await get_integration(conn, org_id, integration_id), key


async def get_integration(conn: asyncpg.Connection, org_id: UUID, integration_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {INTEGRATION_COLUMNS} FROM integrations i WHERE i.org_id = $1 AND i.id = $2", org_id, integration_id
    )
    if row is None:
        raise NotFound("integration")
    return dict(row)


async def update_integration(
    conn: asyncpg.Connection,
    org_id: UUID,
    integration_id: UUID,
    *,
    name: str | None,
    channel: str | None,
    category_ids: list[UUID] | None,
) -> dict[str, Any]:
    if (
        await conn.fetchval(
            "SELECT 1 FROM integrations WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, integration_id
        )
        is None
    ):
        raise NotFound("integration")
    try:
        await conn.execute(
            "UPDATE integrations SET name = coalesce($2, name), channel = coalesce($3, channel), updated_at = now()"
            " WHERE id = $1",
            integration_id,
            name,
            channel,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(ErrorCode.DUPLICATE_NAME, "an integration with this name already exists", "name") from None
    if category_ids is not None:
        await _check_categories(conn, org_id, category_ids)
        in_use = await conn.fetchval(
            "SELECT count(DISTINCT category_id) FROM products"
            " WHERE integration_id = $1 AND NOT (category_id = ANY($2))",
            integration_id,
            category_ids,
        )
        if in_use:
            raise DomainError(
                ErrorCode.CATEGORY_IN_USE, "a removed category still has products in this integration", "categoryIds"
            )
        await conn.execute("DELETE FROM integration_categories WHERE integration_id = $1", integration_id)
        await conn.executemany(
            "INSERT INTO integration_categories (org_id, integration_id, category_id) VALUES ($1, $2, $3)",
            [(org_id, integration_id, c) for c in dict.fromkeys(category_ids)],
        )
    return await get_integration(conn, org_id, integration_id)


async def rotate_key(conn: asyncpg.Connection, org_id: UUID, integration_id: UUID) -> tuple[dict[str, Any], str]:
    key, key_hash, prefix = new_api_key()
    updated = await conn.fetchval(
        "UPDATE integrations SET api_key_hash = $3, api_key_prefix = $4, key_rotated_at = now(), updated_at = now()"
        " WHERE org_id = $1 AND id = $2 RETURNING id",
        org_id,
        integration_id,
        key_hash,
        prefix,
    )
    if updated is None:
        raise NotFound("integration")
    return await get_integration(conn, org_id, integration_id), key


async def list_integrations(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {INTEGRATION_COLUMNS} FROM integrations i WHERE i.org_id = $1 ORDER BY i.name, i.id", org_id
    )
    return [dict(r) for r in rows]


async def integrations_by_ids(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {INTEGRATION_COLUMNS} FROM integrations i WHERE i.org_id = $1 AND i.id = ANY($2)", org_id, ids
    )
    return [dict(r) for r in rows]
