from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.orders.repository import catalogue
from services.orders.service import catalogue as curation
from services.orders.service.audit import AuditAction, record
from shared.db import system_tx
from shared.errors import DomainError, ErrorCode, NotFound
from shared.secrets import SecretKeyError, secret_box
from shared.service.endpoint import Call, TenantCall, system_endpoint, tenant_endpoint
from shared.text import PlainText

MAX_BATCH = 500

log = logging.getLogger(__name__)
# Key problems already logged by this process: one line each, not one per webhook (providers retry).
_reported_key_problems: set[str] = set()


class Ids(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[UUID] = Field(max_length=MAX_BATCH)


class NewIntegration(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: PlainText = Field(min_length=1, max_length=200)
    channel: str = Field(pattern="^(web|mobile|api|partner)$")
    category_ids: list[UUID] = Field(default_factory=list, alias="categoryIds", max_length=50)


class IntegrationChange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: PlainText | None = Field(default=None, min_length=1, max_length=200)
    channel: str | None = Field(default=None, pattern="^(web|mobile|api|partner)$")
    category_ids: list[UUID] | None = Field(default=None, alias="categoryIds", max_length=50)


class AddProduct(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    catalogue_product_id: UUID = Field(alias="catalogueProductId")


class ProductOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    product_ids: list[UUID] = Field(alias="productIds", max_length=MAX_BATCH)


class ProductSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


@tenant_endpoint()
async def list_categories(call: TenantCall) -> Any:
    return await catalogue.list_categories(call.conn, call.org_id)


@tenant_endpoint(providers=True)  # category names only; a provider user's orders show them
async def categories_batch(call: TenantCall) -> Any:
    return await catalogue.categories_by_ids(call.conn, call.org_id, call.parse(Ids).ids)


@tenant_endpoint()
async def list_integrations(call: TenantCall) -> Any:
    return await catalogue.list_integrations(call.conn, call.org_id)


@tenant_endpoint()
async def integrations_batch(call: TenantCall) -> Any:
    return await catalogue.integrations_by_ids(call.conn, call.org_id, call.parse(Ids).ids)


@tenant_endpoint(admin=True)
async def create_integration(call: TenantCall) -> Any:
    body = call.parse(NewIntegration)
    integration, key = await catalogue.create_integration(
        call.conn, call.org_id, body.name, body.channel, body.category_ids
    )
    await record(call, AuditAction.INTEGRATION_CREATED, integration["id"], body.model_dump(exclude_unset=True))
    return {"integration": integration, "api_key": key}


@tenant_endpoint(admin=True)
async def update_integration(call: TenantCall) -> Any:
    body = call.parse(IntegrationChange)
    integration = await catalogue.update_integration(
        call.conn,
        call.org_id,
        call.path_uuid("integration_id"),
        name=body.name,
        channel=body.channel,
        category_ids=body.category_ids,
    )
    await record(call, AuditAction.INTEGRATION_UPDATED, integration["id"], body.model_dump(exclude_unset=True))
    return integration


@tenant_endpoint(admin=True)
async def rotate_key(call: TenantCall) -> Any:
    integration, key = await catalogue.rotate_key(call.conn, call.org_id, call.path_uuid("integration_id"))
    await record(
        call, AuditAction.INTEGRATION_KEY_ROTATED, integration["id"], {"keyPrefix": integration["api_key_prefix"]}
    )
    return {"integration": integration, "api_key": key}


@tenant_endpoint()
async def list_products(call: TenantCall) -> Any:
    return await catalogue.list_products(call.conn, call.org_id, call.query_uuid("integrationId"))


@tenant_endpoint(providers=True)
async def products_batch(call: TenantCall) -> Any:
    return await catalogue.products_by_ids(call.conn, call.org_id, call.parse(Ids).ids, call.provider_id)


@tenant_endpoint()
async def list_catalogue_products(call: TenantCall) -> Any:
    return await catalogue.list_catalogue_products(call.conn, call.org_id)


@tenant_endpoint(admin=True)
async def add_integration_product(call: TenantCall) -> Any:
    body = call.parse(AddProduct)
    integration_id = call.path_uuid("integration_id")
    product = await curation.add_to_integration(call.conn, call.org_id, integration_id, body.catalogue_product_id)
    await record(
        call,
        AuditAction.INTEGRATION_PRODUCT_ADDED,
        integration_id,
        {"productId": product["id"], "catalogueProductId": body.catalogue_product_id, "name": product["name"]},
    )
    return product


@tenant_endpoint(admin=True)
async def reorder_integration_products(call: TenantCall) -> Any:
    body = call.parse(ProductOrder)
    integration_id = call.path_uuid("integration_id")
    products = await curation.reorder(call.conn, call.org_id, integration_id, body.product_ids)
    await record(call, AuditAction.INTEGRATION_PRODUCT_REORDERED, integration_id, {"productIds": body.product_ids})
    return products


@tenant_endpoint(admin=True)
async def remove_product(call: TenantCall) -> Any:
    product = await curation.remove_from_integration(call.conn, call.org_id, call.path_uuid("product_id"))
    await record(
        call,
        AuditAction.INTEGRATION_PRODUCT_REMOVED,
        product["integration_id"],
        {"productId": product["id"], "catalogueProductId": product["catalogue_product_id"], "name": product["name"]},
    )
    return {"removed": True, "product": product}


@tenant_endpoint(admin=True)
async def set_product_enabled(call: TenantCall) -> Any:
    body = call.parse(ProductSwitch)
    product = await curation.set_enabled(call.conn, call.org_id, call.path_uuid("product_id"), body.enabled)
    await record(
        call,
        AuditAction.INTEGRATION_PRODUCT_TOGGLED,
        product["integration_id"],
        {"productId": product["id"], "enabled": body.enabled},
    )
    return product


@tenant_endpoint()
async def list_providers(call: TenantCall) -> Any:
    return await catalogue.list_providers(call.conn, call.org_id)


@system_endpoint(callers=frozenset({"gateway"}))
async def provider_webhook_secret(call: Call) -> Any:
    """Webhook routing for the gateway: which organisation a provider endpoint belongs to, and its secret."""
    async with system_tx(call.pool) as conn:
        found = await catalogue.resolve_provider(conn, call.request.path_params["public_id"])
    if found is None:
        raise NotFound("provider", "provider")
    try:
        box = secret_box(call.service.settings)
        what = f"webhook secret of provider {found['provider_id']}"
        found["webhook_secret"] = box.reveal(found["webhook_secret"], what)
    except SecretKeyError as exc:
        # A configuration problem (SECRETS_ENCRYPTION_KEYS), not a bug: 503 so the provider retries once
        # it is fixed, no traceback, and one log line per problem and process.
        if str(exc) not in _reported_key_problems:
            _reported_key_problems.add(str(exc))
            log.error("provider webhook secrets unavailable: %s", exc)
        raise DomainError(
            ErrorCode.UNAVAILABLE, f"configuration problem: {exc}", "SECRETS_ENCRYPTION_KEYS", status=503
        ) from None
    return found


routes = [
    Route("/internal/categories", list_categories, methods=["GET"]),
    Route("/internal/categories/batch", categories_batch, methods=["POST"]),
    Route("/internal/integrations", list_integrations, methods=["GET"]),
    Route("/internal/integrations", create_integration, methods=["POST"]),
    Route("/internal/integrations/batch", integrations_batch, methods=["POST"]),
    Route("/internal/integrations/{integration_id}", update_integration, methods=["PATCH"]),
    Route("/internal/integrations/{integration_id}/rotate-key", rotate_key, methods=["POST"]),
    Route("/internal/integrations/{integration_id}/products", add_integration_product, methods=["POST"]),
    Route("/internal/integrations/{integration_id}/products/order", reorder_integration_products, methods=["PUT"]),
    Route("/internal/catalogue-products", list_catalogue_products, methods=["GET"]),
    Route("/internal/products", list_products, methods=["GET"]),
    Route("/internal/products/batch", products_batch, methods=["POST"]),
    Route("/internal/products/{product_id}", set_product_enabled, methods=["PATCH"]),
    Route("/internal/products/{product_id}", remove_product, methods=["DELETE"]),
    Route("/internal/providers", list_providers, methods=["GET"]),
    Route("/internal/providers/{public_id}/webhook-secret", provider_webhook_secret, methods=["GET"]),
]
