"""Types every domain uses: money, pages, date ranges, enums."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry

from services.gateway.graphql.errors import ErrorCode, PublicError
from shared import presets
from shared.presets import DatePreset


@strawberry.type(description="An amount with its ISO 4217 currency; amounts of different currencies are never added.")
class Money:
    amount: Decimal
    currency: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


# Registered in place, so that the shared enum itself is the GraphQL type.
strawberry.enum(
    presets.DatePreset,
    description="Standard ranges in whole days of the organisation's time zone: "
    + "; ".join(f"{p.value}: {d}" for p, d in presets.PRESET_DESCRIPTIONS.items())
    + ".",
)


@strawberry.input(description="Either a preset or from/to dates (inclusive) in the organisation's time zone.")
class DateRangeInput:
    from_: dt.date | None = strawberry.field(default=None, name="from")
    to: dt.date | None = None
    preset: DatePreset | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.from_ is not None:
            out["from"] = self.from_.isoformat()
        if self.to is not None:
            out["to"] = self.to.isoformat()
        if self.preset is not None:
            out["preset"] = self.preset.value
        return out


def check_page(first: int, max_page_size: int) -> None:
    if first < 1 or first > max_page_size:
        raise PublicError(f"first: must be between 1 and {max_page_size}", ErrorCode.INVALID_PAGE_SIZE, "first")
