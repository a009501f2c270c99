"""Integrations (collections of products per channel), categories and products."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.common import Money
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import UserError, user_errors
from services.gateway.graphql.organisation import require_admin


@strawberry.enum
class Channel(Enum):
    WEB = "web"
    MOBILE = "mobile"
    API = "api"
    PARTNER = "partner"


@strawberry.type
class Category:
    id: strawberry.ID
    name: str

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Category:
        return cls(id=strawberry.ID(str(r["id"])), name=r["name"])


async def _category(info: Info[Context, None], category_id: str) -> Category | None:
    """A product's category, through the request's category loader (one call per request)."""
    row = await info.context.loader("orders", "categories").load(category_id)
    return Category.from_row(row) if row else None


@strawberry.type(description="A service provider of the organisation's network (created by the operator).")
class Provider:
    id: strawberry.ID
    name: str
    public_id: str = strawberry.field(description="Its webhook path: /webhooks/providers/<publicId>/commission.")

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Provider:
        return cls(id=strawberry.ID(str(r["id"])), name=r["name"], public_id=r["public_id"])


@strawberry.type
class Integration:
    id: strawberry.ID
    name: str
    channel: Channel
    api_key_prefix: str = strawberry.field(description="The first characters of the API key, to tell keys apart.")
    key_rotated_at: dt.datetime
    created_at: dt.datetime
    category_ids: strawberry.Private[list[str]]

    @strawberry.field
    async def categories(self, info: Info[Context, None]) -> list[Category]:
        rows = await info.context.loader("orders", "categories").load_many(self.category_ids)
        return [Category.from_row(r) for r in rows if r is not None]

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Integration:
        return cls(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            channel=Channel(r["channel"]),
            api_key_prefix=r["api_key_prefix"],
            key_rotated_at=dt.datetime.fromisoformat(r["key_rotated_at"]),
            created_at=dt.datetime.fromisoformat(r["created_at"]),
            category_ids=[str(c) for c in r["category_ids"]],
        )


@strawberry.enum(
    description="How a customer reaches the product: a journey embedded in the integration, or an affiliate link."
)
class JourneyType(Enum):
    EMBEDDED = "embedded"
    AFFILIATE = "affiliate"


@strawberry.type
class Product:
    id: strawberry.ID
    name: str
    commission_rate: Money
    integration_id: strawberry.ID
    journey_type: JourneyType
    success_definition: str | None = strawberry.field(
        description="What counts as success for this product's journey (e.g. account opened, card issued)."
    )
    enabled: bool = strawberry.field(
        description="Switched on: offered by the integration (its config lists it and it takes orders)."
    )
    position: int = strawberry.field(description="Its place in the integration's order (0 first).")
    catalogue_product_id: strawberry.ID | None = strawberry.field(
        description="The catalogue entry it was added from; null for a product the operator created directly."
    )
    category_id: strawberry.Private[str]

    @strawberry.field
    async def category(self, info: Info[Context, None]) -> Category | None:
        return await _category(info, self.category_id)

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Product:
        return cls(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            commission_rate=Money(amount=Decimal(r["commission_rate"]), currency=r["currency"]),
            integration_id=strawberry.ID(str(r["integration_id"])),
            journey_type=JourneyType(r["journey_type"]),
            success_definition=r["success_definition"],
            enabled=r.get("enabled", True),
            position=r.get("position", 0),
            catalogue_product_id=(
                strawberry.ID(str(r["catalogue_product_id"])) if r.get("catalogue_product_id") else None
            ),
            category_id=str(r["category_id"]),
        )


@strawberry.type(
    description="A product of the organisation's provider catalogue (created by the operator); admins add it to"
    " integrations with addProductToIntegration."
)
class CatalogueProduct:
    id: strawberry.ID
    name: str
    commission_rate: Money
    journey_type: JourneyType
    success_definition: str | None
    provider: Provider
    category_id: strawberry.Private[str]

    @strawberry.field
    async def category(self, info: Info[Context, None]) -> Category | None:
        return await _category(info, self.category_id)

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> CatalogueProduct:
        return cls(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            commission_rate=Money(amount=Decimal(r["commission_rate"]), currency=r["currency"]),
            journey_type=JourneyType(r["journey_type"]),
            success_definition=r["success_definition"],
            provider=Provider(
                id=strawberry.ID(str(r["provider_id"])), name=r["provider_name"], public_id=r["provider_public_id"]
            ),
            category_id=str(r["category_id"]),
        )


@strawberry.type
class ProductPayload:
    product: Product | None
    errors: list[UserError]


@strawberry.type
class RemoveProductPayload:
    removed: bool
    errors: list[UserError]


@strawberry.type
class ReorderProductsPayload:
    products: list[Product] | None = strawberry.field(description="The integration's products in their new order.")
    errors: list[UserError]


@strawberry.input
class IntegrationInput:
    name: str
    channel: Channel
    category_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input
class IntegrationChangeInput:
    name: str | None = None
    channel: Channel | None = None
    category_ids: list[strawberry.ID] | None = None


@strawberry.type
class IntegrationPayload:
    integration: Integration | None
    api_key: str | None = strawberry.field(description="The new API key: shown only in this response, stored hashed.")
    errors: list[UserError]


@strawberry.type
class CatalogueQuery:
    @strawberry.field
    async def providers(self, info: Info[Context, None]) -> list[Provider]:
        return [Provider.from_row(r) for r in await info.context.call("orders", "GET", "/internal/providers")]

    @strawberry.field
    async def integrations(self, info: Info[Context, None]) -> list[Integration]:
        return [Integration.from_row(r) for r in await info.context.call("orders", "GET", "/internal/integrations")]

    @strawberry.field
    async def categories(self, info: Info[Context, None]) -> list[Category]:
        return [Category.from_row(r) for r in await info.context.call("orders", "GET", "/internal/categories")]

    @strawberry.field(description="The organisation's provider catalogue: what admins can add to integrations.")
    async def catalogue_products(self, info: Info[Context, None]) -> list[CatalogueProduct]:
        rows = await info.context.call("orders", "GET", "/internal/catalogue-products")
        return [CatalogueProduct.from_row(r) for r in rows]

    @strawberry.field(
        description="Products; with integrationId, that integration's in its order (switched-off ones included)."
    )
    async def products(self, info: Info[Context, None], integration_id: strawberry.ID | None = None) -> list[Product]:
        params = {"integrationId": str(parse_id(integration_id, "integrationId"))} if integration_id else None
        rows = await info.context.call("orders", "GET", "/internal/products", params=params)
        return [Product.from_row(r) for r in rows]


def _ids(values: list[strawberry.ID] | None, field: str) -> list[str] | None:
    return None if values is None else [str(parse_id(v, field)) for v in values]


@strawberry.type
class CatalogueMutation:
    @strawberry.mutation(description="Admins only. The API key is returned once.")
    async def create_integration(self, info: Info[Context, None], input: IntegrationInput) -> IntegrationPayload:
        require_admin(info)
        body = {
            "name": input.name,
            "channel": input.channel.value,
            "categoryIds": _ids(input.category_ids, "categoryIds"),
        }
        try:
            result = await info.context.call("orders", "POST", "/internal/integrations", json=body)
        except ServiceError as exc:
            return IntegrationPayload(integration=None, api_key=None, errors=user_errors(exc))
        return IntegrationPayload(
            integration=Integration.from_row(result["integration"]), api_key=result["api_key"], errors=[]
        )

    @strawberry.mutation(description="Admins only.")
    async def update_integration(
        self, info: Info[Context, None], id: strawberry.ID, input: IntegrationChangeInput
    ) -> IntegrationPayload:
        require_admin(info)
        iid = parse_id(id, "id")
        body = {
            k: v
            for k, v in {
                "name": input.name,
                "channel": input.channel.value if input.channel else None,
                "categoryIds": _ids(input.category_ids, "categoryIds"),
            }.items()
            if v is not None
        }
        try:
            row = await info.context.call("orders", "PATCH", f"/internal/integrations/{iid}", json=body)
        except ServiceError as exc:
            return IntegrationPayload(integration=None, api_key=None, errors=user_errors(exc))
        return IntegrationPayload(integration=Integration.from_row(row), api_key=None, errors=[])

    @strawberry.mutation(description="Admins only. The old key stops working at once; the new one is returned once.")
    async def rotate_integration_key(self, info: Info[Context, None], id: strawberry.ID) -> IntegrationPayload:
        require_admin(info)
        iid = parse_id(id, "id")
        try:
            result = await info.context.call("orders", "POST", f"/internal/integrations/{iid}/rotate-key")
        except ServiceError as exc:
            return IntegrationPayload(integration=None, api_key=None, errors=user_errors(exc))
        return IntegrationPayload(
            integration=Integration.from_row(result["integration"]), api_key=result["api_key"], errors=[]
        )

    @strawberry.mutation(
        description="Admins only. Adds a catalogue product to the integration: last in its order, switched on."
    )
    async def add_product_to_integration(
        self, info: Info[Context, None], integration_id: strawberry.ID, catalogue_product_id: strawberry.ID
    ) -> ProductPayload:
        require_admin(info)
        iid = parse_id(integration_id, "integrationId")
        body = {"catalogueProductId": str(parse_id(catalogue_product_id, "catalogueProductId"))}
        try:
            row = await info.context.call("orders", "POST", f"/internal/integrations/{iid}/products", json=body)
        except ServiceError as exc:
            return ProductPayload(product=None, errors=user_errors(exc))
        return ProductPayload(product=Product.from_row(row), errors=[])

    @strawberry.mutation(
        description="Admins only. Removes a product from its integration; a product with orders cannot be removed"
        " (switch it off with setProductEnabled instead)."
    )
    async def remove_product_from_integration(
        self, info: Info[Context, None], product_id: strawberry.ID
    ) -> RemoveProductPayload:
        require_admin(info)
        pid = parse_id(product_id, "productId")
        try:
            await info.context.call("orders", "DELETE", f"/internal/products/{pid}")
        except ServiceError as exc:
            return RemoveProductPayload(removed=False, errors=user_errors(exc))
        return RemoveProductPayload(removed=True, errors=[])

    @strawberry.mutation(
        description="Admins only. The integration's products in their new order: each of them exactly once."
    )
    async def reorder_integration_products(
        self, info: Info[Context, None], integration_id: strawberry.ID, product_ids: list[strawberry.ID]
    ) -> ReorderProductsPayload:
        require_admin(info)
        iid = parse_id(integration_id, "integrationId")
        body = {"productIds": _ids(product_ids, "productIds")}
        try:
            rows = await info.context.call("orders", "PUT", f"/internal/integrations/{iid}/products/order", json=body)
        except ServiceError as exc:
            return ReorderProductsPayload(products=None, errors=user_errors(exc))
        return ReorderProductsPayload(products=[Product.from_row(r) for r in rows], errors=[])

    @strawberry.mutation(
        description="Admins only. Switches a product on or off: a switched-off product leaves the integration's"
        " config and takes no new orders; its orders stay."
    )
    async def set_product_enabled(
        self, info: Info[Context, None], product_id: strawberry.ID, enabled: bool
    ) -> ProductPayload:
        require_admin(info)
        pid = parse_id(product_id, "productId")
        try:
            row = await info.context.call("orders", "PATCH", f"/internal/products/{pid}", json={"enabled": enabled})
        except ServiceError as exc:
            return ProductPayload(product=None, errors=user_errors(exc))
        return ProductPayload(product=Product.from_row(row), errors=[])
