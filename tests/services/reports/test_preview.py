"""Every catalogue report previews on demo-like data fed through the real paths; previews equal the first rows of
the full run; grouping subtotals and totals equal the rows they sum; amounts convert by the ECB rule or refuse;
bad input names its field; another organisation's data never shows."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.reports.domain import catalogue
from services.reports.domain import query as query_domain
from services.reports.service import reports as workflow
from shared.db import tenant_tx
from shared.errors import DomainError
from shared.messaging import contracts
from tests.services.reports.feed import apply_insights, outbox_events
from tests.services.reports.report_data import RATES, feed, last_days, store_rates


async def _preview(reports_pool: Any, tenant: Any, raw: dict[str, Any]) -> dict[str, Any]:
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        return await workflow.preview(conn, tenant.org_id, raw)


async def _all_rows(reports_pool: Any, tenant: Any, raw: dict[str, Any], batch: int = 2) -> list[list[Any]]:
    """The whole run, read in keyset batches of `batch` rows (as an export reads it)."""
    from services.reports.repository import reports as store

    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        q = await workflow.parse(conn, tenant.org_id, raw)
        base, _ = await workflow.settings_of(conn, tenant.org_id)
    st = store.statement(q, tenant.org_id, base)
    width = len(q.outputs) + (1 if q.grouped else 0)
    out: list[list[Any]] = []
    after = None
    while True:
        async with tenant_tx(reports_pool, tenant.org_id) as conn:
            rows, after = await store.rows_batch(conn, st, after, batch)
        out += [[workflow.json_value(r[i]) for i in range(width)] for r in rows]
        if after is None:
            return out


@pytest.fixture
async def fed(gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any) -> Any:
    await store_rates(reports_pool)
    return await feed(gateway, pool, insights_pool, reports_pool, tenant)


async def test_every_report_previews_and_its_preview_is_the_start_of_the_full_run(
    fed: Any, reports_pool: Any, tenant: Any
) -> None:
    empty = []
    for report in catalogue.REPORTS:
        every = [c.key for c in report.columns]
        raw = {"report": report.key, "filters": {"range": last_days()}, "columns": every}
        answer = await _preview(reports_pool, tenant, raw)
        assert [c["key"] for c in answer["columns"]] == every
        rows = await _all_rows(reports_pool, tenant, raw)
        assert answer["totalRows"] == len(rows), report.key
        assert answer["rows"] == rows[:10], report.key
        if not rows:
            empty.append(report.key)
        # Defaults answer too.
        default = await _preview(reports_pool, tenant, {"report": report.key, "filters": {"range": last_days()}})
        assert [c["key"] for c in default["columns"]] == list(report.default_columns)
    assert empty == [], f"reports with no rows on the demo data: {empty}"


async def test_itemised_amounts_are_in_the_contacts_currency_and_analytical_ones_in_the_base(
    fed: Any, reports_pool: Any, tenant: Any
) -> None:
    raw = {
        "report": "financial_transactions",
        "filters": {"range": last_days(), "types": ["payment"]},
        "columns": ["entity_id", "amount", "currency", "original_amount", "original_currency", "fx_rate"],
    }
    [row] = (await _preview(reports_pool, tenant, raw))["rows"]
    # 55 USD in GBP (the base: the contact has no account currency): 55 × 0.85 / 1.10.
    assert row[1:5] == [str((Decimal("55.00") * RATES["GBP"] / RATES["USD"]).quantize(Decimal("0.01"))), "GBP",
                        "55.00", "USD"]  # fmt: skip
    revenue = await _preview(
        reports_pool,
        tenant,
        {
            "report": "revenue_per_period",
            "filters": {"range": last_days(), "interval": "MONTH"},
            "columns": ["invoiced", "credited", "net_invoiced", "collected", "refunded", "net_collected", "currency"],
        },
    )
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in revenue["rows"]:
        for k, v in zip(["inv", "cred", "net", "col", "ref", "netcol"], r[:6], strict=True):
            totals[k] += Decimal(v)
        assert r[6] == "GBP"
    eur = RATES["GBP"] / RATES["EUR"]
    usd = RATES["GBP"] / RATES["USD"]
    assert totals["inv"] == (Decimal("100") + Decimal("40") * eur).quantize(Decimal("0.01"))
    assert totals["net"] == totals["inv"] - totals["cred"]
    assert totals["col"] == (Decimal("55") * usd + Decimal("30")).quantize(Decimal("0.01"))
    assert totals["netcol"] == totals["col"] - totals["ref"]


async def test_a_missing_rate_is_an_error_naming_the_currency_and_date(
    fed: Any, gateway: Any, insights_pool: Any, reports_pool: Any, tenant: Any
) -> None:
    """No CZK rate is ever stored: a posted CZK payment refuses the analytical report and the itemised one (in
    the contact's currency), naming the currency and the date; nothing is skipped silently."""
    event = {"id": f"isk-{fed.tag}", "type": "payment", "occurredAt": datetime.now(UTC).isoformat(),
             "anonymousId": f"anon-isk-{fed.tag}", "entityId": f"isk-{fed.tag}", "state": "posted",
             "amount": "1000", "currency": "CZK"}  # fmt: skip
    r = await gateway.post(
        "/v1/events", json={"events": [event]}, headers={"authorization": f"Bearer {tenant.api_key}"}
    )
    assert r.status_code == 202 and r.json()["stored"] == 1, r.text
    await apply_insights(
        reports_pool, await outbox_events(insights_pool, tenant.org_id, {contracts.BUSINESS_EVENT_RECORDED})
    )
    day = datetime.now(UTC).date()
    for raw in (
        {"report": "revenue_per_period", "filters": {"range": last_days()}},
        {"report": "financial_transactions", "filters": {"range": last_days()}},
    ):
        with pytest.raises(DomainError) as exc:
            await _preview(reports_pool, tenant, raw)
        assert exc.value.field == "currency"
        assert "no CZK rate" in exc.value.message and (str(day) in exc.value.message or
                                                         str(day - timedelta(days=1)) in exc.value.message)  # fmt: skip
    # Without the CZK payment (another type), the same report answers.
    ok = {"report": "financial_transactions", "filters": {"range": last_days(), "types": ["invoice"]}}
    assert (await _preview(reports_pool, tenant, ok))["totalRows"] == 2


async def test_grouping_subtotals_and_totals_equal_their_rows(fed: Any, reports_pool: Any, tenant: Any) -> None:
    raw = {
        "report": "event_log",
        "filters": {"range": last_days()},
        "columns": ["type", "state", "entity_id", "amount", "currency"],
        "grouping": ["type", "state"],
        "aggregates": [{"column": "entity_id", "function": "count"}, {"column": "amount", "function": "sum"}],
    }
    answer = await _preview(reports_pool, tenant, raw)
    assert [c["key"] for c in answer["columns"]] == ["type", "state", "currency", "count:entity_id", "sum:amount",
                                                      "_row"]  # fmt: skip
    rows = await _all_rows(reports_pool, tenant, raw, batch=3)
    assert answer["rows"] == rows[:10] and answer["totalRows"] == len(rows)
    leaf = [r for r in rows if r[5] == "row"]
    subtotals = [r for r in rows if r[5] == "subtotal"]
    totals = [r for r in rows if r[5] == "total"]
    assert leaf and subtotals and totals
    for sub in subtotals:
        mine = [r for r in leaf if r[0] == sub[0] and r[2] == sub[2]]
        assert sub[3] == str(sum(int(r[3]) for r in mine))
        assert Decimal(sub[4] or 0) == sum(Decimal(r[4] or 0) for r in mine)
        # The subtotal follows its rows.
        assert rows.index(sub) > max(rows.index(r) for r in mine)
    for total in totals:
        mine = [r for r in leaf if r[2] == total[2]]
        assert total[3] == str(sum(int(r[3]) for r in mine))
    assert rows[-len(totals) :] == totals
    # Money is never added across currencies: the currency is a level of its own in every row.
    assert all(r[2] is not None for r in rows if r[4] is not None)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"report": "nope"}, "input.report"),
        ({"report": "event_log", "columns": ["type", "nope"]}, "input.columns[1]"),
        ({"report": "event_log", "columns": ["type", "type"]}, "input.columns[1]"),
        ({"report": "event_log", "grouping": ["occurred_at"]}, "input.grouping[0]"),
        ({"report": "event_log", "grouping": ["type", "state", "channel"]}, "input.grouping"),
        ({"report": "revenue_per_period", "columns": ["period", "custom.tier"]}, "input.columns[1]"),
        ({"report": "mrr_churn", "columns": ["month", "contact.custom.tier"]}, "input.columns[1]"),
        ({"report": "event_log", "columns": ["custom.Not Valid"]}, "input.columns[0]"),
        ({"report": "event_log", "filters": {"statuses": ["nope"]}}, "input.filters.statuses[0]"),
        ({"report": "revenue_per_period", "filters": {"statuses": ["posted"]}}, "input.filters.statuses"),
        ({"report": "event_log", "filters": {"range": {"from": "2024-02-01", "to": "2024-01-01"}}},
         "input.filters.range"),
        ({"report": "event_log", "aggregates": [{"column": "amount", "function": "sum"}]}, "input.aggregates[0]"),
        ({"report": "event_log", "grouping": ["type"], "columns": ["type", "state"],
          "aggregates": [{"column": "state", "function": "sum"}]}, "input.aggregates[0].function"),
        ({"report": "event_log", "grouping": ["type"], "sort": [{"column": "state"}]}, "input.sort[0].column"),
        ({"report": "event_log", "sort": [{"column": "nope"}]}, "input.sort[0].column"),
        ({"report": "event_log", "extra": 1}, "input.extra"),
    ],
)  # fmt: skip
def test_bad_input_names_its_field(raw: Any, field: str) -> None:
    with pytest.raises(DomainError) as exc:
        query_domain.parse(raw, "Europe/London")
    assert exc.value.field is not None and exc.value.field.startswith(field), (exc.value.field, exc.value.message)


async def test_custom_fields_of_the_entity_and_the_contact(fed: Any, reports_pool: Any, tenant: Any) -> None:
    raw = {
        "report": "event_log",
        "filters": {"range": last_days(), "types": ["purchase"]},
        "columns": ["type", "custom.tier", "contact.custom.segment"],
    }
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        await conn.execute(
            'UPDATE contacts SET custom_fields = \'{"segment": "vip"}\' WHERE org_id = $1 AND id IN'
            " (SELECT customer_id FROM business_events WHERE org_id = $1 AND type = 'purchase')",
            tenant.org_id,
        )
    [row] = (await _preview(reports_pool, tenant, raw))["rows"]
    assert row == ["purchase", "gold", "vip"]


async def test_another_organisations_data_never_shows(
    fed: Any, gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any
) -> None:
    """Every report's whole run for A is the same before and after B's data of every area arrives, and B's runs
    hold none of A's contacts or entities."""

    def raw(report: catalogue.Report) -> dict[str, Any]:
        return {"report": report.key, "filters": {"range": last_days()}, "columns": [c.key for c in report.columns]}

    before = {r.key: await _all_rows(reports_pool, tenant, raw(r), batch=50) for r in catalogue.REPORTS}
    other = await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    mine_cells = {c for rows in before.values() for r in rows for c in r if isinstance(c, str) and fed.tag in c}
    assert mine_cells
    for report in catalogue.REPORTS:
        assert await _all_rows(reports_pool, tenant, raw(report), batch=50) == before[report.key], report.key
        theirs = await _all_rows(reports_pool, other_tenant, raw(report), batch=50)
        assert theirs, report.key
        cells = {c for r in theirs for c in r if isinstance(c, str)}
        assert not any(fed.tag in c for c in cells), report.key
        assert str(tenant.integration_id) not in cells and str(tenant.second_integration_id) not in cells
    assert other.tag != fed.tag
