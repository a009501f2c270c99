"""Segments: what a dynamic segment's saved customer filter may say, validated before anything is stored.

A dynamic segment's definition is a customer filter over what the insights service knows of customers, every
condition ANDed:

- `integrationIds`: visited at least one of these integrations (ever: `customer_firsts`);
- `firstSeen` / `lastSeen`: the organisation-local day the customer was first / last active falls in the range
  (from/to or a preset, resolved in the organisation's time zone at each recompute: `LAST_7_DAYS` moves);
- `events`: for each, "did event `type` at least `atLeast` times in the last `lastDays` days", optionally only
  those of one `categoryId` / `integrationId`. `type` is a catalogue type (or a custom behaviour type);
  `lastDays` is at most the raw events' retention (90 days), since the count is read from raw events.

Unknown fields are refused (pydantic `extra="forbid"`), naming the field, as are unknown event types; a
definition with no condition at all is refused (it would be "every customer", which the list already is).
The definition is stored as given (camelCase JSON) and parsed again at every recompute.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.insights.domain import catalogue
from shared.errors import DomainError, ErrorCode
from shared.presets import DateRange

RAW_RETENTION_DAYS = 90
MAX_EVENT_CONDITIONS = 10
MAX_IDS = 100
MAX_STATIC_MEMBERS = 100_000


class SegmentKind(StrEnum):
    DYNAMIC = "dynamic"
    STATIC = "static"


class EventCondition(BaseModel):
    """Did event `type` at least `atLeast` times in the last `lastDays` days (rolling, from now)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Annotated[str, Field(min_length=1, max_length=100)]
    at_least: int = Field(default=1, ge=1, le=1_000_000, alias="atLeast")
    last_days: int = Field(ge=1, le=RAW_RETENTION_DAYS, alias="lastDays")
    category_id: UUID | None = Field(default=None, alias="categoryId")
    integration_id: UUID | None = Field(default=None, alias="integrationId")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if catalogue.lookup(value) is None:
            raise ValueError(f"unknown event type {value!r}; eventTypes lists them")
        return value


class Definition(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    integration_ids: list[UUID] = Field(default_factory=list, max_length=MAX_IDS, alias="integrationIds")
    first_seen: DateRange | None = Field(default=None, alias="firstSeen")
    last_seen: DateRange | None = Field(default=None, alias="lastSeen")
    events: list[EventCondition] = Field(default_factory=list, max_length=MAX_EVENT_CONDITIONS)

    @model_validator(mode="after")
    def _some_condition(self) -> Self:
        if not (self.integration_ids or self.first_seen or self.last_seen or self.events):
            raise ValueError("a dynamic segment needs at least one condition")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def parse_definition(raw: Any, field: str = "definition") -> Definition:
    """The definition, or a DomainError naming the first field at fault (`definition.events.0.type`)."""
    if not isinstance(raw, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "must be an object", field)
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise DomainError(ErrorCode.INVALID_INPUT, first["msg"], f"{field}.{loc}" if loc else field) from None
