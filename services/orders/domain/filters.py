"""List filters shared by the orders list, the summary and the exports.

One filter type for all three is what makes every number drill down exactly: the summary
and the export answer for precisely the rows the list pages through.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.orders.domain.commission import CommStatus, Status

MAX_FILTER_IDS = 100


class Preset(StrEnum):
    TODAY = "TODAY"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
    LAST_90_DAYS = "LAST_90_DAYS"


_PRESET_DAYS = {Preset.TODAY: 1, Preset.LAST_7_DAYS: 7, Preset.LAST_30_DAYS: 30, Preset.LAST_90_DAYS: 90}


class DateRange(BaseModel):
    """Whole days in the organisation's time zone, `to` inclusive; or a preset."""

    model_config = ConfigDict(extra="forbid")
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    preset: Preset | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.preset and (self.from_ or self.to):
            raise ValueError("give either a preset or from/to, not both")
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        return self

    def days(self, time_zone: str, now: datetime | None = None) -> tuple[date | None, date | None]:
        if self.preset:
            today = (now or datetime.now(tz=ZoneInfo("UTC"))).astimezone(ZoneInfo(time_zone)).date()
            return today - timedelta(days=_PRESET_DAYS[self.preset] - 1), today
        return self.from_, self.to


Ids = Annotated[list[UUID], Field(max_length=MAX_FILTER_IDS)]


class OrderFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    range: DateRange | None = None
    category_ids: Ids = Field(default_factory=list, alias="categoryIds")
    integration_ids: Ids = Field(default_factory=list, alias="integrationIds")
    statuses: list[Status] = Field(default_factory=list, max_length=3)
    comm_statuses: list[CommStatus] = Field(default_factory=list, alias="commStatuses", max_length=3)
    customer_id: UUID | None = Field(default=None, alias="customerId")
    search: str | None = Field(default=None, max_length=200)

    @property
    def rollup_compatible(self) -> bool:
        """Whether the daily rollup can answer this filter (no per-row predicates)."""
        return self.customer_id is None and not self.search


class CustomerKind(StrEnum):
    generic = "generic"
    anonymous = "anonymous"


class CustomerFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    search: str | None = Field(default=None, max_length=200)
    kind: CustomerKind | None = None
    integration_ids: Ids = Field(default_factory=list, alias="integrationIds")
    range: DateRange | None = None
