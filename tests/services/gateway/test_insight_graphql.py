"""`insight` and `insightEvents` through the gateway: every chart type answers the same numbers, a cell's
events count what the cell says, bad input names its field, and organisations and provider users are kept
apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import gql

QUERY = """
query($input: InsightInput!) {
  insight(input: $input) {
    chartType source totalSeries
    buckets { start label partial }
    series { rank values currency points total }
    total { currency value }
    others { series }
  }
}"""
EVENTS = """
query($input: InsightInput!, $bucket: DateTime!, $values: [String], $first: Int!) {
  insightEvents(input: $input, bucket: $bucket, values: $values, first: $first) {
    totalCount events { type state entityId fields } pageInfo { hasNextPage }
  }
}"""


async def _leads(gateway: Any, tenant: Any) -> None:
    now = datetime.now(UTC)
    events = []
    for n in range(6):
        for state in ("created", "converted")[: 1 + n % 2]:
            events.append(
                {
                    "id": f"lead-{n}-{state}-{uuid.uuid4().hex[:6]}",
                    "type": "lead",
                    "occurredAt": (now - timedelta(days=n % 3, minutes=n)).isoformat(),
                    "anonymousId": f"lead-person-{n}",
                    "entityId": f"lead-{n}",
                    "state": state,
                    "fields": {"source": ("web", "referral")[n % 2]},
                }
            )
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202 and not r.json()["refused"], r.text


async def test_each_chart_type_answers_the_same_numbers_and_cells_drill_down(gateway, tenant) -> None:
    await _leads(gateway, tenant)
    base = {"eventType": "lead", "breakdowns": ["state"], "range": {"preset": "LAST_7_DAYS"}}
    answers = {}
    for chart in ("BAR", "LIST", "TABLE", "STACKED_BAR", "PIE", "LINE"):
        data = await gql(gateway, QUERY, {"input": {**base, "chartType": chart}}, token=tenant.member_token)
        assert "errors" not in data, data
        answers[chart] = data["data"]["insight"]
        assert answers[chart]["chartType"] == chart
    series = {tuple(s["values"]): s["total"] for s in answers["BAR"]["series"]}
    assert series == {("created",): 6, ("converted",): 3}
    assert all(a["series"] == answers["BAR"]["series"] for a in answers.values())
    bar = answers["BAR"]
    converted = next(s for s in bar["series"] if s["values"] == ["converted"])
    k = next(i for i, v in enumerate(converted["points"]) if v)
    data = await gql(
        gateway,
        EVENTS,
        {"input": base, "bucket": bar["buckets"][k]["start"], "values": ["converted"], "first": 50},
        token=tenant.member_token,
    )
    page = data["data"]["insightEvents"]
    assert page["totalCount"] == converted["points"][k] == len(page["events"])
    assert {e["state"] for e in page["events"]} == {"converted"}


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"eventType": "lead", "measure": "TOTAL_AMOUNT"}, "input.measure"),
        ({"breakdowns": ["state", "fields.source", "channel", "currency"]}, "input.breakdowns"),
        ({"filters": [{"field": "fields.colour", "operator": "EQUALS", "values": ["red"]}]}, "input.filters[0].field"),
        ({"range": {"from": "2026-03-02", "to": "2026-03-01"}}, "input.range"),
    ],
)
async def test_bad_input_is_an_error_naming_the_field(gateway, tenant, override, field) -> None:
    data = await gql(
        gateway,
        QUERY,
        {"input": {"eventType": "lead", "range": {"preset": "LAST_7_DAYS"}, **override}},
        token=tenant.admin_token,
    )
    [error] = data["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["extensions"].get("field", "").startswith(field), error


async def test_organisations_and_provider_users_are_kept_apart(gateway, tenant, other_tenant) -> None:
    await _leads(gateway, tenant)
    query = {"input": {"eventType": "lead", "range": {"preset": "LAST_7_DAYS"}}}
    theirs = await gql(gateway, QUERY, query, token=other_tenant.admin_token)
    assert theirs["data"]["insight"]["series"] == [] and theirs["data"]["insight"]["total"] == []
    provider = await gql(gateway, QUERY, query, token=tenant.provider_token)
    assert provider["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHORIZED")
