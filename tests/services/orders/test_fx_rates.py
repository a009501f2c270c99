"""FX reference rates in the orders service: the ECB CSV refused whole or loaded, the upsert's counts, what is
published (new and changed rates only, at most 1,000 per event, under the reference-data organisation id), the
application role's read-only access, and the operator command. Against the real database.

Rates are shared by every organisation and by every test of the session: each test uses days of its own year."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.orders import admin
from services.orders.service import fx_rates
from shared.db import tenant_tx
from shared.errors import DomainError
from shared.messaging import contracts

ECB_SAMPLE = (
    # As in eurofxref-hist.csv: newest first, N/A where the ECB published nothing, a trailing comma everywhere.
    "Date,USD,JPY,GBP,\n2030-01-04,1.1000,160.10,0.8500,\n2030-01-03,1.0950,N/A,0.8510,\n\n2030-01-02,1.0900,159.80,,\n"
)


def test_parses_the_ecb_layout() -> None:
    parsed = fx_rates.parse_ecb_csv(ECB_SAMPLE)
    assert parsed.currencies == ["USD", "JPY", "GBP"] and parsed.days == 3
    got = {(r.currency, r.day): r.per_euro for r in parsed.rates}
    assert got == {
        ("USD", date(2030, 1, 4)): Decimal("1.1000"),
        ("JPY", date(2030, 1, 4)): Decimal("160.10"),
        ("GBP", date(2030, 1, 4)): Decimal("0.8500"),
        ("USD", date(2030, 1, 3)): Decimal("1.0950"),
        ("GBP", date(2030, 1, 3)): Decimal("0.8510"),
        ("USD", date(2030, 1, 2)): Decimal("1.0900"),
        ("JPY", date(2030, 1, 2)): Decimal("159.80"),
    }
    # Without trailing commas, with a byte order mark and spaces after commas (the ECB's daily file), the same.
    plain = "\ufeff" + "\n".join(line.removesuffix(",").replace(",", ", ") for line in ECB_SAMPLE.splitlines()) + "\n"
    assert fx_rates.parse_ecb_csv(plain).rates == parsed.rates


def test_the_committed_demo_file_parses_and_matches_its_generator() -> None:
    from demo.fx_rates import DEMO_FX_CSV, generate

    text = DEMO_FX_CSV.read_text()
    assert text == generate(), "demo/fx_rates.csv differs from `python -m demo.fx_rates`"
    parsed = fx_rates.parse_ecb_csv(text)
    assert "GBP" in parsed.currencies  # the demo's commission currencies: GBP, and EUR (the base)
    days = sorted({r.day for r in parsed.rates})
    assert all(d.weekday() < 5 for d in days) and all((b - a).days <= 5 for a, b in itertools.pairwise(days)), (
        "business days, no gap longer than Easter's (every day converts within the 7 days)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Date,USD,JPY,\n2030-01-04,1.1000,abc,\n", "line 2, column 3 (JPY): 'abc' is not a positive decimal"),
        ("Date,USD,JPY,\n2030-01-04,1.1,2\n2030-01-03,-1.1,2,\n", "line 3, column 2 (USD): '-1.1'"),
        ("Date,USD,JPY,\n2030-01-04,1e3,2,\n", "line 2, column 2 (USD): '1e3'"),
        ("Date,USD,JPY,\n2030-01-04,0,2,\n", "line 2, column 2 (USD): '0' is not a positive"),
        ("Date,USD,XYZ,\n2030-01-04,1.1,2,\n", "line 1, column 3: XYZ is not a currency the platform accepts"),
        ("Date,USD,usd,\n2030-01-04,1.1,2,\n", "line 1, column 3: 'usd' is not an ISO 4217 currency code"),
        ("Date,USD,EUR,\n2030-01-04,1.1,1,\n", "line 1, column 3: EUR is the base"),
        ("Date,USD,USD,\n2030-01-04,1.1,1.2,\n", "line 1, column 3: USD is already column 2"),
        ("Day,USD,\n2030-01-04,1.1,\n", "line 1, column 1: expected 'Date'"),
        ("Date,USD,\n2030-01-04,1.1,\n2030-01-04,1.2,\n", "line 3, column 1: 2030-01-04 is already on line 2"),
        ("Date,USD,\n04/01/2030,1.1,\n", "line 2, column 1: '04/01/2030' is not a date"),
        ("Date,USD,\n1998-12-31,1.1,\n", "line 2, column 1: 1998-12-31 is outside"),
        ("Date,USD,\n2030-01-04,1.1,2.2\n", "line 2, column 3: a value after the last currency column"),
        ("Date,USD,JPY\n2030-01-04,1.1\n", "line 2: 2 columns where the header has 3"),
        ("Date,USD,\n2030-01-04,N/A,\n", "no rates"),
        ("\n\n", "the file is empty"),
    ],
)
def test_a_bad_file_is_refused_naming_line_and_column(text: str, expected: str) -> None:
    with pytest.raises(DomainError) as refused:
        fx_rates.parse_ecb_csv(text)
    assert refused.value.field == "file" and expected in refused.value.message, refused.value.message


def test_every_problem_is_counted_the_first_few_listed() -> None:
    lines = "".join(f"2030-02-{d:02d},x{d},\n" for d in range(1, 11))
    with pytest.raises(DomainError) as refused:
        fx_rates.parse_ecb_csv("Date,USD,\n" + lines)
    message = refused.value.message
    assert "line 2, column 2 (USD): 'x1'" in message and "line 6, column 2 (USD): 'x5'" in message
    assert "'x6'" not in message and "and 5 more" in message


def test_unknown_currencies_can_be_left_out_when_asked() -> None:
    text = "Date,USD,BGN,ISK,GBP,\n2030-01-04,1.1,1.9558,N/A,0.85,\n"
    parsed = fx_rates.parse_ecb_csv(text, skip_unknown_currencies=True)
    assert parsed.skipped_currencies == ["BGN", "ISK"] and parsed.currencies == ["USD", "GBP"]
    assert {r.currency for r in parsed.rates} == {"USD", "GBP"}


async def _stored(owner_pool: asyncpg.Pool, year: int) -> dict[tuple[str, date], Decimal]:
    rows = await owner_pool.fetch(
        "SELECT currency, day, per_euro FROM fx_rates WHERE day BETWEEN $1 AND $2",
        date(year, 1, 1),
        date(year, 12, 31),
    )
    return {(r["currency"], r["day"]): r["per_euro"] for r in rows}


async def _fx_events(owner_pool: asyncpg.Pool) -> dict[UUID, dict[str, Any]]:
    rows = await owner_pool.fetch(
        "SELECT id, org_id, payload FROM outbox WHERE type = $1", contracts.FX_RATES_PUBLISHED
    )
    assert all(r["org_id"] == contracts.REFERENCE_DATA_ORG_ID for r in rows)
    return {r["id"]: r["payload"] for r in rows}


def _csv(first: date, n_days: int, currencies: list[str], value: Any) -> str:
    lines = ["Date," + ",".join(currencies) + ","]
    for i in range(n_days):
        day = first + timedelta(days=i)
        lines.append(day.isoformat() + "," + ",".join(value(c, i) for c in currencies) + ",")
    return "\n".join(lines) + "\n"


async def test_a_bad_file_stores_and_publishes_nothing(owner_pool) -> None:
    events_before = await _fx_events(owner_pool)
    good = _csv(date(2034, 1, 1), 30, ["USD", "GBP"], lambda c, i: f"1.{i:04d}")
    bad = good.replace("2034-01-30,1.0029,", "2034-01-30,1.0029x,")
    with pytest.raises(DomainError, match=r"line 31, column 2 \(USD\)"):
        await fx_rates.load_csv(owner_pool, bad)
    assert await _stored(owner_pool, 2034) == {}
    assert await _fx_events(owner_pool) == events_before


async def test_reload_publishes_only_new_and_changed_rates(owner_pool) -> None:
    currencies = ["USD", "JPY", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "AUD", "CAD", "NZD", "SGD", "HKD"]
    first = date(2031, 1, 1)
    text = _csv(first, 80, currencies, lambda c, i: f"{len(c) + i}.{i:04d}")  # 80 days x 14 = 1,120 rates
    before = await _fx_events(owner_pool)
    result = await fx_rates.load_csv(owner_pool, text)
    assert (result.new, result.changed, result.unchanged, result.events) == (1120, 0, 0, 2)
    stored = await _stored(owner_pool, 2031)
    assert len(stored) == 1120 and stored[("JPY", first + timedelta(days=3))] == Decimal("6.0003")
    published = {k: v for k, v in (await _fx_events(owner_pool)).items() if k not in before}
    sizes = sorted(len(p["rates"]) for p in published.values())
    assert sizes == [120, 1000]
    rates = [r for p in published.values() for r in p["rates"]]
    assert {(r["currency"], r["day"]) for r in rates} == {(c, d.isoformat()) for c, d in stored}
    assert {"day": (first + timedelta(days=3)).isoformat(), "currency": "JPY", "perEuro": "6.0003"} in rates

    # The same file again: nothing written, nothing published.
    before = await _fx_events(owner_pool)
    again = await fx_rates.load_csv(owner_pool, text)
    assert (again.new, again.changed, again.unchanged, again.events) == (0, 0, 1120, 0)
    assert await _fx_events(owner_pool) == before

    # The same values with other trailing zeros are the same rates; one corrected value and one new day are not.
    next_text = text.replace("6.0003,", "6.00030,")
    next_text = next_text.replace("2031-01-02,4.0001,", "2031-01-02,4.5,")
    next_text += "2031-03-25," + ",".join({"USD": "1.25", "HKD": "0.5"}.get(c, "N/A") for c in currencies) + ",\n"
    result = await fx_rates.load_csv(owner_pool, next_text)
    assert (result.new, result.changed, result.unchanged, result.events) == (2, 1, 1119, 1)
    corrections = [v for k, v in (await _fx_events(owner_pool)).items() if k not in before]
    assert corrections == [
        {
            "rates": [
                {"day": "2031-01-02", "currency": "USD", "perEuro": "4.5"},
                {"day": "2031-03-25", "currency": "HKD", "perEuro": "0.5"},
                {"day": "2031-03-25", "currency": "USD", "perEuro": "1.25"},
            ]
        }
    ]
    assert (await _stored(owner_pool, 2031))[("USD", date(2031, 1, 2))] == Decimal("4.5")


async def test_the_application_role_reads_rates_and_cannot_write_them(pool, owner_pool, tenant, other_tenant) -> None:
    await fx_rates.load_csv(owner_pool, "Date,USD,\n2035-06-01,1.2345,\n")
    for org in (tenant.org_id, other_tenant.org_id):  # the same reference data for every organisation
        async with tenant_tx(pool, org) as conn:
            assert await conn.fetchval(
                "SELECT per_euro FROM fx_rates WHERE currency = 'USD' AND day = '2035-06-01'"
            ) == Decimal("1.2345")
    async with pool.acquire() as conn:  # with no organisation set, too
        assert await conn.fetchval("SELECT count(*) FROM fx_rates WHERE day = '2035-06-01'") == 1
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert await conn.fetchval("UPDATE fx_rates SET per_euro = 9 WHERE day = '2035-06-01' RETURNING 1") is None
        assert await conn.fetchval("DELETE FROM fx_rates WHERE day = '2035-06-01' RETURNING 1") is None
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_tx(pool, tenant.org_id) as conn:
            await conn.execute("INSERT INTO fx_rates (currency, day, per_euro) VALUES ('USD', '2035-06-02', 1)")
    assert await _stored(owner_pool, 2035) == {("USD", date(2035, 6, 1)): Decimal("1.2345")}


async def test_published_rates_are_no_organisations_outbox_rows(pool, owner_pool, tenant) -> None:
    await fx_rates.load_csv(owner_pool, "Date,GBP,\n2035-07-01,0.81,\n")
    async with tenant_tx(pool, tenant.org_id) as conn:
        types = {r["type"] for r in await conn.fetch("SELECT type FROM outbox")}
    assert contracts.FX_RATES_PUBLISHED not in types
    # Only the reserved id is let through: any other event still needs an existing organisation.
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await owner_pool.execute("INSERT INTO outbox (org_id, type, payload) VALUES ($1, 'x', '{}')", uuid4())
    assert contracts.INSIGHTS_FROM_ORDERS.wants(contracts.FX_RATES_PUBLISHED)


def _cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = admin.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_load_fx_rates_command(capsys, tmp_path: Path, owner_pool) -> None:
    path = tmp_path / "eurofxref-hist.csv"
    path.write_text("Date,USD,BGN,GBP,\n2036-01-05,1.1,1.95583,0.85,\n2036-01-02,1.2,1.95583,N/A,\n")
    code, _, err = await asyncio.to_thread(_cli, capsys, "load-fx-rates", "--file", str(path))
    assert code == 2 and "file" in err and "line 1, column 3: BGN" in err
    assert await _stored(owner_pool, 2036) == {}

    code, out, _ = await asyncio.to_thread(
        _cli, capsys, "load-fx-rates", "--file", str(path), "--skip-unknown-currencies"
    )
    result = json.loads(out)
    assert code == 0 and (result["new"], result["changed"], result["unchanged"]) == (3, 0, 0)
    assert result["events"] == 1 and result["skipped_currencies"] == ["BGN"]
    code, out, _ = await asyncio.to_thread(
        _cli, capsys, "load-fx-rates", "--file", str(path), "--skip-unknown-currencies"
    )
    assert code == 0 and json.loads(out)["unchanged"] == 3 and json.loads(out)["events"] == 0

    code, _, err = await asyncio.to_thread(_cli, capsys, "load-fx-rates", "--file", str(tmp_path / "none.csv"))
    assert code == 2 and "cannot read" in err


async def test_the_demo_file_loads_through_the_command_path(settings, owner_pool) -> None:
    from demo.fx_rates import DEMO_FX_CSV

    said: list[str] = []
    owner_url = settings.service_database_url("orders", "owner")
    first = await fx_rates.load_file(owner_url, DEMO_FX_CSV, progress=said.append)
    assert first.new + first.changed + first.unchanged == first.days * len(first.currencies) > 12_000
    again = await fx_rates.load_file(owner_url, DEMO_FX_CSV, progress=said.append)
    assert (again.new, again.changed, again.events) == (0, 0, 0)
    assert said[-1].startswith("FX rates: 0 new, 0 changed, ")
