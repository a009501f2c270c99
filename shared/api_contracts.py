"""Names the gateway and a service's internal API must agree on, declared once.

Like the event contracts (`shared/messaging/contracts.py`), this is code services and the
gateway share about each other's APIs, never behaviour.
"""

from __future__ import annotations

from enum import StrEnum


class OrderRelation(StrEnum):
    """Rows the orders list can bring along with a page (`expand`), and the batch route of each.

    The value is the relation's field name on an order (`<value>_id` is its key column);
    `batch_kind` names the `/internal/<kind>/batch` route that loads the same rows by id.
    """

    CUSTOMER = "customer"
    INTEGRATION = "integration"
    CATEGORY = "category"
    PRODUCT = "product"

    @property
    def batch_kind(self) -> str:
        return _BATCH_KIND[self]


_BATCH_KIND = {
    OrderRelation.CUSTOMER: "customers",
    OrderRelation.INTEGRATION: "integrations",
    OrderRelation.CATEGORY: "categories",
    OrderRelation.PRODUCT: "products",
}
