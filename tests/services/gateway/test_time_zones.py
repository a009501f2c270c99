"""Only zones both Python and PostgreSQL know are accepted; anything else names `timeZone` and changes nothing."""

from __future__ import annotations

import pytest

from services.orders.domain.settings import python_zones
from tests.factories import gql

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
