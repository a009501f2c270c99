"""fx_daily (migration 015): the itemised reports' set-based conversion answers exactly what migration 006's
functions answer, per (currency, target, day) on random rates with gaps on either side, and per report on the
demo-like data; the triggers keep it in step with fx_rates whatever writes there (insert, update, delete)."""

from __future__ import annotations

import random
import string
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.reports.domain import catalogue
from services.reports.repository import reports as store
from services.reports.repository.reports import _fx_pair
from services.reports.service import reports as workflow
from shared.db import connection, tenant_tx
from tests.services.reports.report_data import feed, last_days, store_rates

D = date(2033, 6, 15)


def _code(rng: random.Random) -> str:
    return "Z" + "".join(rng.choice(string.ascii_uppercase) for _ in range(2))


_RATE, _DAY = _fx_pair("q.cur", "q.target", "q.day")
_COMPARE = f"""SELECT q.cur, q.target, q.day, fx_rate_on(q.cur, q.target, q.day) AS fn_rate,
                      fx_rate_date_on(q.cur, q.target, q.day) AS fn_day, {_RATE} AS rate, {_DAY} AS rate_day
                 FROM unnest($1::text[], $2::text[], $3::date[]) AS q(cur, target, day)
                 LEFT JOIN fx_daily fxc ON fxc.currency = q.cur AND fxc.day = q.day
                 LEFT JOIN fx_daily fxt ON fxt.currency = q.target AND fxt.day = q.day"""


async def _compare(conn: asyncpg.Connection, triples: list[tuple[str, str, date]]) -> int:
    """Every triple (different currencies) answers as the functions answer; how many had a rate."""
    rows = await conn.fetch(_COMPARE, [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples])
    found = 0
    for r in rows:
        assert (r["rate"], r["rate_day"]) == (r["fn_rate"], r["fn_day"]), dict(r)
        found += r["fn_rate"] is not None
    return found


async def test_random_rates_with_gaps_answer_as_the_functions(reports_pool: Any) -> None:
    rng = random.Random()
    codes: set[str] = set()
    while len(codes) < 3:
        codes.add(_code(rng))
    currencies = sorted(codes)
    days = [D - timedelta(days=n) for n in range(60)]
    rows = [
        (cur, d, Decimal(rng.randint(1, 99_999)) / Decimal(rng.choice((1, 7, 1000))))
        for cur in currencies
        for d in days
        if rng.random() < 0.4  # sparse: the two sides' ECB days often differ
    ]
    async with connection(reports_pool) as conn:
        await conn.executemany("INSERT INTO fx_rates (currency, day, per_euro, as_of) VALUES ($1, $2, $3, now())", rows)
        sides = [*currencies, "EUR"]
        triples = [(a, b, D - timedelta(days=n)) for a in sides for b in sides if a != b for n in range(-10, 70)]
        assert await _compare(conn, triples) > 100
        # Updated and deleted rates move the windows with them.
        changed = rng.sample(rows, 20)
        await conn.executemany(
            "UPDATE fx_rates SET per_euro = per_euro * 3 WHERE currency = $1 AND day = $2",
            [(c, d) for c, d, _ in changed],
        )
        await conn.execute(
            "DELETE FROM fx_rates WHERE currency = $1 AND day = ANY($2::date[])", currencies[0], days[::3]
        )
        await _compare(conn, triples)
        await conn.execute("DELETE FROM fx_rates WHERE currency = ANY($1::text[])", currencies)
        assert await conn.fetchval("SELECT count(*) FROM fx_daily WHERE currency = ANY($1::text[])", currencies) == 0
        assert await _compare(conn, triples) == 0


@pytest.fixture
async def fed(gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any) -> Any:
    await store_rates(reports_pool)
    return await feed(gateway, pool, insights_pool, reports_pool, tenant)


async def test_every_itemised_money_report_answers_as_with_the_functions(
    fed: Any, reports_pool: Any, tenant: Any
) -> None:
    async with connection(reports_pool) as conn:  # contacts in other account currencies: conversions both ways
        await conn.execute(
            "UPDATE contacts SET account_currency = (ARRAY['USD', 'GBP', 'EUR'])[1 + abs(hashtext(id::text)) % 3]"
            " WHERE org_id = $1",
            tenant.org_id,
        )
    compared = 0
    for report in catalogue.REPORTS:
        if not (report.itemised and report.has_money):
            continue
        every = [c.key for c in report.columns]
        raws: list[dict[str, Any]] = [{"report": report.key, "filters": {"range": last_days()}, "columns": every}]
        groupable = [c.key for c in report.columns if c.groupable and c.key != "currency"]
        raws.append({**raws[0], "grouping": groupable[:1]})
        for raw in raws:
            async with tenant_tx(reports_pool, tenant.org_id) as conn:
                q = await workflow.parse(conn, tenant.org_id, raw)
                base, _ = await workflow.settings_of(conn, tenant.org_id)
                answers = []
                for fx_daily in (True, False):
                    st = store.statement(q, tenant.org_id, base, fx_daily=fx_daily)
                    width = len(q.outputs) + (1 if q.grouped else 0)
                    answers.append([tuple(r) async for b in store.run_rows(conn, st, width, 500, 60) for r in b])
            assert answers[0] == answers[1], report.key
            assert answers[0], report.key
            compared += 1
    assert compared >= 8
