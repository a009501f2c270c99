"""Answering an insight: validate, aggregate, convert (when asked), rank the breakdown series, shape the JSON.

The answer's numbers are reproducible from its parts: every series' points add up to its total (unique
customers excepted: a customer active in two buckets is one customer of the series), the overall total is
the sum of every series (the page's and `others`), and with a line-item breakdown the answer also gives the
distinct events (an invoice of 5 products is in 5 product series, once in `distinctEvents`). Amounts are per
currency, or with `currency: BASE` converted at the rate of each event's local date (`service.fx_rates`),
every rate listed, each cell-day rounded to the base currency's minor unit before anything adds it up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from services.insights.domain import insight as domain
from services.insights.domain.insight import Insight, Interval, Measure
from services.insights.repository import analytics
from services.insights.repository import insight as repo
from services.insights.service import fx_rates, segments
from services.insights.service.orders_events import raw_window_start
from shared.errors import DomainError, ErrorCode
from shared.money import minor_units


async def base_currency(conn: asyncpg.Connection, org_id: UUID) -> str:
    value = await conn.fetchval("SELECT base_currency FROM organisation_settings WHERE org_id = $1", org_id)
    if value is None:
        raise DomainError(
            ErrorCode.UNAVAILABLE,
            "the organisation's base currency has not reached the insights service yet: try again shortly",
            "input.currency",
            status=503,
        )
    return str(value).strip()


async def parse(conn: asyncpg.Connection, org_id: UUID, raw: Any, now: datetime | None = None) -> Insight:
    q = domain.parse(raw, await analytics.time_zone(conn, org_id), now)
    await segments.require_segment(conn, org_id, q.segment_id, "input.segmentId")
    return q


async def answer(conn: asyncpg.Connection, org_id: UUID, raw: Any, now: datetime | None = None) -> dict[str, Any]:
    """The answer to the insight `raw` (the API's JSON input). Runs in the caller's tenant transaction."""
    q = await parse(conn, org_id, raw, now)
    how = repo.plan(q)
    await repo.fill_cells(conn, org_id, q, how)
    rates: list[fx_rates.Rate] = []
    base: str | None = None
    if q.base_currency:
        base = await base_currency(conn, org_id)
        found = await fx_rates.rates_to(conn, base, await repo.needs(conn))
        rates = sorted(found.values(), key=lambda r: (r.currency, r.day))
    ranked = await repo.ranked(
        conn,
        q,
        how,
        [(r.currency, r.day, r.rate) for r in rates] if q.base_currency else None,
        digits=minor_units(base) if base else 2,
    )
    if ranked.unrated:  # rates_to answered every pair the cells hold; never add an amount without its rate
        raise DomainError(ErrorCode.INVALID_INPUT, "an amount without a rate", "input.currency")
    distinct = await repo.distinct_events(conn, org_id, q) if repo.expanded(q) else None
    return _shape(q, how, ranked, rates, base, distinct, now)


def _value(q: Insight, n: Any, amount: Any, customers: Any, digits: int) -> Any:
    """A cell's, series' or total's measure, in its JSON form (money as a decimal string)."""
    if q.measure is Measure.COUNT:
        return int(n or 0)
    if q.measure is Measure.UNIQUE_CUSTOMERS:
        return None if customers is None else int(customers)
    total = Decimal(amount or 0)
    if q.measure is Measure.AVERAGE_AMOUNT:
        if not n:
            return None
        total = total / Decimal(n)
    return str(total.quantize(Decimal(1).scaleb(-digits)))


def _currency(q: Insight, cur: Any, base: str | None) -> str | None:
    if not q.measure.money:
        return None
    return base if q.base_currency else (str(cur).strip() if cur is not None else None)


def _label(start: datetime, q: Insight) -> str:
    local = start.astimezone(ZoneInfo(q.time_zone))
    if q.interval is Interval.HOUR:
        return local.isoformat(timespec="minutes")
    if q.interval is Interval.MONTH:
        return local.strftime("%Y-%m")
    return local.date().isoformat()


def _shape(
    q: Insight,
    how: repo.Plan,
    ranked: repo.Ranked,
    rates: list[fx_rates.Rate],
    base: str | None,
    distinct: list[asyncpg.Record] | None,
    now: datetime | None,
) -> dict[str, Any]:
    digits = minor_units(base) if base else 2
    available_from = None
    if how.source == "events":
        window = raw_window_start(now)
        if q.start < window:
            available_from = window
    buckets = [
        {
            "start": s.isoformat(),
            "end": e.isoformat(),
            "label": _label(s, q),
            "partial": available_from is not None and s < available_from,
        }
        for s, e in q.buckets
    ]
    cells: dict[int, dict[int, Any]] = {}
    for c in ranked.cells:
        cells.setdefault(int(c["r"]), {})[int(c["k"])] = c
    nb = len(q.breakdowns)
    zero = _value(q, 0, 0, 0, digits) if q.measure is not Measure.AVERAGE_AMOUNT else None
    series = []
    for s in ranked.series:
        mine = cells.get(int(s["r"]), {})
        points = []
        for k in range(1, len(q.buckets) + 1):
            c = mine.get(k)
            points.append(zero if c is None else _value(q, c["n"], c["amount"], c["customers"], digits))
        series.append(
            {
                "rank": int(s["r"]),
                "values": [_json(s[f"b{i + 1}"]) for i in range(nb)],
                "currency": _currency(q, s["cur"], base),
                "points": points,
                "total": _value(q, s["n"], s["amount"], s["customers"], digits),
            }
        )
    return {
        "eventType": q.event_type.name,
        "measure": q.measure.value,
        "interval": q.interval.value,
        "chartType": q.chart_type.value,
        "timeZone": q.time_zone,
        "from": q.first_day.isoformat(),
        "to": q.last_day.isoformat(),
        "breakdowns": [b.name for b in q.breakdowns],
        "currency": "BASE" if q.base_currency else None,
        "baseCurrency": base,
        "source": how.source,
        "buckets": buckets,
        "series": series,
        "totalSeries": ranked.total_series,
        "top": q.top,
        "offset": q.offset,
        "total": [
            {"currency": _currency(q, o["cur"], base), "value": _value(q, o["n"], o["amount"], o["customers"], digits)}
            for o in sorted(ranked.overall, key=lambda o: str(o["cur"] or ""))
        ],
        "others": {
            "series": sum(int(o["r"]) for o in ranked.others),
            "total": [
                {
                    "currency": _currency(q, o["cur"], base),
                    # unique customers of several series are not the sum of theirs: page them to count
                    "value": None
                    if q.measure is Measure.UNIQUE_CUSTOMERS
                    else _value(q, o["n"], o["amount"], None, digits),
                }
                for o in sorted(ranked.others, key=lambda o: str(o["cur"] or ""))
            ],
        },
        "lineItems": repo.expanded(q),
        "distinctEvents": None
        if distinct is None
        else [
            {
                "currency": _currency(q, d["cur"], base),
                "events": int(d["n"]),
                "amount": str(d["amount"]) if d["amount"] is not None and q.measure.money else None,
            }
            for d in distinct
        ],
        "rates": [
            {"currency": r.currency, "day": r.day.isoformat(), "rateDate": r.rate_date.isoformat(), "rate": str(r.rate)}
            for r in rates
            if r.currency != base
        ],
        "dataAvailableFrom": available_from.isoformat() if available_from else None,
    }


def _json(value: Any) -> Any:
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


async def events_behind(
    conn: asyncpg.Connection,
    org_id: UUID,
    raw: Any,
    bucket: str,
    values: list[Any],
    currency: str | None,
    first: int,
    after: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The events behind one cell: the bucket starting at `bucket`, the series of `values` (and `currency` for
    money per currency); `totalCount` equals the cell's count."""
    q = await parse(conn, org_id, raw, now)
    try:
        start = datetime.fromisoformat(bucket)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "an ISO 8601 instant: a bucket's start", "bucket") from None
    if start.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "give the bucket's start with its UTC offset", "bucket")
    match = next((b for b in q.buckets if b[0] == start.astimezone(UTC)), None)
    if match is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "is not the start of a bucket of this insight", "bucket")
    if len(values) != len(q.breakdowns):
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"give one value per breakdown ({len(q.breakdowns)}), null for none", "values"
        )
    if q.money_by_currency and currency is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "amounts are per currency: name the series' currency", "currency")
    rows, total, cursor = await repo.events_behind(
        conn,
        org_id,
        q,
        match,
        [None if v is None else str(v) for v in values],
        currency if q.money_by_currency else None,
        first,
        after,
    )
    return {
        "totalCount": total,
        "endCursor": cursor,
        "hasNextPage": cursor is not None,
        "events": [event_json(r) for r in rows],
    }


def event_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "sourceKey": r["source_key"],
        "type": r["type"],
        "occurredAt": r["occurred_at"].isoformat(),
        "customerId": _json(r["customer_id"]),
        "integrationId": _json(r["integration_id"]),
        "categoryId": _json(r["category_id"]),
        "productId": _json(r["product_id"]),
        "channel": r["channel"],
        "entityId": r["entity_id"],
        "state": r["state"],
        "amount": _json(r["amount"]),
        "currency": r["currency"].strip() if r["currency"] else None,
        "items": r["items"],
        "fields": r["fields"],
        "customFields": r["custom_fields"],
        "properties": r["properties"],
    }
