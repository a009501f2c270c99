"""Demo FX reference rates: `demo/fx_rates.csv`, in the ECB's eurofxref-hist.csv layout, loaded at
`./platform up` through the operator command's own code path (services/orders/service/fx_rates.load_file).

The rates are synthetic, not the ECB's: a deterministic random walk (seeded) from late-2024 levels, for every
ECB business day (Monday to Friday except the TARGET holidays: 1 January, Good Friday, Easter Monday,
1 May, 25 and 26 December) from 2024-12-02 to 2027-12-31, for each currency of shared/money.py the ECB
publishes (all but AED). The file reaches past today on purpose: a committed file would otherwise stop
converting the demo's recent orders a week after it was written (the 7-day rule); replace it with the ECB's
real file for real figures (`load-fx-rates --file eurofxref-hist.csv --skip-unknown-currencies`).
Layout as the ECB's: newest day first, values with the ECB's decimals (2 for JPY, 3 for CZK, 4 otherwise),
a trailing comma on every line. Regenerate (byte-identical) with:

    uv run python -m demo.fx_rates
"""

from __future__ import annotations

import random
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

DEMO_FX_CSV = Path(__file__).resolve().parent / "fx_rates.csv"
FIRST_DAY, LAST_DAY = date(2024, 12, 2), date(2027, 12, 31)
SEED = 9

# (currency, units per EUR at the start, decimals, daily volatility): the ECB's column order.
CURRENCIES: tuple[tuple[str, str, int, float], ...] = (
    ("USD", "1.0550", 4, 0.004),
    ("JPY", "160.50", 2, 0.005),
    ("CZK", "25.210", 3, 0.002),
    ("DKK", "7.4585", 4, 0.0002),
    ("GBP", "0.8310", 4, 0.003),
    ("PLN", "4.2950", 4, 0.003),
    ("SEK", "11.5200", 4, 0.004),
    ("CHF", "0.9290", 4, 0.003),
    ("NOK", "11.7100", 4, 0.004),
    ("AUD", "1.6250", 4, 0.005),
    ("CAD", "1.4750", 4, 0.004),
    ("HKD", "8.2100", 4, 0.004),
    ("INR", "89.2000", 4, 0.004),
    ("NZD", "1.7900", 4, 0.005),
    ("SGD", "1.4150", 4, 0.003),
    ("ZAR", "19.1000", 4, 0.007),
)


def easter(year: int) -> date:
    """Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def target_holidays(year: int) -> set[date]:
    sunday = easter(year)
    fixed = {date(year, 1, 1), date(year, 5, 1), date(year, 12, 25), date(year, 12, 26)}
    return fixed | {sunday - timedelta(days=2), sunday + timedelta(days=1)}


def business_days(first: date, last: date) -> list[date]:
    holidays = {h for y in range(first.year, last.year + 1) for h in target_holidays(y)}
    n = (last - first).days + 1
    return [d for d in (first + timedelta(days=i) for i in range(n)) if d.weekday() < 5 and d not in holidays]


def generate() -> str:
    """The CSV text: the same bytes every time."""
    rng = random.Random(SEED)
    days = business_days(FIRST_DAY, LAST_DAY)
    series: dict[str, list[str]] = {}
    for code, start, decimals, vol in CURRENCIES:
        level = anchor = float(start)
        values = []
        for _ in days:
            level *= 1 + rng.gauss(0, vol) + 0.02 * (anchor - level) / anchor  # a walk that drifts back
            values.append(str(Decimal(repr(level)).quantize(Decimal(1).scaleb(-decimals))))
        series[code] = values
    lines = ["Date," + ",".join(c for c, *_ in CURRENCIES) + ","]
    for i in reversed(range(len(days))):
        lines.append(days[i].isoformat() + "," + ",".join(series[c][i] for c, *_ in CURRENCIES) + ",")
    return "\n".join(lines) + "\n"


def main() -> int:
    DEMO_FX_CSV.write_text(generate())
    print(f"wrote {DEMO_FX_CSV}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
