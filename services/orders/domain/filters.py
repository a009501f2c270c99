"""List filters shared by the orders list, the summary and the exports.

One filter type for all three is what makes every number drill down exactly: the summary
and the export answer for precisely the rows the list pages through.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.orders.domain.commission import CommStatus, Status
from shared.errors import Forbidden
from shared.presets import DateRange

MAX_FILTER_IDS = 100


Ids = Annotated[list[UUID], Field(max_length=MAX_FILTER_IDS)]


class OrderKind(StrEnum):
    """The seed's "each order or sign-up": what the customer did through the integration."""

    order = "order"
    sign_up = "sign_up"


class OrderFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    range: DateRange | None = None
    category_ids: Ids = Field(default_factory=list, alias="categoryIds")
    integration_ids: Ids = Field(default_factory=list, alias="integrationIds")
    provider_ids: Ids = Field(default_factory=list, alias="providerIds")
    statuses: list[Status] = Field(default_factory=list, max_length=3)
    comm_statuses: list[CommStatus] = Field(default_factory=list, alias="commStatuses", max_length=3)
    customer_id: UUID | None = Field(default=None, alias="customerId")
    search: str | None = Field(default=None, max_length=200)
    kinds: list[OrderKind] = Field(default_factory=list, max_length=2)
    # Orders of the segment's customers (the event-fed copy of the insights service's segments).
    segment_id: UUID | None = Field(default=None, alias="segmentId")

    @property
    def rollup_compatible(self) -> bool:
        """Whether the daily rollup can answer this filter (no per-row predicates)."""
        return (
            self.customer_id is None
            and not self.search
            and not self.kinds
            and not self.provider_ids
            and self.segment_id is None
        )

    def for_provider(self, provider_id: UUID | None) -> OrderFilter:
        """This filter as a provider user may run it: their provider's orders only. Asking for other
        providers is refused naming the field (an empty answer would read as "no orders")."""
        if provider_id is None:
            return self
        if self.provider_ids and self.provider_ids != [provider_id]:
            raise Forbidden("provider users see their own provider's orders only", "filter.providerIds")
        return self.model_copy(update={"provider_ids": [provider_id]})


class CustomerKind(StrEnum):
    generic = "generic"
    anonymous = "anonymous"


class CustomerFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    search: str | None = Field(default=None, max_length=200)
    kind: CustomerKind | None = None
    integration_ids: Ids = Field(default_factory=list, alias="integrationIds")
    range: DateRange | None = None
    segment_id: UUID | None = Field(default=None, alias="segmentId")


class AuditFilter(BaseModel):
    """Which audit entries an export holds: all, or only these actions."""

    model_config = ConfigDict(extra="forbid")
    actions: list[str] = Field(default_factory=list, max_length=20)
