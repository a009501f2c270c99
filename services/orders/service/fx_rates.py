"""FX reference rates: the ECB's euro reference rates, loaded by the operator and published to the services
that convert amounts (insights now, reports later), which keep their own copies.

The file is the ECB's own layout (eurofxref-hist.csv): a header `Date,USD,JPY,...`, then one line per ECB
business day, `2024-05-17,1.0866,169.28,...`: units of each currency per 1 EUR, `N/A` or empty where the ECB
published none (a currency that did not exist yet, or has been suspended), and a trailing comma on every
line. Currencies must be ISO 4217 codes the platform accepts (shared/money.py); the real ECB file also has
currencies the platform does not (BGN, ISK, ...): `--skip-unknown-currencies` leaves those columns out.
A bad file is refused as a whole, naming the line and the column, before anything is stored.

Loading is an upsert: a (day, currency) seen before with the same value (numerically) is unchanged and
neither written nor published, so loading the same file twice publishes nothing the second time, and
loading the next day's file publishes that day's rates only. A corrected rate is published again.

How reference data travels. The outbox is the organisations' outbox: every row carries an `org_id` (not null,
under row-level security, a foreign key to organisations), and consumers apply each event in that
organisation's tenant transaction, recording its id there. Rates belong to no organisation, and publishing
them once per organisation would multiply the events by the number of partners for the same facts. So they
travel once, under the reserved organisation id `contracts.REFERENCE_DATA_ORG_ID` (the nil UUID, which no
organisation has: ids are random v4 UUIDs; migration 012 moves the outbox's foreign key to a generated column
that is NULL for that id alone), in events of type `fx_rates.published` carrying at most `RATES_PER_EVENT`
(1,000) rates each, `{"rates": [{"day": "2024-05-17", "currency": "USD", "perEuro": "1.0866"}, ...]}`, values
as decimal strings (exact). The owner role (BYPASSRLS) writes those outbox rows, in the transaction that
stores the rates: the events commit with the rates or not at all. A consumer's tenant transaction for the nil
id sees no organisation's rows, and its copy of the rates is a table of no organisation either.

The same code path serves the operator command (`python -m services.orders.admin load-fx-rates --file PATH`)
and the demo (`./platform up` loads demo/fx_rates.csv through `load_file`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from services.orders.repository import fx_rates as store
from shared.db import create_pool, system_tx
from shared.errors import DomainError, ErrorCode
from shared.messaging import contracts
from shared.messaging.outbox import add_event
from shared.money import CURRENCIES

RATES_PER_EVENT = 1000
EARLIEST_DAY = date(1999, 1, 1)  # the euro's first year: the ECB has no euro rate before it
LATEST_DAY = date(2100, 12, 31)
MISSING = frozenset({"", "N/A"})
_VALUE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?$")
_CODE = re.compile(r"^[A-Z]{3}$")
MAX_ERRORS_LISTED = 5


@dataclass(frozen=True)
class FxRate:
    """Units of `currency` per 1 EUR on the ECB business day `day`."""

    currency: str
    day: date
    per_euro: Decimal


@dataclass(frozen=True)
class ParsedRates:
    rates: list[FxRate]
    currencies: list[str]  # the columns kept, in file order
    skipped_currencies: list[str] = field(default_factory=list)  # columns left out (--skip-unknown-currencies)
    days: int = 0


@dataclass(frozen=True)
class LoadResult:
    new: int
    changed: int
    unchanged: int
    events: int  # fx_rates.published events written to the outbox
    days: int
    currencies: list[str]
    skipped_currencies: list[str]

    def summary(self) -> str:
        return (
            f"FX rates: {self.new:,} new, {self.changed:,} changed, {self.unchanged:,} unchanged "
            f"({self.days:,} days, {len(self.currencies)} currencies; {self.events} events published)"
        )


def _parse_day(text: str) -> date | None:
    for layout in ("%Y-%m-%d", "%d %B %Y"):  # the history file's dates; the daily file's "17 May 2024"
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    return None


def _trim(cells: list[str]) -> list[str]:
    """The cells without the empty ones at the end (the ECB's trailing comma)."""
    cells = [c.strip() for c in cells]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def parse_ecb_csv(text: str, *, skip_unknown_currencies: bool = False) -> ParsedRates:
    """The rates of an ECB euro reference-rate CSV; refuses the whole file (DomainError on field `file`, naming
    the line and column of each problem, the first few listed) if anything in it is wrong."""
    errors: list[str] = []
    lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    header_index = next((i for i, row in enumerate(lines) if _trim(row)), None)
    if header_index is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "the file is empty: expected the header Date,USD,JPY,...", "file")
    header = _trim(lines[header_index])
    header_line = header_index + 1
    if header[0].lower() != "date":
        errors.append(f"line {header_line}, column 1: expected 'Date', found {header[0]!r}")
    columns: list[str | None] = []  # per column after Date: the currency kept, or None (skipped)
    seen: dict[str, int] = {}
    skipped: list[str] = []
    for col, code in enumerate(header[1:], start=2):
        where = f"line {header_line}, column {col}"
        columns.append(None)
        if not _CODE.match(code):
            errors.append(f"{where}: {code!r} is not an ISO 4217 currency code")
        elif code == "EUR":
            errors.append(f"{where}: EUR is the base of the euro reference rates (1 per euro), not a column")
        elif code in seen:
            errors.append(f"{where}: {code} is already column {seen[code]}")
        elif code not in CURRENCIES:
            if skip_unknown_currencies:
                skipped.append(code)
            else:
                errors.append(
                    f"{where}: {code} is not a currency the platform accepts "
                    "(shared/money.py; --skip-unknown-currencies leaves such columns out)"
                )
        else:
            columns[-1] = code
        seen.setdefault(code, col)
    if len(header) < 2:
        errors.append(f"line {header_line}: no currency columns after Date")
    width = len(header)
    rates: list[FxRate] = []
    days: dict[date, int] = {}
    for index in range(header_index + 1, len(lines)):
        number = index + 1
        raw = lines[index]
        cells = _trim(raw)
        if not cells:
            continue  # a blank line
        if len(cells) > width:
            errors.append(f"line {number}, column {width + 1}: a value after the last currency column")
            continue
        if len(cells) < width and len(raw) < width:
            errors.append(f"line {number}: {len(raw)} columns where the header has {width}")
            continue
        cells += [""] * (width - len(cells))
        day = _parse_day(cells[0])
        if day is None:
            errors.append(f"line {number}, column 1: {cells[0]!r} is not a date (YYYY-MM-DD)")
            continue
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            errors.append(f"line {number}, column 1: {day} is outside {EARLIEST_DAY} to {LATEST_DAY}")
            continue
        if day in days:
            errors.append(f"line {number}, column 1: {day} is already on line {days[day]}")
            continue
        days[day] = number
        for col, (currency, value) in enumerate(zip(columns, cells[1:], strict=True), start=2):
            if currency is None or value.upper() in MISSING:
                continue
            if not _VALUE.match(value) or (per_euro := Decimal(value)) <= 0:
                errors.append(
                    f"line {number}, column {col} ({currency}): {value!r} is not a positive decimal number (or N/A)"
                )
                continue
            rates.append(FxRate(currency, day, per_euro))
    if not errors and not rates:
        errors.append("no rates: the file has a header but no values")
    if errors:
        more = len(errors) - MAX_ERRORS_LISTED
        listed = "; ".join(errors[:MAX_ERRORS_LISTED]) + (f"; and {more} more" if more > 0 else "")
        raise DomainError(ErrorCode.INVALID_INPUT, f"refused, nothing stored: {listed}", "file")
    kept = [c for c in columns if c is not None]
    return ParsedRates(rates=rates, currencies=kept, skipped_currencies=skipped, days=len(days))


async def store_and_publish(conn: asyncpg.Connection, parsed: ParsedRates) -> LoadResult:
    """Upserts the rates and publishes the new and changed ones, in the caller's transaction (the owner role's:
    the table is read-only to the application role, and the outbox rows are of no organisation)."""
    ordered = sorted(parsed.rates, key=lambda r: (r.day, r.currency))
    written = await store.upsert(
        conn, [r.currency for r in ordered], [r.day for r in ordered], [r.per_euro for r in ordered]
    )
    written.sort(key=lambda r: (r.day, r.currency))
    for start in range(0, len(written), RATES_PER_EVENT):
        chunk = written[start : start + RATES_PER_EVENT]
        payload = {
            "rates": [
                {"day": r.day.isoformat(), "currency": r.currency, "perEuro": format(r.per_euro, "f")} for r in chunk
            ]
        }
        await add_event(conn, contracts.REFERENCE_DATA_ORG_ID, contracts.FX_RATES_PUBLISHED, payload)
    new = sum(1 for r in written if r.inserted)
    return LoadResult(
        new=new,
        changed=len(written) - new,
        unchanged=len(ordered) - len(written),
        events=-(-len(written) // RATES_PER_EVENT),
        days=parsed.days,
        currencies=parsed.currencies,
        skipped_currencies=parsed.skipped_currencies,
    )


async def load_csv(owner_pool: asyncpg.Pool, text: str, *, skip_unknown_currencies: bool = False) -> LoadResult:
    """Parses `text` (refused whole before any write) and stores and publishes it in one owner transaction."""
    parsed = parse_ecb_csv(text, skip_unknown_currencies=skip_unknown_currencies)
    async with system_tx(owner_pool) as conn:
        return await store_and_publish(conn, parsed)


async def load_file(
    owner_url: str,
    path: Path,
    *,
    skip_unknown_currencies: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LoadResult:
    """`load-fx-rates --file PATH` and the demo's load: the file at `path` into the orders database (as the
    owner role at `owner_url`), its new and changed rates published."""
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, f"cannot read {path}: {exc}", "file") from None
    owner = await create_pool(owner_url, max_size=1, wait=False)
    try:
        result = await load_csv(owner, text, skip_unknown_currencies=skip_unknown_currencies)
    finally:
        await owner.close()
    if progress is not None:
        progress(result.summary())
    return result
