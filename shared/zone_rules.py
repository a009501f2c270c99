"""One source of time-zone rules: the project's pinned `tzdata` package (uv.lock).

Python's `zoneinfo` reads the system's zone folders (`zoneinfo.TZPATH`, e.g. /usr/share/zoneinfo)
before the tzdata package, so on a machine whose system rules are older than the package's it would
not use the pinned rules. Importing this module empties the search path: every `ZoneInfo` of the
process then comes from the package. The embedded PostgreSQL's zone folder is brought in line with
the same files before it starts (`infra.embedded.sync_zone_rules`), and for a PostgreSQL the project
does not start, zones whose offsets differ from these rules at `sample_instants()` are refused
(`services.orders.service.organisation`).
"""

from __future__ import annotations

import functools
import importlib.util
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

try:
    import tzdata

    IANA_VERSION: str | None = tzdata.IANA_VERSION
except ImportError:  # not installed: Python keeps the system's rules, and nothing is synchronised
    IANA_VERSION = None

# Days of rollups kept (25 months) behind today, and a year ahead (orders dated in the future,
# next year's daylight-saving changes): the window in which two sets of rules must agree.
MONTHS_BACK = 25
MONTHS_AHEAD = 12


def use_tzdata_package() -> None:
    """Every `ZoneInfo` (and `available_timezones()`) from the tzdata package, never the system's folders."""
    if IANA_VERSION is not None:
        zoneinfo.reset_tzpath(to=())
        zoneinfo.ZoneInfo.clear_cache()


use_tzdata_package()


@functools.cache
def known_zones() -> frozenset[str]:
    """Every zone name the rules define (with `posix/`, `right/`, `localtime` if the package had them)."""
    return frozenset(zoneinfo.available_timezones())


def tzif_files() -> dict[str, Path]:
    """The compiled zone files of the tzdata package by zone name ("America/Asuncion"), only real
    TZif files (the package's folders also hold `__init__.py`, `zone.tab`, `tzdata.zi` ...)."""
    spec = importlib.util.find_spec("tzdata")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations))) / "zoneinfo"
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith((".", "_")):
            with path.open("rb") as f:
                if f.read(4) == b"TZif":
                    found[path.relative_to(root).as_posix()] = path
    return found


def sample_instants(today: date | None = None) -> list[datetime]:
    """Noon UTC on the 1st and 15th of each month, `MONTHS_BACK` months before today to `MONTHS_AHEAD` after."""
    today = today or datetime.now(UTC).date()
    first = today.year * 12 + today.month - 1 - MONTHS_BACK
    instants = []
    for m in range(first, first + MONTHS_BACK + MONTHS_AHEAD + 1):
        year, month = divmod(m, 12)
        instants += [datetime(year, month + 1, day, 12, tzinfo=UTC) for day in (1, 15)]
    return instants


def python_offsets(zone: str, instants: Sequence[datetime]) -> list[int]:
    """The zone's UTC offset at each instant, in seconds, by Python's rules."""
    tz = zoneinfo.ZoneInfo(zone)
    return [int(t.astimezone(tz).utcoffset().total_seconds()) for t in instants]  # type: ignore[union-attr]


def differing_zones(database_offsets: Mapping[str, Sequence[int]], instants: Sequence[datetime]) -> frozenset[str]:
    """Zones Python knows whose offsets at `instants` (seconds, in that order) differ from Python's rules."""
    return frozenset(
        zone
        for zone, offsets in database_offsets.items()
        if zone in known_zones() and list(offsets) != python_offsets(zone, instants)
    )
