"""Validation of organisation settings (what the Settings page edits)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
# ISO 4217 codes the platform accepts; amounts are never converted between them.
CURRENCIES = frozenset(
    {
        "GBP",
        "EUR",
        "USD",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "AUD",
        "CAD",
        "NZD",
        "JPY",
        "SGD",
        "HKD",
        "ZAR",
        "AED",
        "INR",
    }
)


def _url(value: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or ("." not in parts.hostname and parts.hostname != "localhost")
    ):
        raise ValueError("must be an absolute http(s) URL with a host name")
    if len(value) > 2000:
        raise ValueError("must be at most 2000 characters")
    return value


def _colour(value: str) -> str:
    if not _HEX.match(value):
        raise ValueError("must be a hex colour like #1E5EFF")
    return value.upper()


def _currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError("must be a supported ISO 4217 currency code")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/London") from None
    return value


Url = Annotated[str, AfterValidator(_url)]
Colour = Annotated[str, AfterValidator(_colour)]
Currency = Annotated[str, AfterValidator(_currency)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    marketplace_url: Url | None = Field(default=None, alias="marketplaceUrl")
    primary_colour: Colour | None = Field(default=None, alias="primaryColour")
    base_currency: Currency | None = Field(default=None, alias="baseCurrency")
    time_zone: TimeZone | None = Field(default=None, alias="timeZone")
