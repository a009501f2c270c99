"""FX reference rates in the insights service: the copy kept from the orders service's `fx_rates.published`
events (applied once, newest value wins), and `rates_to`, the conversion the insights builder calls: the rate
of the amount's day or the latest earlier one up to 7 days back, cross rates through the euro, an error naming
the currency and the date beyond that, one query for every need.

Rates are shared by every organisation and every test of the session: each test uses days of its own year."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Context, Decimal
from typing import Any
from uuid import uuid4

import pytest

from services.insights.repository import fx_rates as copy
from services.insights.service.fx_rates import Rate, rates_to
from services.orders.service import fx_rates as orders_fx
from shared.db import tenant_tx
from shared.errors import DomainError
from shared.messaging import contracts
from shared.messaging.contracts import Event
from tests.services.insights.feed import apply, outbox_events

EXACT = Context(prec=28)


async def _copy(insights_pool: Any, year: int) -> dict[tuple[str, date], Decimal]:
    async with tenant_tx(insights_pool, uuid4()) as conn:  # any organisation reads the same rates
        rows = await conn.fetch(
            "SELECT currency, day, per_euro FROM fx_rates WHERE day BETWEEN $1 AND $2",
            date(year, 1, 1),
            date(year, 12, 31),
        )
    return {(r["currency"], r["day"]): r["per_euro"] for r in rows}


async def test_published_rates_reach_the_insights_copy_once(pool, owner_pool, insights_pool, settings, tenant) -> None:
    seen = {e.id for e in await outbox_events(pool, contracts.REFERENCE_DATA_ORG_ID)}
    await orders_fx.load_csv(owner_pool, "Date,USD,GBP,\n2032-03-05,1.0875,0.8541,\n2032-03-04,1.0860,N/A,\n")
    events = [
        e
        for e in await outbox_events(pool, contracts.REFERENCE_DATA_ORG_ID, {contracts.FX_RATES_PUBLISHED})
        if e.id not in seen
    ]
    assert len(events) == 1 and events[0].org_id == contracts.REFERENCE_DATA_ORG_ID
    assert await apply(insights_pool, settings, events) == 1
    expected = {
        ("USD", date(2032, 3, 5)): Decimal("1.0875"),
        ("GBP", date(2032, 3, 5)): Decimal("0.8541"),
        ("USD", date(2032, 3, 4)): Decimal("1.0860"),
    }
    assert await _copy(insights_pool, 2032) == expected
    assert await apply(insights_pool, settings, events) == 0  # a redelivery changes nothing

    # A corrected rate, then the original event again as a new delivery of an older state: the newest value stays.
    await orders_fx.load_csv(owner_pool, "Date,USD,\n2032-03-05,1.0900,\n")
    correction = [
        e
        for e in await outbox_events(pool, contracts.REFERENCE_DATA_ORG_ID, {contracts.FX_RATES_PUBLISHED})
        if e.id not in seen and e.id != events[0].id
    ]
    assert [e.payload for e in correction] == [
        {"rates": [{"day": "2032-03-05", "currency": "USD", "perEuro": "1.0900"}]}
    ]
    assert await apply(insights_pool, settings, correction) == 1
    assert await apply(insights_pool, settings, [replace(events[0], id=uuid4())]) == 1
    assert (await _copy(insights_pool, 2032))[("USD", date(2032, 3, 5))] == Decimal("1.0900")

    # The events are no organisation's: the tenant sees none of them, nor their processed_events rows.
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        ids = [e.id for e in events + correction]
        assert await conn.fetchval("SELECT count(*) FROM processed_events WHERE event_id = ANY($1)", ids) == 0
    async with tenant_tx(insights_pool, contracts.REFERENCE_DATA_ORG_ID) as conn:
        assert await conn.fetchval("SELECT count(*) FROM processed_events WHERE event_id = ANY($1)", ids) == 2
    assert not await outbox_events(pool, tenant.org_id, {contracts.FX_RATES_PUBLISHED})


# Week of Monday 2033-01-03: USD and GBP every business day, except GBP on Thursday (N/A); JPY only on Monday.
WEEK = date(2033, 1, 3)
PER_EURO: dict[str, list[Decimal]] = {
    "USD": [Decimal(v) for v in ("1.0500", "1.0520", "1.0540", "1.0560", "1.0580")],
    "GBP": [Decimal(v) for v in ("0.8300", "0.8310", "0.8320", "0", "0.8340")],  # 0: none published
}


@pytest.fixture
async def week_of_rates(insights_pool) -> None:
    rows = [(c, WEEK + timedelta(days=i), v) for c, values in PER_EURO.items() for i, v in enumerate(values) if v != 0]
    rows.append(("JPY", WEEK, Decimal("160.25")))
    async with tenant_tx(insights_pool, contracts.REFERENCE_DATA_ORG_ID) as conn:
        await copy.store(
            conn,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            datetime.fromisoformat("2033-01-08T00:00Z"),
        )


def _day(offset: int) -> date:
    return WEEK + timedelta(days=offset)


async def _rates(insights_pool: Any, base: str, needs: list[tuple[str, date]]) -> dict[tuple[str, date], Rate]:
    async with tenant_tx(insights_pool, uuid4()) as conn:
        return await rates_to(conn, base, needs)


async def test_exact_date_cross_rate_through_the_euro(insights_pool, week_of_rates) -> None:
    wednesday = _day(2)
    got = await _rates(insights_pool, "GBP", [("USD", wednesday), ("EUR", wednesday), ("GBP", wednesday)])
    usd, gbp = PER_EURO["USD"][2], PER_EURO["GBP"][2]
    assert got[("USD", wednesday)] == Rate("USD", wednesday, wednesday, EXACT.divide(gbp, usd))
    assert got[("USD", wednesday)].rate == Decimal("0.7893738140417457305502846300")  # 0.8320 / 1.0540
    assert got[("EUR", wednesday)] == Rate("EUR", wednesday, wednesday, gbp)
    assert got[("GBP", wednesday)] == Rate("GBP", wednesday, wednesday, Decimal(1))
    to_euro = await _rates(insights_pool, "EUR", [("GBP", wednesday)])
    assert to_euro[("GBP", wednesday)].rate == EXACT.divide(1, gbp)


async def test_a_date_without_rates_uses_the_latest_within_7_days(insights_pool, week_of_rates) -> None:
    friday, saturday, sunday = _day(4), _day(5), _day(6)
    got = await _rates(insights_pool, "GBP", [("USD", saturday), ("USD", sunday), ("USD", friday + timedelta(days=7))])
    expected = EXACT.divide(PER_EURO["GBP"][4], PER_EURO["USD"][4])
    assert {k: (r.rate_date, r.rate) for k, r in got.items()} == {
        ("USD", saturday): (friday, expected),
        ("USD", sunday): (friday, expected),
        ("USD", friday + timedelta(days=7)): (friday, expected),
    }


async def test_both_currencies_need_a_rate_on_the_date_used(insights_pool, week_of_rates) -> None:
    wednesday, thursday = _day(2), _day(3)  # no GBP on Thursday
    got = await _rates(insights_pool, "GBP", [("USD", thursday)])
    assert got[("USD", thursday)].rate_date == wednesday
    assert got[("USD", thursday)].rate == EXACT.divide(PER_EURO["GBP"][2], PER_EURO["USD"][2])
    to_euro = await _rates(insights_pool, "EUR", [("USD", thursday)])  # EUR has a rate every day
    assert to_euro[("USD", thursday)] == Rate("USD", thursday, thursday, EXACT.divide(1, PER_EURO["USD"][3]))
    # JPY has Monday only: JPY -> USD on Friday uses Monday (4 days back).
    jpy = await _rates(insights_pool, "USD", [("JPY", _day(4))])
    assert jpy[("JPY", _day(4))].rate_date == WEEK


async def test_8_days_back_is_an_error_naming_currency_and_date(insights_pool, week_of_rates) -> None:
    too_late = _day(4) + timedelta(days=8)
    with pytest.raises(DomainError) as refused:
        await _rates(insights_pool, "GBP", [("USD", _day(4)), ("USD", too_late)])
    assert refused.value.field == "currency"
    assert refused.value.message.startswith(f"no USD rate on or up to 7 days before {too_late} to convert to GBP")
    with pytest.raises(DomainError) as refused:  # before the first rate, several missing: the first named
        await _rates(insights_pool, "USD", [("JPY", _day(8)), ("JPY", _day(-1)), ("GBP", _day(-2))])
    assert refused.value.message.startswith(f"no GBP rate on or up to 7 days before {_day(-2)} to convert to USD")
    assert "and 2 more" in refused.value.message


async def test_same_currency_needs_no_rate_and_a_bad_base_is_refused(insights_pool) -> None:
    far = date(2099, 6, 1)
    got = await _rates(insights_pool, "JPY", [("JPY", far), ("JPY", far)])
    assert got == {("JPY", far): Rate("JPY", far, far, Decimal(1))}
    with pytest.raises(DomainError) as refused:
        await _rates(insights_pool, "XYZ", [("USD", far)])
    assert refused.value.field == "base"


async def test_many_needs_in_one_query(insights_pool, week_of_rates) -> None:
    needs = [(c, _day(i % 12)) for i in range(400) for c in ("USD", "EUR", "GBP")]
    statements: list[str] = []
    async with tenant_tx(insights_pool, uuid4()) as conn:
        conn.add_query_logger(lambda q: statements.append(q.query))
        got = await rates_to(conn, "GBP", needs)
    assert [q for q in statements if q != "COMMIT;"] == [copy._LOOKUP], statements
    assert len(got) == 36 and got[("USD", _day(10))].rate_date == _day(4)


async def test_the_relay_carries_rates_to_the_insights_copy(pool, owner_pool, insights_pool, settings) -> None:
    """The real path: the orders relay claims the reference-data row (no organisation) and enqueues its envelope;
    the insights consumer applies what the queue holds."""
    import json

    from shared.messaging.broker import get_broker
    from shared.messaging.relay import relay_once

    broker = get_broker()
    sub = contracts.Subscription(
        consumer="fxrelaytest", source="orders", event_types=frozenset({contracts.FX_RATES_PUBLISHED})
    )
    keys = (f"{broker.namespace}:{sub.queue}", f"{broker.namespace}:{sub.queue}.msgs")
    while await relay_once(pool, "orders", subscriptions=(sub,)):  # what earlier tests left
        pass
    broker.client.delete(*keys)
    await orders_fx.load_csv(owner_pool, "Date,CHF,\n2037-02-02,0.9412,\n")
    while await relay_once(pool, "orders", subscriptions=(sub,)):
        pass
    envelopes = [json.loads(m)["args"][0] for m in broker.client.hvals(keys[1])]
    broker.client.delete(*keys)
    assert [(e["type"], e["org_id"]) for e in envelopes] == [
        (contracts.FX_RATES_PUBLISHED, str(contracts.REFERENCE_DATA_ORG_ID))
    ]
    assert await apply(insights_pool, settings, [Event.from_envelope(e) for e in envelopes]) == 1
    assert await _copy(insights_pool, 2037) == {("CHF", date(2037, 2, 2)): Decimal("0.9412")}
