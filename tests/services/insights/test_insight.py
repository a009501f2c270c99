"""The insights builder: measures, filters, breakdowns (line items, top N and the rest), base-currency
conversion with the rates listed, rollup answers equal to raw ones, and every cell equal to its drill-down."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.insights.repository import fx_rates as fx_store
from services.insights.service import insight
from shared.db import tenant_tx
from shared.errors import DomainError
from shared.messaging.contracts import ORGANISATION_EVENTS
from tests.factories import create_tenant
from tests.services.insights import feed

# Noon of the latest day whose noon is at least 10 minutes past: events are refused more than 5 minutes in the future,
# so before 12:10 UTC the data sits on yesterday (a fixed noon of today failed every morning).
TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
if datetime.now(UTC) - timedelta(minutes=10) < TODAY:
    TODAY -= timedelta(days=1)


def _ev(type_: str, entity: str, state: str, at: datetime, customer: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"{entity}-{state}-{at.timestamp()}",
        "type": type_,
        "occurredAt": at.isoformat(),
        "anonymousId": customer,
        "entityId": entity,
        "state": state,
        **kw,
    }


async def _post(gateway: Any, tenant: Any, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 500):
        r = await gateway.post(
            "/v1/events",
            json={"events": events[i : i + 500]},
            headers={"authorization": f"Bearer {tenant.api_key}"},
        )
        assert r.status_code == 202 and not r.json()["refused"], r.text


@pytest.fixture(scope="module")
async def shop(gateway_app: Any, pool: Any, insights_pool: Any, settings: Any, issuer: Any) -> Any:
    """Payments, invoices with line items and service requests over the last 10 days (and the organisation's
    settings in the insights service: its base currency)."""
    t = await create_tenant(pool, issuer, name="Insight shop")
    await feed.apply(insights_pool, settings, await feed.outbox_events(pool, t.org_id, set(ORGANISATION_EVENTS)))
    products = list(t.products.values())
    events: list[dict[str, Any]] = []
    for d in range(10):
        at = TODAY - timedelta(days=d)
        for n in range(d + 2):
            cust = f"cust-{(d * 7 + n) % 9}"
            cur = ("GBP", "EUR", "USD")[n % 3]
            pay = f"pay-{d}-{n}"
            method = ("card", "bank_transfer", "wallet", "cash")[(d + n) % 4]
            fields = {"method": method}
            events.append(
                _ev(
                    "payment",
                    pay,
                    "pending",
                    at - timedelta(minutes=5),
                    cust,
                    amount="1.00",
                    currency=cur,
                    fields=fields,
                )
            )
            events.append(
                _ev(
                    "payment",
                    pay,
                    "posted",
                    at,
                    cust,
                    amount=f"{10 + n}.{d:02d}",
                    currency=cur,
                    fields=fields,
                    properties={"campaign": f"c{n % 2}", "score": n},
                    productId=str(products[n % len(products)]),
                )
            )
            lines = [
                {"productId": str(products[(n + j) % len(products)]), "quantity": 1, "amount": f"{j + 1}.50"}
                for j in range(1 + n % 3)
            ]
            events.append(
                _ev("invoice", f"inv-{d}-{n}", "posted", at, cust, amount="9.00", currency="GBP", items=lines)
            )
            events.append(
                _ev(
                    "service_request",
                    f"sr-{d}-{n}",
                    ("open", "resolved")[n % 2],
                    at,
                    cust,
                    fields={"category": "billing", "priority": ("low", "high")[d % 2]},
                )
            )
    transport = httpx.ASGITransport(app=gateway_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        await _post(client, t, events)
    return t


async def _answer(pool: Any, tenant: Any, raw: dict[str, Any]) -> dict[str, Any]:
    async with tenant_tx(pool, tenant.org_id) as conn:
        return await insight.answer(conn, tenant.org_id, raw)


async def _behind(pool: Any, tenant: Any, raw: dict[str, Any], bucket: str, values: list[Any], cur: Any) -> int:
    async with tenant_tx(pool, tenant.org_id) as conn:
        out = await insight.events_behind(conn, tenant.org_id, raw, bucket, values, cur, 200, None)
    return int(out["totalCount"])


RANGE = {"preset": "LAST_30_DAYS"}


async def test_total_amount_per_currency_by_a_field_counts_final_events_only(shop, insights_pool) -> None:
    raw = {
        "eventType": "payment",
        "measure": "TOTAL_AMOUNT",
        "breakdowns": ["fields.method"],
        "range": RANGE,
    }
    a = await _answer(insights_pool, shop, raw)
    assert a["source"] == "rollups" or a["source"] == "events"
    assert len(a["buckets"]) == 30 and a["totalSeries"] == len(a["series"])
    expected: dict[tuple[str, str], Decimal] = {}
    for d in range(10):
        for n in range(d + 2):
            key = (("card", "bank_transfer", "wallet", "cash")[(d + n) % 4], ("GBP", "EUR", "USD")[n % 3])
            expected[key] = expected.get(key, Decimal(0)) + Decimal(f"{10 + n}.{d:02d}")
    got = {(s["values"][0], s["currency"]): Decimal(s["total"]) for s in a["series"]}
    assert got == expected  # the pending 1.00s never count
    for s in a["series"]:
        assert sum(Decimal(v) for v in s["points"]) == Decimal(s["total"])
    totals = {t["currency"]: Decimal(t["value"]) for t in a["total"]}
    for cur in ("GBP", "EUR", "USD"):
        assert totals[cur] == sum(v for (_, c), v in expected.items() if c == cur)


async def test_rollup_and_raw_answers_agree(shop, insights_pool) -> None:
    """A filter on a field rollups lack (state) sends the same question to raw events: same numbers."""
    base = {"eventType": "payment", "measure": "COUNT", "breakdowns": ["currency"], "range": RANGE}
    rolled = await _answer(insights_pool, shop, base)
    raw = await _answer(
        insights_pool, shop, {**base, "filters": [{"field": "state", "operator": "EQUALS", "values": ["posted"]}]}
    )
    assert rolled["source"] == "rollups" and raw["source"] == "events"
    assert [(s["values"], s["points"]) for s in rolled["series"]] == [(s["values"], s["points"]) for s in raw["series"]]


async def test_line_item_breakdown_counts_an_invoice_in_each_product_and_gives_distinct_events(
    shop, insights_pool
) -> None:
    raw = {"eventType": "invoice", "measure": "COUNT", "breakdowns": ["item.productId"], "range": RANGE}
    a = await _answer(insights_pool, shop, raw)
    invoices = sum(d + 2 for d in range(10))
    assert a["lineItems"] is True
    assert a["distinctEvents"] == [{"currency": None, "events": invoices, "amount": None}]
    instances = sum(len({(n + j) % 3 for j in range(1 + n % 3)}) for d in range(10) for n in range(d + 2))
    assert sum(s["total"] for s in a["series"]) == instances > invoices
    s0 = a["series"][0]
    k = next(i for i, v in enumerate(s0["points"]) if v)
    assert await _behind(insights_pool, shop, raw, a["buckets"][k]["start"], s0["values"], None) == s0["points"][k]


async def test_top_n_reports_the_rest_and_pages_it(shop, insights_pool) -> None:
    raw = {
        "eventType": "payment",
        "measure": "COUNT",
        "breakdowns": ["fields.method", "currency"],
        "range": RANGE,
        "top": 3,
    }
    first = await _answer(insights_pool, shop, raw)
    assert len(first["series"]) == 3 and first["totalSeries"] == 12
    counts = [s["total"] for s in first["series"]]
    assert counts == sorted(counts, reverse=True)
    overall = first["total"][0]["value"]
    assert first["others"]["series"] == 9
    assert sum(counts) + first["others"]["total"][0]["value"] == overall
    seen = [tuple(s["values"]) for s in first["series"]]
    for offset in (3, 6, 9):
        page = await _answer(insights_pool, shop, {**raw, "breakdownOffset": offset})
        seen += [tuple(s["values"]) for s in page["series"]]
    assert len(set(seen)) == 12


async def test_unique_customers_are_distinct_per_series_and_overall(shop, insights_pool) -> None:
    raw = {"eventType": "service_request", "measure": "UNIQUE_CUSTOMERS", "breakdowns": ["state"], "range": RANGE}
    a = await _answer(insights_pool, shop, raw)
    assert a["source"] == "events"
    assert a["total"] == [{"currency": None, "value": 9}]
    for s in a["series"]:
        assert s["total"] <= sum(v for v in s["points"])  # a customer in two buckets is one customer
    assert a["others"]["total"] == []


async def test_service_requests_opened_vs_resolved_by_priority(shop, insights_pool) -> None:
    raw = {
        "eventType": "service_request",
        "measure": "COUNT",
        "filters": [{"field": "state", "operator": "IN", "values": ["open", "resolved"]}],
        "breakdowns": ["state", "fields.priority"],
        # The seven days of the data, named: a preset would move with the clock between the fixture and the test.
        "range": {"from": (TODAY - timedelta(days=6)).date().isoformat(), "to": TODAY.date().isoformat()},
        "chartType": "STACKED_BAR",
    }
    a = await _answer(insights_pool, shop, raw)
    assert a["chartType"] == "STACKED_BAR"
    got = {tuple(s["values"]): s["total"] for s in a["series"]}
    expected: dict[tuple[str, str], int] = {}
    for d in range(7):
        for n in range(d + 2):
            key = (("open", "resolved")[n % 2], ("low", "high")[d % 2])
            expected[key] = expected.get(key, 0) + 1
    assert got == expected


async def test_property_filters_compare_text_and_numbers(shop, insights_pool) -> None:
    base = {"eventType": "payment", "measure": "COUNT", "range": RANGE}
    c0 = await _answer(
        insights_pool,
        shop,
        {**base, "filters": [{"field": "properties.campaign", "operator": "EQUALS", "values": ["c0"]}]},
    )
    big = await _answer(
        insights_pool,
        shop,
        {**base, "filters": [{"field": "properties.score", "operator": "GREATER_THAN", "values": [5]}]},
    )
    assert c0["total"][0]["value"] == sum(1 for d in range(10) for n in range(d + 2) if n % 2 == 0)
    assert big["total"][0]["value"] == sum(1 for d in range(10) for n in range(d + 2) if n > 5)


async def test_base_currency_converts_each_day_at_its_rate_and_lists_the_rates(shop, insights_pool) -> None:
    days = [(TODAY - timedelta(days=d)).date() for d in range(40)]
    async with insights_pool.acquire() as conn:
        for cur, per_euro in (("GBP", Decimal("0.85")), ("USD", Decimal("1.10"))):
            await fx_store.store(conn, [cur] * len(days), days, [per_euro] * len(days), datetime.now(UTC))
    raw = {"eventType": "payment", "measure": "TOTAL_AMOUNT", "range": RANGE}
    per_currency = await _answer(insights_pool, shop, raw)
    based = await _answer(insights_pool, shop, {**raw, "currency": "BASE"})
    base = based["baseCurrency"]
    assert based["rates"] and all(r["currency"] != base for r in based["rates"])
    rate = {(r["currency"], r["day"]): Decimal(r["rate"]) for r in based["rates"]}
    # Each day's amounts at that day's rate, rounded per cell-day: the answer's total.
    expected = Decimal(0)
    for d in range(10):
        day = (TODAY - timedelta(days=d)).date()
        by_cur: dict[str, Decimal] = {}
        for n in range(d + 2):
            cur = ("GBP", "EUR", "USD")[n % 3]
            by_cur[cur] = by_cur.get(cur, Decimal(0)) + Decimal(f"{10 + n}.{d:02d}")
        for cur, amount in by_cur.items():
            r = Decimal(1) if cur == base else rate[(cur, day.isoformat())]
            with localcontext() as exact:  # the product exactly, as PostgreSQL's numeric has it (not 28 digits)
                exact.prec = 80
                expected += (amount * r).quantize(Decimal("0.01"), ROUND_HALF_UP)  # round(): half away from 0
    assert Decimal(based["total"][0]["value"]) == expected
    assert based["total"][0]["currency"] == base and len(per_currency["total"]) == 3


async def test_a_missing_rate_is_an_error_naming_the_currency_and_date(
    gateway, pool, tenant, insights_pool, owner_pool, settings
) -> None:
    """NZD has no rate (removed here): its amounts never silently drop out of a base-currency total."""
    await feed.apply(insights_pool, settings, await feed.outbox_events(pool, tenant.org_id, set(ORGANISATION_EVENTS)))
    async with owner_pool.acquire() as conn:
        await conn.execute("DELETE FROM fx_rates WHERE currency = 'NZD'")
    at = TODAY - timedelta(days=1)
    await _post(gateway, tenant, [_ev("payment", "nz-1", "posted", at, "kiwi", amount="5.00", currency="NZD")])
    with pytest.raises(DomainError) as exc:
        await _answer(
            insights_pool,
            tenant,
            {"eventType": "payment", "measure": "TOTAL_AMOUNT", "range": RANGE, "currency": "BASE"},
        )
    assert exc.value.field == "currency"
    assert "NZD" in exc.value.message and at.date().isoformat() in exc.value.message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"eventType": "nope", "range": RANGE}, "input.eventType"),
        ({"eventType": "lead", "measure": "TOTAL_AMOUNT", "range": RANGE}, "input.measure"),
        (
            {"eventType": "lead", "breakdowns": ["state", "fields.source", "fields.owner", "channel"], "range": RANGE},
            "input.breakdowns",
        ),
        ({"eventType": "lead", "breakdowns": ["colour"], "range": RANGE}, "input.breakdowns[0]"),
        ({"eventType": "usage", "breakdowns": ["fields.quantity"], "range": RANGE}, "input.breakdowns[0]"),
        (
            {
                "eventType": "lead",
                "filters": [{"field": "fields.nope", "operator": "EQUALS", "values": ["x"]}],
                "range": RANGE,
            },
            "input.filters[0].field",
        ),
        (
            {
                "eventType": "lead",
                "filters": [{"field": "fields.source", "operator": "GREATER_THAN", "values": ["x"]}],
                "range": RANGE,
            },
            "input.filters[0].operator",
        ),
        (
            {"eventType": "lead", "filters": [{"field": "state", "operator": "EQUALS", "values": []}], "range": RANGE},
            "input.filters[0].values",
        ),
        (
            {"eventType": "lead", "interval": "HOUR", "range": {"from": "2025-01-01", "to": "2025-12-31"}},
            "input.interval",
        ),
        ({"eventType": "lead", "range": {"from": "2026-02-01", "to": "2026-01-01"}}, "input.range"),
        ({"eventType": "lead", "range": {"preset": "SOMETIME"}}, "input.range.preset"),
        ({"eventType": "payment", "measure": "COUNT", "currency": "BASE", "range": RANGE}, "input.currency"),
        ({"eventType": "lead", "chartType": "DONUT", "range": RANGE}, "input.chartType"),
    ],
)
async def test_bad_input_names_the_field(tenant, insights_pool, raw, field) -> None:
    with pytest.raises(DomainError) as exc:
        await _answer(insights_pool, tenant, raw)
    assert exc.value.field is not None and exc.value.field.startswith(field), (exc.value.field, exc.value.message)


async def test_another_organisation_sees_none_of_it(shop, other_tenant, insights_pool) -> None:
    a = await _answer(insights_pool, other_tenant, {"eventType": "payment", "measure": "COUNT", "range": RANGE})
    assert a["series"] == [] and a["total"] == []


FIELDS = st.sampled_from(["fields.method", "currency", "productId", "properties.campaign", "state", None])
MEASURES = st.sampled_from(["COUNT", "TOTAL_AMOUNT", "UNIQUE_CUSTOMERS"])


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(breakdown=FIELDS, measure=MEASURES, interval=st.sampled_from(["DAY", "WEEK", "HOUR"]), top=st.integers(1, 6))
async def test_every_cell_equals_its_drill_down(shop, insights_pool, breakdown, measure, interval, top) -> None:
    raw: dict[str, Any] = {
        "eventType": "payment",
        "measure": measure,
        "breakdowns": [breakdown] if breakdown else [],
        "range": {"preset": "LAST_7_DAYS"} if interval != "HOUR" else {"preset": "YESTERDAY"},
        "interval": interval,
        "top": top,
    }
    a = await _answer(insights_pool, shop, raw)
    count_raw = {**raw, "measure": "COUNT"}
    counts = await _answer(insights_pool, shop, count_raw) if measure != "COUNT" else a
    for s in counts["series"]:
        for k, v in enumerate(s["points"]):
            if v:
                n = await _behind(insights_pool, shop, count_raw, counts["buckets"][k]["start"], s["values"], None)
                assert n == v, (s["values"], k)
    if measure == "TOTAL_AMOUNT":
        for s in a["series"]:
            assert sum(Decimal(p) for p in s["points"]) == Decimal(s["total"])


def test_buckets_cover_the_range_in_weeks_and_months() -> None:
    from services.insights.domain.insight import Interval, bucket_bounds

    weeks = bucket_bounds(date(2026, 3, 1), date(2026, 3, 31), "Europe/London", Interval.WEEK)
    assert weeks[0][0] == datetime(2026, 3, 1, tzinfo=UTC)  # Sunday 1 March: a one-day first week
    assert weeks[1][0] == datetime(2026, 3, 2, tzinfo=UTC)  # then Mondays
    assert weeks[-1][1] == datetime(2026, 3, 31, 23, tzinfo=UTC)  # BST from 29 March
    months = bucket_bounds(date(2026, 1, 15), date(2026, 4, 10), "UTC", Interval.MONTH)
    assert [m[0].date() for m in months] == [date(2026, 1, 15), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    hours = bucket_bounds(date(2026, 3, 29), date(2026, 3, 29), "Europe/London", Interval.HOUR)
    assert len(hours) == 23


ROLLUP_FIELDS = st.sampled_from(["currency", "productId", "integrationId", "categoryId", "channel", None])


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    breakdown=ROLLUP_FIELDS,
    measure=st.sampled_from(["COUNT", "TOTAL_AMOUNT", "AVERAGE_AMOUNT"]),
    interval=st.sampled_from(["DAY", "WEEK", "MONTH"]),
)
async def test_rollup_answers_equal_the_same_question_over_raw_events(
    shop, insights_pool, breakdown, measure, interval
) -> None:
    raw: dict[str, Any] = {
        "eventType": "payment",
        "measure": measure,
        "breakdowns": [breakdown] if breakdown else [],
        "range": RANGE,
        "interval": interval,
        "top": 500,
    }
    rolled = await _answer(insights_pool, shop, raw)
    # Every counted payment names its entity: this filter selects the same events, from raw events.
    forced = await _answer(
        insights_pool, shop, {**raw, "filters": [{"field": "entityId", "operator": "IS_SET", "values": []}]}
    )
    assert rolled["source"] == "rollups" and forced["source"] == "events"
    assert rolled["series"] == forced["series"] and rolled["total"] == forced["total"]


async def test_another_organisation_drills_into_nothing(shop, other_tenant, insights_pool) -> None:
    raw = {"eventType": "payment", "measure": "COUNT", "range": RANGE}
    mine = await _answer(insights_pool, shop, raw)
    k = next(i for i, v in enumerate(mine["series"][0]["points"]) if v)
    bucket = mine["buckets"][k]["start"]
    assert await _behind(insights_pool, shop, raw, bucket, [], None) == mine["series"][0]["points"][k]
    assert await _behind(insights_pool, other_tenant, raw, bucket, [], None) == 0


async def test_raw_answers_beyond_raw_retention_say_so_and_mark_the_buckets(shop, insights_pool) -> None:
    """Raw events are kept 90 days: a question that needs them over 120 days says from when its data is
    complete and marks the buckets before it, instead of showing zeros; rollups answer the same range whole."""
    today = datetime.now(UTC).date()
    long = {"from": (today - timedelta(days=120)).isoformat(), "to": today.isoformat()}
    raw = {"eventType": "payment", "measure": "COUNT", "range": long, "interval": "WEEK"}
    needs_raw = await _answer(
        insights_pool, shop, {**raw, "filters": [{"field": "state", "operator": "EQUALS", "values": ["posted"]}]}
    )
    assert needs_raw["source"] == "events" and needs_raw["dataAvailableFrom"] is not None
    cut = datetime.fromisoformat(needs_raw["dataAvailableFrom"])
    assert [b["partial"] for b in needs_raw["buckets"]] == [
        datetime.fromisoformat(b["start"]) < cut for b in needs_raw["buckets"]
    ]
    assert needs_raw["buckets"][0]["partial"] and not needs_raw["buckets"][-1]["partial"]
    rolled = await _answer(insights_pool, shop, raw)
    assert rolled["source"] == "rollups" and rolled["dataAvailableFrom"] is None
    assert not any(b["partial"] for b in rolled["buckets"])
