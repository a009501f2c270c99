"""Only zones both Python and PostgreSQL know, by the same rules, are accepted; anything else names
`timeZone` and changes nothing."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.orders.domain.settings import python_zones
from services.orders.repository import organisations
from services.orders.service import organisation as organisation_service
from shared import zone_rules
from shared.db import tenant_tx
from tests.factories import create_order, create_tenant, gql
from tests.services.gateway.test_orders_graphql import SUMMARY

UPDATE = """mutation($tz: String!) { updateSettings(input: {timeZone: $tz}) {
  organisation { timeZone } errors { field code message } } }"""


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "posix/Europe/London", "right/UTC", "Europe", "Etc", "Factory", "x" * 256, ""]
)
async def test_names_that_are_not_organisation_zones_are_refused(gateway, tenant, zone: str) -> None:
    body = await gql(gateway, UPDATE, {"tz": zone}, token=tenant.admin_token)
    payload = body["data"]["updateSettings"]
    assert payload["organisation"] is None and [e["field"] for e in payload["errors"]] == ["timeZone"], payload
    org = (await gql(gateway, "{ organisation { timeZone } }", token=tenant.admin_token))["data"]["organisation"]
    assert org["timeZone"] == "Europe/London"


async def test_the_list_is_what_both_know_and_each_listed_zone_is_accepted(gateway, pool, tenant) -> None:
    zones = (await gql(gateway, "{ timeZones }", token=tenant.member_token))["data"]["timeZones"]
    assert "Europe/London" in zones and "Asia/Kolkata" in zones and "Pacific/Chatham" in zones
    assert not {"localtime", "posixrules", "Factory"} & set(zones)
    assert set(zones) <= python_zones()
    async with pool.acquire() as conn:
        database = {r["name"] for r in await conn.fetch("SELECT name FROM pg_timezone_names")}
    assert set(zones) <= database
    for zone in ("Pacific/Chatham", "America/Asuncion"):
        body = await gql(gateway, UPDATE, {"tz": zone}, token=tenant.admin_token)
        assert body["data"]["updateSettings"]["organisation"] == {"timeZone": zone}
    unknown_to_database = sorted(python_zones() - database)
    if unknown_to_database:  # Python's rules are newer than the server's: such a zone is refused by name
        body = await gql(gateway, UPDATE, {"tz": unknown_to_database[0]}, token=tenant.admin_token)
        assert [e["field"] for e in body["data"]["updateSettings"]["errors"]] == ["timeZone"]


# Paraguay: UTC−3 all year since tzdata 2024b; older rules (those the pgserver wheel was built with)
# put it at UTC−4 from late March to early October.
ASUNCION = "America/Asuncion"


async def test_a_zone_whose_rules_changed_recently_has_the_same_days_in_python_and_the_database(
    gateway, pool, issuer
) -> None:
    local_midnight = datetime(2026, 7, 1, tzinfo=ZoneInfo(ASUNCION))
    assert local_midnight.utcoffset() == timedelta(hours=-3)
    async with pool.acquire() as conn:
        in_database = await conn.fetchval("SELECT $1::timestamp AT TIME ZONE $2", datetime(2026, 7, 1), ASUNCION)
    assert in_database == local_midnight == datetime(2026, 7, 1, 3, tzinfo=UTC)

    t = await create_tenant(pool, issuer, time_zone=ASUNCION)
    await create_order(pool, t, created_at=datetime(2026, 7, 1, 0, 30, tzinfo=ZoneInfo(ASUNCION)))
    async with tenant_tx(pool, t.org_id) as conn:
        days = await conn.fetch(
            "SELECT day, sum(orders) AS n FROM order_rollups_daily WHERE org_id = $1 GROUP BY day", t.org_id
        )
    assert {r["day"]: r["n"] for r in days} == {date(2026, 7, 1): 1}
    for day, expected in (("2026-06-30", 0), ("2026-07-01", 1)):
        body = await gql(gateway, SUMMARY, {"f": {"range": {"from": day, "to": day}}}, token=t.admin_token)
        assert body["data"]["ordersSummary"]["totalOrders"] == expected, (day, body)


def _offsets_with_old_paraguay(instants: list[datetime]) -> dict[str, list[int]]:
    """What a server with pre-2024b rules answers: Asuncion at UTC−4 in the southern winter."""
    offsets = {z: zone_rules.python_offsets(z, instants) for z in ("Europe/London", "Asia/Kolkata", ASUNCION)}
    offsets[ASUNCION] = [
        -4 * 3600 if 4 <= t.month <= 9 else o for t, o in zip(instants, offsets[ASUNCION], strict=True)
    ]
    offsets["Etc/Unknown-To-Python"] = [0] * len(instants)
    return offsets


def test_a_zone_whose_offsets_differ_is_excluded_from_the_accepted_list() -> None:
    instants = zone_rules.sample_instants(date(2026, 11, 30))
    assert len(instants) == 2 * (25 + 12 + 1) and instants[0] == datetime(2024, 10, 1, 12, tzinfo=UTC)
    support = organisation_service.ZoneSupport.compare(_offsets_with_old_paraguay(instants), instants)
    assert support.differing == {ASUNCION}
    assert support.accepted == ("Asia/Kolkata", "Europe/London")


async def test_with_a_database_whose_rules_differ_the_zone_is_not_listed_and_is_refused_naming_time_zone(
    gateway, tenant, monkeypatch, caplog
) -> None:
    real = organisations.database_zone_offsets

    async def older_rules(conn, instants):
        offsets = await real(conn, instants)
        offsets[ASUNCION] = _offsets_with_old_paraguay(instants)[ASUNCION]
        return offsets

    monkeypatch.setattr(organisations, "database_zone_offsets", older_rules)
    monkeypatch.setattr(organisation_service, "_zone_support", None)  # this process's cache: compared afresh
    with caplog.at_level(logging.WARNING, logger=organisation_service.__name__):
        zones = (await gql(gateway, "{ timeZones }", token=tenant.member_token))["data"]["timeZones"]
        body = await gql(gateway, UPDATE, {"tz": ASUNCION}, token=tenant.admin_token)
        await gql(gateway, "{ timeZones }", token=tenant.member_token)
    assert ASUNCION not in zones and "Europe/London" in zones and "America/Sao_Paulo" in zones
    payload = body["data"]["updateSettings"]
    assert payload["organisation"] is None and [e["field"] for e in payload["errors"]] == ["timeZone"], payload
    assert "zone rules differ" in payload["errors"][0]["message"] and "tzdata" in payload["errors"][0]["message"]
    org = (await gql(gateway, "{ organisation { timeZone } }", token=tenant.admin_token))["data"]["organisation"]
    assert org["timeZone"] == "Europe/London"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and ASUNCION in warnings[0], warnings
