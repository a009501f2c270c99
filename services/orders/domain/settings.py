"""Validation of organisation settings (what the Settings page edits)."""

from __future__ import annotations

import functools
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.money import CURRENCIES
from shared.text import PlainText
from shared.zone_rules import known_zones

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


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


# Names Python's zone database lists that are not zones an organisation can be in: the machine's own
# zone (whatever the server happens to be set to), aliases of POSIX rules, and the placeholder zone.
_NOT_ORGANISATION_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def python_zones() -> frozenset[str]:
    """IANA zones Python knows (the pinned tzdata package: `shared.zone_rules`), less files that are not real zones."""
    return frozenset(
        z for z in known_zones() if z not in _NOT_ORGANISATION_ZONES and not z.startswith(("posix/", "right/"))
    )


def _time_zone(value: str) -> str:
    # Checked against the list, never by opening the name as a file: "Europe" is a folder, and a
    # 256-character name is not worth a file-system lookup. PostgreSQL must know the zone too: the
    # service checks that before saving (the database computes day buckets with it).
    if len(value) > 64 or value not in python_zones():
        raise ValueError("must be an IANA time zone such as Europe/London (the timeZones query lists them)")
    return value


Url = Annotated[str, AfterValidator(_url)]
Colour = Annotated[str, AfterValidator(_colour)]
Currency = Annotated[str, AfterValidator(_currency)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: PlainText | None = Field(default=None, min_length=1, max_length=200)
    marketplace_url: Url | None = Field(default=None, alias="marketplaceUrl")
    primary_colour: Colour | None = Field(default=None, alias="primaryColour")
    base_currency: Currency | None = Field(default=None, alias="baseCurrency")
    time_zone: TimeZone | None = Field(default=None, alias="timeZone")
